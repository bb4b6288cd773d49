/* CONCATENATION float32 (see tq_float.h). */
#include <string.h>

#include "tq_float.h"

tq_status tq_concat_f32(const tq_concat_f32_params *p, const float *const in[], float *out)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->num_inputs; ++i) {
            const size_t n = (size_t)p->chunk[i];
            memcpy(out, in[i] + (size_t)o * n, n * sizeof(float));
            out += n;
        }
    }
    return TQ_OK;
}
