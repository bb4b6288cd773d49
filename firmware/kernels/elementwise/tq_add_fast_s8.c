/*
 * ADD, int8, equal shapes, right-shift requantization (every shift <= 0, which generation checks):
 * the same bits as tq_add_s8. Each input's rescaled value depends on its byte alone, so for large
 * tensors generation tabulates both rescales (2 x 256 int32 in flash) and each element costs one
 * requantization; small tensors compute all three with the one-step tq_requantize_rs. On the DSP
 * cores, layers whose constants generation could make (params k, n > 0) run tq_add_dsp.S instead,
 * whatever their size (15 instructions an element).
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

#if !defined(TQ_ADD_MVE) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TQ_ADD_DSP 1

static inline int32_t tq_add_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/*
 * tq_requantize_rs(v, mult, e) for |v| < 2^30, given v2 = 2 v and mult >= 0: SaturatingRoundingDoublingHighMul
 * is floor((v mult + 2^30) / 2^31) (TFLite's nudge and truncation come to rounding half up; no
 * saturation without INT32_MIN operands) = SMMULR(2 v, mult); RoundingDivideByPOT by e rounds half
 * away from zero: + half (2^(e-1); 0 for e 0), - 1 where negative and e >= 1 (fix -1; else 0).
 */
static inline int32_t tq_add_rq(int32_t v2, int32_t mult, int32_t half, int32_t fix, int32_t e)
{
    const int32_t r = tq_add_smmulr(v2, mult);
    return (r + half + ((r >> 31) & fix)) >> e;
}

/* tq_add_dsp.S: every element of a layer whose params k hold that loop's constants (k[9] > 0). */
void tq_add_dsp_s8(const int32_t *k, const int8_t *in1, const int8_t *in2, int8_t *out);
#endif

tq_status tq_add_fast_s8(const tq_add_fast_s8_params *fp, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#if defined(TQ_ADD_DSP)
    if (fp->k[9] > 0) { /* first, before any parameter is read: small tensors pay for every instruction */
        tq_add_dsp_s8(fp->k, in1, in2, out);
        return TQ_OK;
    }
#endif
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
               output's requantization (tq_add_mve_rs); the last step predicated (lanes past the
               end load and store nothing). */
            const int32_t *const g1 = fp->t1, *const g2 = fp->t2;
            const uint32x4_t flip = vdupq_n_u32(0x80u);
            const int32x4_t fix = vdupq_n_s32(so > 0 ? -1 : 0), lov = vdupq_n_s32(lo), hiv = vdupq_n_s32(hi);
#define TQ_ADD_MVE_TAB(B1, B2)                                                                                 \
    vminq_s32(vmaxq_s32(vaddq_n_s32(tq_add_mve_rs(vaddq_s32(vldrwq_gather_shifted_offset_s32(g1, veorq_u32(B1, flip)), \
                                                            vldrwq_gather_shifted_offset_s32(g2, veorq_u32(B2, flip))), \
                                                  mo, so, fix), zo), lov), hiv)
            for (; i + 4 <= size; i += 4) {
                vstrbq_s32(out + i, TQ_ADD_MVE_TAB(vldrbq_u32((const uint8_t *)in1 + i), vldrbq_u32((const uint8_t *)in2 + i)));
            }
            if (i < size) {
                const mve_pred16_t pr = vctp32q((uint32_t)(size - i));
                vstrbq_p_s32(out + i, TQ_ADD_MVE_TAB(vldrbq_z_u32((const uint8_t *)in1 + i, pr), vldrbq_z_u32((const uint8_t *)in2 + i, pr)), pr);
                i = size;
            }
#undef TQ_ADD_MVE_TAB
        }
#endif
#if defined(TQ_ADD_DSP)
        {
            /* The tables' values are rescaled inputs: |sum| < 2^29. */
            const int32_t ho = so > 0 ? 1 << (so - 1) : 0, fo = so > 0 ? -1 : 0;
            for (; i < size; ++i) {
                const int32_t r = tq_add_rq((t1[in1[i]] + t2[in2[i]]) * 2, mo, ho, fo, so) + zo;
                out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
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
#if defined(TQ_ADD_DSP)
    if (ls >= 1 && ls <= 22 && m1 >= 0 && m2 >= 0 && mo >= 0 && so <= 23) {
        /* |offset + q| <= 255: (offset + q) 2^(ls + 1) < 2^31 is the doubled operand; each rescaled
           input is below 2^28 in magnitude, their sum doubled below 2^30. The input of the larger
           scale has multiplier 1/2 (2^30, shift 0): its rescale is (offset + q) 2^(ls - 1) exactly
           (SaturatingRoundingDoublingHighMul of an even value by 2^30 halves it). The output's zero
           point goes into its rounding constant (zo 2^so: |SMMULR| < 2^29, so <= 23 keeps the sum
           within int32; the shift of an added multiple of 2^so adds zo exactly). */
        const int same = m1 == (1 << 30) && s1 == 0, swap = !same && m2 == (1 << 30) && s2 == 0;
        const int8_t *const a = swap ? in2 : in1, *const b = swap ? in1 : in2;
        const int32_t oa = swap ? o2 : o1, ob = swap ? o1 : o2, mb = swap ? m1 : m2, eb = swap ? -s1 : -s2;
        const int32_t l2 = 1 << (ls + 1), la = 1 << (ls - 1);
        const int32_t hb = eb > 0 ? 1 << (eb - 1) : 0, fb = eb > 0 ? -1 : 0;
        const int32_t ho = (so > 0 ? 1 << (so - 1) : 0) + zo * (1 << so), fo = so > 0 ? -1 : 0;
        if (same || swap) { /* (else, not from TFLite's Prepare: below) */
            for (; i < size; ++i) {
                const int32_t x = (a[i] + oa) * la, y = tq_add_rq((b[i] + ob) * l2, mb, hb, fb, eb);
                const int32_t r = tq_add_rq((x + y) * 2, mo, ho, fo, so);
                out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
            }
        }
    }
#endif
#if defined(TQ_ADD_MVE)
    {
        /* Four elements a step: both rescales and the output's requantization in vectors, the last
           step predicated. The left shift of (offset + q) by ls (20) cannot overflow: |offset + q| <= 255. */
        const int32x4_t f1 = vdupq_n_s32(s1 < 0 ? -1 : 0), f2 = vdupq_n_s32(s2 < 0 ? -1 : 0);
        const int32x4_t fo = vdupq_n_s32(so > 0 ? -1 : 0), lov = vdupq_n_s32(lo), hiv = vdupq_n_s32(hi);
#define TQ_ADD_MVE_RES(X1, X2)                                                                         \
    vminq_s32(vmaxq_s32(vaddq_n_s32(tq_add_mve_rs(vaddq_s32(tq_add_mve_rs(vshlq_r_s32(vaddq_n_s32(X1, o1), ls), m1, -s1, f1), \
                                                            tq_add_mve_rs(vshlq_r_s32(vaddq_n_s32(X2, o2), ls), m2, -s2, f2)), \
                                                  mo, so, fo), zo), lov), hiv)
        for (; i + 4 <= size; i += 4) {
            vstrbq_s32(out + i, TQ_ADD_MVE_RES(vldrbq_s32(in1 + i), vldrbq_s32(in2 + i)));
        }
        if (i < size) {
            const mve_pred16_t pr = vctp32q((uint32_t)(size - i));
            vstrbq_p_s32(out + i, TQ_ADD_MVE_RES(vldrbq_z_s32(in1 + i, pr), vldrbq_z_s32(in2 + i, pr)), pr);
            i = size;
        }
#undef TQ_ADD_MVE_RES
    }
#endif
    for (; i < size; ++i) {
        const int32_t x = tq_add_rescale(in1[i], o1, ls, m1, s1), y = tq_add_rescale(in2[i], o2, ls, m2, s2);
        const int32_t r = tq_requantize_rs(x + y, mo, so) + zo;
        out[i] = (int8_t)TQ_CLAMP(r, lo, hi);
    }
    return TQ_OK;
}
