/* TRANSPOSE_CONV float32: TFLite reference_ops::TransposeConv, its scatter order of summation (see tq_float.h). */
#include "tq_float.h"

tq_status tq_transpose_conv_f32(const tq_transpose_conv_f32_params *p, const float *in, const int32_t *output_shape,
                                float *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ic = p->in.c;
    const int32_t oh = p->out.h, ow = p->out.w, oc = p->out.c;
    const size_t filter_stride = (size_t)p->kh * (size_t)p->kw * (size_t)ic;
    const size_t total = (size_t)p->out.n * (size_t)oh * (size_t)ow * (size_t)oc;
    size_t i;

    if (output_shape != NULL && (output_shape[0] != p->out.n || output_shape[1] != p->out.h ||
                                 output_shape[2] != p->out.w || output_shape[3] != p->out.c)) {
        return TQ_ARG_ERROR; /* a run-time output_shape other than the one this code was generated for */
    }

    for (i = 0; i < total; ++i) {
        out[i] = 0.0f;
    }
    /* Input pixels in order; an output's terms from one pixel come channel by channel, so every
       output adds its terms in the reference's order (input row, column, channel). */
    for (int32_t b = 0; b < p->in.n; ++b) {
        const float *img = in + (size_t)b * (size_t)ih * (size_t)iw * (size_t)ic;
        float *dst = out + (size_t)b * (size_t)oh * (size_t)ow * (size_t)oc;
        for (int32_t iy = 0; iy < ih; ++iy) {
            const int32_t y0 = iy * p->stride_h - p->pad_h;
            const int32_t ky_lo = TQ_MAX(0, -y0);
            const int32_t ky_hi = TQ_MIN(p->kh, oh - y0);
            for (int32_t ix = 0; ix < iw; ++ix) {
                const int32_t x0 = ix * p->stride_w - p->pad_w;
                const int32_t kx_lo = TQ_MAX(0, -x0);
                const int32_t kx_hi = TQ_MIN(p->kw, ow - x0);
                const float *px = img + ((size_t)iy * (size_t)iw + (size_t)ix) * (size_t)ic;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        float *acc = dst + ((size_t)(y0 + ky) * (size_t)ow + (size_t)(x0 + kx)) * (size_t)oc;
                        const float *tap = p->weights + ((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)ic;
                        for (int32_t o = 0; o < oc; ++o) {
                            const float *w = tap + (size_t)o * filter_stride;
                            float total_o = acc[o];
                            for (int32_t c = 0; c < ic; ++c) {
                                total_o += px[c] * w[c];
                            }
                            acc[o] = total_o;
                        }
                    }
                }
            }
        }
    }
    for (i = 0; i < total; i += (size_t)oc) {
        for (int32_t o = 0; o < oc; ++o) {
            float acc = out[i + (size_t)o];
            if (p->bias != NULL) { /* no +0.0f without a bias: -0.0f stays -0.0f, as in the reference */
                acc += p->bias[o];
            }
            out[i + (size_t)o] = tq_clamp_f32(acc, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
