/* tq_conv_im2col_s8 reading int16 weights (--wide-weights; see tq_gemm.h): the same file, another name. */
#define TQ_KERNEL_NAME tq_conv_im2col_wide_s8
#define TQ_GEMM_WIDE 1
#include "tq_conv_im2col_s8.c"
