/* BATCH_MATMUL int8, per-tensor quantization: reference_ops::BatchMatMul<int8_t, int32_t> (see tq_conv.h). */
#include "tq_conv.h"

tq_status tq_batch_matmul_s8(const tq_batch_matmul_s8_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch[1]; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *l = lhs + (size_t)b0 * (size_t)p->lhs_batch_stride[0] + (size_t)b1 * (size_t)p->lhs_batch_stride[1]
                                  + (size_t)b2 * (size_t)p->lhs_batch_stride[2];
                const int8_t *r = rhs + (size_t)b0 * (size_t)p->rhs_batch_stride[0] + (size_t)b1 * (size_t)p->rhs_batch_stride[1]
                                  + (size_t)b2 * (size_t)p->rhs_batch_stride[2];
                for (int32_t m = 0; m < p->rows; ++m) {
                    const int8_t *lrow = l + (size_t)m * (size_t)p->lhs_row_stride;
                    for (int32_t n = 0; n < p->cols; ++n) {
                        const int8_t *rcol = r + (size_t)n * (size_t)p->rhs_col_stride;
                        int32_t acc = 0;
                        for (int32_t k = 0; k < p->depth; ++k) {
                            const int32_t a = (int32_t)lrow[(size_t)k * (size_t)p->lhs_depth_stride] + p->lhs_offset;
                            const int32_t b = (int32_t)rcol[(size_t)k * (size_t)p->rhs_depth_stride] + p->rhs_offset;
                            acc += a * b;
                        }
                        const int32_t v = tq_mul_by_quantized_mult(acc, p->mult, p->shift) + p->out_offset;
                        *out++ = (int8_t)TQ_CLAMP(v, INT8_MIN, INT8_MAX);
                    }
                }
            }
        }
    }
    return TQ_OK;
}
