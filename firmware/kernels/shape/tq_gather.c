/* GATHER: slices of the input picked along one axis by constant or run-time indices (see tq_shape.h). */
#include <string.h>

#include "tq_shape.h"

tq_status tq_gather(const tq_gather_params *p, const void *in, const int32_t *indices, void *out)
{
    const size_t chunk = (size_t)p->inner * (size_t)p->elem_size; /* bytes of one gathered slice */
    const int32_t *idx = indices != NULL ? indices : p->indices;
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    if (indices != NULL) {
        /* Run-time indices: all of them in range before anything is written. */
        const int32_t count = p->batch * p->coords;
        for (int32_t i = 0; i < count; ++i) {
            if (idx[i] < 0 || idx[i] >= p->axis_size) {
                return TQ_ARG_ERROR;
            }
        }
    }
    for (int32_t b = 0; b < p->batch; ++b) {
        const int32_t *row = idx + (size_t)b * (size_t)p->coords;
        for (int32_t o = 0; o < p->outer; ++o) {
            const uint8_t *slab = src + ((size_t)b * (size_t)p->outer + (size_t)o) * (size_t)p->axis_size * chunk;
            for (int32_t i = 0; i < p->coords; ++i) {
                memcpy(dst, slab + (size_t)row[i] * chunk, chunk);
                dst += chunk;
            }
        }
    }
    return TQ_OK;
}
