/* LOG_SOFTMAX, int8 -> int8 (see tq_activation.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_activation.h"

/* Input differences in Q5.26, exp() values summed in Q12.19, outputs in units of 1/16 (as TFLite). */
#define TQ_LOG_SOFTMAX_DIFF_INT_BITS 5
#define TQ_LOG_SOFTMAX_ACCUM_INT_BITS 12
#define TQ_LOG_SOFTMAX_OUTPUT_INT_BITS 4
#define TQ_LOG_SOFTMAX_OUTPUT_ZP 127

tq_status tq_log_softmax_s8(const tq_log_softmax_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t depth = p->depth;
    const int32_t out_shift = 31 - TQ_LOG_SOFTMAX_DIFF_INT_BITS - TQ_LOG_SOFTMAX_OUTPUT_INT_BITS;
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + (size_t)r * (size_t)depth;
        int8_t *y = out + (size_t)r * (size_t)depth;

        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = TQ_MAX(max_in_row, (int32_t)x[c]);
        }

        /* Sum of exponentials in Q12.19 (at least 1.0: the maximum contributes exp(0)). */
        int32_t sum = 0;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tq_mul_by_quantized_mult(diff, p->input_multiplier, p->input_left_shift);
                sum += tq_rounding_divide_by_pot(tq_fp_exp_on_negative_values(scaled, TQ_LOG_SOFTMAX_DIFF_INT_BITS),
                                                 TQ_LOG_SOFTMAX_ACCUM_INT_BITS);
            }
        }
        const int32_t log_sum = tq_fp_log_x_ge_1(sum, TQ_LOG_SOFTMAX_ACCUM_INT_BITS, TQ_LOG_SOFTMAX_DIFF_INT_BITS);

        /* The smallest difference whose output stays above -128 once log_sum is taken off (in input
         * units: log_sum - 32 mapped back by the reverse multiplier), but no lower than diff_min - 1. */
        const int32_t shifted_log_sum = (int32_t)((uint32_t)log_sum + 0x80000000u);
        const int32_t adjusted_diff_min =
            TQ_MAX(p->diff_min - 1, tq_mul_by_quantized_mult(shifted_log_sum, p->reverse_multiplier, p->reverse_shift));

        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff > adjusted_diff_min) {
                const int32_t scaled = tq_mul_by_quantized_mult(diff, p->input_multiplier, p->input_left_shift);
                const int32_t rel = (int32_t)((uint32_t)scaled - (uint32_t)log_sum);
                const int32_t v = tq_rounding_divide_by_pot(rel, out_shift) + TQ_LOG_SOFTMAX_OUTPUT_ZP;
                y[c] = (int8_t)TQ_CLAMP(v, INT8_MIN, INT8_MAX);
            } else {
                y[c] = INT8_MIN;
            }
        }
    }
    return TQ_OK;
}
