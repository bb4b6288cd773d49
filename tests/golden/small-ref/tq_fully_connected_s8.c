/*
 * FULLY_CONNECTED int8: TFLite reference_integer_ops::FullyConnected (per-tensor weights, with
 * weights offset) and FullyConnectedPerChannel (w_offset 0), in the variants with float scales
 * that the builtin op's kReference kernel calls: requantization in double precision.
 */
#include "tq_conv.h"

/* (int32_t)std::round((double)acc * scale): half away from zero, exact, no libm. */
static int32_t tq_fc_requantize(int32_t acc, double scale)
{
    const double v = (double)acc * scale;
    int64_t t;
    if (v >= 1073741824.0) {
        return 1073741824;
    }
    if (v <= -1073741824.0) {
        return -1073741824;
    }
    t = (int64_t)v; /* toward zero */
    if (v >= (double)t + 0.5) {
        t += 1;
    } else if (v <= (double)t - 0.5) {
        t -= 1;
    }
    return (int32_t)t;
}

tq_status tq_fully_connected_s8(const tq_fully_connected_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth;
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)depth;
        for (oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *w = p->weights + (size_t)oc * (size_t)depth;
            int32_t acc = 0;
            for (d = 0; d < depth; ++d) {
                acc += ((int32_t)w[d] + p->w_offset) * ((int32_t)x[d] + p->in_offset);
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = tq_fc_requantize(acc, p->scale[oc]);
            acc += p->out_offset;
            acc = TQ_CLAMP(acc, p->act_min, p->act_max);
            *output++ = (int8_t)acc;
        }
    }
    return TQ_OK;
}
