/*
 * MUL, int16, with broadcasting: reference_integer_ops::Mul / BroadcastMul6DSlow on int16 (see
 * tq_int16.h). The product of two int16 values fits int32 (at most 2^30).
 */
#include "tq_int16.h"

tq_status tq_mul_s16(const tq_mul_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t prod = (p->in1_offset + in1[it.i1]) * (p->in2_offset + in2[it.i2]);
        const int32_t r = tq_mul_by_quantized_mult(prod, p->out_mult, p->out_shift) + p->out_offset;
        out[it.k] = (int16_t)TQ_CLAMP(r, p->act_min, p->act_max);
    }
    return TQ_OK;
}
