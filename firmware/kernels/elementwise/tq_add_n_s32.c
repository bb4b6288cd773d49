/* ADD_N int32, reference_ops::AddN: each output the sum of the inputs' elements in input order, wrapping (see tq_elementwise.h). */
#include "tq_elementwise.h"

tq_status tq_add_n_s32(const tq_add_n_s32_params *p, const int32_t *const in[], int32_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        uint32_t x = 0u;
        for (int32_t j = 0; j < p->n; ++j) {
            x += (uint32_t)in[j][i];
        }
        out[i] = (int32_t)x;
    }
    return TQ_OK;
}
