/*
 * FULLY_CONNECTED's row loop in assembler, for cores with the DSP extension and without Helium
 * (Cortex-M4, M7, M33): tq_fc_quads_dsp, tq_fc_prep_dsp, tq_fc_sums_dsp, tq_fc_flip_dsp,
 * tq_fc_flip_odd_dsp, tq_fc_zsums_dsp, tq_fc_row1_dsp and, for int16 weights, tq_fc_wide_dsp
 * (tq_fc_dsp.h), called by tq_fully_connected_fast_s8.c.
 *
 * The weights are stored four rows at a time (per 4 of depth, one word of each row: one LDM), each
 * word's bytes for depth 0..3 as (w3 + 128, w2, w1 + 128, w0) (0 past the depth). Taken as two
 * signed halfwords W is (H0, H1) = (256 w2 + u3, 256 w0 + u1), u = w + 128, and UXTB16 of W rotated
 * by 16 is E = (u1, u3). The input word x is made into Z = x ^ 0xFF80007F (bytes 127 - x0, x1,
 * x2 + 128, ~x3: halfwords Z0 = 256 x1 + 127 - x0, Z1 = 256 (-1 - x3) + x2 + 128) and P = UXTB16 Z
 * = (127 - x0, x2 + 128). SMLSDX W, P (H0 P1 - H1 P0) plus SMLSD E, Z (E0 Z0 - E1 Z1) is
 * 256 (w2 (x2 + 128) - w0 (127 - x0) + u1 x1 + u3 (1 + x3)) = 256 (dot + 128 (x1 + x3) + a row's
 * constant): 3 instructions per weight word, no sign extension, any bytes (-128 included). The sum
 * is 256 times that, so it runs in chunks of depth whose sums stay within int32 (ASR 8 then exact),
 * each added into the quad's sums: TQ_FC_CHUNK for any bytes (each term below 2^15 in magnitude), or
 * the layer's own power of two, found from its weights at generation (flags TQ_FC_CHUNK_SHIFT). The operands come
 *   - TQ_FC_PREP: from tq_fc_prep_dsp's words (Z, P) in the caller's scratch: per 4 of depth and 4
 *     rows, 16 MACs, LDM + LDM + 4 UXTB16 + 8 SMLSD(X) = 14 instructions;
 *   - TQ_FC_FLIP: from the input made into Z in place by tq_fc_flip_dsp (the input dies with the
 *     layer): per 8 of depth LDM of two Z words, UXTB16 twice, 2 x 12 for the rows, 2 LDM of
 *     weights: 29 instructions per 32 MACs (word-aligned input);
 *   - else from the input word in the loop (LDR, EOR with lr, UXTB16: 16 per 16 MACs).
 * Unrolled four times (in place: eight) and entered part way, at an address computed once a call.
 *
 * Registers in the loop: r0 input pointer, r1 weight pointer, r2 the chunk's end, r3..r6 the four
 * rows' sums, r7 (r8) Z, r8 (lr) P, r9..r12 the weight words, lr 0xFF80007F (in-loop operands).
 * The job (tq_fc_job), 11 words, is copied to the stack at entry (offsets in tq_fc_dsp.h); the
 * frame holds the loop's entry address, the count of suspects (TQ_FC_REQUANT), the quad's start,
 * the input's end (x_end's slot holds the first chunk's), the sums between chunks and the job's
 * address, and the chunks' bytes. A quad with suspects is the last one done: the count of quads done
 * is returned. The loops read the row's k bytes (k the depth rounded up to 4 or 8): up to 7 bytes past
 * it, which weights 0 multiply to 0 and which generation keeps inside the arena (passes._fc_read_past).
 * Requantization per row (none with flag TQ_FC_RAW: the four sums stored as words): rnd (2^(S-1) +
 * out_offset * 2^S, 64 bits) + sum * mult, its high word
 * shifted right by t = S - 32 (SMLAL, ASR), then SSAT #8;
 * the four bytes clamped at once (SSUB8 / SEL) with flag TQ_FC_CLAMP and stored as one word.
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_fc_dsp.h"
#include "tq_features.h" /* TQ_CFG_FC_GUARD, _PREP, _INLINE, _FLIP, _ROW1, _WIDE: what is compiled in */

#if TQ_FC_CHUNK != 256
#error "tq_fc_dsp.S's chunks are at least 256 bytes of input (512 of operands): TQ_FC_CHUNK 256"
#endif

    .syntax unified
    .thumb

/* Row \a's products: weight word \w with the operands \p (P) and \z (Z). */
    .macro  TQ_FC_ROW a, w, p, z
    smlsdx  \a, \w, \p, \a
    uxtb16  \w, \w, ror #16
    smlsd   \a, \w, \z, \a
    .endm

/* One 4 of depth of four rows from tq_fc_prep_dsp's two words, Z then P. */
    .macro  TQ_FC_STEP_PREP
    ldm     r0!, {r7, r8}
    ldm     r1!, {r9, r10, r11, r12}
    TQ_FC_ROW r3, r9, r8, r7
    TQ_FC_ROW r4, r10, r8, r7
    TQ_FC_ROW r5, r11, r8, r7
    TQ_FC_ROW r6, r12, r8, r7
    .endm

/* One 4 of depth of four rows from the input word (the operands made here; lr 0xFF80007F). */
    .macro  TQ_FC_STEP_INLINE
    ldr     r7, [r0], #4
    ldm     r1!, {r9, r10, r11, r12}
    eor     r7, r7, lr
    uxtb16  r8, r7
    TQ_FC_ROW r3, r9, r8, r7
    TQ_FC_ROW r4, r10, r8, r7
    TQ_FC_ROW r5, r11, r8, r7
    TQ_FC_ROW r6, r12, r8, r7
    .endm

/* Two 4s of depth of four rows from the input made into Z words in place (word-aligned). */
    .macro  TQ_FC_STEP_FLIP
    ldm     r0!, {r7, r8}
    ldm     r1!, {r9, r10, r11, r12}
    uxtb16  lr, r7
    TQ_FC_ROW r3, r9, lr, r7
    TQ_FC_ROW r4, r10, lr, r7
    TQ_FC_ROW r5, r11, lr, r7
    TQ_FC_ROW r6, r12, lr, r7
    ldm     r1!, {r9, r10, r11, r12}
    uxtb16  lr, r8
    TQ_FC_ROW r3, r9, lr, r8
    TQ_FC_ROW r4, r10, lr, r8
    TQ_FC_ROW r5, r11, lr, r8
    TQ_FC_ROW r6, r12, lr, r8
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

/* The depth loop \name (step macro \step), unrolled \n times, entered at the address
   TQ_FC_ENTRY kept in the frame; at a chunk's end the sums / 256 added to the frame's, and the next
   chunk (the frame's bytes) run, or at the input's end the sums in r3..r6 to requantization. */
    .macro  TQ_FC_LOOP name, step, n=4
.L\name\()_round:
    \step
    .irp    k, 1, 2, 3, 4, 5, 6, 7
    .if     \k < \n
.L\name\()_r\k:
    \step
    .endif
    .endr
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
    ldr     r2, [sp, #TQ_FC_FRAME_CHUNK_OFF]
    add     r2, r0, r2
    b       .L\name\()_round
    .endm

/* The loop \name's chunk (2^(the flags' TQ_FC_CHUNK_SHIFT field + \ops) bytes: \ops 1 where the
   operands are two bytes per input byte), its first chunk (the bytes r7 less whole chunks, 1 << \lg
   bytes a step) and its entry for its count of steps modulo 1 << \bits (the loop's unrolling; a
   chunk's steps are a multiple of it), and the quad's start \quad, kept in the frame; r1 the input,
   r11 the flags. */
    .macro  TQ_FC_ENTRY name, lg, ops, quad, bits=2
    ubfx    r9, r11, #TQ_FC_CHUNK_SHIFT, #5
    mov     r10, #(1 << \ops)
    lsl     r10, r10, r9
    str     r10, [sp, #TQ_FC_FRAME_CHUNK_OFF]
    sub     r10, r10, #1
    sub     r8, r7, #(1 << \lg)
    and     r8, r8, r10
    add     r8, r8, #(1 << \lg)
    add     r8, r8, r1
    str     r8, [sp, #TQ_FC_JOB_X_END_OFF]
    ubfx    r7, r7, #\lg, #\bits
    adr     r8, .L\name\()_entry
    .if     \bits == 2
    ldrb    r7, [r8, r7]
    .else
    ldrh    r7, [r8, r7, lsl #1]
    .endif
    adr     r8, .L\name\()_round
    add     r8, r8, r7, lsl #1
    orr     r8, r8, #1
    str     r8, [sp, #TQ_FC_FRAME_ENTRY_OFF]
    adr     r8, \quad
    orr     r8, r8, #1
    str     r8, [sp, #TQ_FC_FRAME_QUAD_OFF]
    .endm

    .macro  TQ_FC_ENTRY_TABLE name, n=4
.L\name\()_entry:
    .if     \n == 4
    .byte   0, (.L\name\()_r3 - .L\name\()_round) / 2, (.L\name\()_r2 - .L\name\()_round) / 2
    .byte   (.L\name\()_r1 - .L\name\()_round) / 2
    .else
    .hword  0, (.L\name\()_r7 - .L\name\()_round) / 2, (.L\name\()_r6 - .L\name\()_round) / 2
    .hword  (.L\name\()_r5 - .L\name\()_round) / 2, (.L\name\()_r4 - .L\name\()_round) / 2
    .hword  (.L\name\()_r3 - .L\name\()_round) / 2, (.L\name\()_r2 - .L\name\()_round) / 2
    .hword  (.L\name\()_r1 - .L\name\()_round) / 2
    .endif
    .p2align 1
    .endm

/* The input-sums function \name: r0 words (word-aligned), r1 their count (> 0), r2 two sums. In chunks
   of at most \chunk words each even byte pair is added into r6's halfword lanes (\even: SXTAB16 of
   signed bytes, UXTAB16 of unsigned) and each odd pair (SXTAB16, rotated) into r7's; at a chunk's end
   the lanes are combined by \lanes with 0x00010001 (SMLAD: their sum; SMLSD: low less high) into r3
   (even) and r4 (odd). Four words a step: 11 instructions. */
    .macro  TQ_FC_SUMS name, chunk, even, lanes
    .section .text.\name, "ax", %progbits
    .p2align 2
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    push    {r4-r10, lr}
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0x00010001
1:
    cmp     r1, #\chunk
    ite     hi
    movhi   r12, #\chunk
    movls   r12, r1
    sub     r1, r1, r12
    mov     r6, #0
    mov     r7, #0
    ands    lr, r12, #3
    beq     3f
2:
    ldr     r8, [r0], #4
    \even   r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    subs    lr, lr, #1
    bne     2b
3:
    lsrs    r12, r12, #2
    beq     5f
4:
    ldm     r0!, {r8, r9, r10, lr}
    \even   r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    \even   r6, r6, r9
    sxtab16 r7, r7, r9, ror #8
    \even   r6, r6, r10
    sxtab16 r7, r7, r10, ror #8
    \even   r6, r6, lr
    sxtab16 r7, r7, lr, ror #8
    subs    r12, r12, #1
    bne     4b
5:
    \lanes   r3, r6, r5, r3
    \lanes   r4, r7, r5, r4
    cmp     r1, #0
    bne     1b
    strd    r3, r4, [r2]
    pop     {r4-r10, pc}
    .size   \name, . - \name
    .endm

#if TQ_CFG_FC_PREP || TQ_CFG_FC_FLIP || TQ_CFG_FC_INLINE /* some layer's weights are int8 */
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
#if TQ_CFG_FC_PREP && (TQ_CFG_FC_INLINE || TQ_CFG_FC_FLIP)
    tst     r11, #TQ_FC_PREP
    beq     1f
#endif
#if TQ_CFG_FC_PREP
    TQ_FC_ENTRY fcp, 3, 1, .Lfcp_quad
#endif
#if TQ_CFG_FC_PREP && (TQ_CFG_FC_INLINE || TQ_CFG_FC_FLIP)
    b       2f
1:
#endif
#if TQ_CFG_FC_FLIP && TQ_CFG_FC_INLINE
    tst     r11, #TQ_FC_FLIP
    beq     3f
#endif
#if TQ_CFG_FC_FLIP
    TQ_FC_ENTRY fcf, 3, 0, .Lfcf_quad, 3
#endif
#if TQ_CFG_FC_FLIP && TQ_CFG_FC_INLINE
    b       2f
3:
#endif
#if TQ_CFG_FC_INLINE
    TQ_FC_ENTRY fci, 2, 0, .Lfci_quad
#endif
2:
    ldr     r1, [sp, #TQ_FC_JOB_W_OFF]
    ldr     pc, [sp, #TQ_FC_FRAME_QUAD_OFF]
#if TQ_CFG_FC_PREP
    .p2align 2
.Lfcp_quad:
    TQ_FC_QUAD_START
    TQ_FC_LOOP fcp, TQ_FC_STEP_PREP
#endif
#if TQ_CFG_FC_FLIP
    .p2align 2
.Lfcf_quad:
    TQ_FC_QUAD_START
    TQ_FC_LOOP fcf, TQ_FC_STEP_FLIP, 8
#endif
#if TQ_CFG_FC_INLINE
    .p2align 2
.Lfci_quad:
    ldr     lr, .Lfc_mask
    TQ_FC_QUAD_START
    TQ_FC_LOOP fci, TQ_FC_STEP_INLINE
#endif
4:
    ldr     r11, [sp, #TQ_FC_JOB_FLAGS_OFF]  /* (kept to 5: the unguarded requantization leaves r11) */
    ldr     lr, [sp, #TQ_FC_JOB_Q_OFF]
    ldr     r12, [sp, #TQ_FC_JOB_OUT_OFF]
    tst     r11, #(TQ_FC_RAW | TQ_FC_GUARDED)
    bne     9f
    TQ_FC_REQUANT r3, 0
    TQ_FC_REQUANT r4, 0
    TQ_FC_REQUANT r5, 0
    TQ_FC_REQUANT r6, 0
5:
    str     lr, [sp, #TQ_FC_JOB_Q_OFF]
    bfi     r3, r4, #8, #8
    bfi     r3, r5, #16, #8
    bfi     r3, r6, #24, #8
    tst     r11, #TQ_FC_CLAMP
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
9:
    tst     r11, #TQ_FC_RAW
    beq     10f
    stm     r12!, {r3, r4, r5, r6}          /* TQ_FC_RAW: the four sums as words */
    b       7b
10:
#if TQ_CFG_FC_GUARD                       /* guarded: suspects counted; the last quad if any */
    TQ_FC_REQUANT r3, 1
    TQ_FC_REQUANT r4, 1
    TQ_FC_REQUANT r5, 1
    TQ_FC_REQUANT r6, 1
    ldr     r11, [sp, #TQ_FC_JOB_FLAGS_OFF]
    ldr     r0, [sp, #TQ_FC_FRAME_SUSPECTS_OFF]
    cmp     r0, #0
    beq     5b
    ldr     r0, [sp, #TQ_FC_JOB_BIAS_OFF]
    str     r0, [sp, #TQ_FC_JOB_BIAS_END_OFF]
#endif
    b       5b
#if TQ_CFG_FC_PREP
    TQ_FC_ENTRY_TABLE fcp
#endif
#if TQ_CFG_FC_FLIP
    TQ_FC_ENTRY_TABLE fcf, 8
#endif
#if TQ_CFG_FC_INLINE
    TQ_FC_ENTRY_TABLE fci
    .p2align 2
.Lfc_mask:
    .word   TQ_FC_MASK
#endif
    .size   tq_fc_quads_dsp, . - tq_fc_quads_dsp
#endif

#if TQ_CFG_FC_WIDE
/* tq_fc_wide_dsp's 4 of depth of four rows: the input word r8 (loaded from r0 with \load) as its
   lanes (x0, x2) (\ext: SXTB16; of Z words UXTB16: (127 - x0, x2 + 128)) in r7 and (x1, x3) in r8,
   two SMLAD a row with its int16 weights (w0, w2), (w1, w3): 13 instructions per 16 MACs. */
    .macro  TQ_FC_WSTEP ext, load=1
    .if     \load
    ldr     r8, [r0], #4
    .endif
    ldm     r1!, {r9, r10, r11, r12}
    \ext    r7, r8
    sxtb16  r8, r8, ror #8
    smlad   r3, r9, r7, r3
    smlad   r3, r10, r8, r3
    smlad   r4, r11, r7, r4
    smlad   r4, r12, r8, r4
    ldm     r1!, {r9, r10, r11, r12}
    smlad   r5, r9, r7, r5
    smlad   r5, r10, r8, r5
    smlad   r6, r11, r7, r6
    smlad   r6, r12, r8, r6
    .endm

/* The depth loop \name of tq_fc_wide_dsp (unrolled four times, entered part way), then the tail's
   4 of depth (TQ_FC_TAIL), then the quad's end. */
    .macro  TQ_FC_WLOOP name, ext
.L\name\()_round:
    TQ_FC_WSTEP \ext
    .irp    k, 1, 2, 3
.L\name\()_r\k:
    TQ_FC_WSTEP \ext
    .endr
    cmp     r0, r2
    bne     .L\name\()_round
.L\name\()_done:
    ldr     r7, [sp, #TQ_FCW_FLAGS_OFF]
    tst     r7, #TQ_FC_TAIL
    beq     .Lfw_end
    ldr     r8, [sp, #TQ_FCW_TAIL_OFF]
    TQ_FC_WSTEP \ext, 0
    b       .Lfw_end
    .endm

/* The loop \name's entry for the job's whole words r7 (0: none, straight to the tail) into r9. */
    .macro  TQ_FC_WENTRY name
    ubfx    r8, r7, #2, #2
    adr     r9, .L\name\()_entry
    ldrb    r8, [r9, r8]
    adr     r9, .L\name\()_round
    add     r9, r9, r8, lsl #1
    cmp     r7, #0
    it      eq
    adreq   r9, .L\name\()_done
    .endm

/*
 * tq_fc_wide_dsp (tq_fc_dsp.h): fully connected rows from int16 weights, the weights' zero point in
 * them, so the sums are bias + the dot product with no pass over the input and no chunks (|w| < 256,
 * products exact in SMLAD's int32). Per quad: its four biases, the depth loop (x to x_end, one word a
 * step; the job's tail word for the last depth % 4 bytes, so nothing past the row is read), then the
 * four sums requantized as tq_fc_quads_dsp does (or stored, TQ_FC_RAW). The job is copied to the
 * stack; r1 walks the weights across quads.
 */
    .section .text.tq_fc_wide_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_wide_dsp
    .type   tq_fc_wide_dsp, %function
    .thumb_func
tq_fc_wide_dsp:
    push    {r4-r11, lr}
    sub     sp, sp, #TQ_FCW_FRAME_SIZE
    ldm     r0, {r1-r11}
    stm     sp, {r1-r11}
    sub     r7, r2, r1                  /* the row's whole words' bytes */
#if TQ_CFG_FC_FLIP
    tst     r11, #TQ_FC_FLIP
    beq     1f
    TQ_FC_WENTRY fwz
    b       2f
1:
#endif
    TQ_FC_WENTRY fwr
2:
    orr     r9, r9, #1
    str     r9, [sp, #TQ_FCW_FRAME_ENTRY_OFF]
    mov     r1, r3
.Lfw_quad:
    ldr     r12, [sp, #TQ_FCW_BIAS_OFF]
    ldm     r12!, {r3, r4, r5, r6}
    str     r12, [sp, #TQ_FCW_BIAS_OFF]
    ldrd    r0, r2, [sp, #TQ_FCW_X_OFF]
    ldr     pc, [sp, #TQ_FCW_FRAME_ENTRY_OFF]
    .p2align 2
    TQ_FC_WLOOP fwr, sxtb16
#if TQ_CFG_FC_FLIP
    .p2align 2
    TQ_FC_WLOOP fwz, uxtb16
#endif
.Lfw_end:
    ldr     r7, [sp, #TQ_FCW_FLAGS_OFF]
    ldr     r12, [sp, #TQ_FCW_OUT_OFF]
    tst     r7, #TQ_FC_RAW
    bne     8f
    ldr     lr, [sp, #TQ_FCW_Q_OFF]
    TQ_FC_REQUANT r3, 0
    TQ_FC_REQUANT r4, 0
    TQ_FC_REQUANT r5, 0
    TQ_FC_REQUANT r6, 0
    str     lr, [sp, #TQ_FCW_Q_OFF]
    bfi     r3, r4, #8, #8
    bfi     r3, r5, #16, #8
    bfi     r3, r6, #24, #8
    ldr     r7, [sp, #TQ_FCW_FLAGS_OFF]
    tst     r7, #TQ_FC_CLAMP
    beq     6f
    ldrd    r9, r10, [sp, #TQ_FCW_LO4_OFF]
    ssub8   r11, r3, r9
    sel     r3, r3, r9
    ssub8   r11, r10, r3
    sel     r3, r3, r10
6:
    str     r3, [r12], #4
7:
    str     r12, [sp, #TQ_FCW_OUT_OFF]
    ldr     r7, [sp, #TQ_FCW_QUADS_OFF]
    subs    r7, r7, #1
    str     r7, [sp, #TQ_FCW_QUADS_OFF]
    bne     .Lfw_quad
    add     sp, sp, #TQ_FCW_FRAME_SIZE
    pop     {r4-r11, pc}
8:
    stm     r12!, {r3, r4, r5, r6}
    b       7b
    TQ_FC_ENTRY_TABLE fwr
#if TQ_CFG_FC_FLIP
    TQ_FC_ENTRY_TABLE fwz
#endif
    .size   tq_fc_wide_dsp, . - tq_fc_wide_dsp
#endif

#if TQ_CFG_FC_PREP
/* r0 x, r1 words (> 0), r2 out, r3 sums: per word Z = x ^ TQ_FC_MASK and P = UXTB16 Z stored;
   sums the SMLSD of every Z, and of every P, with (1, 1): low halfword less high. */
    .section .text.tq_fc_prep_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_prep_dsp
    .type   tq_fc_prep_dsp, %function
    .thumb_func
tq_fc_prep_dsp:
    push    {r4-r9, lr}
    mov     r4, #0
    mov     r5, #0
    ldr     r6, 2f
    mov     r7, #0x00010001
1:
    ldr     r8, [r0], #4
    eor     r8, r8, r6
    uxtb16  r9, r8
    stm     r2!, {r8, r9}
    smlsd   r4, r8, r7, r4
    smlsd   r5, r9, r7, r5
    subs    r1, r1, #1
    bne     1b
    strd    r4, r5, [r3]
    pop     {r4-r9, pc}
    .p2align 2
2:
    .word   TQ_FC_MASK
    .size   tq_fc_prep_dsp, . - tq_fc_prep_dsp
#endif

#if TQ_CFG_FC_FLIP
/* r0 x (word-aligned), r1 words (> 0), r2 sums: every word made into x ^ TQ_FC_MASK in place, and
   sums[0] the sum of the even bytes x0, x2 of the words as they were, sums[1] of the odd ones, as
   tq_fc_sums_dsp (lanes, chunks of 256 words). Four words a step: 16 instructions. */
    .section .text.tq_fc_flip_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_flip_dsp
    .type   tq_fc_flip_dsp, %function
    .thumb_func
tq_fc_flip_dsp:
    push    {r4-r11, lr}
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0x00010001
    ldr     r11, 6f
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
    ldr     r8, [r0]
    sxtab16 r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    eor     r8, r8, r11
    str     r8, [r0], #4
    subs    lr, lr, #1
    bne     2b
3:
    lsrs    r12, r12, #2
    beq     5f
4:
    ldm     r0, {r8, r9, r10, lr}
    sxtab16 r6, r6, r8
    sxtab16 r7, r7, r8, ror #8
    eor     r8, r8, r11
    sxtab16 r6, r6, r9
    sxtab16 r7, r7, r9, ror #8
    eor     r9, r9, r11
    sxtab16 r6, r6, r10
    sxtab16 r7, r7, r10, ror #8
    eor     r10, r10, r11
    sxtab16 r6, r6, lr
    sxtab16 r7, r7, lr, ror #8
    eor     lr, lr, r11
    stm     r0!, {r8, r9, r10, lr}
    subs    r12, r12, #1
    bne     4b
5:
    smlad   r3, r6, r5, r3
    smlad   r4, r7, r5, r4
    cmp     r1, #0
    bne     1b
    strd    r3, r4, [r2]
    pop     {r4-r11, pc}
    .p2align 2
6:
    .word   TQ_FC_MASK
    .size   tq_fc_flip_dsp, . - tq_fc_flip_dsp

/* tq_fc_flip_odd_dsp: r0 x (word-aligned), r1 words (> 0): tq_fc_flip_dsp's words made in place,
   and only the sum of the odd bytes returned (a layer whose weights' zero point is 0 needs no other):
   lanes (SXTAB16, rotated) in chunks of 256 words, eight words a step: 20 instructions. */
    .section .text.tq_fc_flip_odd_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_flip_odd_dsp
    .type   tq_fc_flip_odd_dsp, %function
    .thumb_func
tq_fc_flip_odd_dsp:
    push    {r4-r11, lr}
    mov     r3, #0
    ldr     r12, 6f
1:
    cmp     r1, #256
    ite     hi
    movhi   r2, #256
    movls   r2, r1
    sub     r1, r1, r2
    mov     lr, #0
    ands    r4, r2, #7
    beq     3f
2:
    ldr     r5, [r0]
    sxtab16 lr, lr, r5, ror #8
    eor     r5, r5, r12
    str     r5, [r0], #4
    subs    r4, r4, #1
    bne     2b
3:
    lsrs    r2, r2, #3
    beq     5f
4:
    ldm     r0, {r4, r5, r6, r7, r8, r9, r10, r11}
    sxtab16 lr, lr, r4, ror #8
    eor     r4, r4, r12
    sxtab16 lr, lr, r5, ror #8
    eor     r5, r5, r12
    sxtab16 lr, lr, r6, ror #8
    eor     r6, r6, r12
    sxtab16 lr, lr, r7, ror #8
    eor     r7, r7, r12
    sxtab16 lr, lr, r8, ror #8
    eor     r8, r8, r12
    sxtab16 lr, lr, r9, ror #8
    eor     r9, r9, r12
    sxtab16 lr, lr, r10, ror #8
    eor     r10, r10, r12
    sxtab16 lr, lr, r11, ror #8
    eor     r11, r11, r12
    stm     r0!, {r4, r5, r6, r7, r8, r9, r10, r11}
    subs    r2, r2, #1
    bne     4b
5:
    sxth    r4, lr
    add     r3, r3, r4
    add     r3, r3, lr, asr #16
    cmp     r1, #0
    bne     1b
    mov     r0, r3
    pop     {r4-r11, pc}
    .p2align 2
6:
    .word   TQ_FC_MASK
    .size   tq_fc_flip_odd_dsp, . - tq_fc_flip_odd_dsp

#if TQ_CFG_FC_ROW1
/* tq_fc_row1_dsp: r0 Z words (word-aligned), r1 the row's weight words, r2 their count (> 0):
   the row's terms of TQ_FC_ROW (P = UXTB16 Z per word), the count % 8 words one at a time, then
   eight a step (two LDM of each, 16 + 16 + 2: 36 instructions per 32 MACs). */
    .section .text.tq_fc_row1_dsp, "ax", %progbits
    .p2align 2
    .global tq_fc_row1_dsp
    .type   tq_fc_row1_dsp, %function
    .thumb_func
tq_fc_row1_dsp:
    push    {r4-r11, lr}
    mov     r3, #0
    ands    r12, r2, #7
    beq     2f
1:
    ldr     r4, [r0], #4
    ldr     r8, [r1], #4
    uxtb16  lr, r4
    TQ_FC_ROW r3, r8, lr, r4
    subs    r12, r12, #1
    bne     1b
2:
    lsrs    r2, r2, #3
    beq     4f
3:
    .rept   2
    ldm     r0!, {r4, r5, r6, r7}
    ldm     r1!, {r8, r9, r10, r11}
    uxtb16  lr, r4
    TQ_FC_ROW r3, r8, lr, r4
    uxtb16  lr, r5
    TQ_FC_ROW r3, r9, lr, r5
    uxtb16  lr, r6
    TQ_FC_ROW r3, r10, lr, r6
    uxtb16  lr, r7
    TQ_FC_ROW r3, r11, lr, r7
    .endr
    subs    r2, r2, #1
    bne     3b
4:
    mov     r0, r3
    pop     {r4-r11, pc}
    .size   tq_fc_row1_dsp, . - tq_fc_row1_dsp
#endif

/* r0 Z words (word-aligned; tq_fc_flip_dsp's), r1 words (> 0), r2 sums: sums[0] the sum over the
   words of byte 0 less byte 2 (unsigned), sums[1] of byte 1 less byte 3 (signed). Lanes (UXTAB16,
   SXTAB16 of the odd bytes) in chunks of at most 128 words (below 2^15), summed by SMLSD with
   0x00010001 at a chunk's end. Four words a step: 11 instructions. */
    TQ_FC_SUMS tq_fc_zsums_dsp, 128, uxtab16, smlsd
#endif

#if TQ_CFG_FC_INLINE
/* r0 x, r1 words (> 0), r2 sums. Chunks of at most 256 words: each byte added into a halfword lane
   (SXTAB16, the odd bytes rotated in), the even bytes' lanes in r6 and the odd ones' in r7, which
   256 words of int8 cannot overflow (-32768 .. 32512); at a chunk's end the lanes are summed (SMLAD
   by 0x00010001) into r3 (even) and r4 (odd). Four words a step: 11 instructions. */
    TQ_FC_SUMS tq_fc_sums_dsp, 256, sxtab16, smlad
#endif

#endif
