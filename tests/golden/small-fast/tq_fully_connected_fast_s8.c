/* FULLY_CONNECTED, four rows at a time from interleaved weights (see tq_conv_fast.h). */
/* The loop over the depth is tq_fc_dsp.S's on the DSP extension; the rest runs once per output or
   per call: built for size. */
#pragma GCC optimize("Os")
#include "tq_conv_fast.h"

#if defined(TQ_GEMM_DSP)
#include "tq_fc_dsp.h"
#endif

/* Whether row `row`'s sum lies within its guard of a rounding boundary (guarded layers; see
   tq_conv_fast.h): then the fixed-point form may differ from the double one. Always, for a layer
   whose scales no fixed-point form takes (guarded 2: every output by tq_fc_round). */
static int tq_fc_near(const tq_fully_connected_fast_s8_params *p, int32_t acc, int32_t row)
{
    const int32_t *q = p->quant + 4 * row;
    const uint64_t y = (uint64_t)(int64_t)acc * (uint64_t)(int64_t)q[0] + (((uint64_t)(uint32_t)q[3] << 32) | (uint32_t)q[2]);
    const uint64_t mask = ((uint64_t)1 << (32 + (q[1] & 31))) - 1u, g = (uint32_t)q[1] >> 8;
    return TQ_CFG_FC_GUARD && p->guarded && (p->guarded == 2 || ((y + g) & mask) < 2 * g);
}

/* One row's sum requantized in fixed point (q: mult, t, rnd low, rnd high), or near a rounding
   boundary of a guarded layer by tq_fc_round of the double scale; clamped. */
static __attribute__((noinline)) int8_t tq_fc_out(const tq_fully_connected_fast_s8_params *p, int32_t acc, int32_t row)
{
    const int32_t *q = p->quant + 4 * row;
    const int64_t rnd = (int64_t)(((uint64_t)(uint32_t)q[3] << 32) | (uint32_t)q[2]);
    int32_t v = (int32_t)(((int64_t)acc * q[0] + rnd) >> 32) >> (q[1] & 31);
    if (tq_fc_near(p, acc, row)) {
        v = tq_fc_round(acc, p->scale_m[row], p->scale_e[row]) + p->out_offset;
    }
    return (int8_t)TQ_CLAMP(v, p->act_min, p->act_max);
}

#if !defined(TQ_GEMM_DSP)
/* acc[r] += row r of the quad at w . x over the depth (rows g bytes at a time, x read up to depth). */
static void tq_fc_quad(const int8_t *w, const int8_t *x, int32_t depth, int32_t k, int32_t g, int32_t *acc)
{
#if defined(TQ_GEMM_MVE)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
    (void)g;
    for (i = 0; i < k; i += 16, w += 64) { /* g == 16 */
        const int8x16_t xv = vldrbq_z_s8(x + i, vctp8q((uint32_t)(depth - i)));
        a0 = vmladavaq_s8(a0, vldrbq_s8(w), xv);
        a1 = vmladavaq_s8(a1, vldrbq_s8(w + 16), xv);
        a2 = vmladavaq_s8(a2, vldrbq_s8(w + 32), xv);
        a3 = vmladavaq_s8(a3, vldrbq_s8(w + 48), xv);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    int32_t i, j, r;
    (void)k;
    for (i = 0; i < depth; i += g, w += 4 * g) {
        const int32_t n = depth - i < g ? depth - i : g;
        for (r = 0; r < 4; ++r) {
            int32_t s = acc[r];
            for (j = 0; j < n; ++j) {
                s += (int32_t)w[r * g + j] * x[i + j];
            }
            acc[r] = s;
        }
    }
#endif
}
#endif

tq_status tq_fully_connected_fast_s8(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth, k = p->k, quads = (units + 3) / 4;
    int32_t b, i, r;

    for (b = 0; b < p->batches; ++b, input += depth, output += units) {
        int32_t add = 0;
        if (p->w_offset != 0) {
            int32_t s = 0;
            for (i = 0; i < depth; ++i) {
                s += input[i];
            }
            add = p->w_offset * s;
        }
#if defined(TQ_GEMM_DSP)
        {
            /* Depth a multiple of 4: the quads of rows in tq_fc_dsp.S, requantized there; where a
               guarded layer's sum came near a rounding boundary (rare), the sums are computed
               again, a quad at a time, and those outputs requantized here. Else (and a last
               partial quad) the sums of the depth's multiple of 4 from there, the rest here. */
            const int32_t d4 = depth & ~3, full = depth == d4 && p->guarded != 2 ? units / 4 : 0;
            int32_t sums[4];
            tq_fc_job job;
            job.x = input;
            job.x_end = input + d4;
            job.w = p->weights;
            job.bias = p->bias;
            job.q = p->quant;
            job.out = output;
            job.bias_end = p->bias + 4 * full;
            job.add = add;
            job.lo4 = 0x01010101u * (uint8_t)p->act_min;
            job.hi4 = 0x01010101u * (uint8_t)p->act_max;
            job.flags = (p->act_min == -128 && p->act_max == 127 ? 0 : TQ_FC_CLAMP) | (TQ_CFG_FC_GUARD && p->guarded ? TQ_FC_GUARDED : 0);
            i = full > 0 && tq_fc_quads_dsp(&job) > 0 ? 0 : full; /* the first quad to do again, or here */
            for (; i < quads; ++i) {
                const int8_t *const w = p->weights + (size_t)i * 4 * k;
                for (r = 0; r < 4; ++r) {
                    sums[r] = p->bias[4 * i + r] + add;
                }
                if (d4 > 0) {
                    job.w = w;
                    job.q = NULL;
                    job.out = sums;
                    job.bias = p->bias + 4 * i;
                    job.bias_end = job.bias + 4;
                    (void)tq_fc_quads_dsp(&job);
                }
                for (r = 0; r < 4 && 4 * i + r < units; ++r) {
                    int32_t d;
                    for (d = d4; d < depth; ++d) {
                        sums[r] += (int32_t)w[d4 * 4 + r * 4 + (d - d4)] * input[d];
                    }
                    if (i >= full || tq_fc_near(p, sums[r], 4 * i + r)) {
                        output[4 * i + r] = tq_fc_out(p, sums[r], 4 * i + r);
                    }
                }
            }
        }
#else
        for (i = 0; i < quads; ++i) {
            int32_t acc[4];
            for (r = 0; r < 4; ++r) {
                acc[r] = p->bias[4 * i + r] + add;
            }
            tq_fc_quad(p->weights + (size_t)i * 4 * k, input, depth, k, p->group, acc);
            for (r = 0; r < 4 && 4 * i + r < units; ++r) {
                output[4 * i + r] = tq_fc_out(p, acc[r], 4 * i + r);
            }
        }
#endif
    }
    return TQ_OK;
}
