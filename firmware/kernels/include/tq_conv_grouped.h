/*
 * tinyq grouped convolution: CONV_2D with groups > 1, and DEPTHWISE_CONV_2D with a depth
 * multiplier m > 1 over several input channels (group c: input channel c, output channels
 * c m .. c m + m - 1), on the fast matrix-product core (tq_gemm.h), one group at a time.
 */
#ifndef TQ_CONV_GROUPED_H
#define TQ_CONV_GROUPED_H

#include "tq_common.h"
#include "tq_gemm.h"

/**
 * Two output pixels at a time, for each group: the group's receptive field of both pixels
 * ([kh][kw][group_in_c], padding taps in_zp, zeros to gemm.k) gathered into two columns, made a
 * column pair (tq_gemm_columns) and multiplied with the group's weight rows (tq_gemm_pair) into
 * its out.c / groups output channels. gemm describes group 0 (its rows, k, constants); group g's
 * weights are w_stride elements further (weights, or weights16 with --wide-weights) and its
 * constants q_stride words further. `scratch`: 6 * gemm.k bytes. The output must not overlap the input.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_zp;
    int32_t groups;
    int32_t group_in_c;
    int32_t w_stride;
    int32_t q_stride;
    tq_gemm_s8_params gemm;
} tq_conv_grouped_s8_params;

tq_status tq_conv_grouped_s8(const tq_conv_grouped_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

#endif /* TQ_CONV_GROUPED_H */
