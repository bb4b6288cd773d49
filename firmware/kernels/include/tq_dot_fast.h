/*
 * tinyq dot products for the fast twins of the matrix-times-vector kernels (TRANSPOSE_CONV,
 * BATCH_MATMUL, SVDF, the int8 LSTM): sums of raw products, the zero points being folded elsewhere
 * (into biases, or added from row sums), so that the loops only multiply and add.
 *
 * ISA paths, as tq_gemm.h: Helium (MVE): VMLADAVA, 16 int8 or 8 int16 products an instruction, the
 * tail predicated (VCTP); DSP extension (Cortex-M4/M7/M33): SXTB16 + SMLAD, two products an
 * instruction, the vector's bytes extended once for both rows of tq_dot2_s8; otherwise portable C.
 * Operands may sit at any address (unaligned word reads: memcpy, LDR on ARMv7-M and later).
 * Every sum wraps modulo 2^32 like TFLite's int32 sums (SMLAD and VMLADAVA wrap too).
 */
#ifndef TQ_DOT_FAST_H
#define TQ_DOT_FAST_H

#include <string.h>

#include "tq_common.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TQ_DOT_MVE 1
#elif defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#include <arm_acle.h>
#define TQ_DOT_DSP 1
#endif

static inline int32_t tq_dot_word(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(TQ_DOT_DSP)
/* SXTB16 of bytes 1 and 3 (GCC does not fold the rotate into SXTB16's operand). */
static inline int32_t tq_dot_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

/* s0 += w0 . x, s1 += w1 . x over n int8 values (the vector x read once for both rows). */
static inline void tq_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *s0, int32_t *s1)
{
    int32_t a0 = *s0, a1 = *s1, i = 0;
#if defined(TQ_DOT_MVE)
    for (; i < n; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, p);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(w0 + i, p), xv);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(w1 + i, p), xv);
    }
#else
#if defined(TQ_DOT_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = tq_dot_word(x + i), v0 = tq_dot_word(w0 + i), v1 = tq_dot_word(w1 + i);
        const int32_t xe = __sxtb16(xv), xo = tq_dot_sxtb16_ror8(xv);
        a0 = __smlad(__sxtb16(v0), xe, a0);
        a0 = __smlad(tq_dot_sxtb16_ror8(v0), xo, a0);
        a1 = __smlad(__sxtb16(v1), xe, a1);
        a1 = __smlad(tq_dot_sxtb16_ror8(v1), xo, a1);
    }
#endif
    for (; i < n; ++i) {
        a0 = (int32_t)((uint32_t)a0 + (uint32_t)((int32_t)w0[i] * x[i]));
        a1 = (int32_t)((uint32_t)a1 + (uint32_t)((int32_t)w1[i] * x[i]));
    }
#endif
    *s0 = a0;
    *s1 = a1;
}

/* acc[0] += a0 . b0, acc[1] += a0 . b1, acc[2] += a1 . b0, acc[3] += a1 . b1 over n int8 values: a 2x2
   block, each operand read (and on the DSP extension sign-extended) once for two products. */
static inline void tq_dot2x2_s8(const int8_t *a0, const int8_t *a1, const int8_t *b0, const int8_t *b1, int32_t n,
                                int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3], i = 0;
#if defined(TQ_DOT_MVE)
    for (; i < n; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        const int8x16_t x0 = vldrbq_z_s8(a0 + i, p), x1 = vldrbq_z_s8(a1 + i, p);
        const int8x16_t y0 = vldrbq_z_s8(b0 + i, p), y1 = vldrbq_z_s8(b1 + i, p);
        s00 = vmladavaq_s8(s00, x0, y0);
        s01 = vmladavaq_s8(s01, x0, y1);
        s10 = vmladavaq_s8(s10, x1, y0);
        s11 = vmladavaq_s8(s11, x1, y1);
    }
#else
#if defined(TQ_DOT_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t y0 = tq_dot_word(b0 + i), y1 = tq_dot_word(b1 + i);
        const int32_t y0e = __sxtb16(y0), y0o = tq_dot_sxtb16_ror8(y0);
        const int32_t y1e = __sxtb16(y1), y1o = tq_dot_sxtb16_ror8(y1);
        int32_t x = tq_dot_word(a0 + i), xe = __sxtb16(x), xo = tq_dot_sxtb16_ror8(x);
        s00 = __smlad(xo, y0o, __smlad(xe, y0e, s00));
        s01 = __smlad(xo, y1o, __smlad(xe, y1e, s01));
        x = tq_dot_word(a1 + i);
        xe = __sxtb16(x);
        xo = tq_dot_sxtb16_ror8(x);
        s10 = __smlad(xo, y0o, __smlad(xe, y0e, s10));
        s11 = __smlad(xo, y1o, __smlad(xe, y1e, s11));
    }
#endif
    for (; i < n; ++i) {
        s00 = (int32_t)((uint32_t)s00 + (uint32_t)((int32_t)a0[i] * b0[i]));
        s01 = (int32_t)((uint32_t)s01 + (uint32_t)((int32_t)a0[i] * b1[i]));
        s10 = (int32_t)((uint32_t)s10 + (uint32_t)((int32_t)a1[i] * b0[i]));
        s11 = (int32_t)((uint32_t)s11 + (uint32_t)((int32_t)a1[i] * b1[i]));
    }
#endif
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* s + w . x over n int8 values. */
static inline int32_t tq_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t s)
{
    int32_t i = 0;
#if defined(TQ_DOT_MVE)
    for (; i < n; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        s = vmladavaq_s8(s, vldrbq_z_s8(w + i, p), vldrbq_z_s8(x + i, p));
    }
#else
#if defined(TQ_DOT_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = tq_dot_word(x + i), v = tq_dot_word(w + i);
        s = __smlad(__sxtb16(v), __sxtb16(xv), s);
        s = __smlad(tq_dot_sxtb16_ror8(v), tq_dot_sxtb16_ror8(xv), s);
    }
#endif
    for (; i < n; ++i) {
        s = (int32_t)((uint32_t)s + (uint32_t)((int32_t)w[i] * x[i]));
    }
#endif
    return s;
}

/* s + a . b over n int16 values, wrapping modulo 2^32 (each product is exact). */
static inline int32_t tq_dot_s16(const int16_t *a, const int16_t *b, int32_t n, int32_t s)
{
    int32_t i = 0;
#if defined(TQ_DOT_MVE)
    for (; i < n; i += 8) {
        const mve_pred16_t p = vctp16q((uint32_t)(n - i));
        s = vmladavaq_s16(s, vldrhq_z_s16(a + i, p), vldrhq_z_s16(b + i, p));
    }
#else
#if defined(TQ_DOT_DSP)
    for (; i + 2 <= n; i += 2) {
        s = __smlad(tq_dot_word(a + i), tq_dot_word(b + i), s);
    }
#endif
    for (; i < n; ++i) {
        s = (int32_t)((uint32_t)s + (uint32_t)((int32_t)a[i] * b[i]));
    }
#endif
    return s;
}

/* tq_mul_by_quantized_mult(acc, mult, shift), in one 64-bit rounding step where shift <= 0 (tq_requantize_rs,
   exact for every input). */
static inline int32_t tq_dot_requant(int32_t acc, int32_t mult, int32_t shift)
{
    return shift <= 0 ? tq_requantize_rs(acc, mult, -shift) : tq_mul_by_quantized_mult(acc, mult, shift);
}

#endif /* TQ_DOT_FAST_H */
