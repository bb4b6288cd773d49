/* FULLY_CONNECTED, four rows at a time from interleaved weights (see tq_conv_fast.h). */
/* The loop over the depth is tq_fc_dsp.S's on the DSP extension; the rest runs once per output or
   per call: built for size. On Helium tq_fc_mve runs a whole batch (built for speed). */
#pragma GCC optimize("Os")
#include <string.h>

/* The loops over the depth built for speed (gcc; clang has no optimize attribute and builds them as
   the whole file). */
#if defined(__clang__)
#define TQ_FC_O2
#else
#define TQ_FC_O2 __attribute__((optimize("O2")))
#endif

#include "tq_conv_fast.h"

#if defined(TQ_GEMM_DSP)
#include "tq_fc_dsp.h"
/* Some layer reads int8 weights (tq_fc_quads_dsp); else only int16 ones (tq_fc_wide_dsp). */
#define TQ_FC_NARROW (TQ_CFG_FC_PREP || TQ_CFG_FC_FLIP || TQ_CFG_FC_INLINE)
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

#if defined(TQ_GEMM_MVE)
/* The sum of x[0 .. n) (n > 0): a tail-predicated low-overhead loop, 3 instructions per 16 bytes. */
static int32_t tq_fc_mve_sum(const int8_t *x, int32_t n)
{
    int32_t s = 0;
    __asm__ volatile("dlstp.8 lr, %[n]\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[x]], #16\n\t"
                     "vaddva.s8 %[s], q0\n\t"
                     "letp   lr, 1b"
                     : [x] "+r"(x), [s] "+Te"(s)
                     : [n] "r"(n)
                     : "q0", "lr", "memory");
    return s;
}

/*
 * One quad of rows (*w: [k / 16][4][16], left past them) against x over depth (> 0): a tail-predicated
 * low-overhead loop (10 instructions per 16 of depth; lanes past depth read nothing and add nothing),
 * the four sums in lanes 0-3.
 */
static inline __attribute__((always_inline)) int32x4_t tq_fc_mve_dot4(const int8_t **w, const int8_t *x, int32_t depth)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const int8_t *wp = *w;
    int32x4_t acc;
    __asm__ volatile("dlstp.8 lr, %[n]\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[x]], #16\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vldrb.u8  q2, [%[w]], #16\n\t"
                     "vmlava.s8 %[s0], q1, q0\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vmlava.s8 %[s1], q2, q0\n\t"
                     "vldrb.u8  q2, [%[w]], #16\n\t"
                     "vmlava.s8 %[s2], q1, q0\n\t"
                     "vmlava.s8 %[s3], q2, q0\n\t"
                     "letp   lr, 1b\n\t"
                     "vmov   %q[acc][2], %q[acc][0], %[s0], %[s2]\n\t"
                     "vmov   %q[acc][3], %q[acc][1], %[s1], %[s3]"
                     : [w] "+r"(wp), [x] "+r"(x), [s0] "+Te"(s0), [s1] "+Te"(s1), [s2] "+Te"(s2), [s3] "+Te"(s3),
                       [acc] "=w"(acc)
                     : [n] "r"(depth)
                     : "q0", "q1", "q2", "lr", "memory");
    *w = wp;
    return acc;
}

/*
 * One quad's sums (acc) requantized as tq_fc_out's fixed-point form, lane by lane: with
 * P = sum * mult = h 2^32 + l, ((P + rnd) >> 32) >> t is (h + rnd_hi + carry of l + rnd_lo) >> t
 * (VMULH, VMUL, the carry by a compare; int32 wrapping as the scalar cast), clamped. The constants
 * are gathered through qa (lane j: row j's quant words; advanced 64 bytes to the quad first). With
 * GUARD (guarded layers) `near` gets the lanes whose low 32 bits of P + rnd + guard lie below twice the
 * guard, a necessary condition of tq_fc_near. VPR is written (the dummy output vpr tells GCC; clang
 * has no constraint nor clobber for VPR, and no predicate is live across these statements: the
 * tail's VCTP comes after); the quant words read are constants.
 */
#if defined(__clang__)
#define TQ_FC_VPR "=r"
#else
#define TQ_FC_VPR "=Up"
#endif
#define TQ_FC_MVE_REQ(GUARD)                                                                                 \
    __asm__("vldrw.u32 %q[m], [%q[qa], #64]!\n\t"                                                          \
            "vldrw.u32 %q[s], [%q[qa], #8]\n\t"                                                            \
            "vmul.i32  %q[l], %q[acc], %q[m]\n\t"                                                          \
            "vmulh.s32 %q[m], %q[acc], %q[m]\n\t"                                                          \
            "vadd.i32  %q[s], %q[l], %q[s]\n\t"                                                            \
            "vcmp.u32  hi, %q[l], %q[s]\n\t"                                                               \
            "vldrw.u32 %q[l], [%q[qa], #12]\n\t"                                                           \
            "vadd.i32  %q[m], %q[m], %q[l]\n\t"                                                            \
            "vpst\n\t"                                                                                     \
            "vaddt.i32 %q[m], %q[m], %[one]\n\t"                                                           \
            "vldrw.u32 %q[l], [%q[qa], #4]\n\t"                                                            \
            "vneg.s32  %q[l], %q[l]\n\t"                                                                   \
            "vshl.s32  %q[m], %q[m], %q[l]\n\t"                                                            \
            "vmax.s32  %q[m], %q[m], %q[lo]\n\t"                                                           \
            "vmin.s32  %q[m], %q[m], %q[hi]" GUARD                                                         \
            : [m] "=&w"(v), [s] "=&w"(sv), [l] "=&w"(lv), [qa] "+w"(qa), [near] "+r"(near), [vpr] TQ_FC_VPR(vpr)\
            : [acc] "w"(acc), [lo] "w"(lo), [hi] "w"(hi), [one] "r"(1))
#define TQ_FC_MVE_GUARD                                                                                      \
    "\n\tvldrw.u32 %q[l], [%q[qa], #4]\n\t"                                                                \
    "vshr.u32  %q[l], %q[l], #6\n\t"                                                                       \
    "vadd.i32  %q[s], %q[s], %q[l]\n\t"                                                                    \
    "vadd.i32  %q[l], %q[l], %q[l]\n\t"                                                                    \
    "vcmp.u32  hi, %q[l], %q[s]\n\t"                                                                       \
    "vmrs      %[near], p0"

/*
 * Every row of one batch: four rows a pass (tq_fc_mve_dot4), requantized four at once
 * (TQ_FC_MVE_REQ); on a guarded layer a quad with a lane near a rounding boundary goes to tq_fc_out
 * (exact), as every quad of a layer with guarded 2 does.
 */
static TQ_FC_O2 void tq_fc_mve(const tq_fully_connected_fast_s8_params *p, const int8_t *input,
                                                      int8_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int guarded = TQ_CFG_FC_GUARD && p->guarded, all = guarded && p->guarded == 2;
    const int8_t *w = p->weights;
    const int32_t *bias = p->bias;
    const int32_t add = p->w_offset != 0 ? p->w_offset * tq_fc_mve_sum(input, depth) : 0;
    uint32x4_t qa = vaddq_n_u32(vshlq_n_u32(vidupq_n_u32(0u, 4), 2), (uint32_t)(uintptr_t)p->quant - 64u);
    int32_t i;
    for (i = 0; i < units; i += 4, bias += 4, output += 4) {
        const int32x4_t acc = vaddq_s32(tq_fc_mve_dot4(&w, input, depth), vaddq_n_s32(vld1q_s32(bias), add));
        int32x4_t v;
        uint32x4_t sv, lv;
        uint32_t near = 0;
        mve_pred16_t vpr;
        if (guarded) {
            TQ_FC_MVE_REQ(TQ_FC_MVE_GUARD);
        } else {
            TQ_FC_MVE_REQ("");
        }
        (void)vpr;
        (void)sv;
        (void)lv;
        if (i + 4 <= units) {
            vstrbq_s32(output, v);
        } else {
            vstrbq_p_s32(output, v, vctp32q((uint32_t)(units - i)));
        }
        if (guarded && ((near & 0xffffu) != 0 || all)) {
            int32_t a[4], r;
            vst1q_s32(a, acc);
            for (r = 0; r < 4 && i + r < units; ++r) {
                output[r] = tq_fc_out(p, a[r], i + r);
            }
        }
    }
}
#undef TQ_FC_MVE_REQ
#undef TQ_FC_MVE_GUARD
#undef TQ_FC_VPR
#endif

#if !defined(TQ_GEMM_DSP) && !defined(TQ_GEMM_MVE)
/* acc[r] += row r of the quad at w . x over the depth (rows g bytes at a time, x read up to depth):
   with split (g 4), the loop's sums of tq_fc_dsp.S (per 4 of depth, bytes b stored as (w3 + 128, w2,
   w1 + 128, w0), 0 past the depth: b1 (x2 + 128) - b3 (127 - x0) + b2 x1 + b0 (1 + x3), b0 and b2
   unsigned; x 0 past depth). */
static void tq_fc_quad(const tq_fully_connected_fast_s8_params *p, const int8_t *w, const int8_t *x, int32_t *acc)
{
    const int32_t depth = p->accum_depth, k = p->k, g = p->group;
    int32_t i, j, r;
    for (i = 0; i < k; i += g, w += 4 * g) {
        int32_t v[16];
        for (j = 0; j < g; ++j) {
            v[j] = i + j < depth ? x[i + j] : 0;
        }
        for (r = 0; r < 4; ++r) {
            const int8_t *const wr = w + r * g;
            int32_t s = acc[r];
            if (p->split) {
                s += (int32_t)wr[1] * (v[2] + 128) - (int32_t)wr[3] * (127 - v[0]) + (int32_t)(uint8_t)wr[2] * v[1]
                     + (int32_t)(uint8_t)wr[0] * (1 + v[3]);
            } else {
                for (j = 0; j < g; ++j) {
                    s += (int32_t)wr[j] * v[j];
                }
            }
            acc[r] = s;
        }
    }
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_FC_NARROW
/* The input row on the DSP loop's terms: made into its operands in scratch (fc_prep 1; the last word
   zero-padded), made into its Z words in place (fc_prep 2: the input dies with the layers reading it;
   word-aligned rows, generation sees to it), found so made by an earlier layer (fc_prep 3) or read as
   it is; xs the sums of the odd and of all values. The loop reads k bytes of input (past the depth,
   weights 0). */
static void tq_fc_operands(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int32_t *scratch,
                           tq_fc_job *job, int32_t *xs)
{
    const int32_t depth = p->accum_depth, words = depth / 4, rest = depth - 4 * words;
    int32_t s[2] = {0, 0}, i;
#if TQ_CFG_FC_PREP
    if (p->fc_prep == 1) {
        /* Per word Z = x ^ mask, P = UXTB16 Z: over n words the Z sum (low less high halfword) is
           256 odd - even + 255 n, the P one -even - n. */
        const int32_t n = words + (rest > 0);
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
        xs[0] = ((s[0] - s[1]) >> 8) - n; /* (exact) */
        xs[1] = xs[0] - s[1] - n;
        job->x = (const int8_t *)scratch;
        job->x_end = (const int8_t *)(scratch + p->k / 2);
        return;
    }
#endif
#if TQ_CFG_FC_FLIP
    if (p->fc_prep == 2) {
        int8_t *x = (int8_t *)(uintptr_t)input;
        if (words > 0 && p->w_offset == 0) {
            s[1] = tq_fc_flip_odd_dsp(x, words); /* (the even sum unused) */
        } else if (words > 0) {
            tq_fc_flip_dsp(x, words, s);
        }
        for (i = 0; i < rest; ++i) {
            s[i & 1] += x[4 * words + i];
            x[4 * words + i] = (int8_t)((uint8_t)x[4 * words + i] ^ (uint8_t)(TQ_FC_MASK >> (8 * i)));
        }
    } else if (p->fc_prep == 3) {
        /* Made into Z words by an earlier layer reading the same input (fc_prep 2): byte 0 less
           byte 2 summed is -even - words, byte 1 less byte 3 odd + words. */
        if (words > 0) {
            tq_fc_zsums_dsp(input, words, s);
            s[0] = -s[0] - words;
            s[1] -= words;
        }
        for (i = 0; i < rest; ++i) {
            s[i & 1] += (int8_t)((uint8_t)input[4 * words + i] ^ (uint8_t)(TQ_FC_MASK >> (8 * i)));
        }
    } else
#endif
    {
#if TQ_CFG_FC_INLINE
        if (words > 0) {
            tq_fc_sums_dsp(input, words, s);
        }
#endif
        for (i = 0; i < rest; ++i) {
            s[i & 1] += input[4 * words + i];
        }
    }
    xs[0] = s[1];
    xs[1] = s[0] + s[1];
    job->x = input;
    job->x_end = input + p->k;
    (void)scratch;
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_FC_NARROW && TQ_CFG_FC_ROW1
/* One row's term of tq_fc_dsp.S's loop: weight word w with the operands p (P) and z (Z). */
static inline __attribute__((always_inline)) int32_t tq_fc_row_term(int32_t s, uint32_t w, uint32_t p, uint32_t z)
{
    uint32_t e;
    __asm__("smlsdx %0, %1, %2, %0" : "+r"(s) : "r"(w), "r"(p));
    __asm__("uxtb16 %0, %1, ror #16" : "=r"(e) : "r"(w));
    __asm__("smlsd  %0, %1, %2, %0" : "+r"(s) : "r"(e), "r"(z));
    return s;
}

/* The sum of a last quad's only row (out_depth % 4 == 1): tq_fc_dsp.S's terms over the job's operands
   (any of the three forms; the in-place Z words by tq_fc_row1_dsp), the row's weight words stored
   alone (k bytes after the whole quads), the layer's chunks of depth (the sums 256 times the dot
   product); bias and add included. */
static TQ_FC_O2 int32_t tq_fc_row1(const tq_fully_connected_fast_s8_params *p, const tq_fc_job *job,
                                                           int32_t row)
{
    const uint32_t *w = (const uint32_t *)(const void *)(p->weights + (size_t)(uint32_t)row * (uint32_t)p->k);
    const int32_t words = p->k / 4;
    int32_t sum = job->bias[0] + job->add, i = 0;
    while (i < words) {
        const int32_t end = TQ_MIN(i + (1 << (p->chunk_lg - 2)), words);
        int32_t t = 0;
        if (TQ_CFG_FC_FLIP && (job->flags & TQ_FC_FLIP)) {
            t = tq_fc_row1_dsp(job->x + 4 * i, w + i, end - i);
            i = end;
        } else if (job->flags & TQ_FC_PREP) {
            const uint32_t *x = (const uint32_t *)(const void *)job->x;
#pragma GCC unroll 4
            for (; i < end; ++i) {
                t = tq_fc_row_term(t, w[i], x[2 * i + 1], x[2 * i]);
            }
        } else {
#pragma GCC unroll 4
            for (; i < end; ++i) {
                uint32_t z;
                memcpy(&z, job->x + 4 * i, 4);
                z ^= TQ_FC_MASK;
                t = tq_fc_row_term(t, w[i], z & 0x00FF00FFu, z);
            }
        }
        sum += t >> 8;
    }
    return sum;
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_CFG_FC_WIDE
/* One batch of a layer with int16 weights (p->wide): the whole quads in tq_fc_wide_dsp, requantized
   there; a last partial quad's sums, and every quad's of a guarded layer, computed there and
   requantized by tq_fc_out. The last depth % 4 bytes of the row go in the job's tail word: nothing
   past the row is read. */
static void tq_fc_wide(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->accum_depth, units = p->out_depth, words = depth / 4, rest = depth - 4 * words;
    const int32_t full = p->guarded ? 0 : units / 4, quads = (units + 3) / 4;
    tq_fc_wide_job job;
    int32_t i, r;
    job.x = input;
    job.x_end = input + 4 * words;
    job.tail = 0;
    for (i = 0; i < rest; ++i) {
        job.tail |= (uint32_t)(uint8_t)input[4 * words + i] << (8 * i);
    }
    job.w = p->wide;
    job.bias = p->bias;
    job.q = p->quant;
    job.out = output;
    job.quads = full;
    job.lo4 = 0x01010101u * (uint8_t)p->act_min;
    job.hi4 = 0x01010101u * (uint8_t)p->act_max;
    job.flags = (p->act_min == -128 && p->act_max == 127 ? 0 : TQ_FC_CLAMP) | (rest > 0 ? TQ_FC_TAIL : 0)
                | (TQ_CFG_FC_FLIP && p->fc_prep == 3 ? TQ_FC_FLIP : 0);
    if (full > 0) {
        tq_fc_wide_dsp(&job);
    }
    for (i = full; i < quads; ++i) {
        int32_t sums[4];
        job.w = p->wide + (size_t)(uint32_t)i * 4u * (uint32_t)p->k;
        job.bias = p->bias + 4 * i;
        job.out = sums;
        job.quads = 1;
        job.flags |= TQ_FC_RAW;
        tq_fc_wide_dsp(&job);
        for (r = 0; r < 4 && 4 * i + r < units; ++r) {
            output[4 * i + r] = tq_fc_out(p, sums[r], 4 * i + r);
        }
    }
}
#endif

#if defined(TQ_GEMM_DSP) && TQ_FC_NARROW
/* Quad i's sums (tq_fc_dsp.S's) requantized here: every output, or with `near` those near a
   rounding boundary. */
static void tq_fc_redo(const tq_fully_connected_fast_s8_params *p, tq_fc_job *job, int8_t *output, int32_t i, int32_t near)
{
    int32_t sums[4], r;
    job->w = p->weights + (size_t)(uint32_t)i * 4u * (uint32_t)p->k;
    job->out = sums;
    job->bias = p->bias + 4 * i;
    job->bias_end = job->bias + 4;
    job->flags |= TQ_FC_RAW;
    (void)tq_fc_quads_dsp(job);
    job->flags &= ~TQ_FC_RAW;
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
#if TQ_CFG_FC_WIDE
        if (p->wide != NULL) {
            tq_fc_wide(p, input, output);
            continue;
        }
#endif
#if TQ_FC_NARROW
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
                        | (TQ_CFG_FC_PREP && p->fc_prep == 1 ? TQ_FC_PREP : 0) | (TQ_CFG_FC_FLIP && p->fc_prep >= 2 ? TQ_FC_FLIP : 0)
                        | (p->chunk_lg << TQ_FC_CHUNK_SHIFT);
            while (from < full) {
                job.w = p->weights + (size_t)(uint32_t)from * 4u * (uint32_t)k;
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
#if TQ_CFG_FC_ROW1
                if (4 * i + 1 == units) { /* (its weights stored alone: never a quad) */
                    job.bias = p->bias + 4 * i;
                    output[4 * i] = tq_fc_out(p, tq_fc_row1(p, &job, 4 * i), 4 * i);
                    continue;
                }
#endif
                tq_fc_redo(p, &job, output, i, 0);
            }
        }
#else
        (void)k;
        (void)quads;
        (void)i;
        (void)scratch;
#endif
#elif defined(TQ_GEMM_MVE)
        (void)k;
        (void)quads;
        (void)i;
        (void)scratch;
        tq_fc_mve(p, input, output);
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
            tq_fc_quad(p, p->weights + (size_t)(uint32_t)i * 4u * (uint32_t)k, input, acc);
            for (r = 0; r < 4 && 4 * i + r < units; ++r) {
                output[4 * i + r] = tq_fc_out(p, acc[r], 4 * i + r);
            }
        }
#endif
    }
    return TQ_OK;
}
