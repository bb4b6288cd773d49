/* SPLIT / SPLIT_V / UNPACK: each output's chunk of every row of the input (see tq_shape.h). */
#include <stdarg.h>
#include <string.h>

#include "tq_shape.h"

tq_status tq_split(const tq_split_params *p, const void *in, ...)
{
    const size_t size = (size_t)p->elem_size;
    size_t row = 0; /* bytes of one input row: every output's chunk */
    size_t offset = 0; /* bytes before output k's chunk in a row */
    va_list ap;
    for (int32_t k = 0; k < p->num_outputs; ++k) {
        row += (size_t)p->chunk[k] * size;
    }
    va_start(ap, in);
    for (int32_t k = 0; k < p->num_outputs; ++k) {
        /* Each output pointer is read as the type it was passed as (tq_shape.h). */
        uint8_t *dst = size == 1u   ? (uint8_t *)va_arg(ap, int8_t *)
                       : size == 2u ? (uint8_t *)va_arg(ap, int16_t *)
                                    : (uint8_t *)va_arg(ap, float *);
        const uint8_t *src = (const uint8_t *)in + offset;
        const size_t n = (size_t)p->chunk[k] * size;
        for (int32_t o = 0; o < p->outer; ++o) {
            memcpy(dst, src, n);
            dst += n;
            src += row;
        }
        offset += n;
    }
    va_end(ap);
    return TQ_OK;
}
