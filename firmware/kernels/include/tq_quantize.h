/*
 * tinyq type conversion kernels: QUANTIZE (float32 -> int8/uint8/int16, and requantization between
 * integer types), DEQUANTIZE (int8/uint8/int16 -> float32) and CAST (a value conversion between
 * int8, uint8, int16, int32, float32 and bool, quantization ignored).
 *
 * Reference kernels: portable C99, bit-exact with TFLite's reference interpreter
 * (reference_ops::AffineQuantize, reference_ops::Requantize, reference_ops::Dequantize, and
 * cast.cc's element conversion). Every parameter is computed and validated at generation time
 * (tinyq/ops/quantize.py).
 *
 * Float arithmetic: each float result is one IEEE-754 single-precision operation (a division
 * or a multiplication) whose operands are exact, so it is correctly rounded on every
 * conforming FPU; there is no a * b + c pattern a compiler could contract into an FMA, and
 * no libm call. Scales are positive normal float32 values (checked at generation time), so
 * flush-to-zero modes cannot change a result either.
 */
#ifndef TQ_QUANTIZE_H
#define TQ_QUANTIZE_H

#include "tq_common.h"

/**
 * QUANTIZE float32 -> int8 / uint8 / int16 (AffineQuantize):
 * out = clamp(round_half_away(in / scale) + zero_point, type min, type max),
 * with the division in float, as TFLite does (out-of-range values and NaN: see
 * tq_affine_quantize). `scale` is the output scale (float32), zero_point any int32 value.
 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} tq_quantize_f32_params;

typedef tq_quantize_f32_params tq_quantize_f32_s8_params;
typedef tq_quantize_f32_params tq_quantize_f32_u8_params;
typedef tq_quantize_f32_params tq_quantize_f32_s16_params;

tq_status tq_quantize_f32_s8(const tq_quantize_f32_s8_params *p, const float *in, int8_t *out);
tq_status tq_quantize_f32_u8(const tq_quantize_f32_u8_params *p, const float *in, uint8_t *out);
tq_status tq_quantize_f32_s16(const tq_quantize_f32_s16_params *p, const float *in, int16_t *out);

/**
 * QUANTIZE between integer types (Requantize):
 * out = clamp(tq_mul_by_quantized_mult(in - in_zp, mult, shift) + out_zp, type min, type max),
 * where mult / shift = QuantizeMultiplier(in_scale / out_scale) computed in double, shift <= 31.
 * The pairs are those of TFLite's Prepare: int8 / uint8 -> int8, uint8, int16; int16 -> int8,
 * int16, int32; int32 -> int8, int16. The zero points are any int32 values (0 for int16 -> int16).
 */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t mult;
    int32_t shift;
    int32_t out_zp;
} tq_requantize_params;

typedef tq_requantize_params tq_requantize_s8_params;
typedef tq_requantize_params tq_requantize_s8_u8_params;
typedef tq_requantize_params tq_requantize_s8_s16_params;
typedef tq_requantize_params tq_requantize_u8_s8_params;
typedef tq_requantize_params tq_requantize_u8_params;
typedef tq_requantize_params tq_requantize_u8_s16_params;
typedef tq_requantize_params tq_requantize_s16_s8_params;
typedef tq_requantize_params tq_requantize_s16_params;
typedef tq_requantize_params tq_requantize_s16_s32_params;
typedef tq_requantize_params tq_requantize_s32_s8_params;
typedef tq_requantize_params tq_requantize_s32_s16_params;

/** int8 -> int8 */
tq_status tq_requantize_s8(const tq_requantize_s8_params *p, const int8_t *in, int8_t *out);
/** int8 -> uint8 */
tq_status tq_requantize_s8_u8(const tq_requantize_s8_u8_params *p, const int8_t *in, uint8_t *out);
/** int8 -> int16 */
tq_status tq_requantize_s8_s16(const tq_requantize_s8_s16_params *p, const int8_t *in, int16_t *out);
/** uint8 -> int8 */
tq_status tq_requantize_u8_s8(const tq_requantize_u8_s8_params *p, const uint8_t *in, int8_t *out);
/** uint8 -> uint8 */
tq_status tq_requantize_u8(const tq_requantize_u8_params *p, const uint8_t *in, uint8_t *out);
/** uint8 -> int16 */
tq_status tq_requantize_u8_s16(const tq_requantize_u8_s16_params *p, const uint8_t *in, int16_t *out);
/** int16 -> int8 */
tq_status tq_requantize_s16_s8(const tq_requantize_s16_s8_params *p, const int16_t *in, int8_t *out);
/** int16 -> int16 */
tq_status tq_requantize_s16(const tq_requantize_s16_params *p, const int16_t *in, int16_t *out);
/** int16 -> int32 (no clamp: every int32 value is in range) */
tq_status tq_requantize_s16_s32(const tq_requantize_s16_s32_params *p, const int16_t *in, int32_t *out);
/** int32 -> int8 */
tq_status tq_requantize_s32_s8(const tq_requantize_s32_s8_params *p, const int32_t *in, int8_t *out);
/** int32 -> int16 */
tq_status tq_requantize_s32_s16(const tq_requantize_s32_s16_params *p, const int32_t *in, int16_t *out);

/*
 * One requantized value before the output type's clamp, with TFLite's int32 arithmetic:
 * in - in_zp, the multiply's left shift and the + out_zp each wrap around modulo 2^32 as the
 * reference's int32 operations do (its x86 build wraps; here unsigned arithmetic makes the
 * wrap defined). Only int32 inputs, int32 outputs or shifts far above 0 can wrap at all.
 */
static inline int32_t tq_requantize_value(int32_t q, const tq_requantize_params *p)
{
    const int32_t x = (int32_t)((uint32_t)q - (uint32_t)p->in_zp);
    const int32_t y = tq_mul_by_quantized_mult(x, p->mult, p->shift);
    return (int32_t)((uint32_t)y + (uint32_t)p->out_zp);
}

/**
 * DEQUANTIZE int8 / uint8 / int16 -> float32: out = (float)(scale * (in - zero_point)).
 * TFLite multiplies in double and rounds to float once; in - zero_point is an integer of at most
 * 2^24 in magnitude (checked at generation time), exact in float, and its exact product with a
 * float32 scale (24-bit significand) fits in a double, so the single-precision product
 * `scale * (float)(in - zero_point)` is the same correctly rounded value.
 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} tq_dequantize_params;

typedef tq_dequantize_params tq_dequantize_s8_f32_params;
typedef tq_dequantize_params tq_dequantize_u8_f32_params;
typedef tq_dequantize_params tq_dequantize_s16_f32_params;

tq_status tq_dequantize_s8_f32(const tq_dequantize_s8_f32_params *p, const int8_t *in, float *out);
tq_status tq_dequantize_u8_f32(const tq_dequantize_u8_f32_params *p, const uint8_t *in, float *out);
tq_status tq_dequantize_s16_f32(const tq_dequantize_s16_f32_params *p, const int16_t *in, float *out);

/**
 * CAST: out[i] = the value in[i] converted to the output type, as cast.cc's element conversion:
 * - integer -> integer: C++ static_cast, modulo 2^bits into the output type (int8 300 -> 44);
 * - integer or bool -> float32: the nearest float (ties to even; int32 only can be inexact);
 * - float32 -> integer: truncation toward zero, saturated to the output type; NaN gives the
 *   type's maximum (cast.cc's SaturatingCastFloatingToInteger);
 * - anything -> bool: value != 0 (NaN is true, -0.0 false); bool -> anything: 0 or 1;
 * - same type: the bytes copied (NaN payloads kept).
 * Types are the TQ_CAST_* codes; a bool is one byte (uint8_t) holding 0 or 1.
 */
#define TQ_CAST_S8 0
#define TQ_CAST_U8 1
#define TQ_CAST_S16 2
#define TQ_CAST_S32 3
#define TQ_CAST_F32 4
#define TQ_CAST_BOOL 5

typedef struct {
    int32_t size;
    int32_t in_type;  /**< TQ_CAST_* */
    int32_t out_type; /**< TQ_CAST_* */
} tq_cast_params;

tq_status tq_cast(const tq_cast_params *p, const void *in, void *out);

/*
 * clamp(round_half_away(x / scale) + zero_point, lo, hi), TFLite's
 * static_cast<int32_t>(TfLiteRound(val / scale)) + zero_point then the clamp (TfLiteRound is
 * std::round on float, the division is in float).
 * Out of int32 range the reference's float -> int32 conversion yields INT32_MIN (the x86
 * "integer indefinite" value; NaN too) and the zero point is added with int32 wrap-around:
 * reproduced here so every input, including inf and NaN, matches the reference interpreter.
 */
static inline int32_t tq_affine_quantize(float x, float scale, int32_t zero_point, int32_t lo, int32_t hi)
{
    const float q = x / scale;
    int32_t r;
    if (q >= -2147483648.0f && q < 2147483648.0f) { /* false for NaN */
        r = (int32_t)q; /* truncates toward zero; exact beyond 2^23, where q is an integer */
        const float frac = q - (float)r; /* exact */
        if (frac >= 0.5f) {
            r += 1;
        } else if (frac <= -0.5f) {
            r -= 1;
        }
    } else {
        r = INT32_MIN;
    }
    int64_t s = (int64_t)r + zero_point;
    if (s > INT32_MAX) {
        s -= (int64_t)1 << 32;
    } else if (s < INT32_MIN) {
        s += (int64_t)1 << 32;
    }
    return (int32_t)TQ_CLAMP(s, (int64_t)lo, (int64_t)hi);
}

#endif /* TQ_QUANTIZE_H */
