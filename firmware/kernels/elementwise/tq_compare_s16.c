/*
 * The comparisons, int16, with broadcasting (see tq_int16.h): EQUAL and NOT_EQUAL rescale each
 * input by its scale (comparisons.cc ComparisonQuantized<int16_t>, p->rescale 1); LESS, LESS_EQUAL,
 * GREATER and GREATER_EQUAL compare the stored values (Comparison<int16_t>, p->rescale 0).
 */
#include "tq_int16.h"

tq_status tq_compare_s16(const tq_compare_s16_params *p, const int16_t *in1, const int16_t *in2, uint8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        int32_t a = in1[it.i1], b = in2[it.i2];
        if (p->rescale) {
            a = tq_rescale_input(a, p->in1_offset, p->left_shift, p->in1_mult, p->in1_shift);
            b = tq_rescale_input(b, p->in2_offset, p->left_shift, p->in2_mult, p->in2_shift);
        }
        out[it.k] = tq_compare_i32(p->op, a, b);
    }
    return TQ_OK;
}
