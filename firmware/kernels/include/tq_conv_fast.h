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

/* Step (b, oy, ox) to the next output pixel; returns the row just finished, or -1 inside a row. */
static inline int32_t tq_next_pixel(int32_t *b, int32_t *oy, int32_t *ox, int32_t out_h, int32_t out_w)
{
    const int32_t row = *oy;
    if (++*ox < out_w) {
        return -1;
    }
    *ox = 0;
    if (++*oy == out_h) {
        *oy = 0;
        ++*b;
    }
    return row;
}

/* Where output row oy of the image at out_b is computed. */
static inline int8_t *tq_stage_row(const tq_row_stage *s, int8_t *out_b, int32_t oy)
{
    return s->ring != NULL ? s->ring + (size_t)(oy % s->rows) * (size_t)s->row_bytes : out_b + (size_t)oy * (size_t)s->row_bytes;
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
        memcpy(out_b + (size_t)r * (size_t)s->row_bytes, s->ring + (size_t)(r % s->rows) * (size_t)s->row_bytes, (size_t)s->row_bytes);
        s->flushed++;
    }
    if (s->flushed == s->out_h) {
        s->flushed = 0; /* next image */
    }
}

/*
 * An ADD fused after a convolution (the fuse_residual pass): out = ADD(conv, residual) with
 * tq_add_s8's arithmetic, each input's rescale (x + offset) << left_shift, requantized, tabulated
 * at generation time (256 int32 per input, in flash, indexed by the signed byte); the sum is
 * requantized by tq_requant_mm (generation fuses only where that is exact). The convolution writes
 * a pixel's channels to a stage first, so `out` may be the residual itself.
 */
typedef struct {
    const int32_t *t_conv;  /* [256] at +128: the convolution's output byte; NULL: no ADD fused */
    const int32_t *t_res;   /* [256] at +128: the residual byte */
    int32_t out_mult;
    int32_t out_radd;       /* 2^(e-1) + out_offset * 2^e for the output's right shift e >= 1 */
    int32_t out_rsh;        /* e */
    int32_t act_min, act_max;
} tq_residual_s8;

/* out[i] = ADD(y[i], x[i]) for i < n; out may be x. */
void tq_residual_add_s8(const tq_residual_s8 *r, const int8_t *y, const int8_t *x, int8_t *out, int32_t n);

/**
 * CONV_2D with a 1x1 filter, any channel count: the channels of two input pixels are copied into
 * `scratch` as a column pair (tq_gemm_columns) and multiplied with the weight rows; any stride.
 * gemm.k is in.c rounded up to the group: a column is the k bytes from its pixel on, the bytes past
 * in.c (the next pixel's) meeting the padded rows' zero weights; a pixel whose k bytes would pass the
 * input's end is copied first.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t stride_h, stride_w;
    tq_gemm_s8_params gemm;
    tq_residual_s8 res;     /* an ADD fused after it (res.t_conv != NULL): then `residual` is its other input */
} tq_conv_1x1_s8_params;

/* `scratch`: 4 * gemm.k bytes (the column pair), then 2 * out.c when an ADD is fused, then, where
   gemm.k > in.c, 2 * gemm.k bytes for the pixels copied at the input's end. */
tq_status tq_conv_1x1_s8(const tq_conv_1x1_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                         int8_t *scratch);
tq_status tq_conv_1x1_wide_s8(const tq_conv_1x1_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                              int8_t *scratch);

/**
 * CONV_2D, one group, any filter: two output pixels at a time (four on Helium) are gathered (im2col)
 * into `scratch` as [kh][kw][in.c] columns, padding taps set to in_zp (the tail up to gemm.k meets
 * zero weights and is left as it is; short rows are copied by words, up to 3 bytes past them), made
 * a column pair (tq_gemm_columns; on Helium four columns, tq_mve_gemm_quad) and multiplied with the
 * weight rows.
 * `scratch` holds 6 * gemm.k bytes (the _wide twin reads int16 weights),
 * then ring_rows output rows when the output overwrites the input (see tq_row_stage).
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
    int32_t gather;         /* 1: short filter rows on a small map, whole columns gathered (DSP and portable) */
    tq_gemm_s8_params gemm;
} tq_conv_im2col_s8_params;

tq_status tq_conv_im2col_s8(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);
tq_status tq_conv_im2col_wide_s8(const tq_conv_im2col_s8_params *p, const int8_t *input, int8_t *output, int8_t *scratch);

/**
 * CONV_2D, one group, any filter, input channels a multiple of the group, without an im2col
 * buffer: two output pixels at a time, one filter row at a time, the row's taps (in.c bytes each,
 * taps outside the image the input zero point) made a column pair (tq_gemm_columns_tap) that every
 * pair of weight rows reads; the accumulators (on the stack) carry over the filter rows.
 * `scratch`: 4 * kw * in.c bytes (the pair), 2 * out.c bytes of stage when an ADD is fused, then
 * ring_rows output rows (tq_row_stage). kw <= TQ_CONV_MAX_TAPS, out.c <= TQ_CONV_TAPS_MAX_OUT.
 */
#define TQ_CONV_MAX_TAPS 64
#define TQ_CONV_TAPS_MAX_OUT 128
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_zp;
    int32_t ring_rows;
    tq_gemm_s8_params gemm; /* gemm.k == kh * kw * in.c */
    tq_residual_s8 res;
} tq_conv_taps_s8_params;

tq_status tq_conv_taps_s8(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                          int8_t *scratch);
tq_status tq_conv_taps_wide_s8(const tq_conv_taps_s8_params *p, const int8_t *input, const int8_t *residual, int8_t *output,
                               int8_t *scratch);

/**
 * DEPTHWISE_CONV_2D with depth multiplier 1, channels four at a time. The input offset is folded
 * into the bias over all kh * kw taps, and taps outside the image read a row of input zero points,
 * so every pixel runs the same loop over a table of tap pointers. Requantized with tq_requant_mm (all
 * shifts <= -1, proven exact at generation) or else (requant 1) tq_requant_gen; the clamp runs on four packed outputs at once (SSUB8 + SEL) where SIMD32 is
 * available. On the DSP extension the blocks run in tq_depthwise_dsp.S (taps in pairs: SMLAD does
 * two taps of one channel), on Helium with widening loads.
 * Weights, per block of four channels (zero past the last channel), for T = kh * kw taps:
 * - paired == 0 (Helium): [T][4], the four channels of each tap together;
 * - paired == 1: the taps by pairs (t, t + 1), 8 bytes each: c0 t, c1 t, c0 t+1, c1 t+1, c2 t, c3 t,
 *   c2 t+1, c3 t+1 (SXTB16 of either word gives a channel's (t, t+1)); an odd last tap as c0 c1 c2 c3;
 * - with --wide-weights, or on a small layer's padded copy (weights16, weights NULL; paired): int16,
 *   per pair (c0 t, c0 t+1), (c1 ...), (c2 ...), (c3 ...); an odd last tap as (c0, c2), (c1, c3).
 * `scratch`: in.c zero points (rounded up to 8 bytes), then ring_rows output rows (tq_row_stage);
 * with pad_copy 1 (TQ_CFG_DW_PAD), after the zero points, the input image padded with its zero point
 * so that every window lies inside it (rows [-pad_h, (out.h - 1) stride_h + (kh - 1) dil_h - pad_h],
 * columns the same), each pixel in.c rounded up to 4 bytes (the bytes past in.c: any value, their
 * weights are 0), plus 4 bytes (ring_rows unused: the whole image is copied before any output is
 * written).
 * kh * kw <= TQ_DW_MAX_TAPS.
 */
#define TQ_DW_MAX_TAPS 64
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_zp;
    int32_t out_offset;
    int32_t act_min, act_max;
    int32_t paired;          /* weight layout (above) */
    const int8_t *weights;
    const int16_t *weights16;
    /* Per block of four channels (zero past the last channel): bias[4] (+ input offset * sum of the
       channel's kh * kw weights, modulo 2^32), then per channel mult, radd (2^(e-1) + out_offset * 2^e
       for the right shift e = -shift >= 1) and rsh (e): see tq_requant_mm; or, with requant 1, per
       channel mult, left and right shift (tq_requant_gen). */
    const int32_t *quant;
    int32_t ring_rows;       /* output rows staged in scratch (0: written directly) */
    int32_t requant;         /* 0: tq_requant_mm's constants (proven exact); 1: tq_requant_gen's (any layer) */
    int32_t pad_copy;        /* 1: the windows read a zero-point-padded copy of the input in scratch (below) */
} tq_depthwise_conv_fast_s8_params;

#if defined(TQ_GEMM_DSP)
/* One output pixel's channels [0, c_end) (c_end a multiple of 4, > 0) in tq_depthwise_dsp.S: tap t
   of channel c is read at tab[t] + base + c (tab: addresses with base 0, the zero-point row for
   padding taps; or offsets from base). */
typedef struct {
    const uintptr_t *tab;
    const void *w;            /* block 0's weights (paired layout) */
    const int32_t *q;         /* block 0's quant */
    uintptr_t out;            /* the pixel's output address - base */
    uintptr_t end;            /* base + c_end */
    uint32_t lo4, hi4;
    int32_t clamp;
    int32_t taps;
    uintptr_t base;
} tq_dw_job;

void tq_dw_pixel_dsp(const tq_dw_job *job);
void tq_dw_pixel_wide_dsp(const tq_dw_job *job);
/* The same with the general requantization (requant 1): q holds mult, left and right shift per
   channel, clamp the output zero point above the clamp flag (tq_gemm_gen_clamp). */
void tq_dw_pixel_gen_dsp(const tq_dw_job *job);
void tq_dw_pixel_gen_wide_dsp(const tq_dw_job *job);
#endif

tq_status tq_depthwise_conv_fast_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                    int8_t *scratch);
tq_status tq_depthwise_conv_fast_wide_s8(const tq_depthwise_conv_fast_s8_params *p, const int8_t *input, int8_t *output,
                                         int8_t *scratch);

/*
 * round((double)acc * scale) with |result| capped at 2^30, as tq_fully_connected_s8 computes it,
 * in integers: scale = m * 2^e with 2^52 <= m < 2^53 (generation splits the double). The product
 * acc * m is exact (< 2^84), rounded to 53 bits to nearest-even as the double multiply does, then to
 * an integer half away from zero as std::round does. No soft-float library is linked.
 */
static inline int32_t tq_fc_round(int32_t acc, uint64_t m, int32_t e)
{
    const uint32_t a = acc < 0 ? (uint32_t)0 - (uint32_t)acc : (uint32_t)acc;
    const uint64_t lo_part = (uint64_t)a * (uint32_t)m;          /* < 2^63 */
    const uint64_t hi_part = (uint64_t)a * (uint32_t)(m >> 32);  /* < 2^52 */
    const uint64_t p_lo = lo_part + (hi_part << 32);
    const uint64_t p_hi = (hi_part >> 32) + (p_lo < lo_part ? 1u : 0u);
    uint64_t man, q;
    int32_t s = 0, t;
    if (a == 0) {
        return 0;
    }
    if (p_hi != 0) { /* 65..84 bits: keep 53, s = bits - 53 <= 31 */
        int32_t bits = 64;
        uint64_t h = p_hi, rem, half;
        while (h) {
            ++bits;
            h >>= 1;
        }
        s = bits - 53;
        man = (p_hi << (64 - s)) | (p_lo >> s);
        rem = p_lo & (((uint64_t)1 << s) - 1u);
        half = (uint64_t)1 << (s - 1);
        if (rem > half || (rem == half && (man & 1u))) {
            if (++man == ((uint64_t)1 << 53)) {
                man >>= 1;
                ++s;
            }
        }
    } else if (p_lo >> 53) { /* 54..64 bits */
        int32_t bits = 53;
        uint64_t rem, half;
        while (bits < 64 && (p_lo >> bits) != 0u) {
            ++bits;
        }
        s = bits - 53;
        man = p_lo >> s;
        rem = p_lo & (((uint64_t)1 << s) - 1u);
        half = (uint64_t)1 << (s - 1);
        if (rem > half || (rem == half && (man & 1u))) {
            if (++man == ((uint64_t)1 << 53)) {
                man >>= 1;
                ++s;
            }
        }
    } else {
        man = p_lo; /* exact in a double */
    }
    t = s + e; /* |value| = man * 2^t */
    if (t >= 0) {
        q = t > 30 ? ((uint64_t)1 << 30) : man << t;
    } else if (t <= -54) {
        q = 0;
    } else {
        q = (man + ((uint64_t)1 << (-t - 1))) >> -t;
    }
    if (q > ((uint64_t)1 << 30)) {
        q = (uint64_t)1 << 30;
    }
    return acc < 0 ? -(int32_t)q : (int32_t)q;
}

/**
 * FULLY_CONNECTED with tq_fully_connected_s8's results (TFLite's double-precision requantization).
 * Zero points folded: sum (w - wz)(x - xz) + b = sum w x + w_offset * sum x + bias[c], with
 * bias[c] = b - xz sum w + depth wz xz at generation and w_offset = -wz times the row's sum at run
 * time, so the loops multiply raw bytes. Weights by quads of rows (zero rows past out_depth),
 * zero-padded to k (a multiple of the group g: 4, or 16 on Helium), interleaved g bytes at a time:
 * [quad][k / g][4][g]. Requantization: quant gives per row mult, t (+ (guard / 4) << 8) and rnd (int64,
 * low word first): ((sum * mult + rnd) >> 32) >> t, the output zero point inside rnd, which
 * generation proved equal to the double one for every sum the layer can produce; or, where it
 * could not enumerate them (guarded), the same unless the low S = 32 + t bits of sum * mult + rnd
 * lie within the row's guard of a rounding boundary, where the error bound of the fixed-point scale
 * allows a difference: then tq_fc_round from scale_m / scale_e, plus out_offset.
 */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t k;
    int32_t group;
    int32_t w_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;    /* [quads][k / g][4][g] */
    const int32_t *bias;      /* [quads * 4], zero points folded */
    const int32_t *quant;     /* [quads * 4][4]: mult, t + ((guard / 4) << 8), rnd lo, hi */
    int32_t guarded;          /* 0: quant proven exact (guards 0); 1: guarded; 2: every output by tq_fc_round */
    const uint64_t *scale_m;  /* [out_depth] when guarded, else NULL */
    const int32_t *scale_e;   /* [out_depth] when guarded, else NULL */
    int32_t split;            /* 1 (g 4): each pair of weights stored as (w1 + 128, w0), the bias less
                                 the loops' constant (see tq_fc_dsp.S); 0: bytes as they are */
    int32_t fc_prep;          /* 1: scratch holds k / 2 words of prepared input (DSP cores); 0: none;
                                 2, 3: the input made into operands in place, by this layer (2) or an
                                 earlier one (3; see tq_fc_dsp.S) */
    int32_t chunk_lg;         /* split: log2 of the DSP loops' chunks in bytes of input (>= 8: 256 of
                                 depth for any weights; more where the layer's allow, tq_fc_dsp.S) */
    const int16_t *wide;      /* DSP cores: int16 weights w + w_offset (weights then NULL, split 0),
                                 [quads][k / 4][4][4], each row's (w0, w2, w1, w3), read by
                                 tq_fc_wide_dsp (tq_fc_dsp.S); with fc_prep 3 w0 and w3 negated */
} tq_fully_connected_fast_s8_params;

tq_status tq_fully_connected_fast_s8(const tq_fully_connected_fast_s8_params *p, const int8_t *input, int8_t *output,
                                     int32_t *scratch);

#endif /* TQ_CONV_FAST_H */
