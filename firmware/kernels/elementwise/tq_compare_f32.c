/*
 * The comparisons, float32, with broadcasting (see tq_float.h): reference_ops::ComparisonImpl /
 * BroadcastComparison4DSlowImpl, C's comparison operators (a NaN is unequal to everything,
 * itself included, and neither less nor greater than anything).
 */
#include "tq_float.h"

static uint8_t compare(int32_t op, float a, float b)
{
    switch (op) {
    case TQ_CMP_EQUAL:
        return (uint8_t)(a == b);
    case TQ_CMP_NOT_EQUAL:
        return (uint8_t)(a != b);
    case TQ_CMP_LESS:
        return (uint8_t)(a < b);
    case TQ_CMP_LESS_EQUAL:
        return (uint8_t)(a <= b);
    case TQ_CMP_GREATER:
        return (uint8_t)(a > b);
    default:
        return (uint8_t)(a >= b);
    }
}

tq_status tq_compare_f32(const tq_compare_f32_params *p, const float *in1, const float *in2, uint8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = compare(p->op, in1[it.i1], in2[it.i2]);
    }
    return TQ_OK;
}
