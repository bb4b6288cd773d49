/* CONV_2D 1x1 as a matrix product over pairs of input pixels (see tq_conv_fast.h). */
#include "tq_conv_fast.h"
#include "tq_dsp_asm.h" /* the job structs' layout checked against the assembler's offsets */

/* tq_conv_1x1_wide_s8.c builds this file again under its own name, reading int16 weights. */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_conv_1x1_s8
#define TQ_GEMM_WIDE 0
#endif

#if defined(TQ_GEMM_MVE)
/*
 * Helium: four pixels at a time (two with an ADD fused: its stage holds two pixels' outputs), each
 * pixel's in.c bytes copied into its column in scratch (tq_mve_row_quad's layout; the bytes past
 * in.c meet zero weights, whatever they hold), then every weight row against the four columns
 * (tq_mve_gemm_quad: one row's constants are scalars). All of a unit's pixels are read before any of its outputs is
 * written, and a unit's boundaries are pair boundaries: the pair's gap and in-place rule hold.
 */
static void tq_conv_1x1_mve(const tq_conv_1x1_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                            int8_t *scratch)
{
    const int32_t in_c = p->in.c, out_c = p->out.c, k = p->gemm.k, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w, unit = residual != NULL ? 2 : 4;
    const ptrdiff_t step = (ptrdiff_t)p->stride_w * in_c;
    const ptrdiff_t row_skip = ((ptrdiff_t)p->stride_h * p->in.w - (ptrdiff_t)out_w * p->stride_w) * in_c;
    const ptrdiff_t image_skip = ((ptrdiff_t)p->in.h - (ptrdiff_t)out_h * p->stride_h) * p->in.w * in_c;
    const uint32_t o[4] = {0u, (uint32_t)out_c, 2u * (uint32_t)out_c, 3u * (uint32_t)out_c};
    int8_t *const stage = scratch + 4 * k;
    /* A pixel's in.c bytes: `whole` blocks of 16, then the last 1..16 under `tail`. */
    const int32_t whole = (in_c - 1) >> 4;
    const mve_pred16_t tail = vctp8q((uint32_t)(in_c - 16 * whole));
    const int walk = row_skip != 0 || image_skip != 0; /* else pixel after pixel, `step` apart */
    const int8_t *at = input;
    int32_t ox = 0, oy = 0, n, j, i;
    for (n = 0; n < pixels; n += unit) {
        const int32_t count = pixels - n >= unit ? unit : pixels - n;
        const size_t where = (size_t)n * (size_t)out_c;
        int8_t *const out0 = residual != NULL ? stage : output + where;
        for (j = 0; j < count; ++j) {
            const int8_t *src = at;
            int8_t *d = scratch + 16 * j;
            for (i = 0; i < whole; ++i, src += 16, d += 64) {
                vst1q_s8(d, vld1q_s8(src));
            }
            vstrbq_p_s8(d, vldrbq_z_s8(src, tail), tail);
            at += step;
            if (walk && ++ox == out_w) {
                ox = 0;
                at += row_skip;
                if (++oy == out_h) {
                    oy = 0;
                    at += image_skip;
                }
            }
        }
        tq_mve_gemm_quad(&p->gemm, scratch, out0, o, count);
        if (residual != NULL) {
            tq_residual_add_s8(&p->res, out0, residual + where, output + where, count * out_c);
        }
    }
}
#else
/* The n bytes at src copied to dst (few: the pixels at the input's end); returns dst. */
static __attribute__((noinline)) const int8_t *tq_1x1_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        dst[i] = src[i];
    }
    return dst;
}
#endif

tq_status TQ_KERNEL_NAME(const tq_conv_1x1_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                         int8_t *scratch)
{
#if defined(TQ_GEMM_MVE)
    tq_conv_1x1_mve(p, input, residual, output, scratch);
    return TQ_OK;
#else
    const int32_t in_c = p->in.c, out_c = p->out.c, k = p->gemm.k, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w;
    /* Input pointer steps: to the next pixel of a row, to the next row after a row's last pixel, to
       the next image after an image's last row (all 0 past the first with stride 1). */
    const ptrdiff_t step = (ptrdiff_t)p->stride_w * in_c;
    const ptrdiff_t row_skip = ((ptrdiff_t)p->stride_h * p->in.w - (ptrdiff_t)out_w * p->stride_w) * in_c;
    const ptrdiff_t image_skip = ((ptrdiff_t)p->in.h - (ptrdiff_t)out_h * p->stride_h) * p->in.w * in_c;
    /* Columns are read k bytes from each pixel on: past in.c they meet the next pixel's bytes, which
       the zero weights of the padded rows cancel. A pixel whose k bytes would run past the input is
       copied first into the spare columns (after the stage when an ADD is fused); only where k > in.c
       can one. */
    const int8_t *const in_end = input + (size_t)p->in.n * (size_t)p->in.h * (size_t)p->in.w * (size_t)in_c;
    int8_t *const spare = scratch + TQ_GEMM_PAIR_ROOM(k) + (residual != NULL ? 2 * out_c : 0);
    int8_t *const stage = scratch + TQ_GEMM_PAIR_ROOM(k);
    const int tight = k > in_c;
    const int walk = row_skip != 0 || image_skip != 0; /* else pixel after pixel, `step` apart */
    const size_t pair_out = 2 * (size_t)out_c;
    const int8_t *at = input;
    int8_t *out = output;
    const int8_t *res = residual;
    tq_gemm_ready ready;
    int32_t ox = 0, oy = 0;
    int32_t n;

    tq_gemm_ready_init(&ready, &p->gemm, scratch);
    for (n = pixels; n > 0; n -= 2, out += pair_out) {
        /* With an ADD fused the pixels go to a stage first; the ADD then writes them (over the
           residual, maybe). An odd last pixel is paired with itself. */
        int8_t *const out0 = residual != NULL ? stage : out;
        const int8_t *a = at, *b = at;
        int8_t *out1 = out0;
        int32_t j;
        for (j = n > 1 ? 2 : 1; j > 0; --j) {
            at += step;
            if (walk && ++ox == out_w) {
                ox = 0;
                at += row_skip;
                if (++oy == out_h) {
                    oy = 0;
                    at += image_skip;
                }
            }
            if (j == 2) {
                b = at;
                out1 = out0 + out_c;
            }
        }
        if (tight) {
            if (in_end - a < k) {
                a = tq_1x1_copy(spare, a, in_c);
            }
            b = out1 == out0 ? a : in_end - b < k ? tq_1x1_copy(spare + k, b, in_c) : b;
        }
        tq_gemm_columns(a, b, k, p->gemm.group, scratch);
        tq_gemm_ready_run(&ready, out0, out1, TQ_GEMM_WIDE);
        if (residual != NULL) {
            tq_residual_add_s8(&p->res, out0, res, out, (int32_t)(out1 - out0) + out_c);
            res += pair_out;
        }
    }
    return TQ_OK;
#endif
}
