/*
 * DEPTHWISE_CONV_2D's block loop in assembler, for cores with the DSP extension and without Helium
 * (Cortex-M4, M7, M33): tq_dw_pixel_dsp (int8 weights) and tq_dw_pixel_wide_dsp (int16 weights,
 * --wide-weights), declared in tq_conv_fast.h. One call computes the channels [0, c_end) of one
 * output pixel, four at a time, from its table of tap pointers.
 *
 * Taps go in pairs so that SMLAD does two MACs of one channel: the input words of taps t0 and t1
 * (four channels each) are repacked with PKHBT/PKHTB into c0 c1 of both taps and c2 c3 of both,
 * then SXTB16 gives (t0, t1) halfword pairs per channel; the weights are stored in the matching
 * order (tq_conv_fast.h), so a pair of taps over four channels costs 18 instructions (15 wide)
 * where one tap at a time with SMLABB/SMLATT costs 22. An odd last tap goes alone. Nine taps (3x3)
 * are unrolled; other counts loop over the pairs.
 *
 * Registers: r0 tap table, r1 weights, r2 base + c, r3..r6 accumulators of channels c..c+3, r7..r12
 * scratch, lr the block's quant words (q, from the job): tap t of channel c is read at tab[t] + base + c, so a table of pointers (base 0)
 * and, for windows inside the image, the window's offsets from its corner (base: the corner) run
 * the same code. The job (tq_dw_job), 10 words, is copied to the stack at entry:
 *   [0] tab  [4] w  [8] q  [12] out - base  [16] base + c_end  [20] lo4  [24] hi4  [28] clamp
 *   [32] taps  [36] base
 * and [40] holds the end of the tap pairs in the table. The code names these offsets
 * (TQ_DW_JOB_*_OFF, TQ_DW_FRAME_*), from tq_dsp_asm.h, which checks them against the C struct.
 * q walks 16 words a block: bias[4], then mult, radd, rsh per channel (tq_requant_mm); the four
 * outputs are clamped at once (SSUB8/SEL) when clamp != 0 and stored as one word at out + c.
 * tq_dw_pixel_gen_dsp and tq_dw_pixel_gen_wide_dsp run the same taps with the general
 * requantization (TQ_REQUANT_GEN: q holds mult, left and right shift per channel; the output zero
 * point is in the high bytes of clamp).
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_dsp_asm.h"
#include "tq_features.h" /* TQ_CFG_*: which entry points are built */

    .syntax unified
    .thumb
    .text

/* A tap pair's input words (its two tap pointers already in r7, r8: one LDRD) repacked: r7, r9,
   r10, r8 hold the (t0, t1) halfword pairs of channels c0, c1, c2, c3. */
    .macro  DW_REPACK
    ldr     r7, [r7, r2]
    ldr     r8, [r8, r2]
    pkhbt   r9, r7, r8, lsl #16         /* bytes: t0 c0, t0 c1, t1 c0, t1 c1 */
    pkhtb   r8, r8, r7, asr #16         /* bytes: t0 c2, t0 c3, t1 c2, t1 c3 */
    sxtb16  r7, r9                      /* (t0, t1) of c0 */
    sxtb16  r9, r9, ror #8              /* c1 */
    sxtb16  r10, r8                     /* c2 */
    sxtb16  r8, r8, ror #8              /* c3 */
    .endm

/* A tap pair, int8 weights: c0 t0, c1 t0, c0 t1, c1 t1 | c2 t0, c3 t0, c2 t1, c3 t1 (each weight
   half extended into a register its input pair has just freed: lr stays the quant pointer). */
    .macro  DW_PAIR_S8
    ldr     r7, [r7, r2]
    ldr     r8, [r8, r2]
    pkhbt   r9, r7, r8, lsl #16         /* bytes: t0 c0, t0 c1, t1 c0, t1 c1 */
    pkhtb   r8, r8, r7, asr #16         /* bytes: t0 c2, t0 c3, t1 c2, t1 c3 */
    ldrd    r10, r11, [r1], #8
    sxtb16  r7, r9                      /* (t0, t1) of c0 */
    sxtb16  r12, r10
    smlad   r3, r7, r12, r3
    sxtb16  r7, r9, ror #8              /* c1 */
    sxtb16  r12, r10, ror #8
    smlad   r4, r7, r12, r4
    sxtb16  r7, r8                      /* c2 */
    sxtb16  r12, r11
    smlad   r5, r7, r12, r5
    sxtb16  r7, r8, ror #8              /* c3 */
    sxtb16  r12, r11, ror #8
    smlad   r6, r7, r12, r6
    .endm

/* A tap pair, int16 weights: (t0, t1) of c0, c1, c2, c3 as stored. */
    .macro  DW_PAIR_WIDE
    DW_REPACK
    ldrd    r11, r12, [r1], #8
    smlad   r3, r7, r11, r3
    smlad   r4, r9, r12, r4
    ldrd    r11, r12, [r1], #8
    smlad   r5, r10, r11, r5
    smlad   r6, r8, r12, r6
    .endm

/* A lone tap (pointer in r7): its weights as r11 = (c0, c2), r12 = (c1, c3), from int16 (wide) or
   from the int8 word c0 c1 c2 c3. */
    .macro  DW_SINGLE wide
    ldr     r7, [r7, r2]
    .if \wide
    ldrd    r11, r12, [r1], #8
    .else
    ldr     r11, [r1], #4
    sxtb16  r12, r11, ror #8
    sxtb16  r11, r11
    .endif
    sxtb16  r8, r7                      /* (c0, c2) */
    sxtb16  r7, r7, ror #8              /* (c1, c3) */
    smlabb  r3, r8, r11, r3
    smlatt  r5, r8, r11, r5
    smlabb  r4, r7, r12, r4
    smlatt  r6, r7, r12, r6
    .endm

    .macro  DW_SINGLE_S8
    DW_SINGLE 0
    .endm

    .macro  DW_SINGLE_WIDE
    DW_SINGLE 1
    .endm

/* A block's accumulators from its biases (lr: the block's quant words). */
    .macro  DW_HEAD
    ldm     lr!, {r3-r6}
    .endm

/* A block's four outputs: requantized, packed, clamped, stored; then c += 4 and the flags of
   c == c_end. */
    .macro  DW_TAIL
    ldm     lr!, {r7-r9}
    TQ_REQUANT r3, r7, r8, r9, r10
    ldm     lr!, {r7-r9}
    TQ_REQUANT r4, r7, r8, r9, r10
    ldm     lr!, {r7-r9}
    TQ_REQUANT r5, r7, r8, r9, r10
    ldm     lr!, {r7-r9}
    TQ_REQUANT r6, r7, r8, r9, r10
    bfi     r3, r4, #8, #8
    bfi     r3, r5, #16, #8
    bfi     r3, r6, #24, #8
    ldr     r7, [sp, #TQ_DW_JOB_CLAMP_OFF]
    cbz     r7, 8f
    ldrd    r7, r8, [sp, #TQ_DW_JOB_LO4_OFF]        /* lo4, hi4 */
    ssub8   r9, r3, r7
    sel     r3, r3, r7
    ssub8   r9, r8, r3
    sel     r3, r3, r8
8:
    ldrd    r7, r8, [sp, #TQ_DW_JOB_OUT_OFF]        /* out - base, base + c_end */
    str     r3, [r7, r2]
    adds    r2, r2, #4
    cmp     r2, r8
    .endm

/* DW_TAIL with the general requantization: channel by channel (mult, left, right in r7-r9, the zero
   point in r12's high bytes, r10 r11 scratch), then packed, clamped and stored as DW_TAIL does. */
    .macro  DW_TAIL_GEN
    ldr     r12, [sp, #TQ_DW_JOB_CLAMP_OFF]
    ldm     lr!, {r7-r9}
    TQ_REQUANT_GEN r3, r7, r8, r9, r12, r10, r11
    ldm     lr!, {r7-r9}
    TQ_REQUANT_GEN r4, r7, r8, r9, r12, r10, r11
    ldm     lr!, {r7-r9}
    TQ_REQUANT_GEN r5, r7, r8, r9, r12, r10, r11
    ldm     lr!, {r7-r9}
    TQ_REQUANT_GEN r6, r7, r8, r9, r12, r10, r11
    bfi     r3, r4, #8, #8
    bfi     r3, r5, #16, #8
    bfi     r3, r6, #24, #8
    cmp     r12, #0
    beq     8f
    ldrd    r7, r8, [sp, #TQ_DW_JOB_LO4_OFF]        /* lo4, hi4 */
    ssub8   r9, r3, r7
    sel     r3, r3, r7
    ssub8   r9, r8, r3
    sel     r3, r3, r8
8:
    ldrd    r7, r8, [sp, #TQ_DW_JOB_OUT_OFF]        /* out - base, base + c_end */
    str     r3, [r7, r2]
    adds    r2, r2, #4
    cmp     r2, r8
    .endm

/* void name(const tq_dw_job *job) */
/* unroll: with the 3x3 path (the general requantization's twins go without it, for size). */
    .macro  DW_FUNC name, pair, single, tail=DW_TAIL, unroll=1
    .section .text.\name, "ax", %progbits
    .p2align 2
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r11, lr}
    sub     sp, sp, #TQ_DW_FRAME_SIZE
    ldm     r0, {r1-r10}                /* the job: TQ_DW_JOB_SIZE, 10 words (tq_dsp_asm.h) */
    stm     sp, {r1-r10}
    ldrd    r0, r1, [sp, #TQ_DW_JOB_TAB_OFF]        /* tab, w */
    ldr     r3, [sp, #TQ_DW_JOB_TAPS_OFF]
    ldr     r2, [sp, #TQ_DW_JOB_BASE_OFF]           /* base: channel 0 */
    ldr     lr, [sp, #TQ_DW_JOB_Q_OFF]              /* lr: the quant words, walked by the blocks */
    .if \unroll
    cmp     r3, #9
    bne     20f
10:                                     /* 3x3: nine taps unrolled, r0 stays at the table */
    DW_HEAD
    ldrd    r7, r8, [r0, #0]
    \pair
    ldrd    r7, r8, [r0, #8]
    \pair
    ldrd    r7, r8, [r0, #16]
    \pair
    ldrd    r7, r8, [r0, #24]
    \pair
    ldr     r7, [r0, #32]
    \single
    \tail
    bne     10b
    b       30f
    .endif
20:                                     /* any count: r0 walks the table's pairs */
    bic     r3, r3, #1
    add     r3, r0, r3, lsl #2
    str     r3, [sp, #TQ_DW_FRAME_PAIRS_END_OFF]
21:
    DW_HEAD
    ldr     r0, [sp, #TQ_DW_JOB_TAB_OFF]
    ldr     r12, [sp, #TQ_DW_FRAME_PAIRS_END_OFF]
    cmp     r0, r12
    beq     23f
22:
    ldrd    r7, r8, [r0], #8
    \pair
    ldr     r12, [sp, #TQ_DW_FRAME_PAIRS_END_OFF]
    cmp     r0, r12
    bne     22b
23:
    ldr     r12, [sp, #TQ_DW_JOB_TAPS_OFF]
    tst     r12, #1
    beq     24f
    ldr     r7, [r0]
    \single
24:
    \tail
    bne     21b
30:
    add     sp, sp, #TQ_DW_FRAME_SIZE
    pop     {r4-r11, pc}
    .size   \name, . - \name
    .endm

    DW_FUNC tq_dw_pixel_dsp, DW_PAIR_S8, DW_SINGLE_S8
#if TQ_CFG_DW_WIDE
    DW_FUNC tq_dw_pixel_wide_dsp, DW_PAIR_WIDE, DW_SINGLE_WIDE
#endif
#if TQ_CFG_REQUANT_GEN
    DW_FUNC tq_dw_pixel_gen_dsp, DW_PAIR_S8, DW_SINGLE_S8, DW_TAIL_GEN, 0
#endif
#if TQ_CFG_REQUANT_GEN && TQ_CFG_DW_WIDE
    DW_FUNC tq_dw_pixel_gen_wide_dsp, DW_PAIR_WIDE, DW_SINGLE_WIDE, DW_TAIL_GEN, 0
#endif

#endif
