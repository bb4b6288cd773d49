/*
 * DIV float32 with broadcasting, TFLite reference_ops::Div / BroadcastDivSlow: clamp(in1 / in2)
 * (see tq_float.h). A division by zero gives an infinity (or a NaN for 0 / 0) that the clamp takes
 * to the fused activation's bound (+-FLT_MAX for NONE), as TFLite's does; a NaN passes the clamp.
 */
#include "tq_float.h"

tq_status tq_div_f32(const tq_div_f32_params *p, const float *in1, const float *in2, float *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        out[it.k] = tq_clamp_f32(in1[it.i1] / in2[it.i2], p->act_min, p->act_max);
    }
    return TQ_OK;
}
