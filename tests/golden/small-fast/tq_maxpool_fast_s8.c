/* MAX_POOL_2D, int8: four channels a word on the DSP extension (SSUB8 + SEL), sixteen a vector on Helium. */
#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))
/* Run once per inference: built for size (the window loops are assembler). */
#pragma GCC optimize("Os")
#endif
#include "tq_gemm.h"
#include "tq_pool.h"

/* The channel-at-a-time path: on cores without SIMD32 or Helium always, on SIMD32 cores where a layer
   needs it (params narrow; TQ_CFG_POOL_NARROW). */
#if !defined(TQ_GEMM_MVE) && (!defined(TQ_SIMD32) || TQ_CFG_POOL_NARROW)
#define TQ_MAX_ROW1 1
#endif

#if defined(TQ_MAX_ROW1)
/*
 * One image, a channel at a time: the window's maximum, at least act_min, at most act_max. For fewer
 * than four channels and cores without SIMD32. Two-pixel window rows have their own loop.
 */
static __attribute__((noinline)) void tq_max_row1(const tq_maxpool_s8_params *p, const int8_t *img, int8_t *out)
{
    const int32_t ch = p->in.c, iw = p->in.w, row = iw * ch, fw = p->filter_w, lo = p->act_min, hi = p->act_max;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out.h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = TQ_MAX(0, -y0), rows = TQ_MIN(p->filter_h, p->in.h - y0) - fy0;
        const int8_t *const top = img + (ptrdiff_t)(y0 + fy0) * row;
        int32_t x0 = -p->pad_w;
        for (ox = 0; ox < p->out.w; ++ox, x0 += p->stride_w) {
            const int32_t fx0 = TQ_MAX(0, -x0), cols = TQ_MIN(fw, iw - x0) - fx0;
            const int8_t *const corner = top + (x0 + fx0) * ch;
            for (c = 0; c < ch; ++c) {
                const int8_t *x = corner + c;
                int32_t m = lo, n = rows;
                if (cols == 2) {
                    do {
                        const int32_t t0 = x[0], t1 = x[ch];
                        m = t0 > m ? t0 : m;
                        m = t1 > m ? t1 : m;
                        x += row;
                    } while (--n);
                } else {
                    do {
                        const int8_t *v = x;
                        int32_t k = cols;
                        do {
                            const int32_t t = *v;
                            m = t > m ? t : m;
                            v += ch;
                        } while (--k);
                        x += row;
                    } while (--n);
                }
                *out++ = (int8_t)(m > hi ? hi : m);
            }
        }
    }
}
#endif

#if defined(TQ_SIMD32) && !defined(TQ_GEMM_MVE)
/*
 * One output pixel's channels four a word: m = the bytewise maximum of lo4 and the window (rows x
 * cols pixels from corner, `row` bytes apart; SSUB8 sets a GE flag per byte where the first operand
 * is not below the second, SEL keeps those bytes), then the minimum with hi4. The last word is that
 * of the last four channels, which overlaps the one before where ch is not a multiple of four (the
 * same values again; every byte it reads lies at or above every byte written, see tinyq.ops.overlap).
 */
static __attribute__((noinline)) void tq_max_words(const int8_t *corner, int8_t *out, int32_t rows, int32_t cols, int32_t ch,
                                                   int32_t row, const uint32_t *lohi)
{
    int32_t c = 0;
    for (;;) {
        const int8_t *x = corner + c, *v;
        uint32_t m = lohi[0], w, t;
        int32_t n = rows, k;
        __asm__ volatile("1:\n\t"
                         "mov     %[v], %[x]\n\t"
                         "mov     %[k], %[cols]\n"
                         "2:\n\t"
                         "ldr     %[w], [%[v]]\n\t"
                         "add     %[v], %[v], %[ch]\n\t"
                         "ssub8   %[t], %[m], %[w]\n\t"
                         "sel     %[m], %[m], %[w]\n\t"
                         "subs    %[k], %[k], #1\n\t"
                         "bne     2b\n\t"
                         "add     %[x], %[x], %[row]\n\t"
                         "subs    %[n], %[n], #1\n\t"
                         "bne     1b\n\t"
                         "ssub8   %[t], %[hi], %[m]\n\t"
                         "sel     %[m], %[m], %[hi]"
                         : [m] "+&r"(m), [x] "+&r"(x), [n] "+&r"(n), [v] "=&r"(v), [k] "=&r"(k), [w] "=&r"(w), [t] "=&r"(t)
                         : [cols] "r"(cols), [ch] "r"(ch), [row] "r"(row), [hi] "r"(lohi[1])
                         : "cc", "memory");
        memcpy(out + c, &m, 4);
        if (c + 4 >= ch) {
            return;
        }
        c = TQ_MIN(c + 4, ch - 4);
    }
}
#endif

/*
 * tq_maxpool_s8's results: the window's maximum clamped to [act_min, act_max], which is the maximum
 * of act_min and the window, then the minimum with act_max. A pixel at a time, four channels a word
 * where SIMD32 is available (tq_max_words), sixteen a vector on Helium; a channel at a time for fewer
 * than four channels or without either (tq_max_row1).
 */
tq_status tq_maxpool_fast_s8(const tq_maxpool_s8_params *p, const int8_t *in, int8_t *out)
{
#if defined(TQ_GEMM_MVE)
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c, lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                const int8_t *const corner = img + ((ptrdiff_t)(y0 + fy0) * iw + x0 + fx0) * ch;
                /* Sixteen channels a step, the last step's loads and store predicated. */
                for (c = 0; c < ch; c += 16) {
                    const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                    int8x16_t m = vdupq_n_s8((int8_t)lo);
                    for (fy = 0; fy < fy1 - fy0; ++fy) {
                        const int8_t *x = corner + (ptrdiff_t)fy * iw * ch + c;
                        for (fx = fx0; fx < fx1; ++fx, x += ch) {
                            m = vmaxq_s8(m, vldrbq_z_s8(x, pr));
                        }
                    }
                    vstrbq_p_s8(out + c, vminq_s8(m, vdupq_n_s8((int8_t)hi)), pr);
                }
            }
        }
    }
#else
    const int32_t ih = p->in.h, ch = p->in.c, row = p->in.w * ch;
    int32_t b;
#if defined(TQ_SIMD32)
    const uint32_t lohi[2] = {0x01010101u * (uint8_t)p->act_min, 0x01010101u * (uint8_t)p->act_max};
    int32_t oy, ox;
#endif
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (ptrdiff_t)b * ih * row;
#if defined(TQ_MAX_ROW1)
#if defined(TQ_SIMD32)
        if (p->narrow)
#endif
        {
            tq_max_row1(p, img, out);
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
                tq_max_words(top + (ptrdiff_t)(x0 + fx0) * ch, out, rows, cols, ch, row, lohi);
            }
        }
#endif
    }
#endif
    return TQ_OK;
}
