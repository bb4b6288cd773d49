/* The ADD fused after a convolution (tq_residual_s8 in tq_conv_fast.h): one copy for every kernel. */
#include "tq_conv_fast.h"

void tq_residual_add_s8(const tq_residual_s8 *r, const int8_t *y, const int8_t *x, int8_t *out, int32_t n)
{
    const int32_t *const ty = r->t_conv + 128, *const tx = r->t_res + 128;
    const int32_t m = r->out_mult, ra = r->out_radd, e = r->out_rsh, lo = r->act_min, hi = r->act_max;
    int32_t i = 0;
#if defined(TQ_GEMM_MVE)
    /* Four bytes a step: the table words gathered (the byte + 128 as the index), requantized in a
       vector (tq_mve_requant). */
    {
        const uint32x4_t flip = vdupq_n_u32(0x80u);
        const int32x4_t mv = vdupq_n_s32(m), rv = vdupq_n_s32(ra), ev = vdupq_n_s32(e);
        const int32x4_t lov = vdupq_n_s32(lo), hiv = vdupq_n_s32(hi);
        for (; i + 4 <= n; i += 4) {
            const int32x4_t a = vaddq_s32(vldrwq_gather_shifted_offset_s32(r->t_conv, veorq_u32(vldrbq_u32((const uint8_t *)y + i), flip)),
                                          vldrwq_gather_shifted_offset_s32(r->t_res, veorq_u32(vldrbq_u32((const uint8_t *)x + i), flip)));
            vstrbq_s32(out + i, vminq_s32(vmaxq_s32(tq_mve_requant(a, mv, rv, ev), lov), hiv));
        }
    }
#elif defined(TQ_SIMD32)
    /* Four bytes a step: one word read from each input, the four sums packed and clamped at once. SSAT
       through the builtin: gcc 12's arm_acle.h __ssat assigns the builtin's unsigned result to an int32_t
       inside the macro (a -Wsign-conversion at every use); the cast gives back the saturated value. */
#define TQ_RES_SSAT8(v) ((int32_t)__builtin_arm_ssat((v), 8))
    const uint32_t lo4 = 0x01010101u * (uint8_t)lo, hi4 = 0x01010101u * (uint8_t)hi;
    for (; i + 4 <= n; i += 4) {
        const int32_t yv = tq_read_s8x4(y + i), xv = tq_read_s8x4(x + i);
        const uint32_t word = tq_pack4_clamp(TQ_RES_SSAT8(tq_requant_mm(ty[(int8_t)yv] + tx[(int8_t)xv], m, ra, e)),
                                             TQ_RES_SSAT8(tq_requant_mm(ty[(int8_t)(yv >> 8)] + tx[(int8_t)(xv >> 8)], m, ra, e)),
                                             TQ_RES_SSAT8(tq_requant_mm(ty[(int8_t)(yv >> 16)] + tx[(int8_t)(xv >> 16)], m, ra, e)),
                                             TQ_RES_SSAT8(tq_requant_mm(ty[yv >> 24] + tx[xv >> 24], m, ra, e)), lo4, hi4);
        memcpy(out + i, &word, 4);
    }
#endif
    for (; i < n; ++i) {
        const int32_t v = tq_requant_mm(ty[y[i]] + tx[x[i]], m, ra, e);
        out[i] = (int8_t)TQ_CLAMP(v, lo, hi);
    }
}
