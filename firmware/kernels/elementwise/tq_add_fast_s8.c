/*
 * ADD, int8, equal shapes, right-shift requantization (every shift <= 0, which generation checks):
 * the same bits as tq_add_s8. Each input's rescaled value depends on its byte alone, so for large
 * tensors generation tabulates both rescales (2 x 256 int32 in flash) and each element costs one
 * requantization; small tensors compute all three with the one-step tq_requantize_rs.
 */
#include "tq_elementwise.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TQ_ADD_MVE 1

/*
 * tq_requantize_rs(a, mult, e) on four lanes: SaturatingRoundingDoublingHighMul (VQRDMULH), then
 * RoundingDivideByPOT by e (VRSHL rounds ties up; subtracting 1 from a negative value first, where
 * e >= 1, makes it round them away from zero as TFLite does). fix: -1 in every lane when e >= 1, else 0.
 */
static inline __attribute__((always_inline)) int32x4_t tq_add_mve_rs(int32x4_t a, int32_t mult, int32_t e, int32x4_t fix)
{
    const int32x4_t v = vqrdmulhq_n_s32(a, mult);
    return vrshlq_n_s32(vaddq_s32(v, vandq_s32(vshrq_n_s32(v, 31), fix)), -e);
}
#endif

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
        i = 0;
#if defined(TQ_ADD_MVE)
        {
            /* Four bytes a step: the table words gathered (the byte + 128 as the index), then the
               output's requantization (tq_add_mve_rs). */
            const uint32x4_t flip = vdupq_n_u32(0x80u);
            const int32x4_t fix = vdupq_n_s32(so > 0 ? -1 : 0), lov = vdupq_n_s32(lo), hiv = vdupq_n_s32(hi);
            for (; i + 4 <= size; i += 4) {
                const int32x4_t a = vaddq_s32(vldrwq_gather_shifted_offset_s32(fp->t1, veorq_u32(vldrbq_u32((const uint8_t *)in1 + i), flip)),
                                              vldrwq_gather_shifted_offset_s32(fp->t2, veorq_u32(vldrbq_u32((const uint8_t *)in2 + i), flip)));
                vstrbq_s32(out + i, vminq_s32(vmaxq_s32(vaddq_n_s32(tq_add_mve_rs(a, mo, so, fix), zo), lov), hiv));
            }
        }
#endif
        for (; i < size; ++i) {
            const int32_t r = tq_requantize_rs(t1[in1[i]] + t2[in2[i]], mo, so) + zo;
            out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
        }
        return TQ_OK;
    }
    i = 0;
#if defined(TQ_ADD_MVE)
    {
        /* Four elements a step: both rescales and the output's requantization in vectors. The
           left shift of (offset + q) by ls (20) cannot overflow: |offset + q| <= 255. */
        const int32x4_t f1 = vdupq_n_s32(s1 < 0 ? -1 : 0), f2 = vdupq_n_s32(s2 < 0 ? -1 : 0);
        const int32x4_t fo = vdupq_n_s32(so > 0 ? -1 : 0), lov = vdupq_n_s32(lo), hiv = vdupq_n_s32(hi);
        for (; i + 4 <= size; i += 4) {
            const int32x4_t x = tq_add_mve_rs(vshlq_r_s32(vaddq_n_s32(vldrbq_s32(in1 + i), o1), ls), m1, -s1, f1);
            const int32x4_t y = tq_add_mve_rs(vshlq_r_s32(vaddq_n_s32(vldrbq_s32(in2 + i), o2), ls), m2, -s2, f2);
            vstrbq_s32(out + i, vminq_s32(vmaxq_s32(vaddq_n_s32(tq_add_mve_rs(vaddq_s32(x, y), mo, so, fo), zo), lov), hiv));
        }
    }
#endif
    for (; i < size; ++i) {
        const int32_t x = tq_add_rescale(in1[i], o1, ls, m1, s1), y = tq_add_rescale(in2[i], o2, ls, m2, s2);
        const int32_t r = tq_requantize_rs(x + y, mo, so) + zo;
        out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
    }
    return TQ_OK;
}
