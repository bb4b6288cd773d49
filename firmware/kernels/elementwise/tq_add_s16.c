/* ADD, int16, general scales, with broadcasting: add.cc's int16 path without pot_scale_int16 (see tq_int16.h). */
#include "tq_int16.h"

static inline int16_t tq_add16_one(const tq_add_s16_params *p, int32_t a, int32_t b)
{
    const int32_t sa = tq_mul_by_quantized_mult((a + p->in1_offset) * (1 << p->left_shift), p->in1_mult, p->in1_shift);
    const int32_t sb = tq_mul_by_quantized_mult((b + p->in2_offset) * (1 << p->left_shift), p->in2_mult, p->in2_shift);
    const int32_t sum = tq_mul_by_quantized_mult(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    return (int16_t)TQ_CLAMP(sum, p->act_min, p->act_max);
}

tq_status tq_add_s16(const tq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const tq_bcast_s8 *s = &p->shape;
    if (!s->broadcast) {
        for (int32_t i = 0; i < s->size; ++i) {
            out[i] = tq_add16_one(p, in1[i], in2[i]);
        }
        return TQ_OK;
    }
    for (int32_t n = 0; n < s->out.n; ++n) {
        for (int32_t h = 0; h < s->out.h; ++h) {
            for (int32_t w = 0; w < s->out.w; ++w) {
                const int16_t *a = in1 + n * s->in1_stride.n + h * s->in1_stride.h + w * s->in1_stride.w;
                const int16_t *b = in2 + n * s->in2_stride.n + h * s->in2_stride.h + w * s->in2_stride.w;
                for (int32_t c = 0; c < s->out.c; ++c) {
                    *out++ = tq_add16_one(p, a[c * s->in1_stride.c], b[c * s->in2_stride.c]);
                }
            }
        }
    }
    return TQ_OK;
}
