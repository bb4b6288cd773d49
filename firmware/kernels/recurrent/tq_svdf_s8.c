/* SVDF, int8 activations, int8 feature weights, int16 time weights and state (see tq_recurrent.h). */
#include "tq_recurrent.h"

tq_status tq_svdf_s8(const tq_svdf_s8_params *p, const int8_t *in, const int8_t *weights_feature,
                     const int16_t *weights_time, const int32_t *bias, int8_t *out, int16_t *state)
{
    const tq_svdf_dims *d = &p->d;
    const int32_t filters = d->units * d->rank;
    const size_t total = (size_t)d->batch * (size_t)filters * (size_t)d->memory;
    /* Shift the flat state left by one; each filter's newest slot is written below. */
    for (size_t i = 1; i < total; ++i) {
        state[i - 1] = state[i];
    }
    for (int32_t b = 0; b < d->batch; ++b) {
        const int8_t *x = in + (size_t)b * (size_t)d->input_size;
        int16_t *st = state + (size_t)b * (size_t)filters * (size_t)d->memory;
        for (int32_t f = 0; f < filters; ++f) {
            const int8_t *w = weights_feature + (size_t)f * (size_t)d->input_size;
            int32_t acc = 0;
            for (int32_t c = 0; c < d->input_size; ++c) {
                acc += (int32_t)w[c] * ((int32_t)x[c] + p->input_offset);
            }
            acc = tq_mul_by_quantized_mult(acc, p->mult1, p->shift1);
            st[(size_t)f * (size_t)d->memory + (size_t)(d->memory - 1)] = (int16_t)TQ_CLAMP(acc, INT16_MIN, INT16_MAX);
        }
        for (int32_t u = 0; u < d->units; ++u) {
            /* int32 sums wrap as TFLite's do (unsigned arithmetic, no undefined overflow) */
            uint32_t acc = bias != NULL ? (uint32_t)bias[u] : 0u;
            for (int32_t r = 0; r < d->rank; ++r) {
                const int32_t f = u * d->rank + r;
                const int16_t *w = weights_time + (size_t)f * (size_t)d->memory;
                const int16_t *s = st + (size_t)f * (size_t)d->memory;
                uint32_t dot = 0u;
                for (int32_t m = 0; m < d->memory; ++m) {
                    dot += (uint32_t)((int32_t)w[m] * (int32_t)s[m]);
                }
                acc += dot;
            }
            int32_t y = tq_mul_by_quantized_mult((int32_t)acc, p->mult2, p->shift2) + p->output_offset;
            out[(size_t)b * (size_t)d->units + (size_t)u] = (int8_t)TQ_CLAMP(y, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
