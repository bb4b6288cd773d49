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
    const uint64_t mask = ((uint64_t)1 << (32 + (q[1] & 31))) - 1u, g = (uint32_t)q[1] >> 6; /* t < 64 */
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
/* acc[r] += row r of the quad at w . x over the depth (rows g bytes at a time, x read up to depth):
   with split (g 4), the loop's sums of tq_fc_dsp.h (per pair of depth, stored as (w1 + 128, w0):
   w0 (x0 + 129) + (w1 + 128)(x1 + 1); x 0 past depth). */
static void tq_fc_quad(const tq_fully_connected_fast_s8_params *p, const int8_t *w, const int8_t *x, int32_t *acc)
{
    const int32_t depth = p->accum_depth, k = p->k, g = p->group;
#if defined(TQ_GEMM_MVE)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
    (void)g;
    for (i = 0; i < k; i += 16, w += 64) { /* g == 16, split 0 */
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
    for (i = 0; i < k; i += g, w += 4 * g) {
        for (r = 0; r < 4; ++r) {
            const int8_t *const wr = w + r * g;
            int32_t s = acc[r];
            for (j = 0; j < g; j += 2) {
                const int32_t x0 = i + j < depth ? x[i + j] : 0, x1 = i + j + 1 < depth ? x[i + j + 1] : 0;
                if (p->split) {
                    s += (int32_t)wr[j + 1] * (x0 + 129) + (int32_t)(uint8_t)wr[j] * (x1 + 1);
                } else {
                    s += (int32_t)wr[j] * x0 + (int32_t)wr[j + 1] * x1;
                }
            }
            acc[r] = s;
        }
    }
#endif
}
#endif

#if defined(TQ_GEMM_DSP)
/* The input row on the DSP loop's terms: made into its operands in scratch (fc_prep; the last word
   zero-padded) or read as it is; xs the sums of the odd and of all values. */
static void tq_fc_operands(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int32_t *scratch,
                           tq_fc_job *job, int32_t *xs)
{
    const int32_t depth = p->accum_depth, words = depth / 4, rest = depth - 4 * words;
    int32_t s[2] = {0, 0}, i;
#if TQ_CFG_FC_PREP
    if (p->fc_prep) {
        /* Per lane: Y 256 x1 + 127 - x0, X x0 + 129: their sums give the sums of the even and of
           the odd values, k / 2 lanes each. */
        const int32_t lanes = p->k / 2;
        int32_t t[2];
        uint32_t tail = 0;
        for (i = 0; i < rest; ++i) {
            tail |= (uint32_t)(uint8_t)input[4 * words + i] << (8 * i);
        }
        if (words > 0) {
            tq_fc_prep_dsp(input, words, (uint32_t *)scratch, s);
        }
        if (rest > 0) {
            tq_fc_prep_dsp((const int8_t *)&tail, 1, (uint32_t *)scratch + 2 * words, t);
            s[0] += t[0];
            s[1] += t[1];
        }
        xs[0] = (s[0] + s[1]) / 256 - lanes;
        xs[1] = xs[0] + s[1] - 129 * lanes;
        job->x = (const int8_t *)scratch;
        job->x_end = (const int8_t *)(scratch + p->k / 2);
        return;
    }
#endif
#if TQ_CFG_FC_INLINE
    if (words > 0) {
        tq_fc_sums_dsp(input, words, s);
    }
#endif
    for (i = 0; i < rest; ++i) {
        s[i & 1] += input[4 * words + i];
    }
    xs[0] = s[1];
    xs[1] = s[0] + s[1];
    /* The last word read whole: the weights past the depth are stored so that its bytes there add
       nothing (tq_fc_dsp.S). */
    job->x = input;
    job->x_end = input + 4 * (words + (rest > 0));
    (void)scratch;
}
#endif

#if defined(TQ_GEMM_DSP)
/* Quad i's sums (tq_fc_dsp.S's) requantized here: every output, or with `near` those near a
   rounding boundary. */
static void tq_fc_redo(const tq_fully_connected_fast_s8_params *p, tq_fc_job *job, int8_t *output, int32_t i, int32_t near)
{
    int32_t sums[4], r;
    job->w = p->weights + (size_t)i * 4 * p->k;
    job->q = NULL;
    job->out = sums;
    job->bias = p->bias + 4 * i;
    job->bias_end = job->bias + 4;
    (void)tq_fc_quads_dsp(job);
    for (r = 0; r < 4 && 4 * i + r < p->out_depth; ++r) {
        if (!near || tq_fc_near(p, sums[r], 4 * i + r)) {
            output[4 * i + r] = tq_fc_out(p, sums[r], 4 * i + r);
        }
    }
}
#endif

tq_status tq_fully_connected_fast_s8(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output,
                                     int32_t *scratch)
{
    const int32_t depth = p->accum_depth, units = p->out_depth, k = p->k, quads = (units + 3) / 4;
    int32_t b, i;

    for (b = 0; b < p->batches; ++b, input += depth, output += units) {
#if defined(TQ_GEMM_DSP)
        {
            /* The quads of rows in tq_fc_dsp.S, requantized there; a quad of a guarded layer whose
               sums came near a rounding boundary (rare) ends the call: its sums are computed again
               and its outputs requantized here, as are a last partial quad's. */
            const int32_t full = p->guarded != 2 ? units / 4 : 0;
            int32_t xs[2], from = 0, n;
            tq_fc_job job;
            tq_fc_operands(p, input, scratch, &job, xs);
            job.add = p->w_offset * xs[1] - 128 * xs[0];
            job.lo4 = 0x01010101u * (uint8_t)p->act_min;
            job.hi4 = 0x01010101u * (uint8_t)p->act_max;
            job.flags = (p->act_min == -128 && p->act_max == 127 ? 0 : TQ_FC_CLAMP) | (TQ_CFG_FC_GUARD && p->guarded ? TQ_FC_GUARDED : 0)
                        | (p->fc_prep ? TQ_FC_PREP : 0);
            while (from < full) {
                job.w = p->weights + (size_t)from * 4 * k;
                job.bias = p->bias + 4 * from;
                job.q = p->quant + 16 * from;
                job.out = output + 4 * from;
                job.bias_end = p->bias + 4 * full;
                n = tq_fc_quads_dsp(&job);
                if (n == 0) {
                    break;
                }
                from += n;
                tq_fc_redo(p, &job, output, from - 1, 1);
            }
            for (i = full; i < quads; ++i) {
                tq_fc_redo(p, &job, output, i, 0);
            }
        }
#else
        int32_t add = 0, odd = 0, all = 0, r;
        for (i = 0; (p->w_offset != 0 || p->split) && i < depth; ++i) {
            all += input[i];
            odd += (i & 1) ? input[i] : 0;
        }
        add = p->w_offset * all - (p->split ? 128 * odd : 0);
        (void)scratch;
        for (i = 0; i < quads; ++i) {
            int32_t acc[4];
            for (r = 0; r < 4; ++r) {
                acc[r] = p->bias[4 * i + r] + add;
            }
            tq_fc_quad(p, p->weights + (size_t)i * 4 * k, input, acc);
            for (r = 0; r < 4 && 4 * i + r < units; ++r) {
                output[4 * i + r] = tq_fc_out(p, acc[r], 4 * i + r);
            }
        }
#endif
    }
    return TQ_OK;
}
