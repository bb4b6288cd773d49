/* DEPTHWISE_CONV_2D, depth multiplier 1, channels four at a time (see tq_conv_fast.h). */
#include "tq_conv_fast.h"

/* acc[j] += sum over the taps of x[c + j] * w[4 t + j], j < 4: tap t reads tap[t] + c. */
static inline __attribute__((always_inline)) void tq_dw_block4(const int8_t *const *tap, int32_t taps, const int8_t *w,
                                                              int32_t c, int32_t *acc)
{
    int32_t t;
#if defined(TQ_GEMM_MVE)
    int32x4_t a = vld1q_s32(acc);
    for (t = 0; t < taps; ++t, w += 4) {
        a = vaddq_s32(a, vmulq_s32(vldrbq_s32(tap[t] + c), vldrbq_s32(w)));
    }
    vst1q_s32(acc, a);
#elif defined(TQ_GEMM_DSP)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (t = 0; t < taps; ++t, w += 4) {
        const int32_t xv = tq_read_s8x4(tap[t] + c), wv = tq_read_s8x4(w);
        const int32_t xe = __sxtb16(xv), xo = tq_sxtb16_ror8(xv);
        const int32_t we = __sxtb16(wv), wo = tq_sxtb16_ror8(wv);
        a0 = __smlabb(xe, we, a0);
        a2 = __smlatt(xe, we, a2);
        a1 = __smlabb(xo, wo, a1);
        a3 = __smlatt(xo, wo, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    for (t = 0; t < taps; ++t, w += 4) {
        int32_t j;
        for (j = 0; j < 4; ++j) {
            acc[j] += (int32_t)tap[t][c + j] * w[j];
        }
    }
#endif
}

/* tq_dw_block4 for nine taps, unrolled: on the DSP extension 11 instructions a tap (the tap's
   pointer, its four bytes, four weights, four SXTB16, four 16 x 16 MACs). */
#if defined(TQ_GEMM_DSP)
#define TQ_DW_TAP(off)                            \
    "ldr    %[x], [%[tab], #" #off "]\n\t"        \
    "ldr    %[x], [%[x], %[c]]\n\t"               \
    "ldr    %[wv], [%[w]], #4\n\t"                \
    "sxtb16 %[xe], %[x]\n\t"                      \
    "sxtb16 %[x], %[x], ror #8\n\t"               \
    "sxtb16 %[we], %[wv]\n\t"                     \
    "sxtb16 %[wv], %[wv], ror #8\n\t"             \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"       \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"       \
    "smlabb %[a1], %[x], %[wv], %[a1]\n\t"        \
    "smlatt %[a3], %[x], %[wv], %[a3]\n\t"
#endif
static inline __attribute__((always_inline)) void tq_dw_block4_9(const int8_t *const *tap, const int8_t *w, int32_t c,
                                                                int32_t *acc)
{
#if defined(TQ_GEMM_DSP)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t x, xe, wv, we;
    __asm__(TQ_DW_TAP(0) TQ_DW_TAP(4) TQ_DW_TAP(8) TQ_DW_TAP(12) TQ_DW_TAP(16) TQ_DW_TAP(20) TQ_DW_TAP(24)
                TQ_DW_TAP(28) TQ_DW_TAP(32)
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "=&r"(x), [xe] "=&r"(xe),
              [wv] "=&r"(wv), [we] "=&r"(we)
            : [tab] "r"(tap), [c] "r"(c), "m"(*(const int8_t *const(*)[9])tap)
            : "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    tq_dw_block4(tap, 9, w, c, acc);
#endif
}

/*
 * Four requantized outputs packed in a word (byte j: channel c + j), clamped to [lo, hi] given in
 * all four bytes of lo4 and hi4; q: per channel mult, radd, rsh (tq_requant_mm). On the DSP
 * extension in one block: 8 instructions an output, then BFI and the SSUB8/SEL clamp.
 */
static inline __attribute__((always_inline)) uint32_t tq_dw_out4(const int32_t *acc, const int32_t *q, uint32_t lo4,
                                                                uint32_t hi4)
{
#if defined(TQ_GEMM_DSP)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], m, r, s, t;
    __asm__("ldrd   %[m], %[r], [%[q], #0]\n\t"
            "ldr    %[s], [%[q], #8]\n\t" TQ_REQUANT_SAT8("a0", "m", "r", "s")
            "ldrd   %[m], %[r], [%[q], #12]\n\t"
            "ldr    %[s], [%[q], #20]\n\t" TQ_REQUANT_SAT8("a1", "m", "r", "s")
            "ldrd   %[m], %[r], [%[q], #24]\n\t"
            "ldr    %[s], [%[q], #32]\n\t" TQ_REQUANT_SAT8("a2", "m", "r", "s")
            "ldrd   %[m], %[r], [%[q], #36]\n\t"
            "ldr    %[s], [%[q], #44]\n\t" TQ_REQUANT_SAT8("a3", "m", "r", "s")
            "bfi    %[a0], %[a1], #8, #8\n\t"
            "bfi    %[a0], %[a2], #16, #8\n\t"
            "bfi    %[a0], %[a3], #24, #8\n\t"
            "ssub8  %[t], %[a0], %[lo]\n\t"
            "sel    %[a0], %[a0], %[lo]\n\t"
            "ssub8  %[t], %[hi], %[a0]\n\t"
            "sel    %[a0], %[a0], %[hi]"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [m] "=&r"(m), [r] "=&r"(r), [s] "=&r"(s),
              [t] "=&r"(t)
            : [q] "r"(q), [lo] "r"(lo4), [hi] "r"(hi4), "m"(*(const int32_t(*)[12])q)
            : "cc");
    return (uint32_t)a0;
#else
    const int32_t lo = (int8_t)lo4, hi = (int8_t)hi4;
    uint32_t word = 0;
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t v = tq_requant_mm(acc[j], q[3 * j], q[3 * j + 1], q[3 * j + 2]);
        word |= (uint32_t)(uint8_t)(int8_t)TQ_CLAMP(v, lo, hi) << (8 * j);
    }
    return word;
#endif
}

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    /* Locals, not p->...: the int8 output stores may alias anything, which would force reloads. */
    const int32_t in_h = p->in.h, in_w = p->in.w, ch = p->in.c, kh = p->kh, kw = p->kw, taps = kh * kw;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t lo4 = 0x01010101u * (uint8_t)lo, hi4 = 0x01010101u * (uint8_t)hi;
    const int8_t *const weights = p->weights;
    const int32_t ch4 = ch & ~3, wstep = 4 * taps;
    int8_t *const zp_row = scratch;
    const int8_t *tap[TQ_DW_MAX_TAPS];
    tq_row_stage stage;
    int32_t b, oy, ox, c, fy, fx;

    for (c = 0; c < ch; ++c) {
        zp_row[c] = (int8_t)p->in_zp;
    }
    tq_stage_init(&stage, scratch + ((ch + 7) & ~7), p->ring_rows, p->out.w * ch, in_w * ch, p->out.h, p->pad_h, p->stride_h);
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * ch;
        int8_t *const out_b = output + (size_t)b * p->out.h * p->out.w * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int8_t *out = tq_stage_row(&stage, out_b, oy);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int8_t *w = weights;
                const int32_t *q = p->quant;
                int32_t t = 0;
                for (fy = 0; fy < kh; ++fy) {
                    const int32_t iy = iy0 + fy * p->dil_h;
                    for (fx = 0; fx < kw; ++fx, ++t) {
                        const int32_t ix = ix0 + fx * p->dil_w;
                        tap[t] = (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) ? in_b + ((size_t)iy * in_w + ix) * ch : zp_row;
                    }
                }
                for (c = 0; c < ch4; c += 4, w += wstep, q += 16) {
                    int32_t acc[4];
                    uint32_t word;
                    acc[0] = q[0];
                    acc[1] = q[1];
                    acc[2] = q[2];
                    acc[3] = q[3];
                    if (taps == 9) { /* 3x3, unrolled */
                        tq_dw_block4_9(tap, w, c, acc);
                    } else {
                        tq_dw_block4(tap, taps, w, c, acc);
                    }
                    word = tq_dw_out4(acc, q + 4, lo4, hi4);
                    memcpy(out + c, &word, 4);
                }
                for (; c < ch; ++c) { /* the last ch % 4 channels: lane c - ch4 of the last block */
                    const int32_t j = c - ch4;
                    int32_t acc = q[j], v;
                    for (t = 0; t < taps; ++t) {
                        acc += (int32_t)tap[t][c] * w[4 * t + j];
                    }
                    v = tq_requant_mm(acc, q[4 + 3 * j], q[5 + 3 * j], q[6 + 3 * j]);
                    out[c] = (int8_t)TQ_CLAMP(v, lo, hi);
                }
            }
            tq_stage_flush(&stage, out_b, oy);
        }
    }
    return TQ_OK;
}
