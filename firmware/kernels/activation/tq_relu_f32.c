/* RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1 float32 (see tq_float.h). */
#include "tq_float.h"

tq_status tq_relu_f32(const tq_relu_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = tq_clamp_f32(in[i], p->lo, p->hi);
    }
    return TQ_OK;
}
