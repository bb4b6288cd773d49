/* MIRROR_PAD, SPACE_TO_BATCH_ND with paddings, BATCH_TO_SPACE_ND with crops across blocks, and the
 * TILE / BROADCAST_TO a strided copy cannot express: a copy driven by per-axis offset tables (see
 * tq_shape.h). */
#include <string.h>

#include "tq_shape.h"

tq_status tq_index_copy(const tq_index_copy_params *p, const void *in, void *out)
{
    enum { D = TQ_SHAPE_MAX_DIMS };
    const size_t size = (size_t)p->elem_size;
    const size_t run = (size_t)p->run * size;
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const int32_t *in_off[D];
    const int32_t *out_off[D];
    int32_t idx[D - 1];
    int32_t rows = 1;
    int32_t at = 0;
    for (int32_t k = 0; k < p->fill_count; ++k) {
        memcpy(dst + (size_t)k * size, p->fill, size);
    }
    for (int d = 0; d < D; ++d) {
        in_off[d] = p->in_off + at;
        out_off[d] = p->out_off + at;
        at += p->dims[d];
    }
    for (int d = 0; d < D - 1; ++d) {
        idx[d] = 0;
        rows *= p->dims[d];
    }
    for (int32_t r = 0; r < rows; ++r) {
        /* The outer axes' share of this row's offsets, then the innermost axis' table. */
        ptrdiff_t from = 0;
        ptrdiff_t to = 0;
        for (int d = 0; d < D - 1; ++d) {
            from += in_off[d][idx[d]];
            to += out_off[d][idx[d]];
        }
        for (int32_t j = 0; j < p->dims[D - 1]; ++j) {
            memcpy(dst + (to + out_off[D - 1][j]) * (ptrdiff_t)size, src + (from + in_off[D - 1][j]) * (ptrdiff_t)size, run);
        }
        for (int d = D - 2; d >= 0; --d) {
            if (++idx[d] < p->dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
    return TQ_OK;
}
