/*
 * tinyq fast convolution kernels: specialized at generation time (tinyq/ops/conv.py chooses them
 * where they apply) and bit-exact with the reference kernels of tq_conv.h, from data laid out for
 * the inner loop (see tq_gemm.h).
 */
#ifndef TQ_CONV_FAST_H
#define TQ_CONV_FAST_H

#include "tq_common.h"
#include "tq_gemm.h"

/*
 * Output rows staged in a ring, so that a kernel may write its output over its own input: a row
 * goes to its place only when every input row under those bytes has been read for the last time.
 * Input row j is last read by output row (j + pad_h) / stride_h; the ring holds the rows in between
 * (ring_rows, computed at generation time). With ring_rows == 0 rows are written in place at once.
 */
typedef struct {
    int8_t *ring;
    int32_t rows, row_bytes, in_row_bytes, out_h, pad_h, stride_h;
    int32_t flushed; /* output rows of the current image already in place */
} tq_row_stage;

static inline void tq_stage_init(tq_row_stage *s, int8_t *ring, int32_t rows, int32_t row_bytes, int32_t in_row_bytes,
                                 int32_t out_h, int32_t pad_h, int32_t stride_h)
{
    s->ring = rows > 0 ? ring : NULL;
    s->rows = rows;
    s->row_bytes = row_bytes;
    s->in_row_bytes = in_row_bytes;
    s->out_h = out_h;
    s->pad_h = pad_h;
    s->stride_h = stride_h;
    s->flushed = 0;
}

/* Where output row oy of the image at out_b is computed. */
static inline int8_t *tq_stage_row(const tq_row_stage *s, int8_t *out_b, int32_t oy)
{
    return s->ring != NULL ? s->ring + (size_t)(oy % s->rows) * s->row_bytes : out_b + (size_t)oy * s->row_bytes;
}

/* Output rows [0, done] are computed: put in place every row whose input rows are dead. */
static inline void tq_stage_flush(tq_row_stage *s, int8_t *out_b, int32_t done)
{
    if (s->ring == NULL) {
        return;
    }
    while (s->flushed <= done) {
        const int32_t r = s->flushed;
        if (done < s->out_h - 1) {
            const int32_t last_in = ((r + 1) * s->row_bytes - 1) / s->in_row_bytes;
            if ((last_in + s->pad_h) / s->stride_h > done) {
                break;
            }
        }
        memcpy(out_b + (size_t)r * s->row_bytes, s->ring + (size_t)(r % s->rows) * s->row_bytes, (size_t)s->row_bytes);
        s->flushed++;
    }
    if (s->flushed == s->out_h) {
        s->flushed = 0; /* next image */
    }
}

/**
 * CONV_2D with a 1x1 filter over channels that are a multiple of the group: the channels of two
 * input pixels are interleaved into `scratch` (2 * gemm.k bytes) and multiplied with the weight
 * rows. gemm.k == in.c; any stride.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t stride_h, stride_w;
    tq_gemm_s8_params gemm;
} tq_conv_1x1_s8_params;

tq_status tq_conv_1x1_s8(const tq_conv_1x1_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/**
 * CONV_2D, one group, any filter: two output pixels at a time are gathered (im2col) into
 * `scratch` as [kh][kw][in.c] columns, padding taps set to in_zp and the tail up to gemm.k to 0,
 * interleaved, and multiplied with the weight rows. `scratch` holds 4 * gemm.k bytes, then
 * ring_rows output rows when the output overwrites the input (see tq_row_stage).
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_zp;          /* input zero point: the value of a padding tap */
    int32_t ring_rows;      /* output rows staged (0: written directly) */
    tq_gemm_s8_params gemm;
} tq_conv_im2col_s8_params;

tq_status tq_conv_im2col_s8(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/**
 * DEPTHWISE_CONV_2D with depth multiplier 1: channels four at a time (SXTB16 + SMLABB/SMLATT on the
 * DSP extension, widening loads and VMLA on Helium), requantized with tq_requantize_rs2 (all
 * shifts <= -2). Layouts and ranges as tq_depthwise_conv_s8.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;   /* [kh][kw][c] */
    const int32_t *bias;     /* [c], or NULL */
    const int32_t *mult;     /* [c] */
    const int32_t *rnd;      /* [c] 2^(e-2) for the right shift e = -shift >= 2 */
    const int32_t *rsh;      /* [c] e - 1 */
    int32_t ring_rows;       /* output rows staged in scratch (0: written directly, scratch unused) */
} tq_depthwise_conv_fast_s8_params;

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch);

#endif /* TQ_CONV_FAST_H */
