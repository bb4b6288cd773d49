/*
 * tinyq fast int16x8 kernels (16-bit activations, 8-bit weights): the fast twins of tq_conv_s16,
 * tq_depthwise_conv_s16, tq_fully_connected_s16, tq_maxpool_s16, tq_avgpool_s16 and tq_add_s16
 * (tq_int16.h), bit-exact with them, chosen by tinyq/ops (conv.py, pool.py, elementwise.py) where
 * they apply.
 *
 * The products are summed in int32 over chunks of the depth short enough that no chunk's sum can
 * leave int32 (generation bounds |x| <= 32768 times the chunk's sum of |w| per output channel; a
 * row that fits whole is one chunk), each chunk's sum then added into the int64 accumulator, so
 * the results are TFLite's int64 sums exactly.
 *
 * Weight rows of CONV_2D and FULLY_CONNECTED: [out_c][k] zero-padded to kpad (k rounded up to the
 * group g) and to an even row count, stored by pairs of rows g bytes at a time (row 2i bytes [0, g),
 * row 2i + 1 bytes [0, g), row 2i [g, 2g), ...). g = 4 (DSP extension and portable builds): each 4
 * bytes w0 w1 w2 w3 stored as w0 w2 w1 w3, so that SXTB16 of the word gives (w0, w1) and SXTB16 of
 * it rotated by 8 gives (w2, w3), the order of two int16 input words (x0, x1), (x2, x3): the inputs
 * are read as they lie. g = 8 (Helium builds): in order, widened by VLDRB.S16.
 *
 * ISA paths: Helium (Cortex-M55): VMLADAVA on 8 int16 lanes in low-overhead loops for CONV_2D (its
 * columns gathered by scatter stores, its 2x2 blocks requantized four lanes at a time) and
 * FULLY_CONNECTED (four rows rounded at a time), pooling eight channels a vector with windows read
 * row by row, ADD four lanes at a time, DEPTHWISE_CONV_2D on the DSP extension's path; DSP extension
 * (Cortex-M4, M7, M33): SXTB16 + SMLAD, two MACs an instruction; otherwise portable C on the same
 * layouts.
 */
#ifndef TQ_INT16_FAST_H
#define TQ_INT16_FAST_H

#include <string.h>

#include "tq_int16.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#include <arm_acle.h>
#define TQ_S16_DSP 1
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TQ_S16_MVE 1
#endif

static inline int32_t tq_s16_word(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(TQ_S16_DSP)
/* SXTB16 of bytes 1 and 3 (GCC does not fold the rotate into SXTB16's operand). */
static inline int32_t tq_s16_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* (a's low half, b's low half) and (a's high half, b's high half): PKHBT and PKHTB. */
static inline int32_t tq_s16_pack_lo(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t tq_s16_pack_hi(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

/* The byte of a weight group of g holding weight j of the group (g = 4: w0 w2 w1 w3; g = 8: in order). */
#define TQ_S16_PERM(j, g) ((g) == 4 ? ((((j) & 1) << 1) | ((j) >> 1)) : (j))

/*
 * acc[0] += row0 . a, acc[1] += row0 . b, acc[2] += row1 . a, acc[3] += row1 . b over n values (a
 * multiple of the group g, > 0), in int32 (wrapping: generation keeps every chunk's true sum inside
 * int32). w: the row pair's weights from the chunk's start (layout above); cols: the column pair a, b
 * interleaved g values at a time ([n / g][2][g] int16, 8-byte aligned).
 */
static inline void tq_s16_dot2x2(const int8_t *w, const int16_t *cols, int32_t n, int32_t g, int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
#if defined(TQ_S16_MVE)
    /* g = 8: a low-overhead loop, 9 instructions per 8 of k (VMLADAVA needs even registers: "Te"; the
       widening VLDRB.S16 a low base register: "l"). */
    register int32_t blocks __asm__("lr") = n >> 3;
    (void)g;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.s16 q2, [%[w]], #8\n\t"
                     "vldrb.s16 q3, [%[w]], #8\n\t"
                     "vldrh.u16 q0, [%[c]], #16\n\t"
                     "vldrh.u16 q1, [%[c]], #16\n\t"
                     "vmladava.s16 %[s00], q2, q0\n\t"
                     "vmladava.s16 %[s01], q2, q1\n\t"
                     "vmladava.s16 %[s10], q3, q0\n\t"
                     "vmladava.s16 %[s11], q3, q1\n\t"
                     "le     lr, 1b"
                     : [w] "+l"(w), [c] "+r"(cols), [s00] "+Te"(s00), [s01] "+Te"(s01), [s10] "+Te"(s10),
                       [s11] "+Te"(s11), "+r"(blocks)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
#elif defined(TQ_S16_DSP)
    const int16_t *end = cols + 2 * n;
    int32_t a0, a1, b0, b1, x, t;
    (void)g;
    /* g = 4. Per 4 of k: two LDRD of the columns, two LDR of the rows' weights, 4 SXTB16, 8 SMLAD. */
    __asm__ volatile("1:\n\t"
                     "ldrd   %[b0], %[b1], [%[c], #8]\n\t"
                     "ldrd   %[a0], %[a1], [%[c]], #16\n\t"
                     "ldr    %[x], [%[w]], #4\n\t"
                     "sxtb16 %[t], %[x]\n\t"
                     "smlad  %[s00], %[t], %[a0], %[s00]\n\t"
                     "smlad  %[s01], %[t], %[b0], %[s01]\n\t"
                     "sxtb16 %[x], %[x], ror #8\n\t"
                     "smlad  %[s00], %[x], %[a1], %[s00]\n\t"
                     "smlad  %[s01], %[x], %[b1], %[s01]\n\t"
                     "ldr    %[x], [%[w]], #4\n\t"
                     "sxtb16 %[t], %[x]\n\t"
                     "smlad  %[s10], %[t], %[a0], %[s10]\n\t"
                     "smlad  %[s11], %[t], %[b0], %[s11]\n\t"
                     "sxtb16 %[x], %[x], ror #8\n\t"
                     "smlad  %[s10], %[x], %[a1], %[s10]\n\t"
                     "smlad  %[s11], %[x], %[b1], %[s11]\n\t"
                     "cmp    %[c], %[end]\n\t"
                     "bne    1b\n\t"
                     : [s00] "+&r"(s00), [s01] "+&r"(s01), [s10] "+&r"(s10), [s11] "+&r"(s11), [c] "+&r"(cols), [w] "+&r"(w),
                       [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [x] "=&r"(x), [t] "=&r"(t)
                     : [end] "r"(end)
                     : "cc", "memory");
#else
    int32_t i, j;
    for (i = 0; i < n; i += g, w += 2 * g, cols += 2 * g) {
        for (j = 0; j < g; ++j) {
            const int32_t x = cols[j], y = cols[g + j];
            const int32_t v0 = w[TQ_S16_PERM(j, g)], v1 = w[g + TQ_S16_PERM(j, g)];
            s00 = (int32_t)((uint32_t)s00 + (uint32_t)(v0 * x));
            s01 = (int32_t)((uint32_t)s01 + (uint32_t)(v0 * y));
            s10 = (int32_t)((uint32_t)s10 + (uint32_t)(v1 * x));
            s11 = (int32_t)((uint32_t)s11 + (uint32_t)(v1 * y));
        }
    }
#endif
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* acc[0] += row0 . a, acc[1] += row1 . a over n values (any n; w from a group's start), a at any even address. */
static inline void tq_s16_dot2x1(const int8_t *w, const int16_t *a, int32_t n, int32_t g, int32_t *acc)
{
    int32_t s0 = acc[0], s1 = acc[1];
    int32_t i = 0, j;
#if defined(TQ_S16_MVE)
    /* g = 8: a tail-predicated low-overhead loop (the last lanes past n off), 6 instructions per 8 of k. */
    __asm__ volatile("wlstp.16 lr, %[n], 2f\n"
                     "1:\n\t"
                     "vldrh.u16 q0, [%[a]], #16\n\t"
                     "vldrb.s16 q2, [%[w], #8]\n\t"
                     "vldrb.s16 q1, [%[w]], #16\n\t"
                     "vmladava.s16 %[s0], q1, q0\n\t"
                     "vmladava.s16 %[s1], q2, q0\n\t"
                     "letp   lr, 1b\n"
                     "2:"
                     : [a] "+r"(a), [w] "+l"(w), [s0] "+Te"(s0), [s1] "+Te"(s1)
                     : [n] "r"(n)
                     : "q0", "q1", "q2", "lr", "memory");
#elif defined(TQ_S16_DSP)
    if (n >= 4) { /* g = 4 */
        const int16_t *end = a + (n & ~3);
        int32_t x0, x1, v0, v1, t;
        /* Per 4 of k: two LDR of the input, one LDRD of the rows' weights, 4 SXTB16, 4 SMLAD. */
        __asm__ volatile("1:\n\t"
                         "ldr    %[x0], [%[a]], #4\n\t"
                         "ldr    %[x1], [%[a]], #4\n\t"
                         "ldrd   %[v0], %[v1], [%[w]], #8\n\t"
                         "sxtb16 %[t], %[v0]\n\t"
                         "smlad  %[s0], %[t], %[x0], %[s0]\n\t"
                         "sxtb16 %[v0], %[v0], ror #8\n\t"
                         "smlad  %[s0], %[v0], %[x1], %[s0]\n\t"
                         "sxtb16 %[t], %[v1]\n\t"
                         "smlad  %[s1], %[t], %[x0], %[s1]\n\t"
                         "sxtb16 %[v1], %[v1], ror #8\n\t"
                         "smlad  %[s1], %[v1], %[x1], %[s1]\n\t"
                         "cmp    %[a], %[end]\n\t"
                         "bne    1b\n\t"
                         : [s0] "+&r"(s0), [s1] "+&r"(s1), [a] "+&r"(a), [w] "+&r"(w), [x0] "=&r"(x0), [x1] "=&r"(x1),
                           [v0] "=&r"(v0), [v1] "=&r"(v1), [t] "=&r"(t)
                         : [end] "r"(end)
                         : "cc", "memory");
        n &= 3;
    }
#endif
#if !defined(TQ_S16_MVE)
    for (j = 0; i < n; ++i, ++j) {
        if (j == g) {
            j = 0;
            w += 2 * g;
        }
        s0 = (int32_t)((uint32_t)s0 + (uint32_t)((int32_t)w[TQ_S16_PERM(j, g)] * a[i]));
        s1 = (int32_t)((uint32_t)s1 + (uint32_t)((int32_t)w[g + TQ_S16_PERM(j, g)] * a[i]));
    }
#else
    (void)i;
    (void)j;
    (void)g;
#endif
    acc[0] = s0;
    acc[1] = s1;
}

/*
 * tq_mul_by_quantized_mult_s64(bias + sum, mult, shift), clamped to [lo, hi], from a channel's
 * constants q (generation): q[0], q[1] the low and high words of K = bias * red + 2^(rsh - 1),
 * q[2] = red, the multiplier rounded to 16 bits, q[3] = rsh = 15 - shift (8..46). The product
 * (bias + sum) * red + 2^(rsh - 1) is then K + sum * red (one SMLAL), shifted right by rsh; the
 * int32 result keeps the low 32 bits of the shifted value, as TFLite's does.
 */
static inline int32_t tq_s16_requant(int32_t sum, const int32_t *q, int32_t lo, int32_t hi)
{
    const int32_t rsh = q[3];
    int32_t v;
#if defined(TQ_S16_DSP)
    uint32_t low = (uint32_t)q[0];
    int32_t top = q[1];
    __asm__("smlal %0, %1, %2, %3" : "+r"(low), "+r"(top) : "r"(sum), "r"(q[2]));
#else
    const int64_t k = (int64_t)(((uint64_t)(uint32_t)q[1] << 32) | (uint32_t)q[0]);
    const int64_t r = k + (int64_t)sum * q[2];
    const uint32_t low = (uint32_t)r;
    const int32_t top = (int32_t)(r >> 32);
#endif
    v = rsh >= 32 ? top >> (rsh - 32) : (int32_t)((low >> rsh) | ((uint32_t)top << (32 - rsh)));
    return TQ_CLAMP(v, lo, hi);
}

/* tq_s16_requant for a sum of chunks already in int64 (K + sum * red formed in 64 bits). */
static inline int32_t tq_s16_requant64(int64_t sum, const int32_t *q, int32_t lo, int32_t hi)
{
    const int64_t k = (int64_t)(((uint64_t)(uint32_t)q[1] << 32) | (uint32_t)q[0]);
    const int64_t r = k + sum * q[2];
    const int32_t rsh = q[3];
    const int32_t top = (int32_t)(r >> 32);
    const int32_t v = rsh >= 32 ? top >> (rsh - 32) : (int32_t)(((uint32_t)r >> rsh) | ((uint32_t)top << (32 - rsh)));
    return TQ_CLAMP(v, lo, hi);
}

/**
 * CONV_2D, one group, int16 activations, int8 weights (tq_conv_s16's arithmetic). Two output pixels
 * at a time: their columns (kh * kw * in.c values, [kh][kw][in.c], padding taps 0) are gathered
 * into `scratch` as a column pair interleaved `group` values at a time and zero-padded to kpad (k
 * rounded up to the group): 2 * kpad int16. The pair is multiplied with every pair of weight rows
 * (layout above).
 */
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    int32_t k;               /* kh * kw * in.c */
    int32_t group;           /* g of the layout above: 4, or 8 on Helium builds */
    int32_t chunk;           /* depth summed in int32 at a time: a multiple of the group, or >= k */
    const int8_t *weights;   /* [ceil(out.c / 2)][kpad / g][2][g] */
    const int32_t *quant;    /* [out.c][4]: tq_s16_requant's constants (bias folded in) */
} tq_conv_s16_fast_params;

tq_status tq_conv_s16_fast(const tq_conv_s16_fast_params *p, const int16_t *input, int16_t *output, int16_t *scratch);

/**
 * FULLY_CONNECTED, int16 activations, int8 weights (tq_fully_connected_s16's arithmetic, its double
 * requantization computed in integers by tq_fc16_round_int): weight rows as CONV_2D's (layout above),
 * the input zero point folded into the bias, per-tensor weights' zero point into per-row sums.
 * scale[c] = scale_m[c] * 2^scale_e[c], 2^52 <= scale_m < 2^53.
 */
typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t group;            /* g of the layout above: 4, or 8 on Helium builds */
    int32_t chunk;            /* depth summed in int32 at a time: a multiple of the group, or >= accum_depth */
    int32_t act_min, act_max;
    const int8_t *weights;    /* [ceil(out_depth / 2)][kpad / g][2][g] */
    const int64_t *bias;      /* [out_depth]: bias (zeros without) */
    int32_t w_offset;         /* -(weights zero point) for per-tensor weights, else 0 */
    const uint64_t *scale_m;  /* [out_depth] */
    const int32_t *scale_e;   /* [out_depth] */
} tq_fully_connected_s16_fast_params;

tq_status tq_fully_connected_s16_fast(const tq_fully_connected_s16_fast_params *p, const int16_t *input, int16_t *output);

/**
 * DEPTHWISE_CONV_2D, int16 activations, int8 weights (tq_depthwise_conv_s16's arithmetic). Each
 * output pixel reads its kh * kw taps through a table of tap addresses, taps outside the image a
 * row of zeros (`scratch`: in.c int16 rounded up to 4). With depth_mult 1 the taps go two at a
 * time and the channels four at a time (two where the taps are not word-aligned): weights16 holds
 * per block of four channels (zero past the last) and pair of taps (t, t + 1; zero past the last)
 * the int16 pairs (w[t][c], w[t+1][c]) of channels c .. c + 3, so that SMLAD does two taps of one
 * channel (the same layout for every depth multiplier; an even one packs each pair of input taps once
 * for two output channels).
 * Sums stay in int32: at most 64 taps of |x * w| <= 2^22.
 */
#define TQ_DW16_MAX_TAPS 64
typedef struct {
    tq_dims in;
    tq_dims out;
    int32_t kh, kw;
    int32_t depth_mult;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
    const int16_t *weights16;
    const int32_t *quant;     /* [out.c][4]: tq_s16_requant's constants (bias folded in) */
} tq_depthwise_conv_s16_fast_params;

tq_status tq_depthwise_conv_s16_fast(const tq_depthwise_conv_s16_fast_params *p, const int16_t *input, int16_t *output,
                                     int16_t *scratch);

/**
 * MAX_POOL_2D / AVERAGE_POOL_2D, int16 (tq_maxpool_s16's and tq_avgpool_s16's arithmetic): each
 * output pixel's window (inside the image) read through a table of at most TQ_POOL16_MAX_WINDOW
 * pixel addresses, two channels a word on the DSP extension (SSUB16 + SEL for the maximum, SXTAH
 * for the sums); on Helium read row by row, any window size (generation picks the fast twins for
 * every window there: tinyq/ops/pool.py).
 */
#define TQ_POOL16_MAX_WINDOW 64

tq_status tq_maxpool_s16_fast(const tq_maxpool_s16_params *p, const int16_t *in, int16_t *out);
tq_status tq_avgpool_s16_fast(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out);

/**
 * ADD, int16, general scales (tq_add_s16's arithmetic; zero points 0, every shift <= 0): each
 * rescale in one 64-bit rounding step (tq_requantize_rs).
 */
tq_status tq_add_s16_fast(const tq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

#endif /* TQ_INT16_FAST_H */
