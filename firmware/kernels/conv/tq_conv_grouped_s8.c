/* Grouped CONV_2D (and depthwise with a multiplier) on the matrix-product core (see tq_conv_grouped.h). */
#include "tq_conv_grouped.h"

/* The group's receptive field of output pixel (b, oy, ox): [kh][kw][group_in_c] from channel c0 on,
   padding taps the zero point, then zeros up to k. */
static void tq_grouped_col(const tq_conv_grouped_s8_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox,
                           int32_t c0, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, n = p->group_in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int32_t fy, fx, i;
    int8_t *dst = col;
    for (fy = 0; fy < p->kh; ++fy) {
        const int32_t iy = iy0 + fy * p->dil_h;
        for (fx = 0; fx < p->kw; ++fx, dst += n) {
            const int32_t ix = ix0 + fx * p->dil_w;
            if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
                const int8_t *src = input + (((size_t)b * (size_t)in_h + (size_t)iy) * (size_t)in_w + (size_t)ix) * (size_t)in_c + c0;
                for (i = 0; i < n; ++i) {
                    dst[i] = src[i];
                }
            } else {
                memset(dst, p->in_zp, (size_t)n);
            }
        }
    }
    memset(dst, 0, (size_t)(p->gemm.k - (dst - col)));
}

tq_status tq_conv_grouped_s8(const tq_conv_grouped_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t k = p->gemm.k, rows = p->gemm.out_c, out_c = p->out.c;
    const int32_t per_image = p->out.h * p->out.w, total = p->out.n * per_image;
    int8_t *const a = scratch, *const b = scratch + k, *const pair = scratch + 2 * k;
    tq_gemm_s8_params gp = p->gemm;
    int32_t px, grp;

    for (px = 0; px < total; px += 2) {
        const int32_t q0 = px, q1 = px + 1 < total ? px + 1 : px; /* a last odd pixel twice */
        int8_t *const out0 = output + (size_t)q0 * (size_t)out_c, *const out1 = output + (size_t)q1 * (size_t)out_c;
        for (grp = 0; grp < p->groups; ++grp) {
            tq_grouped_col(p, input, q0 / per_image, (q0 % per_image) / p->out.w, q0 % p->out.w, grp * p->group_in_c, a);
            tq_grouped_col(p, input, q1 / per_image, (q1 % per_image) / p->out.w, q1 % p->out.w, grp * p->group_in_c, b);
            tq_gemm_columns_any(a, b, k, p->gemm.group, pair, TQ_CFG_WIDE && p->gemm.weights16 != NULL);
            gp.quant = p->gemm.quant + (size_t)grp * (size_t)p->q_stride;
            if (TQ_CFG_WIDE && p->gemm.weights16 != NULL) { /* int16 weights compiled in (tq_features.h) */
                gp.weights16 = p->gemm.weights16 + (size_t)grp * (size_t)p->w_stride;
                tq_gemm_pair_wide(&gp, pair, out0 + grp * rows, out1 + grp * rows);
            } else {
                gp.weights = p->gemm.weights + (size_t)grp * (size_t)p->w_stride;
                tq_gemm_pair(&gp, pair, out0 + grp * rows, out1 + grp * rows);
            }
        }
    }
    return TQ_OK;
}
