/* RSQRT float32, TFLite elementwise.cc: 1.f / std::sqrt(x) (see tq_float.h). */
#include "tq_float.h"

tq_status tq_rsqrt_f32(const tq_rsqrt_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = 1.0f / sqrtf(in[i]);
    }
    return TQ_OK;
}
