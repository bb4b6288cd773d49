/* DEPTHWISE_CONV_2D, depth multiplier 1, channels four at a time (see tq_conv_fast.h). */
#include "tq_conv_fast.h"

/* acc[j] += sum over the taps of x[c + j] * w[c + j], j < 4; tap t reads tap[t] + c and w + t * ch + c. */
static inline void tq_dw_block4(const int8_t *const *tap, int32_t taps, const int8_t *w, int32_t ch, int32_t c, int32_t *acc)
{
    int32_t t;
#if defined(TQ_GEMM_MVE)
    int32x4_t a = vld1q_s32(acc);
    for (t = 0; t < taps; ++t, w += ch) {
        a = vaddq_s32(a, vmulq_s32(vldrbq_s32(tap[t] + c), vldrbq_s32(w + c)));
    }
    vst1q_s32(acc, a);
#elif defined(TQ_GEMM_DSP)
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (t = 0; t < taps; ++t, w += ch) {
        const int32_t xv = tq_read_s8x4(tap[t] + c), wv = tq_read_s8x4(w + c);
        const int32_t xe = __sxtb16(xv), xo = tq_sxtb16_ror8(xv);
        const int32_t we = __sxtb16(wv), wo = tq_sxtb16_ror8(wv);
        a0 = __smlabb(xe, we, a0);
        a2 = __smlatt(xe, we, a2);
        a1 = __smlabb(xo, wo, a1);
        a3 = __smlatt(xo, wo, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    for (t = 0; t < taps; ++t, w += ch) {
        int32_t j;
        for (j = 0; j < 4; ++j) {
            acc[j] += (int32_t)tap[t][c + j] * w[c + j];
        }
    }
#endif
}

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    /* Locals, not p->...: the int8 output stores may alias anything, which would force reloads. */
    const int32_t in_h = p->in.h, in_w = p->in.w, ch = p->in.c, kh = p->kh, kw = p->kw, taps = kh * kw;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const rnd = p->rnd, *const rsh = p->rsh;
    const int8_t *const weights = p->weights;
    const int full = lo == -128 && hi == 127; /* the clamp is a saturation */
    int8_t *const zp_row = scratch;
    const int8_t *tap[TQ_DW_MAX_TAPS];
    tq_row_stage stage;
    int32_t b, oy, ox, c, j, fy, fx;

    for (c = 0; c < ch; ++c) {
        zp_row[c] = (int8_t)p->in_zp;
    }
    tq_stage_init(&stage, scratch + ((ch + 7) & ~7), p->ring_rows, p->out.w * ch, in_w * ch, p->out.h, p->pad_h, p->stride_h);
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * ch;
        int8_t *const out_b = output + (size_t)b * p->out.h * p->out.w * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int8_t *out = tq_stage_row(&stage, out_b, oy);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t t = 0;
                for (fy = 0; fy < kh; ++fy) {
                    const int32_t iy = iy0 + fy * p->dil_h;
                    for (fx = 0; fx < kw; ++fx, ++t) {
                        const int32_t ix = ix0 + fx * p->dil_w;
                        tap[t] = (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) ? in_b + ((size_t)iy * in_w + ix) * ch : zp_row;
                    }
                }
                for (c = 0; c + 4 <= ch; c += 4) {
                    int32_t acc[4];
                    acc[0] = bias[c];
                    acc[1] = bias[c + 1];
                    acc[2] = bias[c + 2];
                    acc[3] = bias[c + 3];
                    tq_dw_block4(tap, taps, weights, ch, c, acc);
                    if (full) {
                        for (j = 0; j < 4; ++j) {
                            const int32_t v = tq_requantize_rs2(acc[j], mult[c + j], rnd[c + j], rsh[c + j]) + zo;
                            out[c + j] = (int8_t)TQ_CLAMP(v, -128, 127); /* SSAT #8 */
                        }
                    } else {
                        for (j = 0; j < 4; ++j) {
                            const int32_t v = tq_requantize_rs2(acc[j], mult[c + j], rnd[c + j], rsh[c + j]) + zo;
                            out[c + j] = (int8_t)TQ_CLAMP(v, lo, hi);
                        }
                    }
                }
                for (; c < ch; ++c) {
                    int32_t acc = bias[c], v;
                    for (t = 0; t < taps; ++t) {
                        acc += (int32_t)tap[t][c] * weights[(size_t)t * ch + c];
                    }
                    v = tq_requantize_rs2(acc, mult[c], rnd[c], rsh[c]) + zo;
                    out[c] = (int8_t)TQ_CLAMP(v, lo, hi);
                }
                out += ch;
            }
            tq_stage_flush(&stage, out_b, oy);
        }
    }
    return TQ_OK;
}
