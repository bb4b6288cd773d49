/* PRELU, int8, alpha broadcast to the input (see tq_activation.h). */
#include "tq_activation.h"

tq_status tq_prelu_s8(const tq_prelu_s8_params *p, const int8_t *in, int8_t *out)
{
    const tq_dims d = p->shape, s = p->alpha_stride;
    int32_t i = 0;
    for (int32_t n = 0; n < d.n; ++n) {
        for (int32_t h = 0; h < d.h; ++h) {
            for (int32_t w = 0; w < d.w; ++w) {
                const int8_t *alpha = p->alpha + n * s.n + h * s.h + w * s.w;
                for (int32_t c = 0; c < d.c; ++c, ++i) {
                    const int32_t v = (int32_t)in[i] - p->in_zp;
                    int32_t r;
                    if (v >= 0) {
                        r = tq_mul_by_quantized_mult(v, p->mult_pos, p->shift_pos);
                    } else {
                        const int32_t a = (int32_t)alpha[c * s.c] - p->alpha_zp;
                        r = tq_mul_by_quantized_mult(v * a, p->mult_neg, p->shift_neg);
                    }
                    const int32_t o = p->out_zp + r;
                    out[i] = (int8_t)TQ_CLAMP(o, INT8_MIN, INT8_MAX);
                }
            }
        }
    }
    return TQ_OK;
}
