/* DEPTHWISE_CONV_2D with a depth multiplier, through the fast depthwise kernel (see tq_depthwise_mult.h). */
#include "tq_depthwise_mult.h"

tq_status tq_depthwise_conv_mult_s8(const tq_depthwise_conv_mult_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch)
{
    const tq_depthwise_conv_fast_s8_params *const dw = &p->dw;
    const int32_t c = p->in_c, m = p->mult, cm = dw->in.c, in_h = dw->in.h, in_w = dw->in.w;
    const int32_t span = (dw->kh - 1) * dw->dil_h + 1;
    int8_t *const rows = scratch + ((cm + 7) & ~7);
    tq_depthwise_conv_fast_s8_params one = *dw;
    int32_t b, oy, r, i, j;

    one.in.n = 1;
    one.out.n = 1;
    one.out.h = 1;
    one.ring_rows = 0;
    for (b = 0; b < dw->out.n; ++b) {
        const int8_t *const in_b = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)c;
        for (oy = 0; oy < dw->out.h; ++oy) {
            const int32_t iy0 = oy * dw->stride_h - dw->pad_h;
            const int32_t r0 = iy0 > 0 ? iy0 : 0, r1 = iy0 + span < in_h ? iy0 + span : in_h;
            int8_t *dst = rows;
            /* rows [r0, r1) with each channel repeated m times */
            for (r = r0; r < r1; ++r) {
                const int8_t *src = in_b + (size_t)r * (size_t)in_w * (size_t)c;
                if ((m & 3) == 0) { /* words of four copies (dst stays word-aligned) */
                    for (i = 0; i < in_w * c; ++i) {
                        const uint32_t v = 0x01010101u * (uint8_t)src[i];
                        for (j = 0; j < m; j += 4, dst += 4) {
                            memcpy(dst, &v, 4);
                        }
                    }
                    continue;
                }
                if ((m & 1) == 0) { /* halfwords of two copies */
                    for (i = 0; i < in_w * c; ++i) {
                        const uint16_t v = (uint16_t)(0x0101u * (uint8_t)src[i]);
                        for (j = 0; j < m; j += 2, dst += 2) {
                            memcpy(dst, &v, 2);
                        }
                    }
                    continue;
                }
                for (i = 0; i < in_w * c; ++i, dst += m) {
                    for (j = 0; j < m; ++j) {
                        dst[j] = src[i];
                    }
                }
            }
            one.in.h = r1 > r0 ? r1 - r0 : 0;
            one.pad_h = r0 - iy0;
            tq_depthwise_conv_fast_s8(&one, rows, output + ((size_t)b * (size_t)dw->out.h + (size_t)oy) * (size_t)dw->out.w * (size_t)cm, scratch);
        }
    }
    return TQ_OK;
}
