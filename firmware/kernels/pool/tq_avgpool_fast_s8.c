/* AVERAGE_POOL_2D, int8, four channels at a time on the DSP extension (see tq_pool.h). */
/* Run once per inference: built for size. */
#pragma GCC optimize("Os")
#include "tq_gemm.h"
#include "tq_pool.h"

#if defined(TQ_SIMD32)
/* Bytes 1 and 3 of w added to the two halfwords of acc (GCC 12 does not fold the rotate itself). */
static inline int32_t tq_sxtab16_ror8(int32_t acc, int32_t w)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(w));
    return r;
}
#endif

/*
 * sum[0..3] += the window's values of channels c .. c + 3 (rows x rows of cols pixels, `row` bytes
 * apart, `ch` apart within a row). With SIMD32 the four sums run in the halfwords of two registers
 * (SXTAB16 adds bytes 0 and 2, or 1 and 3, sign-extended), exact for up to 255 values (|sum| <=
 * 255 * 128): they go into the 32-bit sums every `per_sum` rows (255 / cols).
 */
static inline void tq_avg_sum4(const int8_t *x, int32_t rows, int32_t cols, int32_t row, int32_t ch, int32_t *sum)
{
    int32_t fy, fx, j;
#if defined(TQ_SIMD32)
    const int32_t per_sum = 255 / cols;
    if (per_sum > 0) {
        int32_t even = 0, odd = 0, held = 0;
        for (fy = 0; fy < rows; ++fy, x += row) {
            const int8_t *v = x;
            for (fx = 0; fx < cols; ++fx, v += ch) {
                const int32_t w = tq_read_s8x4(v);
                even = __sxtab16(even, w);
                odd = tq_sxtab16_ror8(odd, w);
            }
            if (++held == per_sum || fy + 1 == rows) {
                sum[0] += (int16_t)even;
                sum[1] += (int16_t)odd;
                sum[2] += (int16_t)((uint32_t)even >> 16);
                sum[3] += (int16_t)((uint32_t)odd >> 16);
                even = odd = held = 0;
            }
        }
        return;
    }
#endif
    for (fy = 0; fy < rows; ++fy, x += row) {
        for (fx = 0; fx < cols; ++fx) {
            for (j = 0; j < 4; ++j) {
                sum[j] += x[fx * ch + j];
            }
        }
    }
}

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
                             : [acc] "+w"(acc), [t] "=&w"(t), [v] "+l"(v), "+r"(n)
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
#endif

/*
 * tq_avgpool_s8's results, four channels at a time (tq_avg_sum4); the last in.c % 4 channels
 * one by one. On Helium eight channels at a time (tq_avg8_mve).
 */
tq_status tq_avgpool_fast_s8(const tq_avgpool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c, lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, c, j;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (size_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                const int32_t rows = fy1 - fy0, cols = fx1 - fx0, count = rows * cols;
                const int8_t *const corner = img + ((size_t)(y0 + fy0) * iw + x0 + fx0) * ch;
#if defined(TQ_GEMM_MVE)
                (void)j;
                (void)count;
                for (c = 0; c < ch; c += 8) {
                    tq_avg8_mve(corner + c, rows, cols, iw * ch, ch, TQ_MIN(8, ch - c), out + c, lo, hi);
                }
#else
                for (c = 0; c < ch; c += 4) {
                    int32_t sum[4] = {0, 0, 0, 0};
                    if (ch - c >= 4) {
                        tq_avg_sum4(corner + c, rows, cols, iw * ch, ch, sum);
                    } else {
                        int32_t fy, fx;
                        for (fy = 0; fy < rows; ++fy) {
                            for (fx = 0; fx < cols; ++fx) {
                                for (j = 0; j < ch - c; ++j) {
                                    sum[j] += corner[((size_t)fy * iw + fx) * ch + c + j];
                                }
                            }
                        }
                    }
                    for (j = 0; j < 4 && c + j < ch; ++j) {
                        /* Round to nearest, ties away from zero; C division truncates toward zero. */
                        const int32_t v = sum[j] > 0 ? (sum[j] + count / 2) / count : (sum[j] - count / 2) / count;
                        out[c + j] = (int8_t)TQ_CLAMP(v, lo, hi);
                    }
                }
#endif
            }
        }
    }
    return TQ_OK;
}
