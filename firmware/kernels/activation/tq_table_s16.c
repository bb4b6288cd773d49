/* A float island, int16 -> int16: a 65,536-entry table lookup (see tq_table.h). */
#include "tq_table.h"

tq_status tq_table_s16(const tq_table_s16_params *p, const int16_t *in, int16_t *out)
{
    const int16_t *table = p->table;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = table[(uint16_t)in[i]];
    }
    return TQ_OK;
}
