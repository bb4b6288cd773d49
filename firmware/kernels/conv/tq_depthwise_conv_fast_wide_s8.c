/* tq_depthwise_conv_fast_s8 reading int16 weights (--wide-weights; see tq_conv_fast.h): the same file, another name. */
#define TQ_KERNEL_NAME tq_depthwise_conv_fast_wide_s8
#define TQ_DW_WIDE 1
#include "tq_depthwise_conv_fast_s8.c"
