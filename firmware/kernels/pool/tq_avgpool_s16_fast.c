/* AVERAGE_POOL_2D, int16: the fast twin of tq_avgpool_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

#if defined(TQ_S16_MVE)
/* The rounded averages of four channels' sums s over n values (n >= 2; see tq_avgpool16_mve), clamped. */
static inline int32x4_t tq_avgpool16_div(int32x4_t s, int32_t n, uint32_t m, int32x4_t lo, int32x4_t hi)
{
    int32x4_t q;
    if (n <= 362) {
        const uint32x4_t a = vreinterpretq_u32_s32(vaddq_s32(vabsq_s32(s), vdupq_n_s32(n / 2)));
        q = vreinterpretq_s32_u32(vmulhq_u32(a, vdupq_n_u32(m)));
        q = vnegq_m_s32(q, q, vcmpltq_n_s32(s, 0));
    } else { /* nearest, ties away from zero (C division truncates toward zero) */
        int32_t v[4], j;
        vst1q_s32(v, s);
        for (j = 0; j < 4; ++j) {
            v[j] = v[j] > 0 ? (v[j] + n / 2) / n : (v[j] - n / 2) / n;
        }
        q = vld1q_s32(v);
    }
    return vminq_s32(vmaxq_s32(q, lo), hi);
}

/* s0 += the runs of four channels at px + c0, s1 += those at px + c1, of `count` pixels (> 0) ch
   apart: a low-overhead loop, 7 instructions a pixel (the widening VLDRH.S32 takes low base registers: "l"). */
static inline __attribute__((always_inline)) void tq_avgpool16_run(const int16_t *px, int32_t c0, int32_t c1, int32_t count,
                                                                  int32_t ch, int32x4_t *s0, int32x4_t *s1)
{
    const int16_t *p0 = px + c0, *p1 = px + c1;
    const int32_t step = 2 * ch;
    int32x4_t a = *s0, b = *s1;
    register int32_t n __asm__("lr") = count;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrh.s32 q0, [%[p0]]\n\t"
                     "vldrh.s32 q1, [%[p1]]\n\t"
                     "add    %[p0], %[step]\n\t"
                     "add    %[p1], %[step]\n\t"
                     "vadd.i32 %q[a], %q[a], q0\n\t"
                     "vadd.i32 %q[b], %q[b], q1\n\t"
                     "le     lr, 1b"
                     : [p0] "+&l"(p0), [p1] "+&l"(p1), [a] "+w"(a), [b] "+w"(b), "+&r"(n)
                     : [step] "r"(step)
                     : "q0", "q1", "memory");
    *s0 = a;
    *s1 = b;
}

/*
 * Helium: each output pixel's window read row by row (no table, so any window size), the channels
 * eight at a time as two runs of four (widening loads into int32 lanes): runs at c and c + 4 for every
 * whole block of eight, then the last eight channels (ch >= 8) or the runs at 0 and ch - 4 (4 <= ch < 8)
 * again over channels already done (the same values stored twice), so no load is predicated; fewer
 * than four channels are one predicated run. The rounded quotient sign(s) floor((|s| + n / 2) / n)
 * without a divide: with m = ceil(2^32 / n), the high word of a * m is floor(a / n) exactly while
 * a (n - 1) < 2^32, for a = |s| + n / 2 <= 32768 n + n / 2 that is every n <= 362; a larger window
 * divides each lane.
 */
static tq_status tq_avgpool16_mve(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t whole = ch & ~7, last = ch >= 8 ? ch - 8 : 0, second = ch - 4;
    const mve_pred16_t few = vctp32q((uint32_t)ch);
    int32_t b, oy, ox, y, x, c;
    for (b = 0; b < p->out.n; ++b) {
        const int16_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ya = TQ_MAX(0, y0), yb = TQ_MIN(ih, y0 + p->filter_h);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t xa = TQ_MAX(0, x0), xb = TQ_MIN(iw, x0 + p->filter_w);
                const int32_t n = (yb - ya) * (xb - xa);
                const uint32_t m = n > 1 ? 0xFFFFFFFFu / (uint32_t)n + 1u : 0u;
                const int16_t *corner = img + ((ptrdiff_t)ya * iw + xa) * ch;
                for (c = 0; c < ch; c += 8) {
                    const int32_t c0 = c < whole ? c : last, c1 = c < whole ? c + 4 : second;
                    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
                    if (ch < 4) {
                        for (y = ya; y < yb; ++y) {
                            const int16_t *px = corner + (ptrdiff_t)(y - ya) * iw * ch;
                            for (x = xa; x < xb; ++x, px += ch) {
                                s0 = vaddq_s32(s0, vldrhq_z_s32(px, few));
                            }
                        }
                        s0 = n > 1 ? tq_avgpool16_div(s0, n, m, lo, hi) : vminq_s32(vmaxq_s32(s0, lo), hi);
                        vstrhq_p_s32(out, s0, few);
                        break;
                    }
                    for (y = ya; y < yb; ++y) {
                        tq_avgpool16_run(corner + (ptrdiff_t)(y - ya) * iw * ch, c0, c1, xb - xa, ch, &s0, &s1);
                    }
                    if (n > 1) {
                        s0 = tq_avgpool16_div(s0, n, m, lo, hi);
                        s1 = tq_avgpool16_div(s1, n, m, lo, hi);
                    } else {
                        s0 = vminq_s32(vmaxq_s32(s0, lo), hi);
                        s1 = vminq_s32(vmaxq_s32(s1, lo), hi);
                    }
                    vstrhq_s32(out + c0, s0);
                    vstrhq_s32(out + c1, s1);
                }
            }
        }
    }
    return TQ_OK;
}
#endif

tq_status tq_avgpool_s16_fast(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out)
{
#if defined(TQ_S16_MVE)
    return tq_avgpool16_mve(p, in, out);
#else
    const int16_t *tab[TQ_POOL16_MAX_WINDOW];
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, y, x, c, k;
    for (b = 0; b < p->out.n; ++b) {
        const int16_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ya = TQ_MAX(0, y0), yb = TQ_MIN(ih, y0 + p->filter_h);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t xa = TQ_MAX(0, x0), xb = TQ_MIN(iw, x0 + p->filter_w);
                int32_t n = 0, half;
                for (y = ya; y < yb; ++y) {
                    for (x = xa; x < xb; ++x) {
                        tab[n++] = img + ((ptrdiff_t)y * iw + x) * ch;
                    }
                }
                half = n / 2;
                for (c = 0; c < ch; c += 2) {
                    const int both = c + 1 < ch;
                    int32_t s0 = 0, s1 = 0, a0, a1;
#if defined(TQ_S16_DSP)
                    if (both) { /* two channels a word: SXTAH adds each halfword */
                        for (k = 0; k < n; ++k) {
                            const int32_t v = tq_s16_word(tab[k] + c);
                            __asm__("sxtah %0, %0, %2\n\t"
                                    "sxtah %1, %1, %2, ror #16"
                                    : "+&r"(s0), "+r"(s1)
                                    : "r"(v));
                        }
                    } else
#endif
                    {
                        for (k = 0; k < n; ++k) {
                            s0 += tab[k][c];
                            if (both) {
                                s1 += tab[k][c + 1];
                            }
                        }
                    }
                    /* Nearest, ties away from zero (C division truncates toward zero). */
                    a0 = s0 > 0 ? (s0 + half) / n : (s0 - half) / n;
                    out[c] = (int16_t)TQ_CLAMP(a0, lo, hi);
                    if (both) {
                        a1 = s1 > 0 ? (s1 + half) / n : (s1 - half) / n;
                        out[c + 1] = (int16_t)TQ_CLAMP(a1, lo, hi);
                    }
                }
            }
        }
    }
    return TQ_OK;
#endif
}
