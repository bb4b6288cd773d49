/* AVERAGE_POOL_2D, int16: the fast twin of tq_avgpool_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

tq_status tq_avgpool_s16_fast(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out)
{
    const int16_t *tab[TQ_POOL16_MAX_WINDOW];
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, y, x, c, k;
    for (b = 0; b < p->out.n; ++b) {
        const int16_t *img = in + (size_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ya = TQ_MAX(0, y0), yb = TQ_MIN(ih, y0 + p->filter_h);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t xa = TQ_MAX(0, x0), xb = TQ_MIN(iw, x0 + p->filter_w);
                int32_t n = 0, half;
                for (y = ya; y < yb; ++y) {
                    for (x = xa; x < xb; ++x) {
                        tab[n++] = img + ((size_t)y * iw + x) * ch;
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
                                    : "+r"(s0), "+r"(s1)
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
}
