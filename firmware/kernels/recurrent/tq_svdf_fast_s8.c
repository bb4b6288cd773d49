/* SVDF int8, the fast twin of tq_svdf_s8 (see tq_recurrent.h): dot products for both products. */
#include "tq_dot_fast.h"
#include "tq_recurrent.h"

tq_status tq_svdf_fast_s8(const tq_svdf_fast_s8_params *fp, const int8_t *in, const int8_t *weights_feature,
                          const int16_t *weights_time, const int32_t *bias, int8_t *out, int16_t *state)
{
    const tq_svdf_s8_params *p = &fp->base;
    const tq_svdf_dims *d = &p->d;
    const int32_t filters = d->units * d->rank, n = d->input_size, mem = d->memory;
    const size_t total = (size_t)d->batch * (size_t)filters * (size_t)mem;
    if (total > 1) { /* the flat state one element left; each filter's newest slot is written below */
        memmove(state, state + 1, (total - 1) * sizeof(int16_t));
    }
    for (int32_t b = 0; b < d->batch; ++b) {
        const int8_t *x = in + (size_t)b * (size_t)n;
        int16_t *st = state + (size_t)b * (size_t)filters * (size_t)mem;
        int16_t *newest = st + (mem - 1);
        const int8_t *w = weights_feature;
        int32_t f = 0;
        for (; f + 2 <= filters; f += 2, w += 2 * n) {
            int32_t a0 = fp->feature_bias[f], a1 = fp->feature_bias[f + 1];
            tq_dot2_s8(x, w, w + n, n, &a0, &a1);
            a0 = tq_dot_requant(a0, p->mult1, p->shift1);
            a1 = tq_dot_requant(a1, p->mult1, p->shift1);
            newest[(size_t)f * (size_t)mem] = (int16_t)TQ_CLAMP(a0, INT16_MIN, INT16_MAX);
            newest[(size_t)(f + 1) * (size_t)mem] = (int16_t)TQ_CLAMP(a1, INT16_MIN, INT16_MAX);
        }
        if (f < filters) {
            const int32_t a = tq_dot_requant(tq_dot_s8(x, w, n, fp->feature_bias[f]), p->mult1, p->shift1);
            newest[(size_t)f * (size_t)mem] = (int16_t)TQ_CLAMP(a, INT16_MIN, INT16_MAX);
        }
        for (int32_t u = 0; u < d->units; ++u) {
            /* one wrapping int32 sum over the unit's filters: the reference's sum of wrapped dot products */
            int32_t acc = bias != NULL ? bias[u] : 0;
            const size_t first = (size_t)u * (size_t)d->rank * (size_t)mem;
            acc = tq_dot_s16(weights_time + first, st + first, d->rank * mem, acc);
            const int32_t y = tq_dot_requant(acc, p->mult2, p->shift2) + p->output_offset;
            out[(size_t)b * (size_t)d->units + (size_t)u] = (int8_t)TQ_CLAMP(y, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
