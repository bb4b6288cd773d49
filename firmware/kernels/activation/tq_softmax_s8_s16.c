/* SOFTMAX, int8 -> int16 (see tq_activation.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_activation.h"

/* Input differences are held in Q5.26 and exp() values are summed in Q12.19 (as TFLite does). */
#define TQ_SOFTMAX_DIFF_INT_BITS 5
#define TQ_SOFTMAX_ACCUM_INT_BITS 12

/* exp(d * beta * input_scale) in Q0.31 for an input difference d in [diff_min, 0]. */
static int32_t softmax_exp(const tq_softmax_s8_s16_params *p, int32_t diff)
{
    const int32_t scaled = tq_sat_rounding_doubling_high_mul(
        (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
    return tq_fp_exp_on_negative_values(scaled, TQ_SOFTMAX_DIFF_INT_BITS);
}

tq_status tq_softmax_s8_s16(const tq_softmax_s8_s16_params *p, const int8_t *in, int16_t *out)
{
    const int32_t depth = p->depth;
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + (size_t)r * (size_t)depth;
        int16_t *y = out + (size_t)r * (size_t)depth;

        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = TQ_MAX(max_in_row, (int32_t)x[c]);
        }

        /* Sum of exponentials in Q12.19 (at least 1.0: the maximum contributes exp(0)). */
        int32_t sum = 0;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                sum += tq_rounding_divide_by_pot(softmax_exp(p, diff), TQ_SOFTMAX_ACCUM_INT_BITS);
            }
        }

        /* 1 / sum as a Q0.31 reciprocal of sum / 2^num_bits_over_unit (TFLite GetReciprocal). */
        const int32_t headroom_plus_one = tq_clz32((uint32_t)sum);
        const int32_t num_bits_over_unit = TQ_SOFTMAX_ACCUM_INT_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u);
        const int32_t shifted_scale = tq_fp_one_over_one_plus_x(shifted_sum_minus_one);
        /* Output units are 2^-16: shift the Q0.31 probability right by 15 + num_bits_over_unit,
         * which is 15 to 26 for a sum in [1, 4096). */
        const int32_t exponent = num_bits_over_unit + 31 - 16;

        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t prob = tq_sat_rounding_doubling_high_mul(shifted_scale, softmax_exp(p, diff));
                const int32_t v = tq_rounding_divide_by_pot(prob, exponent) + INT16_MIN;
                y[c] = (int16_t)TQ_CLAMP(v, INT16_MIN, INT16_MAX);
            } else {
                y[c] = INT16_MIN;
            }
        }
    }
    return TQ_OK;
}
