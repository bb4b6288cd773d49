/* NEG, int8: the raw values negated, -128 staying -128 (see tq_activation.h). */
#include "tq_activation.h"

tq_status tq_neg_s8(const tq_neg_s8_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int8_t v = in[i];
        out[i] = v == INT8_MIN ? INT8_MIN : (int8_t)-v;
    }
    return TQ_OK;
}
