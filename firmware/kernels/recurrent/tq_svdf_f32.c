/* SVDF, float32 (see tq_recurrent.h). */
#include "tq_recurrent.h"

/* TFLite's float dot products (its vectorized tensor utils, as the interpreter runs them): four
   interleaved partial sums over the elements up to the last multiple of four, added lane 0 to 3,
   then the remaining elements one by one. */
static float tq_svdf_dot_f32(const float *a, const float *b, int32_t n)
{
    const int32_t body = n & ~3;
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int32_t i = 0; i < body; ++i) {
        lane[i & 3] += a[i] * b[i];
    }
    float acc = ((lane[0] + lane[1]) + lane[2]) + lane[3];
    for (int32_t i = body; i < n; ++i) {
        acc += a[i] * b[i];
    }
    return acc;
}

tq_status tq_svdf_f32(const tq_svdf_f32_params *p, const float *in, const float *weights_feature,
                      const float *weights_time, const float *bias, float *out, float *state)
{
    const tq_svdf_dims *d = &p->d;
    const int32_t filters = d->units * d->rank;
    const size_t total = (size_t)d->batch * (size_t)filters * (size_t)d->memory;
    /* Shift the flat state left by one; each filter's newest slot is written below. */
    for (size_t i = 1; i < total; ++i) {
        state[i - 1] = state[i];
    }
    for (int32_t b = 0; b < d->batch; ++b) {
        const float *x = in + (size_t)b * (size_t)d->input_size;
        float *st = state + (size_t)b * (size_t)filters * (size_t)d->memory;
        for (int32_t f = 0; f < filters; ++f) {
            const float *w = weights_feature + (size_t)f * (size_t)d->input_size;
            st[(size_t)f * (size_t)d->memory + (size_t)(d->memory - 1)] = tq_svdf_dot_f32(w, x, d->input_size);
        }
        for (int32_t u = 0; u < d->units; ++u) {
            float acc = 0.0f;
            for (int32_t r = 0; r < d->rank; ++r) {
                const int32_t f = u * d->rank + r;
                const float *w = weights_time + (size_t)f * (size_t)d->memory;
                const float *s = st + (size_t)f * (size_t)d->memory;
                acc += tq_svdf_dot_f32(w, s, d->memory);
            }
            if (bias != NULL) {
                acc += bias[u];
            }
            acc = acc < p->act_min ? p->act_min : acc;
            out[(size_t)b * (size_t)d->units + (size_t)u] = acc > p->act_max ? p->act_max : acc;
        }
    }
    return TQ_OK;
}
