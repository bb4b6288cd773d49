"""Data movement: PAD / PADV2, CONCATENATION, TRANSPOSE, RESHAPE / EXPAND_DIMS / SQUEEZE copies,
STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK and UNPACK.

These ops never change a value, so bit-exactness is about moving the right bytes and about
refusing what TFLite's Prepare refuses (CONCATENATION, PACK and UNPACK with rescaling, fused
activations, splits that do not add up). Where TFLite's reference kernel copies raw values between
differently quantized tensors (STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PAD, TRANSPOSE, and int16
CONCATENATION, which only requires zero point 0) tinyq copies them the same way. Shapes are
simplified here, not in C: size-1 axes are dropped and axes that move together are merged, then
everything is padded on the left to TQ_SHAPE_MAX_DIMS axes (tq_shape.h).

Kernels by type:
- int8: tq_pad_s8, tq_concat_s8 (CONCATENATION, PACK), tq_transpose_s8, tq_copy_s8;
- float32: their _f32 twins (the float transpose and copy move bytes with the int8 loops);
- int16 (int16x8 models): tq_concat_s16 (CONCATENATION, PACK), tq_copy_s16; RESHAPE /
  EXPAND_DIMS / SQUEEZE are views (passes.alias), or a copy where the graph needs two buffers;
- every type: tq_strided_copy (STRIDED_SLICE, SLICE, the int16 TRANSPOSE), tq_split (SPLIT,
  SPLIT_V, UNPACK) and tq_pad (the int16 PAD / PADV2), which move `elem_size`-byte elements.
"""

from __future__ import annotations

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    FLOAT_DEPS,
    FLOAT_HEADER,
    FUSED_NAMES,
    FUSED_RANGE,
    INT16_DEPS,
    INT16_HEADER,
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    check_by_lowering,
    const_input,
    float_activation_range,
    kernel_table,
    need,
    need_dtype,
    need_float32,
    register,
    where,
)

MAX_DIMS = 6  # TQ_SHAPE_MAX_DIMS in tq_shape.h
HEADER = "tq_shape.h"
FLOAT_BYTES = 4  # a float32 moved as bytes

KERNELS = kernel_table(
    # int8
    Kernel("tq_copy_s8", "tq_copy_s8_params", HEADER, ("shape/tq_copy_s8.c",)),
    Kernel("tq_pad_s8", "tq_pad_s8_params", HEADER, ("shape/tq_pad_s8.c",)),
    Kernel("tq_concat_s8", "tq_concat_s8_params", HEADER, ("shape/tq_concat_s8.c",)),
    Kernel("tq_transpose_s8", "tq_transpose_s8_params", HEADER, ("shape/tq_transpose_s8.c",)),
    # int16x8
    Kernel("tq_copy_s16", "tq_copy_s16_params", INT16_HEADER, ("shape/tq_copy_s16.c", *INT16_DEPS)),
    # float32 (transpose and copy move bytes with the int8 loops)
    Kernel("tq_pad_f32", "tq_pad_f32_params", FLOAT_HEADER, ("shape/tq_pad_f32.c", *FLOAT_DEPS)),
    Kernel("tq_concat_f32", "tq_concat_f32_params", FLOAT_HEADER, ("shape/tq_concat_f32.c", *FLOAT_DEPS)),
    Kernel("tq_transpose_f32", "tq_transpose_f32_params", FLOAT_HEADER,
           ("shape/tq_transpose_f32.c", *FLOAT_DEPS, "shape/tq_transpose_s8.c")),
    Kernel("tq_copy_f32", "tq_copy_f32_params", FLOAT_HEADER, ("shape/tq_copy_f32.c", *FLOAT_DEPS, "shape/tq_copy_s8.c")),
    # int16x8 (CONCATENATION and PACK; the other int16 ops run the kernels below)
    Kernel("tq_concat_s16", "tq_concat_s16_params", INT16_HEADER, ("shape/tq_concat_s16.c", *INT16_DEPS)),
    # every element type: int8, int16, float32 (elements of `elem_size` bytes)
    Kernel("tq_strided_copy", "tq_strided_copy_params", HEADER, ("shape/tq_strided_copy.c",)),
    Kernel("tq_split", "tq_split_params", HEADER, ("shape/tq_split.c",)),
    Kernel("tq_pad", "tq_pad_params", HEADER, ("shape/tq_pad.c",)),
)
# The element types the kernels for every type move, by size; and the kernel that concatenates each.
ELEM_BYTES = {"int8": 1, "int16": 2, "float32": 4}
CONCAT_KERNEL = {"int8": "tq_concat_s8", "int16": "tq_concat_s16", "float32": "tq_concat_f32"}


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


def _qparams(t: Tensor) -> tuple[float, int]:
    """The tensor's TfLiteQuantizationParams (scale, zero_point): (0.0, 0) when unquantized."""
    if t.quant is None:
        return 0.0, 0
    return float(np.float32(t.quant.scale[0])), int(t.quant.zero_point[0])


def _left_pad(xs: list[int], fill: int) -> tuple[int, ...]:
    return tuple([fill] * (MAX_DIMS - len(xs)) + [int(x) for x in xs])


# --------------------------------------------------------------------------- RESHAPE copy


def check_copy(g: Graph, op: Op) -> None:
    need(len(op.outputs) == 1, op, "expected one output")
    src = need_dtype(g, op, op.inputs[0], "int8")
    dst = need_dtype(g, op, op.outputs[0], "int8")
    need(src.size == dst.size, op, f"input has {src.size} elements but output shape {list(dst.shape)} has {dst.size}")


def lower_copy(g: Graph, op: Op) -> KernelCall:
    dst = g.tensor(op.outputs[0])
    return KERNELS["tq_copy_s8"].call(params={"size": dst.size}, inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- PAD / PADV2


def _paddings(g: Graph, op: Op) -> np.ndarray:
    src = g.tensor(op.inputs[0])
    pads = const_input(g, op, 1, "paddings")
    need(str(pads.dtype) in ("int32", "int64"), op, f"paddings are {pads.dtype}, expected int32 or int64")
    rank = len(src.shape)
    need(pads.shape == (rank, 2), op, f"paddings have shape {list(pads.shape)}, expected [{rank}, 2]")
    need(bool(np.all(pads >= 0)), op, "negative paddings are not supported (TFLite rejects them)")
    need(bool(np.all(pads <= 2**31 - 1)), op, "paddings overflow int32")
    return pads.astype(np.int64)


def _pad_value(g: Graph, op: Op, dtype: str = "int8") -> int:
    """TFLite's pad value of an integer PAD / PADV2 (pad.cc EvalInt): the output zero point, or PADV2's
    constant, which must then be quantized like the output; 0 or the constant when unquantized."""
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    has_const = op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0
    if has_const:
        c = g.tensor(op.inputs[2])
        need(c.dtype == dtype, op, f"the constant value is {c.dtype}, expected {dtype} like the input")
        cv = const_input(g, op, 2, "constant value")
        need(cv.size == 1, op, f"the constant value must be a scalar, it has {cv.size} elements")
        if src.quant is not None:
            need(
                _qparams(c) == _qparams(dst),
                op,
                "the constant value must have the output's scale and zero point (TFLite requires it)",
            )
        return int(cv.reshape(-1)[0])
    if src.quant is None:
        return 0
    zp = _qparams(dst)[1]
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    need(lo <= zp <= hi, op, f"the output zero point {zp} is outside the {dtype} range (TFLite pads with it)")
    return zp


def check_pad(g: Graph, op: Op) -> None:
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and one output")
    src = need_dtype(g, op, op.inputs[0], "int8")
    dst = need_dtype(g, op, op.outputs[0], "int8")
    pads = _paddings(g, op)
    want = tuple(int(d + a + b) for d, (a, b) in zip(src.shape, pads))
    need(tuple(dst.shape) == want, op, f"output shape {list(dst.shape)} does not match the padded shape {list(want)}")
    need(len(src.shape) <= 5, op, f"input rank {len(src.shape)} > 5 (TFLite pads at most 5 dimensions)")
    _pad_value(g, op)
    _pad_dims(src.shape, pads, op)


def _pad_dims(shape, pads, op: Op) -> list[tuple[int, int, int]]:
    """(in, before, after) per axis with unpadded size-1 axes dropped and every unpadded axis
    folded into the axis outside it (its padding scales by the inner extent)."""
    dims: list[tuple[int, int, int]] = []
    for d, (b, a) in zip(shape, pads):
        d, b, a = int(d), int(b), int(a)
        if b == 0 and a == 0:
            if d == 1:
                continue
            if dims:
                pd, pb, pa = dims[-1]
                dims[-1] = (pd * d, pb * d, pa * d)
                continue
        dims.append((d, b, a))
    if not dims:
        dims = [(1, 0, 0)]
    need(len(dims) <= MAX_DIMS, op, f"padding {len(dims)} independent axes, more than {MAX_DIMS}")
    for d, b, a in dims:
        need(d + b + a < 2**31, op, "padded extent overflows int32")
    return dims


def lower_pad(g: Graph, op: Op) -> KernelCall:
    src = g.tensor(op.inputs[0])
    dims = _pad_dims(src.shape, _paddings(g, op), op)
    in_dims = [d for d, _, _ in dims]
    before = [b for _, b, _ in dims]
    out_dims = [d + b + a for d, b, a in dims]
    return KERNELS["tq_pad_s8"].call(
        params={
            "in_dims": _left_pad(in_dims, 1),
            "out_dims": _left_pad(out_dims, 1),
            "before": _left_pad(before, 0),
            "pad_value": _pad_value(g, op),
        },
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )


# --------------------------------------------------------------------------- CONCATENATION


def _concat_axis(g: Graph, op: Op) -> int:
    rank = len(g.tensor(op.inputs[0]).shape)
    axis = int(op.options.axis) if op.options is not None else 0
    if axis < 0:
        axis += rank
    need(0 <= axis < rank, op, f"axis {op.options.axis if op.options else 0} is out of range for rank {rank}")
    return axis


def check_concat(g: Graph, op: Op) -> None:
    need(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expected at least one input and one output")
    need(all(i >= 0 for i in op.inputs), op, "an input is missing")
    dst = need_dtype(g, op, op.outputs[0], "int8")
    ins = [need_dtype(g, op, i, "int8") for i in op.inputs]
    fused = int(op.options.fusedActivationFunction) if op.options is not None else 0
    need(
        fused == 0,
        op,
        f"fused activation {FUSED_NAMES.get(fused, fused)} on CONCATENATION is not supported "
        "(TFLite's kernel rejects it too)",
    )
    axis = _concat_axis(g, op)
    rank = len(ins[0].shape)
    total = 0
    for t in ins:
        need(len(t.shape) == rank, op, f"input '{t.name}' has rank {len(t.shape)}, expected {rank}")
        for d in range(rank):
            if d != axis:
                need(t.shape[d] == dst.shape[d], op, f"input '{t.name}' shape {list(t.shape)} does not match the output {list(dst.shape)}")
        total += t.shape[axis]
    need(len(dst.shape) == rank and dst.shape[axis] == total, op, f"output shape {list(dst.shape)} is not the concatenation of the inputs")
    out_q = _qparams(dst)
    for t in ins:
        if t.quant is not None and t.quant.per_channel:
            raise UnsupportedModel(f"{where(op)}: input '{t.name}' is quantized per channel")
        need(
            _qparams(t) == out_q,
            op,
            f"input '{t.name}' (scale {_qparams(t)[0]:g}, zero point {_qparams(t)[1]}) is quantized differently from the "
            f"output (scale {out_q[0]:g}, zero point {out_q[1]}): TFLite's int8 CONCATENATION rejects rescaling; "
            "re-export with `tinyq convert`, which gives all inputs the output's quantization",
        )


def lower_concat(g: Graph, op: Op) -> KernelCall:
    axis = _concat_axis(g, op)
    dst = g.tensor(op.outputs[0])
    outer = _prod(dst.shape[:axis])
    chunk = np.array([_prod(g.tensor(i).shape[axis:]) for i in op.inputs], dtype=np.int32)
    return KERNELS["tq_concat_s8"].call(
        params={"num_inputs": len(op.inputs), "outer": outer, "chunk": ArrayRef("chunk")},
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        arrays=[ConstArray("chunk", "int32_t", chunk)],
        inputs_as_array=True,
    )


# --------------------------------------------------------------------------- TRANSPOSE


def _perm(g: Graph, op: Op) -> list[int]:
    src = g.tensor(op.inputs[0])
    perm = const_input(g, op, 1, "permutation")
    need(str(perm.dtype) == "int32", op, f"the permutation is {perm.dtype}, expected int32")
    p = [int(x) for x in perm.reshape(-1)]
    rank = len(src.shape)
    need(len(p) == rank, op, f"the permutation has {len(p)} entries for an input of rank {rank}")
    need(all(-rank <= a < rank for a in p), op, f"permutation {p} has an entry outside [-{rank}, {rank})")
    p = [a + rank if a < 0 else a for a in p]  # TFLite counts a negative entry from the end
    need(sorted(p) == list(range(rank)), op, f"{p} is not a permutation of 0..{rank - 1}")
    need(rank <= 6, op, f"input rank {rank} > 6 (TFLite transposes at most 6 dimensions)")
    return p


def check_transpose(g: Graph, op: Op) -> None:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs and one output")
    src = need_dtype(g, op, op.inputs[0], "int8")
    dst = need_dtype(g, op, op.outputs[0], "int8")
    p = _perm(g, op)
    want = tuple(src.shape[a] for a in p)
    need(tuple(dst.shape) == want, op, f"output shape {list(dst.shape)} is not the permuted input shape {list(want)}")


def simplify_transpose(shape, perm) -> tuple[list[int], list[int]]:
    """Drop size-1 axes and merge output-adjacent axes that are adjacent in the input too.
    Returns (input shape, permutation) of the simplified transpose."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    rank_of = {a: k for k, a in enumerate(keep)}
    shp = [int(shape[a]) for a in keep]
    p = [rank_of[a] for a in perm if a in rank_of]
    groups: list[list[int]] = []  # runs of input axes, in output order
    for a in p:
        if groups and groups[-1][-1] + 1 == a:
            groups[-1].append(a)
        else:
            groups.append([a])
    order = sorted(range(len(groups)), key=lambda k: groups[k][0])  # groups in input order
    new_shape = [_prod(shp[a] for a in groups[k]) for k in order]
    pos = {k: j for j, k in enumerate(order)}
    new_perm = [pos[k] for k in range(len(groups))]
    return new_shape, new_perm


def lower_transpose(g: Graph, op: Op) -> KernelCall:
    src = g.tensor(op.inputs[0])
    shape, perm = simplify_transpose(src.shape, _perm(g, op))
    strides = [_prod(shape[a + 1 :]) for a in range(len(shape))]
    out_dims = [shape[a] for a in perm]
    in_stride = [strides[a] for a in perm]
    return KERNELS["tq_transpose_s8"].call(
        params={"out_dims": _left_pad(out_dims, 1), "in_stride": _left_pad(in_stride, 0)},
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )


# --------------------------------------------------------------------------- RESHAPE copy (int16x8)


def check_copy_s16(g: Graph, op: Op) -> None:
    need(len(op.outputs) == 1, op, "expected one output")
    src = need_dtype(g, op, op.inputs[0], "int16")
    dst = need_dtype(g, op, op.outputs[0], "int16")
    need(src.size == dst.size, op, f"input has {src.size} elements but output shape {list(dst.shape)} has {dst.size}")


def lower_copy_s16(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_copy_s16"].call(params={"size": g.tensor(op.outputs[0]).size}, inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- float32


def lower_pad_f32(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and one output")
    x, y = need_float32(g, op, op.inputs[0], op.outputs[0])
    pads = _paddings(g, op)
    want = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} does not match the padded shape {list(want)}")
    value = 0.0
    if op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        need_float32(g, op, op.inputs[2])
        cv = const_input(g, op, 2, "constant value")
        need(cv.size == 1, op, f"the constant value must be a scalar, it has {cv.size} elements")
        value = float(cv.reshape(-1)[0])
    dims = _pad_dims(x.shape, pads, op)
    params = {"in_dims": _left_pad([d for d, _, _ in dims], 1), "out_dims": _left_pad([d + b + a for d, b, a in dims], 1),
              "before": _left_pad([b for _, b, _ in dims], 0), "pad_value": value}
    return KERNELS["tq_pad_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


def lower_concat_f32(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expected at least one input and one output")
    ins = need_float32(g, op, *op.inputs)
    (y,) = need_float32(g, op, op.outputs[0])
    need(float_activation_range(op) == FUSED_RANGE[0], op, "a fused activation on CONCATENATION is not supported")
    axis = _concat_axis(g, op)
    others = [tuple(d for k, d in enumerate(t.shape) if k != axis) for t in ins + [y]]
    need(len(set(others)) == 1 and all(len(t.shape) == len(y.shape) for t in ins), op,
         f"input shapes {[list(t.shape) for t in ins]} do not concatenate on axis {axis}")
    need(sum(t.shape[axis] for t in ins) == y.shape[axis], op, f"output shape {list(y.shape)} is not the concatenation of the inputs")
    chunk = np.array([_prod(t.shape[axis:]) for t in ins], dtype=np.int32)
    return KERNELS["tq_concat_f32"].call(
        params={"num_inputs": len(ins), "outer": _prod(y.shape[:axis]), "chunk": ArrayRef("chunk")},
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        arrays=[ConstArray("chunk", "int32_t", chunk)],
        inputs_as_array=True,
    )


def lower_transpose_f32(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs and one output")
    x, y = need_float32(g, op, op.inputs[0], op.outputs[0])
    perm = _perm(g, op)
    need(tuple(y.shape) == tuple(x.shape[a] for a in perm), op, f"output shape {list(y.shape)} is not the permuted input shape")
    # The bytes of each float as one more innermost axis, which the permutation leaves in place.
    shape, p = simplify_transpose(tuple(x.shape) + (FLOAT_BYTES,), perm + [len(perm)])
    strides = [_prod(shape[a + 1:]) for a in range(len(shape))]
    need(len(p) <= 6, op, "the transpose needs more than 6 axes")
    params = {"out_dims": _left_pad([shape[a] for a in p], 1), "in_stride": _left_pad([strides[a] for a in p], 0)}
    return KERNELS["tq_transpose_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


def lower_copy_f32(g: Graph, op: Op) -> KernelCall:
    x, y = need_float32(g, op, op.inputs[0], op.outputs[0])
    need(x.size == y.size, op, f"input has {x.size} elements but output shape {list(y.shape)} has {y.size}")
    return KERNELS["tq_copy_f32"].call(params={"size": FLOAT_BYTES * y.size}, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]],
                                       in_place="direct")


# --------------------------------------------------------------------------- every element type
#
# STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, UNPACK and PACK on int8, int16 and float32, and the int16
# PAD / PADV2, CONCATENATION and TRANSPOSE. TFLite's reference kernels move these values by element
# size (strided_slice.cc, slice.cc, split.cc, split_v.cc, pack.cc, unpack.cc, transpose.cc), so
# the lowerings below take the type as a parameter and are registered once per type.


def _moved(g: Graph, op: Op, dtype: str, indices) -> list[Tensor]:
    """The data tensors of a data-movement op, each of `dtype` and, if quantized, per tensor."""
    out = []
    for i in indices:
        need(i >= 0, op, "an input is missing")
        t = need_dtype(g, op, i, dtype)
        need(t.quant is None or not t.quant.per_channel, op, f"tensor '{t.name}' is quantized per channel, expected per tensor")
        need(t.size > 0, op, f"tensor '{t.name}' has shape {list(t.shape)}, with no elements; tinyq compiles no empty tensors")
        out.append(t)
    return out


def _same_quant(op: Op, t: Tensor, ref: Tensor, why: str) -> None:
    """`t` quantized exactly like `ref` (TfLiteQuantizationParams compared as TFLite's Prepare does)."""
    (s, z), (rs, rz) = _qparams(t), _qparams(ref)
    need((s, z) == (rs, rz), op,
         f"tensor '{t.name}' (scale {s:g}, zero point {z}) is quantized differently from '{ref.name}' (scale {rs:g}, "
         f"zero point {rz}): {why}; re-export with `tinyq convert`")


def _const_ints(g: Graph, op: Op, pos: int, what: str, dtypes=("int32",), vector: bool = True) -> list[int]:
    """A constant index input (begin, end, strides, size, size_splits; a scalar axis unless `vector`) as
    ints; TFLite reads it as one of `dtypes`."""
    v = const_input(g, op, pos, what)
    name = g.tensor(op.inputs[pos]).name
    need(str(v.dtype) in dtypes, op, f"{what} (tensor '{name}') is {v.dtype}, expected {' or '.join(dtypes)} (TFLite reads it so)")
    need(v.ndim == 1 or (v.ndim == 0 and not vector), op, f"{what} (tensor '{name}') has shape {list(v.shape)}, expected a vector")
    return [int(x) for x in v.reshape(-1)]


def _axis_value(g: Graph, op: Op, pos: int, rank: int) -> int:
    """The constant axis input of SPLIT / SPLIT_V, normalized like TFLite (negative counts from the end)."""
    vals = _const_ints(g, op, pos, "axis", vector=False)
    need(len(vals) >= 1, op, "the axis input is empty")
    a = vals[0] + rank if vals[0] < 0 else vals[0]
    need(0 <= a < rank, op, f"axis {vals[0]} is out of range for an input of rank {rank}")
    return a


def _row_major_strides(shape) -> list[int]:
    return [_prod(shape[k + 1 :]) for k in range(len(shape))]


def strided_copy_dims(start: int, axes, in_size: int, op: Op) -> tuple[list[int], list[int]]:
    """A gather of prod(counts) elements, walking (count, input stride) axes outermost first from input
    element `start`, as at most MAX_DIMS axes: count-1 axes dropped, axes that continue each other merged.
    Checks that every element read lies in the input. Returns (out_dims, in_stride)."""
    lo = hi = start
    dims: list[tuple[int, int]] = []
    for n, s in axes:
        lo += min(0, (n - 1) * s)
        hi += max(0, (n - 1) * s)
        if n == 1:
            continue
        if dims and dims[-1][1] == n * s:
            dims[-1] = (dims[-1][0] * n, s)
        else:
            dims.append((n, s))
    need(0 <= lo and hi < in_size, op, f"the slice reads elements {lo}..{hi} of an input of {in_size} (internal error)")
    need(len(dims) <= MAX_DIMS, op, f"the slice walks {len(dims)} independent axes, more than {MAX_DIMS}")
    need(in_size < 2**31, op, "the input has more than 2^31 - 1 elements")
    return [n for n, _ in dims], [s for _, s in dims]


def _strided_copy(g: Graph, op: Op, dtype: str, start: int, axes) -> KernelCall:
    x = g.tensor(op.inputs[0])
    out_dims, in_stride = strided_copy_dims(start, axes, x.size, op)
    return KERNELS["tq_strided_copy"].call(
        params={"elem_size": ELEM_BYTES[dtype], "start": start, "out_dims": _left_pad(out_dims, 1),
                "in_stride": _left_pad(in_stride, 0)},
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )


# ----------------------------------------------------------------- STRIDED_SLICE


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else max(v, lo)


def _trunc_div(a: int, b: int) -> int:
    """C++ integer division (rounds toward zero)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def strided_slice_axes(shape, begin, end, strides, masks, offset: bool, op: Op):
    """TFLite's STRIDED_SLICE on a static input shape, as strided_slice.cc computes it (its own
    BuildStridedSliceParams, then StartForAxis / EndForAxis of reference/strided_slice.h, then the loop
    of reference_ops::StridedSlice).

    The slice spec (begin / end / strides, one entry per spec position) is first expanded to the
    "effective" axes: the ellipsis becomes every input axis it stands for (begin and end masked,
    stride 1), a new_axis position becomes an axis of extent 1, trailing unspecified axes are taken
    whole. Per effective axis, a negative begin / end counts from the end, both are clamped to
    [0, n] ([-1, n - 1] walking backwards) and a begin / end mask bit takes the whole axis; a
    shrink_axis position takes one element and drops the axis from the output; `offset` makes end
    relative to begin.

    Returns (start, axes, out_shape): the input element of the first output element, the
    (count, input stride) of every effective axis outermost first (the elements TFLite's loop
    writes, in its order), and the output shape TFLite's Prepare gives. `masks` is (begin_mask,
    end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask).
    """
    bm, em, elm, nam, sam = (int(m) for m in masks)
    n, rank = len(begin), len(shape)
    need(len(end) == n and len(strides) == n, op, f"begin, end and strides have {n}, {len(end)} and {len(strides)} entries; "
         "TFLite requires as many of each")
    need(n <= 31, op, f"the slice has {n} indices; TFLite's STRIDED_SLICE takes at most 31")

    def bit(mask: int, i: int) -> bool:
        return i >= 0 and (mask >> i) & 1 == 1

    num_add = sum(1 for i in range(n) if bit(nam, i) and not bit(elm, i))
    eff = rank + num_add
    # Expand the ellipsis. As TFLite does, the ellipsis bit is looked up at effective positions and
    # the new_axis bit at the spec position (the effective one less the ellipsis' extra axes).
    ell = new_axis = 0
    ell_start, expanded, i = eff, 0, 0
    while i < eff:
        if bit(elm, i):
            ell_start = i
            ell_end = max(i + 1, min(i + 1 + num_add + rank - n, eff))
            expanded = ell_end - ell_start - 1
            while i < ell_end:
                ell |= 1 << i
                i += 1
            continue
        if bit(nam, i - expanded):
            new_axis |= 1 << i
        i += 1
    # Per effective axis: (begin, end, stride, begin masked, end masked, shrink, extent).
    spec = []
    added_ell = added_axes = 0
    for i in range(eff):
        if bit(ell, i):
            added_ell = max(0, i - ell_start)
            row = (0, 0, 1, True, True, False, i - added_axes)
        elif bit(new_axis, i):
            row = (0, 1, 1, False, False, False, None)
            added_axes += 1
        elif i >= n + expanded:
            row = (0, 0, 1, True, True, False, i - added_axes)
        else:
            o = i - added_ell
            need(0 <= o < n, op, f"the slice masks address spec position {o} of {n}")
            row = (begin[o], end[o], strides[o], bit(bm, o), bit(em, o), bit(sam, o), i - added_axes)
        src = row[6]
        need(src is None or 0 <= src < rank, op, f"the slice masks address input axis {src} of an input of rank {rank}")
        spec.append(row[:6] + (1 if src is None else int(shape[src]),))

    eff_shape = [r[6] for r in spec]
    in_stride = _row_major_strides(eff_shape)
    start_elem = 0
    axes, out_shape = [], []
    for i, (b, e, s, b_masked, e_masked, shrink, size) in enumerate(spec):
        need(s != 0, op, f"stride {s} on axis {i}: TFLite requires non-zero strides")
        need(-(2**31) < s < 2**31 and -(2**31) <= b < 2**31 and -(2**31) <= e < 2**31, op,
             f"begin {b}, end {e} or stride {s} on axis {i} is out of the int32 range")
        # StartForAxis
        first = b + size if b < 0 else b
        first = _clamp(first, 0, size) if s > 0 else _clamp(first, -1, size - 1)
        if b_masked:
            first = 0 if s > 0 else size - 1
        # EndForAxis
        if shrink:
            stop = first if first >= size else first + 1
        else:
            stop = e + first if offset else e
            stop = stop + size if stop < 0 else stop
            stop = _clamp(stop, 0, size) if s > 0 else _clamp(stop, -1, size - 1)
            if e_masked:
                stop = size if s > 0 else -1
        # the kernel's loop: first, first + s, ... while before stop
        count = max(0, -((first - stop) // s)) if s > 0 else max(0, -((stop - first) // -s))
        # the output extent Prepare gives (ResizeOutputTensor)
        if shrink:
            need(count == 1, op, f"shrink axis {i} takes begin {b} (stride {s}), which selects no element of an axis of "
                 f"{size}; TFLite's kernel would leave the output unwritten")
        else:
            if offset:
                need(i < len(end), op, f"with offset set, TFLite reads end[{i}] of {len(end)} entries")
                extent = end[i]
            else:
                extent = stop - first
            if (extent < 0) != (s < 0):
                extent = 0
            elif s < 0:
                extent = _trunc_div(extent + 1, s) + 1
            else:
                extent = 0 if extent == 0 else _trunc_div(extent - 1, s) + 1
            need(extent == count, op, f"axis {i}: TFLite's output has extent {extent} but its kernel writes {count} elements "
                 f"(begin {b}, end {e}, stride {s}, offset {offset})")
            out_shape.append(extent)
        if count > 0:
            start_elem += first * in_stride[i]
        axes.append((count, s * in_stride[i]))
    return start_elem, axes, tuple(out_shape)


def lower_strided_slice(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 4 and len(op.outputs) == 1, op, "expected 4 inputs (input, begin, end, strides) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    begin = _const_ints(g, op, 1, "begin")
    end = _const_ints(g, op, 2, "end")
    strides = _const_ints(g, op, 3, "strides")
    o = op.options
    masks = tuple(int(getattr(o, f, 0) or 0) for f in ("beginMask", "endMask", "ellipsisMask", "newAxisMask", "shrinkAxisMask"))
    offset = bool(getattr(o, "offset", False))
    start, axes, out_shape = strided_slice_axes(x.shape, begin, end, strides, masks, offset, op)
    need(tuple(y.shape) == out_shape, op, f"output '{y.name}' has shape {list(y.shape)}, but the slice gives {list(out_shape)}")
    return _strided_copy(g, op, dtype, start, axes)


# ----------------------------------------------------------------- SLICE


def lower_slice(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 3 and len(op.outputs) == 1, op, "expected 3 inputs (input, begin, size) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    begin = _const_ints(g, op, 1, "begin", ("int32", "int64"))
    size = _const_ints(g, op, 2, "size", ("int32", "int64"))
    types = {g.tensor(op.inputs[1]).dtype, g.tensor(op.inputs[2]).dtype}
    need(len(types) == 1, op, f"begin and size are {' and '.join(sorted(types))}; TFLite requires one type")
    rank = len(x.shape)
    need(len(begin) == rank and len(size) == rank, op, f"begin and size have {len(begin)} and {len(size)} entries for an input of rank {rank}")
    counts = []
    for d, (b, s, n) in enumerate(zip(begin, size, x.shape)):
        need(b >= 0, op, f"begin {b} on axis {d} is negative (TFLite's SLICE rejects it)")
        need(s >= -1, op, f"size {s} on axis {d} is negative other than -1 (TFLite's SLICE rejects it)")
        need(b <= n and (s == -1 or s <= n - b), op, f"begin {b} and size {s} on axis {d} leave the axis of {n} (TFLite rejects it)")
        counts.append(n - b if s == -1 else s)
    need(tuple(y.shape) == tuple(counts), op, f"output '{y.name}' has shape {list(y.shape)}, but the slice gives {counts}")
    strides = _row_major_strides(x.shape)
    start = sum(b * st for b, st in zip(begin, strides))
    return _strided_copy(g, op, dtype, start, list(zip(counts, strides)))


# ----------------------------------------------------------------- SPLIT, SPLIT_V, UNPACK


def _split_call(g: Graph, op: Op, dtype: str, x: Tensor, axis: int, extents: list[int], drop_axis: bool) -> KernelCall:
    """Output k takes `extents[k]` of the input's `axis` (UNPACK: 1 each, the axis dropped)."""
    for k, (o, ext) in enumerate(zip(op.outputs, extents)):
        t = g.tensor(o)
        want = tuple(x.shape[:axis]) + (() if drop_axis else (ext,)) + tuple(x.shape[axis + 1 :])
        need(ext > 0, op, f"output {k} ('{t.name}') would be empty; tinyq compiles no empty tensors")
        need(tuple(t.shape) == want, op, f"output {k} ('{t.name}') has shape {list(t.shape)}, expected {list(want)}")
    inner = _prod(x.shape[axis + 1 :])
    chunk = np.array([ext * inner for ext in extents], dtype=np.int64)
    need(int(x.size) < 2**31, op, "the input has more than 2^31 - 1 elements")
    return KERNELS["tq_split"].call(
        params={"elem_size": ELEM_BYTES[dtype], "outer": _prod(x.shape[:axis]), "num_outputs": len(extents),
                "chunk": ArrayRef("chunk")},
        inputs=[x.index],
        outputs=list(op.outputs),
        arrays=[ConstArray("chunk", "int32_t", chunk.astype(np.int32))],
    )


def _num_outputs(op: Op, field: str) -> int:
    n = int(getattr(op.options, field, 0) or 0) if op.options is not None else 0
    need(n == len(op.outputs) and n >= 1, op, f"{field} is {n} but the op has {len(op.outputs)} outputs; TFLite requires them equal")
    return n


def lower_split(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 2, op, "expected 2 inputs (axis, input)")
    n = _num_outputs(op, "numSplits")
    x, *_ = _moved(g, op, dtype, [op.inputs[1], *op.outputs])
    axis = _axis_value(g, op, 0, len(x.shape))
    dim = int(x.shape[axis])
    need(dim % n == 0, op, f"axis {axis} of extent {dim} does not split into {n} equal parts (TFLite: not an even split)")
    return _split_call(g, op, dtype, x, axis, [dim // n] * n, drop_axis=False)


def lower_split_v(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 3, op, "expected 3 inputs (input, size_splits, axis)")
    n = _num_outputs(op, "numSplits")
    x, *_ = _moved(g, op, dtype, [op.inputs[0], *op.outputs])
    sizes = _const_ints(g, op, 1, "size_splits", ("int32", "int64"))
    need(len(sizes) == n, op, f"size_splits has {len(sizes)} entries for {n} outputs; TFLite requires as many")
    axis = _axis_value(g, op, 2, len(x.shape))
    dim = int(x.shape[axis])
    unknown = [k for k, s in enumerate(sizes) if s == -1]
    need(len(unknown) <= 1, op, f"size_splits {sizes} holds more than one -1 (TFLite rejects it)")
    need(all(s >= -1 for s in sizes), op, f"size_splits {sizes} holds a negative size other than -1")
    known = sum(s for s in sizes if s != -1)
    if unknown:
        need(known <= dim, op, f"size_splits {sizes} add up to more than the axis' extent {dim} (TFLite rejects it)")
        sizes[unknown[0]] = dim - known
    need(sum(sizes) == dim, op, f"size_splits {sizes} do not add up to the axis' extent {dim} (TFLite rejects it)")
    return _split_call(g, op, dtype, x, axis, sizes, drop_axis=False)


def lower_unpack(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 1, op, "expected one input")
    n = _num_outputs(op, "num")
    x, *ys = _moved(g, op, dtype, [op.inputs[0], *op.outputs])
    rank = len(x.shape)
    a = int(getattr(op.options, "axis", 0) or 0)
    axis = a + rank if a < 0 else a
    need(0 <= axis < rank, op, f"axis {a} is out of range for an input of rank {rank}")
    need(int(x.shape[axis]) == n, op, f"axis {axis} has extent {x.shape[axis]} but num is {n}; TFLite requires them equal")
    for y in ys:
        _same_quant(op, y, x, "TFLite's UNPACK does not rescale")
    return _split_call(g, op, dtype, x, axis, [1] * n, drop_axis=True)


# ----------------------------------------------------------------- PACK


def lower_pack(g: Graph, op: Op, dtype: str) -> KernelCall:
    n = int(getattr(op.options, "valuesCount", 0) or 0) if op.options is not None else 0
    need(n == len(op.inputs) and n >= 1 and len(op.outputs) == 1, op,
         f"values_count is {n} but the op has {len(op.inputs)} inputs; TFLite requires them equal (and one output)")
    *xs, y = _moved(g, op, dtype, [*op.inputs, op.outputs[0]])
    shape = tuple(xs[0].shape)
    rank = len(shape)
    a = int(getattr(op.options, "axis", 0) or 0)
    axis = a + rank + 1 if a < 0 else a
    need(0 <= axis <= rank, op, f"axis {a} is out of range for inputs of rank {rank}")
    for t in xs:
        need(tuple(t.shape) == shape, op, f"input '{t.name}' has shape {list(t.shape)}, unlike '{xs[0].name}' {list(shape)}")
    want = shape[:axis] + (n,) + shape[axis:]
    need(tuple(y.shape) == want, op, f"output '{y.name}' has shape {list(y.shape)}, expected {list(want)}")
    for t in xs:
        _same_quant(op, t, y, "TFLite's PACK does not rescale")
    chunk = np.full(n, _prod(shape[axis:]), dtype=np.int32)
    return KERNELS[CONCAT_KERNEL[dtype]].call(
        params={"num_inputs": n, "outer": _prod(shape[:axis]), "chunk": ArrayRef("chunk")},
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        arrays=[ConstArray("chunk", "int32_t", chunk)],
        inputs_as_array=True,
    )


# ----------------------------------------------------------------- int16 PAD, CONCATENATION, TRANSPOSE


def lower_pad_s16(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and one output")
    x, _ = _moved(g, op, "int16", [op.inputs[0], op.outputs[0]])
    pads = _paddings(g, op)
    y = g.tensor(op.outputs[0])
    want = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} does not match the padded shape {list(want)}")
    need(len(x.shape) <= 5, op, f"input rank {len(x.shape)} > 5 (TFLite pads at most 5 dimensions)")
    value = _pad_value(g, op, "int16")
    dims = _pad_dims(x.shape, pads, op)
    return KERNELS["tq_pad"].call(
        params={"elem_size": 2, "in_dims": _left_pad([d for d, _, _ in dims], 1),
                "out_dims": _left_pad([d + b + a for d, b, a in dims], 1),
                "before": _left_pad([b for _, b, _ in dims], 0), "pad_value": ArrayRef("value")},
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        arrays=[ConstArray("value", "int16_t", np.array([value], dtype=np.int16))],
    )


def lower_concat_s16(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expected at least one input and one output")
    *ins, y = _moved(g, op, "int16", [*op.inputs, op.outputs[0]])
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    need(fused == 0, op, f"fused activation {FUSED_NAMES.get(fused, fused)} on CONCATENATION is not supported "
         "(TFLite's kernel rejects it too)")
    for t in ins + [y]:
        need(_qparams(t)[1] == 0, op, f"int16 tensor '{t.name}' has zero point {_qparams(t)[1]}; TFLite's CONCATENATION "
             "requires 0; re-convert with `tinyq convert --mode int16x8`")
    axis = _concat_axis(g, op)
    others = [tuple(d for k, d in enumerate(t.shape) if k != axis) for t in ins + [y]]
    need(len(set(others)) == 1 and all(len(t.shape) == len(y.shape) for t in ins), op,
         f"input shapes {[list(t.shape) for t in ins]} do not concatenate on axis {axis} into {list(y.shape)}")
    need(sum(t.shape[axis] for t in ins) == y.shape[axis], op, f"output shape {list(y.shape)} is not the concatenation of the inputs")
    chunk = np.array([_prod(t.shape[axis:]) for t in ins], dtype=np.int32)
    return KERNELS["tq_concat_s16"].call(
        params={"num_inputs": len(ins), "outer": _prod(y.shape[:axis]), "chunk": ArrayRef("chunk")},
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        arrays=[ConstArray("chunk", "int32_t", chunk)],
        inputs_as_array=True,
    )


def lower_transpose_s16(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs and one output")
    x, y = _moved(g, op, "int16", [op.inputs[0], op.outputs[0]])
    perm = _perm(g, op)
    want = tuple(x.shape[a] for a in perm)
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} is not the permuted input shape {list(want)}")
    shape, p = simplify_transpose(x.shape, perm)
    strides = _row_major_strides(shape)
    return _strided_copy(g, op, "int16", 0, [(shape[a], strides[a]) for a in p])


def _typed(lower, dtype: str):
    """`lower(g, op, dtype)` as the lowering of one type."""

    def lower_typed(g: Graph, op: Op) -> KernelCall:
        return lower(g, op, dtype)

    lower_typed.__name__ = f"{lower.__name__}_{dtype}"
    return lower_typed


# --------------------------------------------------------------------------- registration

COPY_OPS = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")  # lowered to a copy where passes.alias cannot make a view

for _kind in ("PAD", "PADV2"):
    register(_kind, check=check_pad, lower=lower_pad)
    register(_kind, check=check_by_lowering(lower_pad_f32), lower=lower_pad_f32, dtype="float32")
register("CONCATENATION", check=check_concat, lower=lower_concat)
register("CONCATENATION", check=check_by_lowering(lower_concat_f32), lower=lower_concat_f32, dtype="float32")
register("TRANSPOSE", check=check_transpose, lower=lower_transpose)
register("TRANSPOSE", check=check_by_lowering(lower_transpose_f32), lower=lower_transpose_f32, dtype="float32")
for _kind in COPY_OPS:
    register(_kind, check=check_copy, lower=lower_copy)
    register(_kind, check=check_copy_s16, lower=lower_copy_s16, dtype="int16")
    register(_kind, check=check_by_lowering(lower_copy_f32), lower=lower_copy_f32, dtype="float32")

# int16 forms of the ops above.
for _kind in ("PAD", "PADV2"):
    register(_kind, check=check_by_lowering(lower_pad_s16), lower=lower_pad_s16, dtype="int16")
register("CONCATENATION", check=check_by_lowering(lower_concat_s16), lower=lower_concat_s16, dtype="int16")
register("TRANSPOSE", check=check_by_lowering(lower_transpose_s16), lower=lower_transpose_s16, dtype="int16")

# Slicing, splitting and stacking: one lowering for every type.
SLICING = {
    "STRIDED_SLICE": lower_strided_slice,
    "SLICE": lower_slice,
    "SPLIT": lower_split,
    "SPLIT_V": lower_split_v,
    "UNPACK": lower_unpack,
    "PACK": lower_pack,
}
for _kind, _lower in SLICING.items():
    for _dtype in ELEM_BYTES:
        _low = _typed(_lower, _dtype)
        register(_kind, check=check_by_lowering(_low), lower=_low, dtype=_dtype)
