/* CONV_2D float32, TFLite reference_ops::Conv order of summation (see tq_float.h). */
#include "tq_float.h"

tq_status tq_conv_f32(const tq_conv_f32_params *p, const float *in, float *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ic = p->in.c;
    const int32_t oc = p->out.c, fic = p->filter_in_c;
    const int32_t per_group = oc / p->groups;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const float *img = in + (size_t)b * (size_t)ih * (size_t)iw * (size_t)ic;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t o = 0; o < oc; ++o) {
                    const float *w = p->weights + (size_t)o * (size_t)p->kh * (size_t)p->kw * (size_t)fic;
                    const int32_t first = (o / per_group) * fic;
                    float total = 0.0f;
                    for (int32_t ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = y0 + p->dil_h * ky;
                        for (int32_t kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = x0 + p->dil_w * kx;
                            if (y < 0 || y >= ih || x < 0 || x >= iw) {
                                continue;
                            }
                            const float *px = img + ((size_t)y * (size_t)iw + (size_t)x) * (size_t)ic + first;
                            const float *wk = w + ((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)fic;
                            for (int32_t i = 0; i < fic; ++i) {
                                total += px[i] * wk[i];
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
