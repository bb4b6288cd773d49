/*
 * CONV_2D int8 with packed low-bit weights (tq_packed.h): tq_conv_s8's loops and requantization
 * (TFLite reference_integer_ops::ConvPerChannel), each weight unpacked from its row in the inner loop.
 */
#include "tq_packed.h"

/* Filter taps [*lo, *hi) whose input coordinate origin + dil * k lies in [0, size). */
static void tq_conv_packed_tap_range(int32_t origin, int32_t dil, int32_t size, int32_t taps, int32_t *lo, int32_t *hi)
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

tq_status tq_conv_packed_s8(const tq_conv_packed_s8_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t fic = p->filter_in_c;
    const int32_t per_group = out_c / p->groups;
    const int32_t lg_bits = p->w.lg_bits;
    int32_t b, oy, ox, oc;

    for (b = 0; b < p->in.n; ++b) {
        const int8_t *in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy_lo, fy_hi;
            tq_conv_packed_tap_range(iy0, p->dil_h, in_h, p->kh, &fy_lo, &fy_hi);
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx_lo, fx_hi;
                tq_conv_packed_tap_range(ix0, p->dil_w, in_w, p->kw, &fx_lo, &fx_hi);
                int32_t all = 0; /* 1-bit: the window's sum of x + in_offset, once per group */
                for (oc = 0; oc < out_c; ++oc) {
                    const uint8_t *row = p->w.rows + (size_t)oc * (size_t)p->w.row_bytes;
                    const int8_t *table = tq_packed_table(&p->w, oc);
                    const int32_t ch0 = (oc / per_group) * fic;
                    int32_t acc = 0, set = 0;
                    int32_t fy, fx;
                    if (lg_bits == 0 && oc % per_group == 0) {
                        all = 0;
                        for (fy = fy_lo; fy < fy_hi; ++fy) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            for (fx = fx_lo; fx < fx_hi; ++fx) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                const int8_t *x = in_b + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c + ch0;
                                int32_t ic;
                                for (ic = 0; ic < fic; ++ic) {
                                    all += (int32_t)x[ic] + p->in_offset;
                                }
                            }
                        }
                    }
                    for (fy = fy_lo; fy < fy_hi; ++fy) {
                        const int32_t iy = iy0 + p->dil_h * fy;
                        for (fx = fx_lo; fx < fx_hi; ++fx) {
                            const int32_t ix = ix0 + p->dil_w * fx;
                            const int8_t *x = in_b + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c + ch0;
                            const int32_t k0 = (fy * p->kw + fx) * fic;
                            if (lg_bits == 0) {
                                set += tq_packed_set1(row, k0, fic, x, p->in_offset);
                            } else {
                                acc += tq_packed_dot(row, table, lg_bits, k0, fic, x, 1, p->in_offset);
                            }
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
                    *output++ = (int8_t)acc;
                }
            }
        }
    }
    return TQ_OK;
}
