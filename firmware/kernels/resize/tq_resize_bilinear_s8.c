/* RESIZE_BILINEAR, int8: ResizeBilinearInteger with tabled taps and weights (see tq_resize.h). */
#include "tq_resize.h"

tq_status tq_resize_bilinear_s8(const tq_resize_bilinear_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t ch = p->in.c;
    const size_t image = (size_t)p->in.h * (size_t)p->in.w * (size_t)ch;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (size_t)b * image;
        for (int32_t y = 0; y < p->out.h; ++y) {
            const int8_t *r0 = img + p->row0[y];
            const int8_t *r1 = img + p->row1[y];
            const int32_t wy1 = p->wy[y];
            const int32_t wy0 = TQ_RESIZE_ONE - wy1;
            for (int32_t x = 0; x < p->out.w; ++x) {
                /* the taps: t<row><column> */
                const int8_t *t00 = r0 + p->col0[x], *t01 = r0 + p->col1[x];
                const int8_t *t10 = r1 + p->col0[x], *t11 = r1 + p->col1[x];
                const int32_t wx1 = p->wx[x];
                const int32_t wx0 = TQ_RESIZE_ONE - wx1;
                for (int32_t k = 0; k < ch; ++k) {
                    /* The four-tap sum of TFLite, grouped by row: the same integer, |acc| <= 2^27. */
                    const int32_t top = t00[k] * wx0 + t01[k] * wx1;
                    const int32_t bottom = t10[k] * wx0 + t11[k] * wx1;
                    const int32_t acc = top * wy0 + bottom * wy1;
                    *out++ = (int8_t)((acc + (acc > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                }
            }
        }
    }
    return TQ_OK;
}
