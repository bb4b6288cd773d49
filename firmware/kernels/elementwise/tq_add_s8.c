/* ADD, int8, with broadcasting (see tq_elementwise.h): reference_integer_ops::AddFunc per element. */
#include "tq_elementwise.h"

tq_status tq_add_s8(const tq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t x = tq_rescale_input(in1[it.i1], p->in1_offset, p->left_shift, p->in1_mult, p->in1_shift);
        const int32_t y = tq_rescale_input(in2[it.i2], p->in2_offset, p->left_shift, p->in2_mult, p->in2_shift);
        const int32_t r = tq_mul_by_quantized_mult(x + y, p->out_mult, p->out_shift) + p->out_offset;
        out[it.k] = (int8_t)TQ_CLAMP(r, p->act_min, p->act_max);
    }
    return TQ_OK;
}
