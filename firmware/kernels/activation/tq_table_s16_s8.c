/* A float island, int16 -> int8: a 65,536-entry table lookup (see tq_table.h). */
#include "tq_table.h"

tq_status tq_table_s16_s8(const tq_table_s16_s8_params *p, const int16_t *in, int8_t *out)
{
    const int8_t *table = p->table;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = table[(uint16_t)in[i]];
    }
    return TQ_OK;
}
