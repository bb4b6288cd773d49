/* DEPTHWISE_CONV_2D, int16 activations, int8 weights: the fast twin of tq_depthwise_conv_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

/* s0 += channel c's taps, s1 += channel c + 1's (when `both`), depth multiplier 1: tab[t] + c is
   tap t's channel c, w the channel pair's tap-pair words (c, c + 1 in one block of four). */
static void tq_dw16_pair(const int16_t *const *tab, int32_t taps, int32_t c, const int16_t *w, int both, int32_t *acc)
{
    int32_t s0 = 0, s1 = 0, t;
    for (t = 0; t < taps; t += 2, w += 8) {
        const int16_t *p0 = tab[t] + c, *p1 = tab[t + 1] + c;
        s0 += (int32_t)p0[0] * w[0] + (int32_t)p1[0] * w[1];
        if (both) {
            s1 += (int32_t)p0[1] * w[2] + (int32_t)p1[1] * w[3];
        }
    }
    acc[0] = s0;
    acc[1] = s1;
}

/* acc[0] = output channel c's taps, acc[1] = output channel c + 1's, both of input channel ic (an
   even depth multiplier): each tap pair's two inputs packed once for both (PKHBT + two SMLAD). */
static void tq_dw16_shared(const int16_t *const *tab, int32_t taps, int32_t ic, const int16_t *w, int32_t *acc)
{
    int32_t s0 = 0, s1 = 0, t;
    for (t = 0; t < taps; t += 2, w += 8) {
#if defined(TQ_S16_DSP)
        const int32_t x = tq_s16_pack_lo(tab[t][ic], tab[t + 1][ic]);
        s0 = __smlad(x, tq_s16_word(w), s0);
        s1 = __smlad(x, tq_s16_word(w + 2), s1);
#else
        const int32_t x0 = tab[t][ic], x1 = tab[t + 1][ic];
        s0 += x0 * w[0] + x1 * w[1];
        s1 += x0 * w[2] + x1 * w[3];
#endif
    }
    acc[0] = s0;
    acc[1] = s1;
}

#if defined(TQ_S16_DSP)
/* acc[0..3] = channels c .. c + 3 over all tap pairs (tab: the pixel's tap addresses, an odd count's
   partner the zero row; co = 2 c bytes, word-aligned taps): per pair of taps two LDRD of the taps'
   addresses and of their four channels, PKHBT / PKHTB to (tap t, tap t + 1) per channel, SMLAD
   against the block's weights. */
static void tq_dw16_block4(const int16_t *const *tab, const int16_t *const *tab_end, int32_t co, const int16_t *w, int32_t *acc)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32_t p0, p1, xa, xb, ya, yb;
    const int16_t *const *end = tab_end;
    __asm__ volatile("1:\n\t"
                     "ldrd   %[p0], %[p1], [%[tab]], #8\n\t"
                     "add    %[p0], %[p0], %[co]\n\t"
                     "add    %[p1], %[p1], %[co]\n\t"
                     "ldrd   %[xa], %[xb], [%[p0]]\n\t"
                     "ldrd   %[ya], %[yb], [%[p1]]\n\t"
                     "pkhbt  %[p0], %[xa], %[ya], lsl #16\n\t"
                     "pkhtb  %[xa], %[ya], %[xa], asr #16\n\t"
                     "pkhbt  %[p1], %[xb], %[yb], lsl #16\n\t"
                     "pkhtb  %[xb], %[yb], %[xb], asr #16\n\t"
                     "ldrd   %[ya], %[yb], [%[w]], #8\n\t"
                     "smlad  %[s0], %[p0], %[ya], %[s0]\n\t"
                     "smlad  %[s1], %[xa], %[yb], %[s1]\n\t"
                     "ldrd   %[ya], %[yb], [%[w]], #8\n\t"
                     "smlad  %[s2], %[p1], %[ya], %[s2]\n\t"
                     "smlad  %[s3], %[xb], %[yb], %[s3]\n\t"
                     "ldr    %[ya], %[end]\n\t"
                     "cmp    %[tab], %[ya]\n\t"
                     "bne    1b\n\t"
                     : [s0] "+&r"(s0), [s1] "+&r"(s1), [s2] "+&r"(s2), [s3] "+&r"(s3), [tab] "+&r"(tab), [w] "+&r"(w),
                       [p0] "=&r"(p0), [p1] "=&r"(p1), [xa] "=&r"(xa), [xb] "=&r"(xb), [ya] "=&r"(ya), [yb] "=&r"(yb)
                     : [co] "r"(co), [end] "m"(end)
                     : "cc", "memory");
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}
#endif

tq_status tq_depthwise_conv_s16_fast(const tq_depthwise_conv_s16_fast_params *p, const int16_t *input, int16_t *output,
                                     int16_t *scratch)
{
    const int16_t *tab[TQ_DW16_MAX_TAPS + 2];
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, out_c = p->out.c, dm = p->depth_mult;
    const int32_t taps = p->kh * p->kw, tap_pairs = (taps + 1) / 2;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, ky, kx, c, t;
#if defined(TQ_S16_DSP)
    /* channels by blocks of four in assembler where the taps are word-aligned */
    const int32_t blocks = (dm == 1 && (in_c & 1) == 0 && ((uintptr_t)input & 3u) == 0u) ? in_c / 4 : 0;
#endif

    memset(scratch, 0, (size_t)((in_c + 3) & ~3) * sizeof(int16_t));
    tab[taps] = scratch; /* an odd tap count's partner: weight 0 */
    for (b = 0; b < p->in.n; ++b) {
        const int16_t *img = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox, output += out_c) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                t = 0;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t y = y0 + ky * p->dil_h;
                    for (kx = 0; kx < p->kw; ++kx, ++t) {
                        const int32_t x = x0 + kx * p->dil_w;
                        tab[t] = (y < 0 || y >= in_h || x < 0 || x >= in_w) ? scratch : img + ((size_t)y * (size_t)in_w + (size_t)x) * (size_t)in_c;
                    }
                }
                if (dm == 1) {
                    c = 0;
#if defined(TQ_S16_DSP)
                    const int16_t *w = p->weights16;
                    const int32_t *q = p->quant;
                    int32_t i;
                    for (i = 0; i < blocks; ++i, c += 4, w += 8 * tap_pairs, q += 16) {
                        int32_t acc[4];
                        tq_dw16_block4(tab, tab + 2 * tap_pairs, 2 * c, w, acc);
                        output[c] = (int16_t)tq_s16_requant(acc[0], q, lo, hi);
                        output[c + 1] = (int16_t)tq_s16_requant(acc[1], q + 4, lo, hi);
                        output[c + 2] = (int16_t)tq_s16_requant(acc[2], q + 8, lo, hi);
                        output[c + 3] = (int16_t)tq_s16_requant(acc[3], q + 12, lo, hi);
                    }
#endif
                    for (; c < out_c; c += 2) {
                        int32_t acc[2];
                        const int both = c + 1 < out_c;
                        /* the pair's words: block c / 4, channel c % 4 of it */
                        tq_dw16_pair(tab, taps, c, p->weights16 + (size_t)(c / 4) * 8 * (size_t)tap_pairs + 2 * (c & 3), both, acc);
                        output[c] = (int16_t)tq_s16_requant(acc[0], p->quant + 4 * c, lo, hi);
                        if (both) {
                            output[c + 1] = (int16_t)tq_s16_requant(acc[1], p->quant + 4 * c + 4, lo, hi);
                        }
                    }
                } else if ((dm & 1) == 0) {
                    for (c = 0; c < out_c; c += 2) {
                        int32_t acc[2];
                        tq_dw16_shared(tab, taps, c / dm, p->weights16 + (size_t)(c / 4) * 8 * (size_t)tap_pairs + 2 * (c & 3), acc);
                        output[c] = (int16_t)tq_s16_requant(acc[0], p->quant + 4 * c, lo, hi);
                        output[c + 1] = (int16_t)tq_s16_requant(acc[1], p->quant + 4 * c + 4, lo, hi);
                    }
                } else {
                    for (c = 0; c < out_c; ++c) {
                        const int32_t ic = c / dm;
                        const int16_t *w = p->weights16 + (size_t)(c / 4) * 8 * (size_t)tap_pairs + 2 * (c & 3);
                        int32_t s = 0;
                        for (t = 0; t < taps; ++t) {
                            s += (int32_t)tab[t][ic] * w[(t / 2) * 8 + (t & 1)];
                        }
                        output[c] = (int16_t)tq_s16_requant(s, p->quant + 4 * c, lo, hi);
                    }
                }
            }
        }
    }
    return TQ_OK;
}
