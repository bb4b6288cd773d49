/*
 * FULLY_CONNECTED's row loop in assembler, for cores with the DSP extension and without Helium
 * (Cortex-M4, M7, M33): tq_fc_quads_dsp, tq_fc_prep_dsp, tq_fc_sums_dsp (tq_fc_dsp.h), called by
 * tq_fully_connected_fast_s8.c.
 *
 * The weights are stored four rows at a time (per 4 of depth, one word of each row: one LDM), each
 * word's bytes for depth 0..3 as (u1, w0, u3, w2), u = w + 128 (unsigned). A weight word W taken as
 * two signed halfwords is then (256 w0 + u1, 256 w2 + u3), and UXTB16 W is (u1, u3): with the
 * input's operands X = (x0', x2') and Y = (256 x1' - x0', 256 x3' - x2') (x0' = x0 + 129,
 * x1' = x1 + 1: Y is the input word with its even bytes XOR 0x7F, X is SXTAB16 of it onto 129),
 * SMLAD W, X plus SMLAD (UXTB16 W), Y is 256 (w0 x0' + u1 x1' + w2 x2' + u3 x3'): 3 instructions
 * per weight word, no sign extension. The sum is 256 times the dot product, so it runs in chunks
 * of at most TQ_FC_CHUNK of depth (|dot| < 2^23 for any bytes), each added into the quad's sums
 * (ASR 8). The operands come from tq_fc_prep_dsp's words in the caller's scratch (TQ_FC_PREP: per
 * 4 of depth and 4 rows, 16 MACs, LDM + LDM + 4 UXTB16 + 8 SMLAD = 14 instructions) or, without
 * scratch, from the input word in the loop (LDR, SXTAB16, EOR: 16). Unrolled four times and entered
 * part way, at an address computed once a call.
 *
 * Registers in the loop: r0 input pointer, r1 weight pointer, r2 the chunk's end, r3..r6 the four
 * rows' sums, r7 Y, r8 X, r9..r12 the weight words, lr 0x00810081 (in-loop operands).
 * The job (tq_fc_job), 11 words, is copied to the stack at entry (offsets in tq_fc_dsp.h); the
 * frame holds the loop's entry address, the count of suspects (TQ_FC_REQUANT), the quad's start,
 * the input's end (x_end's slot holds the first chunk's), the sums between chunks and the job's
 * address. A quad with suspects is the last one done: the count of quads done is returned.
 * Requantization per row: rnd (2^(S-1) + out_offset * 2^S, 64 bits) + sum * mult, its high word
 * shifted right by t = S - 32 (SMLAL, ASR), then SSAT #8;
 * the four bytes clamped at once (SSUB8 / SEL) with flag TQ_FC_CLAMP and stored as one word.
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_fc_dsp.h"
#include "tq_features.h" /* TQ_CFG_FC_GUARD, TQ_CFG_FC_PREP, TQ_CFG_FC_INLINE: what is compiled in */

#if TQ_FC_CHUNK != 256
#error "tq_fc_dsp.S's chunks are 256 bytes of input (512 of operands): TQ_FC_CHUNK 256"
#endif

    .syntax unified
    .thumb

/* Row \a's two halfword products: weight word \w with the operands r8 (X) and \y (Y). */
    .macro  TQ_FC_ROW a, w, y
    smlad   \a, \w, r8, \a
    uxtb16  \w, \w
    smlad   \a, \w, \y, \a
    .endm

/* One 4 of depth of four rows from tq_fc_prep_dsp's two words, Y then X. */
    .macro  TQ_FC_STEP_PREP
    ldm     r0!, {r7, r8}
    ldm     r1!, {r9, r10, r11, r12}
    TQ_FC_ROW r3, r9, r7
    TQ_FC_ROW r4, r10, r7
    TQ_FC_ROW r5, r11, r7
    TQ_FC_ROW r6, r12, r7
    .endm

/* One 4 of depth of four rows from the input word (the operands made here; lr 0x00810081). */
    .macro  TQ_FC_STEP_INLINE
    ldr     r7, [r0], #4
    ldm     r1!, {r9, r10, r11, r12}
    sxtab16 r8, lr, r7
    eor     r7, r7, #0x007F007F
    TQ_FC_ROW r3, r9, r7
    TQ_FC_ROW r4, r10, r7
    TQ_FC_ROW r5, r11, r7
    TQ_FC_ROW r6, r12, r7
    .endm

/* Row \a's sum requantized with its constants at lr (walked): mult, t (low byte; ASR reads only
   that), rnd low, rnd high. \guarded: t's word holds (guard / 4) << 8 too (t < 64: the word >> 6 is
   the guard), and a sum whose low S = 32 + t
   bits of rnd + sum * mult lie within the guard of a rounding boundary ((that + guard) mod 2^S
   < 2 guard: the low word below 2 guard, the high word's low t bits 0) is counted as a suspect. */
    .macro  TQ_FC_REQUANT a, guarded
    ldm     lr!, {r7, r8, r9, r10}
    smlal   r9, r10, \a, r7
    .if \guarded
    lsr     r11, r8, #6
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

/* A quad's start: its sums (bias + add) kept in the frame, r3..r6 zero, the first chunk entered. */
    .macro  TQ_FC_QUAD_START
    ldr     r12, [sp, #TQ_FC_JOB_BIAS_OFF]
    ldm     r12!, {r7, r8, r9, r10}
    str     r12, [sp, #TQ_FC_JOB_BIAS_OFF]
    ldr     r11, [sp, #TQ_FC_JOB_ADD_OFF]
    add     r7, r7, r11
    add     r8, r8, r11
    add     r9, r9, r11
    add     r10, r10, r11
    add     r12, sp, #TQ_FC_FRAME_SUMS_OFF
    stm     r12, {r7, r8, r9, r10}
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0
    mov     r6, #0
    ldrd    r0, r2, [sp, #TQ_FC_JOB_X_OFF]
    ldr     pc, [sp, #TQ_FC_FRAME_ENTRY_OFF]
    .endm

/* The depth loop \name (step macro \step), unrolled four times, entered at the address
   TQ_FC_ENTRY kept in the frame; at a chunk's end the sums / 256 added to the frame's, and the next
   chunk (\chunk bytes of input) run, or at the input's end the sums in r3..r6 to requantization. */
    .macro  TQ_FC_LOOP name, step, chunk
.L\name\()_round:
    \step
.L\name\()_r1:
    \step
.L\name\()_r2:
    \step
.L\name\()_r3:
    \step
    cmp     r0, r2
    bne     .L\name\()_round
    add     r12, sp, #TQ_FC_FRAME_SUMS_OFF
    ldm     r12, {r7, r8, r9, r10}
    add     r3, r7, r3, asr #8
    add     r4, r8, r4, asr #8
    add     r5, r9, r5, asr #8
    add     r6, r10, r6, asr #8
    ldr     r7, [sp, #TQ_FC_FRAME_END_OFF]
    cmp     r0, r7
    beq     4f
    stm     r12, {r3, r4, r5, r6}
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0
    mov     r6, #0
    add     r2, r0, #\chunk
    b       .L\name\()_round
    .endm

/* The loop \name's first chunk (the input's bytes r7 less whole chunks of 1 << \lgc bytes, 1 << \lg
   bytes per 4 of depth) and its entry for its count of 4s modulo 4, and the quad's start \quad, kept in
   the frame; r1 the input. */
    .macro  TQ_FC_ENTRY name, lg, lgc, quad
    sub     r8, r7, #(1 << \lg)
    ubfx    r8, r8, #0, #\lgc
    add     r8, r8, #(1 << \lg)
    add     r8, r8, r1
    str     r8, [sp, #TQ_FC_JOB_X_END_OFF]
    ubfx    r7, r7, #\lg, #2
    adr     r8, .L\name\()_entry
    ldrb    r7, [r8, r7]
    adr     r8, .L\name\()_round
    add     r8, r8, r7, lsl #1
    orr     r8, r8, #1
    str     r8, [sp, #TQ_FC_FRAME_ENTRY_OFF]
    adr     r8, \quad
    orr     r8, r8, #1
    str     r8, [sp, #TQ_FC_FRAME_QUAD_OFF]
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
    str     r0, [sp, #TQ_FC_FRAME_JOB_OFF]
    ldm     r0, {r1-r11}
    stm     sp, {r1-r11}
    mov     r7, #0
    str     r7, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    str     r2, [sp, #TQ_FC_FRAME_END_OFF]
    sub     r7, r2, r1                  /* the input's bytes */
#if TQ_CFG_FC_PREP && TQ_CFG_FC_INLINE
    tst     r11, #TQ_FC_PREP
    beq     1f
#endif
#if TQ_CFG_FC_PREP
    TQ_FC_ENTRY fcp, 3, 9, .Lfcp_quad
#endif
#if TQ_CFG_FC_PREP && TQ_CFG_FC_INLINE
    b       2f
1:
#endif
#if TQ_CFG_FC_INLINE
    TQ_FC_ENTRY fci, 2, 8, .Lfci_quad
#endif
2:
    ldr     r1, [sp, #TQ_FC_JOB_W_OFF]
    ldr     pc, [sp, #TQ_FC_FRAME_QUAD_OFF]
#if TQ_CFG_FC_PREP
    .p2align 2
.Lfcp_quad:
    TQ_FC_QUAD_START
    TQ_FC_LOOP fcp, TQ_FC_STEP_PREP, 512
#endif
#if TQ_CFG_FC_INLINE
    .p2align 2
.Lfci_quad:
    mov     lr, #0x00810081
    TQ_FC_QUAD_START
    TQ_FC_LOOP fci, TQ_FC_STEP_INLINE, 256
#endif
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
    it      ne
    ldrne   pc, [sp, #TQ_FC_FRAME_QUAD_OFF]
    ldr     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    cbz     r0, 3f
    ldr     r1, [sp, #TQ_FC_FRAME_JOB_OFF]  /* suspects: the quads done, the last one theirs */
    ldr     r1, [r1, #TQ_FC_JOB_BIAS_OFF]
    ldr     r0, [sp, #TQ_FC_JOB_BIAS_OFF]
    sub     r0, r0, r1
    lsr     r0, r0, #4
3:
    add     sp, sp, #TQ_FC_FRAME_SIZE
    pop     {r4-r11, pc}
8:                                      /* no constants: the four sums as words */
    stm     r12!, {r3, r4, r5, r6}
    b       7b
#if TQ_CFG_FC_GUARD
9:                                      /* guarded: suspects counted; the last quad if any */
    TQ_FC_REQUANT r3, 1
    TQ_FC_REQUANT r4, 1
    TQ_FC_REQUANT r5, 1
    TQ_FC_REQUANT r6, 1
    ldr     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    cmp     r0, #0
    beq     5b
    ldr     r0, [sp, #TQ_FC_JOB_BIAS_OFF]
    str     r0, [sp, #TQ_FC_JOB_BIAS_END_OFF]
    b       5b
#endif
#if TQ_CFG_FC_PREP
    TQ_FC_ENTRY_TABLE fcp
#endif
#if TQ_CFG_FC_INLINE
    TQ_FC_ENTRY_TABLE fci
#endif
    .size   tq_fc_quads_dsp, . - tq_fc_quads_dsp

#if TQ_CFG_FC_PREP
/* r0 x, r1 words (> 0), r2 out, r3 sums. */
    .section .text.tq_fc_prep_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_prep_dsp
    .type   tq_fc_prep_dsp, %function
    .thumb_func
tq_fc_prep_dsp:
    push    {r4-r9, lr}
    mov     r4, #0
    mov     r5, #0
    mov     r6, #0x00810081
    mov     r7, #0x00010001
1:
    ldr     r8, [r0], #4
    sxtab16 r9, r6, r8
    eor     r8, r8, #0x007F007F
    stm     r2!, {r8, r9}
    smlad   r4, r8, r7, r4
    smlad   r5, r9, r7, r5
    subs    r1, r1, #1
    bne     1b
    strd    r4, r5, [r3]
    pop     {r4-r9, pc}
    .size   tq_fc_prep_dsp, . - tq_fc_prep_dsp
#endif

#if TQ_CFG_FC_INLINE
/* r0 x, r1 words (> 0), r2 sums. Chunks of at most 256 words: each byte added into a halfword lane
   (SXTAB16, the odd bytes rotated in), the even bytes' lanes in r6 and the odd ones' in r7, which
   256 words of int8 cannot overflow (-32768 .. 32512); at a chunk's end the lanes are summed (SMLAD
   by 0x00010001) into r3 (even) and r4 (odd). Four words a step: 11 instructions. */
    .section .text.tq_fc_sums_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_sums_dsp
    .type   tq_fc_sums_dsp, %function
    .thumb_func
tq_fc_sums_dsp:
    push    {r4-r10, lr}
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0x00010001
1:
    cmp     r1, #256
    ite     hi
    movhi   r12, #256
    movls   r12, r1
    sub     r1, r1, r12
    mov     r6, #0
    mov     r7, #0
    ands    lr, r12, #3
    beq     3f
2:
    ldr     r8, [r0], #4
    sxtab16 r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    subs    lr, lr, #1
    bne     2b
3:
    lsrs    r12, r12, #2
    beq     5f
4:
    ldm     r0!, {r8, r9, r10, lr}
    sxtab16 r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    sxtab16 r6, r6, r9
    sxtab16 r7, r7, r9, ror #8
    sxtab16 r6, r6, r10
    sxtab16 r7, r7, r10, ror #8
    sxtab16 r6, r6, lr
    sxtab16 r7, r7, lr, ror #8
    subs    r12, r12, #1
    bne     4b
5:
    smlad   r3, r6, r5, r3
    smlad   r4, r7, r5, r4
    cmp     r1, #0
    bne     1b
    strd    r3, r4, [r2]
    pop     {r4-r10, pc}
    .size   tq_fc_sums_dsp, . - tq_fc_sums_dsp
#endif

#endif
