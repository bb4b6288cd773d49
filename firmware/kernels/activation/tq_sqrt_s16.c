/* SQRT, int16: elementwise.cc SqrtEvalQuantized<int16_t> in float32 (see tq_int16.h). */
#include <math.h>

#include "tq_int16.h"

tq_status tq_sqrt_s16(const tq_sqrt_s16_params *p, const int16_t *in, int16_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = p->in_scale * (float)in[i];
        const float root = x > 0.0f ? sqrtf(x) : 0.0f;
        const int32_t q = (int32_t)(root / p->out_scale); /* truncation, as TFLite's static_cast<int> */
        out[i] = (int16_t)TQ_CLAMP(q, INT16_MIN, INT16_MAX);
    }
    return TQ_OK;
}
