/* PAD / PADV2 float32 (see tq_float.h): every output element, from the input inside the box. */
#include "tq_float.h"

tq_status tq_pad_f32(const tq_pad_f32_params *p, const float *in, float *out)
{
    enum { D = TQ_SHAPE_MAX_DIMS };
    int32_t idx[D] = {0};
    int32_t total = 1;
    for (int d = 0; d < D; ++d) {
        total *= p->out_dims[d];
    }
    /* Output elements in order; those inside the input's box meet the input elements in order. */
    for (int32_t k = 0; k < total; ++k) {
        int inside = 1;
        for (int d = 0; d < D && inside; ++d) {
            inside = idx[d] >= p->before[d] && idx[d] < p->before[d] + p->in_dims[d];
        }
        out[k] = inside ? *in++ : p->pad_value;
        for (int d = D - 1; d >= 0 && ++idx[d] == p->out_dims[d]; --d) {
            idx[d] = 0;
        }
    }
    return TQ_OK;
}
