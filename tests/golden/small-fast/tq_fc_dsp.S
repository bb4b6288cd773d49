/*
 * FULLY_CONNECTED's row loop in assembler, for cores with the DSP extension and without Helium
 * (Cortex-M4, M7, M33): tq_fc_quads_dsp (tq_fc_dsp.h), called by tq_fully_connected_fast_s8.c.
 *
 * The weights are stored four rows at a time (per 4 of depth, one word of each row: one LDM); the
 * input word, read once for the four rows, is extended to (x0, x2), (x1, x3). Per 4 of depth and
 * 4 rows (16 MACs): LDR + LDM + 10 SXTB16 + 8 SMLAD = 20 instructions, unrolled four times and
 * entered part way, at an address computed once a call. (Extending the row to int16 once per call
 * saves 2 of the 20, 11% on the loop, for 2 bytes of arena per input value, which the planner would
 * have to weigh; not done.) The same shape as tq_gemm_dsp.S's loop (which holds two rows and two
 * columns: the two could share one file with a step macro each).
 *
 * Registers in the loop: r0 input pointer, r1 weight pointer, r2 input end, r3..r6 the four rows'
 * sums, r7 r8 the input words, r9..r12 the weight words, lr scratch.
 * The job (tq_fc_job), 11 words, is copied to the stack at entry (offsets in tq_fc_dsp.h) and
 * [44] holds the loop's entry address, [48] the count of suspects (TQ_FC_REQUANT), returned.
 * Requantization per row: rnd (2^(S-1) + out_offset * 2^S, 64 bits) + sum * mult, its high word
 * shifted right by t = S - 32 (SMLAL, ASR), then SSAT #8;
 * the four bytes clamped at once (SSUB8 / SEL) with flag TQ_FC_CLAMP and stored as one word.
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_fc_dsp.h"
#include "tq_features.h" /* TQ_CFG_FC_GUARD: the guarded requantization compiled in */

    .syntax unified
    .thumb

/* One 4 of depth of four rows: the input word extended to (x0, x2), (x1, x3). */
    .macro  TQ_FC_STEP
    ldr     r7, [r0], #4
    ldm     r1!, {r9, r10, r11, r12}
    sxtb16  r8, r7, ror #8
    sxtb16  r7, r7
    sxtb16  lr, r9
    sxtb16  r9, r9, ror #8
    smlad   r3, lr, r7, r3
    smlad   r3, r9, r8, r3
    sxtb16  lr, r10
    sxtb16  r10, r10, ror #8
    smlad   r4, lr, r7, r4
    smlad   r4, r10, r8, r4
    sxtb16  lr, r11
    sxtb16  r11, r11, ror #8
    smlad   r5, lr, r7, r5
    smlad   r5, r11, r8, r5
    sxtb16  lr, r12
    sxtb16  r12, r12, ror #8
    smlad   r6, lr, r7, r6
    smlad   r6, r12, r8, r6
    .endm

/* Row \a's sum requantized with its constants at lr (walked): mult, t (low byte; ASR reads only
   that), rnd low, rnd high. \guarded: t's word holds guard << 8 too, and a sum whose low S = 32 + t
   bits of rnd + sum * mult lie within the guard of a rounding boundary ((that + guard) mod 2^S
   < 2 guard: the low word below 2 guard, the high word's low t bits 0) is counted as a suspect. */
    .macro  TQ_FC_REQUANT a, guarded
    ldm     lr!, {r7, r8, r9, r10}
    smlal   r9, r10, \a, r7
    .if \guarded
    lsr     r11, r8, #8
    adds    r0, r9, r11
    adc     r2, r10, #0
    cmp     r0, r11, lsl #1
    bhs     .Lfc_ok\@
    rsb     r0, r8, #32                 /* 32 - t in the low byte: LSL reads only that */
    lsls    r2, r2, r0
    bne     .Lfc_ok\@
    ldr     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    add     r0, r0, #1
    str     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
.Lfc_ok\@:
    .endif
    asr     \a, r10, r8
    ssat    \a, #8, \a
    .endm

/* The depth loop, unrolled four times, entered at the address TQ_FC_ENTRY kept in the frame. */
    .macro  TQ_FC_LOOP name
.L\name\()_round:
    TQ_FC_STEP
.L\name\()_r1:
    TQ_FC_STEP
.L\name\()_r2:
    TQ_FC_STEP
.L\name\()_r3:
    TQ_FC_STEP
    cmp     r0, r2
    bne     .L\name\()_round
    .endm

/* Where the loop \name is entered for the count of 4s modulo 4 (the same for every quad): r7 the
   input's bytes, \lg log2 of the bytes per 4 of depth. */
    .macro  TQ_FC_ENTRY name, lg
    ubfx    r7, r7, #\lg, #2
    adr     r8, .L\name\()_entry
    ldrb    r7, [r8, r7]
    adr     r8, .L\name\()_round
    add     r8, r8, r7, lsl #1
    orr     r8, r8, #1
    str     r8, [sp, #TQ_FC_FRAME_ENTRY_OFF]
    .endm

    .macro  TQ_FC_ENTRY_TABLE name
.L\name\()_entry:
    .byte   0, (.L\name\()_r3 - .L\name\()_round) / 2, (.L\name\()_r2 - .L\name\()_round) / 2
    .byte   (.L\name\()_r1 - .L\name\()_round) / 2
    .p2align 1
    .endm

    .section .text.tq_fc_quads_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_quads_dsp
    .type   tq_fc_quads_dsp, %function
    .thumb_func
tq_fc_quads_dsp:
    push    {r4-r11, lr}
    sub     sp, sp, #TQ_FC_FRAME_SIZE
    ldm     r0, {r1-r11}
    stm     sp, {r1-r11}
    mov     r7, #0
    str     r7, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    sub     r7, r2, r1
    TQ_FC_ENTRY fc, 2
    ldr     r1, [sp, #TQ_FC_JOB_W_OFF]
3:
    ldr     r12, [sp, #TQ_FC_JOB_BIAS_OFF]
    ldm     r12!, {r3, r4, r5, r6}
    str     r12, [sp, #TQ_FC_JOB_BIAS_OFF]
    ldr     r7, [sp, #TQ_FC_JOB_ADD_OFF]
    add     r3, r3, r7
    add     r4, r4, r7
    add     r5, r5, r7
    add     r6, r6, r7
    ldrd    r0, r2, [sp, #TQ_FC_JOB_X_OFF]
    ldr     pc, [sp, #TQ_FC_FRAME_ENTRY_OFF]
    TQ_FC_LOOP fc
4:
    ldr     lr, [sp, #TQ_FC_JOB_Q_OFF]
    ldr     r12, [sp, #TQ_FC_JOB_OUT_OFF]
    cmp     lr, #0
    beq     8f
#if TQ_CFG_FC_GUARD
    ldr     r7, [sp, #TQ_FC_JOB_FLAGS_OFF]
    tst     r7, #TQ_FC_GUARDED
    bne     9f
#endif
    TQ_FC_REQUANT r3, 0
    TQ_FC_REQUANT r4, 0
    TQ_FC_REQUANT r5, 0
    TQ_FC_REQUANT r6, 0
5:
    str     lr, [sp, #TQ_FC_JOB_Q_OFF]
    bfi     r3, r4, #8, #8
    bfi     r3, r5, #16, #8
    bfi     r3, r6, #24, #8
    ldr     r7, [sp, #TQ_FC_JOB_FLAGS_OFF]
    tst     r7, #TQ_FC_CLAMP
    beq     6f
    ldrd    r9, r10, [sp, #TQ_FC_JOB_LO4_OFF]
    ssub8   r11, r3, r9
    sel     r3, r3, r9
    ssub8   r11, r10, r3
    sel     r3, r3, r10
6:
    str     r3, [r12], #4
7:
    str     r12, [sp, #TQ_FC_JOB_OUT_OFF]
    ldr     r7, [sp, #TQ_FC_JOB_BIAS_OFF]
    ldr     r8, [sp, #TQ_FC_JOB_BIAS_END_OFF]
    cmp     r7, r8
    bne     3b
    ldr     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    add     sp, sp, #TQ_FC_FRAME_SIZE
    pop     {r4-r11, pc}
8:                                      /* no constants: the four sums as words */
    stm     r12!, {r3, r4, r5, r6}
    b       7b
#if TQ_CFG_FC_GUARD
9:                                      /* guarded: suspects counted */
    TQ_FC_REQUANT r3, 1
    TQ_FC_REQUANT r4, 1
    TQ_FC_REQUANT r5, 1
    TQ_FC_REQUANT r6, 1
    b       5b
#endif
    TQ_FC_ENTRY_TABLE fc
    .size   tq_fc_quads_dsp, . - tq_fc_quads_dsp

#endif
