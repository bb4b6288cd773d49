/* AVERAGE_POOL_2D, int16: reference_integer_ops::AveragePool on int16 values (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_avgpool_s16(const tq_avgpool_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t ih = p->in.h, iw = p->in.w, ch = p->in.c;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int16_t *img = in + (ptrdiff_t)b * ih * iw * ch;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ya = TQ_MAX(0, y0), yb = TQ_MIN(ih, y0 + p->filter_h);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t xa = TQ_MAX(0, x0), xb = TQ_MIN(iw, x0 + p->filter_w);
                const int32_t n = (yb - ya) * (xb - xa);
                for (int32_t c = 0; c < ch; ++c) {
                    int32_t sum = 0;
                    for (int32_t y = ya; y < yb; ++y) {
                        for (int32_t x = xa; x < xb; ++x) {
                            sum += img[((ptrdiff_t)y * iw + x) * ch + c];
                        }
                    }
                    /* Nearest, ties away from zero (C division truncates toward zero). */
                    const int32_t avg = sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
                    *out++ = (int16_t)TQ_CLAMP(avg, p->act_min, p->act_max);
                }
            }
        }
    }
    return TQ_OK;
}
