/* The ADD fused after a convolution (tq_residual_s8 in tq_conv_fast.h): one copy for every kernel. */
#include "tq_conv_fast.h"

void tq_residual_add_s8(const tq_residual_s8 *r, const int8_t *y, const int8_t *x, int8_t *out, int32_t n)
{
    const int32_t *const ty = r->t_conv + 128, *const tx = r->t_res + 128;
    const int32_t mo = r->out_mult, so = r->out_rsh, zo = r->out_offset, lo = r->act_min, hi = r->act_max;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = tq_requantize_rs(ty[y[i]] + tx[x[i]], mo, so) + zo;
        out[i] = (int8_t)TQ_CLAMP(v, lo, hi);
    }
}
