/*
 * The int8 SOFTMAX's arithmetic up to the output stage, shared by tq_softmax_s8 (int8 out, units of
 * 2^-8) and tq_softmax_s8_s16 (int16 out, units of 2^-16): TFLite's reference integer softmax holds input
 * differences in Q5.26 and sums exp() values in Q12.19, then scales by a Q0.31 reciprocal of the sum.
 */
#ifndef TQ_SOFTMAX_CORE_H
#define TQ_SOFTMAX_CORE_H

#include "tq_activation.h"

#define TQ_SOFTMAX_DIFF_INT_BITS 5
#define TQ_SOFTMAX_ACCUM_INT_BITS 12

/* exp(d * beta * input_scale) in Q0.31 for an input difference d in [diff_min, 0]. */
static inline int32_t tq_softmax_exp(const tq_softmax_s8_params *p, int32_t diff)
{
    const int32_t scaled = tq_sat_rounding_doubling_high_mul(
        (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
    return tq_fp_exp_on_negative_values(scaled, TQ_SOFTMAX_DIFF_INT_BITS);
}

/* One row's maximum, and 1 / sum(exp) as a Q0.31 `scale` of sum / 2^`bits_over_unit` (TFLite
 * GetReciprocal); the sum is at least 1.0: the maximum contributes exp(0). */
typedef struct {
    int32_t max_in_row;
    int32_t scale;
    int32_t bits_over_unit;
} tq_softmax_row;

static inline tq_softmax_row tq_softmax_row_scale(const tq_softmax_s8_params *p, const int8_t *x)
{
    tq_softmax_row row;
    row.max_in_row = INT8_MIN;
    for (int32_t c = 0; c < p->depth; ++c) {
        row.max_in_row = TQ_MAX(row.max_in_row, (int32_t)x[c]);
    }
    int32_t sum = 0; /* Q12.19 */
    for (int32_t c = 0; c < p->depth; ++c) {
        const int32_t diff = (int32_t)x[c] - row.max_in_row;
        if (diff >= p->diff_min) {
            sum += tq_rounding_divide_by_pot(tq_softmax_exp(p, diff), TQ_SOFTMAX_ACCUM_INT_BITS);
        }
    }
    const int32_t headroom_plus_one = tq_clz32((uint32_t)sum);
    row.bits_over_unit = TQ_SOFTMAX_ACCUM_INT_BITS - headroom_plus_one;
    row.scale = tq_fp_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u));
    return row;
}

/* The Q0.31 probability of element x (-1 where the difference is below diff_min: the output's minimum). */
static inline int32_t tq_softmax_prob(const tq_softmax_s8_params *p, const tq_softmax_row *row, int8_t x)
{
    const int32_t diff = (int32_t)x - row->max_in_row;
    return diff >= p->diff_min ? tq_sat_rounding_doubling_high_mul(row->scale, tq_softmax_exp(p, diff)) : -1;
}

#endif /* TQ_SOFTMAX_CORE_H */
