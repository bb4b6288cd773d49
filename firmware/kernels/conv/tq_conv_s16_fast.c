/* CONV_2D, int16 activations, int8 weights: the fast twin of tq_conv_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

/* n values from src (NULL: zeros) to column j (0 or 1) of a pair interleaved g values at a time, from value e on. */
static void tq_conv_s16_put(const int16_t *src, int32_t n, int16_t *pair, int32_t j, int32_t e, int32_t g)
{
    int32_t i = 0;
    if ((e & 3) == 0) { /* runs of 4 (never across a group): two words each */
        for (; i + 4 <= n; i += 4, e += 4) {
            int16_t *d = pair + 2 * e - (e & (g - 1)) + g * j;
            if (src != NULL) {
                memcpy(d, src + i, 4 * sizeof(int16_t));
            } else {
                memset(d, 0, 4 * sizeof(int16_t));
            }
        }
    }
    for (; i < n; ++i, ++e) {
        pair[2 * e - (e & (g - 1)) + g * j] = src != NULL ? src[i] : 0;
    }
}

/* Where tap (ky, kx) of output pixel (b, oy, ox) lies in the input, or NULL for padding. */
static const int16_t *tq_conv_s16_tap(const tq_conv_s16_fast_params *p, const int16_t *input, const int32_t *pix, int32_t ky,
                                      int32_t kx)
{
    const int32_t y = pix[1] * p->stride_h - p->pad_h + ky * p->dil_h, x = pix[2] * p->stride_w - p->pad_w + kx * p->dil_w;
    if (y < 0 || y >= p->in.h || x < 0 || x >= p->in.w) {
        return NULL;
    }
    return input + (((size_t)pix[0] * p->in.h + y) * p->in.w + x) * p->in.c;
}

/* The column pair of output pixels a and b ((n, y, x) each; b may equal a) into `pair`, zero-padded to kpad. */
static void tq_conv_s16_pair(const tq_conv_s16_fast_params *p, const int16_t *input, const int32_t *a, const int32_t *b,
                             int16_t *pair)
{
    const int32_t in_c = p->in.c, g = p->group;
    int32_t ky, kx, e = 0, i;
    for (ky = 0; ky < p->kh; ++ky) {
        for (kx = 0; kx < p->kw; ++kx, e += in_c) {
            const int16_t *s0 = tq_conv_s16_tap(p, input, a, ky, kx), *s1 = tq_conv_s16_tap(p, input, b, ky, kx);
            if ((in_c & 3) == 0 && (e & 3) == 0 && s0 != NULL && s1 != NULL) { /* runs of 4: two words per column */
                for (i = 0; i < in_c; i += 4) {
                    int16_t *d = pair + 2 * (e + i) - ((e + i) & (g - 1));
                    memcpy(d, s0 + i, 4 * sizeof(int16_t));
                    memcpy(d + g, s1 + i, 4 * sizeof(int16_t));
                }
            } else {
                tq_conv_s16_put(s0, in_c, pair, 0, e, g);
                tq_conv_s16_put(s1, in_c, pair, 1, e, g);
            }
        }
    }
    tq_conv_s16_put(NULL, ((p->k + g - 1) & -g) - p->k, pair, 0, e, g);
    tq_conv_s16_put(NULL, ((p->k + g - 1) & -g) - p->k, pair, 1, e, g);
}

tq_status tq_conv_s16_fast(const tq_conv_s16_fast_params *p, const int16_t *input, int16_t *output, int16_t *scratch)
{
    const int32_t k = p->k, chunk = p->chunk, out_c = p->out.c, g = p->group;
    const int32_t kpad = (k + g - 1) & -g;
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t pix, c, start;
    int32_t a[3] = {0, 0, 0}, b[3]; /* (n, y, x) of the pair's output pixels */

    for (pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        int16_t *out0 = output + (size_t)pix * out_c;
        int16_t *out1 = two ? out0 + out_c : out0;
        const int8_t *w = p->weights;
        const int32_t *q = p->quant;
        memcpy(b, a, sizeof(b));
        if (two && ++b[2] == p->out.w) {
            b[2] = 0;
            if (++b[1] == p->out.h) {
                b[1] = 0;
                ++b[0];
            }
        }
        tq_conv_s16_pair(p, input, a, b, scratch);
        memcpy(a, b, sizeof(a)); /* the next pair starts one pixel past b */
        if (++a[2] == p->out.w) {
            a[2] = 0;
            if (++a[1] == p->out.h) {
                a[1] = 0;
                ++a[0];
            }
        }
        for (c = 0; c < out_c; c += 2, w += 2 * kpad, q += 8) {
            int32_t v00, v01, v10, v11;
            if (chunk >= k) {
                int32_t acc[4] = {0, 0, 0, 0};
                tq_s16_dot2x2(w, scratch, kpad, g, acc);
                v00 = tq_s16_requant(acc[0], q, lo, hi);
                v01 = tq_s16_requant(acc[1], q, lo, hi);
                v10 = tq_s16_requant(acc[2], q + 4, lo, hi);
                v11 = tq_s16_requant(acc[3], q + 4, lo, hi);
            } else {
                int64_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
                for (start = 0; start < kpad; start += chunk) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    tq_s16_dot2x2(w + 2 * start, scratch + 2 * start, TQ_MIN(chunk, kpad - start), g, acc);
                    s00 += acc[0];
                    s01 += acc[1];
                    s10 += acc[2];
                    s11 += acc[3];
                }
                v00 = tq_s16_requant64(s00, q, lo, hi);
                v01 = tq_s16_requant64(s01, q, lo, hi);
                v10 = tq_s16_requant64(s10, q + 4, lo, hi);
                v11 = tq_s16_requant64(s11, q + 4, lo, hi);
            }
            out0[c] = (int16_t)v00;
            out1[c] = (int16_t)v01;
            if (c + 1 < out_c) {
                out0[c + 1] = (int16_t)v10;
                out1[c + 1] = (int16_t)v11;
            }
        }
    }
    return TQ_OK;
}
