/*
 * tinyq packed low-bit weights: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED whose weights are stored
 * as b-bit indices (b = 1, 2, 4) plus a codebook, int8 activations (tinyq/ops/packed.py lays them out).
 *
 * Weights: one row per output channel, row r at rows + r * row_bytes, its elements in the order the
 * int8 kernel reads them:
 *     CONV_2D            [kh][kw][filter_in_c]   (the OHWI filter's row)
 *     DEPTHWISE_CONV_2D  [kh][kw]                (the [1][kh][kw][out.c] filter transposed)
 *     FULLY_CONNECTED    [accum_depth]
 * Element k of a row: index (row[k >> (3 - lg_bits)] >> ((k mod 8 / b) * b)) & (2^b - 1), low bits first
 * (TFLite's INT4 nibble order). Its value: codebook == NULL: the index as a 4-bit two's complement number
 * (an INT4 tensor, "linear"); else codebook[index] (one table of 2^b int8 values for the layer, or one per
 * output channel: codebook + r * 2^b).
 *
 * The arithmetic is the int8 kernels' (tq_conv.h) on those values, bit for bit: the same int32 sum, the
 * same requantization. With 1-bit indices the sum takes no multiply per weight: a row with values
 * {v0, v1} gives sum w * x = v0 * sum x + (v1 - v0) * sum of the x whose bit is set (x = input + offset),
 * formed modulo 2^32 (unsigned), so a partial product past int32 cannot upset the total, the reference's int32 sum.
 * Portable C: every core, Cortex-M0 included. Parameters are computed and checked by tinyq/ops/conv.py.
 */
#ifndef TQ_PACKED_H
#define TQ_PACKED_H

#include "tq_conv.h"

typedef struct {
    const uint8_t *rows;      /* [out channels][row_bytes] packed indices */
    const int8_t *codebook;   /* NULL: linear int4; else [1 or out channels][1 << bits] */
    int32_t row_bytes;
    int32_t lg_bits;          /* log2 of the bits per index: 0, 1, 2 */
    int32_t per_channel;      /* 1: one codebook per output channel; 0: one for the layer */
} tq_packed_weights;

/* The values of row r's indices: its codebook, or the int4 two's complement table. */
static inline const int8_t *tq_packed_table(const tq_packed_weights *w, int32_t r)
{
    static const int8_t linear[16] = {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1};
    if (w->codebook == NULL) {
        return linear;
    }
    return w->per_channel ? w->codebook + ((size_t)r << (1 << w->lg_bits)) : w->codebook;
}

/* sum over j < n of table[index of element k0 + j] * (x[j * step] + in_offset): a byte gives 8 / b weights. */
static inline int32_t tq_packed_dot(const uint8_t *row, const int8_t *table, int32_t lg_bits, int32_t k0, int32_t n,
                                    const int8_t *x, int32_t step, int32_t in_offset)
{
    const int32_t lg_per = 3 - lg_bits;
    const int32_t bits = 1 << lg_bits;
    const uint32_t mask = (1u << bits) - 1u;
    const uint8_t *p = row + (k0 >> lg_per);
    uint32_t byte;
    int32_t left, j;
    int32_t acc = 0;
    if (n <= 0) {
        return 0;
    }
    byte = (uint32_t)*p++ >> ((k0 & ((1 << lg_per) - 1)) << lg_bits);
    left = (1 << lg_per) - (k0 & ((1 << lg_per) - 1));
    for (j = 0; j < n; ++j) {
        if (left == 0) {
            byte = *p++;
            left = 1 << lg_per;
        }
        acc += (int32_t)table[byte & mask] * ((int32_t)x[(size_t)j * (size_t)step] + in_offset);
        byte >>= bits;
        --left;
    }
    return acc;
}

/* 1-bit indices: adds *all += sum of x[j * step] + in_offset over j < n and *set += the same over the
 * elements whose bit is set, no multiply. */
static inline void tq_packed_sums1(const uint8_t *row, int32_t k0, int32_t n, const int8_t *x, int32_t step,
                                   int32_t in_offset, int32_t *all, int32_t *set)
{
    const uint8_t *p = row + (k0 >> 3);
    uint32_t byte;
    int32_t left, j;
    int32_t a = 0, s = 0;
    if (n <= 0) {
        return;
    }
    byte = (uint32_t)*p++ >> (k0 & 7);
    left = 8 - (k0 & 7);
    for (j = 0; j < n; ++j) {
        const int32_t v = (int32_t)x[(size_t)j * (size_t)step] + in_offset;
        if (left == 0) {
            byte = *p++;
            left = 8;
        }
        a += v;
        s += v & -(int32_t)(byte & 1u);
        byte >>= 1;
        --left;
    }
    *all += a;
    *set += s;
}

/* 1-bit indices: the sum of x[j] + in_offset over the elements k0 .. k0 + n - 1 whose bit is set, no multiply. */
static inline int32_t tq_packed_set1(const uint8_t *row, int32_t k0, int32_t n, const int8_t *x, int32_t in_offset)
{
    const uint8_t *p = row + (k0 >> 3);
    uint32_t byte;
    int32_t left, j;
    int32_t s = 0;
    if (n <= 0) {
        return 0;
    }
    byte = (uint32_t)*p++ >> (k0 & 7);
    left = 8 - (k0 & 7);
    for (j = 0; j < n; ++j) {
        if (left == 0) {
            byte = *p++;
            left = 8;
        }
        s += ((int32_t)x[j] + in_offset) & -(int32_t)(byte & 1u);
        byte >>= 1;
        --left;
    }
    return s;
}

/* v0 * all + (v1 - v0) * set, in unsigned arithmetic (modulo 2^32): the reference's int32 sum. */
static inline int32_t tq_packed_combine1(const int8_t *table, int32_t all, int32_t set)
{
    const uint32_t v0 = (uint32_t)(int32_t)table[0];
    const uint32_t d = (uint32_t)((int32_t)table[1] - (int32_t)table[0]);
    return (int32_t)(v0 * (uint32_t)all + d * (uint32_t)set);
}

/**
 * CONV_2D with packed weights: tq_conv_s8's geometry, padding, ranges and requantization (weights
 * symmetric, zero point 0), its filter read from `w`.
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t filter_in_c;
    int32_t groups;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    tq_packed_weights w;
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_conv_packed_s8_params;

tq_status tq_conv_packed_s8(const tq_conv_packed_s8_params *p, const int8_t *input, int8_t *output);

/**
 * DEPTHWISE_CONV_2D with packed weights: tq_depthwise_conv_s8's geometry (depth_mult too), ranges and
 * requantization, its filter read from `w` (row oc: the [kh][kw] taps of output channel oc).
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t depth_mult;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t in_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    tq_packed_weights w;
    const int32_t *bias;     /* [out.c], or NULL */
    const int32_t *mult;     /* [out.c] */
    const int32_t *shift;    /* [out.c] */
} tq_depthwise_packed_s8_params;

tq_status tq_depthwise_packed_s8(const tq_depthwise_packed_s8_params *p, const int8_t *input, int8_t *output);

/**
 * FULLY_CONNECTED with packed weights: tq_fully_connected_s8's arithmetic (w_offset: minus a per-tensor
 * weights zero point, applied as w_offset * sum of the inputs; double-precision requantization), its
 * weights read from `w` (row oc: [accum_depth]).
 */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t in_offset;
    int32_t w_offset;
    int32_t out_offset;
    int32_t act_min, act_max;
    tq_packed_weights w;
    const int32_t *bias;     /* [out_depth], or NULL */
    const double *scale;     /* [out_depth] */
} tq_fully_connected_packed_s8_params;

tq_status tq_fully_connected_packed_s8(const tq_fully_connected_packed_s8_params *p, const int8_t *input, int8_t *output);

#endif /* TQ_PACKED_H */
