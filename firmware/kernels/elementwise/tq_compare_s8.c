/*
 * EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, int8, with broadcasting (see
 * tq_elementwise.h): reference_ops::ComparisonWithScaling / BroadcastComparison4DSlowWithScaling,
 * each input rescaled by its own scale before the two are compared.
 */
#include "tq_elementwise.h"

tq_status tq_compare_s8(const tq_compare_s8_params *p, const int8_t *in1, const int8_t *in2, uint8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t a = tq_rescale_input(in1[it.i1], p->in1_offset, p->left_shift, p->in1_mult, p->in1_shift);
        const int32_t b = tq_rescale_input(in2[it.i2], p->in2_offset, p->left_shift, p->in2_mult, p->in2_shift);
        out[it.k] = tq_compare_i32(p->op, a, b);
    }
    return TQ_OK;
}
