/* CONV_2D, int16 activations, int8 weights: the fast twin of tq_conv_s16 (see tq_int16_fast.h). */
#include "tq_int16_fast.h"

#if defined(TQ_S16_MVE)
/*
 * Helium (g = 8): n values from src (NULL: zeros) to a column of a pair (col: the pair + 8 j for column
 * j) from value e on, eight at a time through a scatter store: value v lies at halfword v + (v & ~7).
 */
static inline void tq_conv_s16_put_mve(const int16_t *src, int32_t n, int16_t *col, int32_t e)
{
    const uint16x8_t hi_mask = vdupq_n_u16(0xFFF8u);
    int32_t i;
    for (i = 0; i < n; i += 8, e += 8) { /* from the group of value e: offsets below 32 */
        const mve_pred16_t m = vctp16q((uint32_t)(n - i));
        const uint16x8_t v = vidupq_n_u16((uint32_t)(e & 7), 1);
        const int16x8_t x = src != NULL ? vldrhq_z_s16(src + i, m) : vdupq_n_s16(0);
        vstrhq_scatter_shifted_offset_p_s16(col + 2 * (e & ~7), vaddq_u16(v, vandq_u16(v, hi_mask)), x, m);
    }
}

/* Output pixel pix's column ((n, y, x); [kh][kw][in.c], padding taps 0, zero-padded to kpad) into its
   place in a pair (col: the pair + 8 j): a filter row whose taps all lie inside the image is one run. */
static void tq_conv_s16_col_mve(const tq_conv_s16_fast_params *p, const int16_t *input, const int32_t *pix, int16_t *col)
{
    const int32_t in_c = p->in.c, in_h = p->in.h, in_w = p->in.w, kw = p->kw, row_n = kw * in_c;
    const int32_t y0 = pix[1] * p->stride_h - p->pad_h, x0 = pix[2] * p->stride_w - p->pad_w;
    const int16_t *img = input + (size_t)pix[0] * (size_t)in_h * (size_t)in_w * (size_t)in_c;
    const int inside = x0 >= 0 && x0 + (kw - 1) * p->dil_w < in_w && (p->dil_w == 1 || kw == 1);
    int32_t ky, kx, e = 0;
    for (ky = 0; ky < p->kh; ++ky, e += row_n) {
        const int32_t y = y0 + ky * p->dil_h;
        if (y < 0 || y >= in_h) {
            tq_conv_s16_put_mve(NULL, row_n, col, e);
        } else if (inside) {
            tq_conv_s16_put_mve(img + ((size_t)y * (size_t)in_w + (size_t)x0) * (size_t)in_c, row_n, col, e);
        } else {
            for (kx = 0; kx < kw; ++kx) {
                const int32_t x = x0 + kx * p->dil_w;
                tq_conv_s16_put_mve(x < 0 || x >= in_w ? NULL : img + ((size_t)y * (size_t)in_w + (size_t)x) * (size_t)in_c, in_c, col, e + kx * in_c);
            }
        }
    }
    tq_conv_s16_put_mve(NULL, ((p->k + 7) & -8) - p->k, col, e);
}

/* The column pair of output pixels a and b ((n, y, x) each; b may equal a) into `pair`, zero-padded to kpad. */
static void tq_conv_s16_pair(const tq_conv_s16_fast_params *p, const int16_t *input, const int32_t *a, const int32_t *b,
                             int16_t *pair)
{
    tq_conv_s16_col_mve(p, input, a, pair);
    tq_conv_s16_col_mve(p, input, b, pair + 8);
}
#else
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
    return input + (((size_t)pix[0] * (size_t)p->in.h + (size_t)y) * (size_t)p->in.w + (size_t)x) * (size_t)p->in.c;
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
#endif

#if defined(TQ_S16_MVE)
/*
 * Helium: tq_s16_requant of a 2x2 block's four int32 sums s at once (lanes: row 0 column a, row 0
 * column b, row 1 column a, row 1 column b; the rows' constants q[0..3] and q[4..7] gathered at word
 * offsets off), for constants whose rsh >= 16 and K >= -2^45, K < 2^45 (tq_conv_s16_mve_fits). With
 * s = sh 2^16 + sl (0 <= sl < 2^16) and K = Kh 2^16 + Kl (0 <= Kl < 2^16), K + s red = X 2^16 + r with
 * X = Kh + sh red + ((Kl + sl red) >> 16) and 0 <= r < 2^16, so floor((K + s red) / 2^rsh) =
 * X >> (rsh - 16), each step exact in 32 bits: |sh red| < 2^30, Kl + sl red < 2^31 + 2^16, |X| < 2^31.
 */
static inline int32x4_t tq_conv_s16_requant4(int32x4_t s, const int32_t *q, uint32x4_t off)
{
    const uint32x4_t klo = vldrwq_gather_shifted_offset_u32((const uint32_t *)q, off);
    const int32x4_t khi = vldrwq_gather_shifted_offset_s32(q + 1, off);
    const int32x4_t red = vldrwq_gather_shifted_offset_s32(q + 2, off);
    const int32x4_t rsh = vldrwq_gather_shifted_offset_s32(q + 3, off);
    const uint32x4_t low16 = vdupq_n_u32(0xFFFFu);
    const int32x4_t kh = vorrq_s32(vshlq_n_s32(khi, 16), vreinterpretq_s32_u32(vshrq_n_u32(klo, 16)));
    const uint32x4_t part = vaddq_u32(vmulq_u32(vandq_u32(vreinterpretq_u32_s32(s), low16), vreinterpretq_u32_s32(red)),
                                      vandq_u32(klo, low16));
    const int32x4_t x = vaddq_s32(vaddq_s32(kh, vmulq_s32(vshrq_n_s32(s, 16), red)), vreinterpretq_s32_u32(vshrq_n_u32(part, 16)));
    return vshlq_s32(x, vsubq_s32(vdupq_n_s32(16), rsh));
}

/* Whether every channel's constants meet tq_conv_s16_requant4's bounds (K's high word in [-2^13, 2^13), rsh >= 16). */
static int tq_conv_s16_mve_fits(const int32_t *q, int32_t channels)
{
    int32_t c;
    for (c = 0; c < channels; ++c, q += 4) {
        if ((uint32_t)(q[1] + 8192) >= 16384u || q[3] < 16) {
            return 0;
        }
    }
    return 1;
}
#endif

tq_status tq_conv_s16_fast(const tq_conv_s16_fast_params *p, const int16_t *input, int16_t *output, int16_t *scratch)
{
    const int32_t k = p->k, chunk = p->chunk, out_c = p->out.c, g = p->group;
    const int32_t kpad = (k + g - 1) & -g;
    const int32_t pixels = p->out.n * p->out.h * p->out.w;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t pix, c, start;
    int32_t a[3] = {0, 0, 0}, b[3]; /* (n, y, x) of the pair's output pixels */
#if defined(TQ_S16_MVE)
    /* every sum in int32 and the constants in range: the four results of a row pair at once */
    const int vec = chunk >= k && tq_conv_s16_mve_fits(p->quant, out_c);
    const uint32x4_t qoff = vsetq_lane_u32(4u, vsetq_lane_u32(4u, vdupq_n_u32(0u), 2), 3);
    const int32x4_t lo4 = vdupq_n_s32(lo), hi4 = vdupq_n_s32(hi);
#endif

    for (pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        int16_t *out0 = output + (size_t)pix * (size_t)out_c;
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
#if defined(TQ_S16_MVE)
        if (vec) {
            /* byte offsets of the four results: out0[c], out1[c], out0[c + 1], out1[c + 1] */
            const uint32_t d = (uint32_t)(out1 - out0) * 2u;
            const uint32x4_t soff = vsetq_lane_u32(d + 2u, vsetq_lane_u32(2u, vsetq_lane_u32(d, vdupq_n_u32(0u), 1), 2), 3);
            for (c = 0; c + 1 < out_c; c += 2, w += 2 * kpad, q += 8) {
                int32_t acc[4] = {0, 0, 0, 0};
                tq_s16_dot2x2(w, scratch, kpad, g, acc);
                vstrhq_scatter_offset_s32(out0 + c, soff,
                                          vminq_s32(vmaxq_s32(tq_conv_s16_requant4(vld1q_s32(acc), q, qoff), lo4), hi4));
            }
            if (c < out_c) { /* an odd last row: two lanes */
                int32_t acc[4] = {0, 0, 0, 0};
                tq_s16_dot2x2(w, scratch, kpad, g, acc);
                vstrhq_scatter_offset_p_s32(out0 + c, soff,
                                            vminq_s32(vmaxq_s32(tq_conv_s16_requant4(vld1q_s32(acc), q, qoff), lo4), hi4),
                                            vctp32q(2));
            }
            continue;
        }
#endif
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
