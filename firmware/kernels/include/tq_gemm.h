/*
 * tinyq fast convolution core: int8 dot products of output-channel rows against input columns,
 * two rows by two columns at a time, then requantization. Shared (static inline) by the fast
 * CONV_2D kernels (tq_conv_1x1_s8, tq_conv_im2col_s8).
 *
 * What generation prepares (tinyq/ops/conv.py), so that the inner loop is branch-free:
 * - weights as rows [out_c][k], the OHWI filter flattened, zero-padded to k, a multiple of 4
 *   (16 on Helium builds);
 * - bias[c] + input_offset * sum(weights[c]): the input offset is folded into the bias, and the
 *   columns hold raw input bytes, padding taps filled with the input zero point, which is exact:
 *   sum_valid w (x + off) = sum_all w x' + off * sum_all w when padding x' = -off;
 * - per-channel multipliers with right shifts only (shift <= 0), requantized by tq_requantize_rs.
 *
 * ISA paths: Helium (MVE, k % 16 == 0): VMLADAVA, 16 MACs an instruction; DSP extension
 * (Cortex-M4/M7/M33): SXTB16 + SMLAD, two MACs an instruction; otherwise portable C.
 */
#ifndef TQ_GEMM_H
#define TQ_GEMM_H

#include <string.h>

#include "tq_common.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TQ_GEMM_MVE 1
#elif defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TQ_GEMM_DSP 1
#endif

typedef struct {
    int32_t out_c;          /* rows */
    int32_t k;              /* inner length: a multiple of 4 (of 16 when built for Helium) */
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;  /* [out_c][k] */
    const int32_t *bias;    /* [out_c], input offset folded in */
    const int32_t *mult;    /* [out_c] */
    const int32_t *shift;   /* [out_c], all <= 0 */
} tq_gemm_s8_params;

#if defined(TQ_GEMM_DSP)
/* SXTB16 of bytes 1 and 3: one instruction (GCC 12 does not fold a rotate into SXTB16's operand). */
static inline int32_t tq_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

static inline int32_t tq_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* s[r][c] += dot(row r, column c) for rows w0, w1 and columns a0, a1 (k a multiple of 4). */
static inline void tq_dot_2x2(const int8_t *w0, const int8_t *w1, const int8_t *a0, const int8_t *a1, int32_t k,
                              int32_t *s00, int32_t *s01, int32_t *s10, int32_t *s11)
{
    int32_t r00 = *s00, r01 = *s01, r10 = *s10, r11 = *s11;
    int32_t i = 0;
#if defined(TQ_GEMM_MVE)
    if ((k & 15) == 0) {
        for (; i < k; i += 16) {
            const int8x16_t x0 = vldrbq_s8(w0 + i), x1 = vldrbq_s8(w1 + i);
            const int8x16_t c0 = vldrbq_s8(a0 + i), c1 = vldrbq_s8(a1 + i);
            r00 = vmladavaq_s8(r00, x0, c0);
            r01 = vmladavaq_s8(r01, x0, c1);
            r10 = vmladavaq_s8(r10, x1, c0);
            r11 = vmladavaq_s8(r11, x1, c1);
        }
    }
#endif
#if defined(TQ_GEMM_DSP)
    for (; i < k; i += 4) {
        const int32_t x0 = tq_read_s8x4(w0 + i), x1 = tq_read_s8x4(w1 + i);
        const int32_t c0 = tq_read_s8x4(a0 + i), c1 = tq_read_s8x4(a1 + i);
        const int32_t x0e = __sxtb16(x0), x0o = tq_sxtb16_ror8(x0);
        const int32_t x1e = __sxtb16(x1), x1o = tq_sxtb16_ror8(x1);
        const int32_t c0e = __sxtb16(c0), c0o = tq_sxtb16_ror8(c0);
        const int32_t c1e = __sxtb16(c1), c1o = tq_sxtb16_ror8(c1);
        r00 = __smlad(x0e, c0e, r00);
        r00 = __smlad(x0o, c0o, r00);
        r01 = __smlad(x0e, c1e, r01);
        r01 = __smlad(x0o, c1o, r01);
        r10 = __smlad(x1e, c0e, r10);
        r10 = __smlad(x1o, c0o, r10);
        r11 = __smlad(x1e, c1e, r11);
        r11 = __smlad(x1o, c1o, r11);
    }
#else
    for (; i < k; ++i) {
        r00 += (int32_t)w0[i] * a0[i];
        r01 += (int32_t)w0[i] * a1[i];
        r10 += (int32_t)w1[i] * a0[i];
        r11 += (int32_t)w1[i] * a1[i];
    }
#endif
    *s00 = r00;
    *s01 = r01;
    *s10 = r10;
    *s11 = r11;
}

/* s += dot(w, a) for one row and one column (k a multiple of 4). */
static inline int32_t tq_dot_1x1(const int8_t *w, const int8_t *a, int32_t k, int32_t s)
{
    int32_t i = 0;
#if defined(TQ_GEMM_MVE)
    if ((k & 15) == 0) {
        for (; i < k; i += 16) {
            s = vmladavaq_s8(s, vldrbq_s8(w + i), vldrbq_s8(a + i));
        }
    }
#endif
#if defined(TQ_GEMM_DSP)
    for (; i < k; i += 4) {
        const int32_t x = tq_read_s8x4(w + i), c = tq_read_s8x4(a + i);
        s = __smlad(__sxtb16(x), __sxtb16(c), s);
        s = __smlad(tq_sxtb16_ror8(x), tq_sxtb16_ror8(c), s);
    }
#else
    for (; i < k; ++i) {
        s += (int32_t)w[i] * a[i];
    }
#endif
    return s;
}

static inline int8_t tq_gemm_out(const tq_gemm_s8_params *g, int32_t c, int32_t acc)
{
    int32_t v = tq_requantize_rs(acc, g->mult[c], -g->shift[c]) + g->out_offset;
    v = TQ_CLAMP(v, g->act_min, g->act_max);
    return (int8_t)v;
}

/*
 * All out_c outputs of one or two pixels: out0[c] from column a0 and, when a1 != NULL,
 * out1[c] from column a1.
 */
static inline void tq_gemm_pixels(const tq_gemm_s8_params *g, const int8_t *a0, const int8_t *a1, int8_t *out0, int8_t *out1)
{
    const int32_t k = g->k;
    const int8_t *w = g->weights;
    int32_t c = 0;
    if (a1 != NULL) {
        for (; c + 1 < g->out_c; c += 2, w += 2 * k) {
            int32_t s00 = g->bias[c], s01 = g->bias[c], s10 = g->bias[c + 1], s11 = g->bias[c + 1];
            tq_dot_2x2(w, w + k, a0, a1, k, &s00, &s01, &s10, &s11);
            out0[c] = tq_gemm_out(g, c, s00);
            out1[c] = tq_gemm_out(g, c, s01);
            out0[c + 1] = tq_gemm_out(g, c + 1, s10);
            out1[c + 1] = tq_gemm_out(g, c + 1, s11);
        }
        if (c < g->out_c) {
            out0[c] = tq_gemm_out(g, c, tq_dot_1x1(w, a0, k, g->bias[c]));
            out1[c] = tq_gemm_out(g, c, tq_dot_1x1(w, a1, k, g->bias[c]));
        }
        return;
    }
    for (; c < g->out_c; ++c, w += k) {
        out0[c] = tq_gemm_out(g, c, tq_dot_1x1(w, a0, k, g->bias[c]));
    }
}

#endif /* TQ_GEMM_H */
