/* PAD / PADV2, every type (see tq_shape.h). */
#include <string.h>

#include "tq_shape.h"

/* n copies of the `size`-byte element at value, back to back (one memset for bytes: int8 runs). */
static void tq_fill(uint8_t *dst, size_t n, const uint8_t *value, size_t size)
{
    if (size == 1) {
        memset(dst, *value, n);
        return;
    }
    for (size_t k = 0; k < n; ++k) {
        memcpy(dst + k * size, value, size);
    }
}

tq_status tq_pad(const tq_pad_params *p, const void *in, void *out)
{
    enum { D = TQ_SHAPE_MAX_DIMS };
    const size_t size = (size_t)p->elem_size;
    const uint8_t *value = (const uint8_t *)p->pad_value;
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const size_t row = (size_t)p->out_dims[D - 1];
    const size_t left = (size_t)p->before[D - 1];
    const size_t inner = (size_t)p->in_dims[D - 1];
    const size_t right = row - left - inner;
    int32_t idx[D - 1];
    int32_t rows = 1;
    for (int d = 0; d < D - 1; ++d) {
        idx[d] = 0;
        rows *= p->out_dims[d];
    }
    /* Output rows in order; the rows inside the input's box meet the input rows in order. */
    for (int32_t r = 0; r < rows; ++r) {
        int inside = 1;
        for (int d = 0; d < D - 1; ++d) {
            const int32_t i = idx[d] - p->before[d];
            if (i < 0 || i >= p->in_dims[d]) {
                inside = 0;
                break;
            }
        }
        if (inside) {
            tq_fill(dst, left, value, size);
            memcpy(dst + left * size, src, inner * size);
            tq_fill(dst + (left + inner) * size, right, value, size);
            src += inner * size;
        } else {
            tq_fill(dst, row, value, size);
        }
        dst += row * size;
        for (int d = D - 2; d >= 0; --d) {
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
    return TQ_OK;
}
