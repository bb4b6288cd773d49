/*
 * tinyq convolution family: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on int8.
 *
 * Arithmetic is TFLite's reference_integer_ops bit for bit, as the builtin ops' kReference
 * kernels call them:
 *
 *     acc  = sum (w + w_offset) * (x + in_offset)      int32, taps outside the image skipped
 *     acc += bias[c]                                   when bias != NULL
 *
 * CONV_2D / DEPTHWISE_CONV_2D (ConvPerChannel, DepthwiseConvPerChannel): fixed point,
 *     out = clamp(tq_mul_by_quantized_mult(acc, mult[c], shift[c]) + out_offset, act_min, act_max)
 * FULLY_CONNECTED (FullyConnected / FullyConnectedPerChannel with float scales): double precision,
 *     out = clamp(round_half_away((double)acc * scale[c]) + out_offset, act_min, act_max)
 *     with scale[c] = (double)input_scale * (double)filter_scale[c] / (double)output_scale.
 *
 * Every parameter (padding, multipliers, shifts, activation range) is computed and validated
 * at generation time by tinyq/ops/conv.py; the kernels do not check anything.
 */
#ifndef TQ_CONV_H
#define TQ_CONV_H

#include "tq_common.h"

/**
 * CONV_2D, int8 activations, int8 weights quantized per output channel (symmetric, zp 0).
 *
 * Layouts: input  NHWC  [in.n][in.h][in.w][in.c]
 *          weights OHWI [out.c][kh][kw][in.c / groups]
 *          output NHWC  [out.n][out.h][out.w][out.c], out.n == in.n
 * Grouped convolution: groups = in.c / filter_in_c; output channel oc reads input channels
 * [g * filter_in_c, (g + 1) * filter_in_c) with g = oc / (out.c / groups).
 * Padding: pad_h/pad_w are the top/left padding of TFLite's ComputePaddingHeightWidth; the
 * odd extra row/column of SAME padding lies bottom/right and is implied by the bounds.
 * Ranges: in_offset = -input zero point in [-127, 128]; out_offset = output zero point;
 * -128 <= act_min <= act_max <= 127; shift[c] in [-31, 30].
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;          /* filter height, width */
    int32_t filter_in_c;     /* input channels per group (filter's last dimension) */
    int32_t groups;          /* in.c / filter_in_c */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [out.c][kh][kw][filter_in_c] */
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] quantized multipliers */
    const int32_t *shift;    /* [out.c] exponents (> 0: left shift) */
} tq_conv_s8_params;

tq_status tq_conv_s8(const tq_conv_s8_params *p, const int8_t *input, int8_t *output);

/**
 * DEPTHWISE_CONV_2D, int8 activations, int8 weights quantized per output channel (zp 0).
 *
 * Layouts: input  NHWC [in.n][in.h][in.w][in.c]
 *          weights     [1][kh][kw][out.c], out.c = in.c * depth_mult
 *          output NHWC [out.n][out.h][out.w][out.c]
 * Output channel oc = ic * depth_mult + m reads input channel ic.
 * Padding and ranges as for tq_conv_s8.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t depth_mult;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [kh][kw][out.c] */
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_depthwise_conv_s8_params;

tq_status tq_depthwise_conv_s8(const tq_depthwise_conv_s8_params *p, const int8_t *input, int8_t *output);

/**
 * FULLY_CONNECTED, int8 activations, int8 weights per tensor or per output channel.
 *
 * Layouts: input   [batches][accum_depth] (any input rank, flattened)
 *          weights [out_depth][accum_depth]
 *          output  [batches][out_depth]
 * Per-tensor weights: w_offset = -weights zero point and scale repeats one value;
 * per-channel weights: w_offset = 0 (symmetric), one scale per output.
 * Requantization is TFLite's: the double product (double)acc * scale[c] rounded half away
 * from zero (std::round), computed without libm; |product| >= 2^30 saturates (it is clamped
 * to the activation range anyway). On FPU-less or single-precision targets the double
 * arithmetic is the compiler's IEEE soft-float, so results stay exact.
 * Ranges: w_offset in [-127, 128]; scale[c] > 0; others as for tq_conv_s8.
 */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t in_offset;
    int32_t w_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [out_depth][accum_depth] */
    const int32_t *bias;     /* [out_depth], or NULL */
    const double *scale;     /* [out_depth] effective output scales */
} tq_fully_connected_s8_params;

tq_status tq_fully_connected_s8(const tq_fully_connected_s8_params *p, const int8_t *input, int8_t *output);

/* ---- TRANSPOSE_CONV (tinyq/ops/conv.py) ---- */

/**
 * TRANSPOSE_CONV, int8 activations, int8 weights per output channel (symmetric, zp 0):
 * reference_integer_ops::TransposeConv. Each input value scatters into the outputs its filter taps
 * reach, summed in int32 in `scratch`:
 *
 *     scratch[n][iy * stride_h - pad_h + ky][ix * stride_w - pad_w + kx][oc]
 *         += (in[n][iy][ix][ic] + in_offset) * w[oc][ky][kx][ic]      (outputs outside skipped)
 *     out = clamp(tq_mul_by_quantized_mult(scratch + bias[oc], mult[oc], shift[oc]) + out_offset,
 *                 act_min, act_max)
 *
 * Layouts: input NHWC [in.n][in.h][in.w][in.c]; weights [out.c][kh][kw][in.c]; output NHWC,
 * out.n == in.n. pad_h / pad_w: TFLite's ComputePaddingHeightWidth on the output size (the
 * transpose-conv padding), computed at generation time. scratch: out.n * out.h * out.w * out.c
 * int32 values, overwritten. Ranges as for tq_conv_s8; the generator checks that no sum overflows int32.
 * output_shape: NULL when the model's output_shape is a constant (checked at generation time); else the
 * model input holding it (int32 [4], NHWC), which must equal out: else TQ_ARG_ERROR, nothing written.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [out.c][kh][kw][in.c] */
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_transpose_conv_s8_params;

tq_status tq_transpose_conv_s8(const tq_transpose_conv_s8_params *p, const int8_t *input, const int32_t *output_shape,
                               int8_t *output, int32_t *scratch);

/* ---- end of TRANSPOSE_CONV ---- */

/* ---- BATCH_MATMUL (tinyq/ops/conv.py) ---- */

/**
 * BATCH_MATMUL, int8 (batch_matmul.cc Prepare and reference_ops::BatchMatMul<int8_t, int32_t>): per
 * batch (b0, b1, b2) of the output and element (m, n),
 *
 *     acc = sum over k of (lhs(b, m, k) + lhs_offset) * (rhs(b, k, n) + rhs_offset)      int32
 *     out[b][m][n] = clamp(tq_mul_by_quantized_mult(acc, mult, shift) + out_offset, -128, 127)
 *
 * with one multiplier for the op (QuantizeMultiplier of double(float(lhs_scale * rhs_scale)) /
 * double(out_scale): GetQuantizedConvolutionMultipler multiplies the scales in float) and no fused activation.
 * Geometry: the shapes padded on the left to rank 5; batch[] the output's three batch dims (each LHS
 * and RHS batch dim equal to it or 1, broadcast: stride 0). The operands are read in place through
 * strides, so adj_x / adj_y (which the reference applies by copying a transposed operand, the same
 * values in the same order) need no scratch:
 *     lhs(b, m, k) = lhs[sum b_i * lhs_batch_stride[i] + m * lhs_row_stride + k * lhs_depth_stride]
 *     rhs(b, k, n) = rhs[sum b_i * rhs_batch_stride[i] + k * rhs_depth_stride + n * rhs_col_stride]
 * Output [batch][rows][cols] row-major. Ranges: lhs_offset, rhs_offset in [-127, 128] (minus the zero
 * points); shift in [-31, 30]; depth * 255^2 < 2^31 (checked at generation time).
 */
typedef struct {
    int32_t batch[3];            /**< output batch dims */
    int32_t lhs_batch_stride[3]; /**< LHS elements from one matrix to the next per batch dim; 0: broadcast */
    int32_t rhs_batch_stride[3];
    int32_t rows, cols, depth;   /**< M, N, K */
    int32_t lhs_row_stride, lhs_depth_stride;
    int32_t rhs_depth_stride, rhs_col_stride;
    int32_t lhs_offset;          /**< -LHS zero point */
    int32_t rhs_offset;          /**< -RHS zero point */
    int32_t out_offset;          /**< output zero point */
    int32_t mult, shift;
} tq_batch_matmul_s8_params;

tq_status tq_batch_matmul_s8(const tq_batch_matmul_s8_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out);

/* ---- end of BATCH_MATMUL ---- */

/* ---- fast twins of TRANSPOSE_CONV and BATCH_MATMUL (tinyq/ops/conv.py, tq_dot_fast.h) ---- */

/**
 * TRANSPOSE_CONV int8 with tq_transpose_conv_s8's results, its products as dot products over the input
 * channels, in 2x2 blocks (tq_dot2x2_s8: two neighbouring input pixels on the taps both reach, by two
 * output channels; a pixel alone on the others, tq_dot2_s8). Each (input pixel, tap) adds
 * to scratch[output pixel][oc] the exact int32 term sum over ic of (in + in_offset) * w, formed as
 * the raw dot product plus tap_bias[tap][oc] = in_offset * (sum over ic of w[oc][tap][ic]); scratch
 * starts at the bias. Same sums, same requantization (tq_mul_by_quantized_mult), so the same bits.
 * Weights re-laid at generation time to [kh][kw][out.c][in.c]; scratch and output_shape as tq_transpose_conv_s8's.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [kh][kw][out.c][in.c] */
    const int32_t *tap_bias; /* [kh][kw][out.c] */
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_transpose_conv_fast_s8_params;

tq_status tq_transpose_conv_fast_s8(const tq_transpose_conv_fast_s8_params *p, const int8_t *input,
                                    const int32_t *output_shape, int8_t *output, int32_t *scratch);

/**
 * BATCH_MATMUL int8 with tq_batch_matmul_s8's results (same params): per output element the raw dot
 * product of an LHS row and an RHS column (tq_dot2x2_s8: two rows by two columns per read), plus
 * rhs_offset * (row sum) + lhs_offset * (column sum) + depth * lhs_offset * rhs_offset, which is the
 * reference's int32 sum exactly; then its requantization. Operands whose depth is not contiguous
 * (RHS without adj_y, LHS with adj_x) are copied to `scratch` first, RHS a matrix per batch.
 * scratch: 4 * cols bytes (column sums), then depth * cols bytes when rhs_depth_stride != 1, then
 * 2 * depth bytes when lhs_depth_stride != 1.
 */
tq_status tq_batch_matmul_fast_s8(const tq_batch_matmul_s8_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out,
                                  int8_t *scratch);

/* ---- end of the fast twins ---- */

#endif /* TQ_CONV_H */
