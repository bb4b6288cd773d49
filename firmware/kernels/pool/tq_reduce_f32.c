/* SUM, REDUCE_MAX, REDUCE_MIN float32 over constant axes, TFLite reference_ops::ReduceGeneric order (see tq_float.h). */
#include "tq_float.h"
#include "tq_pool.h"

tq_status tq_reduce_f32(const tq_reduce_f32_params *p, const float *in, float *out)
{
    const size_t sw = (size_t)p->in.c, sh = sw * (size_t)p->in.w, sn = sh * (size_t)p->in.h;
    const float init = p->op == TQ_REDUCE_SUM ? 0.0f : p->op == TQ_REDUCE_MAX ? -FLT_MAX : FLT_MAX;
    for (int32_t n = 0; n < p->out.n; ++n) {
        for (int32_t h = 0; h < p->out.h; ++h) {
            for (int32_t w = 0; w < p->out.w; ++w) {
                for (int32_t c = 0; c < p->out.c; ++c) {
                    const float *base = in + (size_t)n * sn + (size_t)h * sh + (size_t)w * sw + (size_t)c;
                    float acc = p->from_first ? base[0] : init;
                    int first = p->from_first; /* the first element is already in acc */
                    for (int32_t i = 0; i < p->win.n; ++i) {
                        for (int32_t j = 0; j < p->win.h; ++j) {
                            for (int32_t k = 0; k < p->win.w; ++k) {
                                const float *v = base + (size_t)i * sn + (size_t)j * sh + (size_t)k * sw;
                                for (int32_t l = 0; l < p->win.c; ++l) {
                                    const float x = v[l];
                                    if (first) {
                                        first = 0;
                                    } else if (p->op == TQ_REDUCE_SUM) {
                                        acc = acc + x;
                                    } else if (p->op == TQ_REDUCE_MAX) {
                                        acc = x > acc ? x : acc;
                                    } else {
                                        acc = x < acc ? x : acc;
                                    }
                                }
                            }
                        }
                    }
                    *out++ = acc;
                }
            }
        }
    }
    return TQ_OK;
}
