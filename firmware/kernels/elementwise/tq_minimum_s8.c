/*
 * MINIMUM, int8, with broadcasting (see tq_elementwise.h): reference_ops::MaximumMinimumBroadcastSlow with
 * maximum_minimum.cc's comparison, in1 < in2 ? in1 : in2. The quantized values compare as stored.
 */
#include "tq_elementwise.h"

tq_status tq_minimum_s8(const tq_minimum_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int8_t a = in1[it.i1], b = in2[it.i2];
        out[it.k] = a < b ? a : b;
    }
    return TQ_OK;
}
