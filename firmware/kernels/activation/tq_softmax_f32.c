/* SOFTMAX float32 over the last axis, TFLite reference_ops::Softmax (see tq_float.h). */
#include <float.h>

#include "tq_float.h"

tq_status tq_softmax_f32(const tq_softmax_f32_params *p, const float *in, float *out)
{
    const int32_t depth = p->depth;
    for (int32_t r = 0; r < p->rows; ++r) {
        const float *x = in + (size_t)r * (size_t)depth;
        float *y = out + (size_t)r * (size_t)depth;
        float max = -FLT_MAX;
        for (int32_t c = 0; c < depth; ++c) {
            max = max < x[c] ? x[c] : max;
        }
        float sum = 0.0f;
        for (int32_t c = 0; c < depth; ++c) {
            const float e = expf((x[c] - max) * p->beta);
            y[c] = e;
            sum += e;
        }
        for (int32_t c = 0; c < depth; ++c) {
            y[c] = y[c] / sum;
        }
    }
    return TQ_OK;
}
