"""How an op becomes a kernel call: the lowering interface and TFLite's quantization arithmetic.

Each op family lives in one module of this package and registers a `Lowering` per TFLite
builtin it handles. A lowering validates the op (its Prepare, STYLE rule 5: generated C runs
blindly), counts its MACs and returns a `KernelCall`: plain data that templates/ renders into C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor


# --------------------------------------------------------------------------- call description


@dataclass(frozen=True)
class ArrayRef:
    """A parameter that points at one of the call's ConstArrays (rendered as its C name)."""

    name: str


@dataclass(frozen=True)
class TensorRef:
    """A parameter that points at a constant tensor's data (weights, bias, LUT tensors)."""

    index: int


# int | float | ArrayRef | TensorRef | tuple of values (C brace list) | dict (nested struct)
ParamValue = Union[int, float, ArrayRef, TensorRef, tuple, dict]


@dataclass
class ConstArray:
    """A constant array that belongs to one layer (per-channel multipliers, shifts, tables)."""

    name: str  # suffix, unique within the call: "mult", "shift", ...
    ctype: str  # "int32_t", "int16_t", "int8_t", "uint8_t", "float"
    values: np.ndarray


@dataclass
class KernelCall:
    """`func(&params, inputs..., outputs...)`: one kernel invocation in the static schedule.

    `inputs`/`outputs` are tensor indices; the generator turns each into a pointer (arena
    offset, graph input/output buffer, or constant data). Fields of `params` must match the
    C struct `params_type` declared in `header`.
    """

    func: str  # e.g. "tq_conv_s8"
    params_type: str  # e.g. "tq_conv_s8_params"
    header: str  # e.g. "tq_conv.h" in firmware/kernels/include
    sources: tuple[str, ...]  # kernel files relative to firmware/kernels, e.g. ("conv/tq_conv_s8.c",)
    params: dict[str, ParamValue]
    inputs: list[int]
    outputs: list[int]
    arrays: list[ConstArray] = field(default_factory=list)
    # Pass the input pointers as one array (`const int8_t *const in[]`), for CONCATENATION.
    inputs_as_array: bool = False
    # The kernel may write outputs[0] over inputs[0] when that input dies here (the in_place pass
    # decides): "direct" as it is; "ring" by staging output rows in the tail of outputs[1], the
    # scratch, params["ring_rows"] of them (set to 0, and the scratch shrunk, when not in place);
    # "residual" over inputs[1] (a convolution with an ADD fused, see passes.fuse_residual).
    in_place: str | None = None
    # A faster kernel with the same tensors but a larger scratch, taken by plan_memory when the
    # arena does not grow: (call, scratch bytes before the ring rows).
    alt: "tuple[KernelCall, int] | None" = None


@dataclass
class Lowering:
    kind: str
    check: Callable[[Graph, Op], None]
    lower: Callable[[Graph, Op], KernelCall]
    macs: Callable[[Graph, Op], int] = lambda g, op: 0


REGISTRY: dict[str, Lowering] = {}
# Lowerings for ops that compute in another type than int8 (float32 models, int16 activations of
# int16x8 models), by that type: an op takes its type's lowering where one exists, else REGISTRY's
# (QUANTIZE and DEQUANTIZE, say, cross types and need one lowering).
VARIANTS: dict[str, dict[str, Lowering]] = {}


def register(kind: str, *, check, lower, macs=None, dtype: str = "int8") -> None:
    table = REGISTRY if dtype == "int8" else VARIANTS.setdefault(dtype, {})
    if kind in table:
        raise RuntimeError(f"op {kind} registered twice for {dtype}")
    table[kind] = Lowering(kind=kind, check=check, lower=lower, macs=macs or (lambda g, op: 0))


def activation_dtype(g: Graph, op: Op) -> str:
    """The type an op computes in: that of its first non-constant input, else of its output."""
    for i in op.inputs:
        if i >= 0 and not g.tensor(i).is_const:
            return g.tensor(i).dtype
    return g.tensor(op.outputs[0]).dtype


def lowering_for(g: Graph, op: Op) -> "Lowering | None":
    """The lowering of op for the type it computes in (None: tinyq has none)."""
    variant = VARIANTS.get(activation_dtype(g, op), {}).get(op.kind)
    return variant if variant is not None else REGISTRY.get(op.kind)


# --------------------------------------------------------------------------- TFLite arithmetic


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = mult * 2^(shift - 31), mult in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def f32(x: float) -> np.float32:
    return np.float32(x)


def activation_range(fused: int, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: clamp bounds for a fused activation, in output units."""
    qmin, qmax = dtype_range(out.dtype)
    if fused == 0:  # NONE
        return qmin, qmax
    scale = f32(out.quant.s)
    zp = out.quant.zp

    def q(v: float) -> int:
        return zp + tflite_round(float(f32(v) / scale))

    if fused == 1:  # RELU
        return max(qmin, q(0.0)), qmax
    if fused == 3:  # RELU6
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if fused == 2:  # RELU_N1_TO_1
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise UnsupportedModel(f"fused activation {FUSED_NAMES.get(fused, fused)} is not supported on int8 ops")


FUSED_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def dtype_range(dtype: str) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


# --------------------------------------------------------------------------- validation helpers


def where(op: Op) -> str:
    return f"operator {op.index} ({op.kind})"


def need(cond: bool, op: Op, what: str) -> None:
    """Reject an op at generation time with a message naming it."""
    if not cond:
        raise UnsupportedModel(f"{where(op)}: {what}")


def need_dtype(g: Graph, op: Op, index: int, *dtypes: str) -> Tensor:
    t = g.tensor(index)
    need(t.dtype in dtypes, op, f"tensor '{t.name}' is {t.dtype}, expected {' or '.join(dtypes)}; run `tinyq convert` for a full-int8 model")
    return t


def need_quant(g: Graph, op: Op, index: int, per_tensor: bool = True) -> Quant:
    t = g.tensor(index)
    need(t.quant is not None, op, f"tensor '{t.name}' has no quantization parameters; run `tinyq convert`")
    if per_tensor:
        need(not t.quant.per_channel, op, f"tensor '{t.name}' must be quantized per tensor")
    return t.quant


def dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Pad a shape on the left to NHWC rank 4."""
    s = tuple(shape)
    need_rank = len(s) <= 4
    if not need_rank:
        raise UnsupportedModel(f"shape {list(s)} has rank {len(s)} > 4")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]
