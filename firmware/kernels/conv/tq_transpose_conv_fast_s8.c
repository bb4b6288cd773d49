/* TRANSPOSE_CONV int8, the fast twin of tq_transpose_conv_s8 (see tq_conv.h): dot products over the
   input channels, two input pixels by two output channels at a time. */
#include "tq_conv.h"
#include "tq_dot_fast.h"

/* acc[oc] += tap_bias[oc] + w[oc] . x for one input pixel x and one tap (its weights w [out_c][in_c]): a
   function of its own, so that the row loop keeps its pointers and sums in registers. */
static __attribute__((noinline)) void tq_tc_tap(const int8_t *x, const int8_t *w, const int32_t *tb, int32_t *acc,
                                                int32_t out_c, int32_t in_c)
{
    const int32_t *const tb_end = tb + (out_c & ~1);
    for (; tb != tb_end; tb += 2, acc += 2, w += 2 * in_c) {
        int32_t s0 = tb[0], s1 = tb[1];
        tq_dot2_s8(x, w, w + in_c, in_c, &s0, &s1);
        acc[0] += s0;
        acc[1] += s1;
    }
    if (out_c & 1) {
        acc[0] += tq_dot_s8(x, w, in_c, tb[0]);
    }
}

/* The same for two input pixels x0, x1 on one tap, their outputs at acc0 and acc1 (two distinct pixels):
   each weight row read once for both (tq_dot2x2_s8). */
static __attribute__((noinline)) void tq_tc_tap2(const int8_t *x0, const int8_t *x1, const int8_t *w, const int32_t *tb,
                                                 int32_t *acc0, int32_t *acc1, int32_t out_c, int32_t in_c)
{
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2, w += 2 * in_c) {
        int32_t s[4];
        s[0] = s[1] = tb[oc];
        s[2] = s[3] = tb[oc + 1];
        tq_dot2x2_s8(w, w + in_c, x0, x1, in_c, s);
        acc0[oc] += s[0];
        acc1[oc] += s[1];
        acc0[oc + 1] += s[2];
        acc1[oc + 1] += s[3];
    }
    if (oc < out_c) {
        int32_t s0 = tb[oc], s1 = tb[oc];
        tq_dot2_s8(w, x0, x1, in_c, &s0, &s1);
        acc0[oc] += s0;
        acc1[oc] += s1;
    }
}

tq_status tq_transpose_conv_fast_s8(const tq_transpose_conv_fast_s8_params *p, const int8_t *input,
                                    const int32_t *output_shape, int8_t *output, int32_t *scratch)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const size_t tap_stride = (size_t)out_c * (size_t)in_c;
    const size_t pixels = (size_t)p->out.n * (size_t)out_h * (size_t)out_w;
    size_t i;

    if (output_shape != NULL && (output_shape[0] != p->out.n || output_shape[1] != p->out.h ||
                                 output_shape[2] != p->out.w || output_shape[3] != p->out.c)) {
        return TQ_ARG_ERROR; /* a run-time output_shape other than the one this code was generated for */
    }

    for (i = 0; i < pixels; ++i) {
        int32_t *acc = scratch + i * (size_t)out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
            acc[oc] = p->bias != NULL ? p->bias[oc] : 0;
        }
    }
    for (int32_t b = 0; b < p->in.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        int32_t *acc_b = scratch + (size_t)b * (size_t)out_h * (size_t)out_w * (size_t)out_c;
        for (int32_t iy = 0; iy < in_h; ++iy) {
            const int32_t oy0 = iy * p->stride_h - p->pad_h;
            const int32_t ky_lo = TQ_MAX(0, -oy0);
            const int32_t ky_hi = TQ_MIN(p->kh, out_h - oy0);
            const int8_t *row = in_b + (size_t)iy * (size_t)in_w * (size_t)in_c;
            for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                int32_t *acc_row = acc_b + (size_t)(oy0 + ky) * (size_t)out_w * (size_t)out_c;
                const int8_t *w_row = p->weights + (size_t)ky * (size_t)p->kw * tap_stride;
                const int32_t *tb_row = p->tap_bias + (size_t)ky * (size_t)p->kw * (size_t)out_c;
                for (int32_t ix = 0; ix < in_w; ix += 2) {
                    /* Input pixels ix and ix + 1: the taps both reach together, then those only one reaches. */
                    const int32_t ox0 = ix * p->stride_w - p->pad_w;
                    const int32_t lo0 = TQ_MAX(0, -ox0), hi0 = TQ_MIN(p->kw, out_w - ox0);
                    const int8_t *x0 = row + (size_t)ix * (size_t)in_c;
                    int32_t kx;
                    if (ix + 1 == in_w) {
                        for (kx = lo0; kx < hi0; ++kx) {
                            tq_tc_tap(x0, w_row + (size_t)kx * tap_stride, tb_row + (size_t)kx * (size_t)out_c,
                                      acc_row + (size_t)(ox0 + kx) * (size_t)out_c, out_c, in_c);
                        }
                        break;
                    }
                    {
                        const int32_t ox1 = ox0 + p->stride_w;
                        const int32_t lo1 = TQ_MAX(0, -ox1), hi1 = TQ_MIN(p->kw, out_w - ox1);
                        const int8_t *x1 = x0 + in_c;
                        for (kx = lo1; kx < TQ_MIN(lo0, hi1); ++kx) { /* pixel ix + 1 only */
                            tq_tc_tap(x1, w_row + (size_t)kx * tap_stride, tb_row + (size_t)kx * (size_t)out_c,
                                      acc_row + (size_t)(ox1 + kx) * (size_t)out_c, out_c, in_c);
                        }
                        for (kx = lo0; kx < hi1; ++kx) { /* both */
                            tq_tc_tap2(x0, x1, w_row + (size_t)kx * tap_stride, tb_row + (size_t)kx * (size_t)out_c,
                                       acc_row + (size_t)(ox0 + kx) * (size_t)out_c, acc_row + (size_t)(ox1 + kx) * (size_t)out_c,
                                       out_c, in_c);
                        }
                        for (kx = TQ_MAX(lo0, hi1); kx < hi0; ++kx) { /* pixel ix only */
                            tq_tc_tap(x0, w_row + (size_t)kx * tap_stride, tb_row + (size_t)kx * (size_t)out_c,
                                      acc_row + (size_t)(ox0 + kx) * (size_t)out_c, out_c, in_c);
                        }
                    }
                }
            }
        }
    }
    for (i = 0; i < pixels; ++i) {
        const int32_t *acc = scratch + i * (size_t)out_c;
        int8_t *y = output + i * (size_t)out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
            const int32_t v = tq_dot_requant(acc[oc], p->mult[oc], p->shift[oc]) + p->out_offset;
            y[oc] = (int8_t)TQ_CLAMP(v, p->act_min, p->act_max);
        }
    }
    return TQ_OK;
}
