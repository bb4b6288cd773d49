/*
 * tinyq Helium (MVE) helpers of the fast kernels: tq_requant_mm and tq_requant_gen four lanes at a
 * time, the GEMM's row-pair loops (tq_gemm_pair's), the convolutions' loops over four pixels (one
 * weight row against four columns: tq_mve_row_quad and its kin, for tq_conv_1x1_s8, tq_conv_im2col_s8
 * and tq_conv_taps_s8) and the depthwise convolution sixteen or eight channels at a time. Included by
 * tq_gemm.h on Helium builds only (TQ_GEMM_MVE). The loops over k are inline assembler (low-overhead
 * loops; VMLAVA needs even accumulator registers: "Te").
 *
 * Requantization: tq_requant_mm(acc, mult, radd, e) = (x + radd - [acc < 0]) >> e with
 * x = SaturatingRoundingDoublingHighMul(acc, mult) = floor((2 acc mult + 2^31) / 2^32), which is what
 * VQRDMULH.S32 computes lane by lane (it saturates only for INT32_MIN * INT32_MIN; mult >= 0). The rest
 * is VADD (radd), VADD of acc >> 31 (the -[acc < 0]) and VSHL by -e (an arithmetic, flooring shift),
 * so each lane is the scalar function's result exactly, for every layout of the constants (they are
 * gathered with VLDRW offsets from the per-channel tables tq_conv_fast.h and tq_gemm.h describe).
 */
#ifndef TQ_MVE_H
#define TQ_MVE_H

#include <arm_mve.h>

#include "tq_common.h"

/*
 * acc[0] += row0 . col0, acc[1] += row0 . col1, acc[2] += row1 . col0, acc[3] += row1 . col1 for a row
 * pair w and a column pair c, both interleaved 16 bytes at a time, over blocks * 16 of k (blocks > 0):
 * a low-overhead loop in assembler, 9 instructions per 16 of k. tq_dot_2x2's loop.
 */
static inline __attribute__((always_inline)) void tq_mve_dot_2x2(const int8_t *w, const int8_t *c, int32_t blocks, int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
    register int32_t n __asm__("lr") = blocks;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #16\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vldrb.u8  q2, [%[c]], #16\n\t"
                     "vldrb.u8  q3, [%[c]], #16\n\t"
                     "vmlava.s8 %[s00], q0, q2\n\t"
                     "vmlava.s8 %[s01], q0, q3\n\t"
                     "vmlava.s8 %[s10], q1, q2\n\t"
                     "vmlava.s8 %[s11], q1, q3\n\t"
                     "le     lr, 1b"
                     : [w] "+r"(w), [c] "+r"(c), [s00] "+Te"(s00), [s01] "+Te"(s01), [s10] "+Te"(s10),
                       [s11] "+Te"(s11), "+r"(n)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* tq_requant_mm on four lanes (rsh: the right shifts e >= 1). */
static inline __attribute__((always_inline)) int32x4_t tq_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t radd,
                                                                     int32x4_t rsh)
{
    int32x4_t v = vqrdmulhq_s32(acc, mult);
    v = vaddq_s32(v, radd);
    v = vaddq_s32(v, vshrq_n_s32(acc, 31));
    return vshlq_s32(v, vnegq_s32(rsh));
}

/*
 * tq_requant_gen(acc, mult, left, right, zo) on four lanes, for any accumulator and shift: VSHL by left
 * (wrapping, as TFLite's int32 multiply), VQRDMULH (SaturatingRoundingDoublingHighMul: it saturates
 * only for INT32_MIN * INT32_MIN, and mult >= 0), then RoundingDivideByPOT by right: VRSHL rounds ties
 * up, so a negative value loses 1 first where right >= 1 (x = INT32_MIN cannot occur: |mult| < 2^31);
 * the zero point added wrapping.
 */
static inline __attribute__((always_inline)) int32x4_t tq_mve_requant_gen(int32x4_t acc, int32x4_t mult, int32x4_t left,
                                                                         int32x4_t right, int32x4_t zo)
{
    const int32x4_t nr = vnegq_s32(right);
    int32x4_t v = vqrdmulhq_s32(vshlq_s32(acc, left), mult);
    v = vaddq_s32(v, vandq_s32(vshrq_n_s32(v, 31), vshrq_n_s32(nr, 31)));
    return vaddq_s32(vrshlq_s32(v, nr), zo);
}

/* tq_mve_requant with the constants gathered: lane j's mult at m[off[j]], radd and rsh the next words;
   with `general` tq_mve_requant_gen's (mult, left, right). */
static inline __attribute__((always_inline)) int32x4_t tq_mve_requant_at(int32x4_t acc, const int32_t *m, uint32x4_t off)
{
    return tq_mve_requant(acc, vldrwq_gather_shifted_offset_s32(m, off), vldrwq_gather_shifted_offset_s32(m + 1, off),
                          vldrwq_gather_shifted_offset_s32(m + 2, off));
}

static inline __attribute__((always_inline)) int32x4_t tq_mve_requant_any(int32x4_t acc, const int32_t *m, uint32x4_t off,
                                                                         int general, int32x4_t zo)
{
    if (TQ_CFG_REQUANT_GEN && general) {
        return tq_mve_requant_gen(acc, vldrwq_gather_shifted_offset_s32(m, off), vldrwq_gather_shifted_offset_s32(m + 1, off),
                                  vldrwq_gather_shifted_offset_s32(m + 2, off), zo);
    }
    return tq_mve_requant_at(acc, m, off);
}

/*
 * One pair of weight rows (*w, interleaved 16 bytes at a time; *w is left past them) against one column
 * pair (cols, the same layout), k a multiple of 16, k > 0: the 2x2 block of dot products from the
 * biases q[0], q[1], requantized (q[2..7]: mult, radd, rsh of each row) and clamped, in lanes (row 0
 * col 0, row 0 col 1, row 1 col 0, row 1 col 1). The loop in assembler (a low-overhead loop, 9
 * instructions per 16 of k): GCC 12 spends four more on pointer copies.
 */
static inline __attribute__((always_inline)) int32x4_t tq_mve_pair_block(const int8_t **w, const int8_t *cols, int32_t k,
                                                                        const int32_t *q, uint32x4_t qoff, int32x4_t lo,
                                                                        int32x4_t hi, int general, int32x4_t zo)
{
    int32_t s00 = q[0], s01 = q[0], s10 = q[1], s11 = q[1];
    const int8_t *wp = *w;
    register int32_t n __asm__("lr") = k >> 4;
    int32x4_t acc;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #16\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vldrb.u8  q2, [%[c]], #16\n\t"
                     "vldrb.u8  q3, [%[c]], #16\n\t"
                     "vmlava.s8 %[s00], q0, q2\n\t"
                     "vmlava.s8 %[s01], q0, q3\n\t"
                     "vmlava.s8 %[s10], q1, q2\n\t"
                     "vmlava.s8 %[s11], q1, q3\n\t"
                     "le     lr, 1b\n\t"
                     "vmov   %q[acc][2], %q[acc][0], %[s00], %[s10]\n\t"
                     "vmov   %q[acc][3], %q[acc][1], %[s01], %[s11]"
                     : [w] "+r"(wp), [c] "+r"(cols), [s00] "+Te"(s00), [s01] "+Te"(s01), [s10] "+Te"(s10),
                       [s11] "+Te"(s11), [acc] "=w"(acc), "+r"(n)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
    *w = wp;
    return vminq_s32(vmaxq_s32(tq_mve_requant_any(acc, q + 2, qoff, general, zo), lo), hi);
}

/*
 * tq_mve_pair_block against the first two of four columns in tq_mve_row_quad's layout (their 16-byte
 * blocks 64 bytes apart) instead of an interleaved pair: for units of one or two pixels.
 */
static inline __attribute__((always_inline)) int32x4_t tq_mve_duo_block(const int8_t **w, const int8_t *cols, int32_t k,
                                                                       const int32_t *q, uint32x4_t qoff, int32x4_t lo,
                                                                       int32x4_t hi, int general, int32x4_t zo)
{
    int32_t s00 = q[0], s01 = q[0], s10 = q[1], s11 = q[1];
    const int8_t *wp = *w;
    register int32_t n __asm__("lr") = k >> 4;
    int32x4_t acc;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #16\n\t"
                     "vldrb.u8  q3, [%[c], #16]\n\t"
                     "vldrb.u8  q2, [%[c]], #64\n\t"
                     "vmlava.s8 %[s00], q0, q2\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vmlava.s8 %[s01], q0, q3\n\t"
                     "vmlava.s8 %[s10], q1, q2\n\t"
                     "vmlava.s8 %[s11], q1, q3\n\t"
                     "le     lr, 1b\n\t"
                     "vmov   %q[acc][2], %q[acc][0], %[s00], %[s10]\n\t"
                     "vmov   %q[acc][3], %q[acc][1], %[s01], %[s11]"
                     : [w] "+r"(wp), [c] "+r"(cols), [s00] "+Te"(s00), [s01] "+Te"(s01), [s10] "+Te"(s10),
                       [s11] "+Te"(s11), [acc] "=w"(acc), "+r"(n)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
    *w = wp;
    return vminq_s32(vmaxq_s32(tq_mve_requant_any(acc, q + 2, qoff, general, zo), lo), hi);
}

/*
 * Every row pair of a GEMM (tq_gemm_s8_params, group 16) against one column pair: out0[c] and out1[c]
 * (requantized by tq_requant_mm's constants, or with `general` tq_requant_gen's: gemm.requant 1)
 * for c < out_c; out1 may equal out0 (a last odd pixel). Each block's four bytes go out with one
 * scatter store (byte offsets 0, out1 - out0, 1, out1 - out0 + 1); an odd last row stores two lanes.
 * Weak: the kernels that include this header share one copy.
 */
void tq_mve_gemm_pairs(const int8_t *w, const int32_t *q, int32_t out_c, int32_t k, int32_t act_min, int32_t act_max,
                       const int8_t *cols, int8_t *out0, int8_t *out1, int32_t general, int32_t out_offset);
__attribute__((weak, noinline)) void tq_mve_gemm_pairs(const int8_t *w, const int32_t *q, int32_t out_c, int32_t k,
                                                       int32_t act_min, int32_t act_max, const int8_t *cols, int8_t *out0,
                                                       int8_t *out1, int32_t general, int32_t out_offset)
{
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max), zo = vdupq_n_s32(out_offset);
    const uint32_t d = (uint32_t)(out1 - out0);
    uint32x4_t qoff = vdupq_n_u32(0u), soff = vdupq_n_u32(0u);
    int32_t i;
    qoff = vsetq_lane_u32(3u, vsetq_lane_u32(3u, qoff, 2), 3); /* mult of row 0 at q[2], row 1 at q[5] */
    soff = vsetq_lane_u32(d, soff, 1);
    soff = vsetq_lane_u32(1u, soff, 2);
    soff = vsetq_lane_u32(d + 1u, soff, 3);
    if (TQ_CFG_REQUANT_GEN && general) { /* the loop built twice, so that the common one carries no test */
        for (i = out_c >> 1; i > 0; --i, q += 8, out0 += 2) {
            vstrbq_scatter_offset_s32(out0, soff, tq_mve_pair_block(&w, cols, k, q, qoff, lo, hi, 1, zo));
        }
    } else {
        for (i = out_c >> 1; i > 0; --i, q += 8, out0 += 2) {
            vstrbq_scatter_offset_s32(out0, soff, tq_mve_pair_block(&w, cols, k, q, qoff, lo, hi, 0, zo));
        }
    }
    if (out_c & 1) {
        vstrbq_scatter_offset_p_s32(out0, soff, tq_mve_pair_block(&w, cols, k, q, qoff, lo, hi, general, zo), vctp32q(2));
    }
}

/*
 * The offsets tq_mve_dw16 reads (tq_mve_dw_offsets fills them for T taps): words 0-3 and 4-7 the word
 * offsets, in a depthwise quant run (16 words per block of four channels: bias[4], then mult, radd, rsh
 * per channel), of the biases of channels (0, 2, 4, 6) and (1, 3, 5, 7); words 8-11 and 12-15 those
 * of their mults; then eight uint16 byte offsets of eight channels' weights of a tap in two blocks
 * of [T][4]: 0..3 and 4 T .. 4 T + 3; then the activation range.
 */
typedef struct {
    uint32_t q[16];
    uint16_t w[8];
    int16_t lo[8], hi[8]; /* the activation range in every lane */
} tq_mve_dw_offsets;

static inline void tq_mve_dw_offsets_init(tq_mve_dw_offsets *o, int32_t taps, int32_t lo, int32_t hi)
{
    static const uint8_t words[16] = {0, 2, 16, 18, 1, 3, 17, 19, 4, 10, 20, 26, 7, 13, 23, 29};
    int32_t j;
    for (j = 0; j < 16; ++j) {
        o->q[j] = words[j];
    }
    for (j = 0; j < 8; ++j) {
        o->w[j] = (uint16_t)((j & 3) + (j >> 2) * 4 * taps);
        o->lo[j] = (int16_t)lo;
        o->hi[j] = (int16_t)hi;
    }
}

/*
 * Sixteen channels c .. c + 15 of one depthwise output pixel (the [T][4] Helium layout of
 * tq_conv_fast.h, four blocks; taps >= 1): tap t of channel c + j read at tt[t] + at + j, the weights
 * from w (block c / 4's first) gathered eight at a time, multiplied as int16 (VMULLB / VMULLT: the
 * even and odd channels' int32 products; q0..q3 accumulate channels (0, 2, 4, 6), (1, 3, 5, 7),
 * (8, ...), (9, ...)), requantized with tq_mve_requant's steps (constants gathered from qg, block
 * c / 4's quant), narrowed with saturation to int16 in channel order, clamped and stored
 * at out. All in assembler: GCC 12 spills accumulators and constants around the loop here.
 */
#define TQ_MVE_DW_REQ(A, O, O4, O8) \
    "adds   %[x], %[qg], #" O "\n\t" \
    "vldrw.u32 q5, [%[x], q4, uxtw #2]\n\t" \
    "vqrdmulh.s32 q5, " A ", q5\n\t" \
    "vshr.s32 " A ", " A ", #31\n\t" \
    "vadd.i32 " A ", " A ", q5\n\t" \
    "adds   %[x], %[qg], #" O4 "\n\t" \
    "vldrw.u32 q5, [%[x], q4, uxtw #2]\n\t" \
    "vadd.i32 " A ", " A ", q5\n\t" \
    "adds   %[x], %[qg], #" O8 "\n\t" \
    "vldrw.u32 q5, [%[x], q4, uxtw #2]\n\t" \
    "vneg.s32 q5, q5\n\t" \
    "vshl.s32 " A ", " A ", q5\n\t"

static inline __attribute__((always_inline)) void tq_mve_dw16(const uintptr_t *tt, uintptr_t at, int32_t taps,
                                                             const int8_t *w, const tq_mve_dw_offsets *off,
                                                             const int32_t *qg, int8_t *out)
{
    const int8_t *wh = w + 8 * taps; /* blocks 2, 3 */
    register int32_t n __asm__("lr") = taps;
    uintptr_t x;
    __asm__ volatile("vldrw.u32 q7, [%[off]]\n\t"
                     "adds   %[x], %[qg], #128\n\t"
                     "vldrw.u32 q0, [%[qg], q7, uxtw #2]\n\t"
                     "vldrw.u32 q2, [%[x], q7, uxtw #2]\n\t"
                     "vldrw.u32 q7, [%[off], #16]\n\t"
                     "vldrw.u32 q1, [%[qg], q7, uxtw #2]\n\t"
                     "vldrw.u32 q3, [%[x], q7, uxtw #2]\n\t"
                     "vldrh.u16 q4, [%[off], #64]\n\t"
                     "dls    lr, lr\n"
                     "1:\n\t"
                     "ldr    %[x], [%[tt]], #4\n\t"
                     "add    %[x], %[at]\n\t"
                     "vldrb.s16 q5, [%[x]]\n\t"
                     "vldrb.s16 q6, [%[w], q4]\n\t"
                     "vmullb.s16 q7, q5, q6\n\t"
                     "vadd.i32 q0, q0, q7\n\t"
                     "vmullt.s16 q7, q5, q6\n\t"
                     "vadd.i32 q1, q1, q7\n\t"
                     "vldrb.s16 q5, [%[x], #8]\n\t"
                     "vldrb.s16 q6, [%[wh], q4]\n\t"
                     "vmullb.s16 q7, q5, q6\n\t"
                     "vadd.i32 q2, q2, q7\n\t"
                     "vmullt.s16 q7, q5, q6\n\t"
                     "vadd.i32 q3, q3, q7\n\t"
                     "adds   %[w], #4\n\t"
                     "adds   %[wh], #4\n\t"
                     "le     lr, 1b\n\t"
                     "vldrw.u32 q4, [%[off], #32]\n\t"
                     TQ_MVE_DW_REQ("q0", "0", "4", "8")
                     TQ_MVE_DW_REQ("q2", "128", "132", "136")
                     "vldrw.u32 q4, [%[off], #48]\n\t"
                     TQ_MVE_DW_REQ("q1", "0", "4", "8")
                     TQ_MVE_DW_REQ("q3", "128", "132", "136")
                     "vqmovnb.s32 q5, q0\n\t"
                     "vqmovnt.s32 q5, q1\n\t"
                     "vqmovnb.s32 q6, q2\n\t"
                     "vqmovnt.s32 q6, q3\n\t"
                     "vldrh.u16 q7, [%[off], #80]\n\t"
                     "vmax.s16 q5, q5, q7\n\t"
                     "vmax.s16 q6, q6, q7\n\t"
                     "vldrh.u16 q7, [%[off], #96]\n\t"
                     "vmin.s16 q5, q5, q7\n\t"
                     "vmin.s16 q6, q6, q7\n\t"
                     "vstrb.16 q5, [%[out]]\n\t"
                     "vstrb.16 q6, [%[out], #8]"
                     : [x] "=&l"(x), [tt] "+r"(tt), [w] "+r"(w), [wh] "+r"(wh), "+r"(n)
                     : [at] "r"(at), [off] "r"(off), [qg] "r"(qg), [out] "r"(out)
                     : "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "memory", "cc");
}
#undef TQ_MVE_DW_REQ

static const uint32_t tq_mve_dw_mult4[4] = {4u, 7u, 10u, 13u};

/* Four depthwise accumulators (channels of one block) requantized with the block's constants (qb: its
   bias[4] first), clamped and stored as four bytes at out. */
static inline __attribute__((always_inline)) void tq_mve_dw_out4(int32x4_t acc, const int32_t *qb, int8_t *out,
                                                                int32x4_t lo, int32x4_t hi)
{
    const int32x4_t v = tq_mve_requant_at(acc, qb, vld1q_u32(tq_mve_dw_mult4));
    vstrbq_s32(out, vminq_s32(vmaxq_s32(v, lo), hi));
}

/*
 * tq_mve_dw16's first eight channels only (blocks c / 4 and c / 4 + 1: channels c .. c + 7 of one
 * output pixel), for a layer whose channels leave eight past the last sixteen: the same int16
 * products (VMULLB / VMULLT: channels (0, 2, 4, 6) and (1, 3, 5, 7)), requantization, narrowing,
 * clamp and store, in intrinsics.
 */
static inline __attribute__((always_inline)) void tq_mve_dw8(const uintptr_t *tt, uintptr_t at, int32_t taps, const int8_t *w,
                                                            const tq_mve_dw_offsets *off, const int32_t *qg, int8_t *out)
{
    const uint16x8_t wo = vld1q_u16(off->w);
    int32x4_t even = vldrwq_gather_shifted_offset_s32(qg, vld1q_u32(off->q));
    int32x4_t odd = vldrwq_gather_shifted_offset_s32(qg, vld1q_u32(off->q + 4));
    int16x8_t r = vdupq_n_s16(0);
    int32_t t;
    for (t = 0; t < taps; ++t, w += 4) {
        const int16x8_t x = vldrbq_s16((const int8_t *)(tt[t] + at));
        const int16x8_t k = vldrbq_gather_offset_s16(w, wo);
        even = vaddq_s32(even, vmullbq_int_s16(x, k));
        odd = vaddq_s32(odd, vmulltq_int_s16(x, k));
    }
    r = vqmovnbq_s32(r, tq_mve_requant_at(even, qg, vld1q_u32(off->q + 8)));
    r = vqmovntq_s32(r, tq_mve_requant_at(odd, qg, vld1q_u32(off->q + 12)));
    r = vminq_s16(vmaxq_s16(r, vld1q_s16(off->lo)), vld1q_s16(off->hi));
    vstrbq_s16(out, r);
}

/*
 * Four columns as tq_mve_gemm_quad reads them: [k / 16][4][16], column j's bytes [16 b, 16 b + 16)
 * at 64 b + 16 j. One weight row (w: 16 bytes a block, blocks 32 bytes apart: a row of tq_gemm.h's
 * interleaved pairs) against the four columns at c from the bias s0 (blocks > 0), then tq_requant_mm's
 * steps with the row's scalars qm[0..2] (mult, radd, rsh: VQRDMULH, VADD, VADD of acc >> 31, VSHL by
 * -rsh), clamped to [lo, hi] and stored as bytes at out + off[j] for the lanes `keep` sets: one output
 * row of tq_mve_gemm_quad, all in assembler (9 instructions per 16 of k; the predicate is set before
 * the loop, which leaves it alone).
 */
static inline __attribute__((always_inline)) void tq_mve_row_quad(const int8_t *w, const int8_t *c, int32_t blocks, int32_t s0,
                                                                 const int32_t *qm, int8_t *out, uint32_t keep, int32x4_t lo,
                                                                 int32x4_t hi, uint32x4_t off)
{
    int32_t s1, s2, s3;
    register int32_t n __asm__("lr") = blocks;
    __asm__ volatile("vmsr   p0, %[keep]\n\t"
                     "mov    %[s1], %[s0]\n\t"
                     "mov    %[s2], %[s0]\n\t"
                     "mov    %[s3], %[s0]\n\t"
                     "dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #32\n\t"
                     "vldrb.u8  q1, [%[c]], #16\n\t"
                     "vmlava.s8 %[s0], q0, q1\n\t"
                     "vldrb.u8  q2, [%[c]], #16\n\t"
                     "vmlava.s8 %[s1], q0, q2\n\t"
                     "vldrb.u8  q3, [%[c]], #16\n\t"
                     "vmlava.s8 %[s2], q0, q3\n\t"
                     "vldrb.u8  q1, [%[c]], #16\n\t"
                     "vmlava.s8 %[s3], q0, q1\n\t"
                     "le     lr, 1b\n\t"
                     "vmov   q0[2], q0[0], %[s0], %[s2]\n\t"
                     "vmov   q0[3], q0[1], %[s1], %[s3]\n\t"
                     "ldrd   %[s0], %[s1], [%[qm]]\n\t"
                     "ldr    %[s2], [%[qm], #8]\n\t"
                     "vqrdmulh.s32 q1, q0, %[s0]\n\t"
                     "vshr.s32 q0, q0, #31\n\t"
                     "vadd.i32 q1, q1, %[s1]\n\t"
                     "vadd.i32 q1, q1, q0\n\t"
                     "rsbs   %[s2], %[s2], #0\n\t"
                     "vshl.s32 q1, %[s2]\n\t"
                     "vmax.s32 q1, q1, %q[lo]\n\t"
                     "vmin.s32 q1, q1, %q[hi]\n\t"
                     "vpst\n\t"
                     "vstrbt.32 q1, [%[out], %q[off]]"
                     : [w] "+r"(w), [c] "+r"(c), [s0] "+Te"(s0), [s1] "=&Te"(s1), [s2] "=&Te"(s2), [s3] "=&Te"(s3), "+r"(n)
                     : [qm] "r"(qm), [out] "r"(out), [keep] "r"(keep), [lo] "w"(lo), [hi] "w"(hi), [off] "w"(off)
                     : "q0", "q1", "q2", "q3", "memory", "cc");
}

/* The four sums s0..s3 into q0's lanes. */
#define TQ_MVE_QUAD_VMOV \
    "vmov   q0[2], q0[0], %[s0], %[s2]\n\t" \
    "vmov   q0[3], q0[1], %[s1], %[s3]\n\t"

/* tq_mve_row_quad's requantization, clamp and predicated store of q0 (the constants at [q, #M]),
   with s0..s2 and q0, q1 as temporaries. */
#define TQ_MVE_QUAD_REQ(M) \
    "ldrd   %[s0], %[s1], [%[q], #" M "]\n\t" \
    "ldr    %[s2], [%[q], #" M "+8]\n\t" \
    "vqrdmulh.s32 q1, q0, %[s0]\n\t" \
    "vshr.s32 q0, q0, #31\n\t" \
    "vadd.i32 q1, q1, %[s1]\n\t" \
    "vadd.i32 q1, q1, q0\n\t" \
    "rsbs   %[s2], %[s2], #0\n\t" \
    "vshl.s32 q1, %[s2]\n\t" \
    "vmax.s32 q1, q1, %q[lo]\n\t" \
    "vmin.s32 q1, q1, %q[hi]\n\t" \
    "vpst\n\t" \
    "vstrbt.32 q1, [%[out], %q[off]]\n\t"

/* One weight row (from w) against the four columns at c from the bias [q, #B] into s0..s3. */
#define TQ_MVE_QUAD_DOT(B, L) \
    "ldr    %[s0], [%[q], #" B "]\n\t" \
    "mov    %[cw], %[c]\n\t" \
    "mov    %[s1], %[s0]\n\t" \
    "mov    %[s2], %[s0]\n\t" \
    "mov    %[s3], %[s0]\n\t" \
    "dls    lr, %[blocks]\n" \
    L ":\n\t" \
    "vldrb.u8  q0, [%[w]], #32\n\t" \
    "vldrb.u8  q1, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s0], q0, q1\n\t" \
    "vldrb.u8  q2, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s1], q0, q2\n\t" \
    "vldrb.u8  q3, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s2], q0, q3\n\t" \
    "vldrb.u8  q1, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s3], q0, q1\n\t" \
    "le     lr, " L "b\n\t"

/*
 * tq_mve_row_quad for `pairs` (> 0) row pairs of tq_gemm.h's layout from w on (their quant blocks
 * from q, 8 words each: bias[2], then mult, radd, rsh of each row), rows into out[0], out[1], then
 * the next pair's into out[2], out[3], ...: the whole loop in assembler.
 */
static inline __attribute__((always_inline)) void tq_mve_pairs_quad(const int8_t *w, const int8_t *c, int32_t blocks,
                                                                   const int32_t *q, int32_t pairs, int8_t *out, uint32_t keep,
                                                                   int32x4_t lo, int32x4_t hi, uint32x4_t off)
{
    int32_t s0, s1, s2, s3;
    const int8_t *cw = (const int8_t *)(uintptr_t)keep;
    register int32_t n __asm__("lr");
    __asm__ volatile("vmsr   p0, %[cw]\n" /* cw holds `keep` until here */
                     "3:\n\t"
                     TQ_MVE_QUAD_DOT("0", "1")
                     TQ_MVE_QUAD_VMOV
                     TQ_MVE_QUAD_REQ("8")
                     "sub    %[w], %[w], %[blocks], lsl #5\n\t"
                     "adds   %[w], #16\n\t"
                     "adds   %[out], #1\n\t"
                     TQ_MVE_QUAD_DOT("4", "2")
                     TQ_MVE_QUAD_VMOV
                     TQ_MVE_QUAD_REQ("20")
                     "subs   %[w], #16\n\t"
                     "adds   %[q], #32\n\t"
                     "adds   %[out], #1\n\t"
                     "subs   %[pairs], #1\n\t"
                     "bne    3b"
                     : [w] "+r"(w), [cw] "+r"(cw), [q] "+r"(q), [out] "+r"(out), [pairs] "+r"(pairs), [s0] "=&Te"(s0),
                       [s1] "=&Te"(s1), [s2] "=&Te"(s2), [s3] "=&Te"(s3), "=&r"(n)
                     : [c] "r"(c), [blocks] "r"(blocks), [lo] "w"(lo), [hi] "w"(hi), [off] "w"(off)
                     : "q0", "q1", "q2", "q3", "memory", "cc");
}
/* One weight row (from w) against the four columns at c, added to the sums at [acc] (written back,
   acc then 16 bytes on). */
#define TQ_MVE_QUAD_ACC(L) \
    "ldrd   %[s0], %[s1], [%[acc]]\n\t" \
    "ldrd   %[s2], %[s3], [%[acc], #8]\n\t" \
    "mov    %[cw], %[c]\n\t" \
    "dls    lr, %[blocks]\n" \
    L ":\n\t" \
    "vldrb.u8  q0, [%[w]], #32\n\t" \
    "vldrb.u8  q1, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s0], q0, q1\n\t" \
    "vldrb.u8  q2, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s1], q0, q2\n\t" \
    "vldrb.u8  q3, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s2], q0, q3\n\t" \
    "vldrb.u8  q1, [%[cw]], #16\n\t" \
    "vmlava.s8 %[s3], q0, q1\n\t" \
    "le     lr, " L "b\n\t" \
    "strd   %[s0], %[s1], [%[acc]]\n\t" \
    "strd   %[s2], %[s3], [%[acc], #8]\n\t" \
    "adds   %[acc], #16\n\t"

/*
 * acc[4 r + j] += row r . column j for the 2 `pairs` (> 0) rows of row pairs laid out as tq_gemm.h's
 * (rows of blocks * 16 bytes from w on, the next pair `skip` bytes after a pair's last block read)
 * against the four columns at c (tq_mve_row_quad's layout): one filter row of tq_conv_taps_s8 on
 * Helium, all in assembler (9 instructions per 16 of k).
 */
static inline __attribute__((always_inline)) void tq_mve_acc_quad(const int8_t *w, int32_t skip, const int8_t *c, int32_t blocks,
                                                                 int32_t *acc, int32_t pairs)
{
    int32_t s0, s1, s2, s3;
    const int8_t *cw;
    register int32_t n __asm__("lr");
    __asm__ volatile("3:\n\t"
                     TQ_MVE_QUAD_ACC("1")
                     "sub    %[w], %[w], %[blocks], lsl #5\n\t"
                     "adds   %[w], #16\n\t"
                     TQ_MVE_QUAD_ACC("2")
                     "add    %[w], %[skip]\n\t"
                     "subs   %[pairs], #1\n\t"
                     "bne    3b"
                     : [w] "+r"(w), [acc] "+r"(acc), [pairs] "+r"(pairs), [cw] "=&r"(cw), [s0] "=&Te"(s0), [s1] "=&Te"(s1),
                       [s2] "=&Te"(s2), [s3] "=&Te"(s3), "=&r"(n)
                     : [c] "r"(c), [blocks] "r"(blocks), [skip] "r"(skip)
                     : "q0", "q1", "q2", "q3", "memory", "cc");
}
/*
 * tq_mve_acc_quad for the first two columns only (a unit of one or two pixels): each row pair against
 * the two columns as a 2x2 block (9 instructions per 16 of k for four sums, as tq_mve_dot_2x2), its
 * sums in lanes 0 and 1 of the pair's two rows at acc; the next pair `skip` bytes after a pair's last
 * block read.
 */
static inline __attribute__((always_inline)) void tq_mve_acc_duo(const int8_t *w, int32_t skip, const int8_t *c, int32_t blocks,
                                                                int32_t *acc, int32_t pairs)
{
    int32_t s0, s1, s2, s3;
    const int8_t *cw;
    register int32_t n __asm__("lr");
    __asm__ volatile("3:\n\t"
                     "ldrd   %[s0], %[s1], [%[acc]]\n\t"
                     "ldrd   %[s2], %[s3], [%[acc], #16]\n\t"
                     "mov    %[cw], %[c]\n\t"
                     "dls    lr, %[blocks]\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #16\n\t"
                     "vldrb.u8  q3, [%[cw], #16]\n\t"
                     "vldrb.u8  q2, [%[cw]], #64\n\t"
                     "vmlava.s8 %[s0], q0, q2\n\t"
                     "vldrb.u8  q1, [%[w]], #16\n\t"
                     "vmlava.s8 %[s1], q0, q3\n\t"
                     "vmlava.s8 %[s2], q1, q2\n\t"
                     "vmlava.s8 %[s3], q1, q3\n\t"
                     "le     lr, 1b\n\t"
                     "strd   %[s0], %[s1], [%[acc]]\n\t"
                     "strd   %[s2], %[s3], [%[acc], #16]\n\t"
                     "adds   %[acc], #32\n\t"
                     "add    %[w], %[skip]\n\t"
                     "subs   %[pairs], #1\n\t"
                     "bne    3b"
                     : [w] "+r"(w), [acc] "+r"(acc), [pairs] "+r"(pairs), [cw] "=&r"(cw), [s0] "=&Te"(s0), [s1] "=&Te"(s1),
                       [s2] "=&Te"(s2), [s3] "=&Te"(s3), "=&r"(n)
                     : [c] "r"(c), [blocks] "r"(blocks), [skip] "r"(skip)
                     : "q0", "q1", "q2", "q3", "memory", "cc");
}

/*
 * The four sums of each row of `pairs` (> 0) row pairs (acc: 4 words a row, as tq_mve_acc_quad leaves
 * them; q: the pairs' quant blocks) requantized with tq_requant_mm's steps, clamped and stored at
 * out[off[j] + r] for row r and the lanes j `keep` sets: the end of tq_conv_taps_s8 on Helium.
 */
static inline __attribute__((always_inline)) void tq_mve_req_quad(const int32_t *acc, const int32_t *q, int32_t pairs,
                                                                 int8_t *out, uint32_t keep, int32x4_t lo, int32x4_t hi,
                                                                 uint32x4_t off)
{
    int32_t s0, s1, s2;
    __asm__ volatile("vmsr   p0, %[keep]\n"
                     "1:\n\t"
                     "vldrw.u32 q0, [%[acc]], #16\n\t"
                     TQ_MVE_QUAD_REQ("8")
                     "adds   %[out], #1\n\t"
                     "vldrw.u32 q0, [%[acc]], #16\n\t"
                     TQ_MVE_QUAD_REQ("20")
                     "adds   %[out], #1\n\t"
                     "adds   %[q], #32\n\t"
                     "subs   %[pairs], #1\n\t"
                     "bne    1b"
                     : [acc] "+r"(acc), [q] "+r"(q), [out] "+r"(out), [pairs] "+r"(pairs), [s0] "=&r"(s0), [s1] "=&r"(s1),
                       [s2] "=&r"(s2)
                     : [keep] "r"(keep), [lo] "w"(lo), [hi] "w"(hi), [off] "w"(off)
                     : "q0", "q1", "memory", "cc");
}
#undef TQ_MVE_QUAD_ACC
#undef TQ_MVE_QUAD_VMOV
#undef TQ_MVE_QUAD_DOT
#undef TQ_MVE_QUAD_REQ

/* The same row's four sums only (for the general requantization, in C): lanes 0..3. */
static inline __attribute__((always_inline)) int32x4_t tq_mve_dot_1x4(const int8_t *w, const int8_t *c, int32_t blocks,
                                                                     int32_t s0)
{
    int32_t s1 = s0, s2 = s0, s3 = s0;
    register int32_t n __asm__("lr") = blocks;
    int32x4_t acc;
    __asm__ volatile("dls    lr, lr\n"
                     "1:\n\t"
                     "vldrb.u8  q0, [%[w]], #32\n\t"
                     "vldrb.u8  q1, [%[c]], #16\n\t"
                     "vmlava.s8 %[s0], q0, q1\n\t"
                     "vldrb.u8  q2, [%[c]], #16\n\t"
                     "vmlava.s8 %[s1], q0, q2\n\t"
                     "vldrb.u8  q3, [%[c]], #16\n\t"
                     "vmlava.s8 %[s2], q0, q3\n\t"
                     "vldrb.u8  q1, [%[c]], #16\n\t"
                     "vmlava.s8 %[s3], q0, q1\n\t"
                     "le     lr, 1b\n\t"
                     "vmov   %q[acc][2], %q[acc][0], %[s0], %[s2]\n\t"
                     "vmov   %q[acc][3], %q[acc][1], %[s1], %[s3]"
                     : [w] "+r"(w), [c] "+r"(c), [s0] "+Te"(s0), [s1] "+Te"(s1), [s2] "+Te"(s2), [s3] "+Te"(s3),
                       [acc] "=w"(acc), "+r"(n)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
    return acc;
}

#endif /* TQ_MVE_H */
