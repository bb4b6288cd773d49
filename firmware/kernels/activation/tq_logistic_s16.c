/* LOGISTIC, int16: reference_integer_ops::Logistic for int16 (see tq_int16.h). */
#include "tq_int16.h"

#define TQ_LOGISTIC_FRAC_BITS 9u                     /* |v| >> 9 indexes the table */
#define TQ_LOGISTIC_SATURATED (0x7FFFu << 10)        /* 1.0 (32767 after the final shift) */

tq_status tq_logistic_s16(const tq_logistic_s16_params *p, const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = tq_sigmoid_input_s16(input[i], p->input_multiplier, p->input_shift);
        uint32_t r = tq_sigmoid_interp(tq_abs_u32(v), TQ_LOGISTIC_FRAC_BITS, TQ_LOGISTIC_SATURATED, p->table);
        /* Q0.25 -> Q0.15 rounded; sigmoid(-x) = 1 - sigmoid(x), rounded the other way. */
        r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
        output[i] = (int16_t)(r >> 10);
    }
    return TQ_OK;
}
