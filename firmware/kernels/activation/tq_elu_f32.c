/* ELU float32, TFLite reference_ops::Elu (see tq_float.h). */
#include "tq_float.h"

tq_status tq_elu_f32(const tq_elu_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        out[i] = x < 0.0f ? expm1f(x) : x;
    }
    return TQ_OK;
}
