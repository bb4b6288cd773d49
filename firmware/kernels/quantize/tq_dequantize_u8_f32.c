/* DEQUANTIZE uint8_t -> float32 (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_dequantize_u8_f32(const tq_dequantize_u8_f32_params *p, const uint8_t *in, float *out)
{
    const float scale = p->scale;
    const int32_t zp = p->zero_point;
    for (int32_t i = 0; i < p->size; ++i) {
        /* exact operands, one rounding: equals TFLite's (float)((double)scale * (in - zp)) */
        out[i] = scale * (float)((int32_t)in[i] - zp);
    }
    return TQ_OK;
}
