/* CONV_2D 1x1 as a matrix product over pairs of input pixels (see tq_conv_fast.h). */
#include "tq_conv_fast.h"
#include "tq_dsp_asm.h" /* the job structs' layout checked against the assembler's offsets */

/* tq_conv_1x1_wide_s8.c builds this file again under its own name, reading int16 weights. */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_conv_1x1_s8
#define TQ_GEMM_PAIR tq_gemm_pair
#endif

tq_status TQ_KERNEL_NAME(const tq_conv_1x1_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                         int8_t *scratch)
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
        tq_gemm_columns(col[0], col[count - 1], p->gemm.k, p->gemm.group, scratch);
        {
            /* With an ADD fused the pixels go to a stage first; the ADD then writes them (over the
               residual, maybe). */
            const size_t at = (size_t)n * out_c;
            int8_t *const out0 = residual != NULL ? scratch + 4 * p->gemm.k : output + at;
            TQ_GEMM_PAIR(&p->gemm, scratch, out0, out0 + (size_t)(count - 1) * out_c);
            if (residual != NULL) {
                tq_residual_add_s8(&p->res, out0, residual + at, output + at, count * out_c);
            }
        }
    }
    return TQ_OK;
}
