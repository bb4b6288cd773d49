/* QUANTIZE int8_t -> int8_t, requantization (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_requantize_s8(const tq_requantize_s8_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t y = tq_requantize_value((int32_t)in[i], p);
        out[i] = (int8_t)TQ_CLAMP(y, INT8_MIN, INT8_MAX);
    }
    return TQ_OK;
}
