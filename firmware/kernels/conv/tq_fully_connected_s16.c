/* FULLY_CONNECTED, int16 activations, int8 weights: reference FullyConnected / FullyConnectedPerChannel with float scales, int64 bias (see tq_int16.h). */
#include "tq_int16.h"

/* (int32_t)std::round((double)acc * scale), half away from zero, without libm; saturates at
   +-2^30, far outside the int16 activation range the result is clamped to. */
static int32_t tq_fc16_round(int64_t acc, double scale)
{
    const double v = (double)acc * scale;
    if (v >= 1073741824.0) {
        return 1073741824;
    }
    if (v <= -1073741824.0) {
        return -1073741824;
    }
    int64_t t = (int64_t)v;
    const double frac = v - (double)t;
    if (frac >= 0.5) {
        t += 1;
    } else if (frac <= -0.5) {
        t -= 1;
    }
    return (int32_t)t;
}

tq_status tq_fully_connected_s16(const tq_fully_connected_s16_params *p, const int16_t *input, int16_t *output)
{
    const int32_t depth = p->accum_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *row = input + (size_t)b * (size_t)depth;
        for (int32_t oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *w = p->weights + (size_t)oc * (size_t)depth;
            int64_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                acc += (int64_t)(((int32_t)w[d] + p->w_offset) * (int32_t)row[d]);
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            const int32_t r = tq_fc16_round(acc, p->scale[oc]);
            *output++ = (int16_t)TQ_CLAMP(r, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
