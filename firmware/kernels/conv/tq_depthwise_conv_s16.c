/* DEPTHWISE_CONV_2D, int16 activations, int8 weights: reference_integer_ops::DepthwiseConvPerChannel for int16 input and int64 bias (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_depthwise_conv_s16(const tq_depthwise_conv_s16_params *p, const int16_t *input, int16_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, out_c = p->out.c;

    for (int32_t b = 0; b < p->in.n; ++b) {
        const int16_t *img = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t ic = oc / p->depth_mult;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x < 0 || x >= in_w) {
                                continue;
                            }
                            const int32_t v = img[((size_t)y * (size_t)in_w + (size_t)x) * (size_t)in_c + (size_t)ic];
                            const int32_t w = p->weights[((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)out_c + (size_t)oc];
                            acc += (int64_t)(w * v);
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    const int32_t r = tq_mul_by_quantized_mult_s64(acc, p->mult[oc], p->shift[oc]);
                    *output++ = (int16_t)TQ_CLAMP(r, p->act_min, p->act_max);
                }
            }
        }
    }
    return TQ_OK;
}
