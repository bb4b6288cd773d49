/* SQUARE float32, TFLite elementwise.cc: x * x (see tq_float.h). */
#include "tq_float.h"

tq_status tq_square_f32(const tq_square_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        out[i] = x * x;
    }
    return TQ_OK;
}
