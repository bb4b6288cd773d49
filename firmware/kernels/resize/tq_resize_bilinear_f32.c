/* RESIZE_BILINEAR, float32: ResizeBilinear<float> with tabled taps and weights (see tq_resize.h). */
#include "tq_resize.h"

tq_status tq_resize_bilinear_f32(const tq_resize_bilinear_f32_params *p, const float *in, float *out)
{
    const int32_t ch = p->in.c;
    const size_t image = (size_t)p->in.h * (size_t)p->in.w * (size_t)ch;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const float *img = in + (size_t)b * image;
        for (int32_t y = 0; y < p->out.h; ++y) {
            const float *r0 = img + p->row0[y];
            const float *r1 = img + p->row1[y];
            const float wy0 = p->wy0[y], wy1 = p->wy1[y];
            for (int32_t x = 0; x < p->out.w; ++x) {
                const int32_t c0 = p->col0[x], c1 = p->col1[x];
                const float wx0 = p->wx0[x], wx1 = p->wx1[x];
                for (int32_t k = 0; k < ch; ++k) {
                    /* TFLite's expression and order; + 0.0f as its rounding offset (turns -0 into +0). */
                    const float v = r0[c0 + k] * wy0 * wx0 + r1[c0 + k] * wy1 * wx0 + r0[c1 + k] * wy0 * wx1 +
                                    r1[c1 + k] * wy1 * wx1;
                    *out++ = v + 0.0f;
                }
            }
        }
    }
    return TQ_OK;
}
