/*
 * DEPTHWISE_CONV_2D int8, per-channel weights: TFLite reference_integer_ops::DepthwiseConvPerChannel
 * semantics.
 */
#include "tq_conv.h"

/* Filter taps [*lo, *hi) whose input coordinate origin + dil * k lies in [0, size). */
static void tq_dw_tap_range(int32_t origin, int32_t dil, int32_t size, int32_t taps, int32_t *lo, int32_t *hi)
{
    int32_t a = 0;
    int32_t b = taps;
    if (origin < 0) {
        a = (-origin + dil - 1) / dil;
    }
    if (size - 1 - origin < 0) {
        b = 0;
    } else if ((size - 1 - origin) / dil + 1 < b) {
        b = (size - 1 - origin) / dil + 1;
    }
    *lo = a;
    *hi = b > a ? b : a;
}

tq_status tq_depthwise_conv_s8(const tq_depthwise_conv_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t dm = p->depth_mult;
    int32_t b, oy, ox, ic, m;

    for (b = 0; b < p->in.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy_lo, fy_hi;
            tq_dw_tap_range(iy0, p->dil_h, in_h, p->kh, &fy_lo, &fy_hi);
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx_lo, fx_hi;
                tq_dw_tap_range(ix0, p->dil_w, in_w, p->kw, &fx_lo, &fx_hi);
                for (ic = 0; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = ic * dm + m;
                        int32_t acc = 0;
                        int32_t fy, fx;
                        for (fy = fy_lo; fy < fy_hi; ++fy) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            for (fx = fx_lo; fx < fx_hi; ++fx) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                const int32_t x = in_b[((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c + (size_t)ic];
                                const int32_t w = p->weights[((size_t)fy * (size_t)p->kw + (size_t)fx) * (size_t)out_c + (size_t)oc];
                                acc += w * (x + p->in_offset);
                            }
                        }
                        if (p->bias != NULL) {
                            acc += p->bias[oc];
                        }
                        acc = tq_mul_by_quantized_mult(acc, p->mult[oc], p->shift[oc]);
                        acc += p->out_offset;
                        acc = TQ_CLAMP(acc, p->act_min, p->act_max);
                        output[oc] = (int8_t)acc;
                    }
                }
                output += out_c;
            }
        }
    }
    return TQ_OK;
}
