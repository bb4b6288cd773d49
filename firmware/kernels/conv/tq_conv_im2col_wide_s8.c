/* tq_conv_im2col_s8 reading int16 weights (--wide-weights; see tq_gemm.h): the same file, another name. */
#define TQ_KERNEL_NAME tq_conv_im2col_wide_s8
#define TQ_GEMM_PAIR tq_gemm_pair_wide
#include "tq_conv_im2col_s8.c"
