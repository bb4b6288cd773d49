/*
 * ADD, int8, equal shapes, right-shift requantization (every shift <= 0, which generation checks):
 * the same bits as tq_add_s8. Each input's rescaled value depends on its byte alone, so for large
 * tensors generation tabulates both rescales (2 x 256 int32 in flash) and each element costs one
 * requantization; small tensors compute all three with the one-step tq_requantize_rs.
 */
#include "tq_elementwise.h"

static inline int32_t tq_add_rescale(int32_t q, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift)
{
    return tq_requantize_rs((offset + q) * (1 << left_shift), mult, -shift);
}

tq_status tq_add_fast_s8(const tq_add_fast_s8_params *fp, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    /* Locals: the int8 stores may alias anything, which would force reloads of p->... */
    const tq_add_s8_params *const p = &fp->add;
    const int32_t size = p->shape.size, ls = p->left_shift;
    const int32_t o1 = p->in1_offset, m1 = p->in1_mult, s1 = p->in1_shift;
    const int32_t o2 = p->in2_offset, m2 = p->in2_mult, s2 = p->in2_shift;
    const int32_t mo = p->out_mult, so = -p->out_shift, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t i;

    if (fp->t1 != NULL) {
        const int32_t *const t1 = fp->t1 + 128, *const t2 = fp->t2 + 128; /* indexed by the signed byte */
        for (i = 0; i < size; ++i) {
            const int32_t r = tq_requantize_rs(t1[in1[i]] + t2[in2[i]], mo, so) + zo;
            out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
        }
        return TQ_OK;
    }
    for (i = 0; i < size; ++i) {
        const int32_t x = tq_add_rescale(in1[i], o1, ls, m1, s1), y = tq_add_rescale(in2[i], o2, ls, m2, s2);
        const int32_t r = tq_requantize_rs(x + y, mo, so) + zo;
        out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
    }
    return TQ_OK;
}
