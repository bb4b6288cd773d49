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

/* tq_dw_block4 for nine taps, the loop unrolled. */
static void tq_dw_block4_9(const int8_t *const *tap, const int8_t *w, int32_t c, int32_t *acc)
{
#pragma GCC unroll 9
    for (int32_t t = 0; t < 9; ++t) {
        tq_dw_block4(tap + t, 1, w + 4 * t, c, acc);
    }
}

/* Four requantized outputs packed in a word (byte j: channel c + j), clamped to [lo, hi]. */
static inline __attribute__((always_inline)) uint32_t tq_dw_out4(const int32_t *acc, const int32_t *mult, const int32_t *radd,
                                                                const int32_t *rsh, uint32_t lo4, uint32_t hi4)
{
#if defined(TQ_SIMD32)
    return tq_pack4_clamp(__ssat(tq_requant_mm(acc[0], mult[0], radd[0], rsh[0]), 8), __ssat(tq_requant_mm(acc[1], mult[1], radd[1], rsh[1]), 8),
                          __ssat(tq_requant_mm(acc[2], mult[2], radd[2], rsh[2]), 8), __ssat(tq_requant_mm(acc[3], mult[3], radd[3], rsh[3]), 8),
                          lo4, hi4);
#else
    const int32_t lo = (int8_t)lo4, hi = (int8_t)hi4;
    uint32_t word = 0;
    int32_t j;
    for (j = 0; j < 4; ++j) {
        const int32_t v = tq_requant_mm(acc[j], mult[j], radd[j], rsh[j]);
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
                    word = tq_dw_out4(acc, q + 4, q + 8, q + 12, lo4, hi4);
                    memcpy(out + c, &word, 4);
                }
                for (; c < ch; ++c) { /* the last ch % 4 channels: lane c - ch4 of the last block */
                    const int32_t j = c - ch4;
                    int32_t acc = q[j], v;
                    for (t = 0; t < taps; ++t) {
                        acc += (int32_t)tap[t][c] * w[4 * t + j];
                    }
                    v = tq_requant_mm(acc, q[4 + j], q[8 + j], q[12 + j]);
                    out[c] = (int8_t)TQ_CLAMP(v, lo, hi);
                }
            }
            tq_stage_flush(&stage, out_b, oy);
        }
    }
    return TQ_OK;
}
