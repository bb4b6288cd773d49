/*
 * tinyq resizing kernels: RESIZE_NEAREST_NEIGHBOR (any element type) and RESIZE_BILINEAR (int8,
 * int16, float32).
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_ops::ResizeNearestNeighbor, ResizeBilinearInteger for int8 and int16, ResizeBilinear
 * for float). TFLite recomputes each output pixel's source rows and columns and its interpolation
 * weights in the innermost loop; tinyq/ops/resize.py computes them once, at generation time, with
 * TFLite's arithmetic, and passes one table per output row and per output column. Images are NHWC;
 * in.n == out.n and in.c == out.c. Neither op reads the quantization: values are moved or
 * interpolated raw, as in TFLite.
 */
#ifndef TQ_RESIZE_H
#define TQ_RESIZE_H

#include "tq_common.h"

/** ResizeBilinearInteger's fixed point: weights in 1/1024 (10 fractional bits). */
#define TQ_RESIZE_ONE 1024

/**
 * RESIZE_NEAREST_NEIGHBOR for any element type: output pixel (b, y, x) is a copy of the in.c
 * elements of elem_size bytes at byte offset row[y] + col[x] of input image b.
 */
typedef struct {
    int32_t elem_size;  /**< bytes per element: 1, 2 or 4 */
    tq_dims in;         /**< input shape (n, h, w, c) */
    tq_dims out;        /**< output shape (n, out_h, out_w, c) */
    const int32_t *row; /**< out.h byte offsets of the source row in an image */
    const int32_t *col; /**< out.w byte offsets of the source pixel in a row */
} tq_resize_nearest_params;

tq_status tq_resize_nearest(const tq_resize_nearest_params *p, const void *in, void *out);

/**
 * RESIZE_BILINEAR on int8 or int16 (ResizeBilinearInteger): output row y interpolates the input
 * rows at element offsets row0[y] and row1[y] of an image with weights TQ_RESIZE_ONE - wy[y] and
 * wy[y]; output column x the pixels at element offsets col0[x] and col1[x] of a row with weights
 * TQ_RESIZE_ONE - wx[x] and wx[x]. Each weight is in [0, TQ_RESIZE_ONE]. With
 *     acc = sum of the four taps' value * row weight * column weight
 * the output is (acc + (acc > 0 ? 2^19 : -2^19)) / 2^20, C's division truncating toward zero: the
 * weighted mean rounded half away from zero, always within the type's range.
 */
typedef struct {
    tq_dims in;          /**< input shape (n, h, w, c) */
    tq_dims out;         /**< output shape (n, out_h, out_w, c) */
    const int32_t *row0; /**< out.h element offsets of the upper source row in an image */
    const int32_t *row1; /**< out.h element offsets of the lower source row */
    const int16_t *wy;   /**< out.h weights of the lower row, in [0, TQ_RESIZE_ONE] */
    const int32_t *col0; /**< out.w element offsets of the left source pixel in a row */
    const int32_t *col1; /**< out.w element offsets of the right source pixel */
    const int16_t *wx;   /**< out.w weights of the right pixel, in [0, TQ_RESIZE_ONE] */
} tq_resize_bilinear_params;

typedef tq_resize_bilinear_params tq_resize_bilinear_s8_params;
typedef tq_resize_bilinear_params tq_resize_bilinear_s16_params;

/** int8: the taps summed in int32 (|acc| <= 128 * 2^20). */
tq_status tq_resize_bilinear_s8(const tq_resize_bilinear_s8_params *p, const int8_t *in, int8_t *out);
/** int16: the rows in int32, their sum in int64 (|acc| <= 2^35). */
tq_status tq_resize_bilinear_s16(const tq_resize_bilinear_s16_params *p, const int16_t *in, int16_t *out);

/**
 * RESIZE_BILINEAR on float32 (ResizeBilinear<float>): offsets as in tq_resize_bilinear_params,
 * weights as float32 (wy1 = pos - lower index, wy0 = 1 - wy1, likewise for columns; outside [0, 1]
 * at a clamped border, as in TFLite). The output is
 *     v00 * wy0 * wx0 + v10 * wy1 * wx0 + v01 * wy0 * wx1 + v11 * wy1 * wx1 + 0.0f
 * evaluated left to right in float32 (v<row><column>), TFLite's order, so the results are bit-exact
 * where the compiler does not contract multiplies and adds (tinyq builds with -ffp-contract=off).
 */
typedef struct {
    tq_dims in;          /**< input shape (n, h, w, c) */
    tq_dims out;         /**< output shape (n, out_h, out_w, c) */
    const int32_t *row0; /**< out.h element offsets of the upper source row in an image */
    const int32_t *row1; /**< out.h element offsets of the lower source row */
    const float *wy0;    /**< out.h weights of the upper row */
    const float *wy1;    /**< out.h weights of the lower row */
    const int32_t *col0; /**< out.w element offsets of the left source pixel in a row */
    const int32_t *col1; /**< out.w element offsets of the right source pixel */
    const float *wx0;    /**< out.w weights of the left pixel */
    const float *wx1;    /**< out.w weights of the right pixel */
} tq_resize_bilinear_f32_params;

tq_status tq_resize_bilinear_f32(const tq_resize_bilinear_f32_params *p, const float *in, float *out);

#endif /* TQ_RESIZE_H */
