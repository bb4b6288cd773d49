/* DEPTHWISE_CONV_2D, depth multiplier 1, channels four at a time (see tq_conv_fast.h). */
#include "tq_conv_fast.h"

/* Where the valid taps of one output pixel start and how to step through them. */
typedef struct {
    const int8_t *x;        /* input at the first valid tap, channel 0 */
    const int8_t *w;        /* weights at the first valid tap, channel 0 */
    int32_t rows, cols;     /* valid taps */
    int32_t x_col, x_row;   /* input steps between taps along a row, and between rows */
    int32_t w_row;          /* weight step between rows (along a row it is the channel count) */
    int32_t ch;
} tq_dw_taps;

/* acc[j] += sum over the taps of (x[c + j] + off) * w[c + j], j < 4. */
static inline void tq_dw_block4(const tq_dw_taps *t, int32_t c, int32_t off, int32_t *acc)
{
    const int8_t *xr = t->x + c, *wr = t->w + c;
    int32_t fy, fx;
#if defined(TQ_GEMM_MVE)
    int32x4_t a = vld1q_s32(acc);
#elif defined(TQ_GEMM_DSP)
    const int32_t off2 = (int32_t)(((uint32_t)(uint16_t)off << 16) | (uint16_t)off);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#endif
#if defined(TQ_GEMM_DSP)
    if (t->cols == 3) { /* the common 3-wide window, unrolled: no inner loop, offsets in registers */
        const int32_t xc = t->x_col, wc = t->ch;
        for (fy = 0; fy < t->rows; ++fy, xr += t->x_row, wr += t->w_row) {
            int32_t i;
            for (i = 0; i < 3; ++i) {
                const int32_t xv = tq_read_s8x4(xr + i * xc), wv = tq_read_s8x4(wr + i * wc);
                const int32_t xe = __sadd16(__sxtb16(xv), off2), xo = __sadd16(tq_sxtb16_ror8(xv), off2);
                const int32_t we = __sxtb16(wv), wo = tq_sxtb16_ror8(wv);
                a0 = __smlabb(xe, we, a0);
                a2 = __smlatt(xe, we, a2);
                a1 = __smlabb(xo, wo, a1);
                a3 = __smlatt(xo, wo, a3);
            }
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
#endif
    for (fy = 0; fy < t->rows; ++fy, xr += t->x_row, wr += t->w_row) {
        const int8_t *x = xr, *w = wr;
        for (fx = 0; fx < t->cols; ++fx, x += t->x_col, w += t->ch) {
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

/* The valid taps [lo, hi) of a window starting at `origin` over an axis of `size`. */
static inline void tq_dw_range(int32_t origin, int32_t dil, int32_t taps, int32_t size, int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = taps;
    while (a < b && origin + a * dil < 0) {
        ++a;
    }
    while (b > a && origin + (b - 1) * dil >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    /* Locals, not p->...: the int8 output stores may alias anything, which would force reloads. */
    const int32_t in_h = p->in.h, in_w = p->in.w, ch = p->in.c;
    const int32_t off = p->in_offset, zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const rnd = p->rnd, *const rsh = p->rsh;
    const int8_t *const weights = p->weights;
    const int full = lo == -128 && hi == 127; /* the clamp is a saturation */
    tq_dw_taps t;
    tq_row_stage stage;
    int32_t b, oy, ox, c, j;

    t.x_col = p->dil_w * ch;
    t.x_row = p->dil_h * in_w * ch;
    t.w_row = p->kw * ch;
    t.ch = ch;
    tq_stage_init(&stage, scratch, p->ring_rows, p->out.w * ch, in_w * ch, p->out.h, p->pad_h, p->stride_h);
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * ch;
        int8_t *const out_b = output + (size_t)b * p->out.h * p->out.w * ch;
        for (oy = 0; oy < p->out.h; ++oy) {
            int8_t *out = tq_stage_row(&stage, out_b, oy);
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy_lo, fy_hi;
            tq_dw_range(iy0, p->dil_h, p->kh, in_h, &fy_lo, &fy_hi);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx_lo, fx_hi;
                tq_dw_range(ix0, p->dil_w, p->kw, in_w, &fx_lo, &fx_hi);
                t.rows = fy_hi - fy_lo;
                t.cols = fx_hi - fx_lo;
                t.x = in_b + ((size_t)(iy0 + fy_lo * p->dil_h) * in_w + (ix0 + fx_lo * p->dil_w)) * ch;
                t.w = weights + ((size_t)fy_lo * p->kw + fx_lo) * ch;
                for (c = 0; c + 4 <= ch; c += 4) {
                    int32_t acc[4];
                    for (j = 0; j < 4; ++j) {
                        acc[j] = bias != NULL ? bias[c + j] : 0;
                    }
                    tq_dw_block4(&t, c, off, acc);
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
                    int32_t acc = bias != NULL ? bias[c] : 0;
                    int32_t fy, fx, v;
                    for (fy = 0; fy < t.rows; ++fy) {
                        for (fx = 0; fx < t.cols; ++fx) {
                            acc += ((int32_t)t.x[fy * t.x_row + fx * t.x_col + c] + off) * t.w[fy * t.w_row + fx * ch + c];
                        }
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
