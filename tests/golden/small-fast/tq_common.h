/*
 * tinyq kernel runtime: shared types and TFLite's fixed-point arithmetic.
 *
 * Every kernel is `tq_status tq_<op>_<type>(const tq_<op>_<type>_params *p, inputs..., outputs...)`.
 * Parameters are computed and validated at generation time (tinyq/ops), so kernels run blindly.
 * The helpers below reproduce TFLite's reference arithmetic bit for bit
 * (gemmlowp SaturatingRoundingDoublingHighMul, RoundingDivideByPOT, MultiplyByQuantizedMultiplier
 * with double rounding).
 */
#ifndef TQ_COMMON_H
#define TQ_COMMON_H

#include <stdint.h>
#include <stddef.h>

#include "tq_features.h" /* TQ_CFG_*: the variants this build compiles in */

typedef enum {
    TQ_OK = 0,
    TQ_ARG_ERROR = -1,
    TQ_NO_IMPL = -2
} tq_status;

/* Shape of an activation in NHWC order; lower ranks are padded with 1 on the left. */
typedef struct {
    int32_t n, h, w, c;
} tq_dims;

#if defined(__GNUC__) || defined(__clang__)
#define TQ_ALIGN(n) __attribute__((aligned(n)))
#else
#define TQ_ALIGN(n)
#endif

/*
 * Weights, biases and requantization tables of a generated model. A firmware build defines
 * TQ_WEIGHTS_SECTION so the linker script can place (and the size report count) them apart from code.
 */
#if defined(TQ_WEIGHTS_SECTION) && (defined(__GNUC__) || defined(__clang__))
#define TQ_WEIGHTS __attribute__((section(".tq_weights")))
#else
#define TQ_WEIGHTS
#endif

#define TQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TQ_CLAMP(x, lo, hi) TQ_MIN(TQ_MAX((x), (lo)), (hi))

/* Leading zero bits of x (32 for 0): TFLite's CountLeadingZeros, for headroom and reciprocals. */
static inline int32_t tq_clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* (a * b * 2) >> 31 rounded to nearest, saturating the single overflow case. */
static inline int32_t tq_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* division truncates toward zero */
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t tq_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * mult * 2^(shift - 31), TFLite's MultiplyByQuantizedMultiplier (double rounding). */
static inline int32_t tq_mul_by_quantized_mult(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left); /* wraps like TFLite's int32 multiply */
    return tq_rounding_divide_by_pot(tq_sat_rounding_doubling_high_mul(shifted, mult), right);
}

/*
 * tq_mul_by_quantized_mult(acc, mult, -e) for e >= 0, in one 64-bit rounding step.
 *
 * SaturatingRoundingDoublingHighMul is floor((acc * mult + 2^30) / 2^31) for every operand pair but
 * INT32_MIN * INT32_MIN (mult is never negative), and RoundingDivideByPOT(x, e) is
 * floor((x + 2^(e-1) - [x < 0]) / 2^e); the two floors compose into one:
 *     floor((t + 2^(30+e) - [t < 0] * 2^31) / 2^(31+e)),  t = acc * mult + 2^30.
 * Exact for all inputs (checked against the two-step form over random and tie operands).
 */
static inline int32_t tq_requantize_rs(int32_t acc, int32_t mult, int32_t e)
{
    const int64_t t = (int64_t)acc * (int64_t)mult + ((int64_t)1 << 30);
    const int32_t hi = (int32_t)(t >> 32);
    const uint32_t lo = (uint32_t)t;
    if (e >= 2) {
        /* u = t + 2^31 * (2^(e-1) - [t < 0]); result = u >> (31 + e) = high word of u >> (e - 1).
           Adding 2^(30+e) raises the high word by 2^(e-2); taking 2^31 back when t < 0 borrows
           from it exactly when the low word is below 2^31. */
        const int32_t borrow = (int32_t)(((uint32_t)hi & ~lo) >> 31);
        return (hi + ((int32_t)1 << (e - 2)) - borrow) >> (e - 1);
    }
    if (e == 1) {
        /* u = t + 2^31 when t >= 0, t otherwise: carry into the high word from the low word. */
        return hi + (int32_t)((~(uint32_t)hi & lo) >> 31);
    }
    return (int32_t)(t >> 31);
}

/*
 * tq_mul_by_quantized_mult(acc, mult, -e) + zo for e >= 1, the fast kernels' requantization, with
 * radd = 2^(e-1) + zo * 2^e precomputed per channel and |acc| < 2^30 (both checked at generation).
 *
 * x = SaturatingRoundingDoublingHighMul(acc, mult) = floor((2 acc mult + 2^31) / 2^32): the high
 * word of SMMLAR(2 acc, mult, radd) is x + radd. RoundingDivideByPOT(x, e) + zo is then
 * (x + radd - [x < 0]) >> e, and [x < 0] may be read as [acc < 0]: they differ only where x = 0,
 * where both give 0 + zo. Four instructions on the DSP extension (LSL, SMMLAR, SUB, ASR).
 */
static inline int32_t tq_requant_mm(int32_t acc, int32_t mult, int32_t radd, int32_t e)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
    int32_t hi;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(hi) : "r"(acc * 2), "r"(mult), "r"(radd));
#else
    const int32_t hi = (int32_t)(((int64_t)radd * 4294967296LL + (int64_t)(acc * 2) * mult + 2147483648LL) >> 32);
#endif
    return (hi - (int32_t)((uint32_t)acc >> 31)) >> e;
}

/*
 * tq_mul_by_quantized_mult(acc, mult, shift) + zo for any accumulator, any multiplier and any shift,
 * given as left = max(shift, 0) and right = max(-shift, 0): the fast kernels' general
 * requantization, for layers where generation cannot prove tq_requant_mm exact (effective scales of
 * 1/2 or more, accumulators of 2^30 or more, a zero point that overflows its rounding constant).
 * The left shift wraps as TFLite's int32 `x * (1 << left_shift)` does; the product and both
 * roundings are one 64-bit step (tq_requantize_rs, exact for a right shift of 0 too); the zero
 * point is added in int32 as the reference kernels do (wrapping past INT32_MAX).
 */
static inline int32_t tq_requant_gen(int32_t acc, int32_t mult, int32_t left, int32_t right, int32_t zo)
{
    const int32_t x = tq_requantize_rs((int32_t)((uint32_t)acc << left), mult, right);
    return (int32_t)((uint32_t)x + (uint32_t)zo);
}

/* Saturating left shift used before a high multiply (gemmlowp ShiftLeft on int32). */
static inline int32_t tq_sat_left_shift(int32_t x, int32_t shift)
{
    const int64_t v = (int64_t)x * ((int64_t)1 << shift);
    return (int32_t)TQ_CLAMP(v, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
}

#endif /* TQ_COMMON_H */
