/*
 * tinyq activation kernels (int8): SOFTMAX, LOG_SOFTMAX, LOGISTIC, TANH, ELU, GELU, EXP, LOG, SQRT,
 * RSQRT, HARD_SWISH, LEAKY_RELU, PRELU, RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1, ABS, NEG.
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (BuiltinRefOpResolver). Every parameter and table is computed and validated at generation
 * time (tinyq/ops/activation.py); the kernels run blindly.
 *
 * All kernels are elementwise or row-wise and read each input element before writing the
 * output element at the same index, so `out` may alias `in`.
 *
 * A multiplier/shift pair (mult, shift) is TFLite's QuantizeMultiplier of a real factor, applied by
 * tq_mul_by_quantized_mult; where the kernels shift the value left (shift > 0) the generator has
 * checked that no input can overflow int32 there.
 *
 * The static inline helpers below reproduce gemmlowp's fixed-point arithmetic (FixedPoint
 * exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, Rescale, the int16 primitives used
 * by HardSwish, and TFLite's log_x_for_x_greater_than_or_equal_to_1) bit for bit, including their
 * truncations and saturations.
 */
#ifndef TQ_ACTIVATION_H
#define TQ_ACTIVATION_H

#include "tq_common.h"

/* --------------------------------------------------------------------------- parameters */

/**
 * Elementwise 256-entry lookup: out[i] = table[(uint8_t)in[i]].
 *
 * Used for LOGISTIC, TANH, ELU, GELU, EXP and LOG, whose TFLite reference kernels evaluate a float
 * function once per int8 value in Prepare (LUTPopulate) and look it up at run time; the table is that
 * same table, computed at generation time. Also for SQRT and RSQRT, whose reference kernels compute
 * each element from its value alone (SQRT in float32, RSQRT in fixed point): the table holds their
 * result for each of the 256 values. Index 0..127 holds inputs 0..127, index 128..255 inputs -128..-1.
 */
typedef struct {
    int32_t size;        /**< number of elements */
    const int8_t *table; /**< 256 entries, indexed by the input's bit pattern */
} tq_lut_s8_params;

tq_status tq_lut_s8(const tq_lut_s8_params *p, const int8_t *in, int8_t *out);

/**
 * SOFTMAX over the innermost axis, int8 in, int8 out (scale 1/256, zero point -128).
 *
 * Input rows*depth elements, row-major. TFLite's reference_ops::Softmax: per row, with
 * d = x - max(row): elements with d < diff_min contribute nothing and output -128; the others
 * contribute exp(d * input_scale * beta) computed in gemmlowp fixed point
 * (d scaled to Q5.26 by input_multiplier * 2^input_left_shift, summed in Q12.19), and output
 * exp / sum in units of 1/256, minus 128, saturated to int8.
 * Ranges: depth in [1, 4095] (the Q12.19 sum cannot overflow), input_left_shift in [0, 31],
 * diff_min = -floor(31 * 2^26 / 2^input_left_shift) so that d * 2^input_left_shift never
 * overflows int32. When a row's sum of exponentials reaches 512 (possible only for depth >= 512,
 * e.g. 512 equal values) TFLite's reference kernel aborts (its output shift exceeds 31); this
 * kernel outputs -128 there, the correctly rounded result (every probability is at most 1/512).
 */
typedef struct {
    int32_t rows;             /**< product of all but the last dimension */
    int32_t depth;            /**< last dimension */
    int32_t input_multiplier; /**< Q0.31 multiplier of beta * input_scale * 2^26 */
    int32_t input_left_shift; /**< its left shift (>= 0) */
    int32_t diff_min;         /**< smallest input difference that still contributes (<= 0) */
} tq_softmax_s8_params;

tq_status tq_softmax_s8(const tq_softmax_s8_params *p, const int8_t *in, int8_t *out);

/**
 * SOFTMAX over the innermost axis, int8 in, int16 out (scale 1/65536, zero point -32768): TFLite's
 * reference_ops::Softmax<int8_t, int16_t>. The same parameters and exp / sum arithmetic as
 * tq_softmax_s8; only the output stage differs: exp / sum in units of 1/65536, minus 32768,
 * saturated to int16 (elements with d < diff_min output -32768). With depth <= 4095 the output
 * shift is 15 to 26, so no row makes TFLite's reference kernel abort. `out` must not overlap `in`
 * (its elements are twice as wide).
 */
typedef tq_softmax_s8_params tq_softmax_s8_s16_params;

tq_status tq_softmax_s8_s16(const tq_softmax_s8_s16_params *p, const int8_t *in, int16_t *out);

/**
 * LOG_SOFTMAX over the innermost axis, int8 in, int8 out (scale 16/256, zero point 127): TFLite's
 * reference_integer_ops::LogSoftmax. Per row, with d = x - max(row): elements with d >= diff_min add
 * exp(d * input_scale) (d in Q5.26 by input_multiplier * 2^input_left_shift, exp summed in Q12.19);
 * log_sum = log(sum) in Q5.26. Elements with d > max(diff_min - 1, reverse(log_sum - 32)) output
 * round((d_q5 - log_sum) / 2^22) + 127 saturated to int8, the others -128; reverse() is
 * tq_mul_by_quantized_mult by (reverse_multiplier, reverse_shift), the inverse of the input scaling.
 * Ranges: depth in [1, 4095], input_left_shift in [1, 31], reverse_shift <= 0,
 * diff_min = -floor(31 * 2^26 / 2^input_left_shift).
 */
typedef struct {
    int32_t rows;               /**< product of all but the last dimension */
    int32_t depth;              /**< last dimension */
    int32_t input_multiplier;   /**< Q0.31 multiplier of input_scale * 2^26 */
    int32_t input_left_shift;   /**< its left shift (>= 1) */
    int32_t reverse_multiplier; /**< Q0.31 multiplier of 2^(31 - input_left_shift) / input_multiplier */
    int32_t reverse_shift;      /**< its shift (<= 0) */
    int32_t diff_min;           /**< smallest input difference that still contributes (<= 0) */
} tq_log_softmax_s8_params;

tq_status tq_log_softmax_s8(const tq_log_softmax_s8_params *p, const int8_t *in, int8_t *out);

/**
 * RELU family with requantization (TFLite's ReluX, shared by RELU, RELU6, RELU_N1_TO_1 and
 * RELU_0_TO_1): out = clamp(out_zp + mul_by_quantized_mult(in - in_zp, mult, shift),
 * act_min, act_max), where mult/shift encode in_scale / out_scale and act_min/act_max are the
 * activation's bounds in output units, already intersected with [-128, 127].
 */
typedef struct {
    int32_t size;
    int32_t in_zp, out_zp;
    int32_t mult, shift;
    int32_t act_min, act_max;
} tq_relu_s8_params;

tq_status tq_relu_s8(const tq_relu_s8_params *p, const int8_t *in, int8_t *out);

/**
 * LEAKY_RELU (reference_ops::QuantizeLeakyRelu): with v = in - in_zp,
 * out = clamp(out_zp + r, -128, 127), r = mul_by_quantized_mult(v, identity) for v >= 0, else
 * mul_by_quantized_mult(v, alpha), negated when alpha_negative. identity encodes in_scale / out_scale,
 * alpha encodes |in_scale * alpha / out_scale|: TFLite rounds the product with the magnitude of a
 * negative alpha multiplier and flips the sign after rounding (LiteRT >= 2.2), which differs from
 * a negative multiplier on rounding ties.
 */
typedef struct {
    int32_t size;
    int32_t in_zp, out_zp;
    int32_t mult_identity, shift_identity;
    int32_t mult_alpha, shift_alpha; /**< multiplier >= 0 */
    int32_t alpha_negative;          /**< 1: alpha < 0 */
} tq_leaky_relu_s8_params;

tq_status tq_leaky_relu_s8(const tq_leaky_relu_s8_params *p, const int8_t *in, int8_t *out);

/**
 * HARD_SWISH (reference_ops::HardSwish with HardSwishParams), computed in int16 fixed point:
 * x * relu6(x + 3) / 6 with the input on a 2^7 finer scale, a "relu-ish" factor in [0, 1]
 * (reluish multiplier: input scale / 128 over 3 / 32768) and an output rescale.
 * The multipliers are TFLite's int32 multipliers rounded to int16 (DownScaleInt32ToInt16Multiplier).
 * Ranges: output_exp in [-31, 0], reluish_exp in [-31, 31], multipliers in [0, 32767].
 */
typedef struct {
    int32_t size;
    int32_t in_zp, out_zp;
    int32_t output_mult; /**< int16 fixed-point multiplier (Q0.15) */
    int32_t output_exp;  /**< its exponent (<= 0: a rounding right shift) */
    int32_t reluish_mult;
    int32_t reluish_exp; /**< > 0: saturating left shift, < 0: rounding right shift */
} tq_hard_swish_s8_params;

tq_status tq_hard_swish_s8(const tq_hard_swish_s8_params *p, const int8_t *in, int8_t *out);

/**
 * PRELU (reference_ops::Prelu / BroadcastPrelu4DSlow): alpha is a constant int8 tensor broadcast
 * to the input's shape. With v = in - in_zp, out = clamp(out_zp + r, -128, 127),
 * r = mul_by_quantized_mult(v, mult_pos, shift_pos) for v >= 0 (in_scale / out_scale), else
 * mul_by_quantized_mult(v * (alpha - alpha_zp), mult_neg, shift_neg) (in_scale * alpha_scale /
 * out_scale). `shape` is the input (= output) shape padded to NHWC; the alpha element of input
 * (n, h, w, c) is alpha[n * alpha_stride.n + h * alpha_stride.h + w * alpha_stride.w + c * alpha_stride.c]
 * (stride 0 along the axes alpha is broadcast on).
 */
typedef struct {
    tq_dims shape;
    tq_dims alpha_stride;
    int32_t in_zp, alpha_zp, out_zp;
    int32_t mult_pos, shift_pos;
    int32_t mult_neg, shift_neg;
    const int8_t *alpha;
} tq_prelu_s8_params;

tq_status tq_prelu_s8(const tq_prelu_s8_params *p, const int8_t *in, int8_t *out);

/**
 * ABS (elementwise.cc AbsEvalQuantized): out = clamp(out_zp + mul_by_quantized_mult(|in - in_zp|,
 * mult, shift), -128, 127); mult/shift encode in_scale / out_scale, and are (1 << 30, 1), the exact
 * identity, when the scales are equal (TFLite then skips the rescale).
 */
typedef struct {
    int32_t size;
    int32_t in_zp, out_zp;
    int32_t mult, shift;
} tq_abs_s8_params;

tq_status tq_abs_s8(const tq_abs_s8_params *p, const int8_t *in, int8_t *out);

/**
 * NEG (reference_ops::Negate on int8): out = -in on the raw values, ignoring quantization as
 * TFLite does; -(-128) wraps to -128.
 */
typedef struct {
    int32_t size;
} tq_neg_s8_params;

tq_status tq_neg_s8(const tq_neg_s8_params *p, const int8_t *in, int8_t *out);

/* --------------------------------------------------------------------------- int16 primitives */

/* gemmlowp SaturatingRoundingDoublingHighMul on int16 (ARM VQRDMULH). */
static inline int16_t tq_srdhm16(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15)); /* truncates toward zero */
}

/* Like tq_srdhm16 but truncating instead of rounding (ARM SQDMULH). */
static inline int16_t tq_sdhm16(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

/* gemmlowp RoundingDivideByPOT on int16, with the same int16 mask arithmetic (exponent 0..31). */
static inline int16_t tq_rounding_divide_by_pot16(int16_t x, int32_t exponent)
{
    const int16_t mask = (int16_t)(((int64_t)1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* value * 2^amount saturated to int16 (amount 0..31). */
static inline int16_t tq_sat_left_shift16(int16_t value, int32_t amount)
{
    const int64_t r = (int64_t)value * ((int64_t)1 << amount);
    return (int16_t)TQ_CLAMP(r, (int64_t)INT16_MIN, (int64_t)INT16_MAX);
}

/* --------------------------------------------------------------------------- int32 fixed point */

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values. */
static inline int32_t tq_fp_mul_by_pot(int32_t x, int32_t exponent)
{
    if (exponent < 0) {
        return tq_rounding_divide_by_pot(x, -exponent);
    }
    if (exponent == 0) {
        return x;
    }
    {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
}

/* gemmlowp RoundingHalfSum on int32: (a + b) / 2 rounded away from zero. */
static inline int32_t tq_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* exp(a) for a Q0.31 value a in [-1/4, 0) (gemmlowp, Taylor series around -1/8). */
static inline int32_t tq_fp_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28); /* a + 1/8 */
    const int32_t x2 = tq_sat_rounding_doubling_high_mul(x, x);
    const int32_t x3 = tq_sat_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = tq_sat_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = tq_rounding_divide_by_pot(x4, 2);
    const int32_t poly = tq_rounding_divide_by_pot(
        tq_sat_rounding_doubling_high_mul(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + tq_sat_rounding_doubling_high_mul(constant_term, x + poly);
}

/*
 * exp(a) for a <= 0 held as FixedPoint<int32, integer_bits> (raw a, integer_bits 0..30);
 * result in Q0.31 (gemmlowp exp_on_negative_values: exp of a mod 1/4, then a barrel of
 * exp(-2^k) factors for the remaining bits).
 */
static inline int32_t tq_fp_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t frac_bits = 31 - integer_bits;
    const int32_t quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = tq_fp_exp_quarter(tq_fp_mul_by_pot(a_mod_quarter_minus_quarter, integer_bits));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t k = 0; k < 7; ++k) {
        const int32_t exponent = k - 2;
        if (integer_bits > exponent && (remainder & ((int32_t)1 << (frac_bits + exponent))) != 0) {
            result = tq_sat_rounding_doubling_high_mul(result, factors[k]);
        }
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0; /* below -32 */
    }
    if (a == 0) {
        result = INT32_MAX; /* exactly one */
    }
    return result;
}

/* 1 / (1 + a) for a Q0.31 value a in [0, 1), result in Q0.31 (gemmlowp, Newton-Raphson). */
static inline int32_t tq_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = tq_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t c48_17 = 1515870810;     /* 48/17 in Q2.29 */
    const int32_t c_neg32_17 = -1010580540; /* -32/17 in Q2.29 */
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = c48_17 + tq_sat_rounding_doubling_high_mul(half_denominator, c_neg32_17);
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t hdx = tq_sat_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = one_q2 - hdx;
        x = x + tq_fp_mul_by_pot(tq_sat_rounding_doubling_high_mul(x, one_minus), 2);
    }
    return tq_fp_mul_by_pot(x, 1); /* Q1.30 -> Q0.31 */
}

/* a + b and a - b saturated to int32 (TFLite's SaturatingAddNonGemmlowp, SaturatingSub). */
static inline int32_t tq_fp_sat_add(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return (int32_t)TQ_CLAMP(s, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
}

static inline int32_t tq_fp_sat_sub(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a - (int64_t)b;
    return (int32_t)TQ_CLAMP(s, (int64_t)INT32_MIN, (int64_t)INT32_MAX);
}

/*
 * log(x) for x >= 1 held as FixedPoint<int32, input_bits> (raw x), result as FixedPoint<int32,
 * output_bits> (TFLite's log_x_for_x_greater_than_or_equal_to_1_impl: x = 2^k * r with r normalised
 * around sqrt(1/2), log(r) by a rational approximation, accumulated with one extra integer bit).
 * input_bits and output_bits in 1..30.
 */
static inline int32_t tq_fp_log_x_ge_1(int32_t x, int32_t input_bits, int32_t output_bits)
{
    const int32_t accum_bits = output_bits + 1;
    const int32_t log_2 = 1488522236;          /* log(2) in Q0.31 */
    const int32_t sqrt_sqrt_half = 1805811301; /* 2^-1/4 */
    const int32_t sqrt_half = 1518500250;      /* 2^-1/2 */
    const int32_t one_quarter = 536870912;
    const int32_t alpha_n = 117049297;
    const int32_t alpha_d = 127690142;
    const int32_t alpha_i = 1057819769;
    const int32_t alpha_f = 638450708;
    const int32_t shifted_quarter = tq_rounding_divide_by_pot(one_quarter, accum_bits);

    /* x as Q0.31 normalised two ways (r_a: x * 2^(headroom), times sqrt(1/2), doubled; r_b: x scaled
     * so that x * sqrt(1/2) has no headroom); the exponents take -3/4 and -1/4 with them. */
    const int32_t a_headroom_plus_1 = tq_clz32((uint32_t)x);
    const int32_t r_a_tmp = tq_fp_mul_by_pot(x, a_headroom_plus_1 - 1);
    const int32_t r_a = tq_fp_mul_by_pot(tq_sat_rounding_doubling_high_mul(r_a_tmp, sqrt_half), 1);
    const int32_t a_pow2_adj =
        tq_fp_sat_add(tq_fp_mul_by_pot(input_bits - a_headroom_plus_1, 31 - accum_bits), shifted_quarter);
    const int32_t z_b = tq_sat_rounding_doubling_high_mul(x, sqrt_half);
    const int32_t b_headroom = tq_clz32((uint32_t)z_b) - 1;
    const int32_t r_b = tq_fp_mul_by_pot(x, b_headroom);
    const int32_t b_pow2_adj =
        tq_fp_sat_sub(tq_fp_mul_by_pot(input_bits - b_headroom, 31 - accum_bits), shifted_quarter);
    const int32_t r = TQ_MIN(r_a, r_b);
    const int32_t pow2_adj = TQ_MAX(a_pow2_adj, b_pow2_adj);

    /* log(r) ~ num / (1 + denom_minus_one), in q = 2 (r - 2^-1/4) and p = (r + 2^-1/4) / 2. */
    const int32_t p = tq_fp_rounding_half_sum(r, sqrt_sqrt_half);
    const int32_t q = (int32_t)(2u * ((uint32_t)r - (uint32_t)sqrt_sqrt_half));
    const int32_t q2 = tq_sat_rounding_doubling_high_mul(q, q);
    const int32_t num = tq_sat_rounding_doubling_high_mul(q, r) +
                        tq_sat_rounding_doubling_high_mul(tq_sat_rounding_doubling_high_mul(q, q2), alpha_n);
    const int32_t denom_minus_one =
        tq_sat_rounding_doubling_high_mul(p, alpha_i + q + tq_sat_rounding_doubling_high_mul(alpha_d, q2)) +
        tq_sat_rounding_doubling_high_mul(alpha_f, q);
    const int32_t recip_denom = tq_fp_one_over_one_plus_x(denom_minus_one);
    const int32_t num_scaled = tq_rounding_divide_by_pot(num, accum_bits);
    const int32_t sum = tq_sat_rounding_doubling_high_mul(pow2_adj, log_2) +
                        tq_sat_rounding_doubling_high_mul(num_scaled, recip_denom);
    return tq_fp_mul_by_pot(sum, accum_bits - output_bits);
}

#endif /* TQ_ACTIVATION_H */
