/* LOGICAL_NOT (logical.cc; see tq_elementwise.h): 1 where the input is false. */
#include "tq_elementwise.h"

tq_status tq_logical_not(const tq_logical_not_params *p, const uint8_t *in, uint8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = (uint8_t)(in[i] == 0);
    }
    return TQ_OK;
}
