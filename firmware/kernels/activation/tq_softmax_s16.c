/* SOFTMAX, int16: reference_ops::SoftmaxInt16 (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_softmax_s16(const tq_softmax_s16_params *p, const int16_t *input, int16_t *output)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int16_t *x = input + (size_t)r * (size_t)p->depth;
        int16_t *y = output + (size_t)r * (size_t)p->depth;
        int32_t top = INT16_MIN;
        for (int32_t c = 0; c < p->depth; ++c) {
            top = TQ_MAX(top, (int32_t)x[c]);
        }
        /* exp(x - max) in Q0.15, kept in the output row until the sum is known. */
        int32_t sum = 0;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t scaled = tq_mul_by_quantized_mult((int32_t)x[c] - top, p->input_multiplier, p->input_left_shift);
            const int32_t centred = TQ_CLAMP(scaled + 32767, -32768, 32767);
            y[c] = tq_lut_s16_lookup((int16_t)centred, p->exp_lut);
            sum += y[c];
        }
        /* 1 / sum: the sum normalised to [1, 2) in Q1.15 then 1 / (1 + x) by table. */
        const int32_t headroom = tq_clz32((uint32_t)sum);
        const int32_t norm = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        const int32_t centred = TQ_CLAMP(norm - ((1 << 15) + (1 << 16)), -32768, 32767);
        const int32_t recip = tq_lut_s16_lookup((int16_t)centred, p->one_over_lut);
        const int32_t rshift = 31 - headroom;
        const int64_t round = (int64_t)1 << (rshift - 1);
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)y[c] * recip + round) >> rshift);
            y[c] = (int16_t)TQ_CLAMP(v, 0, 32767);
        }
    }
    return TQ_OK;
}
