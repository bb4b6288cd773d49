/*
 * tinyq float32 kernels: the ops of an unquantized model, for cores with an FPU (M4F, M7, M33, M55).
 *
 * Reference kernels: plain C99 loops in the order TFLite's reference float kernels sum
 * (reference_ops::Conv, DepthwiseConv, FullyConnected, AveragePool, Mean, Softmax): the product
 * terms first, the bias last, then the fused activation's clamp (ActivationFunctionWithMinMax).
 * Build them with -ffp-contract=off (tinyq does) so that no multiply-add is fused: every result is
 * then the interpreter's own, up to the C library's expf / tanhf (SOFTMAX, LOGISTIC, TANH), which
 * differ from glibc's by an ulp or so. tinyq verify compares float outputs within a tolerance.
 *
 * Every parameter is computed and validated at generation time (tinyq/ops/float32.py). A fused
 * activation is its clamp range: NONE is [-FLT_MAX, FLT_MAX], RELU [0, FLT_MAX], RELU6 [0, 6],
 * RELU_N1_TO_1 [-1, 1], as TFLite's CalculateActivationRange gives them.
 */
#ifndef TQ_FLOAT_H
#define TQ_FLOAT_H

#include <float.h>
#include <math.h>

#include "tq_common.h"
#include "tq_elementwise.h"
#include "tq_shape.h"

/* min(max(x, lo), hi): TFLite's ActivationFunctionWithMinMax. */
static inline float tq_clamp_f32(float x, float lo, float hi)
{
    const float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

/* ------------------------------------------------------------------ convolutions */

/**
 * CONV_2D: out[n][y][x][o] = clamp(sum over (ky, kx, i) of in * w + bias[o]), the sum in TFLite's
 * reference order (filter rows, columns, input channels), taps outside the image skipped.
 * weights: [out_c][kh][kw][filter_in_c]; groups = in.c / filter_in_c (output channel o reads the
 * input channels of group o / (out_c / groups)). bias: out_c values or NULL.
 */
typedef struct {
    tq_dims in, out;
    int32_t kh, kw;
    int32_t filter_in_c, groups;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w; /**< padding before (top, left); the rest falls off the bounds */
    float act_min, act_max;
    const float *weights;
    const float *bias;
} tq_conv_f32_params;

tq_status tq_conv_f32(const tq_conv_f32_params *p, const float *in, float *out);

/**
 * DEPTHWISE_CONV_2D: output channel o = i * depth_mult + m reads input channel i.
 * weights: [kh][kw][out_c]; bias: out_c values or NULL.
 */
typedef struct {
    tq_dims in, out;
    int32_t kh, kw;
    int32_t depth_mult;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    float act_min, act_max;
    const float *weights;
    const float *bias;
} tq_depthwise_conv_f32_params;

tq_status tq_depthwise_conv_f32(const tq_depthwise_conv_f32_params *p, const float *in, float *out);

/** FULLY_CONNECTED: out[b][o] = clamp(sum over d of in[b][d] * w[o][d] + bias[o]). */
typedef struct {
    int32_t batches, accum_depth, out_depth;
    float act_min, act_max;
    const float *weights; /**< [out_depth][accum_depth] */
    const float *bias;    /**< out_depth values or NULL */
} tq_fully_connected_f32_params;

tq_status tq_fully_connected_f32(const tq_fully_connected_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ element-wise */
/* (tinyq/ops/elementwise.py; operand layout and walk: tq_bcast_s8, tq_bcast_iter in tq_elementwise.h) */

/** ADD, SUB and MUL: clamp(in1 op in2), the fused activation's clamp (NONE clamps to +-FLT_MAX, as
 *  TFLite's does). `out` may be an input when shape.broadcast == 0. */
typedef struct {
    tq_bcast_s8 shape;
    float act_min, act_max;
} tq_binary_f32_params;

typedef tq_binary_f32_params tq_add_f32_params;
typedef tq_binary_f32_params tq_sub_f32_params;
typedef tq_binary_f32_params tq_mul_f32_params;

tq_status tq_add_f32(const tq_add_f32_params *p, const float *in1, const float *in2, float *out);
tq_status tq_sub_f32(const tq_sub_f32_params *p, const float *in1, const float *in2, float *out);
tq_status tq_mul_f32(const tq_mul_f32_params *p, const float *in1, const float *in2, float *out);

/** MAXIMUM (in1 > in2 ? in1 : in2), MINIMUM (in1 < in2 ? in1 : in2) and SQUARED_DIFFERENCE
 *  ((in1 - in2)^2): no fused activation, no clamp. */
typedef tq_binary_params tq_maximum_f32_params;
typedef tq_binary_params tq_minimum_f32_params;
typedef tq_binary_params tq_squared_difference_f32_params;

tq_status tq_maximum_f32(const tq_maximum_f32_params *p, const float *in1, const float *in2, float *out);
tq_status tq_minimum_f32(const tq_minimum_f32_params *p, const float *in1, const float *in2, float *out);
tq_status tq_squared_difference_f32(const tq_squared_difference_f32_params *p, const float *in1, const float *in2,
                                    float *out);

/** DIV: clamp(in1 / in2), the fields of tq_binary_f32_params; x / 0 is an infinity (0 / 0 a NaN) before
 *  the clamp, as in TFLite's reference_ops::Div. */
typedef tq_binary_f32_params tq_div_f32_params;

tq_status tq_div_f32(const tq_div_f32_params *p, const float *in1, const float *in2, float *out);

/** The comparisons (`op`: TQ_CMP_* in tq_elementwise.h) of the stored values, a bool (0 or 1) per element. */
typedef tq_compare_params tq_compare_f32_params;

tq_status tq_compare_f32(const tq_compare_f32_params *p, const float *in1, const float *in2, uint8_t *out);

/** ADD_N: the n inputs (`size` elements each) summed from 0.0f in input order (tq_add_n_params). */
typedef tq_add_n_params tq_add_n_f32_params;

tq_status tq_add_n_f32(const tq_add_n_f32_params *p, const float *const in[], float *out);

/* ------------------------------------------------------------------ pooling, MEAN */

/** AVERAGE_POOL_2D (the mean of the window's valid elements) and MAX_POOL_2D. */
typedef struct {
    tq_dims in, out;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    float act_min, act_max;
} tq_pool_f32_params;

/* Both pools: each output the mean (TFLite's order: window rows, then columns) or the maximum of the
 * window's elements inside the input, clamped. */
static inline void tq_pool_f32(const tq_pool_f32_params *p, const float *in, float *out, int take_max)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    for (int32_t b = 0; b < p->out.n; ++b) {
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                for (int32_t c = 0; c < ch; ++c) {
                    float acc = take_max ? -FLT_MAX : 0.0f;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const float v = in[(((ptrdiff_t)b * ih + y0 + fy) * iw + x0 + fx) * ch + c];
                            acc = take_max ? (acc < v ? v : acc) : acc + v;
                        }
                    }
                    if (!take_max) {
                        acc = acc / (float)((fy1 - fy0) * (fx1 - fx0));
                    }
                    *out++ = tq_clamp_f32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

typedef tq_pool_f32_params tq_avgpool_f32_params;
typedef tq_pool_f32_params tq_maxpool_f32_params;

tq_status tq_avgpool_f32(const tq_avgpool_f32_params *p, const float *in, float *out);
tq_status tq_maxpool_f32(const tq_maxpool_f32_params *p, const float *in, float *out);

/**
 * MEAN over constant axes, seen as windows: the input (padded to NHWC) reduces by blocks of
 * `win` (win = in / out per axis); each output is the row-major sum of its block divided by the
 * block's element count.
 */
typedef struct {
    tq_dims in, out, win;
} tq_mean_f32_params;

tq_status tq_mean_f32(const tq_mean_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ activations (`out` may be `in`) */

/** RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1: min(max(x, lo), hi) (RELU: hi = +inf). */
typedef struct {
    int32_t size;
    float lo, hi;
} tq_relu_f32_params;

tq_status tq_relu_f32(const tq_relu_f32_params *p, const float *in, float *out);

/** LEAKY_RELU: x > 0 ? x : x * alpha. */
typedef struct {
    int32_t size;
    float alpha;
} tq_leaky_relu_f32_params;

tq_status tq_leaky_relu_f32(const tq_leaky_relu_f32_params *p, const float *in, float *out);

/** Element count of the one-input activations without parameters. */
typedef struct {
    int32_t size;
} tq_unary_f32_params;

typedef tq_unary_f32_params tq_hard_swish_f32_params;
typedef tq_unary_f32_params tq_logistic_f32_params;
typedef tq_unary_f32_params tq_tanh_f32_params;

/** HARD_SWISH: x * min(6, max(0, x + 3)) / 6. */
tq_status tq_hard_swish_f32(const tq_hard_swish_f32_params *p, const float *in, float *out);
/** LOGISTIC: 1 / (1 + expf(-x)), with TFLite's reference cut-offs (1 above 16.619..., expf(x) below -9). */
tq_status tq_logistic_f32(const tq_logistic_f32_params *p, const float *in, float *out);
/** TANH: tanhf(x). */
tq_status tq_tanh_f32(const tq_tanh_f32_params *p, const float *in, float *out);

/** SOFTMAX over the last axis: expf((x - max) * beta) / the row's sum. */
typedef struct {
    int32_t rows, depth;
    float beta;
} tq_softmax_f32_params;

tq_status tq_softmax_f32(const tq_softmax_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ data movement */

/** CONCATENATION: as tq_concat_s8_params (tq_shape.h), chunks counted in floats. */
typedef tq_concat_s8_params tq_concat_f32_params;

/*
 * TRANSPOSE and the RESHAPE copy move floats as they move bytes: tq_shape.h's byte kernels run
 * with every count in bytes (4 a float; a transpose gets an innermost axis of the float's 4 bytes,
 * which stays in place).
 */
typedef tq_transpose_s8_params tq_transpose_f32_params;
typedef tq_copy_s8_params tq_copy_f32_params;

tq_status tq_concat_f32(const tq_concat_f32_params *p, const float *const in[], float *out);
tq_status tq_transpose_f32(const tq_transpose_f32_params *p, const float *in, float *out);
tq_status tq_copy_f32(const tq_copy_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ activations and reductions
 * (tinyq/ops/activation.py, tinyq/ops/pool.py: ELU, ABS, NEG, PRELU, SUM, REDUCE_MAX, REDUCE_MIN) */

typedef tq_unary_f32_params tq_elu_f32_params;
typedef tq_unary_f32_params tq_abs_f32_params;
typedef tq_unary_f32_params tq_neg_f32_params;

/** ELU: x < 0 ? expm1f(x) : x (reference_ops::Elu). `out` may be `in`. */
tq_status tq_elu_f32(const tq_elu_f32_params *p, const float *in, float *out);
/** ABS: fabsf(x). `out` may be `in`. */
tq_status tq_abs_f32(const tq_abs_f32_params *p, const float *in, float *out);
/** NEG: -x. `out` may be `in`. */
tq_status tq_neg_f32(const tq_neg_f32_params *p, const float *in, float *out);

/**
 * PRELU: x >= 0 ? x : x * alpha, alpha a constant broadcast to the input's shape: the alpha of input
 * (n, h, w, c) (`shape` padded to NHWC) is alpha[n * alpha_stride.n + ... + c * alpha_stride.c].
 * `out` may be `in`.
 */
typedef struct {
    tq_dims shape;
    tq_dims alpha_stride;
    const float *alpha;
} tq_prelu_f32_params;

tq_status tq_prelu_f32(const tq_prelu_f32_params *p, const float *in, float *out);

/**
 * SUM, REDUCE_MAX, REDUCE_MIN over constant axes (reference_ops::ReduceGeneric): blocks as in
 * tq_mean_f32, op a tq_reduce_op (tq_pool.h). Each output starts from TFLite's initial value (0,
 * -FLT_MAX, FLT_MAX) and takes its block's elements in row-major order; when every axis is reduced
 * (from_first), it starts from the first element instead, as TFLite's ReduceAllDims does (which
 * differs only for -0.0, infinities and NaN).
 */
typedef struct {
    tq_dims in, out, win;
    int32_t op;
    int32_t from_first;
} tq_reduce_f32_params;

tq_status tq_reduce_f32(const tq_reduce_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ TRANSPOSE_CONV (tinyq/ops/conv.py) */

/**
 * TRANSPOSE_CONV (reference_ops::TransposeConv): `out` is zeroed, then each input value scatters
 * in * w into the outputs its taps reach (outputs outside skipped), so each output sums its terms in
 * the reference's order (input rows, columns, channels); then bias[o] is added and the clamp applied.
 * Layouts, padding and output_shape as tq_transpose_conv_s8 (tq_conv.h): weights [out_c][kh][kw][in_c].
 * `out` must not overlap `in`.
 */
typedef struct {
    tq_dims in, out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    float act_min, act_max;
    const float *weights;
    const float *bias; /**< out_c values or NULL */
} tq_transpose_conv_f32_params;

tq_status tq_transpose_conv_f32(const tq_transpose_conv_f32_params *p, const float *in, const int32_t *output_shape,
                                float *out);

/* ------------------------------------------------------------------ end of TRANSPOSE_CONV */

/* ------------------------------------------------------------------ ARG_MAX / ARG_MIN, L2_NORMALIZATION
 * (tinyq/ops/pool.py), BATCH_MATMUL (tinyq/ops/conv.py) */

/**
 * ARG_MAX / ARG_MIN along one axis (reference_ops::ArgMinMax with std::greater / std::less): the input
 * as [outer][axis_size][inner], output [outer][inner] the index of the first largest (smallest) value.
 * The first element starts as the best and only x > best (x < best) replaces it, so a NaN never does
 * and a leading NaN stays, as in TFLite. Indices as int32 (index64 0) or int64 (index64 1).
 */
typedef struct {
    int32_t outer;
    int32_t axis_size;
    int32_t inner;
    int32_t is_max;  /**< 1: ARG_MAX, 0: ARG_MIN */
    int32_t index64; /**< 1: int64 output, 0: int32 output */
} tq_arg_minmax_f32_params;

tq_status tq_arg_minmax_f32(const tq_arg_minmax_f32_params *p, const float *in, void *out);

/**
 * L2_NORMALIZATION over the last axis (reference_ops::L2Normalization): per vector, s = sum x * x in
 * order, n = sqrtf(s), n = n < epsilon ? epsilon : n (std::max), out = x / n. epsilon is TFLite's 1e-6f.
 */
typedef struct {
    int32_t outer;
    int32_t depth;
    float epsilon;
} tq_l2_norm_f32_params;

tq_status tq_l2_norm_f32(const tq_l2_norm_f32_params *p, const float *in, float *out);

/**
 * BATCH_MATMUL (reference_ops::BatchMatMul): for each batch (b0, b1, b2) of the output,
 * out[b][m][n] = sum over k = 0 .. depth - 1, in order, of lhs(b, m, k) * rhs(b, k, n), no bias, no
 * clamp. Geometry as tq_batch_matmul_s8 (tq_conv.h): operands are read in place through strides, so
 * adj_x / adj_y need no transposed copy (the reference's copy holds the same values, summed in the
 * same order).
 */
typedef struct {
    int32_t batch[3];            /**< output batch dims (shapes padded on the left to rank 5) */
    int32_t lhs_batch_stride[3]; /**< LHS elements from one matrix to the next per batch dim; 0: broadcast */
    int32_t rhs_batch_stride[3];
    int32_t rows, cols, depth;   /**< M, N, K */
    int32_t lhs_row_stride, lhs_depth_stride;  /**< LHS (m, k) at m * row + k * depth stride */
    int32_t rhs_depth_stride, rhs_col_stride;  /**< RHS (k, n) at k * depth + n * col stride */
} tq_batch_matmul_f32_params;

tq_status tq_batch_matmul_f32(const tq_batch_matmul_f32_params *p, const float *lhs, const float *rhs, float *out);

/* ------------------------------------------------------------------ end of ARG_MAX / ARG_MIN, L2_NORMALIZATION,
 * BATCH_MATMUL */

/* ------------------------------------------------------------------ unary math
 * (tinyq/ops/activation.py: EXP, LOG, SQRT, RSQRT, SQUARE, GELU, LOG_SOFTMAX; `out` may be `in`) */

typedef tq_unary_f32_params tq_exp_f32_params;
typedef tq_unary_f32_params tq_log_f32_params;
typedef tq_unary_f32_params tq_sqrt_f32_params;
typedef tq_unary_f32_params tq_rsqrt_f32_params;
typedef tq_unary_f32_params tq_square_f32_params;

/** EXP: expf(x) (reference_ops::Exp). */
tq_status tq_exp_f32(const tq_exp_f32_params *p, const float *in, float *out);
/** LOG: logf(x). */
tq_status tq_log_f32(const tq_log_f32_params *p, const float *in, float *out);
/** SQRT: sqrtf(x). */
tq_status tq_sqrt_f32(const tq_sqrt_f32_params *p, const float *in, float *out);
/** RSQRT: 1.0f / sqrtf(x). */
tq_status tq_rsqrt_f32(const tq_rsqrt_f32_params *p, const float *in, float *out);
/** SQUARE: x * x. */
tq_status tq_square_f32(const tq_square_f32_params *p, const float *in, float *out);

/**
 * GELU (reference_ops::Gelu): approximate ? 0.5 x (1 + tanhf(sqrt(2 / pi) (x + 0.044715 x^3)))
 * : 0.5 x erfcf(-x / sqrt(2)). TFLite evaluates these with Eigen's own tanh and erfc, which differ
 * from the C library's by a few ulps (within FLOAT_TOLERANCE).
 */
typedef struct {
    int32_t size;
    int32_t approximate; /**< 1: the tanh form */
} tq_gelu_f32_params;

tq_status tq_gelu_f32(const tq_gelu_f32_params *p, const float *in, float *out);

/** LOG_SOFTMAX over the last axis (reference_ops::LogSoftmax): x - max - logf(sum of expf(x - max)). */
typedef struct {
    int32_t rows, depth;
} tq_log_softmax_f32_params;

tq_status tq_log_softmax_f32(const tq_log_softmax_f32_params *p, const float *in, float *out);

/* ------------------------------------------------------------------ end of unary math */

#endif /* TQ_FLOAT_H */
