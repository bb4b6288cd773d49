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
#define TQ_GEMM_WIDE 0
#endif

/* Bytes a pair of columns takes per k: int16 on the DSP extension, else the interleaved int8. */
#if defined(TQ_GEMM_DSP)
#define TQ_PAIR_BYTES_PER_K 4
#else
#define TQ_PAIR_BYTES_PER_K 2
#endif

#if defined(TQ_GEMM_MVE)
/* n bytes from src to dst (n > 0), 16 a step, the last step predicated (no byte outside is read). */
static inline void tq_copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 16; n -= 16, dst += 16, src += 16) {
        vst1q_s8(dst, vld1q_s8(src));
    }
    {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
}

/* n bytes (n > 0) at dst set to the bytes of v. */
static inline void tq_fill_run(int8_t *dst, int8x16_t v, int32_t n)
{
    for (; n > 16; n -= 16, dst += 16) {
        vst1q_s8(dst, v);
    }
    vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
}
#endif

#if !defined(TQ_GEMM_MVE)
/* The n bytes at src (and up to 3 more) to dst (and up to 3 more), a word at a time. */
static inline void tq_copy_over(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 4) {
        const int32_t v = tq_read_s8x4(src + i); /* unaligned words are allowed where this runs */
        memcpy(dst + i, &v, 4);
    }
}

/* n bytes (and up to 3 more) at dst set to the bytes of zp4, a word at a time. */
static inline void tq_fill_over(int8_t *dst, uint32_t zp4, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 4) {
        memcpy(dst + i, &zp4, 4);
    }
}

/* n bytes from src to dst: short runs by words (up to 3 more bytes read and written) where the reads
   stay below in_end, else exactly. */
static inline void tq_copy_span(int8_t *dst, const int8_t *src, int32_t n, const int8_t *in_end)
{
    if (n < 16 && src + ((n + 3) & ~3) <= in_end) {
        tq_copy_over(dst, src, n);
    } else {
        memcpy(dst, src, (size_t)n);
    }
}

/* The kw taps (in.c bytes each) of a filter row at input row `row` from column ix0 on into dst, taps
   outside the row the zero point (the bytes of zp4), each tap writing over the last one's extra
   bytes; up to 3 bytes past kw * in.c may be written. */
static void tq_gather_row(const tq_conv_im2col_s8_params *p, const int8_t *row, int32_t ix0, const int8_t *in_end,
                          uint32_t zp4, int8_t *dst)
{
    const int32_t in_w = p->in.w, in_c = p->in.c, kw = p->kw;
    int32_t fx;
    if (p->dil_w == 1 && ix0 >= 0 && ix0 + kw <= in_w) { /* the row inside: one run */
        tq_copy_span(dst, row + (size_t)ix0 * (size_t)in_c, kw * in_c, in_end);
        return;
    }
    for (fx = 0; fx < kw; ++fx) {
        const int32_t ix = ix0 + fx * p->dil_w;
        if (ix < 0 || ix >= in_w) {
            tq_fill_over(dst + fx * in_c, zp4, in_c);
        } else {
            tq_copy_span(dst + fx * in_c, row + (size_t)ix * (size_t)in_c, in_c, in_end);
        }
    }
}
#endif

#if TQ_CFG_IM2COL_GATHER && !defined(TQ_GEMM_MVE)
/* tq_im2col with params gather (short filter rows on a small map, dilation 1: tinyq/ops/conv.py's
   _im2col_gather; compiled in with TQ_CFG_IM2COL_GATHER): the window's rows and columns inside the
   image (one image at `image`, its top left tap at iy0, ix0), the rest of the column the zero point
   first (a word at a time, up to 3 bytes past kh * kw * in.c: the column's room); each inside row's
   bytes copied exactly, whole words then the last bytes, so that no copy reaches into a padding tap
   (a window without padding taps by whole words, where the reads stay inside the image).
   A function of its own, out of the pair loop's registers. */
static __attribute__((noinline)) void tq_im2col_gather(const tq_conv_im2col_s8_params *p, const int8_t *image, int32_t iy0,
                                                       int32_t ix0, uint32_t zp4, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw, kh = p->kh, run = kw * in_c;
    const int32_t fx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0, fx1 = in_w - ix0 < kw ? in_w - ix0 : kw;
    const int32_t fy0 = iy0 < 0 ? (-iy0 < kh ? -iy0 : kh) : 0, fy1 = in_h - iy0 < kh ? in_h - iy0 : kh;
    const int32_t n = (fx1 - fx0) * in_c, padded = fx0 > 0 || fx1 < kw || fy0 > 0 || fy1 < kh;
    const int8_t *src;
    int8_t *dst;
    int32_t fy, i, words = n & ~3;
    if (padded) {
        for (i = 0; i < kh * run; i += 4) {
            memcpy(col + i, &zp4, 4);
        }
    }
    if (n <= 0 || fy1 <= fy0) {
        return;
    }
    src = image + ((size_t)(iy0 + fy0) * (size_t)in_w + (size_t)(ix0 + fx0)) * (size_t)in_c;
    if (!padded && src + (size_t)(kh - 1) * (size_t)in_w * (size_t)in_c + ((n + 3) & ~3) <= image + (size_t)in_h * (size_t)in_w * (size_t)in_c) {
        words = (n + 3) & ~3; /* no padding tap: whole words, up to 3 bytes past each row (the next row's, or the room) */
    }
    for (fy = fy0, dst = col + fy0 * run + fx0 * in_c; fy < fy1; ++fy, dst += run, src += (size_t)in_w * (size_t)in_c) {
        for (i = 0; i < words; i += 4) {
            const int32_t v = tq_read_s8x4(src + i);
            memcpy(dst + i, &v, 4);
        }
        for (; i < n; ++i) {
            dst[i] = src[i];
        }
    }
}
#endif

/* Gather the receptive field of output pixel (b, oy, ox) into col: [kh][kw][in.c], then to k
   bytes whose weights are zero (whatever is there, which the zero weights cancel). A filter row
   inside the image with dilation 1 is one contiguous run of kw * in.c bytes. `col` has 3 bytes of
   room past k, which the word copies may overwrite. */
static void tq_im2col(const tq_conv_im2col_s8_params *p, const int8_t *input, int32_t b, int32_t oy, int32_t ox, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw, run = kw * in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int8_t *dst = col;
    int32_t fy;
#if !defined(TQ_GEMM_MVE)
    /* Rows by tq_gather_row; a short window wholly inside by words, reading and writing up to 3
       bytes past each row (the next row's copy writes over them) where the reads stay inside the
       input. */
    const int8_t *const in_end = input + (size_t)p->in.n * (size_t)in_h * (size_t)in_w * (size_t)in_c;
    const size_t step = (size_t)p->dil_h * (size_t)in_w * (size_t)in_c;
    const uint32_t zp4 = 0x01010101u * (uint8_t)p->in_zp;
    if (run < 12 && p->dil_w == 1 && ix0 >= 0 && ix0 + kw <= in_w && iy0 >= 0 && iy0 + (p->kh - 1) * p->dil_h < in_h) {
        const int8_t *src = input + (((size_t)b * (size_t)in_h + (size_t)iy0) * (size_t)in_w + (size_t)ix0) * (size_t)in_c;
        if (src + step * (size_t)(p->kh - 1) + ((run + 3) & ~3) <= in_end) {
            for (fy = 0; fy < p->kh; ++fy, src += step, dst += run) {
                tq_copy_over(dst, src, run);
            }
            return;
        }
    }
    for (fy = 0; fy < p->kh; ++fy, dst += run) {
        const int32_t iy = iy0 + fy * p->dil_h;
        if (iy < 0 || iy >= in_h) {
            tq_fill_over(dst, zp4, run);
        } else {
            tq_gather_row(p, input + ((size_t)b * (size_t)in_h + (size_t)iy) * (size_t)in_w * (size_t)in_c, ix0, in_end, zp4, dst);
        }
    }
#else
    /* With dilation 1 each filter row is at most three runs: the zero point for the taps left of the
       image, the input bytes of the taps inside it, the zero point right of it (a row above or below
       the image: all zero point). Otherwise tap by tap. */
    const int8x16_t pad = vdupq_n_s8((int8_t)p->in_zp);
    const int8_t *const image = input + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
    int32_t fx, i;
    if (p->dil_w == 1 && p->dil_h == 1) {
        const int32_t lp = ix0 < 0 ? -ix0 : 0, rp = ix0 + kw > in_w ? ix0 + kw - in_w : 0;
        const int32_t left = (lp < kw ? lp : kw) * in_c, mid = lp + rp < kw ? (kw - lp - rp) * in_c : 0;
        const int32_t right = run - left - mid;
        const int8_t *src = image + ((size_t)iy0 * (size_t)in_w + (size_t)(ix0 + lp)) * (size_t)in_c;
        for (fy = 0; fy < p->kh; ++fy, dst += run, src += (size_t)in_w * (size_t)in_c) {
            if (iy0 + fy < 0 || iy0 + fy >= in_h || mid == 0) {
                tq_fill_run(dst, pad, run);
                continue;
            }
            if (left > 0) {
                tq_fill_run(dst, pad, left);
            }
            tq_copy_run(dst + left, src, mid);
            if (right > 0) {
                tq_fill_run(dst + left + mid, pad, right);
            }
        }
        return;
    }
    {
        const int row_inside = ix0 >= 0 && ix0 + (kw - 1) * p->dil_w < in_w && p->dil_w == 1;
        for (fy = 0; fy < p->kh; ++fy) {
            const int32_t iy = iy0 + fy * p->dil_h;
            if (iy < 0 || iy >= in_h) {
                for (i = 0; i < run; i += 16) {
                    vstrbq_p_s8(dst + i, pad, vctp8q((uint32_t)(run - i)));
                }
            } else if (row_inside) {
                tq_copy_run(dst, image + ((size_t)iy * (size_t)in_w + (size_t)ix0) * (size_t)in_c, run);
            } else {
                const int8_t *const row = image + (size_t)iy * (size_t)in_w * (size_t)in_c;
                for (fx = 0; fx < kw; ++fx) {
                    const int32_t ix = ix0 + fx * p->dil_w;
                    if (ix >= 0 && ix < in_w) {
                        tq_copy_run(dst + fx * in_c, row + (size_t)ix * (size_t)in_c, in_c);
                    } else {
                        for (i = 0; i < in_c; i += 16) {
                            vstrbq_p_s8(dst + fx * in_c + i, pad, vctp8q((uint32_t)(in_c - i)));
                        }
                    }
                }
            }
            dst += run;
        }
    }
    /* The bytes from kh * kw * in.c to k keep whatever they hold: their weights are zero. */
#endif
}

#if defined(TQ_GEMM_MVE)
/*
 * Helium: four output pixels at a time (two where staged rows are shorter than three pixels, so that
 * a unit spans at most two rows, as the ring is sized for), each pixel's column gathered (tq_im2col)
 * straight into its place in the four columns (tq_mve_row_quad's layout) when k is 16, else into
 * scratch + 4 k and then moved there; then every weight row against the four columns
 * (tq_mve_gemm_quad). A unit's pixels are all read before any of its outputs is written, and a
 * unit's boundaries are pair boundaries: the pair's gap and ring hold.
 */
static void tq_im2col_quads(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t k = p->gemm.k, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w, blocks = k >> 4;
    const int32_t unit = p->ring_rows > 0 && out_w < 3 ? 2 : 4;
    const size_t image_bytes = (size_t)out_h * (size_t)out_w * (size_t)out_c;
    int8_t *const tmp = scratch + 4 * k;
    tq_row_stage stage;
    int8_t *img = output, *d;
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n, j, i;
    tq_stage_init(&stage, scratch + 6 * k, p->ring_rows, out_w * out_c, p->in.w * p->in.c, out_h, p->pad_h, p->stride_h);
    d = tq_stage_row(&stage, img, 0);
    for (n = 0; n < pixels; n += unit) {
        const int32_t count = pixels - n >= unit ? unit : pixels - n;
        int8_t *const d0 = d;
        int32_t done = 0, row_done[4];
        int8_t *img_done[4];
        uint32_t o[4];
        for (j = 0; j < count; ++j) {
            o[j] = (uint32_t)(d - d0);
            if (blocks == 1) {
                tq_im2col(p, input, b, oy, ox, scratch + 16 * j);
            } else {
                tq_im2col(p, input, b, oy, ox, tmp);
                for (i = 0; i < blocks; ++i) {
                    vst1q_s8(scratch + 64 * i + 16 * j, vld1q_s8(tmp + 16 * i));
                }
            }
            d += out_c;
            if (++ox == out_w) { /* a row done: the next one's place */
                img_done[done] = img;
                row_done[done++] = oy;
                ox = 0;
                if (++oy == out_h) {
                    oy = 0;
                    ++b;
                    img += image_bytes;
                }
                d = tq_stage_row(&stage, img, oy);
            }
        }
        for (; j < 4; ++j) {
            o[j] = 0u;
        }
        tq_mve_gemm_quad(&p->gemm, scratch, d0, o, count);
        for (j = 0; j < done; ++j) {
            tq_stage_flush(&stage, img_done[j], row_done[j]);
        }
    }
}
#else
/* Filter row fy of output pixel px = {b, oy, ox} as kw * in.c contiguous bytes: in place when the
   row lies inside the image (dilation 1), NULL when it lies wholly above or below it (padding),
   else gathered into tmp. */
static const int8_t *tq_im2col_row(const tq_conv_im2col_s8_params *p, const int8_t *input, const int32_t *px, int32_t fy,
                                   int8_t *tmp)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw;
    const int32_t iy = px[1] * p->stride_h - p->pad_h + fy * p->dil_h, ix0 = px[2] * p->stride_w - p->pad_w;
    const int8_t *row;
    if (iy < 0 || iy >= in_h) {
        return NULL;
    }
    row = input + ((size_t)px[0] * (size_t)in_h + (size_t)iy) * (size_t)in_w * (size_t)in_c;
    if (p->dil_w == 1 && ix0 >= 0 && ix0 + kw - 1 < in_w) {
        return row + (size_t)ix0 * (size_t)in_c;
    }
    tq_gather_row(p, row, ix0, input + (size_t)p->in.n * (size_t)in_h * (size_t)in_w * (size_t)in_c, 0x01010101u * (uint8_t)p->in_zp, tmp);
    return tmp;
}

#endif

tq_status TQ_KERNEL_NAME(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch)
{
#if defined(TQ_GEMM_MVE)
    tq_im2col_quads(p, input, output, scratch);
    return TQ_OK;
#else
    const int32_t k = p->gemm.k, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t pixels = p->out.n * out_h * out_w;
    int8_t *const pair = scratch + 2 * k; /* scratch: two plain columns, their pair, the ring */
    int8_t *const ring = pair + TQ_GEMM_PAIR_ROOM(k);
    const int32_t run = p->kw * p->in.c; /* bytes of a filter row (then k == kh * run) */
    int8_t *dst[2];
    tq_row_stage stage;
    tq_gemm_ready ready;
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n;

    /* Filter rows of whole groups go straight into the pair, piece by piece, where they are at least
       TQ_GEMM_PIECE_MIN bytes, except with params gather (whole columns: tq_im2col_gather). */
    const int pieces = run % p->gemm.group == 0 && run >= TQ_GEMM_PIECE_MIN && !(TQ_CFG_IM2COL_GATHER && p->gather);

    tq_gemm_ready_init(&ready, &p->gemm, pair);
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
            img[j] = output + (size_t)b * (size_t)out_h * (size_t)out_w * (size_t)out_c;
            dst[j] = tq_stage_row(&stage, img[j], oy) + (size_t)ox * (size_t)out_c;
            row_done[j] = tq_next_pixel(&b, &oy, &ox, out_h, out_w);
        }
        if (pieces) { /* filter rows of whole groups: each straight into the pair */
            int8_t *d = pair;
            int32_t fy;
            for (fy = 0; fy < p->kh; ++fy, d += TQ_PAIR_BYTES_PER_K * run) {
                const int8_t *const r0 = tq_im2col_row(p, input, px[0], fy, scratch);
                const int8_t *const r1 = tq_im2col_row(p, input, px[count - 1], fy, scratch + k);
                tq_gemm_columns_add(r0, r1, run, p->gemm.group, p->in_zp, d, fy == 0);
            }
        } else {
            for (j = 0; j < count; ++j) {
#if TQ_CFG_IM2COL_GATHER
                if (p->gather) {
                    tq_im2col_gather(p, input + (size_t)px[j][0] * (size_t)p->in.h * (size_t)p->in.w * (size_t)p->in.c, px[j][1] * p->stride_h - p->pad_h,
                                     px[j][2] * p->stride_w - p->pad_w, 0x01010101u * (uint8_t)p->in_zp, scratch + j * k);
                    continue;
                }
#endif
                tq_im2col(p, input, px[j][0], px[j][1], px[j][2], scratch + j * k);
            }
            tq_gemm_columns(scratch, scratch + (count - 1) * k, k, p->gemm.group, pair);
        }
        tq_gemm_ready_run(&ready, dst[0], dst[count - 1], TQ_GEMM_WIDE);
        for (j = 0; j < count; ++j) {
            if (row_done[j] >= 0) {
                tq_stage_flush(&stage, img[j], row_done[j]);
            }
        }
    }
    return TQ_OK;
#endif
}
