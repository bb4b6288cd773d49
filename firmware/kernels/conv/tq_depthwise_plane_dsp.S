/*
 * The plane depthwise kernel's 3x3 windows in assembler, for cores with the DSP extension and
 * without Helium (Cortex-M4, M7, M33): tq_dwp_band3_dsp computes one output channel over a band of
 * output rows (tq_depthwise_conv_plane_s8.c) from the band's padded input rows, requantized with
 * tq_requant_mm. Outputs go in pairs: a tap row of a pair is one word x0 x1 x2 x3 (stride 1;
 * stride 2 adds the byte x4), SXTB16 gives (x0, x2) and (x1, x3), so SMLAD with (w0, w2) and
 * SMLABB / SMLATB with w1 do the row's three taps of both outputs in seven instructions (nine at
 * stride 2). The two outputs are clamped together (SSUB8 / SEL) and stored out.c bytes apart. An odd
 * row width ends with its last output alone (five instructions a tap row: the word, SXTB16 twice,
 * SMLAD and one SMLABB / SMLABT).
 *
 * Registers: r0 r1 r2 the tap rows, r3 out, r4 r5 r6 (w0, w2) of tap rows 0 1 2, r7 (w1 of row 0,
 * w1 of row 1), r8 w1 of row 2 (scratch while requantizing, then reloaded), r9 r10 the sums,
 * r11 r12 lr scratch. The job (tq_dwp_job, 20 words) is copied to the stack at entry, the word
 * after it holds the current row's end of pairs:
 *   [0] in (tap row 0 of output row 0)  [4] row_w  [8] in_step (stride_h row_w)  [12] out
 *   [16] out_row  [20] rows  [24] 2 pairs out.c  [28] odd  [32] out.c  [36] [40] [44] (w0, w2) of
 *   tap rows 0 1 2  [48] (w1 row 0, w1 row 1)  [52] w1 row 2  [56] bias  [60] mult  [64] radd
 *   [68] rsh  [72] lo4  [76] hi4  [80] end  (and [84] unused: the frame stays 8-byte aligned)
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_dsp_asm.h"

    .syntax unified
    .thumb
    .text

/* Both sums requantized, clamped and stored; then out += 2 out.c and the flags of out == end. */
    .macro  DWP_OUT2
    ldrd    r11, r12, [sp, #60]         /* mult, radd */
    ldr     lr, [sp, #68]               /* rsh */
    TQ_REQUANT r9, r11, r12, lr, r8
    TQ_REQUANT r10, r11, r12, lr, r8
    bfi     r9, r10, #8, #8
    ldrd    r11, r12, [sp, #72]         /* lo4, hi4 */
    ssub8   r8, r9, r11
    sel     r9, r9, r11
    ssub8   r8, r12, r9
    sel     r9, r9, r12
    ldr     r11, [sp, #32]              /* out.c */
    strb    r9, [r3]
    lsr     r9, r9, #8
    strb    r9, [r3, r11]
    add     r3, r3, r11, lsl #1
    ldr     r8, [sp, #52]
    ldr     r11, [sp, #80]
    cmp     r3, r11
    .endm

/* One tap row at stride 1: word at \row (then \row += 2), (w0, w2) in \w02, w1 by \lo (b or t of
   \w1) for the first output and \hi for the second. */
    .macro  DWP_ROW1 row, w02, w1, lo, hi
    ldr     r11, [\row], #2
    sxtb16  r12, r11                    /* (x0, x2) */
    sxtb16  r11, r11, ror #8            /* (x1, x3) */
    smlad   r9, r12, \w02, r9
    smla\lo r9, r11, \w1, r9            /* x1 w1 */
    smlad   r10, r11, \w02, r10         /* x1 w0 + x3 w2 */
    smla\hi r10, r12, \w1, r10          /* x2 w1 */
    .endm

/* One tap row at stride 2: x0..x3 and x4 at \row (then \row += 4). */
    .macro  DWP_ROW2 row, w02, w1, lo, hi
    ldrsb   lr, [\row, #4]
    ldr     r11, [\row], #4
    sxtb16  r12, r11                    /* (x0, x2) */
    sxtb16  r11, r11, ror #8            /* (x1, x3) */
    smlad   r9, r12, \w02, r9           /* x0 w0 + x2 w2 */
    smla\lo r9, r11, \w1, r9            /* x1 w1 */
    smlatb  r10, r12, \w02, r10         /* x2 w0 */
    smla\hi r10, r11, \w1, r10          /* x3 w1 */
    smlabt  r10, lr, \w02, r10          /* x4 w2 */
    .endm

/* A lone output (a row's last where out.w is odd) from the window at r0 r1 r2, stored at r3: one tap
   row's word at \row, (w0, w2) in \w02, w1 by \lo of \w1. */
    .macro  DWP_TAP1 row, w02, w1, lo
    ldr     r11, [\row]
    sxtb16  r12, r11                    /* (x0, x2) */
    sxtb16  r11, r11, ror #8            /* (x1, x3) */
    smlad   r9, r12, \w02, r9
    smla\lo r9, r11, \w1, r9            /* x1 w1 */
    .endm

    .macro  DWP_ONE
    ldr     r9, [sp, #56]               /* bias */
    DWP_TAP1 r0, r4, r7, bb
    DWP_TAP1 r1, r5, r7, bt
    DWP_TAP1 r2, r6, r8, bb
    ldrd    r11, r12, [sp, #60]         /* mult, radd */
    ldr     lr, [sp, #68]               /* rsh */
    TQ_REQUANT r9, r11, r12, lr, r10
    ldrd    r11, r12, [sp, #72]         /* lo4, hi4 */
    ssub8   r10, r9, r11
    sel     r9, r9, r11
    ssub8   r10, r12, r9
    sel     r9, r9, r12
    strb    r9, [r3]
    .endm

/* The band's rows at stride \s. */
    .macro  DWP_BAND s
1:                                      /* a row: its tap rows, out, end of pairs */
    ldrd    r0, r12, [sp, #0]           /* in, row_w */
    add     r1, r0, r12
    add     r2, r1, r12
    ldr     r3, [sp, #12]
    ldr     r11, [sp, #24]              /* 2 pairs out.c */
    add     r11, r3, r11
    str     r11, [sp, #80]
2:                                      /* a pair */
    ldr     r9, [sp, #56]
    mov     r10, r9
    .if \s == 1
    DWP_ROW1 r0, r4, r7, bb, tb
    DWP_ROW1 r1, r5, r7, bt, tt
    DWP_ROW1 r2, r6, r8, bb, tb
    .else
    DWP_ROW2 r0, r4, r7, bb, tb
    DWP_ROW2 r1, r5, r7, bt, tt
    DWP_ROW2 r2, r6, r8, bb, tb
    .endif
    DWP_OUT2
    bne     2b
    ldr     r12, [sp, #28]              /* odd */
    cmp     r12, #0
    beq     3f
    DWP_ONE                             /* the odd width's last output */
3:                                      /* the next row */
    ldr     r11, [sp, #0]
    ldr     r12, [sp, #8]
    add     r11, r11, r12
    str     r11, [sp, #0]
    ldrd    r11, r12, [sp, #12]         /* out, out_row */
    add     r11, r11, r12
    str     r11, [sp, #12]
    ldr     r11, [sp, #20]
    subs    r11, r11, #1
    str     r11, [sp, #20]
    bne     1b
    .endm

/* void tq_dwp_band3_dsp(const tq_dwp_job *job, int32_t stride): rows >= 1, at least one pair a row */
    .section .text.tq_dwp_band3_dsp, "ax", %progbits
    .p2align 2
    .global tq_dwp_band3_dsp
    .type   tq_dwp_band3_dsp, %function
    .thumb_func
tq_dwp_band3_dsp:
    push    {r4-r11, lr}
    sub     sp, sp, #88
    mov     lr, r1
    ldm     r0!, {r1-r10}
    stm     sp, {r1-r10}
    ldm     r0, {r1-r10}
    add     r12, sp, #40
    stm     r12, {r1-r10}
    add     r12, sp, #36
    ldm     r12, {r4-r8}
    cmp     lr, #1
    bne     20f
    DWP_BAND 1
    b       30f
20:
    DWP_BAND 2
30:
    add     sp, sp, #88
    pop     {r4-r11, pc}
    .size   tq_dwp_band3_dsp, . - tq_dwp_band3_dsp

#endif
