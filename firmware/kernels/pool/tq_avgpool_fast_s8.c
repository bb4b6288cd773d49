/* AVERAGE_POOL_2D, int8: four channels a word on the DSP extension, sixteen (or eight) at a time on Helium (see tq_pool.h). */
/* Run once per inference: built for size (the window loops are assembler). */
#pragma GCC optimize("Os")
#include "tq_gemm.h"
#include "tq_pool.h"

/* The channel-at-a-time path: on cores without SIMD32 or Helium always, on SIMD32 cores where a layer
   needs it (params narrow; TQ_CFG_POOL_NARROW). */
#if !defined(TQ_GEMM_MVE) && (!defined(TQ_SIMD32) || TQ_CFG_POOL_NARROW)
#define TQ_AVG_ROW1 1
#endif

/*
 * tq_avgpool_s8's rounding (to nearest, ties away from zero) without a sign test: for |sum| <= 128 *
 * count, trunc((sum +- count / 2) / count) = floor((2 * sum + count - (sum < 0)) / (2 * count)), and
 * bias = 513 * count makes the numerator positive, adding 256 to the quotient: the low byte is the
 * average's (tq_pack4_clamp keeps it), and subtracting 256 gives the value. count2 = 2 * count; the
 * numerator stays below 2^31 for windows of up to 2^22 values (checked at generation time).
 */
#if !defined(TQ_GEMM_MVE) /* (Helium divides in vectors: tq_avg_div16, tq_avg8_mve) */
static inline int32_t tq_avg_q(int32_t sum, int32_t bias, int32_t count2)
{
    return (int32_t)((uint32_t)(bias + 2 * sum - (sum < 0)) / (uint32_t)count2);
}
#endif

#if defined(TQ_AVG_ROW1)
/*
 * One image, a channel at a time: for fewer than four channels, windows wider than 255 pixels, and
 * cores without SIMD32. Two-pixel window rows (the common 2-wide window) have their own loop.
 */
static __attribute__((noinline)) void tq_avg_row1(const tq_avgpool_s8_params *p, const int8_t *img, int8_t *out)
{
    const int32_t ch = p->in.c, iw = p->in.w, row = iw * ch, fw = p->filter_w, lo = p->act_min, hi = p->act_max;
    const int32_t clamp = lo > -128 || hi < 127;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out.h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = TQ_MAX(0, -y0), rows = TQ_MIN(p->filter_h, p->in.h - y0) - fy0;
        const int8_t *const top = img + (ptrdiff_t)(y0 + fy0) * row;
        int32_t x0 = -p->pad_w;
        for (ox = 0; ox < p->out.w; ++ox, x0 += p->stride_w) {
            const int32_t fx0 = TQ_MAX(0, -x0), cols = TQ_MIN(fw, iw - x0) - fx0, count = rows * cols;
            const int32_t bias = 513 * count, count2 = 2 * count;
            const int8_t *const corner = top + (x0 + fx0) * ch;
            for (c = 0; c < ch; ++c) {
                const int8_t *x = corner + c;
                int32_t sum = 0, n = rows;
                if (cols == 2) {
                    do {
                        sum += x[0] + x[ch];
                        x += row;
                    } while (--n);
                } else {
                    do {
                        const int8_t *v = x;
                        int32_t k = cols;
                        do {
                            sum += *v;
                            v += ch;
                        } while (--k);
                        x += row;
                    } while (--n);
                }
                sum = tq_avg_q(sum, bias, count2) - 256;
                if (clamp) { /* an average of int8 values needs no clamp but the fused activation's */
                    sum = sum < lo ? lo : sum;
                    sum = sum > hi ? hi : sum;
                }
                *out++ = (int8_t)sum;
            }
        }
    }
}
#endif

#if defined(TQ_SIMD32) && !defined(TQ_GEMM_MVE)
/*
 * n rows of cols pixels from x (`row` bytes apart, pixels `ch` apart), four channels a word: the
 * halfwords of e += bytes 0 and 2, those of o += bytes 1 and 3 (sign-extended, SXTAB16), six
 * instructions a pixel. n, cols >= 1.
 */
static inline __attribute__((always_inline)) void tq_avg_rows(const int8_t *x, int32_t n, int32_t cols, int32_t ch,
                                                              int32_t row, int32_t *e, int32_t *o)
{
    const int8_t *v;
    int32_t k, w;
    __asm__ volatile("1:\n\t"
                     "mov     %[v], %[x]\n\t"
                     "mov     %[k], %[cols]\n"
                     "2:\n\t"
                     "ldr     %[w], [%[v]]\n\t"
                     "add     %[v], %[v], %[ch]\n\t"
                     "sxtab16 %[e], %[e], %[w]\n\t"
                     "sxtab16 %[o], %[o], %[w], ror #8\n\t"
                     "subs    %[k], %[k], #1\n\t"
                     "bne     2b\n\t"
                     "add     %[x], %[x], %[row]\n\t"
                     "subs    %[n], %[n], #1\n\t"
                     "bne     1b"
                     : [e] "+r"(*e), [o] "+r"(*o), [x] "+r"(x), [n] "+&r"(n), [v] "=&r"(v), [k] "=&r"(k), [w] "=&r"(w)
                     : [cols] "r"(cols), [ch] "r"(ch), [row] "r"(row)
                     : "cc", "memory");
}

/* What tq_avg_words needs besides the window: fixed for a whole call. */
typedef struct {
    int32_t ch, row, per_sum;
    uint32_t lo4, hi4;
} tq_avg_dims;

/*
 * One output pixel's channels four a word: the window (rows x cols pixels from corner) summed in
 * halfwords (tq_avg_rows), exact for up to 255 values; larger windows per_sum rows at a time into
 * 32-bit sums. Then four rounding divisions (tq_avg_q), packed and clamped in a word. The last word
 * is that of the last four channels, which overlaps the one before where ch is not a multiple of
 * four (the same values again; every byte it reads lies at or above every byte written, see
 * tinyq.ops.overlap). Separate from the pixel loop, so that its loops keep their registers.
 */
static __attribute__((noinline)) void tq_avg_words(const int8_t *corner, int8_t *out, int32_t rows, int32_t cols,
                                                   const tq_avg_dims *d)
{
    const int32_t ch = d->ch, count = rows * cols, bias = 513 * count, count2 = 2 * count;
    int32_t c = 0;
    for (;;) {
        int32_t e = 0, o = 0, s0, s1, s2, s3;
        uint32_t word;
        if (cols == 2 && rows <= 127) { /* two pixels a row, the common 2-wide window */
            const int8_t *x = corner + c;
            int32_t n = rows, w0, w1;
            __asm__ volatile("1:\n\t"
                             "ldr     %[w0], [%[x]]\n\t"
                             "ldr     %[w1], [%[x], %[ch]]\n\t"
                             "add     %[x], %[x], %[row]\n\t"
                             "sxtab16 %[e], %[e], %[w0]\n\t"
                             "sxtab16 %[o], %[o], %[w0], ror #8\n\t"
                             "sxtab16 %[e], %[e], %[w1]\n\t"
                             "sxtab16 %[o], %[o], %[w1], ror #8\n\t"
                             "subs    %[n], %[n], #1\n\t"
                             "bne     1b"
                             : [e] "+r"(e), [o] "+r"(o), [x] "+r"(x), [n] "+&r"(n), [w0] "=&r"(w0), [w1] "=&r"(w1)
                             : [ch] "r"(ch), [row] "r"(d->row)
                             : "cc", "memory");
            s0 = (int16_t)e;
            s1 = (int16_t)o;
            s2 = e >> 16;
            s3 = o >> 16;
        } else if (count <= 255) {
            tq_avg_rows(corner + c, rows, cols, ch, d->row, &e, &o);
            s0 = (int16_t)e;
            s1 = (int16_t)o;
            s2 = e >> 16;
            s3 = o >> 16;
        } else {
            const int8_t *x = corner + c;
            int32_t left = rows;
            s0 = s1 = s2 = s3 = 0;
            do {
                const int32_t n = TQ_MIN(left, d->per_sum);
                e = o = 0;
                tq_avg_rows(x, n, cols, ch, d->row, &e, &o);
                x += n * d->row;
                left -= n;
                s0 += (int16_t)e;
                s1 += (int16_t)o;
                s2 += e >> 16;
                s3 += o >> 16;
            } while (left);
        }
        word = tq_pack4_clamp(tq_avg_q(s0, bias, count2), tq_avg_q(s1, bias, count2), tq_avg_q(s2, bias, count2),
                              tq_avg_q(s3, bias, count2), d->lo4, d->hi4);
        memcpy(out + c, &word, 4);
        if (c + 4 >= ch) {
            return;
        }
        c = TQ_MIN(c + 4, ch - 4);
    }
}
#endif

#if defined(TQ_GEMM_MVE)
/*
 * One output pixel's channels [0, lanes) of eight (lanes <= 8; loads predicated past them): the
 * window summed in int16 lanes (exact for up to 255 values, flushed into int32 every 255 / cols rows;
 * rows of more than 255 pixels go to int32 pixel by pixel), then tq_avgpool_s8's rounding division, |sum| + count / 2 divided by count with the
 * sign put back: VMULH by inv = floor((2^32 - 1) / count) gives the quotient or one less (the error
 * of inv is below a / 2^32 < 1/2), and one compare of the remainder adds the one.
 */
static void tq_avg8_mve(const int8_t *x, int32_t rows, int32_t cols, int32_t row, int32_t ch, int32_t lanes, int8_t *out,
                        int32_t lo, int32_t hi)
{
    const mve_pred16_t pr = vctp16q((uint32_t)lanes);
    const int32_t per_sum = cols <= 255 ? 255 / cols : 1, count = rows * cols;
    const uint32_t inv = 0xffffffffu / (uint32_t)(count > 0 ? count : 1), half = (uint32_t)count / 2u;
    int32x4_t sum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    int16x8_t acc = vdupq_n_s16(0), r16 = vdupq_n_s16(0);
    int32_t fy, fx, held = 0, j;
    for (fy = 0; fy < rows && cols > 255; ++fy, x += row) {
        const int8_t *v = x;
        for (fx = 0; fx < cols; ++fx, v += ch) {
            const int16x8_t t = vldrbq_z_s16(v, pr);
            sum[0] = vaddq_s32(sum[0], vmovlbq_s16(t));
            sum[1] = vaddq_s32(sum[1], vmovltq_s16(t));
        }
    }
    for (fy = 0; fy < rows && cols <= 255; ++fy, x += row) {
        const int8_t *v = x;
        if (lanes == 8 && cols > 0) {
            /* A low-overhead loop, 4 instructions a pixel (the file is built for size, which GCC
               makes 8 here). */
            register int32_t n __asm__("lr") = cols;
            int16x8_t t;
            __asm__ volatile("dls    lr, lr\n"
                             "1:\n\t"
                             "vldrb.s16 %q[t], [%[v]]\n\t"
                             "add    %[v], %[ch]\n\t"
                             "vadd.i16 %q[acc], %q[acc], %q[t]\n\t"
                             "le     lr, 1b"
                             : [acc] "+w"(acc), [t] "=&w"(t), [v] "+&l"(v), "+&r"(n)
                             : [ch] "r"(ch)
                             : "memory");
        } else {
            for (fx = 0; fx < cols; ++fx, v += ch) {
                acc = vaddq_s16(acc, vldrbq_z_s16(v, pr));
            }
        }
        if (++held == per_sum || fy + 1 == rows) {
            sum[0] = vaddq_s32(sum[0], vmovlbq_s16(acc)); /* channels 0, 2, 4, 6 */
            sum[1] = vaddq_s32(sum[1], vmovltq_s16(acc)); /* 1, 3, 5, 7 */
            acc = vdupq_n_s16(0);
            held = 0;
        }
    }
    for (j = 0; j < 2; ++j) {
        const int32x4_t sign = vshrq_n_s32(sum[j], 31);
        const uint32x4_t a = vaddq_n_u32(vreinterpretq_u32_s32(vabsq_s32(sum[j])), half);
        uint32x4_t q = vmulhq_u32(a, vdupq_n_u32(inv));
        const uint32x4_t r = vsubq_u32(a, vmulq_n_u32(q, (uint32_t)count));
        q = vpselq_u32(vaddq_n_u32(q, 1u), q, vcmpcsq_n_u32(r, (uint32_t)count));
        {
            const int32x4_t v = vsubq_s32(veorq_s32(vreinterpretq_s32_u32(q), sign), sign);
            r16 = j == 0 ? vmovnbq_s32(r16, v) : vmovntq_s32(r16, v);
        }
    }
    r16 = vminq_s16(vmaxq_s16(r16, vdupq_n_s16((int16_t)lo)), vdupq_n_s16((int16_t)hi));
    vstrbq_p_s16(out, r16, pr);
}

/* round(s / count), ties away from zero, on eight int16 lanes (|s| <= 255 * 128): |s| + half, then
   the quotient by VMULH with inv = floor(65535 / count) (one less at most: a / 2^16 < 1/2) and one
   compare of the remainder; the sign put back. */
static inline __attribute__((always_inline)) int16x8_t tq_avg_div16(int16x8_t s, uint16x8_t inv, uint16_t count, uint16_t half)
{
    const int16x8_t sign = vshrq_n_s16(s, 15);
    const uint16x8_t a = vaddq_n_u16(vreinterpretq_u16_s16(vabsq_s16(s)), half);
    uint16x8_t q = vmulhq_u16(a, inv);
    q = vaddq_m_n_u16(q, q, 1, vcmpcsq_n_u16(vsubq_u16(a, vmulq_n_u16(q, count)), count));
    return vsubq_s16(veorq_s16(vreinterpretq_s16_u16(q), sign), sign);
}

/*
 * One output pixel, every channel, for windows of at most 255 values: sixteen channels at a time
 * (loads predicated past the channels) summed into int16 lanes as even and odd channels (VMOVLB /
 * VMOVLT; low-overhead loops, 6 instructions a pixel), divided in int16 lanes (tq_avg_div16),
 * clamped, put back in order by the narrowing moves and stored.
 * The predicate reaches the loop in VPR through gcc's "Up" operand constraint. clang has no constraint
 * (nor clobber name) for VPR: there the operand is a core register that a VMSR copies into P0 before
 * the loop, the value VPR already holds if the compiler kept `pred` there, the one predicate live here.
 */
#if defined(__clang__)
#define TQ_AVG16_SET_VPR "vmsr   p0, %[p]\n\t"
#define TQ_AVG16_VPR "r"
#else
#define TQ_AVG16_SET_VPR ""
#define TQ_AVG16_VPR "Up"
#endif
static void tq_avg16_mve(const int8_t *corner, int32_t rows, int32_t cols, int32_t row, int32_t ch, int8_t *out,
                         int16x8_t lo, int16x8_t hi)
{
    const uint16_t count = (uint16_t)(rows * cols), half = (uint16_t)(count / 2u);
    const uint16x8_t inv = vdupq_n_u16((uint16_t)(0xffffu / count));
    int32_t c;
    for (c = 0; c < ch; c += 16) {
        const mve_pred16_t pred = vctp8q((uint32_t)(ch - c));
        int16x8_t a0 = vdupq_n_s16(0), a1 = vdupq_n_s16(0);
        int8x16_t r = vdupq_n_s8(0);
        const int8_t *x = corner + c, *v;
        int32_t n = rows;
        __asm__ volatile(TQ_AVG16_SET_VPR
                         "1:\n\t"
                         "mov    %[v], %[x]\n\t"
                         "dls    lr, %[cols]\n"
                         "2:\n\t"
                         "vpst\n\t"
                         "vldrbt.u8 q1, [%[v]]\n\t"
                         "add    %[v], %[ch]\n\t"
                         "vmovlb.s8 q0, q1\n\t"
                         "vmovlt.s8 q1, q1\n\t"
                         "vadd.i16 %q[a0], %q[a0], q0\n\t"
                         "vadd.i16 %q[a1], %q[a1], q1\n\t"
                         "le     lr, 2b\n\t"
                         "add    %[x], %[row]\n\t"
                         "subs   %[n], #1\n\t"
                         "bne    1b"
                         : [a0] "+w"(a0), [a1] "+w"(a1), [x] "+&r"(x), [n] "+&r"(n), [v] "=&r"(v)
                         : [cols] "r"(cols), [ch] "r"(ch), [row] "r"(row), [p] TQ_AVG16_VPR(pred)
                         : "q0", "q1", "lr", "cc", "memory");
        r = vmovnbq_s16(r, vminq_s16(vmaxq_s16(tq_avg_div16(a0, inv, count, half), lo), hi));
        r = vmovntq_s16(r, vminq_s16(vmaxq_s16(tq_avg_div16(a1, inv, count, half), lo), hi));
        vstrbq_p_s8(out + c, r, pred);
    }
}
#endif

/*
 * tq_avgpool_s8's results a pixel at a time, its window clipped to the input. SIMD32: four channels a
 * word (tq_avg_words); a channel at a time for layers with fewer than four channels or windows wider
 * than 255 (params narrow, tq_avg_row1), and on cores without SIMD32. Helium: sixteen channels at a
 * time in int16 lanes for windows of at most 255 values (tq_avg16_mve), else eight in int32 (tq_avg8_mve).
 */
tq_status tq_avgpool_fast_s8(const tq_avgpool_s8_params *p, const int8_t *in, int8_t *out)
{
#if defined(TQ_GEMM_MVE)
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c, lo = p->act_min, hi = p->act_max;
    const int16x8_t lo16 = vdupq_n_s16((int16_t)lo), hi16 = vdupq_n_s16((int16_t)hi);
    int32_t b, oy, ox, c;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                const int32_t rows = fy1 - fy0, cols = fx1 - fx0;
                const int8_t *const corner = img + ((ptrdiff_t)(y0 + fy0) * iw + x0 + fx0) * ch;
                if (rows * cols <= 255) {
                    tq_avg16_mve(corner, rows, cols, iw * ch, ch, out, lo16, hi16);
                    continue;
                }
                for (c = 0; c < ch; c += 8) {
                    tq_avg8_mve(corner + c, rows, cols, iw * ch, ch, TQ_MIN(8, ch - c), out + c, lo, hi);
                }
            }
        }
    }
#else
    const int32_t ih = p->in.h, ch = p->in.c, row = p->in.w * ch;
    int32_t b;
#if defined(TQ_SIMD32)
    const int32_t per_sum = p->filter_w <= 255 ? 255 / p->filter_w : 1;
    const tq_avg_dims dims = {ch, row, per_sum, 0x01010101u * (uint8_t)p->act_min, 0x01010101u * (uint8_t)p->act_max};
    int32_t oy, ox;
#endif
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (ptrdiff_t)b * ih * row;
#if defined(TQ_AVG_ROW1)
#if defined(TQ_SIMD32)
        if (p->narrow)
#endif
        {
            tq_avg_row1(p, img, out);
            out += p->out.h * p->out.w * ch;
            continue;
        }
#endif
#if defined(TQ_SIMD32)
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), rows = TQ_MIN(p->filter_h, ih - y0) - fy0;
            const int8_t *const top = img + (ptrdiff_t)(y0 + fy0) * row;
            int32_t x0 = -p->pad_w;
            for (ox = 0; ox < p->out.w; ++ox, out += ch, x0 += p->stride_w) {
                const int32_t fx0 = TQ_MAX(0, -x0), cols = TQ_MIN(p->filter_w, p->in.w - x0) - fx0;
                tq_avg_words(top + (ptrdiff_t)(x0 + fx0) * ch, out, rows, cols, &dims);
            }
        }
#endif
    }
#endif
    return TQ_OK;
}
