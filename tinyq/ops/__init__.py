"""Op lowerings, one module per operator family, each holding the family's int8, int16x8 and float32
lowerings and the table of C kernels they call (KERNELS). Importing this package fills REGISTRY
(the int8 lowerings, and those of ops that cross types: QUANTIZE, DEQUANTIZE; `refuse` declares
what is declined on purpose, with the reason) and VARIANTS (the
int16 and float32 lowerings, by type); `lowering_for` picks an op's lowering by the type it computes in.

- conv: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL
- pool: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SUM, REDUCE_MAX, REDUCE_MIN, ARG_MAX, ARG_MIN, L2_NORMALIZATION
- elementwise: ADD, SUB, MUL, DIV, ADD_N, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, the comparisons, SELECT,
  SELECT_V2, LOGICAL_AND / OR / NOT
- activation: SOFTMAX, LOG_SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, PRELU, ELU, GELU, ABS, NEG, EXP,
  LOG, SQRT, RSQRT, SQUARE, the RELU family
- quantize: QUANTIZE, DEQUANTIZE, CAST
- shape: PAD, PADV2, MIRROR_PAD, CONCATENATION, TRANSPOSE, STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK,
  UNPACK, TILE, BROADCAST_TO, GATHER, DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, and
  RESHAPE / EXPAND_DIMS / SQUEEZE copies
- resize: RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR
- recurrent: SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM (state in variable tensors, kept across inferences)
- variables: READ_VARIABLE, ASSIGN_VARIABLE (resource variables, as variable tensors: see the importer)

Which types each compiles in, and what is refused on purpose and why: README's operator table, generated
from this registry by tinyq/ops/table.py.

Integer lowerings are bit-exact with TFLite's reference kernels. The float32 ones take TFLite's
geometry (padding, output sizes, broadcasting, shape simplification) and their kernels sum in the
reference kernels' order, so the results match TFLite's reference interpreter up to rounding where
the C library's expf / tanhf differ (tinyq verify compares float outputs within FLOAT_TOLERANCE,
see tinyq/checks/match.py).
"""

from tinyq.ops import (
    activation,
    conv,
    elementwise,
    pool,
    quantize,
    recurrent,
    resize,
    shape,
    variables,
)
from tinyq.ops.base import (
    REGISTRY,
    VARIANTS,
    Kernel,
    KernelCall,
    Lowering,
    lowering_for,
)

# The family modules, each with its KERNELS table.
FAMILIES = (activation, conv, elementwise, pool, quantize, recurrent, resize, shape, variables)


def _all_kernels() -> dict[str, Kernel]:
    table: dict[str, Kernel] = {}
    for family in FAMILIES:
        for name, kernel in family.KERNELS.items():
            if name in table:
                raise RuntimeError(f"kernel {name} declared by two families")
            table[name] = kernel
    return table


# Every kernel a lowering may call, by function name.
KERNELS: dict[str, Kernel] = _all_kernels()

__all__ = ["FAMILIES", "KERNELS", "REGISTRY", "VARIANTS", "Kernel", "KernelCall", "Lowering", "lowering_for"]
