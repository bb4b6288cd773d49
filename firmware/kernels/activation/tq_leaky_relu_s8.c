/* LEAKY_RELU, int8 (see tq_activation.h). */
#include "tq_activation.h"

tq_status tq_leaky_relu_s8(const tq_leaky_relu_s8_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = (int32_t)in[i] - p->in_zp;
        int32_t r;
        if (v >= 0) {
            r = tq_mul_by_quantized_mult(v, p->mult_identity, p->shift_identity);
        } else {
            r = tq_mul_by_quantized_mult(v, p->mult_alpha, p->shift_alpha);
            r = p->alpha_negative ? -r : r; /* sign flipped after rounding, as TFLite does */
        }
        const int32_t o = p->out_zp + r;
        out[i] = (int8_t)TQ_CLAMP(o, INT8_MIN, INT8_MAX);
    }
    return TQ_OK;
}
