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

/** ADD, int16, with broadcasting: the fields of tq_add_s8_params (left_shift 15, offsets 0). */
typedef tq_add_s8_params tq_add_s16_params;

tq_status tq_add_s16(const tq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

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

#endif /* TQ_INT16_H */
