/* RESHAPE / EXPAND_DIMS / SQUEEZE copy, float32: the byte copy of 4 bytes a float (see tq_float.h). */
#include "tq_float.h"

tq_status tq_copy_f32(const tq_copy_f32_params *p, const float *in, float *out)
{
    return tq_copy_s8(p, (const int8_t *)in, (int8_t *)out);
}
