"""Resource variables: READ_VARIABLE and ASSIGN_VARIABLE, for streaming models whose state is a tf.Variable.

The importer (tinyq.compiler.importer) turns each resource variable into a variable tensor of the graph
(`Tensor.variable`, with `initial` from its CALL_ONCE init subgraph) and drops VAR_HANDLE and CALL_ONCE;
READ_VARIABLE then has the variable as its input and the value read as its output; ASSIGN_VARIABLE
has the value as its input and the variable, which it writes, as its output. Variable tensors live in the state buffer, outside the arena (passes.storage), so their bytes
persist from one inference to the next until the generated <name>_reset().

TFLite's kernels copy bytes (READ: the variable into its output; ASSIGN: the value into the variable),
in any element type; so does tq_variable_copy, which makes every type bit-exact.
"""

from __future__ import annotations

from tinyq.ir import Graph, Op
from tinyq.ops.base import Kernel, KernelCall, kernel_table, need, register

HEADER = "tq_variables.h"

KERNELS = kernel_table(
    Kernel("tq_variable_copy", "tq_variable_copy_params", HEADER, ("variables/tq_variable_copy.c",)),
)

# The element types a variable may hold (those of tinyq's kernels).
TYPES = ("int8", "int16", "float32", "int32", "bool")


def _check(g: Graph, op: Op, var: int) -> None:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expected one input and one output (the importer maps "
         "the VAR_HANDLE resource to a variable tensor)")
    need(g.tensor(var).variable, op, f"tensor '{g.tensor(var).name}' is not a variable: re-export the model")
    s, d = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(s.dtype in TYPES, op, f"variable type {s.dtype} is not supported ({', '.join(TYPES)} are)")
    need(s.dtype == d.dtype and s.size == d.size, op,
         f"moves {s.dtype} [{', '.join(map(str, s.shape))}] into {d.dtype} [{', '.join(map(str, d.shape))}]: "
         "type and size must match")


def check_read(g: Graph, op: Op) -> None:
    _check(g, op, op.inputs[0] if op.inputs else -1)


def check_assign(g: Graph, op: Op) -> None:
    _check(g, op, op.outputs[0] if op.outputs else -1)


def lower_copy(g: Graph, op: Op) -> KernelCall:
    """Both ops: the input's bytes to the output (the variable lives in the state buffer, outside the arena)."""
    return KERNELS["tq_variable_copy"].call(params={"bytes": g.tensor(op.outputs[0]).nbytes},
                                            inputs=[op.inputs[0]], outputs=[op.outputs[0]])


for _dtype in ("int8", "int16", "float32"):
    register("READ_VARIABLE", check=check_read, lower=lower_copy, dtype=_dtype)
    register("ASSIGN_VARIABLE", check=check_assign, lower=lower_copy, dtype=_dtype)
