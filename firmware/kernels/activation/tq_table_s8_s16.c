/* A float island, int8 -> int16: a 256-entry table lookup (see tq_table.h). */
#include "tq_table.h"

tq_status tq_table_s8_s16(const tq_table_s8_s16_params *p, const int8_t *in, int16_t *out)
{
    const int16_t *table = p->table;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = table[(uint8_t)in[i]];
    }
    return TQ_OK;
}
