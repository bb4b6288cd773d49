/* ABS, int8, requantized to the output scale (see tq_activation.h). */
#include "tq_activation.h"

tq_status tq_abs_s8(const tq_abs_s8_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = (int32_t)in[i] - p->in_zp;
        const int32_t o = p->out_zp + tq_mul_by_quantized_mult(v < 0 ? -v : v, p->mult, p->shift);
        out[i] = (int8_t)TQ_CLAMP(o, INT8_MIN, INT8_MAX);
    }
    return TQ_OK;
}
