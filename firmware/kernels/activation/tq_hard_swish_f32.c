/* HARD_SWISH float32, TFLite reference_ops::HardSwish: x * min(6, max(0, x + 3)) / 6 (see tq_float.h). */
#include "tq_float.h"

tq_status tq_hard_swish_f32(const tq_hard_swish_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        out[i] = x * tq_clamp_f32(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    }
    return TQ_OK;
}
