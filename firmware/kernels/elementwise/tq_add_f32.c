/* ADD float32 with broadcasting, TFLite reference_ops::Add (see tq_float.h). */
#include "tq_float.h"

tq_status tq_add_f32(const tq_add_f32_params *p, const float *in1, const float *in2, float *out)
{
    for (int32_t k = 0; k < p->shape.size; ++k) {
        int32_t a, b;
        tq_bcast_offsets(&p->shape, k, &a, &b);
        out[k] = tq_clamp_f32(in1[a] + in2[b], p->act_min, p->act_max);
    }
    return TQ_OK;
}
