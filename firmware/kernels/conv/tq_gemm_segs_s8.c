/* The matrix product over column segments (tq_gemm.h), one copy for the kernels that share it. */
#include "tq_gemm.h"

void tq_gemm_segs_s8(const tq_gemm_s8_params *g, const int8_t *const *sa, const int8_t *const *sb, const int32_t *len,
                     int32_t segs, int8_t *out0, int8_t *out1)
{
    if (g->act_min == -128 && g->act_max == 127) {
        tq_gemm_segs_impl(g, sa, sb, len, segs, out0, out1, 1); /* the clamp is one SSAT */
    } else {
        tq_gemm_segs_impl(g, sa, sb, len, segs, out0, out1, 0);
    }
}
