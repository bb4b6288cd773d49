/* QUANTIZE uint8_t -> uint8_t, requantization (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_requantize_u8(const tq_requantize_u8_params *p, const uint8_t *in, uint8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t y = tq_requantize_value((int32_t)in[i], p);
        out[i] = (uint8_t)TQ_CLAMP(y, 0, UINT8_MAX);
    }
    return TQ_OK;
}
