/* ADD float32 with broadcasting, TFLite reference_ops::Add: clamp(in1 + in2) (see tq_float.h). */
#include "tq_float.h"

tq_status tq_add_f32(const tq_add_f32_params *p, const float *in1, const float *in2, float *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = tq_clamp_f32(in1[it.i1] + in2[it.i2], p->act_min, p->act_max);
    }
    return TQ_OK;
}
