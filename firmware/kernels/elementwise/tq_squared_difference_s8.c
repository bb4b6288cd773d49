/*
 * SQUARED_DIFFERENCE, int8, with broadcasting (see tq_elementwise.h): squared_difference.cc's
 * int8 function. The difference of the two rescaled inputs (left_shift 7, |d| < 2^15) is squared
 * in int32, then scaled to the output.
 */
#include "tq_elementwise.h"

tq_status tq_squared_difference_s8(const tq_squared_difference_s8_params *p, const int8_t *in1, const int8_t *in2,
                                   int8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t x = tq_rescale_input(in1[it.i1], p->in1_offset, p->left_shift, p->in1_mult, p->in1_shift);
        const int32_t y = tq_rescale_input(in2[it.i2], p->in2_offset, p->left_shift, p->in2_mult, p->in2_shift);
        const int32_t d = x - y;
        const int32_t r = tq_mul_by_quantized_mult(d * d, p->out_mult, p->out_shift) + p->out_offset;
        out[it.k] = (int8_t)TQ_CLAMP(r, p->act_min, p->act_max);
    }
    return TQ_OK;
}
