/* ABS float32 (see tq_float.h). */
#include "tq_float.h"

tq_status tq_abs_f32(const tq_abs_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = fabsf(in[i]);
    }
    return TQ_OK;
}
