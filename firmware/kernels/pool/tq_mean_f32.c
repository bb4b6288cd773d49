/* MEAN float32 over constant axes, TFLite reference_ops::Mean order (see tq_float.h). */
#include "tq_float.h"

tq_status tq_mean_f32(const tq_mean_f32_params *p, const float *in, float *out)
{
    const size_t sw = (size_t)p->in.c, sh = sw * (size_t)p->in.w, sn = sh * (size_t)p->in.h;
    const float count = (float)(p->win.n * p->win.h * p->win.w * p->win.c);
    int32_t o[4]; /* output n, h, w, c */
    for (o[0] = 0; o[0] < p->out.n; ++o[0]) {
        for (o[1] = 0; o[1] < p->out.h; ++o[1]) {
            for (o[2] = 0; o[2] < p->out.w; ++o[2]) {
                for (o[3] = 0; o[3] < p->out.c; ++o[3]) {
                    /* The block of this output, summed in row-major order. */
                    float sum = 0.0f;
                    for (int32_t i = 0; i < p->win.n; ++i) {
                        for (int32_t j = 0; j < p->win.h; ++j) {
                            for (int32_t k = 0; k < p->win.w; ++k) {
                                const float *v = in + (size_t)(o[0] * p->win.n + i) * sn + (size_t)(o[1] * p->win.h + j) * sh +
                                                 (size_t)(o[2] * p->win.w + k) * sw + (size_t)o[3] * (size_t)p->win.c;
                                for (int32_t l = 0; l < p->win.c; ++l) {
                                    sum += v[l];
                                }
                            }
                        }
                    }
                    *out++ = sum / count;
                }
            }
        }
    }
    return TQ_OK;
}
