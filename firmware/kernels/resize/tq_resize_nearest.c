/* RESIZE_NEAREST_NEIGHBOR, any element type: pixels picked by table (see tq_resize.h). */
#include <string.h>

#include "tq_resize.h"

tq_status tq_resize_nearest(const tq_resize_nearest_params *p, const void *in, void *out)
{
    const size_t pixel = (size_t)p->elem_size * (size_t)p->in.c;
    const size_t image = (size_t)p->in.h * (size_t)p->in.w * pixel;
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    for (int32_t b = 0; b < p->out.n; ++b) {
        for (int32_t y = 0; y < p->out.h; ++y) {
            const uint8_t *row = src + p->row[y];
            for (int32_t x = 0; x < p->out.w; ++x) {
                memcpy(dst, row + p->col[x], pixel);
                dst += pixel;
            }
        }
        src += image;
    }
    return TQ_OK;
}
