/*
 * DEPTHWISE_CONV_2D int8 with packed low-bit weights (tq_packed.h): tq_depthwise_conv_s8's loops and
 * requantization (TFLite reference_integer_ops::DepthwiseConvPerChannel), depth multiplier included,
 * each weight unpacked from its output channel's row of taps in the inner loop.
 */
#include "tq_packed.h"

/* Filter taps [*lo, *hi) whose input coordinate origin + dil * k lies in [0, size). */
static void tq_dw_packed_tap_range(int32_t origin, int32_t dil, int32_t size, int32_t taps, int32_t *lo, int32_t *hi)
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

tq_status tq_depthwise_packed_s8(const tq_depthwise_packed_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t dm = p->depth_mult;
    const int32_t lg_bits = p->w.lg_bits;
    int32_t b, oy, ox, ic, m;

    for (b = 0; b < p->in.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy_lo, fy_hi;
            tq_dw_packed_tap_range(iy0, p->dil_h, in_h, p->kh, &fy_lo, &fy_hi);
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx_lo, fx_hi;
                tq_dw_packed_tap_range(ix0, p->dil_w, in_w, p->kw, &fx_lo, &fx_hi);
                for (ic = 0; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = ic * dm + m;
                        const uint8_t *row = p->w.rows + (size_t)oc * (size_t)p->w.row_bytes;
                        const int8_t *table = tq_packed_table(&p->w, oc);
                        int32_t acc = 0, all = 0, set = 0;
                        int32_t fy;
                        for (fy = fy_lo; fy < fy_hi; ++fy) {
                            /* the taps fx_lo..fx_hi - 1 of filter row fy: consecutive elements of the row,
                             * input pixels dil_w apart */
                            const int32_t iy = iy0 + p->dil_h * fy;
                            const int32_t ix = ix0 + p->dil_w * fx_lo;
                            const int8_t *x = in_b + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c + (size_t)ic;
                            const int32_t k0 = fy * p->kw + fx_lo;
                            const int32_t step = p->dil_w * in_c;
                            if (lg_bits == 0) {
                                tq_packed_sums1(row, k0, fx_hi - fx_lo, x, step, p->in_offset, &all, &set);
                            } else {
                                acc += tq_packed_dot(row, table, lg_bits, k0, fx_hi - fx_lo, x, step, p->in_offset);
                            }
                        }
                        if (lg_bits == 0) {
                            acc = tq_packed_combine1(table, all, set);
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
