/* The comparisons, int32, with broadcasting (see tq_elementwise.h): the values compared as stored. */
#include "tq_elementwise.h"

tq_status tq_compare_s32(const tq_compare_s32_params *p, const int32_t *in1, const int32_t *in2, uint8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = tq_compare_i32(p->op, in1[it.i1], in2[it.i2]);
    }
    return TQ_OK;
}
