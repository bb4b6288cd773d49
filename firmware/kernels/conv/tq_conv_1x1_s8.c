/* CONV_2D 1x1 as a matrix product read in place from the NHWC input (see tq_conv.h). */
#include "tq_conv_fast.h"

tq_status tq_conv_1x1_s8(const tq_conv_1x1_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_c = p->in.c, out_c = p->out.c;
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int8_t *col[2];
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n;

    for (n = 0; n < pixels; n += 2) {
        int32_t j;
        const int32_t count = pixels - n >= 2 ? 2 : 1;
        for (j = 0; j < count; ++j) {
            const int32_t iy = oy * p->stride_h, ix = ox * p->stride_w;
            col[j] = input + (((size_t)b * p->in.h + iy) * p->in.w + ix) * in_c;
            if (++ox == p->out.w) {
                ox = 0;
                if (++oy == p->out.h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        tq_gemm_pixels(&p->gemm, col[0], count == 2 ? col[1] : NULL, output + (size_t)n * out_c,
                       output + (size_t)(n + 1) * out_c);
    }
    return TQ_OK;
}
