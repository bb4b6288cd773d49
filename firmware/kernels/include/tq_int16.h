/*
 * tinyq int16x8 kernels: 16-bit activations, 8-bit weights (TFLite's
 * EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 models).
 *
 * Reference kernels: portable C99, bit-exact with the kernels TFLite's BUILTIN_REF resolver runs
 * for int16 tensors. Activations are symmetric (zero point 0, required by TFLite's Prepare and
 * checked at generation time by tinyq/ops/int16.py), so no kernel has an input or output offset.
 *
 *     CONV_2D, DEPTHWISE_CONV_2D (reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel
 *     for int16 input, int64 bias):
 *         acc = sum w * x (int64, taps outside the image skipped) + bias[c]
 *         out = clamp(tq_mul_by_quantized_mult_s64(acc, mult[c], shift[c]), act_min, act_max)
 *     FULLY_CONNECTED (reference FullyConnected / FullyConnectedPerChannel with float scales):
 *         acc as above (per-tensor weights keep their zero point: w + w_offset)
 *         out = clamp(round_half_away((double)acc * scale[c]), act_min, act_max)
 *     ADD (the general-scale int16 path: add.cc with pot_scale_int16 false): tq_add_s8's
 *         arithmetic with left_shift 15 on int16 values.
 *     AVERAGE_POOL_2D / MAX_POOL_2D: as the int8 kernels, on int16 values.
 *     SOFTMAX (reference_ops::SoftmaxInt16): two 513-entry int16 tables (exp on [-10, 0],
 *         1 / (1 + x) on [0, 1]) made at generation time, linear interpolation between entries.
 *     LOGISTIC / TANH (reference_integer_ops::Logistic / Tanh for int16): the input rescaled in
 *         int32, then TFLite's 256-entry sigmoid table (made at generation time) interpolated.
 *
 * Every parameter is computed and validated at generation time; the kernels check nothing.
 */
#ifndef TQ_INT16_H
#define TQ_INT16_H

#include "tq_common.h"
#include "tq_elementwise.h"
#include "tq_pool.h"

/*
 * TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t mult, int shift): the multiplier
 * rounded to 16 bits, then one rounding shift of x * mult16 by 15 - shift (shift in [-31, 7],
 * |x| < 2^47). The int32 conversion of the shifted value keeps the low 32 bits, as TFLite's does.
 */
static inline int32_t tq_mul_by_quantized_mult_s64(int64_t x, int32_t mult, int32_t shift)
{
    const int32_t reduced = mult < 0x7FFF0000 ? (mult + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const int64_t r = x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(uint32_t)(uint64_t)(r >> total_shift);
}

/**
 * CONV_2D, int16 activations, int8 weights per output channel (symmetric).
 * Layouts and padding as tq_conv_s8 (NHWC input/output, OHWI weights, groups =
 * in.c / filter_in_c); act_min/act_max within int16; shift[c] in [-31, 7].
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t filter_in_c;
    int32_t groups;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [out.c][kh][kw][filter_in_c] */
    const int64_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_conv_s16_params;

tq_status tq_conv_s16(const tq_conv_s16_params *p, const int16_t *input, int16_t *output);

/**
 * DEPTHWISE_CONV_2D, int16 activations, int8 weights [1][kh][kw][out.c] per output channel;
 * output channel ic * depth_mult + m reads input channel ic. Ranges as tq_conv_s16.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t depth_mult;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [kh][kw][out.c] */
    const int64_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_depthwise_conv_s16_params;

tq_status tq_depthwise_conv_s16(const tq_depthwise_conv_s16_params *p, const int16_t *input, int16_t *output);

/**
 * FULLY_CONNECTED, int16 activations, int8 weights [out_depth][accum_depth]; input
 * [batches][accum_depth], output [batches][out_depth]. scale[c] = (double)input_scale *
 * (double)filter_scale[c] / (double)output_scale; w_offset = -weights zero point (per-tensor
 * weights) or 0.
 */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t w_offset;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int64_t *bias;     /* [out_depth], or NULL */
    const double *scale;     /* [out_depth] */
} tq_fully_connected_s16_params;

tq_status tq_fully_connected_s16(const tq_fully_connected_s16_params *p, const int16_t *input, int16_t *output);

/* ---- element-wise family (tinyq/ops/elementwise.py). The int8 kernels' parameter structs and
 * broadcast walk (tq_elementwise.h) on int16 values; every offset is 0 (symmetric int16). ---- */

/**
 * ADD and SUB, int16, general scales (add.cc / sub.cc with pot_scale_int16 false, or sub.cc's
 * power-of-two flag on scales that are not all powers of two): the fields of tq_add_s8_params,
 * left_shift 15, the rescaled inputs added or subtracted.
 */
typedef tq_add_s8_params tq_add_s16_params;
typedef tq_add_s8_params tq_sub_s16_params;

tq_status tq_add_s16(const tq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
tq_status tq_sub_s16(const tq_sub_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

/** MUL, int16 (reference_integer_ops::Mul on int16): the fields of tq_mul_s8_params. */
typedef tq_mul_s8_params tq_mul_s16_params;

tq_status tq_mul_s16(const tq_mul_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

/** MAXIMUM, MINIMUM, int16: the stored values compared, as tq_maximum_s8 / tq_minimum_s8. */
typedef tq_binary_params tq_maximum_s16_params;
typedef tq_binary_params tq_minimum_s16_params;

tq_status tq_maximum_s16(const tq_maximum_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
tq_status tq_minimum_s16(const tq_minimum_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

/** The comparisons, int16: the fields of tq_compare_s8_params. EQUAL and NOT_EQUAL rescale both
 *  inputs (rescale 1, left_shift 8, as int8's); LESS, LESS_EQUAL, GREATER and GREATER_EQUAL compare
 *  the stored values (rescale 0), as comparisons.cc does for int16. A bool (0 or 1) per element. */
typedef tq_compare_s8_params tq_compare_s16_params;

tq_status tq_compare_s16(const tq_compare_s16_params *p, const int16_t *in1, const int16_t *in2, uint8_t *out);

/* ---- end of the element-wise family ---- */

/** AVERAGE_POOL_2D / MAX_POOL_2D, int16: the fields of tq_pool_s8_params. */
typedef tq_pool_s8_params tq_avgpool_s16_params;
typedef tq_pool_s8_params tq_maxpool_s16_params;

tq_status tq_avgpool_s16(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out);
tq_status tq_maxpool_s16(const tq_maxpool_s16_params *p, const int16_t *in, int16_t *out);

/**
 * SOFTMAX over the last axis, int16 in, int16 out (scale 1/32768, zero point 0):
 * reference_ops::SoftmaxInt16. diff = x - row max is scaled by tq_mul_by_quantized_mult(diff,
 * input_multiplier, input_left_shift) so that [-65535, 0] spans [-10, 0], looked up in exp_lut,
 * summed; the sum's reciprocal comes from one_over_lut (1 / (1 + x) on [0, 1]). Both tables have
 * 513 entries (TFLite's LUTPopulate<int16_t>, computed at generation time). depth <= 65536.
 */
typedef struct {
    int32_t rows;
    int32_t depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    const int16_t *exp_lut;      /* [513] */
    const int16_t *one_over_lut; /* [513] */
} tq_softmax_s16_params;

tq_status tq_softmax_s16(const tq_softmax_s16_params *p, const int16_t *input, int16_t *output);

/*
 * TFLite's 513-entry int16 table lookup: entry 256 + (v >> 7), linear interpolation by the
 * low 7 bits (Q0.7), rounded.
 */
static inline int16_t tq_lut_s16_lookup(int16_t v, const int16_t *lut)
{
    const int32_t i = 256 + (v >> 7);
    const int32_t frac = v & 0x7F;
    const int16_t slope = (int16_t)(lut[i + 1] - lut[i]);
    return (int16_t)(lut[i] + (((int32_t)slope * frac + 64) >> 7));
}

/**
 * LOGISTIC and TANH, int16 in, int16 out (scale 2^-15, zero point 0): reference_integer_ops::Logistic
 * and Tanh for int16. v = tq_sigmoid_input_s16(x, input_multiplier, input_shift) is x in units of
 * 1 / (3 * 4096); |v| indexes table, sigmoid(i / 24) in Q0.16 (TFLite's sigmoid_table_uint16,
 * generated by tinyq/ops/int16.py): LOGISTIC at entry |v| >> 9 interpolated by the low 9 bits, TANH
 * (= 2 sigmoid(2x) - 1) at entry |v| >> 8 by the low 8 bits; from entry 255 on the result
 * saturates, and a negative v takes the mirror image. input_multiplier >= 1, input_shift in [0, 31],
 * and x * input_multiplier + 2^(input_shift - 1) fits int32 for every int16 x (checked at generation).
 */
typedef struct {
    int32_t size;
    int32_t input_multiplier;
    int32_t input_shift;
    const uint16_t *table;   /* [256], non-decreasing */
} tq_logistic_s16_params;
typedef tq_logistic_s16_params tq_tanh_s16_params;

tq_status tq_logistic_s16(const tq_logistic_s16_params *p, const int16_t *input, int16_t *output);
tq_status tq_tanh_s16(const tq_tanh_s16_params *p, const int16_t *input, int16_t *output);

/* The input rescaling of the int16 LOGISTIC / TANH: (x * mult + round) >> shift, round half up. */
static inline int32_t tq_sigmoid_input_s16(int16_t x, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    return ((int32_t)x * mult + round) >> shift;
}

/*
 * The sigmoid table at a = |v| with `bits` fractional bits, in Q0.(16 + bits): entry a >> bits plus
 * the low bits times the step to the next entry; `saturated` from entry 255 on.
 */
static inline uint32_t tq_sigmoid_interp(uint32_t a, uint32_t bits, uint32_t saturated, const uint16_t *table)
{
    const uint32_t i = a >> bits;
    if (i >= 255u) {
        return saturated;
    }
    const uint32_t lo = table[i];
    const uint32_t hi = table[i + 1u];
    return (lo << bits) + (a & ((1u << bits) - 1u)) * (hi - lo);
}

/* |v| without overflow (v > INT32_MIN here). */
static inline uint32_t tq_abs_u32(int32_t v)
{
    return v >= 0 ? (uint32_t)v : 0u - (uint32_t)v;
}

/** RESHAPE / EXPAND_DIMS / SQUEEZE kept as a copy (size in elements); out may equal in. */
typedef struct {
    int32_t size;
} tq_copy_s16_params;

tq_status tq_copy_s16(const tq_copy_s16_params *p, const int16_t *in, int16_t *out);

/* ---- shape family (tinyq/ops/shape.py). STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, UNPACK, PAD and
 * TRANSPOSE on int16 run tq_shape.h's kernels for any element size; only the kernel below takes
 * typed pointers (an array of them). ---- */

/**
 * CONCATENATION and PACK, int16: as tq_concat_s8 (tq_shape.h), chunks counted in int16 values.
 * TFLite requires zero point 0 of every input and the output but copies values without
 * rescaling, whatever their scales (concatenation.cc).
 */
typedef struct {
    int32_t num_inputs;
    int32_t outer;
    const int32_t *chunk; /**< num_inputs element counts, each >= 0 */
} tq_concat_s16_params;

tq_status tq_concat_s16(const tq_concat_s16_params *p, const int16_t *const in[], int16_t *out);

/* ------------------------------------------------------------------ activations and reductions
 * (tinyq/ops/activation.py, tinyq/ops/pool.py: LEAKY_RELU, ABS, NEG, MEAN, REDUCE_MAX, REDUCE_MIN) */

/**
 * LEAKY_RELU, int16 (reference_ops::QuantizeLeakyRelu<int16_t>): tq_leaky_relu_s8's arithmetic
 * (zero points 0), clamped to int16. Shifts are checked at generation time so that no int16 input
 * overflows int32 before the high multiply.
 */
typedef struct {
    int32_t size;
    int32_t mult_identity, shift_identity;
    int32_t mult_alpha, shift_alpha; /**< |in_scale * alpha / out_scale|, multiplier >= 0 */
    int32_t alpha_negative;          /**< 1: alpha < 0, the product negated after rounding */
} tq_leaky_relu_s16_params;

tq_status tq_leaky_relu_s16(const tq_leaky_relu_s16_params *p, const int16_t *in, int16_t *out);

/**
 * ABS, int16 (elementwise.cc AbsEvalQuantized<int16_t>): clamp(tq_mul_by_quantized_mult(|in|,
 * mult, shift)) to int16; (1 << 30, 1), the exact identity, when the scales are equal.
 */
typedef struct {
    int32_t size;
    int32_t mult, shift;
} tq_abs_s16_params;

tq_status tq_abs_s16(const tq_abs_s16_params *p, const int16_t *in, int16_t *out);

/** NEG, int16 (reference_ops::Negate): -in on the raw values; -(-32768) wraps to -32768. */
typedef struct {
    int32_t size;
} tq_neg_s16_params;

tq_status tq_neg_s16(const tq_neg_s16_params *p, const int16_t *in, int16_t *out);

/**
 * MEAN, int16: tq_mean_s8's arithmetic (reference_ops::QuantizedMeanOrSum, int32 sum) on int16
 * values, clamped to int16 (sum_offset and out_zp are 0: int16 activations are symmetric).
 */
typedef tq_mean_s8_params tq_mean_s16_params;

tq_status tq_mean_s16(const tq_mean_s16_params *p, const int16_t *in, int16_t *out);

/** REDUCE_MAX / REDUCE_MIN, int16: tq_reduce_s8 on int16 values. */
typedef tq_reduce_s8_params tq_reduce_s16_params;

tq_status tq_reduce_s16(const tq_reduce_s16_params *p, const int16_t *in, int16_t *out);

/* ---- TRANSPOSE_CONV (tinyq/ops/conv.py) ---- */

/**
 * TRANSPOSE_CONV, int16 activations, int8 weights per output channel (symmetric): the int64 form of
 * reference_integer_ops::TransposeConv (TFLite's default int64 bias). Each product in * w (int32)
 * scatters into `scratch` as in tq_transpose_conv_s8 (no input offset), summed in int64; then
 *     out = clamp(tq_mul_by_quantized_mult_s64(scratch + bias[oc], mult[oc], shift[oc]), act_min, act_max)
 * Layouts, padding and output_shape as tq_transpose_conv_s8; scratch: out.n * out.h * out.w * out.c int64 values,
 * overwritten. shift[c] in [-31, 7]; the generator checks |scratch + bias| < 2^47.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [out.c][kh][kw][in.c] */
    const int64_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_transpose_conv_s16_params;

tq_status tq_transpose_conv_s16(const tq_transpose_conv_s16_params *p, const int16_t *input, const int32_t *output_shape,
                                int16_t *output, int64_t *scratch);

/* ---- end of TRANSPOSE_CONV ---- */

/* ---- BATCH_MATMUL (tinyq/ops/conv.py) ---- */

/**
 * BATCH_MATMUL, int16 (reference_ops::BatchMatMul<int16_t, int64_t>): tq_batch_matmul_s8's geometry
 * (tq_conv.h) on int16 operands, every zero point 0 (TFLite's Prepare requires it):
 *     acc = sum over k of lhs(b, m, k) * rhs(b, k, n)                                     int64
 *     out = clamp(tq_mul_by_quantized_mult_s64(acc, mult, shift), -32768, 32767)
 * shift in [-31, 7]; depth * 2^30 < 2^47 (checked at generation time).
 */
typedef struct {
    int32_t batch[3];            /**< output batch dims */
    int32_t lhs_batch_stride[3]; /**< LHS elements from one matrix to the next per batch dim; 0: broadcast */
    int32_t rhs_batch_stride[3];
    int32_t rows, cols, depth;   /**< M, N, K */
    int32_t lhs_row_stride, lhs_depth_stride;
    int32_t rhs_depth_stride, rhs_col_stride;
    int32_t mult, shift;
} tq_batch_matmul_s16_params;

tq_status tq_batch_matmul_s16(const tq_batch_matmul_s16_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out);

/* ---- end of BATCH_MATMUL ---- */

/* ---- unary math (tinyq/ops/activation.py: EXP, LOG, RSQRT, GELU, SQRT on int16) ---- */

/**
 * EXP, LOG, RSQRT and GELU, int16: TFLite's table lookup with interpolation (LUTLookup):
 * out = tq_lut_s16_lookup(in, table), table the 513 entries LUTPopulate<int16_t> makes in Prepare
 * (computed at generation time). `out` may be `in`.
 */
typedef struct {
    int32_t size;
    const int16_t *table; /* [513] */
} tq_lut_s16_params;

tq_status tq_lut_s16(const tq_lut_s16_params *p, const int16_t *in, int16_t *out);

/**
 * SQRT, int16 (elementwise.cc SqrtEvalQuantized<int16_t>, zero points 0): in float32,
 * out = clamp((int32_t)(sqrtf(in_scale * in) / out_scale)), truncated toward zero. TFLite's Eval fails
 * on a negative input; here it gives 0 (the square root of 0). The generator checks that the quotient
 * fits int32 for every input. `out` may be `in`.
 */
typedef struct {
    int32_t size;
    float in_scale, out_scale;
} tq_sqrt_s16_params;

tq_status tq_sqrt_s16(const tq_sqrt_s16_params *p, const int16_t *in, int16_t *out);

/* ---- end of unary math ---- */

#endif /* TQ_INT16_H */
