/*
 * FULLY_CONNECTED int8 with packed low-bit weights (tq_packed.h): tq_fully_connected_s8's arithmetic
 * (TFLite reference_integer_ops::FullyConnected / FullyConnectedPerChannel with float scales), each row
 * walked a byte at a time, 8 / b weights a load.
 */
#include "tq_packed.h"

/* (int32_t)std::round((double)acc * scale): half away from zero, exact, no libm (tq_fully_connected_s8's). */
static int32_t tq_fc_packed_requantize(int32_t acc, double scale)
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

tq_status tq_fully_connected_packed_s8(const tq_fully_connected_packed_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth;
    const int32_t lg_bits = p->w.lg_bits;
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)depth;
        /* sum of (x + in_offset): the weights offset's term, and the 1-bit rows' v0 term */
        uint32_t sum_x = 0;
        for (d = 0; d < depth; ++d) {
            sum_x += (uint32_t)((int32_t)x[d] + p->in_offset);
        }
        for (oc = 0; oc < p->out_depth; ++oc) {
            const uint8_t *row = p->w.rows + (size_t)oc * (size_t)p->w.row_bytes;
            const int8_t *table = tq_packed_table(&p->w, oc);
            int32_t acc;
            if (lg_bits == 0) {
                /* only the inputs whose bit is set: one add (and a mask) per weight, 8 weights a byte */
                int32_t set = 0;
                for (d = 0; d + 8 <= depth; d += 8) {
                    uint32_t byte = row[d >> 3];
                    int32_t j;
                    for (j = 0; j < 8; ++j) {
                        set += ((int32_t)x[d + j] + p->in_offset) & -(int32_t)(byte & 1u);
                        byte >>= 1;
                    }
                }
                if (d < depth) {
                    uint32_t byte = row[d >> 3];
                    for (; d < depth; ++d) {
                        set += ((int32_t)x[d] + p->in_offset) & -(int32_t)(byte & 1u);
                        byte >>= 1;
                    }
                }
                acc = tq_packed_combine1(table, (int32_t)sum_x, set);
            } else {
                acc = tq_packed_dot(row, table, lg_bits, 0, depth, x, 1, p->in_offset);
            }
            acc = (int32_t)((uint32_t)acc + (uint32_t)p->w_offset * sum_x);
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = tq_fc_packed_requantize(acc, p->scale[oc]);
            acc += p->out_offset;
            acc = TQ_CLAMP(acc, p->act_min, p->act_max);
            *output++ = (int8_t)acc;
        }
    }
    return TQ_OK;
}
