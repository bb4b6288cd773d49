/* SUB int32 with broadcasting, reference_ops::SubWithActivation / BroadcastSubSlow: clamp(in1 - in2), wrapping (see tq_elementwise.h). */
#include "tq_elementwise.h"

tq_status tq_sub_s32(const tq_sub_s32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out)
{
    const tq_bcast_s8 s = p->shape;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t v = (int32_t)((uint32_t)in1[it.i1] - (uint32_t)in2[it.i2]);
        out[it.k] = v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v;
    }
    return TQ_OK;
}
