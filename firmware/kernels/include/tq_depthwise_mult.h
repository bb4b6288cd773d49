/*
 * tinyq DEPTHWISE_CONV_2D with a depth multiplier m > 1 over C input channels, on the fast
 * depthwise kernel (tq_conv_fast.h): output channel c m + j reads input channel c, so with each
 * input channel repeated m times (channel c m + j of the repeated input = channel c) the layer is
 * a depth-multiplier-1 depthwise over C m channels with the same weights, biases and constants.
 */
#ifndef TQ_DEPTHWISE_MULT_H
#define TQ_DEPTHWISE_MULT_H

#include "tq_conv_fast.h"

/**
 * One output row at a time: the input rows under its windows, repeated m times per channel, go to
 * `scratch` after the fast kernel's zero-point row ((C m + 7) & ~7 bytes), and the fast kernel
 * computes that row from them (dw with in: those rows, out: one row, the padding above them as
 * pad_h). dw describes the layer over C m channels (dw.in.c == dw.out.c == C m, ring_rows 0);
 * in_h and out_h are the real heights. `scratch`: (C m + 7) & ~7 + ((kh - 1) dil_h + 1) in.w C m bytes.
 */
typedef struct {
    tq_depthwise_conv_fast_s8_params dw;
    int32_t in_c;   /* C */
    int32_t mult;   /* m */
} tq_depthwise_conv_mult_s8_params;

tq_status tq_depthwise_conv_mult_s8(const tq_depthwise_conv_mult_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch);

#endif /* TQ_DEPTHWISE_MULT_H */
