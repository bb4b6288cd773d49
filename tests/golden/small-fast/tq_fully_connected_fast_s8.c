/* FULLY_CONNECTED without floating point (see tq_conv_fast.h). */
/* The requantization runs once per output: built for size. */
#pragma GCC optimize("Os")
#include "tq_conv_fast.h"

#if defined(TQ_GEMM_DSP)
/* acc0 += row0 . x, acc1 += row1 . x over n bytes (a multiple of 4): SXTB16 + SMLAD, x extended
   once for both rows. */
static void tq_fc_dot2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1, i;
    for (i = 0; i < n; i += 4) {
        const int32_t xv = tq_read_s8x4(x + i), v0 = tq_read_s8x4(w0 + i), v1 = tq_read_s8x4(w1 + i);
        const int32_t xe = __sxtb16(xv), xo = tq_sxtb16_ror8(xv);
        s0 = __smlad(__sxtb16(v0), xe, s0);
        s0 = __smlad(tq_sxtb16_ror8(v0), xo, s0);
        s1 = __smlad(__sxtb16(v1), xe, s1);
        s1 = __smlad(tq_sxtb16_ror8(v1), xo, s1);
    }
    *acc0 = s0;
    *acc1 = s1;
}
#endif

tq_status tq_fully_connected_fast_s8(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth;
    const int32_t in_off = p->in_offset, w_off = p->w_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * depth;
        int32_t next = 0, have_next = 0; /* the second row's sum of a pair done together */
        for (oc = 0; oc < units; ++oc) {
            const int8_t *w = p->weights + (size_t)oc * depth;
            int32_t acc, v;
            if (have_next) {
                acc = next;
                have_next = 0;
            } else {
                acc = p->bias != NULL ? p->bias[oc] : 0;
                d = 0;
#if defined(TQ_GEMM_DSP)
                /* With the input offset in the bias: two rows at once, then their last depth % 4 terms. */
                if (in_off == 0 && w_off == 0 && oc + 1 < units) {
                    next = p->bias != NULL ? p->bias[oc + 1] : 0;
                    d = depth & ~3;
                    tq_fc_dot2(x, w, w + depth, d, &acc, &next);
                    for (v = d; v < depth; ++v) {
                        next += (int32_t)w[depth + v] * x[v];
                    }
                    have_next = 1;
                }
#endif
                for (; d < depth; ++d) {
                    acc += ((int32_t)w[d] + w_off) * ((int32_t)x[d] + in_off);
                }
            }
            v = tq_fc_round(acc, p->scale_m[oc], p->scale_e[oc]) + zo;
            *output++ = (int8_t)TQ_CLAMP(v, lo, hi);
        }
    }
    return TQ_OK;
}
