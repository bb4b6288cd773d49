/* LOGICAL_OR with broadcasting (logical.cc; see tq_elementwise.h): 1 where either is true. */
#include "tq_elementwise.h"

tq_status tq_logical_or(const tq_logical_or_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = (uint8_t)(in1[it.i1] != 0 || in2[it.i2] != 0);
    }
    return TQ_OK;
}
