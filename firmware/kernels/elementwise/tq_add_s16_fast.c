/* ADD, int16, general scales: the fast twin of tq_add_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

/* One element: each input's rescale ((x << 15) through its multiplier, shift <= 0) and the sum's, each
   in one 64-bit rounding step (tq_requantize_rs, exact), then the clamp. */
static inline int16_t tq_add16(const tq_add_s16_params *p, int32_t x, int32_t y)
{
    const int32_t a = tq_requantize_rs(x * 32768, p->in1_mult, -p->in1_shift);
    const int32_t b = tq_requantize_rs(y * 32768, p->in2_mult, -p->in2_shift);
    const int32_t r = tq_requantize_rs(a + b, p->out_mult, -p->out_shift);
    return (int16_t)TQ_CLAMP(r, p->act_min, p->act_max);
}

#if defined(TQ_S16_MVE)
/* RoundingDivideByPOT(x, e) per lane, with shift = -e in every lane (e >= 0): the sign fix-up, then a
   rounding shift right. */
static inline int32x4_t tq_add16_rdbpot(int32x4_t x, int32x4_t shift)
{
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, shift), 31);
    return vrshlq_s32(vqaddq_s32(x, fixup), shift);
}
#endif

tq_status tq_add_s16_fast(const tq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const tq_bcast_s8 s = p->shape;
    int32_t i;
    if (!s.broadcast) {
#if defined(TQ_S16_MVE)
        /* Four elements at a time (VQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul exactly), the
           tail's lanes predicated off; the parameters in registers, read before the first store. */
        const int32_t m1 = p->in1_mult, m2 = p->in2_mult, mo = p->out_mult;
        const int32x4_t e1 = vdupq_n_s32(p->in1_shift), e2 = vdupq_n_s32(p->in2_shift), eo = vdupq_n_s32(p->out_shift);
        const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
        for (i = 0; i < s.size; i += 4) {
            const mve_pred16_t m = vctp32q((uint32_t)(s.size - i));
            const int32x4_t a = tq_add16_rdbpot(vqrdmulhq_n_s32(vshlq_n_s32(vldrhq_z_s32(in1 + i, m), 15), m1), e1);
            const int32x4_t b = tq_add16_rdbpot(vqrdmulhq_n_s32(vshlq_n_s32(vldrhq_z_s32(in2 + i, m), 15), m2), e2);
            const int32x4_t r = tq_add16_rdbpot(vqrdmulhq_n_s32(vaddq_s32(a, b), mo), eo);
            vstrhq_p_s32(out + i, vminq_s32(vmaxq_s32(r, lo), hi), m);
        }
        return TQ_OK;
#endif
        for (i = 0; i < s.size; ++i) {
            out[i] = tq_add16(p, in1[i], in2[i]);
        }
        return TQ_OK;
    }
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = tq_add16(p, in1[it.i1], in2[it.i2]);
    }
    return TQ_OK;
}
