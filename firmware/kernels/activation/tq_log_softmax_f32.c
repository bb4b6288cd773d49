/* LOG_SOFTMAX float32 over the last axis, TFLite reference_ops::LogSoftmax (see tq_float.h). */
#include <float.h>

#include "tq_float.h"

tq_status tq_log_softmax_f32(const tq_log_softmax_f32_params *p, const float *in, float *out)
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
            sum += expf(x[c] - max);
        }
        const float log_sum = logf(sum);
        for (int32_t c = 0; c < depth; ++c) {
            y[c] = x[c] - max - log_sum;
        }
    }
    return TQ_OK;
}
