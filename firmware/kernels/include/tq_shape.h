/*
 * tinyq data-movement kernels: CONCATENATION, TRANSPOSE and the copy used when
 * RESHAPE / EXPAND_DIMS / SQUEEZE cannot be an alias (int8); and, for every element type (int8,
 * int16, float32), STRIDED_SLICE / SLICE / TILE / BROADCAST_TO / DEPTH_TO_SPACE / SPACE_TO_DEPTH /
 * SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND (tq_strided_copy), SPLIT / SPLIT_V / UNPACK (tq_split),
 * PAD / PADV2 (tq_pad), MIRROR_PAD and the index maps a strided copy cannot
 * express (tq_index_copy), and GATHER (tq_gather).
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter (these ops
 * move bytes and never change a value). Every parameter is computed and validated at
 * generation time (tinyq/ops/shape.py): shapes are simplified there (size-1 axes dropped,
 * axes that move together merged) and padded on the left with 1 to TQ_SHAPE_MAX_DIMS axes,
 * so the kernels below are plain loops.
 */
#ifndef TQ_SHAPE_H
#define TQ_SHAPE_H

#include "tq_common.h"

/** Number of axes every shape in this family is padded to (outermost first). */
#define TQ_SHAPE_MAX_DIMS 6

/**
 * Copy `size` int8 values (RESHAPE, EXPAND_DIMS, SQUEEZE: the row-major order of the data does
 * not change, only the shape). `in` and `out` may overlap.
 */
typedef struct {
    int32_t size; /**< number of elements, >= 0 */
} tq_copy_s8_params;

tq_status tq_copy_s8(const tq_copy_s8_params *p, const int8_t *in, int8_t *out);

/**
 * CONCATENATION of `num_inputs` int8 tensors along one axis. Seen row-major, the output is
 * `outer` repetitions of [chunk of input 0, chunk of input 1, ...], where outer is the product
 * of the axes before the concatenation axis and chunk[i] = (input i's extent on the axis) *
 * (product of the axes after it). Inputs share the output's scale and zero point (TFLite
 * requires it for int8), so this is a copy.
 */
typedef struct {
    int32_t num_inputs;
    int32_t outer;
    const int32_t *chunk; /**< num_inputs element counts, each >= 0 */
} tq_concat_s8_params;

tq_status tq_concat_s8(const tq_concat_s8_params *p, const int8_t *const in[], int8_t *out);

/**
 * TRANSPOSE: out[o_0, ..., o_5] = in[sum_k o_k * in_stride[k]], i.e. output axis k walks input
 * axis perm[k] and in_stride[k] is that input axis' row-major stride in elements.
 */
typedef struct {
    int32_t out_dims[TQ_SHAPE_MAX_DIMS];
    int32_t in_stride[TQ_SHAPE_MAX_DIMS];
} tq_transpose_s8_params;

tq_status tq_transpose_s8(const tq_transpose_s8_params *p, const int8_t *in, int8_t *out);

/* ------------------------------------------------------------------ any element type
 *
 * The kernels below move elements of `elem_size` bytes (1: int8, 2: int16, 4: float32) and never
 * look at a value, so one kernel serves every type (TFLite's reference kernels for these ops also
 * dispatch on the element size only). Counts, offsets and strides are in elements.
 */

/**
 * Strided gather (STRIDED_SLICE, SLICE, the int16 TRANSPOSE, and TILE, BROADCAST_TO, DEPTH_TO_SPACE,
 * SPACE_TO_DEPTH, SPACE_TO_BATCH_ND without paddings, BATCH_TO_SPACE_ND where its crops keep it
 * strided; a stride of 0 repeats an element): output element (o_0, ..., o_5),
 * row-major over out_dims, is input element start + sum_k o_k * in_stride[k]. A stride may be
 * negative (a slice walking an axis backwards); every element read lies inside the input and
 * every out_dims[k] >= 1 (checked at generation time). `in` and `out` do not overlap.
 */
typedef struct {
    int32_t elem_size;                    /**< bytes per element: 1, 2 or 4 */
    int32_t start;                        /**< input element of output element 0, >= 0 */
    int32_t out_dims[TQ_SHAPE_MAX_DIMS];  /**< each >= 1 */
    int32_t in_stride[TQ_SHAPE_MAX_DIMS]; /**< in elements, any sign */
} tq_strided_copy_params;

tq_status tq_strided_copy(const tq_strided_copy_params *p, const void *in, void *out);

/**
 * SPLIT, SPLIT_V, UNPACK: the inverse of tq_concat_s8. Seen row-major, the input is `outer`
 * repetitions of [chunk[0] elements for output 0, chunk[1] for output 1, ...]; output k receives
 * its chunk of every repetition, in order.
 *
 * The num_outputs output pointers follow `in` as arguments, one per output, each of the element
 * type: int8_t * (elem_size 1), int16_t * (2) or float * (4), which is how tq_split reads them.
 */
typedef struct {
    int32_t elem_size;    /**< bytes per element: 1, 2 or 4 */
    int32_t outer;        /**< >= 1 */
    int32_t num_outputs;  /**< >= 1 */
    const int32_t *chunk; /**< num_outputs element counts, each >= 1 */
} tq_split_params;

tq_status tq_split(const tq_split_params *p, const void *in, ...);

/**
 * PAD / PADV2, any element size: out has shape in_dims[d] + before[d] + after[d] on every axis d
 * (after[d] is implied by out_dims); the input lands at offset before[d] and every other element is
 * a copy of the one element at pad_value (the output zero point for PAD, PADV2's constant, or 0, in
 * the tensor's type). All shapes have TQ_SHAPE_MAX_DIMS axes, row-major, innermost last, in elements.
 */
typedef struct {
    int32_t elem_size; /**< bytes per element: 1, 2 or 4 */
    int32_t in_dims[TQ_SHAPE_MAX_DIMS];
    int32_t out_dims[TQ_SHAPE_MAX_DIMS];
    int32_t before[TQ_SHAPE_MAX_DIMS]; /**< padding before each axis, >= 0 */
    const void *pad_value;             /**< one element */
} tq_pad_params;

tq_status tq_pad(const tq_pad_params *p, const void *in, void *out);

/**
 * Table-driven copy, for the index maps a strided copy cannot express: MIRROR_PAD (reflected edges),
 * BATCH_TO_SPACE_ND with crops that cut across blocks, SPACE_TO_BATCH_ND with paddings, and TILE /
 * BROADCAST_TO needing more than TQ_SHAPE_MAX_DIMS strided axes.
 *
 * First, if fill_count > 0, output elements 0 .. fill_count - 1 are set to the element at `fill`.
 * Then for every index (i_0, ..., i_5) of the box `dims`, row-major, `run` consecutive elements are
 * copied from input element sum_k in_off[k][i_k] to output element sum_k out_off[k][i_k], where
 * in_off[k] is the k-th table of `in_off` (the dims[0] entries of axis 0, then the dims[1] entries of
 * axis 1, ...), and likewise out_off. A gather has row-major output tables; a scatter (SPACE_TO_BATCH_ND)
 * row-major input tables and a fill. Every element read and written lies inside its tensor and no
 * output element is written twice (checked at generation time). `in` and `out` do not overlap.
 */
typedef struct {
    int32_t elem_size;               /**< bytes per element: 1, 2 or 4 */
    int32_t run;                     /**< elements per copy, >= 1 */
    int32_t dims[TQ_SHAPE_MAX_DIMS]; /**< each >= 1 */
    const int32_t *in_off;           /**< sum(dims) input offsets, in elements */
    const int32_t *out_off;          /**< sum(dims) output offsets, in elements */
    int32_t fill_count;              /**< output elements set to *fill first, >= 0 */
    const void *fill;                /**< one element (the pad value), or NULL when fill_count is 0 */
} tq_index_copy_params;

tq_status tq_index_copy(const tq_index_copy_params *p, const void *in, void *out);

/**
 * GATHER: seen row-major, the input is [batch][outer][axis_size][inner] and the indices [batch][coords];
 * output [b][o][i][...] is input [b][o][indices[b][i]][...], `inner` elements at a time (TFLite's
 * reference Gather, batch_dims axes first).
 *
 * Constant indices are validated at generation time and held by `indices` (the argument is then
 * NULL). Indices computed at run time come as the `indices` argument (int32, batch * coords of them):
 * if one lies outside [0, axis_size), nothing is written and TQ_ARG_ERROR is returned (TFLite's
 * Invoke fails on it too).
 */
typedef struct {
    int32_t elem_size;      /**< bytes per element: 1, 2 or 4 */
    int32_t batch;          /**< product of the batch_dims axes, >= 1 */
    int32_t outer;          /**< product of the axes between batch_dims and axis, >= 1 */
    int32_t axis_size;      /**< extent of the gathered axis, >= 1 */
    int32_t coords;         /**< indices per batch, >= 1 */
    int32_t inner;          /**< product of the axes after axis, >= 1 */
    const int32_t *indices; /**< batch * coords constant indices, or NULL: given at run time */
} tq_gather_params;

tq_status tq_gather(const tq_gather_params *p, const void *in, const int32_t *indices, void *out);

#endif /* TQ_SHAPE_H */
