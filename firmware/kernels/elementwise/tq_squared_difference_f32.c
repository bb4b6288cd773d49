/*
 * SQUARED_DIFFERENCE float32 with broadcasting: squared_difference.cc's SquaredDifference<float>,
 * d = in1 - in2, d * d, no clamp (see tq_float.h).
 */
#include "tq_float.h"

tq_status tq_squared_difference_f32(const tq_squared_difference_f32_params *p, const float *in1, const float *in2,
                                    float *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const float d = in1[it.i1] - in2[it.i2];
        out[it.k] = d * d;
    }
    return TQ_OK;
}
