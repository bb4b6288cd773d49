/* MAX_POOL_2D, int8, four channels at a time where SIMD32 is available (see tq_pool.h). */
#include "tq_gemm.h"
#include "tq_pool.h"

#if defined(TQ_SIMD32)
/* Bytewise signed max(a, b) and min(a, b): SSUB8 sets a GE flag per byte where a >= b, SEL picks. */
static inline uint32_t tq_max4(uint32_t a, uint32_t b)
{
    uint32_t t;
    __asm__("ssub8  %1, %0, %2\n\t"
            "sel    %0, %0, %2"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}

static inline uint32_t tq_min4(uint32_t a, uint32_t b)
{
    uint32_t t;
    __asm__("ssub8  %1, %0, %2\n\t"
            "sel    %0, %2, %0"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}
#endif

/*
 * tq_maxpool_s8's results: the window's maximum clamped to [act_min, act_max], which is the maximum
 * of act_min and the window, then the minimum with act_max; four channels in a word (SSUB8 + SEL per
 * value) where SIMD32 is available, the last in.c % 4 channels one by one.
 */
tq_status tq_maxpool_fast_s8(const tq_maxpool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c, lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (size_t)b * ih * iw * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (ox = 0; ox < p->out.w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                const int8_t *const corner = img + ((size_t)(y0 + fy0) * iw + x0 + fx0) * ch;
                c = 0;
#if defined(TQ_GEMM_MVE)
                /* Sixteen channels a step, the last step's loads and store predicated. */
                for (; c < ch; c += 16) {
                    const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                    int8x16_t m = vdupq_n_s8((int8_t)lo);
                    for (fy = 0; fy < fy1 - fy0; ++fy) {
                        const int8_t *x = corner + (size_t)fy * iw * ch + c;
                        for (fx = fx0; fx < fx1; ++fx, x += ch) {
                            m = vmaxq_s8(m, vldrbq_z_s8(x, pr));
                        }
                    }
                    vstrbq_p_s8(out + c, vminq_s8(m, vdupq_n_s8((int8_t)hi)), pr);
                }
#else
#if defined(TQ_SIMD32)
                for (; c + 4 <= ch; c += 4) {
                    uint32_t m = 0x01010101u * (uint8_t)lo;
                    for (fy = 0; fy < fy1 - fy0; ++fy) {
                        const int8_t *x = corner + (size_t)fy * iw * ch + c;
                        for (fx = fx0; fx < fx1; ++fx, x += ch) {
                            m = tq_max4(m, (uint32_t)tq_read_s8x4(x));
                        }
                    }
                    m = tq_min4(m, 0x01010101u * (uint8_t)hi);
                    memcpy(out + c, &m, 4);
                }
#endif
                for (; c < ch; ++c) {
                    int32_t m = lo;
                    for (fy = 0; fy < fy1 - fy0; ++fy) {
                        const int8_t *x = corner + (size_t)fy * iw * ch + c;
                        for (fx = fx0; fx < fx1; ++fx, x += ch) {
                            m = *x > m ? *x : m;
                        }
                    }
                    out[c] = (int8_t)TQ_MIN(m, hi);
                }
#endif
            }
        }
    }
    return TQ_OK;
}
