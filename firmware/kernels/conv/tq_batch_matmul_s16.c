/* BATCH_MATMUL int16: reference_ops::BatchMatMul<int16_t, int64_t>, zero points 0 (see tq_int16.h). */
#include "tq_int16.h"

tq_status tq_batch_matmul_s16(const tq_batch_matmul_s16_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch[1]; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
                const int16_t *l = lhs + (size_t)b0 * (size_t)p->lhs_batch_stride[0] + (size_t)b1 * (size_t)p->lhs_batch_stride[1]
                                   + (size_t)b2 * (size_t)p->lhs_batch_stride[2];
                const int16_t *r = rhs + (size_t)b0 * (size_t)p->rhs_batch_stride[0] + (size_t)b1 * (size_t)p->rhs_batch_stride[1]
                                   + (size_t)b2 * (size_t)p->rhs_batch_stride[2];
                for (int32_t m = 0; m < p->rows; ++m) {
                    const int16_t *lrow = l + (size_t)m * (size_t)p->lhs_row_stride;
                    for (int32_t n = 0; n < p->cols; ++n) {
                        const int16_t *rcol = r + (size_t)n * (size_t)p->rhs_col_stride;
                        int64_t acc = 0;
                        for (int32_t k = 0; k < p->depth; ++k) {
                            acc += (int64_t)((int32_t)lrow[(size_t)k * (size_t)p->lhs_depth_stride]
                                             * (int32_t)rcol[(size_t)k * (size_t)p->rhs_depth_stride]);
                        }
                        const int32_t v = tq_mul_by_quantized_mult_s64(acc, p->mult, p->shift);
                        *out++ = (int16_t)TQ_CLAMP(v, INT16_MIN, INT16_MAX);
                    }
                }
            }
        }
    }
    return TQ_OK;
}
