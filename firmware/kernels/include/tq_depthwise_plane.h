/*
 * tinyq DEPTHWISE_CONV_2D one channel plane at a time (any channel count, any depth multiplier m):
 * for the layers whose few channels leave the fast kernel's blocks of four mostly idle or whose
 * last in.c % 4 channels would go one by one (tq_conv_fast.h). For each input channel c the input
 * rows under a band of output rows are gathered into padded rows (the padding bytes hold the input
 * zero point, so the interior and the borders run one loop without bounds checks); then each of
 * the channel's m output channels c m + j computes the band from those rows with its kh * kw
 * weights held in registers. 3x3 windows (dilation 1, stride 1 or 2) take two output pixels
 * an iteration that share their input loads (SMLAD on tap pairs where the DSP extension is); any
 * other window goes tap by tap.
 */
#ifndef TQ_DEPTHWISE_PLANE_H
#define TQ_DEPTHWISE_PLANE_H

#include "tq_common.h"

#define TQ_DWP_MAX_KH 16 /* kernel rows (row pointers on the stack) */

/**
 * `weights`: [out.c][kh][kw] (each output channel's taps together). `quant`: per output channel four
 * words, bias (+ input offset * the sum of the channel's weights, modulo 2^32) then mult, radd, rsh
 * (requant 0: tq_requant_mm) or mult, left and right shift (requant 1: tq_requant_gen with
 * out_offset). `scratch`: the padded input rows under a band of `band` output rows, (band - 1)
 * stride_h + (kh - 1) dil_h + 1 rows of row_w bytes; row_w >= pad_w + in.w + the right padding the
 * windows reach + 4. Each input row of a channel is gathered once (the rows a band shares with the
 * next move up). out.c == in.c * mult. The output may be the input itself where generation proved
 * each input row gathered before the output overwrites it (m == 1).
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t mult;       /* depth multiplier m */
    int32_t in_zp;      /* input zero point: the value of a padding tap */
    int32_t out_offset; /* output zero point (requant 1) */
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *quant;
    int32_t requant;    /* 0: tq_requant_mm's constants (proven exact); 1: tq_requant_gen's */
    int32_t band;       /* output rows computed from one fill of scratch */
    int32_t row_w;      /* bytes per padded row */
} tq_depthwise_conv_plane_s8_params;

tq_status tq_depthwise_conv_plane_s8(const tq_depthwise_conv_plane_s8_params *p, const int8_t *input, int8_t *output,
                                     int8_t *scratch);

#endif /* TQ_DEPTHWISE_PLANE_H */
