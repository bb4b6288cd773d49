/* DEPTHWISE_CONV_2D one channel plane at a time (see tq_depthwise_plane.h). */
#include <string.h>

#include "tq_depthwise_plane.h"
#include "tq_features.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#include <arm_acle.h>
#define TQ_DWP_DSP 1
#else
#define TQ_DWP_DSP 0
#endif
#if TQ_DWP_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
#define TQ_DWP_ASM 1 /* tq_depthwise_plane_dsp.S */
#else
#define TQ_DWP_ASM 0
#endif

#if TQ_DWP_ASM
#include <stddef.h>

/* One output channel over a band of rows for tq_dwp_band3_dsp (its offsets are the assembler's). */
typedef struct {
    const int8_t *in;   /* tap row 0 of the band's first output row */
    int32_t row_w;      /* bytes between tap rows */
    int32_t in_step;    /* bytes between output rows' tap row 0: stride_h row_w */
    int8_t *out;        /* the band's first output of the channel */
    int32_t out_row;    /* out.w out.c */
    int32_t rows;       /* output rows in the band */
    int32_t pair_bytes; /* 2 (out.w / 2) out.c */
    int32_t odd;        /* out.w odd */
    int32_t step;       /* out.c */
    int32_t w02[3];     /* (w0, w2) of each tap row */
    int32_t w1ab;       /* (w1 of tap row 0, w1 of tap row 1) */
    int32_t w1c;        /* w1 of tap row 2 */
    int32_t bias, mult, radd, rsh;
    uint32_t lo4, hi4;
} tq_dwp_job;

typedef char tq_dwp_job_layout[(offsetof(tq_dwp_job, w02) == 36 && offsetof(tq_dwp_job, bias) == 56 &&
                                offsetof(tq_dwp_job, lo4) == 72 && sizeof(tq_dwp_job) == 80) ? 1 : -1];

void tq_dwp_band3_dsp(const tq_dwp_job *job, int32_t stride);

static int32_t tq_dwp_pair(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)hi << 16) | (uint16_t)lo);
}

/* The layer's constants in a job. */
static void tq_dwp_job_layer(tq_dwp_job *job, const tq_depthwise_conv_plane_s8_params *p)
{
    job->row_w = p->row_w;
    job->in_step = p->stride_h * p->row_w;
    job->out_row = p->out.w * p->out.c;
    job->pair_bytes = 2 * (p->out.w >> 1) * p->out.c;
    job->odd = p->out.w & 1;
    job->step = p->out.c;
    job->lo4 = 0x01010101u * (uint8_t)p->act_min;
    job->hi4 = 0x01010101u * (uint8_t)p->act_max;
}

/* SXTB16 of v rotated right by 8 bits: (x1, x3) of the bytes x0 x1 x2 x3. */
static inline int32_t tq_dwp_sxtb16_8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* Output channel o's constants in its job: the pairs from three words of its nine weights (w0..w3,
   w3..w6, w5..w8: none read past them), SXTB16 giving (w0, w2), (w3, w5), (w6, w8), (w1, w3) and (w4, w6). */
static void tq_dwp_job_init(tq_dwp_job *job, const tq_depthwise_conv_plane_s8_params *p, int32_t o)
{
    const int8_t *const w = p->weights + (size_t)o * 9;
    const int32_t *const k = p->quant + 4 * o;
    uint32_t a, b, c;
    memcpy(&a, w, 4);
    memcpy(&b, w + 3, 4);
    memcpy(&c, w + 5, 4);
    job->w02[0] = (int32_t)__sxtb16((int32_t)a);
    job->w02[1] = (int32_t)__sxtb16((int32_t)b);
    job->w02[2] = tq_dwp_sxtb16_8(c);
    job->w1ab = tq_dwp_pair(tq_dwp_sxtb16_8(a), tq_dwp_sxtb16_8(b)); /* the low halves: w1, w4 */
    job->w1c = w[7];
    job->bias = k[0];
    job->mult = k[1];
    job->radd = k[2];
    job->rsh = k[3];
}
#endif

/* One output channel's requantization and clamp, and where its outputs go. */
typedef struct {
    int32_t bias, k0, k1, k2; /* the channel's quant words */
    int32_t zo, lo, hi;
    int32_t step;             /* bytes between the channel's outputs in a row: out.c */
} tq_dwp_chan;

static inline __attribute__((always_inline)) int8_t tq_dwp_out(int32_t acc, const tq_dwp_chan *q, int gen)
{
    int32_t v;
    if (TQ_CFG_REQUANT_GEN && gen) {
        v = tq_requant_gen(acc, q->k0, q->k1, q->k2, q->zo);
    } else {
        v = tq_requant_mm(acc, q->k0, q->k1, q->k2);
    }
    return (int8_t)TQ_CLAMP(v, q->lo, q->hi);
}

/* Any window: tap by tap. rows[fy]: the padded row under tap row fy (column 0 = input column -pad_w). */
static __attribute__((noinline)) void tq_dwp_row_any(const tq_depthwise_conv_plane_s8_params *p, const int8_t *const *rows,
                                                     const int8_t *w, const tq_dwp_chan *q, int8_t *out, int gen)
{
    const int32_t ow = p->out.w, kh = p->kh, kw = p->kw, sw = p->stride_w, dw = p->dil_w;
    int32_t ox, fy, fx;
    for (ox = 0; ox < ow; ++ox, out += q->step) {
        const int8_t *wt = w;
        int32_t acc = q->bias;
        for (fy = 0; fy < kh; ++fy) {
            const int8_t *const r = rows[fy] + ox * sw;
            for (fx = 0; fx < kw; ++fx) {
                acc += (int32_t)r[fx * dw] * *wt++;
            }
        }
        *out = tq_dwp_out(acc, q, gen);
    }
}

#if TQ_DWP_DSP
static inline uint32_t tq_dwp_word(const int8_t *x)
{
    uint32_t v;
    memcpy(&v, x, 4);
    return v;
}

static inline int32_t tq_dwp_odd(uint32_t v) /* (x1, x3) of the bytes x0 x1 x2 x3 */
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* A 3x3 row of taps with stride 1 for two outputs: x0..x3 at r; w02 = (w0, w2), w1 = (w1, -). */
#define TQ_DWP_S1(r, w02, w1)                                                                                          \
    do {                                                                                                               \
        const uint32_t v_ = tq_dwp_word(r);                                                                            \
        const int32_t e_ = (int32_t)__sxtb16((int32_t)v_), o_ = tq_dwp_odd(v_);                                        \
        a0 = __smlad(e_, w02, a0);                                                                                     \
        a0 = __smlabb(o_, w1, a0);                                                                                     \
        a1 = __smlad(o_, w02, a1);                                                                                     \
        a1 = __smlatb(e_, w1, a1);                                                                                     \
    } while (0)

/* The same with stride 2: x0..x4 at r (outputs at x0 and x2). */
#define TQ_DWP_S2(r, w02, w1)                                                                                          \
    do {                                                                                                               \
        const uint32_t v_ = tq_dwp_word(r);                                                                            \
        const int32_t e_ = (int32_t)__sxtb16((int32_t)v_), o_ = tq_dwp_odd(v_), x4_ = (r)[4];                          \
        a0 = __smlad(e_, w02, a0);                                                                                     \
        a0 = __smlabb(o_, w1, a0);                                                                                     \
        a1 = __smlatb(e_, w02, a1);                                                                                    \
        a1 = __smlatb(o_, w1, a1);                                                                                     \
        a1 = __smlabt(x4_, w02, a1);                                                                                   \
    } while (0)
#endif

/* 3x3, dilation 1, stride s (1 or 2): two outputs an iteration, then a last one. */
static inline __attribute__((always_inline)) void tq_dwp_row3(int32_t ow, int32_t s, const int8_t *r0, const int8_t *r1,
                                                             const int8_t *r2, const int8_t *w, const tq_dwp_chan *q,
                                                             int8_t *out, int gen)
{
    const int32_t step = q->step;
    int32_t ox;
#if TQ_DWP_DSP
    const int32_t w02a = (int32_t)(((uint32_t)(uint16_t)w[2] << 16) | (uint16_t)w[0]), w1a = w[1];
    const int32_t w02b = (int32_t)(((uint32_t)(uint16_t)w[5] << 16) | (uint16_t)w[3]), w1b = w[4];
    const int32_t w02c = (int32_t)(((uint32_t)(uint16_t)w[8] << 16) | (uint16_t)w[6]), w1c = w[7];
    for (ox = 0; ox + 1 < ow; ox += 2, r0 += 2 * s, r1 += 2 * s, r2 += 2 * s, out += 2 * step) {
        int32_t a0 = q->bias, a1 = q->bias;
        if (s == 1) {
            TQ_DWP_S1(r0, w02a, w1a);
            TQ_DWP_S1(r1, w02b, w1b);
            TQ_DWP_S1(r2, w02c, w1c);
        } else {
            TQ_DWP_S2(r0, w02a, w1a);
            TQ_DWP_S2(r1, w02b, w1b);
            TQ_DWP_S2(r2, w02c, w1c);
        }
        out[0] = tq_dwp_out(a0, q, gen);
        out[step] = tq_dwp_out(a1, q, gen);
    }
#else
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
    for (ox = 0; ox + 1 < ow; ox += 2, r0 += 2 * s, r1 += 2 * s, r2 += 2 * s, out += 2 * step) {
        int32_t a0 = q->bias, a1 = q->bias;
        a0 += r0[0] * w0 + r0[1] * w1 + r0[2] * w2 + r1[0] * w3 + r1[1] * w4 + r1[2] * w5 + r2[0] * w6 + r2[1] * w7 + r2[2] * w8;
        a1 += r0[s] * w0 + r0[s + 1] * w1 + r0[s + 2] * w2 + r1[s] * w3 + r1[s + 1] * w4 + r1[s + 2] * w5 + r2[s] * w6
            + r2[s + 1] * w7 + r2[s + 2] * w8;
        out[0] = tq_dwp_out(a0, q, gen);
        out[step] = tq_dwp_out(a1, q, gen);
    }
#endif
    if (ox < ow) {
        const int32_t a = q->bias + r0[0] * w[0] + r0[1] * w[1] + r0[2] * w[2] + r1[0] * w[3] + r1[1] * w[4] + r1[2] * w[5]
                        + r2[0] * w[6] + r2[1] * w[7] + r2[2] * w[8];
        out[0] = tq_dwp_out(a, q, gen);
    }
}

/* Input row iy of channel c (stride in.c) into a padded row, after its pad_w border. */
static void tq_dwp_gather(int8_t *dst, const int8_t *src, int32_t n, int32_t c)
{
    int32_t i = 0;
    if (c == 1) {
        for (; i + 4 <= n; i += 4) {
            memcpy(dst + i, src + i, 4);
        }
        for (; i < n; ++i) {
            dst[i] = src[i];
        }
        return;
    }
    for (; i + 4 <= n; i += 4) {
        uint32_t v = (uint8_t)*src;
        src += c;
        v |= (uint32_t)(uint8_t)*src << 8;
        src += c;
        v |= (uint32_t)(uint8_t)*src << 16;
        src += c;
        v |= (uint32_t)(uint8_t)*src << 24;
        src += c;
        memcpy(dst + i, &v, 4);
    }
    for (; i < n; ++i, src += c) {
        dst[i] = *src;
    }
}

/* tq_dwp_gather over n consecutive input rows of short width w (their pixels follow each other at
   stride c) into padded rows row_w apart: two bytes a step, with less setup a row. */
static void tq_dwp_gather_rows(int8_t *dst, int32_t row_w, const int8_t *src, int32_t n, int32_t w, int32_t c)
{
    const int32_t skip = row_w - w;
    for (; n > 0; --n, dst += skip) {
        int32_t k;
        for (k = w; k > 1; k -= 2, dst += 2, src += 2 * c) {
            dst[0] = src[0];
            dst[1] = src[c];
        }
        if (k != 0) {
            *dst++ = *src;
            src += c;
        }
    }
}

/* Output channel o's nb rows of a band in C from the padded rows in scratch (out: its first output). Out
   of line, so that the 3x3 assembler's calls do not carry these loops' constants. */
static __attribute__((noinline)) void tq_dwp_rows(const tq_depthwise_conv_plane_s8_params *p, const int8_t *scratch,
                                                  int32_t o, int8_t *out, int32_t nb)
{
    const int32_t kh = p->kh, sh = p->stride_h, ow = p->out.w, sw = p->stride_w;
    const int32_t *const k = p->quant + 4 * o;
    const int8_t *const w = p->weights + (size_t)o * (size_t)(kh * p->kw);
    const size_t out_row = (size_t)ow * (size_t)p->out.c;
    const int gen = TQ_CFG_REQUANT_GEN && p->requant;
    const int three = kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 && (sw == 1 || sw == 2);
    const int8_t *rows[TQ_DWP_MAX_KH];
    tq_dwp_chan q;
    int32_t oy, fy;
    q.zo = p->out_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    q.step = p->out.c;
    q.bias = k[0];
    q.k0 = k[1];
    q.k1 = k[2];
    q.k2 = k[3];
    for (oy = 0; oy < nb; ++oy, out += out_row) {
        const int8_t *const top = scratch + (size_t)oy * (size_t)sh * (size_t)p->row_w;
        for (fy = 0; fy < kh; ++fy) {
            rows[fy] = top + (size_t)fy * (size_t)p->dil_h * (size_t)p->row_w;
        }
        if (three && sw == 1) {
            if (gen) {
                tq_dwp_row3(ow, 1, rows[0], rows[1], rows[2], w, &q, out, 1);
            } else {
                tq_dwp_row3(ow, 1, rows[0], rows[1], rows[2], w, &q, out, 0);
            }
        } else if (three) {
            if (gen) {
                tq_dwp_row3(ow, 2, rows[0], rows[1], rows[2], w, &q, out, 1);
            } else {
                tq_dwp_row3(ow, 2, rows[0], rows[1], rows[2], w, &q, out, 0);
            }
        } else {
            tq_dwp_row_any(p, rows, w, &q, out, gen);
        }
    }
}

tq_status tq_depthwise_conv_plane_s8(const tq_depthwise_conv_plane_s8_params *p, const int8_t *input, int8_t *output,
                                     int8_t *scratch)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, ch = p->in.c, m = p->mult, oc = p->out.c, oh = p->out.h, ow = p->out.w;
    const int32_t band = p->band, row_w = p->row_w, sh = p->stride_h;
    const int32_t span = (p->kh - 1) * p->dil_h + 1, pad_w = p->pad_w, zp = p->in_zp;
    const int short_rows = ch > 1 && in_w < 8; /* tq_dwp_gather_rows */
    const size_t out_row = (size_t)ow * (size_t)oc;
    int32_t b, c, j, o0;
#if TQ_DWP_ASM
    const int asm3 = p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 && (p->stride_w == 1 || p->stride_w == 2)
                  && !(TQ_CFG_REQUANT_GEN && p->requant) && ow >= 2;
    tq_dwp_job job;
#endif

    memset(scratch, (int8_t)zp, (size_t)((band - 1) * sh + span) * (size_t)row_w);
#if TQ_DWP_ASM
    tq_dwp_job_layer(&job, p);
#endif
    for (b = 0; b < p->in.n; ++b) {
        const int8_t *const in_b = input + (size_t)b * (size_t)(in_h * in_w * ch);
        int8_t *const out_b = output + (size_t)b * (size_t)oh * out_row;
        for (c = 0; c < ch; ++c) {
            /* scratch holds input rows [lo, hi) of channel c (zero-point rows outside the image) */
            int32_t lo = -p->pad_h, hi = -p->pad_h, r;
            for (o0 = 0; o0 < oh; o0 += band) {
                const int32_t nb = oh - o0 < band ? oh - o0 : band;
                const int32_t first = o0 * sh - p->pad_h, end = (o0 + nb - 1) * sh - p->pad_h + span;
                if (first < hi) { /* rows of the last band this one needs again, moved to the top */
                    memmove(scratch, scratch + (size_t)(first - lo) * (size_t)row_w, (size_t)(hi - first) * (size_t)row_w);
                } else {
                    hi = first;
                }
                lo = first;
                if (short_rows) { /* the image's rows in [hi, end) at once */
                    const int32_t r0 = TQ_MAX(hi, 0), r1 = TQ_MIN(end, in_h);
                    for (r = hi; r < end && band < oh; ++r) {
                        if (r < r0 || r >= r1) {
                            memset(scratch + (size_t)(r - first) * (size_t)row_w + (size_t)pad_w, (int8_t)zp, (size_t)in_w);
                        }
                    }
                    if (r1 > r0) {
                        tq_dwp_gather_rows(scratch + (size_t)(r0 - first) * (size_t)row_w + (size_t)pad_w, row_w,
                                           in_b + (size_t)r0 * (size_t)(in_w * ch) + (size_t)c, r1 - r0, in_w, ch);
                    }
                } else {
                    for (r = hi; r < end; ++r) {
                        int8_t *const dst = scratch + (size_t)(r - first) * (size_t)row_w + (size_t)pad_w;
                        if (r >= 0 && r < in_h) {
                            tq_dwp_gather(dst, in_b + (size_t)r * (size_t)(in_w * ch) + (size_t)c, in_w, ch);
                        } else if (band < oh) { /* (one band: its padding rows never held data) */
                            memset(dst, (int8_t)zp, (size_t)in_w);
                        }
                    }
                }
                hi = end;
                for (j = 0; j < m; ++j) {
                    const int32_t o = c * m + j;
                    int8_t *const out = out_b + (size_t)o0 * out_row + o;
#if TQ_DWP_ASM
                    if (asm3) {
                        tq_dwp_job_init(&job, p, o);
                        job.in = scratch;
                        job.out = out;
                        job.rows = nb;
                        tq_dwp_band3_dsp(&job, p->stride_w);
                        continue;
                    }
#endif
                    tq_dwp_rows(p, scratch, o, out, nb);
                }
            }
        }
    }
    return TQ_OK;
}
