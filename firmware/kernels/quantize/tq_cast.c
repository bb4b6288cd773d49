/* CAST between int8, uint8, int16, int32, float32 and bool (see tq_quantize.h). */
#include "tq_quantize.h"

static int32_t cast_elem_bytes(int32_t type)
{
    switch (type) {
    case TQ_CAST_S16:
        return 2;
    case TQ_CAST_S32:
    case TQ_CAST_F32:
        return 4;
    default:
        return 1; /* int8, uint8, bool */
    }
}

/* Element i of an integer or bool array as an int32 value (every such value fits). */
static int32_t cast_load_int(const void *in, int32_t type, int32_t i)
{
    switch (type) {
    case TQ_CAST_S8:
        return ((const int8_t *)in)[i];
    case TQ_CAST_U8:
        return ((const uint8_t *)in)[i];
    case TQ_CAST_S16:
        return ((const int16_t *)in)[i];
    case TQ_CAST_S32:
        return ((const int32_t *)in)[i];
    default: /* bool */
        return ((const uint8_t *)in)[i] != 0;
    }
}

/* static_cast<T>(v) of an integer: modulo 2^bits, written without implementation-defined conversions. */
static void cast_store_int(void *out, int32_t type, int32_t i, int32_t v)
{
    const uint32_t u = (uint32_t)v;
    switch (type) {
    case TQ_CAST_S8: {
        const uint32_t b = u & 0xFFu;
        ((int8_t *)out)[i] = (int8_t)(b < 0x80u ? (int32_t)b : (int32_t)b - 0x100);
        break;
    }
    case TQ_CAST_U8:
        ((uint8_t *)out)[i] = (uint8_t)(u & 0xFFu);
        break;
    case TQ_CAST_S16: {
        const uint32_t h = u & 0xFFFFu;
        ((int16_t *)out)[i] = (int16_t)(h < 0x8000u ? (int32_t)h : (int32_t)h - 0x10000);
        break;
    }
    case TQ_CAST_S32:
        ((int32_t *)out)[i] = v;
        break;
    case TQ_CAST_F32:
        ((float *)out)[i] = (float)v; /* round to nearest even, as static_cast<float> */
        break;
    default: /* bool */
        ((uint8_t *)out)[i] = (uint8_t)(v != 0);
        break;
    }
}

/*
 * A float32 into an integer type: truncated toward zero, saturated; NaN gives the maximum
 * (SaturatingCastFloatingToInteger). The upper bound is the largest float not above the type's
 * maximum: 2147483647 is no float32, so for int32 it is 2^31 - 128. Every value that reaches a
 * conversion is within the type, so no C conversion below is undefined.
 */
static void cast_store_float(void *out, int32_t type, int32_t i, float f)
{
    const int is_nan = f != f;
    switch (type) {
    case TQ_CAST_S8:
        ((int8_t *)out)[i] = is_nan || f > 127.0f ? INT8_MAX : f < -128.0f ? INT8_MIN : (int8_t)(int32_t)f;
        break;
    case TQ_CAST_U8:
        ((uint8_t *)out)[i] = is_nan || f > 255.0f ? UINT8_MAX : f < 0.0f ? 0 : (uint8_t)(int32_t)f;
        break;
    case TQ_CAST_S16:
        ((int16_t *)out)[i] = is_nan || f > 32767.0f ? INT16_MAX : f < -32768.0f ? INT16_MIN : (int16_t)(int32_t)f;
        break;
    case TQ_CAST_S32:
        ((int32_t *)out)[i] = is_nan || f > 2147483520.0f ? INT32_MAX : f < -2147483648.0f ? INT32_MIN : (int32_t)f;
        break;
    default: /* bool: NaN is true, -0.0 false */
        ((uint8_t *)out)[i] = (uint8_t)(f != 0.0f);
        break;
    }
}

tq_status tq_cast(const tq_cast_params *p, const void *in, void *out)
{
    if (p->in_type == p->out_type) { /* the bytes as they are (a float NaN keeps its payload) */
        const uint8_t *src = (const uint8_t *)in;
        uint8_t *dst = (uint8_t *)out;
        const int32_t n = p->size * cast_elem_bytes(p->in_type);
        for (int32_t k = 0; k < n; ++k) {
            dst[k] = src[k];
        }
        return TQ_OK;
    }
    if (p->in_type == TQ_CAST_F32) {
        const float *x = (const float *)in;
        for (int32_t i = 0; i < p->size; ++i) {
            cast_store_float(out, p->out_type, i, x[i]);
        }
        return TQ_OK;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        cast_store_int(out, p->out_type, i, cast_load_int(in, p->in_type, i));
    }
    return TQ_OK;
}
