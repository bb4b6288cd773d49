/* MAX_POOL_2D float32, TFLite reference_ops::MaxPool (see tq_float.h). */
#include "tq_float.h"

tq_status tq_maxpool_f32(const tq_maxpool_f32_params *p, const float *in, float *out)
{
    tq_pool_f32(p, in, out, 1);
    return TQ_OK;
}
