/*
 * The job of FULLY_CONNECTED's row loop in assembler (tq_fc_dsp.S), shared by it and its caller
 * tq_fully_connected_fast_s8.c through the C preprocessor, as tq_dsp_asm.h does for the GEMM:
 * byte offsets as plain numbers for both languages; for C, the struct, the prototype and checks
 * that the struct has exactly that layout (change the struct, then the offsets, then the assembler).
 */
#ifndef TQ_FC_DSP_H
#define TQ_FC_DSP_H

#define TQ_FC_JOB_X_OFF 0        /* the input row: int8, 4 bytes per 4 of depth (any alignment); with
                                    TQ_FC_FLIP made into Z words by tq_fc_flip_dsp (word-aligned); or
                                    with TQ_FC_PREP tq_fc_prep_dsp's words, 8 bytes per 4 of depth */
#define TQ_FC_JOB_X_END_OFF 4
#define TQ_FC_JOB_W_OFF 8        /* weights: per quad of rows and 4 of depth, the 4 rows' words, their
                                    bytes (w3 + 128, w2, w1 + 128, w0) (see tq_fc_dsp.S) */
#define TQ_FC_JOB_BIAS_OFF 12    /* 4 words a quad, walked */
#define TQ_FC_JOB_Q_OFF 16       /* per row mult, t, rnd (low, high word); walked */
#define TQ_FC_JOB_OUT_OFF 20     /* 4 output bytes a quad (or 4 sums with TQ_FC_RAW), walked */
#define TQ_FC_JOB_BIAS_END_OFF 24
#define TQ_FC_JOB_ADD_OFF 28     /* added to every sum (the weights' zero point times sum x) */
#define TQ_FC_JOB_LO4_OFF 32
#define TQ_FC_JOB_HI4_OFF 36
#define TQ_FC_JOB_FLAGS_OFF 40   /* TQ_FC_CLAMP | TQ_FC_GUARDED | TQ_FC_PREP | TQ_FC_FLIP | TQ_FC_RAW, and
                                    the chunks' size (TQ_FC_CHUNK_SHIFT) */
#define TQ_FC_JOB_SIZE 44
#define TQ_FC_FRAME_ENTRY_OFF TQ_FC_JOB_SIZE /* where the depth loop is entered */
#define TQ_FC_FRAME_SUSPECTS_OFF (TQ_FC_JOB_SIZE + 4) /* sums near a rounding boundary (guarded) */
#define TQ_FC_FRAME_QUAD_OFF (TQ_FC_JOB_SIZE + 8)     /* where a quad of rows starts */
#define TQ_FC_FRAME_END_OFF (TQ_FC_JOB_SIZE + 12)     /* the input's end (x_end's slot: a chunk's) */
#define TQ_FC_FRAME_SUMS_OFF (TQ_FC_JOB_SIZE + 16)    /* a quad's sums between chunks, 4 words */
#define TQ_FC_FRAME_JOB_OFF (TQ_FC_JOB_SIZE + 32)     /* the job's address */
#define TQ_FC_FRAME_CHUNK_OFF (TQ_FC_JOB_SIZE + 36)   /* a chunk's bytes (of x: of operands with TQ_FC_PREP) */
#define TQ_FC_FRAME_SIZE (TQ_FC_JOB_SIZE + 40)        /* (8-byte aligned with the 9 words pushed) */

#define TQ_FC_CLAMP 1   /* clamp to lo4 / hi4 */
#define TQ_FC_GUARDED 2 /* constants with guards: count the suspects */
#define TQ_FC_PREP 4    /* x is tq_fc_prep_dsp's words */
#define TQ_FC_FLIP 8    /* x is made into Z words in place (tq_fc_flip_dsp); x_end - x a multiple of 8
                           (tq_fc_wide_dsp: any multiple of 4) */
#define TQ_FC_RAW 16    /* four sums a quad stored as words, not requantized */
#define TQ_FC_TAIL 32   /* tq_fc_wide_dsp: one more 4 of depth after x_end, the job's tail word */
#define TQ_FC_CHUNK_SHIFT 8 /* tq_fc_quads_dsp: flags bits 8..12, the chunks' log2 bytes of input (>= 8) */

/* The job of tq_fc_wide_dsp (int16 weights), offsets as above. */
#define TQ_FCW_X_OFF 0           /* the input row (any alignment; with TQ_FC_FLIP its Z words) */
#define TQ_FCW_X_END_OFF 4       /* x + 4 (depth / 4): the whole words of the row */
#define TQ_FCW_W_OFF 8           /* int16 weights, [quads][k / 4][4][4]: each row's (w0, w2, w1, w3) */
#define TQ_FCW_BIAS_OFF 12       /* 4 words a quad */
#define TQ_FCW_Q_OFF 16          /* per row mult, t, rnd (low, high word) */
#define TQ_FCW_OUT_OFF 20        /* 4 output bytes a quad (with TQ_FC_RAW 4 words) */
#define TQ_FCW_QUADS_OFF 24      /* quads of rows (> 0) */
#define TQ_FCW_LO4_OFF 28
#define TQ_FCW_HI4_OFF 32
#define TQ_FCW_TAIL_OFF 36       /* the last depth % 4 bytes of the row, 0 above them (TQ_FC_TAIL) */
#define TQ_FCW_FLAGS_OFF 40      /* TQ_FC_CLAMP | TQ_FC_FLIP | TQ_FC_RAW | TQ_FC_TAIL */
#define TQ_FCW_SIZE 44
#define TQ_FCW_FRAME_ENTRY_OFF TQ_FCW_SIZE /* where the depth loop is entered */
#define TQ_FCW_FRAME_SIZE (TQ_FCW_SIZE + 8) /* (8-byte aligned with the 9 words pushed) */

/* The input word x is made into the loop's operand Z = x ^ TQ_FC_MASK (bytes 127 - x0, x1, x2 + 128,
   ~x3; see tq_fc_dsp.S). */
#define TQ_FC_MASK 0xFF80007F

/* The sums of a chunk are 256 times the dot product (see tq_fc_dsp.S): a chunk of at most 256 of
   depth keeps them within int32 for any bytes; a layer's weights may allow longer ones (params
   chunk_lg). */
#define TQ_FC_CHUNK 256

#if TQ_FC_JOB_X_OFF != 0 || TQ_FC_JOB_X_END_OFF != 4 || TQ_FC_JOB_HI4_OFF != TQ_FC_JOB_LO4_OFF + 4
#error "tq_fc_dsp.S reads x, x_end and lo4, hi4 with LDRD: consecutive words, x at 0"
#endif
#if TQ_FC_JOB_SIZE != 11 * 4 || TQ_FCW_SIZE != 11 * 4
#error "tq_fc_dsp.S copies the jobs with LDM / STM {r1-r11}: 11 words"
#endif
#if TQ_FCW_HI4_OFF != TQ_FCW_LO4_OFF + 4 || TQ_FCW_X_END_OFF != TQ_FCW_X_OFF + 4
#error "tq_fc_wide_dsp reads x, x_end and lo4, hi4 with LDRD: consecutive words"
#endif

#if !defined(__ASSEMBLER__)
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int8_t *x, *x_end;
    const int8_t *w;
    const int32_t *bias;
    const int32_t *q;
    void *out;
    const int32_t *bias_end;
    int32_t add;
    uint32_t lo4, hi4;
    int32_t flags;
} tq_fc_job;

typedef struct {
    const int8_t *x, *x_end;
    const int16_t *w;
    const int32_t *bias;
    const int32_t *q;
    void *out;
    int32_t quads;
    uint32_t lo4, hi4;
    uint32_t tail;
    int32_t flags;
} tq_fc_wide_job;

/* Every quad of rows from bias to bias_end: four sums bias + add + D, D = the dot product plus 128
   times the sum of the odd x plus a constant per row (tq_fc_dsp.S; the caller folds the difference
   to sum w x into bias and add), then requantized into four bytes at
   out (clamped to lo4 / hi4 with TQ_FC_CLAMP), or with TQ_FC_RAW stored as four words. With
   TQ_FC_GUARDED (constants t + ((guard / 4) << 8)), a quad with sums within their guard of a rounding
   boundary (their outputs are then to be computed again) is the last one done, and the count of
   quads done is returned; else 0. */
int32_t tq_fc_quads_dsp(const tq_fc_job *job);

/* The input row's words (int8, any alignment) made into the loop's operands, two words per 4 of
   depth: Z = x ^ TQ_FC_MASK, then P = UXTB16 Z; sums[0] the sum over the Z words of their low
   halfword less their high one (signed), sums[1] the same over the P words. */
void tq_fc_prep_dsp(const int8_t *x, int32_t words, uint32_t *out, int32_t *sums);

/* sums[0] the sum of the even bytes x0, x2 of `words` input words, sums[1] of the odd ones. */
void tq_fc_sums_dsp(const int8_t *x, int32_t words, int32_t *sums);

/* tq_fc_sums_dsp's sums of `words` words at x (word-aligned), each then made into x ^ TQ_FC_MASK in
   place. */
void tq_fc_flip_dsp(int8_t *x, int32_t words, int32_t *sums);

/* tq_fc_flip_dsp's words made in place, the sum of their odd bytes x1, x3 (as they were) returned. */
int32_t tq_fc_flip_odd_dsp(int8_t *x, int32_t words);

/* Of `words` words at x made by tq_fc_flip_dsp: sums[0] the sum of byte 0 less byte 2 (unsigned:
   127 - x0 less x2 + 128), sums[1] of byte 1 less byte 3 (signed: x1 less ~x3). */
void tq_fc_zsums_dsp(const int8_t *x, int32_t words, int32_t *sums);

/* One row's sum over `words` (> 0, at most a chunk) Z words at z (word-aligned; tq_fc_flip_dsp's),
   its weight words w stored alone (as a quad's rows are): 256 times the dot product plus 128 times the
   odd inputs plus the row's constant, as tq_fc_quads_dsp sums a chunk. */
int32_t tq_fc_row1_dsp(const int8_t *z, const uint32_t *w, int32_t words);

/* `quads` quads of rows from int16 weights: per quad bias + the dot product of each row with the
   input (x to x_end, then with TQ_FC_TAIL the tail word; with TQ_FC_FLIP x is Z words, which the
   weights' layout and bias take), requantized into four bytes at out (clamped to lo4 / hi4 with
   TQ_FC_CLAMP), or with TQ_FC_RAW stored as four words. */
void tq_fc_wide_dsp(const tq_fc_wide_job *job);

#define TQ_FC_CHECK(what, cond) typedef char tq_fc_layout_##what[(cond) ? 1 : -1]
TQ_FC_CHECK(x, offsetof(tq_fc_job, x) == TQ_FC_JOB_X_OFF);
TQ_FC_CHECK(x_end, offsetof(tq_fc_job, x_end) == TQ_FC_JOB_X_END_OFF);
TQ_FC_CHECK(w, offsetof(tq_fc_job, w) == TQ_FC_JOB_W_OFF);
TQ_FC_CHECK(bias, offsetof(tq_fc_job, bias) == TQ_FC_JOB_BIAS_OFF);
TQ_FC_CHECK(q, offsetof(tq_fc_job, q) == TQ_FC_JOB_Q_OFF);
TQ_FC_CHECK(out, offsetof(tq_fc_job, out) == TQ_FC_JOB_OUT_OFF);
TQ_FC_CHECK(bias_end, offsetof(tq_fc_job, bias_end) == TQ_FC_JOB_BIAS_END_OFF);
TQ_FC_CHECK(add, offsetof(tq_fc_job, add) == TQ_FC_JOB_ADD_OFF);
TQ_FC_CHECK(lo4, offsetof(tq_fc_job, lo4) == TQ_FC_JOB_LO4_OFF);
TQ_FC_CHECK(hi4, offsetof(tq_fc_job, hi4) == TQ_FC_JOB_HI4_OFF);
TQ_FC_CHECK(flags, offsetof(tq_fc_job, flags) == TQ_FC_JOB_FLAGS_OFF);
TQ_FC_CHECK(size, sizeof(tq_fc_job) == TQ_FC_JOB_SIZE);
TQ_FC_CHECK(wx, offsetof(tq_fc_wide_job, x) == TQ_FCW_X_OFF);
TQ_FC_CHECK(wx_end, offsetof(tq_fc_wide_job, x_end) == TQ_FCW_X_END_OFF);
TQ_FC_CHECK(ww, offsetof(tq_fc_wide_job, w) == TQ_FCW_W_OFF);
TQ_FC_CHECK(wbias, offsetof(tq_fc_wide_job, bias) == TQ_FCW_BIAS_OFF);
TQ_FC_CHECK(wq, offsetof(tq_fc_wide_job, q) == TQ_FCW_Q_OFF);
TQ_FC_CHECK(wout, offsetof(tq_fc_wide_job, out) == TQ_FCW_OUT_OFF);
TQ_FC_CHECK(wquads, offsetof(tq_fc_wide_job, quads) == TQ_FCW_QUADS_OFF);
TQ_FC_CHECK(wlo4, offsetof(tq_fc_wide_job, lo4) == TQ_FCW_LO4_OFF);
TQ_FC_CHECK(whi4, offsetof(tq_fc_wide_job, hi4) == TQ_FCW_HI4_OFF);
TQ_FC_CHECK(wtail, offsetof(tq_fc_wide_job, tail) == TQ_FCW_TAIL_OFF);
TQ_FC_CHECK(wflags, offsetof(tq_fc_wide_job, flags) == TQ_FCW_FLAGS_OFF);
TQ_FC_CHECK(wsize, sizeof(tq_fc_wide_job) == TQ_FCW_SIZE);
#undef TQ_FC_CHECK
#endif

#endif /* TQ_FC_DSP_H */
