/* LEAKY_RELU, int16: reference_ops::QuantizeLeakyRelu<int16_t> (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_leaky_relu_s16(const tq_leaky_relu_s16_params *p, const int16_t *in, int16_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = in[i];
        int32_t r;
        if (v >= 0) {
            r = tq_mul_by_quantized_mult(v, p->mult_identity, p->shift_identity);
        } else {
            r = tq_mul_by_quantized_mult(v, p->mult_alpha, p->shift_alpha);
            r = p->alpha_negative ? -r : r; /* sign flipped after rounding, as TFLite does */
        }
        out[i] = (int16_t)TQ_CLAMP(r, INT16_MIN, INT16_MAX);
    }
    return TQ_OK;
}
