/*
 * tinyq table kernels: a float island (DEQUANTIZE -> elementwise float ops -> QUANTIZE, which TensorFlow's
 * converter leaves where an op has no integer kernel: ELU, NEG, SIN, ...) compiled to one lookup per
 * element. The table holds the island's output for every input value, computed at generation time by
 * running the island in TFLite's interpreter (tinyq/compiler/islands.py); int8 -> int8 islands use
 * tq_lut_s8 (tq_activation.h), the others the kernels below.
 *
 * Tables are indexed by the input's bit pattern: (uint8_t)x for int8 inputs (256 entries), (uint16_t)x
 * for int16 ones (65,536 entries). Each element is read before the output element at the same index is
 * written, so `out` may alias `in` when both have one type.
 */
#ifndef TQ_TABLE_H
#define TQ_TABLE_H

#include "tq_common.h"

/** int16 -> int16: out[i] = table[(uint16_t)in[i]], table of 65,536 entries. */
typedef struct {
    int32_t size;         /**< number of elements */
    const int16_t *table; /**< [65536] */
} tq_table_s16_params;

tq_status tq_table_s16(const tq_table_s16_params *p, const int16_t *in, int16_t *out);

/** int8 -> int16: out[i] = table[(uint8_t)in[i]], table of 256 entries. */
typedef struct {
    int32_t size;         /**< number of elements */
    const int16_t *table; /**< [256] */
} tq_table_s8_s16_params;

tq_status tq_table_s8_s16(const tq_table_s8_s16_params *p, const int8_t *in, int16_t *out);

/** int16 -> int8: out[i] = table[(uint16_t)in[i]], table of 65,536 entries. */
typedef struct {
    int32_t size;        /**< number of elements */
    const int8_t *table; /**< [65536] */
} tq_table_s16_s8_params;

tq_status tq_table_s16_s8(const tq_table_s16_s8_params *p, const int16_t *in, int8_t *out);

#endif /* TQ_TABLE_H */
