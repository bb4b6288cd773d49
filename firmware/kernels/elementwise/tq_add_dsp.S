/*
 * ADD (int8, equal shapes) in assembler for cores with the DSP extension and without Helium (Cortex-M4,
 * M7, M33): tq_add_dsp_s8, called by tq_add_fast_s8.c with the constants generation made (params k,
 * tinyq/ops/elementwise.py add_dsp_constants), the same bits as tq_add_s8.
 *
 * In1 is the input of the larger scale (generation swaps the inputs otherwise): its rescale is
 * (a + oa) 2^19 exactly. In2's is (v + hb - neg) >> eb with v = SMMULR((b + ob) 2^21, mb) (TFLite's
 * SaturatingRoundingDoublingHighMul of the operand (b + ob) 2^20), hb = 2^(eb - 1), neg 1 where the
 * result is negative (RoundingDivideByPOT), eb >= 1 (an equal scale, mb 2^30 and eb 0, is given as
 * mb 2^31 - 1, eb 1: the same exact halving). neg is read from the operand's sign (the product's,
 * mb > 0; where they differ, v is 0 and neg changes nothing for eb >= 1), so the constant and neg
 * are one SMMLAR accumulator; in1's offset goes into it as oa 2^19 2^eb (added after the shift: the
 * sum is exact). The output: (SMMULR(2 s, mo) + ho - neg) >> so (ho = 2^(so - 1) + zero point 2^so,
 * so >= 1), the same way; then SSAT #8 where the activation is the full range, else a clamp.
 * Generation bounds every constant so that no sum leaves int32.
 *
 * k: Cb = ob 2^21, hb + oa 2^19 2^eb, mb, eb, ho, mo, so, act_min, act_max, n (elements, >= 1).
 * Registers in the loop: r1 in1, r2 in2, r3 out, r0 in1's end, r4..r10 the constants, r11, r12, lr
 * the element's values. 15 instructions an element (21 with a clamp).
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))

    .syntax unified
    .thumb

/* One element's sum requantized into r11 (unclamped), a, b, out pointers advanced past it. */
    .macro  TQ_ADD_ELEMENT
    ldrsb   r11, [r1], #1
    ldrsb   r12, [r2], #1
    add     r12, r4, r12, lsl #21       /* (b + ob) 2^21 */
    add     lr, r5, r12, asr #31        /* hb + oa 2^19 2^eb - neg */
    smmlar  lr, r12, r6, lr
    asr     lr, lr, r7                  /* in2's rescale + oa 2^19 */
    add     r11, lr, r11, lsl #19       /* s: the sum of both rescales */
    add     r12, r8, r11, asr #31       /* ho - neg */
    lsl     r11, r11, #1
    smmlar  r11, r11, r9, r12
    asr     r11, r11, r10
    .endm

    .text
    .global tq_add_dsp_s8
    .type   tq_add_dsp_s8, %function
    .thumb_func
/* void tq_add_dsp_s8(const int32_t *k, const int8_t *in1, const int8_t *in2, int8_t *out) */
tq_add_dsp_s8:
    push    {r4-r11, lr}
    ldrd    r11, r12, [r0, #28]         /* act_min, act_max */
    ldr     lr, [r0, #36]               /* n */
    ldm     r0, {r4-r10}
    add     r0, r1, lr
    cmn     r11, #128
    it      eq
    cmpeq   r12, #127
    bne     2f
1:
    TQ_ADD_ELEMENT
    ssat    r11, #8, r11
    strb    r11, [r3], #1
    cmp     r1, r0
    bne     1b
    pop     {r4-r11, pc}
2:
    push    {r11, r12}
3:
    TQ_ADD_ELEMENT
    ldrd    r12, lr, [sp]
    cmp     r11, r12
    it      lt
    movlt   r11, r12
    cmp     r11, lr
    it      gt
    movgt   r11, lr
    strb    r11, [r3], #1
    cmp     r1, r0
    bne     3b
    add     sp, #8
    pop     {r4-r11, pc}
    .size   tq_add_dsp_s8, . - tq_add_dsp_s8

#endif
