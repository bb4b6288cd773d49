/* TRANSPOSE_CONV, int16 activations, int8 weights: reference_integer_ops::TransposeConv with int64 bias (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_transpose_conv_s16(const tq_transpose_conv_s16_params *p, const int16_t *input, const int32_t *output_shape,
                                int16_t *output, int64_t *scratch)
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
    /* Scatter, as tq_transpose_conv_s8: each product is an int32, the sums int64 (exact, any order). */
    for (int32_t b = 0; b < p->in.n; ++b) {
        const int16_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        int64_t *acc_b = scratch + (size_t)b * (size_t)out_h * (size_t)out_w * (size_t)out_c;
        for (int32_t iy = 0; iy < in_h; ++iy) {
            const int32_t oy0 = iy * p->stride_h - p->pad_h;
            const int32_t ky_lo = TQ_MAX(0, -oy0);
            const int32_t ky_hi = TQ_MIN(p->kh, out_h - oy0);
            for (int32_t ix = 0; ix < in_w; ++ix) {
                const int32_t ox0 = ix * p->stride_w - p->pad_w;
                const int32_t kx_lo = TQ_MAX(0, -ox0);
                const int32_t kx_hi = TQ_MIN(p->kw, out_w - ox0);
                const int16_t *x = in_b + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        int64_t *acc = acc_b + ((size_t)(oy0 + ky) * (size_t)out_w + (size_t)(ox0 + kx)) * (size_t)out_c;
                        const int8_t *tap = p->weights + ((size_t)ky * (size_t)p->kw + (size_t)kx) * (size_t)in_c;
                        for (int32_t oc = 0; oc < out_c; ++oc) {
                            const int8_t *w = tap + (size_t)oc * filter_stride;
                            int64_t sum = acc[oc];
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                sum += (int64_t)((int32_t)x[ic] * (int32_t)w[ic]);
                            }
                            acc[oc] = sum;
                        }
                    }
                }
            }
        }
    }
    for (i = 0; i < total; i += (size_t)out_c) {
        for (int32_t oc = 0; oc < out_c; ++oc) {
            int64_t acc = scratch[i + (size_t)oc];
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            const int32_t v = tq_mul_by_quantized_mult_s64(acc, p->mult[oc], p->shift[oc]);
            output[i + (size_t)oc] = (int16_t)TQ_CLAMP(v, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
