/* PRELU float32, alpha broadcast to the input (see tq_float.h). */
#include "tq_float.h"

tq_status tq_prelu_f32(const tq_prelu_f32_params *p, const float *in, float *out)
{
    const tq_dims d = p->shape, s = p->alpha_stride;
    int32_t i = 0;
    for (int32_t n = 0; n < d.n; ++n) {
        for (int32_t h = 0; h < d.h; ++h) {
            for (int32_t w = 0; w < d.w; ++w) {
                const float *alpha = p->alpha + n * s.n + h * s.h + w * s.w;
                for (int32_t c = 0; c < d.c; ++c, ++i) {
                    const float x = in[i];
                    out[i] = x >= 0.0f ? x : x * alpha[c * s.c];
                }
            }
        }
    }
    return TQ_OK;
}
