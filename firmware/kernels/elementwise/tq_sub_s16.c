/*
 * SUB, int16, general scales, with broadcasting: sub.cc's int16 path without pot_scale_int16
 * (reference_ops::Sub / BroadcastQuantSubSlow on int16; see tq_int16.h).
 */
#include "tq_int16.h"

tq_status tq_sub_s16(const tq_sub_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t x = tq_rescale_input(in1[it.i1], p->in1_offset, p->left_shift, p->in1_mult, p->in1_shift);
        const int32_t y = tq_rescale_input(in2[it.i2], p->in2_offset, p->left_shift, p->in2_mult, p->in2_shift);
        const int32_t r = tq_mul_by_quantized_mult(x - y, p->out_mult, p->out_shift) + p->out_offset;
        out[it.k] = (int16_t)TQ_CLAMP(r, p->act_min, p->act_max);
    }
    return TQ_OK;
}
