/* ADD, int8, with broadcasting (see tq_elementwise.h). */
#include "tq_elementwise.h"

static inline int8_t add_one(const tq_add_s8_params *p, int32_t a, int32_t b)
{
    const int32_t x = (p->in1_offset + a) * (1 << p->left_shift);
    const int32_t y = (p->in2_offset + b) * (1 << p->left_shift);
    const int32_t sx = tq_mul_by_quantized_mult(x, p->in1_mult, p->in1_shift);
    const int32_t sy = tq_mul_by_quantized_mult(y, p->in2_mult, p->in2_shift);
    const int32_t r = tq_mul_by_quantized_mult(sx + sy, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)TQ_CLAMP(r, p->act_min, p->act_max);
}

tq_status tq_add_s8(const tq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const tq_bcast_s8 *s = &p->shape;
    if (!s->broadcast) {
        for (int32_t i = 0; i < s->size; ++i) {
            out[i] = add_one(p, in1[i], in2[i]);
        }
        return TQ_OK;
    }
    for (int32_t n = 0; n < s->out.n; ++n) {
        for (int32_t h = 0; h < s->out.h; ++h) {
            for (int32_t w = 0; w < s->out.w; ++w) {
                const int8_t *a = in1 + n * s->in1_stride.n + h * s->in1_stride.h + w * s->in1_stride.w;
                const int8_t *b = in2 + n * s->in2_stride.n + h * s->in2_stride.h + w * s->in2_stride.w;
                for (int32_t c = 0; c < s->out.c; ++c) {
                    *out++ = add_one(p, a[c * s->in1_stride.c], b[c * s->in2_stride.c]);
                }
            }
        }
    }
    return TQ_OK;
}
