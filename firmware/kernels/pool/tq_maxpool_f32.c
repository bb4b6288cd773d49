/* MAX_POOL_2D float32, TFLite reference_ops::MaxPool (see tq_float.h). */
#include <float.h>

#include "tq_float.h"

tq_status tq_maxpool_f32(const tq_maxpool_f32_params *p, const float *in, float *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    for (int32_t b = 0; b < p->out.n; ++b) {
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = TQ_MAX(0, -y0), fy1 = TQ_MIN(p->filter_h, ih - y0);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = TQ_MAX(0, -x0), fx1 = TQ_MIN(p->filter_w, iw - x0);
                for (int32_t c = 0; c < ch; ++c) {
                    float best = -FLT_MAX;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const float *row = in + (((size_t)b * ih + y0 + fy) * iw + x0) * ch + c;
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const float v = row[(size_t)fx * ch];
                            best = best < v ? v : best;
                        }
                    }
                    *out++ = tq_clamp_f32(best, p->act_min, p->act_max);
                }
            }
        }
    }
    return TQ_OK;
}
