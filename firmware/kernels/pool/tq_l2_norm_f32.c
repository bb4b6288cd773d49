/* L2_NORMALIZATION float32 over the last axis: reference_ops::L2Normalization (see tq_float.h). */
#include "tq_float.h"

tq_status tq_l2_norm_f32(const tq_l2_norm_f32_params *p, const float *in, float *out)
{
    const size_t depth = (size_t)p->depth;
    for (int32_t o = 0; o < p->outer; ++o) {
        const float *x = in + (size_t)o * depth;
        float *y = out + (size_t)o * depth;
        float squared = 0.0f;
        for (size_t c = 0; c < depth; ++c) {
            squared += x[c] * x[c];
        }
        float norm = sqrtf(squared);
        norm = norm < p->epsilon ? p->epsilon : norm; /* std::max(norm, epsilon) */
        for (size_t c = 0; c < depth; ++c) {
            y[c] = x[c] / norm;
        }
    }
    return TQ_OK;
}
