/* LOG float32, TFLite elementwise.cc (std::log on float) (see tq_float.h). */
#include "tq_float.h"

tq_status tq_log_f32(const tq_log_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = logf(in[i]);
    }
    return TQ_OK;
}
