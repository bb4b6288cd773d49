/*
 * The fast convolutions' row-pair loop in assembler, for cores with the DSP extension and without
 * Helium (Cortex-M4, M7, M33): tq_gemm.h's tq_gemm_pairs_dsp / tq_gemm_rows_dsp (int8 weights) and
 * their *_wide_* twins (int16 weights, --wide-weights), and the column builders tq_gemm_split_dsp
 * (int8 weights) and tq_gemm_columns_dsp (int16 weights), which make the column pair they read.
 * Everything else calls them through tq_gemm.h.
 *
 * Why assembler: the loop over k needs all 14 free registers (4 accumulators, a column word pair of
 * each pixel, two weight words, three pointers), and around it C kept its state in stack slots it
 * reloaded one by one. Here the state is a copy of the job on the stack, reloaded with one LDM; the
 * four column words of a 4 of k come with one LDM too.
 *
 * int8 weights are stored split (tinyq/ops/conv.py's _gemm): each word's bytes for k 0..3 are
 * (u1, w0, u3, w2), u = w + 128 (unsigned). Taken as two signed halfwords the word W is
 * (256 w0 + u1, 256 w2 + u3), and UXTB16 W is (u1, u3): with a pixel's X = (x0', x2') and
 * Y = (256 x1' - x0', 256 x3' - x2') (x0' = x0 + 129, x1' = x1 + 1: X is SXTAB16 of the input word
 * onto 0x00810081, Y the word with its even bytes XOR 0x7F), SMLAD W, X plus SMLAD (UXTB16 W), Y is
 * 256 (w0 x0' + u1 x1' + w2 x2' + u3 x3'), and the UXTB16 of a row's word serves both pixels. That
 * sum is 256 (w . x + 129 sum w_even + sum w_odd + 128 (odd k) + 128 sum x_odd): the bias holds the
 * row's constant back, and each pixel's -128 sum x_odd (its c, made by the column builder) starts
 * the sums, times 256 (TQ_SENTER). Where generation proves that the sums fit int32 for the layer's
 * weights (params chunked 0), the end is ASR 8 (exact); else k runs in chunks of 256 (TQ_SMULTI).
 *
 * Per 4 of k (16 MACs): LDM (X0 Y0 X1 Y1) + LDRD (two weight rows) + 2 UXTB16 + 8 SMLAD = 12
 * instructions (sign-extending int8 weights took 14); wide: LDM + 2 LDRD + 8 SMLAD = 11. The loop is
 * unrolled four times, eight in tq_gemm_pairs_dsp (the 1x1 and im2col kernels' loop, where short k
 * and few outputs make the round's 2 instructions weigh: 96 -> 24 channels 1.7% fewer), entered part
 * way at an address computed once a call, for counts of 4s that are not a multiple of the unroll,
 * 2 more instructions a round. Register use in the loop:
 *   r0 column pointer, r1 weight pointer, r2 column end, r3..r6 accumulators s00 s01 s10 s11
 *   (row, pixel), r7 r8 pixel 0 (X, Y), or wide (x0, x2) (x1, x3), r9 r10 pixel 1, r11 r12 weight
 *   words, lr free (wide: scratch).
 *
 * The job (tq_gemm_job in tq_gemm.h), 12 words, copied to the stack at entry:
 *   [0] cols   [4] cols_end   [8] blk   [12] out0   [16] out1   [20] blk_end
 *   [24] w     [28] w_skip    [32] lo4  [36] hi4    [40] clamp  [44] acc
 * and (wide) [48] the address where the k loop is entered; the int8 loops put it after their own
 * frame (TQ_SGEMM_FRAME_*). The code names these offsets (TQ_GEMM_JOB_*_OFF, TQ_GEMM_FRAME_*,
 * TQ_SGEMM_FRAME_*), from tq_dsp_asm.h, which checks them against the C struct.
 * pairs: blk walks the quantization blocks (bias[2], then mult, radd, rsh per row: 8 words), each
 *   pair of rows starts from its bias and ends requantized (tq_requant_mm, SSAT) into out0[c],
 *   out0[c + 1] and out1[c], out1[c + 1], clamped to lo4/hi4 bytes when clamp bit 0 (or, int8,
 *   TQ_GEMM_CLAMP_CHUNKED) is set. The int8-weight one, tq_gemm_pairs_dsp, reads its table as
 *   tinyq/ops/conv.py's _pairs_table writes it: the biases doubled (its sums end at twice the
 *   accumulator, for TQ_REQUANT2), and above the low byte of row 0's rsh (all an ASR by register
 *   reads) bit 8 the clamp and bits 9 up the row pairs left after this one, so that one LSRS gives
 *   the store and the loop's end (blk_end and clamp bit 0 are not read; lr walks blk throughout);
 * pairs_acc: the same, each pair of rows starting from its accumulator block at acc (4 words, walked
 *   along) instead of the bias, w_skip bytes of weights skipped after each pair;
 * pairs_gen, pairs_acc_gen (and their wide twins): the same with the general requantization
 *   (TQ_REQUANT_GEN, 14 instructions an output where TQ_REQUANT takes 5; the k loop is the same);
 * rows: blk walks accumulator blocks (4 words a pair of rows), loaded, accumulated and stored back;
 *   w_skip bytes of weights are skipped after every pair (the other filter rows of a tap kernel).
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

#include "tq_dsp_asm.h"
#include "tq_features.h" /* TQ_CFG_*: which entry points are built */

    .syntax unified
    .thumb
    .text

/* One 4 of k, int8 weights stored split (see the header): per row W against X, UXTB16 W against Y,
   each row's UXTB16 shared by the two pixels. */
    .macro  TQ_STEP_SPLIT
    ldm     r0!, {r7, r8, r9, r10}      /* X0 Y0 X1 Y1 */
    ldrd    r11, r12, [r1], #8          /* the words of rows 0 and 1 */
    smlad   r3, r11, r7, r3
    smlad   r4, r11, r9, r4
    uxtb16  r11, r11
    smlad   r3, r11, r8, r3
    smlad   r4, r11, r10, r4
    smlad   r5, r12, r7, r5
    smlad   r6, r12, r9, r6
    uxtb16  r12, r12
    smlad   r5, r12, r8, r5
    smlad   r6, r12, r10, r6
    .endm

/* One 4 of k, int16 weights: per row (w0, w2), (w1, w3) as stored. */
    .macro  TQ_STEP_WIDE
    ldm     r0!, {r7, r8, r9, r10}
    ldrd    r11, r12, [r1], #8
    smlad   r3, r11, r7, r3
    smlad   r4, r11, r9, r4
    smlad   r3, r12, r8, r3
    smlad   r4, r12, r10, r4
    ldrd    r11, r12, [r1], #8
    smlad   r5, r11, r7, r5
    smlad   r6, r11, r9, r6
    smlad   r5, r12, r8, r5
    smlad   r6, r12, r10, r6
    .endm

/* The dot products of one pair of rows with the column pair, into r3..r6: the loop unrolled \unroll
   (4 or 8) times, entered where the steps left make whole rounds (the address TQ_ENTRY kept in the
   frame). */
    .macro  TQ_DOT name, step, entry=TQ_GEMM_FRAME_ENTRY_OFF, unroll=4
    ldr     pc, [sp, #\entry]
.L\name\()_round:
    \step
.L\name\()_r1:
    \step
.L\name\()_r2:
    \step
.L\name\()_r3:
    \step
    .if \unroll == 8
.L\name\()_r4:
    \step
.L\name\()_r5:
    \step
.L\name\()_r6:
    \step
.L\name\()_r7:
    \step
    .endif
    cmp     r0, r2
    bne     .L\name\()_round
    .endm

/* Where TQ_DOT enters for a count of 4s (the same for every pair of rows): by the count modulo 4. */
    .macro  TQ_ENTRY name
    ldrd    r0, r2, [sp, #TQ_GEMM_JOB_COLS_OFF]     /* cols, cols_end */
    sub     r7, r2, r0
    ubfx    r7, r7, #4, #2
    adr     r8, .L\name\()_entry
    ldrb    r7, [r8, r7]
    adr     r8, .L\name\()_round
    add     r8, r8, r7, lsl #1
    orr     r8, r8, #1
    str     r8, [sp, #TQ_GEMM_FRAME_ENTRY_OFF]
    .endm

    .macro  TQ_ENTRY_TABLE name, unroll=4
.L\name\()_entry:
    .if \unroll == 8
    .byte   0, (.L\name\()_r7 - .L\name\()_round) / 2, (.L\name\()_r6 - .L\name\()_round) / 2
    .byte   (.L\name\()_r5 - .L\name\()_round) / 2, (.L\name\()_r4 - .L\name\()_round) / 2
    .byte   (.L\name\()_r3 - .L\name\()_round) / 2, (.L\name\()_r2 - .L\name\()_round) / 2
    .byte   (.L\name\()_r1 - .L\name\()_round) / 2
    .else
    .byte   0, (.L\name\()_r3 - .L\name\()_round) / 2, (.L\name\()_r2 - .L\name\()_round) / 2
    .byte   (.L\name\()_r1 - .L\name\()_round) / 2
    .endif
    .p2align 1
    .endm

/* The job copied to the frame (TQ_GEMM_JOB_SIZE: 12 words, checked in tq_dsp_asm.h), w in r1. */
    .macro  TQ_ENTER name
    push    {r4-r11, lr}
    sub     sp, sp, #TQ_GEMM_FRAME_SIZE
    ldm     r0, {r1-r12}
    stm     sp, {r1-r12}
    ldr     r1, [sp, #TQ_GEMM_JOB_W_OFF]
    TQ_ENTRY \name
    .endm

/* void tq_gemm_pairs_*(const tq_gemm_job *job); gen: requantized by TQ_REQUANT_GEN (the general
   requantization's constants: mult, left shift, right shift per row; the zero point in the high
   bytes of clamp, clamp + 256 zo, so that the clamped store runs where zo != 0). */
    .macro  TQ_PAIRS name, step, from_acc, gen=0
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    TQ_ENTER \name
3:
    .if \from_acc
    ldr     lr, [sp, #TQ_GEMM_JOB_ACC_OFF]      /* accumulator blocks */
    ldm     lr!, {r3-r6}
    str     lr, [sp, #TQ_GEMM_JOB_ACC_OFF]
    ldm     sp, {r0, r2}                /* cols, cols_end (TQ_GEMM_JOB_COLS_OFF 0) */
    .else
    ldm     sp, {r0, r2, r12}           /* cols, cols_end, blk (TQ_GEMM_JOB_COLS_OFF 0) */
    ldrd    r3, r5, [r12]               /* bias of rows 0 and 1 */
    mov     r4, r3
    mov     r6, r5
    .endif
    TQ_DOT  \name, \step
    .if \from_acc
    ldr     r9, [sp, #TQ_GEMM_JOB_W_SKIP_OFF]
    add     r1, r1, r9                  /* w_skip */
    .endif
    ldr     lr, [sp, #TQ_GEMM_JOB_BLK_OFF]
    add     lr, lr, #32                 /* the next block */
    ldmdb   lr, {r7-r12}                /* mult, radd, rsh of rows 0 and 1 */
    str     lr, [sp, #TQ_GEMM_JOB_BLK_OFF]
    .if \gen
    ldr     lr, [sp, #TQ_GEMM_JOB_CLAMP_OFF]    /* the zero point in its high bytes */
    TQ_REQUANT_GEN r3, r7, r8, r9, lr, r0, r2
    TQ_REQUANT_GEN r4, r7, r8, r9, lr, r0, r2
    TQ_REQUANT_GEN r5, r10, r11, r12, lr, r0, r2
    TQ_REQUANT_GEN r6, r10, r11, r12, lr, r0, r2
    ldr     lr, [sp, #TQ_GEMM_JOB_BLK_OFF]
    .else
    TQ_REQUANT r3, r7, r8, r9, r0
    TQ_REQUANT r4, r7, r8, r9, r0
    TQ_REQUANT r5, r10, r11, r12, r0
    TQ_REQUANT r6, r10, r11, r12, r0
    .endif
    ldr     r7, [sp, #TQ_GEMM_JOB_CLAMP_OFF]
    cbnz    r7, 5f
    ldrd    r7, r8, [sp, #TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    bfi     r3, r5, #8, #8              /* out0[c], out0[c + 1] */
    strh    r3, [r7], #2
    bfi     r4, r6, #8, #8              /* out1[c], out1[c + 1] */
    strh    r4, [r8], #2
4:
    strd    r7, r8, [sp, #TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    ldr     r9, [sp, #TQ_GEMM_JOB_BLK_END_OFF]
    cmp     lr, r9
    bne     3b
    add     sp, sp, #TQ_GEMM_FRAME_SIZE
    pop     {r4-r11, pc}
5:                                      /* clamped: the four bytes at once (SSUB8 / SEL) */
    ldrd    r7, r8, [sp, #TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    bfi     r3, r5, #8, #8
    bfi     r3, r4, #16, #8
    bfi     r3, r6, #24, #8
    ldrd    r9, r10, [sp, #TQ_GEMM_JOB_LO4_OFF]     /* lo4, hi4 */
    ssub8   r11, r3, r9
    sel     r3, r3, r9
    ssub8   r11, r10, r3
    sel     r3, r3, r10
    strh    r3, [r7], #2
    lsr     r3, r3, #16
    strh    r3, [r8], #2
    b       4b
    TQ_ENTRY_TABLE \name
    .size   \name, . - \name
    .endm

/* void tq_gemm_rows_*(const tq_gemm_job *job) */
    .macro  TQ_ROWS name, step
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    TQ_ENTER \name
3:
    ldm     sp, {r0, r2, r12}           /* cols, cols_end, blk (TQ_GEMM_JOB_COLS_OFF 0) */
    ldm     r12, {r3-r6}
    TQ_DOT  \name, \step
    ldr     lr, [sp, #TQ_GEMM_JOB_BLK_OFF]
    stm     lr!, {r3-r6}
    str     lr, [sp, #TQ_GEMM_JOB_BLK_OFF]
    ldr     r8, [sp, #TQ_GEMM_JOB_W_SKIP_OFF]
    ldr     r7, [sp, #TQ_GEMM_JOB_BLK_END_OFF]
    add     r1, r1, r8
    cmp     lr, r7
    bne     3b
    add     sp, sp, #TQ_GEMM_FRAME_SIZE
    pop     {r4-r11, pc}
    TQ_ENTRY_TABLE \name
    .size   \name, . - \name
    .endm

/*
 * The int8-weight loops (split weights). TQ_SENTER copies the job to the frame (TQ_SGEMM_FRAME_*,
 * tq_dsp_asm.h) and reads c0, c1 (two words at cols_end, from the column builders: -128 times each
 * column's sum of odd-k bytes). Each row pair's four sums start at 256 c (pixel 0, 1, 0, 1), so
 * that at the end they are 256 (dot + the row's constant, which the bias takes back): ASR 8, and
 * the bias added. That fits int32 where generation proved it for the layer's weights (params
 * chunked 0); else (job clamp bit TQ_GEMM_CLAMP_CHUNKED, compiled in with TQ_CFG_GEMM_CHUNKS) k
 * runs in chunks of 256 (the first one the rest, entered part way), each from 0 and added ASR 8
 * into the totals T (frame), which start at c: the loop's end goes to the frame's handler address.
 */
    .macro  TQ_SENTER name, unroll=4
    push    {r4-r11, lr}
    sub     sp, sp, #TQ_SGEMM_FRAME_SIZE
    ldm     r0, {r1-r12}
    add     lr, sp, #TQ_SGEMM_FRAME_JOB
    stm     lr, {r1-r12}                /* r1 cols, r2 cols_end, r3 blk, r7 w, r11 clamp */
    str     r3, [sp, #TQ_SGEMM_FRAME_BLK]
    ldrd    r3, r4, [r2]                /* c0, c1 */
#if TQ_CFG_GEMM_CHUNKS
    tst     r11, #TQ_GEMM_CLAMP_CHUNKED
    bne     1f
#endif
    lsl     r3, r3, #8
    lsl     r4, r4, #8
#if TQ_CFG_GEMM_CHUNKS
    adr     r9, .L\name\()_single
    b       2f
1:
    sub     r5, r2, r1
    sub     r5, r5, #1
    bfc     r5, #10, #22
    add     r2, r1, r5
    add     r2, r2, #1                  /* the first chunk: ((4 k - 1) mod 1024) + 1 bytes */
    mov     r5, r3
    mov     r6, r4
    add     r9, sp, #TQ_SGEMM_FRAME_C
    stm     r9, {r3-r6}
    add     r9, sp, #TQ_SGEMM_FRAME_T
    stm     r9, {r3-r6}
    mov     r3, #0
    mov     r4, #0
    adr     r9, .L\name\()_multi
2:
    orr     r9, r9, #1
    str     r9, [sp, #TQ_SGEMM_FRAME_HANDLER]
#endif
    mov     r5, r3
    mov     r6, r4
    stm     sp, {r1, r2, r3, r4, r5, r6}    /* cols, the first chunk's end, the start values */
    sub     r8, r2, r1
    mov     r1, r7                      /* w */
    .if \unroll == 8
    ubfx    r7, r8, #4, #3              /* the count of 4s modulo 8 */
    .else
    ubfx    r7, r8, #4, #2
    .endif
    adr     r8, .L\name\()_entry
    ldrb    r7, [r8, r7]
    adr     r8, .L\name\()_round
    add     r8, r8, r7, lsl #1
    orr     r8, r8, #1
    str     r8, [sp, #TQ_SGEMM_FRAME_ENTRY]
    .endm

/* \d = \a + \s (ASR 8 when \shifted) */
    .macro  TQ_SADD d, a, s, shifted
    .if \shifted
    add     \d, \a, \s, asr #8
    .else
    add     \d, \a, \s
    .endif
    .endm

/* A chunk's end with k above one chunk: the sums ASR 8 into T; the next chunk from 0, or after the
   last one the totals to \tail (r3..r6, to be added unshifted), T back to its start. lr is left as
   it is (the plain pair loop keeps its running block there). */
    .macro  TQ_SMULTI name
.L\name\()_multi:
    add     r12, sp, #TQ_SGEMM_FRAME_T
    ldm     r12, {r7-r10}
    add     r3, r7, r3, asr #8
    add     r4, r8, r4, asr #8
    add     r5, r9, r5, asr #8
    add     r6, r10, r6, asr #8
    ldr     r11, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_COLS_END_OFF]
    cmp     r0, r11
    beq     6f
    stm     r12, {r3-r6}
    add     r2, r0, #1024
    add     r11, sp, #TQ_SGEMM_FRAME_INIT   /* zeros */
    ldm     r11, {r3-r6}
    b       .L\name\()_round
6:
    add     r11, sp, #TQ_SGEMM_FRAME_C
    ldm     r11, {r7-r10}
    stm     r12, {r7-r10}
    .endm

/* \d = \a + \s as twice the sum (\a doubled already): \s ASR 7 when \shifted (it is 256 times a
   whole number), else \s LSL 1. */
    .macro  TQ_SADD2 d, a, s, shifted
    .if \shifted
    add     \d, \a, \s, asr #7
    .else
    add     \d, \a, \s, lsl #1
    .endif
    .endm

/* A row pair's sums r3..r6 plus its bias (or its accumulator block at acc), the row pair's
   requantization constants in r7..r12, lr the next block (its slot TQ_SGEMM_FRAME_BLK updated);
   \shifted: the sums ASR 8 first; \live: lr holds the block already (the row pair's start loaded
   it); \dbl: r3..r6 end at twice the accumulators (for TQ_REQUANT2; never from acc); \keep: lr stays
   the running block through the row pairs, its frame slot written only where it is reloaded. */
    .macro  TQ_SPAIR_SUMS from_acc, shifted, live=0, dbl=0, keep=0
    .if \from_acc
    ldr     lr, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_ACC_OFF]
    ldm     lr!, {r7-r10}
    str     lr, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_ACC_OFF]
    TQ_SADD r3, r7, r3, \shifted
    TQ_SADD r4, r8, r4, \shifted
    TQ_SADD r5, r9, r5, \shifted
    TQ_SADD r6, r10, r6, \shifted
    ldr     r9, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_W_SKIP_OFF]
    add     r1, r1, r9                  /* w_skip */
    ldr     lr, [sp, #TQ_SGEMM_FRAME_BLK]
    add     lr, lr, #32
    ldmdb   lr, {r7-r12}                /* mult, radd, rsh of rows 0 and 1 */
    str     lr, [sp, #TQ_SGEMM_FRAME_BLK]
    .else
    .if !\live
    ldr     lr, [sp, #TQ_SGEMM_FRAME_BLK]
    .endif
    ldm     lr!, {r0, r2, r7-r12}       /* bias of rows 0 and 1, then mult, radd, rsh of each */
    .if !\keep || !\live
    str     lr, [sp, #TQ_SGEMM_FRAME_BLK]
    .endif
    .if \dbl                           /* (generation stored these biases doubled) */
    TQ_SADD2 r3, r0, r3, \shifted
    TQ_SADD2 r4, r0, r4, \shifted
    TQ_SADD2 r5, r2, r5, \shifted
    TQ_SADD2 r6, r2, r6, \shifted
    .else
    TQ_SADD r3, r0, r3, \shifted
    TQ_SADD r4, r0, r4, \shifted
    TQ_SADD r5, r2, r5, \shifted
    TQ_SADD r6, r2, r6, \shifted
    .endif
    .endif
    .endm

/* void tq_gemm_pairs_*_dsp(const tq_gemm_job *job), int8 weights: as TQ_PAIRS; the k loop unrolled
   \unroll times. */
    .macro  TQ_SPAIRS name, from_acc, gen=0, unroll=4
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    TQ_SENTER \name, \unroll
    .if \from_acc || \gen
3:
    ldm     sp, {r0, r2, r3, r4, r5, r6, lr}    /* cols, the first chunk's end, the start values; blk */
    .else                               /* lr the running block throughout: the k loop leaves it */
    ldr     lr, [sp, #TQ_SGEMM_FRAME_BLK]
3:
    ldm     sp, {r0, r2, r3, r4, r5, r6}        /* cols, the first chunk's end, the start values */
    .endif
    TQ_DOT  \name, TQ_STEP_SPLIT, TQ_SGEMM_FRAME_ENTRY, \unroll
#if TQ_CFG_GEMM_CHUNKS
    ldr     pc, [sp, #TQ_SGEMM_FRAME_HANDLER]
#endif
.L\name\()_single:
    TQ_SPAIR_SUMS \from_acc, 1, 1, !(\from_acc || \gen), !(\from_acc || \gen)
8:
    .if \gen
    ldr     lr, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_CLAMP_OFF]   /* the zero point in its high bytes */
    TQ_REQUANT_GEN r3, r7, r8, r9, lr, r0, r2
    TQ_REQUANT_GEN r4, r7, r8, r9, lr, r0, r2
    TQ_REQUANT_GEN r5, r10, r11, r12, lr, r0, r2
    TQ_REQUANT_GEN r6, r10, r11, r12, lr, r0, r2
    ldr     lr, [sp, #TQ_SGEMM_FRAME_BLK]
    .elseif \from_acc
    TQ_REQUANT r3, r7, r8, r9, r0
    TQ_REQUANT r4, r7, r8, r9, r0
    TQ_REQUANT r5, r10, r11, r12, r0
    TQ_REQUANT r6, r10, r11, r12, r0
    .else
    TQ_REQUANT2 r3, r7, r8, r9, r0
    TQ_REQUANT2 r4, r7, r8, r9, r0
    TQ_REQUANT2 r5, r10, r11, r12, r0
    TQ_REQUANT2 r6, r10, r11, r12, r0
    .endif
    .if \from_acc || \gen
    ldr     r7, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_CLAMP_OFF]
    cbnz    r7, 5f
    .else                               /* row 0's rsh word: bit 8 the clamp, bits 9 up the row pairs left */
    lsrs    r9, r9, #9                  /* C: clamped; Z: the last row pair (no flags set until bne) */
    bcs     5f
    .endif
    ldrd    r7, r8, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    bfi     r3, r5, #8, #8              /* out0[c], out0[c + 1] */
    strh    r3, [r7], #2
    bfi     r4, r6, #8, #8              /* out1[c], out1[c + 1] */
    strh    r4, [r8], #2
4:
    strd    r7, r8, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    .if \from_acc || \gen
    ldr     r9, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_BLK_END_OFF]
    cmp     lr, r9
    .endif
    bne     3b
    add     sp, sp, #TQ_SGEMM_FRAME_SIZE
    pop     {r4-r11, pc}
5:                                      /* clamped: the four bytes at once (SSUB8 / SEL) */
    ldrd    r7, r8, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_OUT0_OFF]     /* out0, out1 */
    bfi     r3, r5, #8, #8
    bfi     r3, r4, #16, #8
    bfi     r3, r6, #24, #8
    ldrd    r9, r10, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_LO4_OFF]     /* lo4, hi4 */
    ssub8   r11, r3, r9
    sel     r3, r3, r9
    ssub8   r11, r10, r3
    sel     r3, r3, r10
    strh    r3, [r7], #2
    lsr     r3, r3, #16
    strh    r3, [r8], #2
    b       4b
#if TQ_CFG_GEMM_CHUNKS
    TQ_SMULTI \name
    TQ_SPAIR_SUMS \from_acc, 0, !(\from_acc || \gen), !(\from_acc || \gen), !(\from_acc || \gen)
    b       8b
#endif
    TQ_ENTRY_TABLE \name, \unroll
    .size   \name, . - \name
    .endm

/* A pair of rows' accumulator block at blk plus the sums (\shifted: ASR 8), stored back; lr walks. */
    .macro  TQ_SROW_ACC shifted
    ldr     lr, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_BLK_OFF]
    ldm     lr, {r7-r10}
    TQ_SADD r7, r7, r3, \shifted
    TQ_SADD r8, r8, r4, \shifted
    TQ_SADD r9, r9, r5, \shifted
    TQ_SADD r10, r10, r6, \shifted
    stm     lr!, {r7-r10}
    str     lr, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_BLK_OFF]
    .endm

/* void tq_gemm_rows_dsp(const tq_gemm_job *job), int8 weights: as TQ_ROWS. */
    .macro  TQ_SROWS name
    .global \name
    .type   \name, %function
    .thumb_func
\name:
    TQ_SENTER \name
3:
    ldm     sp, {r0, r2, r3, r4, r5, r6}
    TQ_DOT  \name, TQ_STEP_SPLIT, TQ_SGEMM_FRAME_ENTRY
#if TQ_CFG_GEMM_CHUNKS
    ldr     pc, [sp, #TQ_SGEMM_FRAME_HANDLER]
#endif
.L\name\()_single:
    TQ_SROW_ACC 1
8:
    ldr     r8, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_W_SKIP_OFF]
    ldr     r7, [sp, #TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_BLK_END_OFF]
    add     r1, r1, r8
    cmp     lr, r7
    bne     3b
    add     sp, sp, #TQ_SGEMM_FRAME_SIZE
    pop     {r4-r11, pc}
#if TQ_CFG_GEMM_CHUNKS
    TQ_SMULTI \name
    TQ_SROW_ACC 0
    b       8b
#endif
    TQ_ENTRY_TABLE \name
    .size   \name, . - \name
    .endm

    .section .text.tq_gemm_pairs_dsp, "ax", %progbits
    .p2align 2
    TQ_SPAIRS tq_gemm_pairs_dsp, 0, 0, 8
#if TQ_CFG_WIDE
    .section .text.tq_gemm_pairs_wide_dsp, "ax", %progbits
    .p2align 2
    TQ_PAIRS tq_gemm_pairs_wide_dsp, TQ_STEP_WIDE, 0
#endif
    .section .text.tq_gemm_pairs_acc_dsp, "ax", %progbits
    .p2align 2
    TQ_SPAIRS tq_gemm_pairs_acc_dsp, 1
#if TQ_CFG_WIDE
    .section .text.tq_gemm_pairs_acc_wide_dsp, "ax", %progbits
    .p2align 2
    TQ_PAIRS tq_gemm_pairs_acc_wide_dsp, TQ_STEP_WIDE, 1
#endif
#if TQ_CFG_REQUANT_GEN
    .section .text.tq_gemm_pairs_gen_dsp, "ax", %progbits
    .p2align 2
    TQ_SPAIRS tq_gemm_pairs_gen_dsp, 0, 1
#endif
#if TQ_CFG_REQUANT_GEN && TQ_CFG_WIDE
    .section .text.tq_gemm_pairs_gen_wide_dsp, "ax", %progbits
    .p2align 2
    TQ_PAIRS tq_gemm_pairs_gen_wide_dsp, TQ_STEP_WIDE, 0, 1
#endif
#if TQ_CFG_REQUANT_GEN
    .section .text.tq_gemm_pairs_acc_gen_dsp, "ax", %progbits
    .p2align 2
    TQ_SPAIRS tq_gemm_pairs_acc_gen_dsp, 1, 1
#endif
#if TQ_CFG_REQUANT_GEN && TQ_CFG_WIDE
    .section .text.tq_gemm_pairs_acc_gen_wide_dsp, "ax", %progbits
    .p2align 2
    TQ_PAIRS tq_gemm_pairs_acc_gen_wide_dsp, TQ_STEP_WIDE, 1, 1
#endif
    .section .text.tq_gemm_rows_dsp, "ax", %progbits
    .p2align 2
    TQ_SROWS tq_gemm_rows_dsp
#if TQ_CFG_WIDE
    .section .text.tq_gemm_rows_wide_dsp, "ax", %progbits
    .p2align 2
    TQ_ROWS tq_gemm_rows_wide_dsp, TQ_STEP_WIDE
#endif

/*
 * void tq_gemm_columns_dsp(const int8_t *a, const int8_t *b, int32_t n, int8_t *dst): the column
 * pair of tq_gemm_columns (n a multiple of 4, > 0): per 4 of k, a's (x0, x2), (x1, x3), then b's,
 * as int16. Word-aligned a and b go 8 bytes a step (2 LDRD, 8 SXTB16, one STM of 8 words: 13
 * instructions where word by word takes 20); otherwise word by word (LDR may be unaligned).
 */
/* One 4 of k of both columns, word by word (the LDRs may be unaligned). */
    .macro  TQ_COLUMNS4
    ldr     r2, [r0], #4
    ldr     lr, [r1], #4
    sxtb16  r4, r2
    sxtb16  r5, r2, ror #8
    sxtb16  r6, lr
    sxtb16  r7, lr, ror #8
    stm     r3!, {r4-r7}
    .endm

    .section .text.tq_gemm_columns_dsp, "ax", %progbits
    .p2align 2
    .global tq_gemm_columns_dsp
    .type   tq_gemm_columns_dsp, %function
    .thumb_func
tq_gemm_columns_dsp:
    push    {r4-r11, lr}
    orr     r12, r0, r1
    tst     r12, #3
    add     r12, r0, r2                 /* end of a */
    bne     3f
    tst     r2, #4
    beq     2f
    TQ_COLUMNS4                         /* an odd 4 of k first */
2:
    cmp     r0, r12
    beq     9f
1:
    ldrd    r2, lr, [r0], #8
    sxtb16  r4, r2
    sxtb16  r5, r2, ror #8
    sxtb16  r8, lr
    sxtb16  r9, lr, ror #8
    ldrd    r2, lr, [r1], #8
    sxtb16  r6, r2
    sxtb16  r7, r2, ror #8
    sxtb16  r10, lr
    sxtb16  r11, lr, ror #8
    stm     r3!, {r4-r11}
    cmp     r0, r12
    bne     1b
9:
    pop     {r4-r11, pc}
3:
    TQ_COLUMNS4
    cmp     r0, r12
    bne     3b
    pop     {r4-r11, pc}
    .size   tq_gemm_columns_dsp, . - tq_gemm_columns_dsp

/*
 * void tq_gemm_split_dsp(const int8_t *a, const int8_t *b, int32_t n, int8_t *dst): n bytes (a
 * multiple of 4, > 0; plus 1: the first piece, c from 0) of columns a and b as the int8-weight loops read them: per 4 of k X (SXTAB16
 * of the input word onto 0x00810081: (x0 + 129, x2 + 129)) and Y (the word's even bytes XOR 0x7F:
 * (256 x1 + 127 - x0, 256 x3 + 127 - x2)) of a, then of b. The two words at dst on entry are the
 * columns' running c: -128 times the sum of their odd-k bytes (x1 + x3 + ...), read first; c with
 * these n bytes' added is written after their words, at dst + 4 n (where TQ_SENTER reads it). The
 * sums go by halfwords (SXTAB16), folded every 1024 bytes (256 words: no halfword overflows). The
 * LDRs may be unaligned.
 */
    .section .text.tq_gemm_split_dsp, "ax", %progbits
    .p2align 2
    .global tq_gemm_split_dsp
    .type   tq_gemm_split_dsp, %function
    .thumb_func
tq_gemm_split_dsp:
    push    {r4-r11, lr}
    ldrd    r4, r5, [r3]                /* the running c0, c1 */
    lsrs    r2, r2, #1                  /* n's bit 0: the pair's first piece (c from 0) */
    itt     cs
    movcs   r4, #0
    movcs   r5, #0
    mov     r12, #0x00810081
    add     r2, r0, r2, lsl #1          /* end of a */
1:
    add     lr, r0, #1024
    cmp     lr, r2
    it      hi
    movhi   lr, r2                      /* this block's end */
    mov     r10, #0
    mov     r11, #0
    sub     r6, lr, r0
    tst     r6, #4                      /* an odd 4 of k first */
    beq     2f
    ldr     r8, [r0], #4
    ldr     r9, [r1], #4
    sxtab16 r10, r10, r8, ror #8
    sxtab16 r11, r11, r9, ror #8
    sxtab16 r6, r12, r8
    eor     r7, r8, #0x007F007F
    sxtab16 r8, r12, r9
    eor     r9, r9, #0x007F007F
    stm     r3!, {r6-r9}
    cmp     r0, lr
    beq     3f
2:
    ldr     r8, [r0], #4
    ldr     r9, [r1], #4
    sxtab16 r10, r10, r8, ror #8
    sxtab16 r11, r11, r9, ror #8
    sxtab16 r6, r12, r8
    eor     r7, r8, #0x007F007F
    sxtab16 r8, r12, r9
    eor     r9, r9, #0x007F007F
    stm     r3!, {r6-r9}
    ldr     r8, [r0], #4
    ldr     r9, [r1], #4
    sxtab16 r10, r10, r8, ror #8
    sxtab16 r11, r11, r9, ror #8
    sxtab16 r6, r12, r8
    eor     r7, r8, #0x007F007F
    sxtab16 r8, r12, r9
    eor     r9, r9, #0x007F007F
    stm     r3!, {r6-r9}
    cmp     r0, lr
    bne     2b
3:
    sxth    r6, r10
    add     r6, r6, r10, asr #16
    sub     r4, r4, r6, lsl #7          /* c -= 128 (the block's odd-byte sum) */
    sxth    r6, r11
    add     r6, r6, r11, asr #16
    sub     r5, r5, r6, lsl #7
    cmp     r0, r2
    bne     1b
    stm     r3, {r4, r5}
    pop     {r4-r11, pc}
    .size   tq_gemm_split_dsp, . - tq_gemm_split_dsp

#endif
