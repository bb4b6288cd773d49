/* RESHAPE / EXPAND_DIMS / SQUEEZE as a copy, int16 (see tq_int16.h). */
#include <string.h>

#include "tq_int16.h"

tq_status tq_copy_s16(const tq_copy_s16_params *p, const int16_t *in, int16_t *out)
{
    if (p->size > 0 && in != out) {
        memmove(out, in, (size_t)p->size * sizeof(int16_t));
    }
    return TQ_OK;
}
