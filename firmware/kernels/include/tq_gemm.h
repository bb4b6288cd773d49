/*
 * tinyq fast convolution core: int8 dot products of output-channel rows against input columns,
 * two rows by two columns at a time, then requantization. Shared (static inline) by the fast
 * CONV_2D kernels (tq_conv_1x1_s8, tq_conv_im2col_s8, tq_conv_taps_s8).
 *
 * What generation prepares (tinyq/ops/conv.py), so that the inner loop is branch-free and reads
 * each operand with one pointer:
 * - weight rows: the OHWI filter flattened to [out_c][k], zero-padded to k (a multiple of the
 *   group g: 4, or 16 on Helium builds) and to an even row count, then stored by pairs of rows
 *   interleaved g bytes at a time: row 2i bytes [0, g), row 2i+1 bytes [0, g), row 2i [g, 2g), ...
 * - bias[c] + input_offset * sum(weights[c]): the input offset is folded into the bias, and the
 *   columns hold raw input bytes, padding taps set to the input zero point, which is exact:
 *   sum_valid w (x + off) = sum_all w x' + off * sum_all w when padding x' = -off;
 * - per-channel multipliers with right shifts e of at least 1 (shift <= -1), requantized by
 *   tq_requant_mm with radd = 2^(e-1) + out_offset * 2^e and rsh = e precomputed, where generation
 *   proves that exact for every accumulator the layer can produce (requant 0); otherwise (requant 1:
 *   effective scales of 1/2 or more, accumulators of 2^30 or more, ...) the rows hold TFLite's
 *   multiplier and its left and right shifts, and tq_requant_gen requantizes each output (a few
 *   instructions more an output; the loops over k are the same).
 * Columns come in pairs (tq_gemm_columns) interleaved the same way, or on the DSP extension made
 * once per pixel pair into two words per 4 of k of each pixel: for int8 weights, which are stored
 * split there ((w1 + 128, w0, w3 + 128, w2) per word), X and Y (tq_gemm_split_dsp) and after them
 * each column's c (-128 times its odd-k bytes' sum); for int16 weights (x0, x2), (x1, x3). A last
 * odd pixel is paired with itself.
 *
 * ISA paths: Helium (MVE): VMLADAVA, 16 MACs an instruction; DSP extension (Cortex-M4/M7/M33):
 * SMLAD (and UXTB16 of the weights, shared by two pixels), two MACs an instruction, in a scheduled
 * loop (tq_gemm_dsp.S); otherwise portable C.
 */
#ifndef TQ_GEMM_H
#define TQ_GEMM_H

#include <string.h>

#include "tq_common.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TQ_GEMM_MVE 1
#include "tq_mve.h"
#elif defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#include <arm_acle.h>
#define TQ_GEMM_DSP 1
#endif

#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
#include <arm_acle.h> /* __ssat */
#endif

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
#define TQ_SIMD32 1
/*
 * Four int8 values (v0..v3, already saturated to int8) packed into a word, byte j = vj, each
 * clamped to [lo, hi] given in all four bytes of lo4 and hi4: three BFI, then SSUB8 sets a GE flag
 * per byte where its first operand is not below the second and SEL keeps those bytes.
 */
static inline __attribute__((always_inline)) uint32_t tq_pack4_clamp(int32_t v0, int32_t v1, int32_t v2, int32_t v3,
                                                                    uint32_t lo4, uint32_t hi4)
{
    int32_t t;
    __asm__("bfi    %0, %2, #8, #8\n\t"
            "bfi    %0, %3, #16, #8\n\t"
            "bfi    %0, %4, #24, #8\n\t"
            "ssub8  %1, %0, %5\n\t"
            "sel    %0, %0, %5\n\t"
            "ssub8  %1, %6, %0\n\t"
            "sel    %0, %0, %6"
            : "+&r"(v0), "=&r"(t)
            : "r"(v1), "r"(v2), "r"(v3), "r"(lo4), "r"(hi4)
            : "cc");
    return (uint32_t)v0;
}
#endif

typedef struct {
    int32_t out_c;          /* output channels (rows actually stored) */
    int32_t k;              /* row length: a multiple of group */
    int32_t group;          /* interleave width g: 4, or 16 when built for Helium */
    int32_t out_offset;
    int32_t act_min, act_max;
    const int8_t *weights;  /* [ceil(out_c / 2)][k / g][2][g]: pairs of rows, interleaved (on the DSP
                               extension each word split: (w1 + 128, w0, w3 + 128, w2), tq_gemm_dsp.S) */
    /* Or, with --wide-weights on the DSP extension (then weights is NULL): int16, per pair of rows
       and 4 of k: row 0 (w0, w2), (w1, w3), row 1 the same; SMLAD reads them without SXTB16. */
    const int16_t *weights16;
    /* Per pair of rows (the second all 0 for an odd out_c), read through one pointer: bias[2] (input
       offset folded in, modulo 2^32), then per row mult, radd (2^(e-1) + out_offset * 2^e for the
       right shift e = -shift >= 1) and rsh (e): see tq_requant_mm; or, with requant 1, per row mult,
       the left shift and the right shift (tq_requant_gen). On the DSP extension with int8 weights and
       requant 0 the 1x1, im2col and grouped kernels' tables are tq_gemm_pairs_dsp's own (biases
       doubled, the loop's clamp flag and row pairs left above rsh's low byte: tq_gemm_dsp.S). */
    const int32_t *quant;
    int32_t requant;        /* 0: tq_requant_mm's constants (proven exact); 1: tq_requant_gen's (any layer) */
    int32_t mm_pairs;       /* row pairs the DSP loop requantizes itself: out_c / 2 with requant 0, else 0 */
    /* DSP extension, int8 weights: 1 where generation could not prove a row's sums over all of k
       within the loop's int32 (256 times the dot product: tq_gemm_dsp.S), which then sums k in chunks
       (TQ_CFG_GEMM_CHUNKS); else 0. */
    int32_t chunked;
} tq_gemm_s8_params;

#if defined(TQ_GEMM_MVE)
/*
 * Every weight row of a GEMM (tq_gemm_s8_params, group 16) against four columns at c (k bytes each,
 * in tq_mve_row_quad's layout [k / 16][4][16]): output `row` of column j requantized (tq_requant_mm's
 * constants, or with g->requant tq_requant_gen's) and clamped into out[o[j] + row] for the `count`
 * columns j that are real pixels (1..4). One row against four pixels: each row's constants are
 * scalars (no gathers) and each weight block is loaded once for four columns. One or two pixels run
 * as 2x2 blocks of a row pair against two columns (tq_mve_duo_block), no lane wasted. Weak: the
 * kernels that include this header share one copy.
 */
void tq_mve_gemm_quad(const tq_gemm_s8_params *g, const int8_t *c, int8_t *out, const uint32_t *o, int32_t count);
__attribute__((weak, noinline)) void tq_mve_gemm_quad(const tq_gemm_s8_params *g, const int8_t *c, int8_t *out,
                                                      const uint32_t *o, int32_t count)
{
    const int32x4_t lo = vdupq_n_s32(g->act_min), hi = vdupq_n_s32(g->act_max);
    const uint32x4_t off = vld1q_u32(o);
    const mve_pred16_t keep = vctp32q((uint32_t)count);
    const int32_t blocks = g->k >> 4, step = 2 * g->k;
    const int8_t *w = g->weights;
    const int32_t *q = g->quant;
    int8_t *const last = out + g->out_c - 1; /* an odd count's last row */
    if (count <= 2) {
        /* Lanes (row 0 col 0, row 0 col 1, row 1 col 0, row 1 col 1): byte offsets 0, o[1], 1, o[1] + 1;
           one pixel stores lanes 0 and 2 only, an odd last row lanes 0 and 1 only. */
        const int general = TQ_CFG_REQUANT_GEN && g->requant;
        const int32x4_t zo = vdupq_n_s32(g->out_offset);
        const mve_pred16_t both = count == 2 ? (mve_pred16_t)0xFFFF : (mve_pred16_t)0x0F0F;
        uint32x4_t qoff = vdupq_n_u32(0u), soff = vdupq_n_u32(0u);
        int32_t i;
        qoff = vsetq_lane_u32(3u, vsetq_lane_u32(3u, qoff, 2), 3); /* row 0's constants at q[2], row 1's at q[5] */
        soff = vsetq_lane_u32(o[1], vsetq_lane_u32(1u, vsetq_lane_u32(o[1] + 1u, soff, 3), 2), 1);
        for (i = g->out_c >> 1; i > 0; --i, q += 8, out += 2) {
            vstrbq_scatter_offset_p_s32(out, soff, tq_mve_duo_block(&w, c, g->k, q, qoff, lo, hi, general, zo), both);
        }
        if (g->out_c & 1) {
            vstrbq_scatter_offset_p_s32(out, soff, tq_mve_duo_block(&w, c, g->k, q, qoff, lo, hi, general, zo),
                                        (mve_pred16_t)(both & 0x00FF));
        }
        return;
    }
    if (TQ_CFG_REQUANT_GEN && g->requant) {
        const int32x4_t zo = vdupq_n_s32(g->out_offset);
        int32_t row;
        for (row = 0; row < g->out_c; ++row) {
            const int32_t r = row & 1, *const m = q + 2 + 3 * r;
            const int32x4_t acc = tq_mve_dot_1x4(w + 16 * r, c, blocks, q[r]);
            const int32x4_t v = tq_mve_requant_gen(acc, vdupq_n_s32(m[0]), vdupq_n_s32(m[1]), vdupq_n_s32(m[2]), zo);
            vstrbq_scatter_offset_p_s32(out + row, off, vminq_s32(vmaxq_s32(v, lo), hi), keep);
            if (r) {
                w += step;
                q += 8;
            }
        }
        return;
    }
    if (g->out_c > 1) {
        tq_mve_pairs_quad(w, c, blocks, q, g->out_c >> 1, out, keep, lo, hi, off);
    }
    if (g->out_c & 1) {
        const int32_t pairs = g->out_c >> 1;
        tq_mve_row_quad(w + (size_t)step * (size_t)pairs, c, blocks, q[8 * pairs], q + 8 * pairs + 2, last, keep, lo, hi, off);
    }
}
#endif

#if defined(TQ_GEMM_DSP)
/* SXTB16 of bytes 1 and 3: one instruction (GCC 12 does not fold a rotate into SXTB16's operand). */
static inline int32_t tq_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

static inline int32_t tq_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* dst = columns a and b interleaved g bytes at a time (k a multiple of g). */
static inline void tq_interleave_pair(const int8_t *a, const int8_t *b, int32_t k, int32_t g, int8_t *dst)
{
    int32_t i;
#if defined(TQ_GEMM_MVE)
    if (g == 16) {
        for (i = 0; i < k; i += 16, dst += 32) {
            vst1q_s8(dst, vld1q_s8(a + i));
            vst1q_s8(dst + 16, vld1q_s8(b + i));
        }
        return;
    }
#endif
    if (g == 4) {
        int32_t *d = (int32_t *)(void *)dst; /* dst is 8-byte aligned arena space */
        for (i = 0; i < k; i += 4) {
            *d++ = tq_read_s8x4(a + i);
            *d++ = tq_read_s8x4(b + i);
        }
        return;
    }
    for (i = 0; i < k; i += g) {
        memcpy(dst, a + i, (size_t)g);
        memcpy(dst + g, b + i, (size_t)g);
        dst += 2 * g;
    }
}

#if defined(TQ_GEMM_DSP)
/*
 * The row-pair loop in assembler (tq_gemm_dsp.S, which gives the register use and the counts): a
 * column pair (tq_gemm_columns) against `blk_end - blk` pairs of weight rows from w on.
 * tq_gemm_pairs_dsp: blk walks the quant blocks; each row pair starts from its bias and ends
 *   requantized into out0[c], out0[c + 1], out1[c], out1[c + 1] (clamped to the bytes of lo4/hi4
 *   when clamp is set). The int8-weight one reads its table's own clamp flag and end instead of
 *   clamp bit 0 and blk_end (tq_gemm_dsp.S): it runs from blk to the end of the layer's row pairs,
 *   or the one odd last row's block.
 * tq_gemm_pairs_acc_dsp: the same from the accumulator blocks at acc (acc[0..3] of tq_dot_2x2, 4
 *   words a row pair) instead of the biases, skipping w_skip bytes of weights after each row pair.
 * tq_gemm_rows_dsp: blk walks accumulator blocks (acc[0..3] of tq_dot_2x2), read and written back;
 *   w_skip bytes of weights are skipped after each row pair.
 * The *_wide_dsp twins read int16 weights (weights16). Fields are read from the job's copy.
 */
typedef struct {
    const int8_t *cols, *cols_end;
    const void *blk;
    int8_t *out0, *out1;
    const void *blk_end;
    const void *w;
    int32_t w_skip;
    uint32_t lo4, hi4;
    int32_t clamp;
    int32_t *acc;
} tq_gemm_job;

void tq_gemm_pairs_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_wide_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_acc_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_acc_wide_dsp(const tq_gemm_job *job);
/* The same four with the general requantization (requant 1). */
/* ... whose job's clamp holds the clamp flag and the output zero point above it (tq_gemm_gen_clamp). */
void tq_gemm_pairs_gen_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_gen_wide_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_acc_gen_dsp(const tq_gemm_job *job);
void tq_gemm_pairs_acc_gen_wide_dsp(const tq_gemm_job *job);
void tq_gemm_rows_dsp(const tq_gemm_job *job);
/* tq_gemm_columns on the DSP extension for int16 weights (k a multiple of 4, > 0). */
void tq_gemm_columns_dsp(const int8_t *a, const int8_t *b, int32_t k, int8_t *dst);
/* ... and for int8 weights (split: see tq_gemm_dsp.S): n bytes of a and b as X, Y words; the columns'
   c (-128 times their odd-k bytes' sums) read at dst (two words; 0 when n's bit 0 is set: the
   first piece), with these bytes' at dst + 4 n. */
void tq_gemm_split_dsp(const int8_t *a, const int8_t *b, int32_t n, int8_t *dst);

/* tq_gemm_job.clamp's bit 1 (TQ_GEMM_CLAMP_CHUNKED, tq_dsp_asm.h): the int8-weight loops sum k in
   chunks (params chunked; the clamped store then runs, which is as exact). */
#define TQ_GEMM_CHUNKED(g) ((g)->chunked ? 2 : 0)

/* tq_gemm_job.clamp of the *_gen_dsp loops: the clamp flag (!full), the output zero point zo above
   it (TQ_REQUANT_GEN reads clamp >> 8; a nonzero zo takes the clamped store, which is as exact). */
static inline int32_t tq_gemm_gen_clamp(int full, int32_t zo)
{
    return (int32_t)((uint32_t)!full | ((uint32_t)zo << 8));
}
void tq_gemm_rows_wide_dsp(const tq_gemm_job *job);
#endif

/* The portable reading of the int16 layout (group 4), for hosts and cores without the DSP extension. */
static inline void tq_dot_2x2_wide_c(const int16_t *w, const int8_t *a, int32_t k, int32_t *acc)
{
    int32_t i, r, c;
    for (i = 0; i < k; i += 4, a += 8, w += 8) {
        for (r = 0; r < 2; ++r) {
            const int16_t *x = w + 4 * r; /* (w0, w2), (w1, w3) */
            for (c = 0; c < 2; ++c) {
                const int8_t *v = a + 4 * c;
                acc[2 * r + c] += x[0] * v[0] + x[1] * v[2] + x[2] * v[1] + x[3] * v[3];
            }
        }
    }
}

/* Whether this translation unit's kernels read int16 weights: the *_wide_s8 files define
   TQ_GEMM_WIDE 1 before they include this header (the others after, or never). */
#if defined(TQ_GEMM_WIDE) && TQ_GEMM_WIDE
#define TQ_GEMM_TU_WIDE 1
#else
#define TQ_GEMM_TU_WIDE 0
#endif

/* The shortest piece worth a call of its own when a column pair is built piece by piece (filter row
   by filter row): on the DSP extension each call of the int8-weight builder costs some 40
   instructions, so shorter filter rows are gathered first and built in one call. */
#if defined(TQ_GEMM_DSP)
#define TQ_GEMM_PIECE_MIN 16
#else
#define TQ_GEMM_PIECE_MIN 0
#endif

/* Bytes of scratch a column pair of k takes: 4 k, and on the DSP extension two words more (the
   columns' odd-byte sums, after the words of the int8-weight loops). */
#if defined(TQ_GEMM_DSP)
#define TQ_GEMM_PAIR_ROOM(k) (4 * (k) + 8)
#else
#define TQ_GEMM_PAIR_ROOM(k) (4 * (k))
#endif

/*
 * Columns a and b (k bytes each) as tq_dot_2x2 reads them, in `dst` (TQ_GEMM_PAIR_ROOM(k) bytes,
 * word-aligned): on the DSP extension for int16 weights (`wide`) int16 per 4 of k (a: (x0, x2),
 * (x1, x3); then b), for int8 weights a's X, Y, then b's (tq_gemm_split_dsp) and the two columns'
 * c words after them; else interleaved g bytes at a time (2 k bytes).
 */
static inline void tq_gemm_columns_any(const int8_t *a, const int8_t *b, int32_t k, int32_t g, int8_t *dst, int wide)
{
#if defined(TQ_GEMM_DSP)
    (void)g;
    if (wide) {
        if (k > 0) {
            tq_gemm_columns_dsp(a, b, k, dst);
        }
        return;
    }
    if (k > 0) {
        tq_gemm_split_dsp(a, b, k | 1, dst); /* (the first piece: c from 0) */
    }
#else
    (void)wide;
    tq_interleave_pair(a, b, k, g, dst);
#endif
}

/* tq_gemm_columns_any for this translation unit's weights. */
static inline void tq_gemm_columns(const int8_t *a, const int8_t *b, int32_t k, int32_t g, int8_t *dst)
{
    tq_gemm_columns_any(a, b, k, g, dst, TQ_GEMM_TU_WIDE);
}

/*
 * One tap's n bytes of two columns (a and b; NULL: n padding bytes of value zp) appended to a column
 * pair being built at dst in tq_gemm_columns' layout (n a multiple of g); returns where the next
 * tap goes. The pair of a whole filter row is then read by every pair of weight rows.
 */
static inline int8_t *tq_gemm_columns_tap(const int8_t *a, const int8_t *b, int32_t n, int32_t g, int32_t zp, int8_t *dst)
{
    const uint32_t zp4 = 0x01010101u * (uint8_t)zp;
    int32_t i, j;
#if defined(TQ_GEMM_DSP)
    const int32_t zw = __sxtb16((int32_t)zp4);
    (void)g;
    for (j = 0; j < 2; ++j) { /* column j: words 2j and 2j + 1 of every 4 */
        const int8_t *src = j == 0 ? a : b;
        int32_t *d = (int32_t *)(void *)dst + 2 * j;
        if (src != NULL && n > 0) {
            const int8_t *end = src + n;
            int32_t x, xe;
            __asm__ volatile("1:\n\t"
                             "ldr    %[x], [%[s]], #4\n\t"
                             "sxtb16 %[xe], %[x]\n\t"
                             "sxtb16 %[x], %[x], ror #8\n\t"
                             "strd   %[xe], %[x], [%[d]], #16\n\t"
                             "cmp    %[s], %[end]\n\t"
                             "bne    1b\n\t"
                             : [s] "+&r"(src), [d] "+&r"(d), [x] "=&r"(x), [xe] "=&r"(xe)
                             : [end] "r"(end)
                             : "cc", "memory");
        } else if (src == NULL) {
            for (i = 0; i < n; i += 4, d += 4) {
                d[0] = zw;
                d[1] = zw;
            }
        }
    }
    return dst + 4 * n;
#else
#if defined(TQ_GEMM_MVE)
    if (g == 16) {
        const int8x16_t z = vdupq_n_s8((int8_t)zp);
        for (i = 0; i < n; i += 16, dst += 32) {
            vst1q_s8(dst, a != NULL ? vld1q_s8(a + i) : z);
            vst1q_s8(dst + 16, b != NULL ? vld1q_s8(b + i) : z);
        }
        return dst;
    }
#endif
    for (j = 0; j < 2; ++j) { /* column j: bytes [j g, (j + 1) g) of every 2 g */
        const int8_t *src = j == 0 ? a : b;
        int8_t *d = dst + j * g;
        for (i = 0; i < n; i += g, d += 2 * g) {
            if (src != NULL) {
                memcpy(d, src + i, (size_t)g);
            } else {
                memset(d, (int)(zp4 & 0xffu), (size_t)g);
            }
        }
    }
    return dst + 2 * n;
#endif
}

#if defined(TQ_GEMM_DSP)
/*
 * tq_gemm_columns_add's int8-weight form on the DSP extension: n bytes (n > 0) of a and b (NULL:
 * padding, n bytes of zp) by tq_gemm_split_dsp, the columns' running c read at dst (0 when `first`) and
 * written at dst + 4 n. Padding is first written as n bytes of zp at dst + 3 n, which the builder
 * reads word i of before it writes dst + 16 i .. + 15 (below dst + 3 n + 4 (i + 1) for i < n / 4),
 * and past c's two words at dst (3 n >= 8). Weak: the kernels that include this header share one copy.
 */
int8_t *tq_gemm_split_tap(const int8_t *a, const int8_t *b, int32_t n, int32_t zp, int8_t *dst, int first);
__attribute__((weak, noinline)) int8_t *tq_gemm_split_tap(const int8_t *a, const int8_t *b, int32_t n, int32_t zp, int8_t *dst,
                                                          int first)
{
    if (a == NULL || b == NULL) {
        int8_t *const z = dst + 3 * n;
        memset(z, zp, (size_t)n);
        a = a != NULL ? a : z;
        b = b != NULL ? b : z;
    }
    tq_gemm_split_dsp(a, b, n | (first != 0), dst);
    return dst + 4 * n;
}
#endif

/*
 * One piece (n bytes, a multiple of g) of a column pair built piece by piece (the filter rows or
 * taps of a window): columns a and b (NULL: padding, zp) at dst; `first`: the pair's first piece.
 * Returns where the next piece goes.
 */
static inline int8_t *tq_gemm_columns_add(const int8_t *a, const int8_t *b, int32_t n, int32_t g, int32_t zp, int8_t *dst,
                                          int first)
{
#if defined(TQ_GEMM_DSP)
    if (!TQ_GEMM_TU_WIDE) {
        return tq_gemm_split_tap(a, b, n, zp, dst, first);
    }
#endif
    (void)first;
    if (a != NULL && b != NULL) {
        tq_gemm_columns(a, b, n, g, dst);
#if defined(TQ_GEMM_DSP)
        return dst + 4 * n; /* int16 */
#else
        return dst + 2 * n;
#endif
    }
    return tq_gemm_columns_tap(a, b, n, g, zp, dst);
}

/*
 * acc[0] += row0 . col0, acc[1] += row0 . col1, acc[2] += row1 . col0, acc[3] += row1 . col1,
 * for a pair of rows w (interleaved with group g) and a pair of columns a from tq_gemm_columns,
 * length k.
 */
static inline void tq_dot_2x2(const int8_t *w, const int8_t *a, int32_t k, int32_t g, int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
#if defined(TQ_GEMM_MVE)
    if (g == 16 && k > 0) {
        tq_mve_dot_2x2(w, a, k >> 4, acc);
        return;
    }
#endif
    {
        int32_t i, j;
        for (i = 0; i < k; i += g, a += 2 * g, w += 2 * g) {
            for (j = 0; j < g; ++j) {
                s00 += (int32_t)w[j] * a[j];
                s01 += (int32_t)w[j] * a[g + j];
                s10 += (int32_t)w[g + j] * a[j];
                s11 += (int32_t)w[g + j] * a[g + j];
            }
        }
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* The group the SIMD paths of tq_dot_2x2 are built for (0: portable, any group). */
#if defined(TQ_GEMM_MVE)
#define TQ_GEMM_SIMD_GROUP 16
#elif defined(TQ_GEMM_DSP)
#define TQ_GEMM_SIMD_GROUP 4
#else
#define TQ_GEMM_SIMD_GROUP 0
#endif

/* Requantize and clamp one accumulator; `full` skips the clamp for -128..127 (one SSAT). */
static inline __attribute__((always_inline)) int8_t tq_gemm_out(int32_t acc, int32_t mult, int32_t radd, int32_t rsh,
                                                                int32_t lo, int32_t hi, int full)
{
    const int32_t v = tq_requant_mm(acc, mult, radd, rsh);
    if (full) {
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
        return (int8_t)__builtin_arm_ssat(v, 8); /* (arm_acle.h's __ssat: a -Wsign-conversion inside the macro) */
#else
        return (int8_t)TQ_CLAMP(v, -128, 127);
#endif
    }
    return (int8_t)TQ_CLAMP(v, lo, hi);
}

/*
 * The 2x2 block's outputs: rows c and c + 1 (q: their constants) of pixels 0 and 1. Every constant
 * is read before the first store, which may alias anything; `second` is 0 for the zero row that
 * ends an odd row count. The portable and Helium paths' (the DSP extension's is in tq_gemm_dsp.S).
 */
static inline __attribute__((always_inline)) void tq_gemm_store_2x2(int32_t *acc, const int32_t *q, int8_t *out0,
                                                                    int8_t *out1, int second, int32_t lo, int32_t hi, int full)
{
    const int32_t m0 = q[2], a0 = q[3], s0 = q[4], m1 = q[5], a1 = q[6], s1 = q[7];
    const int8_t y00 = tq_gemm_out(acc[0], m0, a0, s0, lo, hi, full), y01 = tq_gemm_out(acc[1], m0, a0, s0, lo, hi, full);
    const int8_t y10 = tq_gemm_out(acc[2], m1, a1, s1, lo, hi, full), y11 = tq_gemm_out(acc[3], m1, a1, s1, lo, hi, full);
    out0[0] = y00;
    out1[0] = y01;
    if (second) {
        out0[1] = y10;
        out1[1] = y11;
    }
}

/*
 * The general requantization (requant 1) of `pairs` 2x2 blocks of accumulators (acc: 4 words a pair
 * of rows, as tq_dot_2x2 leaves them) from row `row` on, q at that row pair's quant block: rows
 * below out_c go to out0[row + r] and out1[row + r] (out1 may be out0: a last odd pixel). Weak: the
 * kernels that include this header share one copy.
 */
void tq_gemm_store_gen(const tq_gemm_s8_params *g, const int32_t *acc, const int32_t *q, int32_t row, int32_t pairs,
                       int8_t *out0, int8_t *out1);
__attribute__((weak, noinline)) void tq_gemm_store_gen(const tq_gemm_s8_params *g, const int32_t *acc, const int32_t *q,
                                                       int32_t row, int32_t pairs, int8_t *out0, int8_t *out1)
{
    const int32_t zo = g->out_offset, lo = g->act_min, hi = g->act_max, out_c = g->out_c;
    int32_t i, r;
    for (i = 0; i < pairs; ++i, acc += 4, q += 8, row += 2) {
        for (r = 0; r < 2 && row + r < out_c; ++r) {
            const int32_t m = q[2 + 3 * r], left = q[3 + 3 * r], right = q[4 + 3 * r];
            const int32_t v0 = tq_requant_gen(acc[2 * r], m, left, right, zo);
            const int32_t v1 = tq_requant_gen(acc[2 * r + 1], m, left, right, zo);
            out0[row + r] = (int8_t)TQ_CLAMP(v0, lo, hi);
            out1[row + r] = (int8_t)TQ_CLAMP(v1, lo, hi);
        }
    }
}

#if !defined(TQ_GEMM_DSP)
/* The general requantization's row loop on the portable and Helium paths: each row pair's sums
   (tq_dot_2x2, VMLADAVA on Helium), then tq_gemm_store_gen. Weak: one copy. */
void tq_gemm_pair_gen(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1, int wide);
__attribute__((weak, noinline)) void tq_gemm_pair_gen(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                      int8_t *out1, int wide)
{
    const int32_t k = g->k, step = 2 * k;
    const int8_t *w = g->weights;
    const int16_t *w16 = g->weights16;
    const int32_t *q = g->quant;
    int32_t row;
    for (row = 0; row < g->out_c; row += 2, q += 8) {
        int32_t acc[4];
        acc[0] = acc[1] = q[0];
        acc[2] = acc[3] = q[1];
        if (wide) {
            tq_dot_2x2_wide_c(w16, cols, k, acc);
            w16 += step;
        } else {
            tq_dot_2x2(w, cols, k, g->group, acc);
            w += step;
        }
        tq_gemm_store_gen(g, acc, q, row, 1, out0, out1);
    }
}
#endif

#if defined(TQ_GEMM_DSP)
/*
 * The rows tq_gemm_pairs_dsp does not requantize itself (past g->mm_pairs row pairs): with requant 0
 * the odd last row (with its zero partner, into a word first); with requant 1 every row, by
 * tq_gemm_pairs_gen_dsp (the same k loop, the general requantization in assembler). Built as
 * tq_gemm_rest_dsp and tq_gemm_rest_wide_dsp, weak: one copy each for the kernels that include this
 * header, and int8 builds link no int16-weight loop; called only where some layer needs it
 * (TQ_CFG_GEMM_REST: an odd out_c or the general requantization).
 */
static inline __attribute__((always_inline)) void tq_gemm_rest_impl(const tq_gemm_s8_params *g, const int8_t *cols,
                                                                    int8_t *out0, int8_t *out1, int full, int wide)
{
    const int32_t k = g->k, gen = TQ_CFG_REQUANT_GEN && g->requant, pairs = gen ? g->out_c / 2 : g->mm_pairs;
    void (*const run)(const tq_gemm_job *) = gen ? (wide ? tq_gemm_pairs_gen_wide_dsp : tq_gemm_pairs_gen_dsp)
                                                 : (wide ? tq_gemm_pairs_wide_dsp : tq_gemm_pairs_dsp);
    tq_gemm_job job;
    job.cols = cols;
    job.cols_end = cols + 4 * k;
    job.blk = g->quant;
    job.blk_end = g->quant + 8 * pairs;
    job.out0 = out0;
    job.out1 = out1;
    job.w = wide ? (const void *)g->weights16 : (const void *)g->weights;
    job.w_skip = 0;
    job.lo4 = 0x01010101u * (uint8_t)g->act_min;
    job.hi4 = 0x01010101u * (uint8_t)g->act_max;
    job.clamp = (gen ? tq_gemm_gen_clamp(full, g->out_offset) : !full) | TQ_GEMM_CHUNKED(g);
    job.acc = NULL;
    if (gen && pairs > 0) {
        run(&job);
    }
    if (g->out_c & 1) { /* the last row and its zero partner into a word, then the two real bytes */
        int8_t last[4];
        job.blk = g->quant + 8 * pairs;
        job.blk_end = g->quant + 8 * (pairs + 1);
        job.out0 = last;
        job.out1 = last + 2;
        job.w = wide ? (const void *)(g->weights16 + (size_t)2 * (size_t)k * (size_t)pairs)
                     : (const void *)(g->weights + (size_t)2 * (size_t)k * (size_t)pairs);
        run(&job);
        out0[2 * pairs] = last[0];
        out1[2 * pairs] = last[2];
    }
}

void tq_gemm_rest_dsp(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1, int full);
__attribute__((weak, noinline)) void tq_gemm_rest_dsp(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                      int8_t *out1, int full)
{
    tq_gemm_rest_impl(g, cols, out0, out1, full, 0);
}

void tq_gemm_rest_wide_dsp(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1, int full);
#if TQ_CFG_WIDE /* its loops are built only then (tq_gemm_dsp.S) */
__attribute__((weak, noinline)) void tq_gemm_rest_wide_dsp(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                           int8_t *out1, int full)
{
    tq_gemm_rest_impl(g, cols, out0, out1, full, 1);
}
#endif
#endif

#if !defined(TQ_GEMM_DSP) && !defined(TQ_GEMM_MVE)
/* The portable row loop, in functions of their own (below), so that its accumulators keep their
   registers whatever kernel calls it. */
static inline __attribute__((always_inline)) void tq_gemm_pair_loop_body(const tq_gemm_s8_params *g, const int8_t *cols,
                                                                         int8_t *out0, int8_t *out1, int full, int wide)
{
    /* Locals: the int8 stores alias everything, which would force reloads of g->... One pointer
       per operand walks the rows: q, the weights, the two outputs. */
    const int32_t k = g->k, group = g->group, step = 2 * k;
    const int32_t lo = g->act_min, hi = g->act_max;
    const int8_t *w = g->weights;
    const int16_t *w16 = g->weights16;
    const int32_t *q = g->quant;
    const int32_t *const q_last = q + 8 * ((g->out_c - 1) / 2);
    const int odd = g->out_c & 1;
    for (;; q += 8, out0 += 2, out1 += 2) {
        int32_t acc[4];
        acc[0] = acc[1] = q[0];
        acc[2] = acc[3] = q[1];
        if (wide) {
            tq_dot_2x2_wide_c(w16, cols, k, acc);
            w16 += step;
        } else {
            tq_dot_2x2(w, cols, k, group, acc);
            w += step;
        }
        if (q == q_last) {
            tq_gemm_store_2x2(acc, q, out0, out1, !odd, lo, hi, full);
            return;
        }
        tq_gemm_store_2x2(acc, q, out0, out1, 1, lo, hi, full);
    }
}

/* The loop for int8 and for int16 weights (`wide` a constant in each); weak, so that the kernels that
   include this header share one copy of each. */
void tq_gemm_pair_loop(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1, int full);
__attribute__((weak, noinline)) void tq_gemm_pair_loop(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                       int8_t *out1, int full)
{
    tq_gemm_pair_loop_body(g, cols, out0, out1, full, 0);
}

void tq_gemm_pair_loop_wide(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1, int full);
__attribute__((weak, noinline)) void tq_gemm_pair_loop_wide(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                            int8_t *out1, int full)
{
    tq_gemm_pair_loop_body(g, cols, out0, out1, full, 1);
}
#endif

static inline __attribute__((always_inline)) void tq_gemm_pair_impl(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0,
                                                                    int8_t *out1, int full, int wide)
{
#if defined(TQ_GEMM_DSP)
    /* The row pairs in tq_gemm_dsp.S; an odd last row, or every row with the general
       requantization (then mm_pairs is 0), in tq_gemm_rest_dsp. */
    const int32_t k = g->k, pairs = g->mm_pairs;
    const int32_t lo = g->act_min, hi = g->act_max;
    tq_gemm_job job;
    job.cols = cols;
    job.cols_end = cols + 4 * k;
    job.blk = g->quant;
    job.blk_end = g->quant + 8 * pairs;
    job.out0 = out0;
    job.out1 = out1;
    job.w = wide ? (const void *)g->weights16 : (const void *)g->weights;
    job.w_skip = 0;
    job.lo4 = 0x01010101u * (uint8_t)lo;
    job.hi4 = 0x01010101u * (uint8_t)hi;
    job.clamp = (!full) | TQ_GEMM_CHUNKED(g);
    job.acc = NULL;
    if (pairs > 0) {
        if (wide) {
            tq_gemm_pairs_wide_dsp(&job);
        } else {
            tq_gemm_pairs_dsp(&job);
        }
    }
    if (TQ_CFG_GEMM_REST && 2 * pairs < g->out_c) {
        if (wide) {
            tq_gemm_rest_wide_dsp(g, cols, out0, out1, full);
        } else {
            tq_gemm_rest_dsp(g, cols, out0, out1, full);
        }
    }
#elif defined(TQ_GEMM_MVE)
    (void)full;
    (void)wide; /* int16 weights are a DSP-extension layout (group 4) */
    tq_mve_gemm_pairs(g->weights, g->quant, g->out_c, g->k, g->act_min, g->act_max, cols, out0, out1, TQ_CFG_REQUANT_GEN && g->requant,
                      g->out_offset);
#else
    if (TQ_CFG_REQUANT_GEN && g->requant) {
        tq_gemm_pair_gen(g, cols, out0, out1, wide);
    } else {
        if (wide) {
            tq_gemm_pair_loop_wide(g, cols, out0, out1, full);
        } else {
            tq_gemm_pair_loop(g, cols, out0, out1, full);
        }
    }
#endif
}

/*
 * All out_c outputs of two pixels from their interleaved column pair: out0[c] and out1[c].
 * For a last odd pixel the pair holds its column twice and out1 == out0.
 */
static inline void tq_gemm_pair(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1)
{
    tq_gemm_pair_impl(g, cols, out0, out1, g->act_min == -128 && g->act_max == 127, 0);
}

/* tq_gemm_pair from int16 weights (g->weights16), for the *_wide_s8 kernels. */
static inline void tq_gemm_pair_wide(const tq_gemm_s8_params *g, const int8_t *cols, int8_t *out0, int8_t *out1)
{
    tq_gemm_pair_impl(g, cols, out0, out1, g->act_min == -128 && g->act_max == 127, 1);
}

/*
 * tq_gemm_pair for a kernel that multiplies every pixel pair from the same column-pair buffer: the
 * call's constant part prepared once a layer (tq_gemm_ready_init), so that each pixel pair only
 * sets its two output pointers (tq_gemm_ready_run). `wide`: int16 weights (the *_wide_s8 kernels).
 */
typedef struct {
#if defined(TQ_GEMM_DSP)
    tq_gemm_job job;        /* the row pairs tq_gemm_pairs_dsp requantizes (mm_pairs), cols fixed */
#endif
    const tq_gemm_s8_params *g;
    const int8_t *cols;
    int full;               /* no clamp: the activation range is all of int8 */
} tq_gemm_ready;

static inline void tq_gemm_ready_init(tq_gemm_ready *r, const tq_gemm_s8_params *g, const int8_t *cols)
{
    r->g = g;
    r->cols = cols;
    r->full = g->act_min == -128 && g->act_max == 127;
#if defined(TQ_GEMM_DSP)
    r->job.cols = cols;
    r->job.cols_end = cols + 4 * g->k;
    r->job.blk = g->quant;
    r->job.blk_end = g->quant + 8 * g->mm_pairs;
    r->job.out0 = NULL;
    r->job.out1 = NULL;
    r->job.w = g->weights != NULL ? (const void *)g->weights : (const void *)g->weights16;
    r->job.w_skip = 0;
    r->job.lo4 = 0x01010101u * (uint8_t)g->act_min;
    r->job.hi4 = 0x01010101u * (uint8_t)g->act_max;
    r->job.clamp = (!r->full) | TQ_GEMM_CHUNKED(g);
    r->job.acc = NULL;
#endif
}

static inline __attribute__((always_inline)) void tq_gemm_ready_run(tq_gemm_ready *r, int8_t *out0, int8_t *out1, int wide)
{
#if defined(TQ_GEMM_DSP)
    const tq_gemm_s8_params *const g = r->g;
    r->job.out0 = out0; /* the assembler works on its own copy of the job */
    r->job.out1 = out1;
    if (g->mm_pairs > 0) {
        if (wide) {
            tq_gemm_pairs_wide_dsp(&r->job);
        } else {
            tq_gemm_pairs_dsp(&r->job);
        }
    }
    if (TQ_CFG_GEMM_REST && 2 * g->mm_pairs < g->out_c) {
        if (wide) {
            tq_gemm_rest_wide_dsp(g, r->cols, out0, out1, r->full);
        } else {
            tq_gemm_rest_dsp(g, r->cols, out0, out1, r->full);
        }
    }
#else
    tq_gemm_pair_impl(r->g, r->cols, out0, out1, r->full, wide);
#endif
}

#endif /* TQ_GEMM_H */
