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

tq_status tq_transpose_conv_s8(const tq_transpose_conv_s8_params *p, const int8_t *input, int8_t *output,
                               int32_t *scratch);

/* ---- end of TRANSPOSE_CONV ---- */

#endif /* TQ_CONV_H */
