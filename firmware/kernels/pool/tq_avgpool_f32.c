/* AVERAGE_POOL_2D float32, TFLite reference_ops::AveragePool (see tq_float.h). */
#include "tq_float.h"

tq_status tq_avgpool_f32(const tq_avgpool_f32_params *p, const float *in, float *out)
{
    tq_pool_f32(p, in, out, 0);
    return TQ_OK;
}
