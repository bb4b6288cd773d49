/* BATCH_MATMUL float32: reference_ops::BatchMatMul, products summed in depth order (see tq_float.h). */
#include "tq_float.h"

tq_status tq_batch_matmul_f32(const tq_batch_matmul_f32_params *p, const float *lhs, const float *rhs, float *out)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch[1]; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
                const float *l = lhs + (size_t)b0 * (size_t)p->lhs_batch_stride[0] + (size_t)b1 * (size_t)p->lhs_batch_stride[1]
                                 + (size_t)b2 * (size_t)p->lhs_batch_stride[2];
                const float *r = rhs + (size_t)b0 * (size_t)p->rhs_batch_stride[0] + (size_t)b1 * (size_t)p->rhs_batch_stride[1]
                                 + (size_t)b2 * (size_t)p->rhs_batch_stride[2];
                for (int32_t m = 0; m < p->rows; ++m) {
                    const float *lrow = l + (size_t)m * (size_t)p->lhs_row_stride;
                    for (int32_t n = 0; n < p->cols; ++n) {
                        const float *rcol = r + (size_t)n * (size_t)p->rhs_col_stride;
                        float total = 0.0f;
                        for (int32_t k = 0; k < p->depth; ++k) {
                            total += lrow[(size_t)k * (size_t)p->lhs_depth_stride] * rcol[(size_t)k * (size_t)p->rhs_depth_stride];
                        }
                        *out++ = total;
                    }
                }
            }
        }
    }
    return TQ_OK;
}
