/* MAX_POOL_2D, int8 (see tq_pool.h). */
#include "tq_pool.h"

tq_status tq_maxpool_s8(const tq_maxpool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int8_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0);
            const int32_t fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0);
                const int32_t fx1 = TQ_MIN(p->filter_w, iw - x0);
                for (int32_t c = 0; c < ch; ++c) {
                    int32_t m = INT8_MIN;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int8_t *row = img + ((ptrdiff_t)(y0 + fy) * iw + x0) * ch + c;
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int32_t v = row[(ptrdiff_t)fx * ch];
                            m = v > m ? v : m;
                        }
                    }
                    *out++ = (int8_t)TQ_CLAMP(m, p->act_min, p->act_max);
                }
            }
        }
    }
    return TQ_OK;
}
