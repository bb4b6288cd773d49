/*
 * Shared by the DSP-extension kernels in assembler (tq_gemm_dsp.S, tq_depthwise_dsp.S) and the C
 * files that call them (tq_conv_1x1_s8.c, tq_conv_im2col_s8.c, tq_conv_taps_s8.c,
 * tq_depthwise_conv_fast_s8.c). Both languages read it through the C preprocessor:
 * - the byte offsets at which the assembler reads its job structs (tq_gemm_job in tq_gemm.h,
 *   tq_dw_job in tq_conv_fast.h) and the slots of its stack frame: plain numbers, for both;
 * - for the assembler (__ASSEMBLER__), the gas macros the two files share;
 * - for C, static asserts that the structs have exactly that layout (every field a word at its
 *   offset, the size the entry LDM/STM copies), so that a field added, removed, resized or moved in
 *   C stops the build instead of making the assembler read the wrong field. Change a job struct,
 *   then the offsets here, then the assembler (which uses these names, never raw numbers).
 */
#ifndef TQ_DSP_ASM_H
#define TQ_DSP_ASM_H

/*
 * tq_gemm_job (tq_gemm.h), 12 words, copied by TQ_ENTER (tq_gemm_dsp.S) with LDM/STM {r1-r12} to
 * [sp, #0]; the frame adds one word after it, the address where the k loop is entered.
 * Read together: cols, cols_end (LDRD, and LDM from sp: cols at 0), with blk (LDM from sp);
 * out0, out1 (LDRD / STRD); lo4, hi4 (LDRD).
 */
#define TQ_GEMM_JOB_COLS_OFF 0
#define TQ_GEMM_JOB_COLS_END_OFF 4
#define TQ_GEMM_JOB_BLK_OFF 8
#define TQ_GEMM_JOB_OUT0_OFF 12
#define TQ_GEMM_JOB_OUT1_OFF 16
#define TQ_GEMM_JOB_BLK_END_OFF 20
#define TQ_GEMM_JOB_W_OFF 24
#define TQ_GEMM_JOB_W_SKIP_OFF 28
#define TQ_GEMM_JOB_LO4_OFF 32
#define TQ_GEMM_JOB_HI4_OFF 36
#define TQ_GEMM_JOB_CLAMP_OFF 40
#define TQ_GEMM_JOB_ACC_OFF 44
#define TQ_GEMM_JOB_SIZE 48
#define TQ_GEMM_FRAME_ENTRY_OFF TQ_GEMM_JOB_SIZE /* the k loop's entry address (TQ_ENTRY) */
#define TQ_GEMM_FRAME_SIZE (TQ_GEMM_JOB_SIZE + 4)

/*
 * The frame of the int8-weight loops (split weights, tq_gemm_dsp.S's TQ_SENTER): what the row pair's
 * start loads with one LDM (cols, the first chunk's end, the four accumulators' start values, and
 * into lr the pair loops' running quantization block), the chunked sums' corrections and totals (k
 * above TQ_SGEMM_ONE_CHUNK), the loop's entry and chunk-end addresses, then the job's copy.
 */
#define TQ_SGEMM_FRAME_COLS 0
#define TQ_SGEMM_FRAME_FIRST_END 4
#define TQ_SGEMM_FRAME_INIT 8
#define TQ_SGEMM_FRAME_BLK 24
#define TQ_SGEMM_FRAME_C 28
#define TQ_SGEMM_FRAME_T 44
#define TQ_SGEMM_FRAME_ENTRY 60
#define TQ_SGEMM_FRAME_HANDLER 64
#define TQ_SGEMM_FRAME_JOB 68
#define TQ_SGEMM_FRAME_SIZE (TQ_SGEMM_FRAME_JOB + TQ_GEMM_JOB_SIZE)
/* tq_gemm_job.clamp's bit that asks the int8-weight loops for chunks of 256 of k (tq_gemm.h's TQ_GEMM_CHUNKED). */
#define TQ_GEMM_CLAMP_CHUNKED 2

/*
 * tq_dw_job (tq_conv_fast.h), 10 words, copied by DW_FUNC (tq_depthwise_dsp.S) with LDM/STM
 * {r1-r10} to [sp, #0]; the frame adds one word after it, the end of the tap pairs in the table.
 * Read together: tab, w (LDRD); out, end (LDRD); lo4, hi4 (LDRD).
 */
#define TQ_DW_JOB_TAB_OFF 0
#define TQ_DW_JOB_W_OFF 4
#define TQ_DW_JOB_Q_OFF 8
#define TQ_DW_JOB_OUT_OFF 12
#define TQ_DW_JOB_END_OFF 16
#define TQ_DW_JOB_LO4_OFF 20
#define TQ_DW_JOB_HI4_OFF 24
#define TQ_DW_JOB_CLAMP_OFF 28
#define TQ_DW_JOB_TAPS_OFF 32
#define TQ_DW_JOB_BASE_OFF 36
#define TQ_DW_JOB_SIZE 40
#define TQ_DW_FRAME_PAIRS_END_OFF TQ_DW_JOB_SIZE /* the end of the tap pairs in the table */
#define TQ_DW_FRAME_SIZE (TQ_DW_JOB_SIZE + 4)

/* What the multiple loads and stores assume of the numbers above (checked for both languages). */
#if TQ_GEMM_JOB_COLS_OFF != 0 || TQ_GEMM_JOB_COLS_END_OFF != TQ_GEMM_JOB_COLS_OFF + 4 || \
    TQ_GEMM_JOB_BLK_OFF != TQ_GEMM_JOB_COLS_END_OFF + 4
#error "tq_gemm_dsp.S loads cols, cols_end, blk with LDM from the job's copy at sp: offsets 0, 4, 8"
#endif
#if TQ_GEMM_JOB_OUT1_OFF != TQ_GEMM_JOB_OUT0_OFF + 4
#error "tq_gemm_dsp.S loads and stores out0, out1 with LDRD / STRD: consecutive words"
#endif
#if TQ_GEMM_JOB_HI4_OFF != TQ_GEMM_JOB_LO4_OFF + 4
#error "tq_gemm_dsp.S loads lo4, hi4 with LDRD: consecutive words"
#endif
#if TQ_GEMM_JOB_SIZE != 12 * 4
#error "tq_gemm_dsp.S copies tq_gemm_job with LDM / STM {r1-r12}: 12 words"
#endif
#if TQ_DW_JOB_W_OFF != TQ_DW_JOB_TAB_OFF + 4 || TQ_DW_JOB_END_OFF != TQ_DW_JOB_OUT_OFF + 4 || \
    TQ_DW_JOB_HI4_OFF != TQ_DW_JOB_LO4_OFF + 4
#error "tq_depthwise_dsp.S loads tab, w and out, end and lo4, hi4 with LDRD: consecutive words"
#endif
#if TQ_DW_JOB_SIZE != 10 * 4
#error "tq_depthwise_dsp.S copies tq_dw_job with LDM / STM {r1-r10}: 10 words"
#endif

#if defined(__ASSEMBLER__)

/* tq_requant_mm on \a (mult \m, radd \r, rsh \s), then saturated to int8 (SSAT #8); \t: scratch. */
    .macro  TQ_REQUANT a, m, r, s, t
    lsl     \t, \a, #1
    smmlar  \t, \t, \m, \r
    sub     \t, \t, \a, lsr #31
    asr     \a, \t, \s
    ssat    \a, #8, \a
    .endm

/* TQ_REQUANT of an accumulator already doubled (\a = 2 acc, which fits int32 wherever TQ_REQUANT is
   exact: |acc| < 2^30): the same result, 4 instructions. */
    .macro  TQ_REQUANT2 a, m, r, s, t
    smmlar  \t, \a, \m, \r
    sub     \t, \t, \a, lsr #31
    asr     \a, \t, \s
    ssat    \a, #8, \a
    .endm

/*
 * tq_requant_gen on \a (mult \m, left shift \l, right shift \e, the output zero point in the high
 * bytes of \z: z >> 8), then saturated to int8; \t, \u: scratch. x = (acc << l) * mult + 2^30 >> 31
 * in 64 bits (SaturatingRoundingDoublingHighMul; |x| < 2^31), then RoundingDivideByPOT(x, e) =
 * ((x - [x < 0]) >> e) + bit e - 1 of (x - [x < 0]): for e = 0 the shift by e - 1 (low byte 255)
 * gives the sign, which puts the [x < 0] back. 14 instructions (TQ_REQUANT: 5).
 */
    .macro  TQ_REQUANT_GEN a, m, l, e, z, t, u
    lsl     \t, \a, \l
    smull   \t, \u, \t, \m
    adds    \t, \t, #0x40000000
    adc     \u, \u, #0
    lsl     \u, \u, #1
    orr     \t, \u, \t, lsr #31
    sub     \t, \t, \t, lsr #31
    sub     \u, \e, #1
    asr     \u, \t, \u
    and     \u, \u, #1
    asr     \t, \t, \e
    add     \t, \t, \u
    add     \t, \t, \z, asr #8
    ssat    \a, #8, \t
    .endm

#else /* C */

#include <stddef.h>

#include "tq_conv_fast.h" /* tq_gemm_job (tq_gemm.h), tq_dw_job; TQ_GEMM_DSP */

#if defined(TQ_GEMM_DSP) /* the structs and the assembler exist on the DSP extension only */
/* C99 has no _Static_assert (and -pedantic refuses it): a check is a typedef of an array whose size is -1
 * when it fails, so the compiler stops with "size of array 'tq_asm_layout_<what>' is negative", the name
 * saying which field moved. Field `field` of `type` must be the word the assembler reads at byte `off`. */
#define TQ_ASM_CHECK(what, cond) typedef char tq_asm_layout_##what[(cond) ? 1 : -1]
#define TQ_ASM_FIELD(type, field, off)                                                                               \
    TQ_ASM_CHECK(type##_##field##_is_not_at_##off, offsetof(type, field) == (off));                                 \
    TQ_ASM_CHECK(type##_##field##_is_not_the_word_read_at_##off, sizeof(((type *)0)->field) == 4)

TQ_ASM_FIELD(tq_gemm_job, cols, TQ_GEMM_JOB_COLS_OFF);
TQ_ASM_FIELD(tq_gemm_job, cols_end, TQ_GEMM_JOB_COLS_END_OFF);
TQ_ASM_FIELD(tq_gemm_job, blk, TQ_GEMM_JOB_BLK_OFF);
TQ_ASM_FIELD(tq_gemm_job, out0, TQ_GEMM_JOB_OUT0_OFF);
TQ_ASM_FIELD(tq_gemm_job, out1, TQ_GEMM_JOB_OUT1_OFF);
TQ_ASM_FIELD(tq_gemm_job, blk_end, TQ_GEMM_JOB_BLK_END_OFF);
TQ_ASM_FIELD(tq_gemm_job, w, TQ_GEMM_JOB_W_OFF);
TQ_ASM_FIELD(tq_gemm_job, w_skip, TQ_GEMM_JOB_W_SKIP_OFF);
TQ_ASM_FIELD(tq_gemm_job, lo4, TQ_GEMM_JOB_LO4_OFF);
TQ_ASM_FIELD(tq_gemm_job, hi4, TQ_GEMM_JOB_HI4_OFF);
TQ_ASM_FIELD(tq_gemm_job, clamp, TQ_GEMM_JOB_CLAMP_OFF);
TQ_ASM_FIELD(tq_gemm_job, acc, TQ_GEMM_JOB_ACC_OFF);
/* tq_gemm_dsp.S copies TQ_GEMM_JOB_SIZE bytes of the job to its stack frame */
TQ_ASM_CHECK(tq_gemm_job_is_not_TQ_GEMM_JOB_SIZE_bytes, sizeof(tq_gemm_job) == TQ_GEMM_JOB_SIZE);

TQ_ASM_FIELD(tq_dw_job, tab, TQ_DW_JOB_TAB_OFF);
TQ_ASM_FIELD(tq_dw_job, w, TQ_DW_JOB_W_OFF);
TQ_ASM_FIELD(tq_dw_job, q, TQ_DW_JOB_Q_OFF);
TQ_ASM_FIELD(tq_dw_job, out, TQ_DW_JOB_OUT_OFF);
TQ_ASM_FIELD(tq_dw_job, end, TQ_DW_JOB_END_OFF);
TQ_ASM_FIELD(tq_dw_job, lo4, TQ_DW_JOB_LO4_OFF);
TQ_ASM_FIELD(tq_dw_job, hi4, TQ_DW_JOB_HI4_OFF);
TQ_ASM_FIELD(tq_dw_job, clamp, TQ_DW_JOB_CLAMP_OFF);
TQ_ASM_FIELD(tq_dw_job, taps, TQ_DW_JOB_TAPS_OFF);
TQ_ASM_FIELD(tq_dw_job, base, TQ_DW_JOB_BASE_OFF);
/* tq_depthwise_dsp.S copies TQ_DW_JOB_SIZE bytes of the job to its stack frame */
TQ_ASM_CHECK(tq_dw_job_is_not_TQ_DW_JOB_SIZE_bytes, sizeof(tq_dw_job) == TQ_DW_JOB_SIZE);

#undef TQ_ASM_FIELD
#undef TQ_ASM_CHECK
#endif /* TQ_GEMM_DSP */

#endif /* __ASSEMBLER__ */

#endif /* TQ_DSP_ASM_H */
