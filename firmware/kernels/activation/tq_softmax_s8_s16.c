/* SOFTMAX, int8 -> int16 (see tq_activation.h; the arithmetic before the output in tq_softmax_core.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_softmax_core.h"

tq_status tq_softmax_s8_s16(const tq_softmax_s8_s16_params *p, const int8_t *in, int16_t *out)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *x = in + (size_t)r * (size_t)p->depth;
        int16_t *y = out + (size_t)r * (size_t)p->depth;
        const tq_softmax_row row = tq_softmax_row_scale(p, x);
        /* Output units are 2^-16: shift the Q0.31 probability right by 15 + bits_over_unit,
         * which is 15 to 26 for a sum in [1, 4096). */
        const int32_t exponent = row.bits_over_unit + 31 - 16;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t prob = tq_softmax_prob(p, &row, x[c]);
            if (prob >= 0) {
                const int32_t v = tq_rounding_divide_by_pot(prob, exponent) + INT16_MIN;
                y[c] = (int16_t)TQ_CLAMP(v, INT16_MIN, INT16_MAX);
            } else {
                y[c] = INT16_MIN;
            }
        }
    }
    return TQ_OK;
}
