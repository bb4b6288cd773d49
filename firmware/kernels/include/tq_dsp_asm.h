/*
 * Assembler macros shared by the DSP-extension kernels in assembler (tq_gemm_dsp.S,
 * tq_depthwise_dsp.S); included by the C preprocessor, so it holds gas macros only.
 */
#ifndef TQ_DSP_ASM_H
#define TQ_DSP_ASM_H

/* tq_requant_mm on \a (mult \m, radd \r, rsh \s), then saturated to int8 (SSAT #8); \t: scratch. */
    .macro  TQ_REQUANT a, m, r, s, t
    lsl     \t, \a, #1
    smmlar  \t, \t, \m, \r
    sub     \t, \t, \a, lsr #31
    asr     \a, \t, \s
    ssat    \a, #8, \a
    .endm

#endif /* TQ_DSP_ASM_H */
