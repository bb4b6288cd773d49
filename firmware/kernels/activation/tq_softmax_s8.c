/* SOFTMAX, int8 -> int8 (see tq_activation.h; the arithmetic before the output in tq_softmax_core.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_softmax_core.h"

tq_status tq_softmax_s8(const tq_softmax_s8_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + (size_t)r * (size_t)p->depth;
        int8_t *y = out + (size_t)r * (size_t)p->depth;
        const tq_softmax_row row = tq_softmax_row_scale(p, x);
        /* Output units are 2^-8: shift the Q0.31 probability right by 23 + bits_over_unit.
         * Beyond 31 (a sum of at least 512) the Q0.31 value, below 2^31, is less than half an
         * output step and rounds to 0; TFLite's reference kernel aborts there instead. */
        const int32_t exponent = row.bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t prob = tq_softmax_prob(p, &row, x[c]);
            if (prob >= 0) {
                const int32_t q = exponent <= 31 ? tq_rounding_divide_by_pot(prob, exponent) : 0;
                const int32_t v = q + INT8_MIN;
                y[c] = (int8_t)TQ_CLAMP(v, INT8_MIN, INT8_MAX);
            } else {
                y[c] = INT8_MIN;
            }
        }
    }
    return TQ_OK;
}
