/* QUANTIZE int32_t -> int16_t, requantization (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_requantize_s32_s16(const tq_requantize_s32_s16_params *p, const int32_t *in, int16_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t y = tq_requantize_value((int32_t)in[i], p);
        out[i] = (int16_t)TQ_CLAMP(y, INT16_MIN, INT16_MAX);
    }
    return TQ_OK;
}
