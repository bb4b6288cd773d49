/* ABS, int16, requantized to the output scale (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_abs_s16(const tq_abs_s16_params *p, const int16_t *in, int16_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = in[i];
        const int32_t o = tq_mul_by_quantized_mult(v < 0 ? -v : v, p->mult, p->shift);
        out[i] = (int16_t)TQ_CLAMP(o, INT16_MIN, INT16_MAX);
    }
    return TQ_OK;
}
