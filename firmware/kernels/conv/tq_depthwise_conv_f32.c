/* DEPTHWISE_CONV_2D float32, TFLite reference_ops::DepthwiseConv order (see tq_float.h). */
#include "tq_float.h"

tq_status tq_depthwise_conv_f32(const tq_depthwise_conv_f32_params *p, const float *in, float *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ic = p->in.c, oc = p->out.c;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const float *img = in + (size_t)b * (size_t)ih * (size_t)iw * (size_t)ic;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                for (int32_t o = 0; o < oc; ++o) {
                    const int32_t c = o / p->depth_mult;
                    float total = 0.0f;
                    for (int32_t ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = oy * p->stride_h - p->pad_h + p->dil_h * ky;
                        for (int32_t kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = ox * p->stride_w - p->pad_w + p->dil_w * kx;
                            if (y >= 0 && y < ih && x >= 0 && x < iw) {
                                total += img[((size_t)y * (size_t)iw + (size_t)x) * (size_t)ic + (size_t)c] *
                                         p->weights[((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)oc + (size_t)o];
                            }
                        }
                    }
                    const float bias = p->bias != NULL ? p->bias[o] : 0.0f;
                    *out++ = tq_clamp_f32(total + bias, p->act_min, p->act_max);
                }
            }
        }
    }
    return TQ_OK;
}
