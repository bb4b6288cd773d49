/*
 * MAXIMUM, float32, with broadcasting (see tq_float.h): reference_ops::MaximumMinimumBroadcastSlow with
 * maximum_minimum.cc's comparison, in1 > in2 ? in1 : in2 (a NaN in1 gives in2).
 */
#include "tq_float.h"

tq_status tq_maximum_f32(const tq_maximum_f32_params *p, const float *in1, const float *in2, float *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const float a = in1[it.i1], b = in2[it.i2];
        out[it.k] = a > b ? a : b;
    }
    return TQ_OK;
}
