/* EXP float32, TFLite reference_ops::Exp (see tq_float.h). */
#include "tq_float.h"

tq_status tq_exp_f32(const tq_exp_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = expf(in[i]);
    }
    return TQ_OK;
}
