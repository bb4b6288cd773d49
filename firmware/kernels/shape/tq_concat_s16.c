/* CONCATENATION and PACK, int16 (see tq_int16.h). */
#include <string.h>

#include "tq_int16.h"

tq_status tq_concat_s16(const tq_concat_s16_params *p, const int16_t *const in[], int16_t *out)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->num_inputs; ++i) {
            const size_t n = (size_t)p->chunk[i];
            memcpy(out, in[i] + (size_t)o * n, n * sizeof(int16_t));
            out += n;
        }
    }
    return TQ_OK;
}
