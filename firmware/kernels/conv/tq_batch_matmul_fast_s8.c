/* BATCH_MATMUL int8, the fast twin of tq_batch_matmul_s8 (see tq_conv.h): dot products of contiguous
   rows and columns, the zero points added from row and column sums. */
#include "tq_conv.h"
#include "tq_dot_fast.h"

static int32_t tq_bmm_sum(const int8_t *v, int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i < n; ++i) {
        s += v[i];
    }
    return s;
}

static int8_t tq_bmm_out(const tq_batch_matmul_s8_params *p, int32_t dot, uint32_t row_term, int32_t col_sum)
{
    /* The reference's sum exactly: wrapping terms that add up to an int32 value. */
    const int32_t acc = (int32_t)((uint32_t)dot + row_term + (uint32_t)p->lhs_offset * (uint32_t)col_sum);
    const int32_t v = tq_dot_requant(acc, p->mult, p->shift) + p->out_offset;
    return (int8_t)TQ_CLAMP(v, INT8_MIN, INT8_MAX);
}

tq_status tq_batch_matmul_fast_s8(const tq_batch_matmul_s8_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out,
                                  int8_t *scratch)
{
    const int32_t rows = p->rows, cols = p->cols, depth = p->depth;
    int32_t *col_sum = (int32_t *)(void *)scratch;
    int8_t *rhs_t = scratch + 4 * (size_t)cols; /* used when the RHS columns are not contiguous */
    int8_t *lhs_rows = rhs_t + (p->rhs_depth_stride != 1 ? (size_t)depth * (size_t)cols : 0u); /* two, with adj_x */
    const uint32_t kk = (uint32_t)depth * (uint32_t)p->lhs_offset * (uint32_t)p->rhs_offset;

    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch[1]; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *l = lhs + (size_t)b0 * (size_t)p->lhs_batch_stride[0] + (size_t)b1 * (size_t)p->lhs_batch_stride[1]
                                  + (size_t)b2 * (size_t)p->lhs_batch_stride[2];
                const int8_t *r = rhs + (size_t)b0 * (size_t)p->rhs_batch_stride[0] + (size_t)b1 * (size_t)p->rhs_batch_stride[1]
                                  + (size_t)b2 * (size_t)p->rhs_batch_stride[2];
                const int8_t *cols_base = r;
                size_t col_step = (size_t)p->rhs_col_stride;
                if (p->rhs_depth_stride != 1) { /* columns gathered into rows of rhs_t */
                    for (int32_t k = 0; k < depth; ++k) {
                        const int8_t *src = r + (size_t)k * (size_t)p->rhs_depth_stride;
                        for (int32_t n = 0; n < cols; ++n) {
                            rhs_t[(size_t)n * (size_t)depth + (size_t)k] = src[(size_t)n * (size_t)p->rhs_col_stride];
                        }
                    }
                    cols_base = rhs_t;
                    col_step = (size_t)depth;
                }
                for (int32_t n = 0; n < cols; ++n) {
                    col_sum[n] = tq_bmm_sum(cols_base + (size_t)n * col_step, depth);
                }
                for (int32_t m = 0; m < rows; m += 2) {
                    /* Rows m and m + 1 (the last row alone for an odd count), each against two columns at a time. */
                    const int two = m + 1 < rows;
                    const int8_t *row0 = l + (size_t)m * (size_t)p->lhs_row_stride;
                    const int8_t *row1 = two ? row0 + (size_t)p->lhs_row_stride : row0;
                    if (p->lhs_depth_stride != 1) {
                        for (int32_t k = 0; k < depth; ++k) {
                            lhs_rows[k] = row0[(size_t)k * (size_t)p->lhs_depth_stride];
                            lhs_rows[depth + k] = row1[(size_t)k * (size_t)p->lhs_depth_stride];
                        }
                        row0 = lhs_rows;
                        row1 = lhs_rows + depth;
                    }
                    const uint32_t term0 = (uint32_t)p->rhs_offset * (uint32_t)tq_bmm_sum(row0, depth) + kk;
                    const uint32_t term1 = (uint32_t)p->rhs_offset * (uint32_t)tq_bmm_sum(row1, depth) + kk;
                    int8_t *out1 = out + cols;
                    int32_t n = 0;
                    for (; n + 2 <= cols; n += 2) {
                        const int8_t *c0 = cols_base + (size_t)n * col_step;
                        int32_t acc[4] = {0, 0, 0, 0};
                        tq_dot2x2_s8(row0, row1, c0, c0 + col_step, depth, acc);
                        out[n] = tq_bmm_out(p, acc[0], term0, col_sum[n]);
                        out[n + 1] = tq_bmm_out(p, acc[1], term0, col_sum[n + 1]);
                        if (two) {
                            out1[n] = tq_bmm_out(p, acc[2], term1, col_sum[n]);
                            out1[n + 1] = tq_bmm_out(p, acc[3], term1, col_sum[n + 1]);
                        }
                    }
                    if (n < cols) {
                        int32_t s0 = 0, s1 = 0;
                        tq_dot2_s8(cols_base + (size_t)n * col_step, row0, row1, depth, &s0, &s1);
                        out[n] = tq_bmm_out(p, s0, term0, col_sum[n]);
                        if (two) {
                            out1[n] = tq_bmm_out(p, s1, term1, col_sum[n]);
                        }
                    }
                    out += (two ? 2 : 1) * (size_t)cols;
                }
            }
        }
    }
    return TQ_OK;
}
