/* MEAN over constant axes, int8 (see tq_pool.h). */
#include "tq_pool.h"

tq_status tq_mean_s8(const tq_mean_s8_params *p, const int8_t *in, int8_t *out)
{
    const size_t sc = 1;
    const size_t sw = (size_t)p->in.c;
    const size_t sh = sw * (size_t)p->in.w;
    const size_t sn = sh * (size_t)p->in.h;
    for (int32_t n = 0; n < p->out.n; ++n) {
        for (int32_t h = 0; h < p->out.h; ++h) {
            for (int32_t w = 0; w < p->out.w; ++w) {
                for (int32_t c = 0; c < p->out.c; ++c) {
                    const int8_t *base = in + (size_t)n * sn + (size_t)h * sh + (size_t)w * sw + (size_t)c * sc;
                    int32_t sum = 0;
                    for (int32_t i = 0; i < p->win.n; ++i) {
                        for (int32_t j = 0; j < p->win.h; ++j) {
                            for (int32_t k = 0; k < p->win.w; ++k) {
                                const int8_t *v = base + (size_t)i * sn + (size_t)j * sh + (size_t)k * sw;
                                for (int32_t l = 0; l < p->win.c; ++l) {
                                    sum += v[l];
                                }
                            }
                        }
                    }
                    int32_t r = tq_mul_by_quantized_mult(sum - p->sum_offset, p->mult, p->shift) + p->out_zp;
                    *out++ = (int8_t)TQ_CLAMP(r, INT8_MIN, INT8_MAX);
                }
            }
        }
    }
    return TQ_OK;
}
