/* CONV_2D through im2col columns and the shared matrix-product core (see tq_conv_fast.h). */
#include "tq_conv_fast.h"
#include "tq_dsp_asm.h" /* the job structs' layout checked against the assembler's offsets */

/*
 * Two plain columns, then the pair the matrix product reads (tq_gemm_columns: int16 on the DSP
 * extension, 4 k bytes). tq_conv_im2col_wide_s8.c builds this file again under its own name for
 * int16 weights.
 */
#ifndef TQ_KERNEL_NAME
#define TQ_KERNEL_NAME tq_conv_im2col_s8
#define TQ_GEMM_PAIR tq_gemm_pair
#endif

/* Bytes a pair of columns takes per k: int16 on the DSP extension, else the interleaved int8. */
#if defined(TQ_GEMM_DSP)
#define TQ_PAIR_BYTES_PER_K 4
#else
#define TQ_PAIR_BYTES_PER_K 2
#endif

/* n bytes from src to dst (short runs: words, then bytes; longer ones memcpy; on Helium runs of more
   than 4 bytes 16 a step, the last step predicated). */
static inline void tq_copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
#if defined(TQ_GEMM_MVE)
    if (n > 4) {
        for (; n > 0; n -= 16, dst += 16, src += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)n);
            vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
        }
        return;
    }
#endif
    if (n < 12) {
        for (; n >= 4; n -= 4, dst += 4, src += 4) {
            const int32_t v = tq_read_s8x4(src); /* unaligned words are allowed where this runs */
            memcpy(dst, &v, 4);
        }
        for (i = 0; i < n; ++i) {
            dst[i] = src[i];
        }
    } else {
        memcpy(dst, src, (size_t)n);
    }
}

/* Gather the receptive field of output pixel (b, oy, ox) into col: [kh][kw][in.c], then zeros to k.
   A filter row inside the image with dilation 1 is one contiguous run of kw * in.c bytes. */
static void tq_im2col(const tq_conv_im2col_s8_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw, run = kw * in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int row_inside = ix0 >= 0 && ix0 + (kw - 1) * p->dil_w < in_w && p->dil_w == 1;
    const int8_t pad = (int8_t)p->in_zp;
    int8_t *dst = col;
    int32_t fy, fx, i;

    for (fy = 0; fy < p->kh; ++fy) {
        const int32_t iy = iy0 + fy * p->dil_h;
        const int row_ok = iy >= 0 && iy < in_h;
        const int8_t *const row = input + ((size_t)b * in_h + (size_t)(row_ok ? iy : 0)) * in_w * in_c;
        if (row_ok && row_inside) {
            tq_copy_run(dst, row + (size_t)ix0 * in_c, run);
            dst += run;
            continue;
        }
        for (fx = 0; fx < kw; ++fx) {
            const int32_t ix = ix0 + fx * p->dil_w;
            if (row_ok && ix >= 0 && ix < in_w) {
                tq_copy_run(dst, row + (size_t)ix * in_c, in_c);
            } else {
#if defined(TQ_GEMM_MVE)
                for (i = 0; i < in_c; i += 16) {
                    vstrbq_p_s8(dst + i, vdupq_n_s8(pad), vctp8q((uint32_t)(in_c - i)));
                }
#else
                for (i = 0; i < in_c; ++i) {
                    dst[i] = pad;
                }
#endif
            }
            dst += in_c;
        }
    }
#if defined(TQ_GEMM_MVE)
    for (i = (int32_t)(dst - col); i < p->gemm.k; i += 16) { /* the weight rows are zero here too */
        vstrbq_p_s8(col + i, vdupq_n_s8(0), vctp8q((uint32_t)(p->gemm.k - i)));
    }
#else
    for (i = (int32_t)(dst - col); i < p->gemm.k; ++i) {
        col[i] = 0; /* the weight rows are zero here too */
    }
#endif
}

/* Filter row fy of output pixel px = {b, oy, ox} as kw * in.c contiguous bytes: in place when the
   row lies inside the image (dilation 1), NULL when it lies wholly above or below it (padding),
   else gathered into tmp. */
static const int8_t *tq_im2col_row(const tq_conv_im2col_s8_params *p, const int8_t *input, const int32_t *px, int32_t fy,
                                   int8_t *tmp)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw;
    const int32_t iy = px[1] * p->stride_h - p->pad_h + fy * p->dil_h, ix0 = px[2] * p->stride_w - p->pad_w;
    const int8_t *row;
    int32_t fx, i;
    if (iy < 0 || iy >= in_h) {
        return NULL;
    }
    row = input + ((size_t)px[0] * in_h + (size_t)iy) * in_w * in_c;
    if (p->dil_w == 1 && ix0 >= 0 && ix0 + kw - 1 < in_w) {
        return row + (size_t)ix0 * in_c;
    }
    for (fx = 0; fx < kw; ++fx) {
        const int32_t ix = ix0 + fx * p->dil_w;
        if (ix >= 0 && ix < in_w && in_c >= 12) {
            memcpy(tmp + fx * in_c, row + (size_t)ix * in_c, (size_t)in_c);
        } else if (ix >= 0 && ix < in_w) {
            for (i = 0; i < in_c; ++i) {
                tmp[fx * in_c + i] = row[(size_t)ix * in_c + i];
            }
        } else {
            for (i = 0; i < in_c; ++i) {
                tmp[fx * in_c + i] = (int8_t)p->in_zp;
            }
        }
    }
    return tmp;
}

tq_status TQ_KERNEL_NAME(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t k = p->gemm.k, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w;
    int8_t *const pair = scratch + 2 * k; /* scratch: two plain columns, their pair, the ring */
    int8_t *const ring = pair + 4 * k;
    const int32_t run = p->kw * p->in.c; /* bytes of a filter row (then k == kh * run) */
    int8_t *dst[2];
    tq_row_stage stage;
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n;

    tq_stage_init(&stage, ring, p->ring_rows, out_w * out_c, p->in.w * p->in.c, out_h, p->pad_h, p->stride_h);
    for (n = 0; n < pixels; n += 2) {
        int32_t j;
        const int32_t count = pixels - n >= 2 ? 2 : 1;
        int32_t row_done[2] = {-1, -1};
        int8_t *img[2];
        int32_t px[2][3];
        for (j = 0; j < count; ++j) {
            px[j][0] = b;
            px[j][1] = oy;
            px[j][2] = ox;
            img[j] = output + (size_t)b * out_h * out_w * out_c;
            dst[j] = tq_stage_row(&stage, img[j], oy) + (size_t)ox * out_c;
            row_done[j] = tq_next_pixel(&b, &oy, &ox, out_h, out_w);
        }
        if (run % p->gemm.group == 0) { /* filter rows of whole groups: each straight into the pair */
            int8_t *d = pair;
            int32_t fy;
            for (fy = 0; fy < p->kh; ++fy, d += TQ_PAIR_BYTES_PER_K * run) {
                const int8_t *const r0 = tq_im2col_row(p, input, px[0], fy, scratch);
                const int8_t *const r1 = tq_im2col_row(p, input, px[count - 1], fy, scratch + k);
                if (r0 != NULL && r1 != NULL) {
                    tq_gemm_columns(r0, r1, run, p->gemm.group, d);
                } else {
                    tq_gemm_columns_tap(r0, r1, run, p->gemm.group, p->in_zp, d);
                }
            }
        } else {
            for (j = 0; j < count; ++j) {
                tq_im2col(p, input, px[j][0], px[j][1], px[j][2], scratch + j * k);
            }
            tq_gemm_columns(scratch, scratch + (count - 1) * k, k, p->gemm.group, pair);
        }
        TQ_GEMM_PAIR(&p->gemm, pair, dst[0], dst[count - 1]);
        for (j = 0; j < count; ++j) {
            if (row_done[j] >= 0) {
                tq_stage_flush(&stage, img[j], row_done[j]);
            }
        }
    }
    return TQ_OK;
}
