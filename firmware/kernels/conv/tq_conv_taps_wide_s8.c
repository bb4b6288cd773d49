/* tq_conv_taps_s8 reading int16 weights (--wide-weights; see tq_gemm.h): the same file, another name. */
#define TQ_GEMM_WIDE 1 /* before tq_gemm.h: its column pairs for int16 weights */
#include "tq_gemm.h"

#define TQ_KERNEL_NAME tq_conv_taps_wide_s8
#define TQ_TAPS_WEIGHTS(g) ((g)->weights16)
#define TQ_TAPS_DOT(w, cols, n, group, acc) tq_dot_2x2_wide_c(w, cols, n, acc)
#define TQ_TAPS_ROWS tq_gemm_rows_wide_dsp
#define TQ_TAPS_PAIRS tq_gemm_pairs_acc_wide_dsp
#define TQ_TAPS_PAIRS_GEN tq_gemm_pairs_acc_gen_wide_dsp
#include "tq_conv_taps_s8.c"
