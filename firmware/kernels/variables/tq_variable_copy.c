/* READ_VARIABLE / ASSIGN_VARIABLE: a variable's bytes in or out of the state buffer (see tq_variables.h). */
#include <string.h>

#include "tq_variables.h"

tq_status tq_variable_copy(const tq_variable_copy_params *p, const void *in, void *out)
{
    if (p->bytes > 0 && in != out) {
        memmove(out, in, (size_t)p->bytes);
    }
    return TQ_OK;
}
