/* L2_NORMALIZATION int8 over the last axis: reference_integer_ops::L2Normalization (see tq_pool.h). */
#include "tq_pool.h"

/* a - b wrapping in two's complement, as gemmlowp's int32 FixedPoint subtraction does. */
static int32_t tq_wrapping_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/*
 * TFLite's GetInvSqrtQuantizedMultiplierExp(acc, kReverseShift): 1 / sqrt(acc) = mult * 2^(shift - 31),
 * shift <= 0. acc is normalized into [2^27, 2^29) by pairs of bits, read as a fixed-point number
 * with 3 integer bits (F3), and five Newton-Raphson steps x <- 1.5 x - (acc / 2) x^3 from x = 1 run
 * in gemmlowp's saturating fixed point: a product of Fa and Fb is SaturatingRoundingDoublingHighMul
 * in F(a + b), brought back to F3 by a saturating left shift (Rescale).
 */
static void tq_inv_sqrt_mult(int32_t acc, int32_t *mult, int32_t *shift)
{
    if (acc <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t s = 11;
    while (acc >= ((int32_t)1 << 29)) {
        acc /= 4;
        ++s;
    }
    const int32_t pairs = (tq_clz32((uint32_t)acc) - 1) / 2 - 1;
    s -= pairs;
    acc <<= 2 * pairs;
    const int32_t half_acc = tq_rounding_divide_by_pot(acc >> 1, 1); /* F3 */
    const int32_t three_halves = ((int32_t)1 << 28) + ((int32_t)1 << 27); /* 1.5 in F3 */
    int32_t x = (int32_t)1 << 28;                                            /* 1.0 in F3 */
    for (int i = 0; i < 5; ++i) {
        const int32_t x2 = tq_sat_rounding_doubling_high_mul(x, x);                                   /* F6 */
        const int32_t x3 = tq_sat_left_shift(tq_sat_rounding_doubling_high_mul(x2, x), 6);            /* F9 -> F3 */
        const int32_t step = tq_wrapping_sub(tq_sat_rounding_doubling_high_mul(three_halves, x),
                                             tq_sat_rounding_doubling_high_mul(half_acc, x3));         /* F6 */
        x = tq_sat_left_shift(step, 3);                                                                /* F6 -> F3 */
    }
    x = tq_sat_rounding_doubling_high_mul(x, 1518500250); /* times sqrt(2) / 2 (F0) */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *mult = x;
    *shift = -s;
}

tq_status tq_l2_norm_s8(const tq_l2_norm_s8_params *p, const int8_t *in, int8_t *out)
{
    const size_t depth = (size_t)p->depth;
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *x = in + (size_t)o * depth;
        int8_t *y = out + (size_t)o * depth;
        int32_t acc = 0;
        for (size_t c = 0; c < depth; ++c) {
            const int32_t d = (int32_t)x[c] - p->in_zp;
            acc += d * d;
        }
        int32_t mult, shift;
        tq_inv_sqrt_mult(acc, &mult, &shift);
        for (size_t c = 0; c < depth; ++c) {
            /* Output scale 1/128: 2^7 folded into the shift. */
            const int32_t r = tq_mul_by_quantized_mult((int32_t)x[c] - p->in_zp, mult, shift + 7);
            y[c] = (int8_t)TQ_CLAMP(r, INT8_MIN, INT8_MAX);
        }
    }
    return TQ_OK;
}
