/* EXP, LOG, RSQRT, GELU (any int16 -> int16 function of one element), int16: TFLite's 513-entry
 * interpolated table lookup (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_lut_s16(const tq_lut_s16_params *p, const int16_t *in, int16_t *out)
{
    const int16_t *table = p->table;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = tq_lut_s16_lookup(in[i], table);
    }
    return TQ_OK;
}
