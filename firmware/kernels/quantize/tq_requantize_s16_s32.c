/* QUANTIZE int16_t -> int32_t, requantization (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_requantize_s16_s32(const tq_requantize_s16_s32_params *p, const int16_t *in, int32_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = tq_requantize_value((int32_t)in[i], p); /* every int32 is in range: no clamp */
    }
    return TQ_OK;
}
