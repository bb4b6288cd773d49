/*
 * SELECT, SELECT_V2 on elements of 1, 2 or 4 bytes, with broadcasting (see tq_elementwise.h):
 * out = cond ? x : y, the condition read through its own strides.
 */
#include <string.h>

#include "tq_elementwise.h"

tq_status tq_select(const tq_select_params *p, const uint8_t *cond, const void *x, const void *y, void *out)
{
    const tq_bcast_s8 s = p->shape;
    const tq_dims cs = p->cond_stride;
    const size_t e = (size_t)p->elem_size;
    const uint8_t *xb = (const uint8_t *)x;
    const uint8_t *yb = (const uint8_t *)y;
    uint8_t *ob = (uint8_t *)out;
    for (tq_bcast_iter it = tq_bcast_begin(); it.k < s.size; tq_bcast_next(&s, &it)) {
        const int32_t ic = s.broadcast ? it.n * cs.n + it.h * cs.h + it.w * cs.w + it.c * cs.c : it.k;
        const uint8_t *src = cond[ic] ? xb + (size_t)it.i1 * e : yb + (size_t)it.i2 * e;
        memmove(ob + (size_t)it.k * e, src, e); /* out may be x or y (same shapes) */
    }
    return TQ_OK;
}
