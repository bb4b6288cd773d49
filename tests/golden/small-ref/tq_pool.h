/*
 * tinyq pooling and reduction kernels (int8): AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, REDUCE_MAX,
 * REDUCE_MIN.
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_integer_ops::AveragePool / MaxPool, reference_ops::QuantizedMeanOrSum, ReduceGeneric).
 * Every parameter is computed and validated at generation time (tinyq/ops/pool.py).
 */
#ifndef TQ_POOL_H
#define TQ_POOL_H

#include "tq_common.h"

/**
 * 2-D pooling window over an NHWC int8 activation.
 *
 * Output element (b, y, x, c) looks at input rows y * stride_h - pad_h + [0, filter_h) and
 * columns x * stride_w - pad_w + [0, filter_w), clipped to the input (padding is never read).
 * pad_h / pad_w are TFLite's padding (the smaller half for SAME, 0 for VALID).
 * The result is clamped to [act_min, act_max] (fused activation, output units, within int8).
 * Average pooling needs at least one valid element per window (checked at generation time).
 */
typedef struct {
    tq_dims in;  /**< input shape (n, h, w, c) */
    tq_dims out; /**< output shape (n, out_h, out_w, c) */
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    /** 1 where the fast twins take a channel at a time on SIMD32 cores (fewer than four channels, or
        an average window wider than 255 pixels): with tq_config.h, TQ_CFG_POOL_NARROW compiles that
        path in only for a model with such a layer. The reference kernels ignore it. */
    int32_t narrow;
} tq_pool_s8_params;

typedef tq_pool_s8_params tq_avgpool_s8_params;
typedef tq_pool_s8_params tq_maxpool_s8_params;

/**
 * AVERAGE_POOL_2D: the sum of the valid window elements divided by their count, rounded to
 * nearest with ties away from zero (in the input's quantization, which equals the output's).
 */
tq_status tq_avgpool_s8(const tq_avgpool_s8_params *p, const int8_t *in, int8_t *out);
/* tq_avgpool_s8's results, four channels summed at once (in halfwords on cores with SIMD32). */
tq_status tq_avgpool_fast_s8(const tq_avgpool_s8_params *p, const int8_t *in, int8_t *out);

/** MAX_POOL_2D: the largest valid window element, then the activation clamp. */
tq_status tq_maxpool_s8(const tq_maxpool_s8_params *p, const int8_t *in, int8_t *out);
/* tq_maxpool_s8's results, four channels at once (SSUB8 + SEL) on cores with SIMD32. */
tq_status tq_maxpool_fast_s8(const tq_maxpool_s8_params *p, const int8_t *in, int8_t *out);

/**
 * MEAN over any set of axes of a rank <= 4 int8 tensor (shapes padded to NHWC on the left).
 *
 * `out` is the input shape with every reduced axis set to 1 (the keep_dims shape; the element
 * order is the same without keep_dims) and `win` holds the extent of each reduced axis (1 for
 * the others), so input element (n + i, h + j, w + k, c + l) feeds output (n, h, w, c).
 * out = clamp(mul_by_quantized_mult(sum - sum_offset, mult, shift) + out_zp, -128, 127)
 * with sum_offset = input zero point * number of reduced elements; mult/shift fold in
 * in_scale / out_scale and the division by the element count (TFLite's QuantizedMeanOrSum).
 */
typedef struct {
    tq_dims in;  /**< input shape */
    tq_dims out; /**< keep_dims output shape */
    tq_dims win; /**< reduced extent per axis (1 where not reduced) */
    int32_t sum_offset;
    int32_t mult, shift;
    int32_t out_zp;
} tq_mean_s8_params;

tq_status tq_mean_s8(const tq_mean_s8_params *p, const int8_t *in, int8_t *out);

/** What a tq_reduce_* kernel computes over each block (TFLite's ReduceType). */
typedef enum {
    TQ_REDUCE_SUM = 0, /**< float32 only: quantized SUM is refused at generation time */
    TQ_REDUCE_MAX = 1,
    TQ_REDUCE_MIN = 2
} tq_reduce_op;

/**
 * REDUCE_MAX / REDUCE_MIN over any set of axes of a rank <= 4 int8 tensor (reference_ops::
 * ReduceGeneric): blocks as in tq_mean_s8 (`out` the keep_dims shape, `win` the reduced extents),
 * each output the largest (smallest) raw value of its block. TFLite requires the output to share
 * the input's scale and zero point, so no rescaling happens.
 */
typedef struct {
    tq_dims in;  /**< input shape */
    tq_dims out; /**< keep_dims output shape */
    tq_dims win; /**< reduced extent per axis (1 where not reduced) */
    int32_t op;  /**< TQ_REDUCE_MAX or TQ_REDUCE_MIN */
} tq_reduce_s8_params;

tq_status tq_reduce_s8(const tq_reduce_s8_params *p, const int8_t *in, int8_t *out);

/* ---- ARG_MAX / ARG_MIN, L2_NORMALIZATION (tinyq/ops/pool.py) ---- */

/**
 * ARG_MAX / ARG_MIN along one constant axis (arg_min_max.cc, reference_ops::ArgMinMax). The input,
 * seen row-major as [outer][axis_size][inner], gives output [outer][inner]: the index along the axis
 * of the largest (is_max) or smallest raw value. The first element starts as the best and only a
 * strictly greater (smaller) one replaces it, so ties give the first index. The raw int8 values are
 * compared: the input's scale is positive, so their order is that of the real values. Indices are
 * written as the output tensor's type: int32 (index64 0) or int64 (index64 1); `out` points at it.
 * axis_size >= 1.
 */
typedef struct {
    int32_t outer;
    int32_t axis_size;
    int32_t inner;
    int32_t is_max;  /**< 1: ARG_MAX, 0: ARG_MIN */
    int32_t index64; /**< 1: int64 output, 0: int32 output */
} tq_arg_minmax_s8_params;

tq_status tq_arg_minmax_s8(const tq_arg_minmax_s8_params *p, const int8_t *in, void *out);

/**
 * L2_NORMALIZATION over the last axis, int8 (reference_integer_ops::L2Normalization): for each of
 * `outer` vectors of `depth` values, d = x - in_zp and acc = sum d^2 (int32), then
 *     out = clamp(tq_mul_by_quantized_mult(d, inv_mult, inv_shift + 7), -128, 127)
 * where (inv_mult, inv_shift) is 1 / sqrt(acc) from TFLite's GetInvSqrtQuantizedMultiplierExp
 * (fixed-point Newton-Raphson; acc 0 or 1 gives INT32_MAX, 0, so an all-zero vector stays 0). The
 * output scale is 1/128 with zero point 0, as TFLite's Prepare requires. depth * 255^2 < 2^31
 * (checked at generation time).
 */
typedef struct {
    int32_t outer;
    int32_t depth;
    int32_t in_zp;
} tq_l2_norm_s8_params;

tq_status tq_l2_norm_s8(const tq_l2_norm_s8_params *p, const int8_t *in, int8_t *out);

/* ---- end of ARG_MAX / ARG_MIN, L2_NORMALIZATION ---- */

#endif /* TQ_POOL_H */
