/* LOGISTIC float32, TFLite reference_ops::Logistic with its cut-offs (see tq_float.h). */
#include "tq_float.h"

tq_status tq_logistic_f32(const tq_logistic_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        if (x > 16.619047164916992188f) {
            out[i] = 1.0f;
        } else if (x < -9.0f) {
            out[i] = expf(x);
        } else {
            out[i] = 1.0f / (1.0f + expf(-x));
        }
    }
    return TQ_OK;
}
