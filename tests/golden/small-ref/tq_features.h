/*
 * Which variant code the kernels compile in. A generated library carries tq_config.h (written by
 * tinyq.compiler.codegen from the lowered calls' params), which sets each TQ_CFG_* macro to 0 where
 * no layer of the model needs that variant, so its code is not linked. Without tq_config.h (a kernel
 * compiled alone), or with a macro left undefined, every variant is compiled in.
 *   TQ_CFG_REQUANT_GEN  the general requantization (gemm / depthwise params requant 1)
 *   TQ_CFG_WIDE         int16 weights (--wide-weights)
 *   TQ_CFG_GEMM_CHUNKS  the DSP convolution loop's sums in chunks of 256 of k (gemm params chunked 1)
 *   TQ_CFG_GEMM_REST    the DSP convolution rows its row-pair loop leaves (gemm params out_c odd, or requant 1)
 *   TQ_CFG_IM2COL_GATHER im2col gathering whole columns of short filter rows on small maps (params gather 1)
 *   TQ_CFG_DW_REST      the fast depthwise kernel's last in.c % 4 channels (a block in assembler on DSP cores)
 *   TQ_CFG_DW_PAD       the fast depthwise kernel on a zero-point-padded copy of its input (params pad_copy 1)
 *   TQ_CFG_DW_WIDE      the fast depthwise DSP loops over int16 weights (depthwise params weights16 set)
 *   TQ_CFG_FC_GUARD     the fully connected kernel's guarded rounding (params guarded 1)
 *   TQ_CFG_FC_PREP      the fully connected DSP loop on operands prepared in scratch (fc_prep 1)
 *   TQ_CFG_FC_INLINE    the fully connected DSP loop making its operands itself (fc_prep 0)
 *   TQ_CFG_FC_FLIP      the fully connected DSP loop on its input made into operands in place (fc_prep 2)
 *   TQ_CFG_FC_ROW1      the fully connected DSP kernel's lone last row (out_depth % 4 == 1, split)
 *   TQ_CFG_FC_WIDE      the fully connected DSP loop over int16 weights (params wide set)
 *   TQ_CFG_POOL_NARROW  int8 pooling a channel at a time on SIMD32 cores (pool params narrow 1)
 * Preprocessor only: the assembler sources include it too.
 */
#ifndef TQ_FEATURES_H
#define TQ_FEATURES_H

#if defined(__has_include)
#if __has_include("tq_config.h")
#include "tq_config.h"
#endif
#endif

#ifndef TQ_CFG_REQUANT_GEN
#define TQ_CFG_REQUANT_GEN 1
#endif
#ifndef TQ_CFG_WIDE
#define TQ_CFG_WIDE 1
#endif
#ifndef TQ_CFG_GEMM_CHUNKS
#define TQ_CFG_GEMM_CHUNKS 1
#endif
#ifndef TQ_CFG_GEMM_REST
#define TQ_CFG_GEMM_REST 1
#endif
#ifndef TQ_CFG_IM2COL_GATHER
#define TQ_CFG_IM2COL_GATHER 1
#endif
#ifndef TQ_CFG_DW_REST
#define TQ_CFG_DW_REST 1
#endif
#ifndef TQ_CFG_DW_PAD
#define TQ_CFG_DW_PAD 1
#endif
#ifndef TQ_CFG_DW_WIDE
#define TQ_CFG_DW_WIDE 1
#endif
#ifndef TQ_CFG_FC_GUARD
#define TQ_CFG_FC_GUARD 1
#endif
#ifndef TQ_CFG_FC_PREP
#define TQ_CFG_FC_PREP 1
#endif
#ifndef TQ_CFG_FC_INLINE
#define TQ_CFG_FC_INLINE 1
#endif
#ifndef TQ_CFG_FC_FLIP
#define TQ_CFG_FC_FLIP 1
#endif
#ifndef TQ_CFG_FC_ROW1
#define TQ_CFG_FC_ROW1 1
#endif
#ifndef TQ_CFG_FC_WIDE
#define TQ_CFG_FC_WIDE 1
#endif
#ifndef TQ_CFG_POOL_NARROW
#define TQ_CFG_POOL_NARROW 1
#endif

#endif /* TQ_FEATURES_H */
