"""How an op becomes a kernel call: the lowering interface and TFLite's quantization arithmetic.

Each op family lives in one module of this package and registers a `Lowering` per TFLite
builtin and type it handles. A lowering validates the op (its Prepare, STYLE rule 5: generated C
runs blindly), counts its MACs and returns a `KernelCall`: plain data that templates/ renders into
C. The C kernels a family calls are data too: each family module declares them once, as a table of
`Kernel`s (func, params struct, header, files), and its lowerings make their calls from that table.
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
    # Where outputs[0] may overlap a dying inputs[0] without being a view of it: offset(out) <=
    # offset(in) - gap (tinyq.ops.overlap, for kernels whose loop order allows it; the planner
    # checks the relation). None: never.
    gap: int | None = None


@dataclass(frozen=True)
class Kernel:
    """One C kernel as data: `func(&params, ...)` and its params struct `params_type`, both declared
    in `header` (firmware/kernels/include); `sources`, relative to firmware/kernels, are the files
    a call ships besides those two headers and tq_common.h (which codegen adds itself): the
    kernel's .c (and .S) files and the other headers they and `header` include."""

    func: str
    params_type: str
    header: str
    sources: tuple[str, ...]

    def call(
        self,
        *,
        params: dict[str, ParamValue],
        inputs: list[int],
        outputs: list[int],
        arrays: list[ConstArray] | None = None,
        inputs_as_array: bool = False,
        in_place: str | None = None,
        alt: tuple[KernelCall, int] | None = None,
        gap: int | None = None,
    ) -> KernelCall:
        """This kernel called on `inputs` / `outputs` (see KernelCall for the other fields)."""
        return KernelCall(
            func=self.func,
            params_type=self.params_type,
            header=self.header,
            sources=self.sources,
            params=params,
            inputs=inputs,
            outputs=outputs,
            arrays=arrays if arrays is not None else [],
            inputs_as_array=inputs_as_array,
            in_place=in_place,
            alt=alt,
            gap=gap,
        )


def kernel_table(*kernels: Kernel) -> dict[str, Kernel]:
    """A family's kernels by function name (each named once)."""
    table: dict[str, Kernel] = {}
    for k in kernels:
        if k.func in table:
            raise RuntimeError(f"kernel {k.func} declared twice")
        table[k.func] = k
    return table


# The type-specific kernel headers reuse int8 parameter structs: the headers that declare those
# ship with every call of theirs (tq_int16.h: ADD and pooling; tq_float.h: broadcast and shapes).
INT16_HEADER = "tq_int16.h"
INT16_DEPS = ("include/tq_elementwise.h", "include/tq_pool.h")
FLOAT_HEADER = "tq_float.h"
FLOAT_DEPS = ("include/tq_elementwise.h", "include/tq_shape.h")


@dataclass
class Lowering:
    kind: str
    check: Callable[[Graph, Op], None]
    lower: Callable[[Graph, Op], KernelCall]
    macs: Callable[[Graph, Op], int] = lambda g, op: 0
    # Set for an op tinyq declines in this type on purpose: why (the error names it, the operator table shows it).
    refused: str | None = None


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


def refuse(kind: str, reason: str, dtype: str = "int8") -> None:
    """Register `kind` in `dtype` as declined on purpose: any such op is refused with `reason` (which says
    why and what to do instead), and the operator table lists it as refused rather than missing."""

    def refused(g: Graph, op: Op):
        need(False, op, reason)

    table = REGISTRY if dtype == "int8" else VARIANTS.setdefault(dtype, {})
    if kind in table:
        raise RuntimeError(f"op {kind} registered twice for {dtype}")
    table[kind] = Lowering(kind=kind, check=refused, lower=refused, refused=reason)


# Inputs that hold a shape, not values an op computes on, by op kind: their positions (TRANSPOSE_CONV's
# output_shape, which a model may feed at run time). The families fill it; activation_dtype skips them.
SHAPE_INPUTS: dict[str, tuple[int, ...]] = {}


def activation_dtype(g: Graph, op: Op) -> str:
    """The type an op computes in: that of its first non-constant input (other than a shape, SHAPE_INPUTS),
    else of its output."""
    skip = SHAPE_INPUTS.get(op.kind, ())
    for k, i in enumerate(op.inputs):
        if i >= 0 and k not in skip and not g.tensor(i).is_const:
            return g.tensor(i).dtype
    return g.tensor(op.outputs[0]).dtype


def lowering_for(g: Graph, op: Op) -> "Lowering | None":
    """The lowering of op for the type it computes in (None: tinyq has none)."""
    variant = VARIANTS.get(activation_dtype(g, op), {}).get(op.kind)
    return variant if variant is not None else REGISTRY.get(op.kind)


def check_by_lowering(lower: Callable[[Graph, Op], KernelCall]) -> Callable[[Graph, Op], None]:
    """The check of a lowering that validates the op as it lowers it: lower, drop the call."""

    def check(g: Graph, op: Op) -> None:
        lower(g, op)

    return check


def fast_kernels(g: Graph) -> bool:
    """Whether the target asks for the fast kernels (`--kernels fast`) rather than the reference loops."""
    return g.target is not None and g.target.kernels == "fast"


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
        with np.errstate(over="ignore"):
            x = float(f32(v) / scale)
        if not math.isfinite(x):  # a denormal scale: TFLite's cast of the bound to int32 is undefined
            raise UnsupportedModel(f"tensor {out.index} '{out.name}' has scale {float(scale)!r}: {v} / scale is not a finite "
                                   f"float32, so the fused {FUSED_NAMES.get(fused, fused)} has no bound: re-export the model")
        return zp + tflite_round(x)

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


def nhwc(shape: tuple[int, ...]) -> dict:
    """A rank-4 shape as the kernels' tq_dims struct."""
    n, h, w, c = shape
    return {"n": int(n), "h": int(h), "w": int(w), "c": int(c)}


def const_input(g: Graph, op: Op, pos: int, what: str) -> np.ndarray:
    """The data of the op's constant input `pos` (paddings, permutation, axes...)."""
    need(len(op.inputs) > pos and op.inputs[pos] >= 0, op, f"{what} input is missing")
    t = g.tensor(op.inputs[pos])
    need(t.is_const, op, f"{what} (tensor '{t.name}') must be a constant; tinyq compiles static graphs only")
    return np.asarray(t.data)


# --------------------------------------------------------------------------- int16x8 helpers


def need_int16(g: Graph, op: Op, index: int) -> Tensor:
    """An int16 activation quantized per tensor, symmetric, with a usable scale.

    TFLite's Prepare requires int16 activations to be symmetric (zero point 0)."""
    t = need_dtype(g, op, index, "int16")
    q = need_quant(g, op, index)
    need(q.zp == 0, op, f"int16 tensor '{t.name}' has zero point {q.zp}; TFLite requires 0 for int16 activations; re-convert with `tinyq convert --mode int16x8`")
    need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{t.name}' has scale {q.s}, expected a positive number")
    return t


def int16_io(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """The non-constant int16 input and the int16 output of a one-output op."""
    need(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
    x = need_int16(g, op, op.inputs[0])
    need(not x.is_const, op, "has a constant input activation, which is not supported")
    return x, need_int16(g, op, op.outputs[0])


# --------------------------------------------------------------------------- float32 helpers

FLT_MAX = float(np.finfo(np.float32).max)
# CalculateActivationRange(float): the clamp of each fused activation tinyq's float kernels apply.
FUSED_RANGE = {0: (-FLT_MAX, FLT_MAX), 1: (0.0, FLT_MAX), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def need_float32(g: Graph, op: Op, *indices: int) -> list[Tensor]:
    """The tensors, each required to be float32."""
    out = []
    for i in indices:
        need(i >= 0, op, "an input is missing")
        out.append(need_dtype(g, op, i, "float32"))
    return out


def float_activation_range(op: Op) -> tuple[float, float]:
    """The clamp of the op's fused activation on float values."""
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    need(fused in FUSED_RANGE, op, f"fused activation {FUSED_NAMES.get(fused, fused)} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)")
    return FUSED_RANGE[fused]
