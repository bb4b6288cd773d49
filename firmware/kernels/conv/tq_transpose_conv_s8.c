/* TRANSPOSE_CONV int8, per-channel weights: TFLite reference_integer_ops::TransposeConv (see tq_conv.h). */
#include "tq_conv.h"

tq_status tq_transpose_conv_s8(const tq_transpose_conv_s8_params *p, const int8_t *input, const int32_t *output_shape,
                               int8_t *output, int32_t *scratch)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const size_t filter_stride = (size_t)p->kh * (size_t)p->kw * (size_t)in_c;
    const size_t total = (size_t)p->out.n * (size_t)out_h * (size_t)out_w * (size_t)out_c;
    size_t i;

    if (output_shape != NULL && (output_shape[0] != p->out.n || output_shape[1] != p->out.h ||
                                 output_shape[2] != p->out.w || output_shape[3] != p->out.c)) {
        return TQ_ARG_ERROR; /* a run-time output_shape other than the one this code was generated for */
    }

    for (i = 0; i < total; ++i) {
        scratch[i] = 0;
    }
    /* Scatter: every input pixel adds its products to the outputs its taps reach. The sum is
       exact in int32 (checked at generation time), so its order is free. */
    for (int32_t b = 0; b < p->in.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        int32_t *acc_b = scratch + (size_t)b * (size_t)out_h * (size_t)out_w * (size_t)out_c;
        for (int32_t iy = 0; iy < in_h; ++iy) {
            const int32_t oy0 = iy * p->stride_h - p->pad_h;
            const int32_t ky_lo = TQ_MAX(0, -oy0);
            const int32_t ky_hi = TQ_MIN(p->kh, out_h - oy0);
            for (int32_t ix = 0; ix < in_w; ++ix) {
                const int32_t ox0 = ix * p->stride_w - p->pad_w;
                const int32_t kx_lo = TQ_MAX(0, -ox0);
                const int32_t kx_hi = TQ_MIN(p->kw, out_w - ox0);
                const int8_t *x = in_b + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        int32_t *acc = acc_b + ((size_t)(oy0 + ky) * (size_t)out_w + (size_t)(ox0 + kx)) * (size_t)out_c;
                        const int8_t *tap = p->weights + ((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)in_c;
                        for (int32_t oc = 0; oc < out_c; ++oc) {
                            const int8_t *w = tap + (size_t)oc * filter_stride;
                            int32_t sum = acc[oc];
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                sum += ((int32_t)x[ic] + p->in_offset) * (int32_t)w[ic];
                            }
                            acc[oc] = sum;
                        }
                    }
                }
            }
        }
    }
    /* Bias and per-channel requantization, pixel by pixel. */
    for (i = 0; i < total; i += (size_t)out_c) {
        for (int32_t oc = 0; oc < out_c; ++oc) {
            int32_t acc = scratch[i + (size_t)oc];
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = tq_mul_by_quantized_mult(acc, p->mult[oc], p->shift[oc]);
            acc += p->out_offset;
            output[i + (size_t)oc] = (int8_t)TQ_CLAMP(acc, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
