/* CONV_2D reading its taps in place: padding without copies (see tq_conv_fast.h). */
#include "tq_conv_fast.h"

/* Tap pointers of output pixel (b, oy, ox): the input pixel under each tap, or the zero-point row. */
static void tq_taps(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *zp_row, int32_t b, int32_t oy,
                    int32_t ox, const int8_t **taps)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int32_t fy, fx;
    for (fy = 0; fy < p->kh; ++fy) {
        const int32_t iy = iy0 + fy * p->dil_h;
        const int row_ok = iy >= 0 && iy < in_h;
        const int8_t *const row = input + ((size_t)b * in_h + (size_t)(row_ok ? iy : 0)) * in_w * in_c;
        for (fx = 0; fx < p->kw; ++fx) {
            const int32_t ix = ix0 + fx * p->dil_w;
            *taps++ = row_ok && ix >= 0 && ix < in_w ? row + (size_t)ix * in_c : zp_row;
        }
    }
}

/*
 * The two pixels' taps as segments for tq_gemm_segs: neighbouring taps that follow each other in
 * memory for both pixels (a filter row inside the image, dilation 1) make one longer segment.
 */
static int32_t tq_segments(const int8_t *const *ta, const int8_t *const *tb, int32_t ntaps, int32_t n, const int8_t **sa,
                           const int8_t **sb, int32_t *len)
{
    int32_t t, segs = 0;
    for (t = 0; t < ntaps; ++t) {
        if (segs > 0 && ta[t] == sa[segs - 1] + len[segs - 1] && tb[t] == sb[segs - 1] + len[segs - 1]) {
            len[segs - 1] += n;
        } else {
            sa[segs] = ta[t];
            sb[segs] = tb[t];
            len[segs++] = n;
        }
    }
    return segs;
}

tq_status tq_conv_taps_s8(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                          int8_t *scratch)
{
    const int32_t in_c = p->in.c, out_c = p->out.c, out_w = p->out.w, out_h = p->out.h;
    const int32_t ntaps = p->kh * p->kw, pixels = p->out.n * out_h * out_w;
    const int32_t zp_bytes = (in_c + 7) / 8 * 8;
    int8_t *const stage = scratch + zp_bytes;
    const int8_t *taps[2][TQ_CONV_MAX_TAPS];
    const int8_t *sa[TQ_CONV_MAX_TAPS], *sb[TQ_CONV_MAX_TAPS];
    int32_t len[TQ_CONV_MAX_TAPS];
    int8_t *dst[2];
    tq_row_stage rows;
    int32_t b = 0, oy = 0, ox = 0;
    int32_t n, i;

    if (TQ_GEMM_SIMD_GROUP != 0 && p->gemm.group != TQ_GEMM_SIMD_GROUP) {
        return TQ_ARG_ERROR; /* rows laid out for another core: the board's extensions do not match its cflags */
    }
    for (i = 0; i < in_c; ++i) {
        scratch[i] = (int8_t)p->in_zp;
    }
    tq_stage_init(&rows, stage + (residual != NULL ? 2 * out_c : 0), p->ring_rows, out_w * out_c, p->in.w * in_c, out_h,
                  p->pad_h, p->stride_h);
    for (n = 0; n < pixels; n += 2) {
        int32_t j, segs;
        const int32_t count = pixels - n >= 2 ? 2 : 1;
        int32_t row_done[2] = {-1, -1};
        int8_t *img[2];
        for (j = 0; j < count; ++j) {
            tq_taps(p, input, scratch, b, oy, ox, taps[j]);
            img[j] = output + (size_t)b * out_h * out_w * out_c;
            dst[j] = tq_stage_row(&rows, img[j], oy) + (size_t)ox * out_c;
            row_done[j] = tq_next_pixel(&b, &oy, &ox, out_h, out_w);
        }
        segs = tq_segments(taps[0], taps[count - 1], ntaps, in_c, sa, sb, len);
        if (residual != NULL) { /* never ring-staged: the output goes at its place (maybe over the residual) */
            dst[0] = stage;
            dst[1] = stage + out_c;
        }
        tq_gemm_segs_s8(&p->gemm, sa, sb, len, segs, dst[0], dst[count - 1]);
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
