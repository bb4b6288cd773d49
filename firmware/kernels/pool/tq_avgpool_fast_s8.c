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

/*
 * tq_avgpool_s8's results, four channels at a time (tq_avg_sum4); the last in.c % 4 channels
 * one by one.
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
            }
        }
    }
    return TQ_OK;
}
