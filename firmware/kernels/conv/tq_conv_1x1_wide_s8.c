/* tq_conv_1x1_s8 reading int16 weights (--wide-weights; see tq_gemm.h): the same file, another name. */
#define TQ_KERNEL_NAME tq_conv_1x1_wide_s8
#define TQ_GEMM_WIDE 1
#include "tq_conv_1x1_s8.c"
