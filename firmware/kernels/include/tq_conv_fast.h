/*
 * tinyq fast convolution kernels: specialized at generation time (tinyq/ops/conv.py chooses them
 * where they apply) and bit-exact with the reference kernels of tq_conv.h, from data laid out for
 * the inner loop (see tq_gemm.h).
 */
#ifndef TQ_CONV_FAST_H
#define TQ_CONV_FAST_H

#include "tq_common.h"
#include "tq_gemm.h"

/**
 * CONV_2D with a 1x1 filter over channels that are a multiple of the group: the channels of two
 * input pixels are interleaved into `scratch` (2 * gemm.k bytes) and multiplied with the weight
 * rows. gemm.k == in.c; any stride.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t stride_h, stride_w;
    tq_gemm_s8_params gemm;
} tq_conv_1x1_s8_params;

tq_status tq_conv_1x1_s8(const tq_conv_1x1_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/**
 * CONV_2D, one group, any filter: two output pixels at a time are gathered (im2col) into
 * `scratch` as [kh][kw][in.c] columns, padding taps set to in_zp and the tail up to gemm.k to 0,
 * interleaved, and multiplied with the weight rows. `scratch` holds 4 * gemm.k bytes.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_zp;          /* input zero point: the value of a padding tap */
    tq_gemm_s8_params gemm;
} tq_conv_im2col_s8_params;

tq_status tq_conv_im2col_s8(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/**
 * DEPTHWISE_CONV_2D with depth multiplier 1: channels four at a time (SXTB16 + SMLABB/SMLATT on the
 * DSP extension, widening loads and VMLA on Helium), requantized with tq_requantize_rs (all
 * shifts <= 0). Layouts and ranges as tq_depthwise_conv_s8.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [kh][kw][c] */
    const int32_t *bias;     /* [c], or NULL */
    const int32_t *mult;     /* [c] */
    const int32_t *shift;    /* [c], all <= 0 */
} tq_depthwise_conv_fast_s8_params;

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output);

#endif /* TQ_CONV_FAST_H */
