/* MAX_POOL_2D, int16: the fast twin of tq_maxpool_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

#if defined(TQ_S16_DSP) && !defined(TQ_S16_MVE)
/* The halfword-wise maximum of two words: SSUB16 sets a GE flag per halfword where a >= b, SEL keeps those. */
static inline int32_t tq_s16_max2(int32_t a, int32_t b)
{
    int32_t t;
    __asm__("ssub16 %1, %0, %2\n\t"
            "sel    %0, %0, %2"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}
#endif

#if defined(TQ_S16_MVE)
/* Helium: each output pixel's window read row by row (no table, so any window size), eight channels a
   vector from act_min up (the tail's lanes predicated off, neither read nor stored), then act_max. */
static tq_status tq_maxpool16_mve(const tq_maxpool_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    const int16x8_t lo8 = vdupq_n_s16((int16_t)p->act_min), hi8 = vdupq_n_s16((int16_t)p->act_max);
    int32_t b, oy, ox, y, x, c;
    for (b = 0; b < p->out.n; ++b) {
        const int16_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ya = TQ_MAX(0, y0), yb = TQ_MIN(ih, y0 + p->filter_h);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t xa = TQ_MAX(0, x0), xb = TQ_MIN(iw, x0 + p->filter_w);
                for (c = 0; c < ch; c += 8) {
                    const mve_pred16_t m = vctp16q((uint32_t)(ch - c));
                    int16x8_t best = lo8;
                    for (y = ya; y < yb; ++y) {
                        const int16_t *px = img + ((ptrdiff_t)y * iw + xa) * ch + c;
                        for (x = xa; x < xb; ++x, px += ch) {
                            best = vmaxq_s16(best, vldrhq_z_s16(px, m));
                        }
                    }
                    vstrhq_p_s16(out + c, vminq_s16(best, hi8), m);
                }
            }
        }
    }
    return TQ_OK;
}
#endif

tq_status tq_maxpool_s16_fast(const tq_maxpool_s16_params *p, const int16_t *in, int16_t *out)
{
#if defined(TQ_S16_MVE)
    return tq_maxpool16_mve(p, in, out);
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
                int32_t n = 0;
                for (y = ya; y < yb; ++y) {
                    for (x = xa; x < xb; ++x) {
                        tab[n++] = img + ((ptrdiff_t)y * iw + x) * ch;
                    }
                }
                c = 0;
#if defined(TQ_S16_DSP)
                {
                    const int32_t lo2 = (int32_t)(((uint32_t)lo & 0xFFFFu) * 0x10001u);
                    const int32_t hi2 = (int32_t)(((uint32_t)hi & 0xFFFFu) * 0x10001u);
                    for (; c + 2 <= ch; c += 2) { /* two channels a word (unaligned reads are fine) */
                        int32_t best = lo2, t;
                        for (k = 0; k < n; ++k) {
                            best = tq_s16_max2(best, tq_s16_word(tab[k] + c));
                        }
                        /* the smaller of best and hi: SEL keeps best where hi - best >= 0 */
                        __asm__("ssub16 %1, %2, %0\n\t"
                                "sel    %0, %0, %2"
                                : "+r"(best), "=&r"(t)
                                : "r"(hi2)
                                : "cc");
                        memcpy(out + c, &best, 4);
                    }
                }
#endif
                for (; c < ch; ++c) {
                    int32_t best = lo;
                    for (k = 0; k < n; ++k) {
                        best = TQ_MAX(best, tab[k][c]);
                    }
                    out[c] = (int16_t)TQ_MIN(best, hi);
                }
            }
        }
    }
    return TQ_OK;
#endif
}
