/* LEAKY_RELU float32, TFLite reference_ops::LeakyRelu (see tq_float.h). */
#include "tq_float.h"

tq_status tq_leaky_relu_f32(const tq_leaky_relu_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        out[i] = x > 0.0f ? x : x * p->alpha;
    }
    return TQ_OK;
}
