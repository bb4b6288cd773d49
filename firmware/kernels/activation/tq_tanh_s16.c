/* TANH, int16: reference_integer_ops::Tanh for int16, as 2 sigmoid(2x) - 1 (see tq_int16.h). */
#include "tq_int16.h"

#define TQ_TANH_FRAC_BITS 8u                 /* |v| >> 8 indexes the table: twice LOGISTIC's argument */
#define TQ_TANH_SATURATED (0xFFFFu << 8)     /* sigmoid 1.0, tanh 1.0 (32767 after the final shift) */

tq_status tq_tanh_s16(const tq_tanh_s16_params *p, const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = tq_sigmoid_input_s16(input[i], p->input_multiplier, p->input_shift);
        int32_t r = (int32_t)tq_sigmoid_interp(tq_abs_u32(v), TQ_TANH_FRAC_BITS, TQ_TANH_SATURATED, p->table);
        /* Q0.24 sigmoid -> 2 sigmoid - 1 in Q0.15 (one bit less of shift), rounded; odd in x. */
        r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(r >> 8); /* arithmetic shift of a negative value, as TFLite's */
    }
    return TQ_OK;
}
