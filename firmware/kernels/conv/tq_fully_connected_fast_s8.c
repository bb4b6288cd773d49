/* FULLY_CONNECTED without floating point (see tq_conv_fast.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_conv_fast.h"

tq_status tq_fully_connected_fast_s8(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth;
    const int32_t in_off = p->in_offset, w_off = p->w_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * depth;
        for (oc = 0; oc < units; ++oc) {
            const int8_t *w = p->weights + (size_t)oc * depth;
            int32_t acc = p->bias != NULL ? p->bias[oc] : 0, v;
            for (d = 0; d < depth; ++d) {
                acc += ((int32_t)w[d] + w_off) * ((int32_t)x[d] + in_off);
            }
            v = tq_fc_round(acc, p->scale_m[oc], p->scale_e[oc]) + zo;
            *output++ = (int8_t)TQ_CLAMP(v, lo, hi);
        }
    }
    return TQ_OK;
}
