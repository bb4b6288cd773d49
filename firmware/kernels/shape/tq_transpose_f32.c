/* TRANSPOSE float32: the byte transpose with each float's 4 bytes as an innermost axis (see tq_float.h). */
#include "tq_float.h"

tq_status tq_transpose_f32(const tq_transpose_f32_params *p, const float *in, float *out)
{
    return tq_transpose_s8(p, (const int8_t *)in, (int8_t *)out);
}
