/*
 * tinyq resource-variable kernels: READ_VARIABLE and ASSIGN_VARIABLE (tinyq/ops/variables.py).
 *
 * A resource variable lives in the model's state buffer (tq_state in the generated model.c), kept
 * across inferences until <name>_reset(). TFLite's kernels copy the variable's bytes out (READ) and
 * the assigned tensor's bytes in (ASSIGN), whatever the element type: so does tq_variable_copy.
 * Sizes are fixed at generation time.
 */
#ifndef TQ_VARIABLES_H
#define TQ_VARIABLES_H

#include "tq_common.h"

/** Copy `bytes` bytes from `in` to `out` (a variable's value, any element type). */
typedef struct {
    int32_t bytes; /**< >= 0 */
} tq_variable_copy_params;

tq_status tq_variable_copy(const tq_variable_copy_params *p, const void *in, void *out);

#endif /* TQ_VARIABLES_H */
