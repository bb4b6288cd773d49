/* CONV_2D reading its taps in place, one filter row at a time (see tq_conv_fast.h). */
/* Built for size: the filter row's loops are tq_gemm_dsp.S's; -O2 here costs 328 B of code for 0.06% of
   ResNet-8's instructions. */
#pragma GCC optimize("Os")
#include "tq_conv_fast.h"
#include "tq_dsp_asm.h" /* the job structs' layout checked against the assembler's offsets */

/* tq_conv_taps_wide_s8.c builds this file again under its own name, reading int16 weights. */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_conv_taps_s8
#define TQ_TAPS_WEIGHTS(g) ((g)->weights)
#define TQ_TAPS_DOT(w, cols, n, group, acc) tq_dot_2x2(w, cols, n, group, acc)
#define TQ_TAPS_ROWS tq_gemm_rows_dsp
#define TQ_TAPS_PAIRS tq_gemm_pairs_acc_dsp
#define TQ_TAPS_PAIRS_GEN tq_gemm_pairs_acc_gen_dsp
#endif

/* tq_gemm_columns_add, one copy for the kernel's two uses. */
static __attribute__((noinline)) int8_t *tq_taps_columns(const int8_t *a, const int8_t *b, int32_t n, int32_t g, int32_t zp,
                                                         int8_t *dst, int first)
{
    return tq_gemm_columns_add(a, b, n, g, zp, dst, first);
}

#if defined(TQ_GEMM_MVE)
/* gcc builds the MVE pixel loop with -O2 (clang has no optimize attribute: it builds the whole file alike). */
#if defined(__clang__)
#define TQ_TAPS_O2
#else
#define TQ_TAPS_O2 __attribute__((optimize("O2")))
#endif
/*
 * Helium: four output pixels at a time (two with an ADD fused, whose stage holds two pixels, or
 * where staged rows are shorter than three pixels, so that a unit spans at most two rows as the
 * ring is sized for). Each filter row's taps of the unit's pixels go into four columns (whole blocks
 * of 16 channels: tq_mve_row_quad's layout, in the column pair's room), read by every weight row
 * (tq_mve_acc_quad, or for one or two pixels tq_mve_acc_duo: a row's sums in acc, bias first);
 * then each row's sums are
 * requantized with its scalar constants and stored. A unit's pixels are all read before any of its
 * outputs is written, and a unit's boundaries are pair boundaries: the pair's gap and ring hold.
 * Built with -O2 (the file's -Os costs 10% here, for 0.5 KB of code less).
 */
static TQ_TAPS_O2 void tq_taps_quads(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                         const int8_t *residual, int8_t *output, int8_t *scratch)
{
    const tq_gemm_s8_params *const g = &p->gemm;
    const int32_t in_c = p->in.c, in_w = p->in.w, in_h = p->in.h, kw = p->kw, out_c = p->out.c;
    const int32_t out_w = p->out.w, out_h = p->out.h, pixels = p->out.n * out_h * out_w;
    const int32_t run = kw * in_c, blocks = run >> 4, tap_blocks = in_c >> 4, pairs = (out_c + 1) >> 1;
    const int32_t skip = 2 * g->k - 32 * blocks - 16; /* from a pair's second row's end to the next pair */
    const int32_t unit = residual != NULL || (p->ring_rows > 0 && out_w < 3) ? 2 : 4;
    const size_t image_bytes = (size_t)out_h * (size_t)out_w * (size_t)out_c;
    const int8x16_t pad = vdupq_n_s8((int8_t)p->in_zp);
    const int32x4_t lo = vdupq_n_s32(g->act_min), hi = vdupq_n_s32(g->act_max), zo = vdupq_n_s32(g->out_offset);
    const int general = TQ_CFG_REQUANT_GEN && g->requant;
    int8_t *const stage = scratch + TQ_GEMM_PAIR_ROOM(run); /* after the four columns of one filter row */
    int32_t acc[4 * TQ_CONV_TAPS_MAX_OUT];
    int32_t px[4][3]; /* each pixel's (b, oy, ox) */
    tq_row_stage rows;
    int8_t *img = output, *d;
    int32_t b = 0, oy = 0, ox = 0, n, j, c, fy, fx, t;
    (void)tq_taps_columns; /* the other cores' */
    tq_stage_init(&rows, stage + (residual != NULL ? 2 * out_c : 0), p->ring_rows, out_w * out_c, in_w * in_c, out_h,
                  p->pad_h, p->stride_h);
    d = tq_stage_row(&rows, img, 0);
    for (n = 0; n < pixels; n += unit) {
        const int32_t count = pixels - n >= unit ? unit : pixels - n;
        int8_t *const d0 = residual != NULL ? stage : d;
        int32_t done = 0, row_done[4];
        int8_t *img_done[4];
        uint32_t o[4] = {0u, 0u, 0u, 0u};
        const int32_t *q = g->quant;
        for (j = 0; j < count; ++j) {
            px[j][0] = b;
            px[j][1] = oy;
            px[j][2] = ox;
            o[j] = residual != NULL ? (uint32_t)(j * out_c) : (uint32_t)(d - d0);
            d += out_c;
            if (++ox == out_w) {
                img_done[done] = img;
                row_done[done++] = oy;
                ox = 0;
                if (++oy == out_h) {
                    oy = 0;
                    ++b;
                    img += image_bytes;
                }
                d = tq_stage_row(&rows, img, oy);
            }
        }
        for (c = 0; c < 2 * pairs; ++c) {
            vst1q_s32(acc + 4 * c, vdupq_n_s32(q[8 * (c >> 1) + (c & 1)]));
        }
        for (fy = 0; fy < p->kh; ++fy) {
            for (j = 0; j < count; ++j) { /* (the lanes past the last pixel read what is there) */
                const int32_t iy = px[j][1] * p->stride_h - p->pad_h + fy * p->dil_h;
                const int32_t ix0 = px[j][2] * p->stride_w - p->pad_w;
                const int8_t *const row = input + ((size_t)px[j][0] * (size_t)in_h + (size_t)iy) * (size_t)in_w * (size_t)in_c;
                int8_t *dst = scratch + 16 * j;
                if (iy < 0 || iy >= in_h) {
                    for (t = 0; t < blocks; ++t, dst += 64) {
                        vst1q_s8(dst, pad);
                    }
                } else if (p->dil_w == 1 && ix0 >= 0 && ix0 + kw <= in_w) { /* one run of whole blocks */
                    const int8_t *src = row + (size_t)ix0 * (size_t)in_c;
                    for (t = 0; t < blocks; ++t, dst += 64, src += 16) {
                        vst1q_s8(dst, vld1q_s8(src));
                    }
                } else {
                    for (fx = 0; fx < kw; ++fx) {
                        const int32_t ix = ix0 + fx * p->dil_w;
                        const int8_t *const src = ix >= 0 && ix < in_w ? row + (size_t)ix * (size_t)in_c : NULL;
                        for (t = 0; t < tap_blocks; ++t, dst += 64) {
                            vst1q_s8(dst, src != NULL ? vld1q_s8(src + 16 * t) : pad);
                        }
                    }
                }
            }
            if (count > 2) {
                tq_mve_acc_quad(g->weights + (size_t)2 * (size_t)fy * (size_t)run, skip, scratch, blocks, acc, pairs);
            } else { /* one or two pixels: 2x2 blocks waste no lanes */
                tq_mve_acc_duo(g->weights + (size_t)2 * (size_t)fy * (size_t)run, skip + 16, scratch, blocks, acc, pairs);
            }
        }
        {
            const mve_pred16_t keep = vctp32q((uint32_t)count);
            const uint32x4_t off = vld1q_u32(o);
            c = 0;
            if (!general && out_c > 1) { /* whole row pairs in assembler */
                tq_mve_req_quad(acc, q, out_c >> 1, d0, keep, lo, hi, off);
                c = out_c & ~1;
            }
            for (; c < out_c; ++c) {
                const int32_t *const m = q + 8 * (c >> 1) + 2 + 3 * (c & 1);
                const int32x4_t a = vld1q_s32(acc + 4 * c);
                int32x4_t v;
                if (general) {
                    v = tq_mve_requant_gen(a, vdupq_n_s32(m[0]), vdupq_n_s32(m[1]), vdupq_n_s32(m[2]), zo);
                } else {
                    v = vaddq_s32(vaddq_n_s32(vqrdmulhq_n_s32(a, m[0]), m[1]), vshrq_n_s32(a, 31));
                    v = vshlq_r_s32(v, -m[2]);
                }
                vstrbq_scatter_offset_p_s32(d0 + c, off, vminq_s32(vmaxq_s32(v, lo), hi), keep);
            }
        }
        if (residual != NULL) {
            const size_t at = (size_t)n * (size_t)out_c;
            tq_residual_add_s8(&p->res, stage, residual + at, output + at, count * out_c);
            continue;
        }
        for (j = 0; j < done; ++j) {
            tq_stage_flush(&rows, img_done[j], row_done[j]);
        }
    }
}
#else /* without Helium */

/* The kw taps of filter row fy over output pixel (b, oy, ox): its input pixels, NULL for padding.
   Returns 1, with taps[0] only, when they are one run of kw * in.c bytes from taps[0] (or all
   padding: NULL). */
static inline __attribute__((always_inline)) int tq_row_taps(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                            const int32_t *px, int32_t fy, const int8_t **taps)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw, dil_w = p->dil_w;
    const int32_t iy = px[1] * p->stride_h - p->pad_h + fy * p->dil_h, ix0 = px[2] * p->stride_w - p->pad_w;
    const int8_t *t;
    int32_t fx;
    if (iy < 0 || iy >= in_h) {
        taps[0] = NULL;
        return 1;
    }
    t = input + (((size_t)px[0] * (size_t)in_h + (size_t)iy) * (size_t)in_w + (size_t)ix0) * (size_t)in_c;
    if (dil_w == 1 && ix0 >= 0 && ix0 + kw - 1 < in_w) {
        taps[0] = t;
        return 1;
    }
    for (fx = 0; fx < kw; ++fx, t += dil_w * in_c) {
        const int32_t ix = ix0 + fx * dil_w;
        taps[fx] = ix >= 0 && ix < in_w ? t : NULL;
    }
    return 0;
}

/*
 * The two pixels' outputs: every row pair's accumulators (bias first) collect filter row after
 * filter row, each row's taps made a column pair once and read by all the row pairs. `general`
 * (gemm.requant 1): every filter row only accumulates, then tq_gemm_store_gen requantizes.
 */
static inline __attribute__((always_inline)) void tq_taps_pair(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                              const int32_t *px0, const int32_t *px1, int8_t *pair,
                                                              int32_t *acc, int8_t *out0, int8_t *out1, int full,
                                                              int general)
{
    const tq_gemm_s8_params *const g = &p->gemm;
    const int32_t in_c = p->in.c, kw = p->kw, n = kw * in_c, step = 2 * g->k, out_c = g->out_c, group = g->group;
    const int32_t pairs = (out_c + 1) / 2;
    const int32_t *q = g->quant;
    const int8_t *ta[TQ_CONV_MAX_TAPS], *tb[TQ_CONV_MAX_TAPS];
    int32_t c, fy, fx;

    {
        const int32_t *b = q;
        int32_t *a = acc;
        for (c = 0; c < pairs; ++c, a += 4, b += 8) { /* every pair of rows starts at its biases */
            const int32_t b0 = b[0], b1 = b[1];
            a[0] = b0;
            a[1] = b0;
            a[2] = b1;
            a[3] = b1;
        }
    }
    for (fy = 0; fy < p->kh; ++fy) {
        const __typeof__(*TQ_TAPS_WEIGHTS(g)) *w = TQ_TAPS_WEIGHTS(g) + (size_t)2 * (size_t)fy * (size_t)n;
        int8_t *d = pair;
        const int whole_a = tq_row_taps(p, input, px0, fy, ta), whole_b = tq_row_taps(p, input, px1, fy, tb);
        if (whole_a && whole_b) { /* one run each (or padding) */
            if (ta[0] != NULL && tb[0] != NULL) {
                tq_gemm_columns(ta[0], tb[0], n, group, d);
            } else {
                tq_taps_columns(ta[0], tb[0], n, group, p->in_zp, d, 1);
            }
        } else {
            for (fx = 0; fx < kw; ++fx) { /* tap by tap, a whole run's taps one after the other */
                const int8_t *const a = whole_a ? (ta[0] != NULL ? ta[0] + fx * in_c : NULL) : ta[fx];
                const int8_t *const b = whole_b ? (tb[0] != NULL ? tb[0] + fx * in_c : NULL) : tb[fx];
                d = tq_taps_columns(a, b, in_c, group, p->in_zp, d, fx == 0);
            }
        }
#if defined(TQ_GEMM_DSP)
        {
            /* Rows but the last accumulate; the last one ends requantized in the outputs. */
            tq_gemm_job job;
            job.cols = pair;
            job.cols_end = pair + 4 * n;
            job.w = w;
            job.w_skip = (int32_t)sizeof(*w) * (step - 2 * n);
            job.clamp = TQ_GEMM_CHUNKED(g);
            if (fy + 1 < p->kh) {
                job.blk = acc;
                job.blk_end = acc + 4 * pairs;
                TQ_TAPS_ROWS(&job);
            } else {
                const int32_t whole_pairs = out_c / 2;
                job.blk = q;
                job.blk_end = q + 8 * whole_pairs;
                job.out0 = out0;
                job.out1 = out1;
                job.lo4 = 0x01010101u * (uint8_t)g->act_min;
                job.hi4 = 0x01010101u * (uint8_t)g->act_max;
                job.clamp = (general ? tq_gemm_gen_clamp(full, g->out_offset) : !full) | TQ_GEMM_CHUNKED(g);
                job.acc = acc;
                if (whole_pairs > 0) {
                    if (general) {
                        TQ_TAPS_PAIRS_GEN(&job);
                    } else {
                        TQ_TAPS_PAIRS(&job);
                    }
                }
                if (out_c & 1) { /* the odd last row and its zero partner into a word first */
                    int8_t last[4];
                    job.blk = q + 8 * whole_pairs;
                    job.blk_end = q + 8 * (whole_pairs + 1);
                    job.acc = acc + 4 * whole_pairs;
                    job.w = w + (size_t)step * (size_t)whole_pairs;
                    job.out0 = last;
                    job.out1 = last + 2;
                    if (general) {
                        TQ_TAPS_PAIRS_GEN(&job);
                    } else {
                        TQ_TAPS_PAIRS(&job);
                    }
                    out0[out_c - 1] = last[0];
                    out1[out_c - 1] = last[2];
                }
            }
        }
#else
        for (c = 0; c < pairs; ++c, w += step) {
            TQ_TAPS_DOT(w, pair, n, group, acc + 4 * c);
        }
#endif
    }
#if !defined(TQ_GEMM_DSP) /* (the assembler requantized the last filter row) */
    if (general) {
        tq_gemm_store_gen(g, acc, q, 0, pairs, out0, out1);
        return;
    }
    for (c = 0; c < pairs; ++c, q += 8) {
        tq_gemm_store_2x2(acc + 4 * c, q, out0 + 2 * c, out1 + 2 * c, 2 * c + 1 < out_c, g->act_min, g->act_max, full);
    }
#endif
}

/* The kernel, its pixel loop built once for each requantization (`general` a constant). */
static inline __attribute__((always_inline)) tq_status tq_taps_run(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                                  const int8_t *residual, int8_t *output, int8_t *scratch,
                                                                  int general)
{
    const int32_t in_c = p->in.c, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w;
    const int full = p->gemm.act_min == -128 && p->gemm.act_max == 127;
    int8_t *const stage = scratch + TQ_GEMM_PAIR_ROOM(p->kw * in_c); /* after the column pair of one filter row */
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
            img[j] = output + (size_t)b * (size_t)out_h * (size_t)out_w * (size_t)out_c;
            dst[j] = tq_stage_row(&rows, img[j], oy) + (size_t)ox * (size_t)out_c;
            row_done[j] = tq_next_pixel(&b, &oy, &ox, out_h, out_w);
        }
        if (residual != NULL) { /* never ring-staged: the output goes at its place (maybe over the residual) */
            dst[0] = stage;
            dst[1] = stage + out_c;
        }
        tq_taps_pair(p, input, px[0], px[count - 1], scratch, acc, dst[0], dst[count - 1], full, general);
        if (residual != NULL) {
            const size_t at = (size_t)n * (size_t)out_c;
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

/* The kernel with the general requantization: a copy of its own, so that the other's code is as before. */
static __attribute__((noinline)) tq_status tq_taps_general(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                           const int8_t *residual, int8_t *output, int8_t *scratch)
{
    return tq_taps_run(p, input, residual, output, scratch, 1);
}

/* The other one out of line too: each has a frame of about 1.8 KB (its accumulators), and the
 * dispatcher must not hold one while it calls the other (3.7 KB of stack on a 16 KB part). */
static __attribute__((noinline)) tq_status tq_taps_plain(const tq_conv_taps_s8_params *p, const int8_t *input,
                                                         const int8_t *residual, int8_t *output, int8_t *scratch)
{
    return tq_taps_run(p, input, residual, output, scratch, 0);
}
#endif

tq_status TQ_KERNEL_NAME(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                         int8_t *scratch)
{
#if defined(TQ_GEMM_MVE)
    if (p->gemm.group != 16) {
        return TQ_ARG_ERROR; /* rows laid out for another core: the board's extensions do not match its cflags */
    }
    tq_taps_quads(p, input, residual, output, scratch);
    return TQ_OK;
#else
    if (TQ_CFG_REQUANT_GEN && p->gemm.requant) {
        return tq_taps_general(p, input, residual, output, scratch);
    }
    return tq_taps_plain(p, input, residual, output, scratch);
#endif
}
