/* ARG_MAX / ARG_MIN int8 along one axis, first index on ties: reference_ops::ArgMinMax (see tq_pool.h). */
#include "tq_pool.h"

tq_status tq_arg_minmax_s8(const tq_arg_minmax_s8_params *p, const int8_t *in, void *out)
{
    int32_t *out32 = (int32_t *)out;
    int64_t *out64 = (int64_t *)out;
    const size_t inner = (size_t)p->inner;
    for (int32_t o = 0; o < p->outer; ++o) {
        for (size_t i = 0; i < inner; ++i) {
            const int8_t *v = in + (size_t)o * (size_t)p->axis_size * inner + i;
            int8_t best = v[0];
            int32_t at = 0;
            for (int32_t k = 1; k < p->axis_size; ++k) {
                const int8_t x = v[(size_t)k * inner];
                if (p->is_max ? x > best : x < best) {
                    best = x;
                    at = k;
                }
            }
            const size_t dst = (size_t)o * inner + i;
            if (p->index64) {
                out64[dst] = (int64_t)at;
            } else {
                out32[dst] = at;
            }
        }
    }
    return TQ_OK;
}
