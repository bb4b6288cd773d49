/* ADD_N float32, reference_ops::AddN: each output the sum of the inputs' elements, from 0.0f in input order (see tq_float.h). */
#include "tq_float.h"

tq_status tq_add_n_f32(const tq_add_n_f32_params *p, const float *const in[], float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        float x = 0.0f;
        for (int32_t j = 0; j < p->n; ++j) {
            x += in[j][i];
        }
        out[i] = x;
    }
    return TQ_OK;
}
