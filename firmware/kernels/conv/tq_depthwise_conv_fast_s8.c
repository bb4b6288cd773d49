/* DEPTHWISE_CONV_2D, depth multiplier 1, channels four at a time (see tq_conv.h). */
#include "tq_conv_fast.h"

/* Four channels [c, c + 4) of one output pixel over the valid taps: acc[j] += sum (x + off) * w. */
static inline void tq_dw_block4(const tq_depthwise_conv_fast_s8_params *p, const int8_t *in_b, int32_t c, int32_t iy0,
                                int32_t ix0, int32_t fy_lo, int32_t fy_hi, int32_t fx_lo, int32_t fx_hi, int32_t *acc)
{
    const int32_t in_w = p->in.w, ch = p->in.c, off = p->in_offset;
    int32_t fy, fx;
#if defined(TQ_GEMM_MVE)
    int32x4_t a = vld1q_s32(acc);
#elif defined(TQ_GEMM_DSP)
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#endif
    for (fy = fy_lo; fy < fy_hi; ++fy) {
        const int8_t *row = in_b + ((size_t)(iy0 + fy * p->dil_h) * in_w) * ch + c;
        const int8_t *wrow = p->weights + (size_t)fy * p->kw * ch + c;
        for (fx = fx_lo; fx < fx_hi; ++fx) {
            const int8_t *x = row + (size_t)(ix0 + fx * p->dil_w) * ch;
            const int8_t *w = wrow + (size_t)fx * ch;
#if defined(TQ_GEMM_MVE)
            a = vaddq_s32(a, vmulq_s32(vaddq_n_s32(vldrbq_s32(x), off), vldrbq_s32(w)));
#elif defined(TQ_GEMM_DSP)
            const int32_t xv = tq_read_s8x4(x), wv = tq_read_s8x4(w);
            const int32_t xe = __sadd16(__sxtb16(xv), off2), xo = __sadd16(tq_sxtb16_ror8(xv), off2);
            const int32_t we = __sxtb16(wv), wo = tq_sxtb16_ror8(wv);
            a0 = __smlabb(xe, we, a0);
            a2 = __smlatt(xe, we, a2);
            a1 = __smlabb(xo, wo, a1);
            a3 = __smlatt(xo, wo, a3);
#else
            int32_t j;
            for (j = 0; j < 4; ++j) {
                acc[j] += ((int32_t)x[j] + off) * w[j];
            }
#endif
        }
    }
#if defined(TQ_GEMM_MVE)
    vst1q_s32(acc, a);
#elif defined(TQ_GEMM_DSP)
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#endif
}

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, ch = p->in.c;
    const int32_t off = p->in_offset;
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy_lo = 0, fy_hi = p->kh;
            while (fy_lo < fy_hi && iy0 + fy_lo * p->dil_h < 0) {
                ++fy_lo;
            }
            while (fy_hi > fy_lo && iy0 + (fy_hi - 1) * p->dil_h >= in_h) {
                --fy_hi;
            }
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx_lo = 0, fx_hi = p->kw;
                while (fx_lo < fx_hi && ix0 + fx_lo * p->dil_w < 0) {
                    ++fx_lo;
                }
                while (fx_hi > fx_lo && ix0 + (fx_hi - 1) * p->dil_w >= in_w) {
                    --fx_hi;
                }
                c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t acc[4];
                    int32_t j;
                    for (j = 0; j < 4; ++j) {
                        acc[j] = p->bias != NULL ? p->bias[c + j] : 0;
                    }
                    tq_dw_block4(p, in_b, c, iy0, ix0, fy_lo, fy_hi, fx_lo, fx_hi, acc);
                    for (j = 0; j < 4; ++j) {
                        int32_t v = tq_requantize_rs(acc[j], p->mult[c + j], -p->shift[c + j]) + p->out_offset;
                        output[c + j] = (int8_t)TQ_CLAMP(v, p->act_min, p->act_max);
                    }
                }
                for (; c < ch; ++c) {
                    int32_t acc = p->bias != NULL ? p->bias[c] : 0;
                    int32_t v;
                    for (fy = fy_lo; fy < fy_hi; ++fy) {
                        const int32_t iy = iy0 + fy * p->dil_h;
                        for (fx = fx_lo; fx < fx_hi; ++fx) {
                            const int32_t ix = ix0 + fx * p->dil_w;
                            acc += ((int32_t)in_b[((size_t)iy * in_w + ix) * ch + c] + off) * p->weights[((size_t)fy * p->kw + fx) * ch + c];
                        }
                    }
                    v = tq_requantize_rs(acc, p->mult[c], -p->shift[c]) + p->out_offset;
                    output[c] = (int8_t)TQ_CLAMP(v, p->act_min, p->act_max);
                }
                output += ch;
            }
        }
    }
    return TQ_OK;
}
