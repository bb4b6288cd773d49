/*
 * tinyq element-wise binary kernels (int8): ADD and MUL, with numpy-style broadcasting.
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_integer_ops::Add / Mul and their BroadcastXxx4DSlow twins).
 * Every parameter is computed and validated at generation time (tinyq/ops/elementwise.py).
 */
#ifndef TQ_ELEMENTWISE_H
#define TQ_ELEMENTWISE_H

#include "tq_common.h"

/**
 * Operand layout shared by the binary kernels.
 *
 * broadcast == 0: both inputs and the output hold `size` elements in the same order (flat loop).
 * broadcast == 1: `out` is the output shape padded to NHWC; output element (n, h, w, c) reads
 * in1[n * in1_stride.n + h * in1_stride.h + w * in1_stride.w + c * in1_stride.c] (same for in2),
 * where a stride is 0 along an axis the input broadcasts (extent 1). Ranks <= 4.
 */
typedef struct {
    int32_t broadcast;
    int32_t size;        /**< element count of the output */
    tq_dims out;         /**< output shape (broadcast loop) */
    tq_dims in1_stride;  /**< element strides of input 1 per output axis, 0 when broadcast */
    tq_dims in2_stride;  /**< element strides of input 2 per output axis, 0 when broadcast */
} tq_bcast_s8;

/**
 * ADD (TFLite's 8-bit general path): each input is offset by its negated zero point, shifted
 * left by left_shift (20), scaled by its multiplier (in_scale / (2 * max in_scale), shift <= 0);
 * the sum is scaled by out_mult/out_shift (shift <= 0), offset by the output zero point and
 * clamped to [act_min, act_max].
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t in1_offset, in2_offset; /**< -zero point of each input */
    int32_t out_offset;             /**< output zero point */
    int32_t left_shift;
    int32_t in1_mult, in1_shift;
    int32_t in2_mult, in2_shift;
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} tq_add_s8_params;

tq_status tq_add_s8(const tq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/*
 * ADD with equal input shapes (shape.broadcast == 0), the same bits as tq_add_s8 through the
 * one-step tq_requantize_rs (ADD's shifts are all <= 0). From 1,024 elements on, each input's
 * rescaled value per byte comes from a table made at generation time (t1, t2: 256 int32 in flash,
 * indexed by byte + 128); below, t1 == t2 == NULL and all three requantizations are computed.
 * `out` may be either input.
 */
typedef struct {
    tq_add_s8_params add;
    const int32_t *t1;
    const int32_t *t2;
} tq_add_fast_s8_params;

tq_status tq_add_fast_s8(const tq_add_fast_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/**
 * MUL: (in1 + in1_offset) * (in2 + in2_offset) scaled by out_mult/out_shift
 * (in1_scale * in2_scale / out_scale), offset by the output zero point, clamped to
 * [act_min, act_max].
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t in1_offset, in2_offset; /**< -zero point of each input */
    int32_t out_offset;             /**< output zero point */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} tq_mul_s8_params;

tq_status tq_mul_s8(const tq_mul_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif /* TQ_ELEMENTWISE_H */
