/*
 * tinyq element-wise kernels (int8): ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV and
 * the comparisons, with numpy-style broadcasting; and the kernels of any element type: the
 * comparisons of int32 and bool values, ADD_N, ADD, SUB and MUL on int32, SELECT / SELECT_V2,
 * LOGICAL_AND / OR / NOT.
 * The int16 and float32 twins (tq_int16.h, tq_float.h) share the operand layout (tq_bcast_s8),
 * its walk (tq_bcast_iter) and the parameter structs below. bool tensors are uint8_t holding 0 or 1.
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_integer_ops::Add / Mul, reference_ops::Sub / BroadcastQuantSubSlow,
 * MaximumMinimumBroadcastSlow, squared_difference.cc's int8 function, DivElementwise,
 * ComparisonWithScaling, AddN, Select / BroadcastSelectSlow, logical.cc, and their broadcast loops).
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
    /* DSP cores (tq_add_dsp.S): Cb, hb, mb, eb, ho, mo, so, act_min, act_max, n; n 0 where that form
       does not apply (in1 is then not necessarily the larger scale). */
    int32_t k[10];
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

/* ------------------------------------------------------------------ comparisons (bool output) */

/** The comparison of a tq_compare_* call (its params' `op`): in1 == in2, !=, <, <=, >, >=. */
enum {
    TQ_CMP_EQUAL = 0,
    TQ_CMP_NOT_EQUAL = 1,
    TQ_CMP_LESS = 2,
    TQ_CMP_LESS_EQUAL = 3,
    TQ_CMP_GREATER = 4,
    TQ_CMP_GREATER_EQUAL = 5
};

/* in1 `op` in2 on int32 values, 1 or 0. */
static inline uint8_t tq_compare_i32(int32_t op, int32_t a, int32_t b)
{
    switch (op) {
    case TQ_CMP_EQUAL:
        return (uint8_t)(a == b);
    case TQ_CMP_NOT_EQUAL:
        return (uint8_t)(a != b);
    case TQ_CMP_LESS:
        return (uint8_t)(a < b);
    case TQ_CMP_LESS_EQUAL:
        return (uint8_t)(a <= b);
    case TQ_CMP_GREATER:
        return (uint8_t)(a > b);
    default:
        return (uint8_t)(a >= b);
    }
}

/**
 * EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL on quantized values
 * (comparisons.cc ComparisonQuantized, reference_ops::ComparisonWithScaling): each input is offset
 * by its negated zero point, shifted left by left_shift (8) and scaled by its own scale as a
 * multiplier (QuantizeMultiplierSmallerThanOneExp of the scale itself, shift <= 0, through
 * tq_rescale_input); the two int32 results are compared. Used by int8, and by int16 EQUAL /
 * NOT_EQUAL; `rescale` 0 compares the stored values instead (the other int16 comparisons).
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t op;                     /**< TQ_CMP_* */
    int32_t rescale;                /**< 1: as above; 0: the stored values compared */
    int32_t in1_offset, in2_offset; /**< -zero point of each input */
    int32_t left_shift;
    int32_t in1_mult, in1_shift;
    int32_t in2_mult, in2_shift;
} tq_compare_s8_params;

tq_status tq_compare_s8(const tq_compare_s8_params *p, const int8_t *in1, const int8_t *in2, uint8_t *out);

/** The comparisons of values compared as stored: int32, bool (EQUAL, NOT_EQUAL), float32 (tq_float.h). */
typedef struct {
    tq_bcast_s8 shape;
    int32_t op; /**< TQ_CMP_* */
} tq_compare_params;

typedef tq_compare_params tq_compare_s32_params;
typedef tq_compare_params tq_compare_bool_params;

tq_status tq_compare_s32(const tq_compare_s32_params *p, const int32_t *in1, const int32_t *in2, uint8_t *out);
/** bool operands compare as truth values (nonzero is true). */
tq_status tq_compare_bool(const tq_compare_bool_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out);

/* ------------------------------------------------------------------ DIV (int8) */

/**
 * DIV, int8 (div.cc, reference_ops::DivElementwise / BroadcastDivSlowQuantized): with
 * v1 = in1 + in1_offset and v2 = in2 + in2_offset (both signs flipped when v2 < 0), v1 scaled by
 * the Q0.31 reciprocal of v2 (GetReciprocal: 2^recip_shift / v2) after a left shift by its headroom
 * (its redundant sign bits), then by out_mult through a rounding right shift of
 * recip_shift + headroom - out_shift, offset by the output zero point and clamped to
 * [act_min, act_max]. out_mult/out_shift: in1_scale / (in2_scale * out_scale) (QuantizeMultiplier).
 *
 * TFLite's Eval refuses a divisor equal to its zero point (CheckNonZero): the kernel returns
 * TQ_ARG_ERROR, before writing anything, when any element of in2 is -in2_offset. Where that right
 * shift reaches 32 or more (zero and small numerators over large divisors: the headroom of 0 is 31),
 * the reference's RoundingDivideByPOT shifts out of range, which C++ leaves undefined; tq_div_s8
 * computes what TFLite's x86-64 build does there (the processor's shift counts: 64-bit ones modulo
 * 64, 32-bit ones modulo 32), so that it matches the reference interpreter bit for bit (checked on
 * every operand pair, tests/test_ops_select_compare.py). `out` may be an input when
 * shape.broadcast == 0.
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t in1_offset, in2_offset; /**< -zero point of each input */
    int32_t out_offset;             /**< output zero point */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} tq_div_s8_params;

tq_status tq_div_s8(const tq_div_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* ------------------------------------------------------------------ ADD_N (int32) */

/**
 * ADD_N (add_n.cc, reference_ops::AddN): out[i] = in[0][i] + in[1][i] + ... + in[n-1][i], summed from
 * 0 in input order; all inputs and the output hold `size` elements. int32 sums wrap (as the
 * reference's do in practice). `out` may be any input.
 */
typedef struct {
    int32_t n;    /**< inputs, >= 2 */
    int32_t size; /**< elements of each */
} tq_add_n_params;

typedef tq_add_n_params tq_add_n_s32_params;

tq_status tq_add_n_s32(const tq_add_n_s32_params *p, const int32_t *const in[], int32_t *out);

/* ------------------------------------------------------------------ ADD, SUB, MUL (int32) */

/**
 * ADD, SUB, MUL on int32 values (add.cc, sub.cc, mul.cc: reference_ops::Add, SubWithActivation, Mul and
 * their broadcast loops): out = clamp(in1 op in2, act_min, act_max), the fused activation's range
 * (CalculateActivationRange<int32_t>; INT32_MIN..INT32_MAX for none). No quantization. Sums, differences
 * and products wrap modulo 2^32, as the reference's do in practice. Flat loop: `out` may be either input.
 */
typedef struct {
    tq_bcast_s8 shape;
    int32_t act_min, act_max;
} tq_arith_s32_params;

typedef tq_arith_s32_params tq_add_s32_params;
typedef tq_arith_s32_params tq_sub_s32_params;
typedef tq_arith_s32_params tq_mul_s32_params;

tq_status tq_add_s32(const tq_add_s32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out);
tq_status tq_sub_s32(const tq_sub_s32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out);
tq_status tq_mul_s32(const tq_mul_s32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out);

/* ------------------------------------------------------------------ SELECT, SELECT_V2 (any type) */

/**
 * SELECT / SELECT_V2 (select.cc, reference_ops::Select, RankOneSelect, BroadcastSelectSlow):
 * out = cond ? x : y element by element, for elements of elem_size bytes (1, 2 or 4: int8, bool,
 * int16, int32, float32). x and y follow `shape` (in1 = x, in2 = y); element (n, h, w, c) of the
 * broadcast loop reads cond[n * cond_stride.n + h * cond_stride.h + w * cond_stride.w +
 * c * cond_stride.c] (SELECT's rank-1 condition, one per index of x's first axis, is a stride of
 * 1 on that axis); with shape.broadcast == 0 all four tensors have the same shape.
 */
typedef struct {
    tq_bcast_s8 shape;
    tq_dims cond_stride; /**< element strides of the condition per output axis, 0 when broadcast */
    int32_t elem_size;   /**< bytes per element of x, y and out */
} tq_select_params;

tq_status tq_select(const tq_select_params *p, const uint8_t *cond, const void *x, const void *y, void *out);

/* ------------------------------------------------------------------ LOGICAL_AND, _OR, _NOT (bool) */

/** LOGICAL_AND, LOGICAL_OR (logical.cc, with broadcasting): 1 or 0. `out` may be an input when
 *  shape.broadcast == 0. */
typedef tq_binary_params tq_logical_and_params;
typedef tq_binary_params tq_logical_or_params;

tq_status tq_logical_and(const tq_logical_and_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out);
tq_status tq_logical_or(const tq_logical_or_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out);

/** LOGICAL_NOT: out = !in, `size` elements. `out` may be `in`. */
typedef struct {
    int32_t size;
} tq_logical_not_params;

tq_status tq_logical_not(const tq_logical_not_params *p, const uint8_t *in, uint8_t *out);

#endif /* TQ_ELEMENTWISE_H */
