/*
 * MINIMUM, int16, with broadcasting (see tq_int16.h): reference_ops::MaximumMinimumBroadcastSlow with
 * maximum_minimum.cc's comparison, in1 < in2 ? in1 : in2. The quantized values compare as stored.
 */
#include "tq_int16.h"

tq_status tq_minimum_s16(const tq_minimum_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int16_t a = in1[it.i1], b = in2[it.i2];
        out[it.k] = a < b ? a : b;
    }
    return TQ_OK;
}
