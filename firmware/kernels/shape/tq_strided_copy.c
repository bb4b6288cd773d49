/* STRIDED_SLICE / SLICE / the int16 TRANSPOSE: a strided gather of elem_size-byte elements (see tq_shape.h). */
#include <string.h>

#include "tq_shape.h"

/* n elements of `size` bytes, `step` bytes apart from src, to dst back to back. */
static void tq_gather_row(uint8_t *dst, const uint8_t *src, int32_t n, ptrdiff_t step, size_t size)
{
    if (step == (ptrdiff_t)size) {
        memcpy(dst, src, (size_t)n * size);
        return;
    }
    /* One case per size, so that each memcpy has a constant length (one load and one store). */
    switch (size) {
    case 1:
        for (int32_t j = 0; j < n; ++j) {
            dst[j] = src[(ptrdiff_t)j * step];
        }
        break;
    case 2:
        for (int32_t j = 0; j < n; ++j) {
            memcpy(dst + (size_t)j * 2u, src + (ptrdiff_t)j * step, 2u);
        }
        break;
    default:
        for (int32_t j = 0; j < n; ++j) {
            memcpy(dst + (size_t)j * 4u, src + (ptrdiff_t)j * step, 4u);
        }
        break;
    }
}

tq_status tq_strided_copy(const tq_strided_copy_params *p, const void *in, void *out)
{
    enum { D = TQ_SHAPE_MAX_DIMS };
    const size_t size = (size_t)p->elem_size;
    const int32_t n = p->out_dims[D - 1];
    const ptrdiff_t step = (ptrdiff_t)p->in_stride[D - 1] * (ptrdiff_t)size;
    const uint8_t *src = (const uint8_t *)in + (ptrdiff_t)p->start * (ptrdiff_t)size;
    uint8_t *dst = (uint8_t *)out;
    int32_t idx[D - 1];
    int32_t rows = 1;
    ptrdiff_t base = 0; /* byte offset from src of the current output row's first element */
    for (int d = 0; d < D - 1; ++d) {
        idx[d] = 0;
        rows *= p->out_dims[d];
    }
    for (int32_t r = 0; r < rows; ++r) {
        tq_gather_row(dst, src + base, n, step, size);
        dst += (size_t)n * size;
        for (int d = D - 2; d >= 0; --d) {
            base += (ptrdiff_t)p->in_stride[d] * (ptrdiff_t)size;
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            base -= (ptrdiff_t)p->in_stride[d] * (ptrdiff_t)p->out_dims[d] * (ptrdiff_t)size;
            idx[d] = 0;
        }
    }
    return TQ_OK;
}
