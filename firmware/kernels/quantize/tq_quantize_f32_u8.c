/* QUANTIZE float32 -> uint8_t (see tq_quantize.h). */
#include "tq_quantize.h"

tq_status tq_quantize_f32_u8(const tq_quantize_f32_u8_params *p, const float *in, uint8_t *out)
{
    const float scale = p->scale;
    const int32_t zp = p->zero_point;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = (uint8_t)tq_affine_quantize(in[i], scale, zp, 0, UINT8_MAX);
    }
    return TQ_OK;
}
