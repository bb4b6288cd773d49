/* SQRT float32, TFLite elementwise.cc (std::sqrt on float) (see tq_float.h). */
#include "tq_float.h"

tq_status tq_sqrt_f32(const tq_sqrt_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = sqrtf(in[i]);
    }
    return TQ_OK;
}
