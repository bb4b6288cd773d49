/* NEG, int16: the raw values negated, -32768 staying -32768 (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_neg_s16(const tq_neg_s16_params *p, const int16_t *in, int16_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int16_t v = in[i];
        out[i] = v == INT16_MIN ? INT16_MIN : (int16_t)-v;
    }
    return TQ_OK;
}
