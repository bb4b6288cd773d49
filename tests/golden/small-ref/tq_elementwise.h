/*
 * tinyq element-wise binary kernels (int8): ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE,
 * with numpy-style broadcasting. The int16 and float32 twins (tq_int16.h, tq_float.h) share the
 * operand layout (tq_bcast_s8), its walk (tq_bcast_iter) and the parameter structs below.
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_integer_ops::Add / Mul, reference_ops::Sub / BroadcastQuantSubSlow,
 * MaximumMinimumBroadcastSlow, squared_difference.cc's int8 function, and their broadcast loops).
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
 * The walk over the output in order, with the elements of in1 and in2 that each output element
 * reads (any element type: offsets only):
 *
 *     for (tq_bcast_iter it = tq_bcast_begin(); it.k < s->size; tq_bcast_next(s, &it)) {
 *         out[it.k] = f(in1[it.i1], in2[it.i2]);
 *     }
 *
 * Element k is read before element k is written, and no later element reads an earlier one when
 * s->broadcast == 0, so `out` may then be either input.
 */
typedef struct {
    int32_t k;          /**< output element */
    int32_t i1, i2;     /**< the elements of in1 and in2 it reads */
    int32_t n, h, w, c; /**< its coordinates (broadcast loop) */
} tq_bcast_iter;

static inline tq_bcast_iter tq_bcast_begin(void)
{
    const tq_bcast_iter it = {0, 0, 0, 0, 0, 0, 0};
    return it;
}

static inline void tq_bcast_next(const tq_bcast_s8 *s, tq_bcast_iter *it)
{
    ++it->k;
    if (!s->broadcast) {
        it->i1 = it->i2 = it->k;
        return;
    }
    if (++it->c < s->out.c) {
        it->i1 += s->in1_stride.c;
        it->i2 += s->in2_stride.c;
        return;
    }
    /* A new row: carry into w, h, n and find where the row starts in each input. */
    it->c = 0;
    if (++it->w == s->out.w) {
        it->w = 0;
        if (++it->h == s->out.h) {
            it->h = 0;
            ++it->n;
        }
    }
    it->i1 = it->n * s->in1_stride.n + it->h * s->in1_stride.h + it->w * s->in1_stride.w;
    it->i2 = it->n * s->in2_stride.n + it->h * s->in2_stride.h + it->w * s->in2_stride.w;
}

/**
 * The parameters of ADD, SUB (TFLite's general 8- and 16-bit paths) and SQUARED_DIFFERENCE (int8):
 * each input is offset by its negated zero point, shifted left by left_shift, scaled by its
 * multiplier (in_scale / (2 * max in_scale), shift <= 0; see tq_rescale_input); the sum, the
 * difference or the squared difference is scaled by out_mult/out_shift (shift <= 0), offset by
 * the output zero point and clamped to [act_min, act_max].
 *     ADD, SUB: left_shift 20 (int8) or 15 (int16, offsets 0); out = 2 max in_scale / (2^left_shift out_scale).
 *     SQUARED_DIFFERENCE: left_shift 7; out = (2 max in_scale)^2 / (2^14 out_scale); act range [-128, 127].
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

typedef tq_add_s8_params tq_sub_s8_params;
typedef tq_add_s8_params tq_squared_difference_s8_params;

/* One input of ADD / SUB / SQUARED_DIFFERENCE on the common scale: ((q + offset) << left_shift)
 * through MultiplyByQuantizedMultiplierSmallerThanOneExp (mult, shift <= 0). */
static inline int32_t tq_rescale_input(int32_t q, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift)
{
    return tq_mul_by_quantized_mult((offset + q) * (1 << left_shift), mult, shift);
}

tq_status tq_add_s8(const tq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
tq_status tq_sub_s8(const tq_sub_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
tq_status tq_squared_difference_s8(const tq_squared_difference_s8_params *p, const int8_t *in1, const int8_t *in2,
                                   int8_t *out);

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
 * (in1_scale * in2_scale / out_scale, shift in [-31, 30]), offset by the output zero point,
 * clamped to [act_min, act_max].
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t in1_offset, in2_offset; /**< -zero point of each input */
    int32_t out_offset;             /**< output zero point */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} tq_mul_s8_params;

tq_status tq_mul_s8(const tq_mul_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/**
 * The binary ops with no parameter besides their operands' layout: MAXIMUM and MINIMUM (which
 * compare the stored values, as TFLite does: its converter gives both inputs and the output one
 * scale and zero point), and SQUARED_DIFFERENCE on floats.
 */
typedef struct {
    tq_bcast_s8 shape;
} tq_binary_params;

typedef tq_binary_params tq_maximum_s8_params;
typedef tq_binary_params tq_minimum_s8_params;

/** MAXIMUM: in1 > in2 ? in1 : in2. MINIMUM: in1 < in2 ? in1 : in2. */
tq_status tq_maximum_s8(const tq_maximum_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
tq_status tq_minimum_s8(const tq_minimum_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif /* TQ_ELEMENTWISE_H */
