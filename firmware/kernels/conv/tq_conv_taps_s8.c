/* CONV_2D reading its taps in place, one filter row at a time (see tq_conv_fast.h). */
#include "tq_conv_fast.h"

/* tq_conv_taps_wide_s8.c builds this file again under its own name, reading int16 weights. */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_conv_taps_s8
#define TQ_TAPS_WEIGHTS(g) ((g)->weights)
#define TQ_TAPS_DOT(w, cols, n, group, acc) tq_dot_2x2(w, cols, n, group, acc)
#define TQ_TAPS_ROWS tq_gemm_rows_dsp
#endif

/* The kw taps of filter row fy over output pixel (b, oy, ox): its input pixels, NULL for padding. */
static void tq_row_taps(const tq_conv_taps_s8_params *p, const int8_t *input, const int32_t *px, int32_t fy,
                        const int8_t **taps)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw, dil_w = p->dil_w;
    const int32_t iy = px[1] * p->stride_h - p->pad_h + fy * p->dil_h, ix0 = px[2] * p->stride_w - p->pad_w;
    int32_t fx;
    if (iy < 0 || iy >= in_h) {
        for (fx = 0; fx < kw; ++fx) {
            taps[fx] = NULL;
        }
        return;
    }
    {
        const int8_t *const row = input + ((size_t)px[0] * in_h + (size_t)iy) * in_w * in_c;
        const size_t step = (size_t)dil_w * in_c;
        const int8_t *t = row + (ptrdiff_t)ix0 * in_c;
        if (ix0 >= 0 && ix0 + (kw - 1) * dil_w < in_w) { /* the whole row inside: no checks */
            for (fx = 0; fx < kw; ++fx, t += step) {
                taps[fx] = t;
            }
            return;
        }
        for (fx = 0; fx < kw; ++fx, t += step) {
            const int32_t ix = ix0 + fx * dil_w;
            taps[fx] = ix >= 0 && ix < in_w ? t : NULL;
        }
    }
}

/*
 * The two pixels' outputs: every row pair's accumulators (bias first) collect filter row after
 * filter row, each row's taps made a column pair once and read by all the row pairs.
 */
static inline __attribute__((always_inline)) void tq_taps_pair(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                              const int32_t *px0, const int32_t *px1, int8_t *pair,
                                                              int32_t *acc, int8_t *out0, int8_t *out1, int full)
{
    const tq_gemm_s8_params *const g = &p->gemm;
    const int32_t in_c = p->in.c, kw = p->kw, n = kw * in_c, step = 2 * g->k, out_c = g->out_c, group = g->group;
    const int32_t pairs = (out_c + 1) / 2;
    const int32_t *q = g->quant;
    const int8_t *ta[TQ_CONV_MAX_TAPS], *tb[TQ_CONV_MAX_TAPS];
    int32_t c, fy, fx;

    for (c = 0; c < pairs; ++c) {
        acc[4 * c] = acc[4 * c + 1] = q[8 * c];
        acc[4 * c + 2] = acc[4 * c + 3] = q[8 * c + 1];
    }
    for (fy = 0; fy < p->kh; ++fy) {
        const __typeof__(*TQ_TAPS_WEIGHTS(g)) *w = TQ_TAPS_WEIGHTS(g) + (size_t)2 * fy * n;
        int8_t *d = pair;
        tq_row_taps(p, input, px0, fy, ta);
        tq_row_taps(p, input, px1, fy, tb);
        for (fx = 0; fx < kw; ++fx) {
            d = tq_gemm_columns_tap(ta[fx], tb[fx], in_c, group, p->in_zp, d);
        }
#if defined(TQ_GEMM_DSP)
        {
            tq_gemm_job job;
            job.cols = pair;
            job.cols_end = pair + 4 * n;
            job.blk = acc;
            job.blk_end = acc + 4 * pairs;
            job.w = w;
            job.w_skip = (int32_t)sizeof(*w) * (step - 2 * n);
            TQ_TAPS_ROWS(&job);
        }
#else
        for (c = 0; c < pairs; ++c, w += step) {
            TQ_TAPS_DOT(w, pair, n, group, acc + 4 * c);
        }
#endif
    }
    for (c = 0; c < pairs; ++c, q += 8) {
        tq_gemm_store_2x2(acc + 4 * c, q, out0 + 2 * c, out1 + 2 * c, 2 * c + 1 < out_c, g->act_min, g->act_max, full);
    }
}

tq_status TQ_KERNEL_NAME(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                         int8_t *scratch)
{
    const int32_t in_c = p->in.c, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w;
    const int full = p->gemm.act_min == -128 && p->gemm.act_max == 127;
    int8_t *const stage = scratch + 4 * p->kw * in_c; /* after the column pair of one filter row */
    int32_t acc[2 * TQ_CONV_TAPS_MAX_OUT];
    int32_t px[2][3];
    int8_t *dst[2];
    tq_row_stage rows;
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n;

    if (TQ_GEMM_SIMD_GROUP != 0 && p->gemm.group != TQ_GEMM_SIMD_GROUP) {
        return TQ_ARG_ERROR; /* rows laid out for another core: the board's extensions do not match its cflags */
    }
    tq_stage_init(&rows, stage + (residual != NULL ? 2 * out_c : 0), p->ring_rows, out_w * out_c, p->in.w * in_c, out_h,
                  p->pad_h, p->stride_h);
    for (n = 0; n < pixels; n += 2) {
        int32_t j;
        const int32_t count = pixels - n >= 2 ? 2 : 1;
        int32_t row_done[2] = {-1, -1};
        int8_t *img[2];
        for (j = 0; j < count; ++j) {
            px[j][0] = b;
            px[j][1] = oy;
            px[j][2] = ox;
            img[j] = output + (size_t)b * out_h * out_w * out_c;
            dst[j] = tq_stage_row(&rows, img[j], oy) + (size_t)ox * out_c;
            row_done[j] = tq_next_pixel(&b, &oy, &ox, out_h, out_w);
        }
        if (residual != NULL) { /* never ring-staged: the output goes at its place (maybe over the residual) */
            dst[0] = stage;
            dst[1] = stage + out_c;
        }
        tq_taps_pair(p, input, px[0], px[count - 1], scratch, acc, dst[0], dst[count - 1], full);
        if (residual != NULL) {
            const size_t at = (size_t)n * out_c;
            tq_residual_add_s8(&p->res, stage, residual + at, output + at, count * out_c);
            continue;
        }
        for (j = 0; j < count; ++j) {
            if (row_done[j] >= 0) {
                tq_stage_flush(&rows, img[j], row_done[j]);
            }
        }
    }
    return TQ_OK;
}
