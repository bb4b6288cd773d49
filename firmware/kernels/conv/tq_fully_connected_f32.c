/* FULLY_CONNECTED float32, TFLite reference_ops::FullyConnected order (see tq_float.h). */
#include "tq_float.h"

tq_status tq_fully_connected_f32(const tq_fully_connected_f32_params *p, const float *in, float *out)
{
    const int32_t depth = p->accum_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *x = in + (size_t)b * (size_t)depth;
        const float *w = p->weights;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            float total = 0.0f;
            for (int32_t d = 0; d < depth; ++d) {
                total += x[d] * w[d];
            }
            w += depth;
            const float bias = p->bias != NULL ? p->bias[o] : 0.0f;
            *out++ = tq_clamp_f32(total + bias, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
