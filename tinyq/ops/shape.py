"""Data movement: PAD / PADV2, CONCATENATION, TRANSPOSE, RESHAPE / EXPAND_DIMS / SQUEEZE copies,
STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PACK and UNPACK, REVERSE_V2; TILE, BROADCAST_TO, DEPTH_TO_SPACE,
SPACE_TO_DEPTH, MIRROR_PAD, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND and GATHER.

These ops never change a value, so bit-exactness is about moving the right bytes and about
refusing what TFLite's Prepare refuses (CONCATENATION, PACK and UNPACK with rescaling, fused
activations, splits that do not add up; MIRROR_PAD, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND between
differently quantized tensors). Where TFLite's reference kernel copies raw values between
differently quantized tensors (STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, PAD, TRANSPOSE, TILE,
BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH, GATHER, and int16 CONCATENATION, which only requires
zero point 0) tinyq copies them the same way. Shapes are simplified here, not in C: size-1 axes are
dropped and axes that move together are merged, then everything is padded on the left to
TQ_SHAPE_MAX_DIMS axes (tq_shape.h).

Kernels by type:
- int8: tq_concat_s8 (CONCATENATION, PACK), tq_transpose_s8, tq_copy_s8;
- float32: their _f32 twins (the float transpose and copy move bytes with the int8 loops);
- int16 (int16x8 models): tq_concat_s16 (CONCATENATION, PACK), tq_copy_s16; RESHAPE /
  EXPAND_DIMS / SQUEEZE are views (passes.alias), or a copy where the graph needs two buffers;
- every type: tq_strided_copy (STRIDED_SLICE, SLICE, REVERSE_V2, the int16 TRANSPOSE, and the index maps below
  where they are strided), tq_split (SPLIT, SPLIT_V, UNPACK), tq_pad (PAD / PADV2),
  tq_index_copy (the index maps a strided copy cannot express: MIRROR_PAD, crops across
  BATCH_TO_SPACE_ND's blocks, SPACE_TO_BATCH_ND's padding) and tq_gather (GATHER, whose indices
  may be computed at run time), which move `elem_size`-byte elements.
"""

from __future__ import annotations

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import DTYPE_C, Graph, Op, Tensor
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
    refuse,
    register,
    where,
)

MAX_DIMS = 6  # TQ_SHAPE_MAX_DIMS in tq_shape.h
HEADER = "tq_shape.h"
FLOAT_BYTES = 4  # a float32 moved as bytes

KERNELS = kernel_table(
    # int8
    Kernel("tq_copy_s8", "tq_copy_s8_params", HEADER, ("shape/tq_copy_s8.c",)),
    Kernel("tq_concat_s8", "tq_concat_s8_params", HEADER, ("shape/tq_concat_s8.c",)),
    Kernel("tq_transpose_s8", "tq_transpose_s8_params", HEADER, ("shape/tq_transpose_s8.c",)),
    # int16x8
    Kernel("tq_copy_s16", "tq_copy_s16_params", INT16_HEADER, ("shape/tq_copy_s16.c", *INT16_DEPS)),
    # float32 (transpose and copy move bytes with the int8 loops)
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
    Kernel("tq_index_copy", "tq_index_copy_params", HEADER, ("shape/tq_index_copy.c",)),
    Kernel("tq_gather", "tq_gather_params", HEADER, ("shape/tq_gather.c",)),
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
    return _pad_call(op, in_dims, out_dims, before, np.array([_pad_value(g, op)], dtype=np.int8))


def _pad_call(op: Op, in_dims, out_dims, before, value: np.ndarray) -> KernelCall:
    """tq_pad (every type): shapes in elements, `value` the one fill element, in the tensor's type."""
    return KERNELS["tq_pad"].call(
        params={"elem_size": value.dtype.itemsize, "in_dims": _left_pad(list(in_dims), 1),
                "out_dims": _left_pad(list(out_dims), 1), "before": _left_pad(list(before), 0),
                "pad_value": ArrayRef("value")},
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        arrays=[ConstArray("value", DTYPE_C[str(value.dtype)], value)],
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
    return _pad_call(op, [d for d, _, _ in dims], [d + b + a for d, b, a in dims], [b for _, b, _ in dims],
                     np.array([value], dtype=np.float32))


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


def merge_strided(axes) -> list[tuple[int, int]]:
    """(count, stride) axes outermost first with count-1 axes dropped and axes that continue each other merged."""
    dims: list[tuple[int, int]] = []
    for n, s in axes:
        if n == 1:
            continue
        if dims and dims[-1][1] == n * s:
            dims[-1] = (dims[-1][0] * n, s)
        else:
            dims.append((n, s))
    return dims


def strided_copy_dims(start: int, axes, in_size: int, op: Op) -> tuple[list[int], list[int]]:
    """A gather of prod(counts) elements, walking (count, input stride) axes outermost first from input
    element `start`, as at most MAX_DIMS axes: count-1 axes dropped, axes that continue each other merged.
    Checks that every element read lies in the input. Returns (out_dims, in_stride)."""
    lo = hi = start
    for n, s in axes:
        lo += min(0, (n - 1) * s)
        hi += max(0, (n - 1) * s)
    dims = merge_strided(axes)
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
    return _pad_call(op, [d for d, _, _ in dims], [d + b + a for d, b, a in dims], [b for _, b, _ in dims],
                     np.array([value], dtype=np.int16))


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


# ----------------------------------------------------------------- index maps
#
# TILE, BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH, MIRROR_PAD, SPACE_TO_BATCH_ND and
# BATCH_TO_SPACE_ND never change a value: each output element is one input element (or, for the
# padding of SPACE_TO_BATCH_ND, the pad value). Each is described here as a table per output axis:
# the input offset (in elements) that output index i of that axis contributes, the offset of an
# output element being the sum over its axes. Where every table is a mixed-radix strided walk
# (DEPTH_TO_SPACE's row table is (h // b) * row + (h % b) * sub-row, TILE's is (i % d) * stride,
# BROADCAST_TO's 0 or i * stride) the op is a strided copy, split into those sub-axes; where one is
# not (MIRROR_PAD's reflections, crops that cut across BATCH_TO_SPACE_ND's blocks) or the split
# needs more than MAX_DIMS axes, tq_index_copy walks the tables themselves. SPACE_TO_BATCH_ND with
# paddings is the one scatter: its padding depends on the batch and the spatial index together, so
# tq_index_copy fills the output with the pad value and writes each input element where it goes.


def factor_table(table) -> list[tuple[int, int]] | None:
    """`table` (offsets of one axis, relative to table[0]) as mixed-radix strided sub-axes: (count, stride)
    outermost first with table[i] - table[0] = sum of sub-index * stride, i walking the sub-axes
    row-major; None if it is no such walk."""
    t = np.asarray(table, dtype=np.int64)
    t = t - t[0]
    d = len(t)
    if d == 1:
        return [(1, 0)]
    if np.array_equal(t, t[1] * np.arange(d, dtype=np.int64)):
        return [(d, int(t[1]))]
    for inner in range(2, d):
        if d % inner:
            continue
        blocks = t.reshape(d // inner, inner)
        step = blocks[1, 0]
        if np.array_equal(blocks, blocks[0] + step * np.arange(d // inner, dtype=np.int64)[:, None]):
            rest = factor_table(blocks[0])
            if rest is not None:
                return [(d // inner, int(step))] + rest
    return None


def strided_axes(tables) -> tuple[int, list[tuple[int, int]]] | None:
    """A gather whose output axis k takes input offsets tables[k], as (start, strided axes) for
    tq_strided_copy; None where some table is no strided walk or the walk needs more than MAX_DIMS axes."""
    start, axes = 0, []
    for t in tables:
        f = factor_table(t)
        if f is None:
            return None
        start += int(t[0])
        axes += f
    return (start, axes) if len(merge_strided(axes)) <= MAX_DIMS else None


def _row_major_tables(shape) -> list[np.ndarray]:
    return [np.arange(d, dtype=np.int64) * s for d, s in zip(shape, _row_major_strides(shape))]


def index_copy_axes(axes, in_size: int, out_size: int, scatter: bool, op: Op) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
    """tq_index_copy's walk of (input table, output table) axes: extent-1 axes dropped (their offsets
    moved into the first axis left), the innermost axes contiguous on both sides folded into the copied
    run, at most MAX_DIMS axes left. Checks that every element read and written lies in its tensor, that
    no output element is written twice, and (a gather) that every one is written. Returns (run, axes)."""
    base_in = base_out = 0
    kept = []
    for ti, to in axes:
        ti, to = np.asarray(ti, dtype=np.int64), np.asarray(to, dtype=np.int64)
        if len(ti) == 1:
            base_in, base_out = base_in + int(ti[0]), base_out + int(to[0])
        else:
            kept.append((ti, to))
    run = 1
    while kept:
        ti, to = kept[-1]
        step = run * np.arange(len(ti), dtype=np.int64)
        if not (np.array_equal(ti - ti[0], step) and np.array_equal(to - to[0], step)):
            break
        base_in, base_out, run = base_in + int(ti[0]), base_out + int(to[0]), run * len(ti)
        kept.pop()
    if not kept:
        kept = [(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))]
    need(len(kept) <= MAX_DIMS, op, f"the copy walks {len(kept)} axes that do not merge, more than the {MAX_DIMS} tinyq's "
         "kernels take; fewer axes in the model (a RESHAPE around the op) would do")
    kept[0] = (kept[0][0] + base_in, kept[0][1] + base_out)
    need(max(in_size, out_size) < 2**31, op, "a tensor has more than 2^31 - 1 elements")
    # Every element each copy reads / writes, as sums over the axes (at most the output's size of them).
    reads = writes = np.zeros(1, dtype=np.int64)
    for ti, to in kept:
        reads = (reads[:, None] + ti[None, :]).reshape(-1)
        writes = (writes[:, None] + to[None, :]).reshape(-1)
    need(reads.min() >= 0 and reads.max() + run <= in_size, op, f"the copy reads outside the input's {in_size} elements (internal error)")
    need(writes.min() >= 0 and writes.max() + run <= out_size, op, f"the copy writes outside the output's {out_size} elements (internal error)")
    need(len(np.unique(writes)) == len(writes) and (scatter or len(writes) * run == out_size), op,
         "the copy does not write each output element once (internal error)")
    return run, kept


def _index_copy(g: Graph, op: Op, dtype: str, axes, fill=None) -> KernelCall:
    """tq_index_copy of op's input 0 to its output 0 along `axes` ((input table, output table) each);
    `fill`: the pad value the whole output gets first (a scatter), or None (a gather)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    run, kept = index_copy_axes(axes, int(x.size), int(y.size), fill is not None, op)
    kept = [(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))] * (MAX_DIMS - len(kept)) + kept
    arrays = [ConstArray("in_off", "int32_t", np.concatenate([ti for ti, _ in kept]).astype(np.int32)),
              ConstArray("out_off", "int32_t", np.concatenate([to for _, to in kept]).astype(np.int32))]
    params = {"elem_size": ELEM_BYTES[dtype], "run": run, "dims": tuple(len(ti) for ti, _ in kept),
              "in_off": ArrayRef("in_off"), "out_off": ArrayRef("out_off"), "fill_count": 0, "fill": 0}
    if fill is not None:
        arrays.append(ConstArray("fill", DTYPE_C[dtype], np.array([fill], dtype=dtype)))
        params.update(fill_count=int(y.size), fill=ArrayRef("fill"))
    return KERNELS["tq_index_copy"].call(params=params, inputs=[op.inputs[0]], outputs=[op.outputs[0]], arrays=arrays)


def _index_map(g: Graph, op: Op, dtype: str, tables) -> KernelCall:
    """A gather whose output axis k takes input offsets tables[k]: a strided copy where that is exact
    and fits, else tq_index_copy."""
    y = g.tensor(op.outputs[0])
    need(tuple(len(t) for t in tables) == tuple(y.shape), op, f"output '{y.name}' has shape {list(y.shape)}, but the op "
         f"gives {[len(t) for t in tables]} (internal error)")
    walk = strided_axes(tables)
    if walk is not None:
        return _strided_copy(g, op, dtype, *walk)
    return _index_copy(g, op, dtype, list(zip(tables, _row_major_tables(y.shape))))


def _const_vector(g: Graph, op: Op, pos: int, what: str, dtypes=("int32", "int64")) -> tuple[np.ndarray, str]:
    """A constant index input of any shape, as int64 values, with its tensor's name."""
    v = const_input(g, op, pos, what)
    name = g.tensor(op.inputs[pos]).name
    need(str(v.dtype) in dtypes, op, f"{what} (tensor '{name}') is {v.dtype}, expected {' or '.join(dtypes)} (TFLite reads it so)")
    return v.astype(np.int64), name


def _check_out_shape(op: Op, y: Tensor, want) -> None:
    want = tuple(int(d) for d in want)
    need(tuple(y.shape) == want, op, f"output '{y.name}' has shape {list(y.shape)}, but TFLite's Prepare gives {list(want)}")


def _requant_free(op: Op, x: Tensor, y: Tensor, dtype: str) -> None:
    """MIRROR_PAD, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: TFLite's Prepare requires an int8 / int16 output
    quantized exactly like the input, and int16 zero points of 0."""
    if dtype == "float32":
        return
    _same_quant(op, y, x, f"TFLite's {op.kind} requires the input's scale and zero point on the output")
    if dtype == "int16":
        for t in (x, y):
            need(_qparams(t)[1] == 0, op, f"int16 tensor '{t.name}' has zero point {_qparams(t)[1]}; TFLite's {op.kind} requires 0; "
                 "re-convert with `tinyq convert --mode int16x8`")


# TILE


def tile_tables(shape, multiples) -> list[np.ndarray]:
    """Output axis k of TILE walks the input axis k over and over: offset (i % d_k) * stride_k."""
    return [(np.arange(d * m, dtype=np.int64) % d) * s for d, m, s in zip(shape, multiples, _row_major_strides(shape))]


def lower_tile(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs (input, multiples) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    mult, name = _const_vector(g, op, 1, "multiples")
    m = [int(v) for v in mult.reshape(-1)]
    rank = len(x.shape)
    need(len(m) == rank, op, f"multiples (tensor '{name}') has {len(m)} entries for an input of rank {rank}; TFLite requires as many")
    need(all(v >= 0 for v in m), op, f"multiples {m} holds a negative entry (TFLite rejects it)")
    need(all(v >= 1 for v in m), op, f"multiples {m} holds a 0, which gives an empty output; tinyq compiles no empty tensors")
    need(all(d * v < 2**31 for d, v in zip(x.shape, m)), op, f"multiples {m} make an axis longer than 2^31 - 1 (TFLite rejects it)")
    _check_out_shape(op, y, [d * v for d, v in zip(x.shape, m)])
    return _index_map(g, op, dtype, tile_tables(x.shape, m))


# BROADCAST_TO


def broadcast_tables(in_shape, out_shape) -> list[np.ndarray]:
    """The input aligned to the output's last axes: output axis k walks its input axis, or stays on
    element 0 of it where the input has extent 1 (or no such axis)."""
    lead = len(out_shape) - len(in_shape)
    strides = _row_major_strides(in_shape)
    tables = []
    for k, n in enumerate(out_shape):
        j = k - lead
        step = strides[j] if j >= 0 and in_shape[j] != 1 else 0
        tables.append(np.arange(n, dtype=np.int64) * step)
    return tables


def lower_broadcast_to(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs (input, shape) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    shape, name = _const_vector(g, op, 1, "shape")
    need(shape.ndim == 1, op, f"shape (tensor '{name}') has {shape.ndim} dimensions; TFLite requires a vector")
    want = [int(v) for v in shape]
    lead = len(want) - len(x.shape)
    need(lead >= 0, op, f"input '{x.name}' {list(x.shape)} has more axes than shape {want}; TFLite cannot broadcast it")
    for k, d in enumerate(x.shape):
        need(d == 1 or d == want[lead + k], op, f"input '{x.name}' {list(x.shape)} does not broadcast to {want} "
             f"(axis {k}: {d} is neither 1 nor {want[lead + k]}); TFLite rejects it")
    _check_out_shape(op, y, want)
    return _index_map(g, op, dtype, broadcast_tables(x.shape, want))


# DEPTH_TO_SPACE, SPACE_TO_DEPTH


def _block_size(op: Op) -> int:
    bs = int(getattr(op.options, "blockSize", 0) or 0) if op.options is not None else 0
    need(bs > 0, op, f"block_size is {bs}; TFLite requires a positive block size")
    return bs


def depth_to_space_tables(shape, bs: int) -> list[np.ndarray]:
    """Output [n, h, w, c] of an NHWC input [N, H, W, C] is input [n, h // bs, w // bs, ((h % bs) * bs + w % bs) * C / bs^2 + c]."""
    n, h, w, c = (int(d) for d in shape)
    oc = c // (bs * bs)
    oh, ow = np.arange(h * bs, dtype=np.int64), np.arange(w * bs, dtype=np.int64)
    return [np.arange(n, dtype=np.int64) * h * w * c, (oh // bs) * w * c + (oh % bs) * bs * oc,
            (ow // bs) * c + (ow % bs) * oc, np.arange(oc, dtype=np.int64)]


def space_to_depth_tables(shape, bs: int) -> list[np.ndarray]:
    """Output [n, h, w, (i * bs + j) * C + c] of an NHWC input [N, H, W, C] is input [n, h * bs + i, w * bs + j, c]."""
    n, h, w, c = (int(d) for d in shape)
    k = np.arange(c * bs * bs, dtype=np.int64)
    return [np.arange(n, dtype=np.int64) * h * w * c, np.arange(h // bs, dtype=np.int64) * bs * w * c,
            np.arange(w // bs, dtype=np.int64) * bs * c, (k // (bs * c)) * w * c + (k // c % bs) * c + k % c]


def lower_depth_to_space(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expected one input and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    need(len(x.shape) == 4, op, f"input '{x.name}' has rank {len(x.shape)}; TFLite's DEPTH_TO_SPACE takes rank 4 (NHWC)")
    bs = _block_size(op)
    n, h, w, c = x.shape
    need(c % (bs * bs) == 0, op, f"input '{x.name}' has {c} channels, not a multiple of block_size^2 = {bs * bs} (TFLite rejects it)")
    _check_out_shape(op, y, (n, h * bs, w * bs, c // (bs * bs)))
    return _index_map(g, op, dtype, depth_to_space_tables(x.shape, bs))


def lower_space_to_depth(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expected one input and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    need(len(x.shape) == 4, op, f"input '{x.name}' has rank {len(x.shape)}; TFLite's SPACE_TO_DEPTH takes rank 4 (NHWC)")
    bs = _block_size(op)
    n, h, w, c = x.shape
    need(h % bs == 0 and w % bs == 0, op, f"input '{x.name}' is {h} x {w}, not a multiple of block_size {bs} on both axes "
         "(TFLite rejects it)")
    _check_out_shape(op, y, (n, h // bs, w // bs, c * bs * bs))
    return _index_map(g, op, dtype, space_to_depth_tables(x.shape, bs))


# MIRROR_PAD

MIRROR_MODES = {0: "REFLECT", 1: "SYMMETRIC"}  # MirrorPadMode in the schema


def mirror_index(i: int, left: int, size: int, offset: int) -> int:
    """The input index of padded index i on an axis of `size` with `left` padding before it: REFLECT
    (offset 1) mirrors about the edge element, SYMMETRIC (offset 0) about the edge itself."""
    if i < left:
        return left - i - (1 - offset)
    i -= left
    if i >= size:
        return size - 1 - offset - (i - size)
    return i


def mirror_pad_tables(shape, pads, offset: int) -> list[np.ndarray]:
    return [np.array([mirror_index(i, int(a), int(d), offset) for i in range(int(d + a + b))], dtype=np.int64) * s
            for d, (a, b), s in zip(shape, pads, _row_major_strides(shape))]


def lower_mirror_pad(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs (input, paddings) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    mode = int(getattr(op.options, "mode", 0) or 0) if op.options is not None else 0
    need(mode in MIRROR_MODES, op, f"mode {mode} is neither REFLECT (0) nor SYMMETRIC (1); TFLite rejects it")
    offset = 1 if mode == 0 else 0
    pads, name = _const_vector(g, op, 1, "paddings")
    rank = len(x.shape)
    need(pads.shape == (rank, 2), op, f"paddings (tensor '{name}') have shape {list(pads.shape)}, expected [{rank}, 2]")
    for k, (d, (a, b)) in enumerate(zip(x.shape, pads.tolist())):
        need(a >= 0 and b >= 0, op, f"paddings {pads.tolist()} hold a negative entry on axis {k} (TFLite rejects it)")
        need(max(a, b) <= d - offset, op, f"padding {max(a, b)} on axis {k} of extent {d} is more than {MIRROR_MODES[mode]} "
             f"allows ({d - offset}: the extent{' less 1' if offset else ''}); TFLite rejects it")
    _requant_free(op, x, y, dtype)
    _check_out_shape(op, y, [d + a + b for d, (a, b) in zip(x.shape, pads.tolist())])
    return _index_map(g, op, dtype, mirror_pad_tables(x.shape, pads.tolist(), offset))


# SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND


def _batch_space_args(g: Graph, op: Op, dtype: str, what: str) -> tuple[Tensor, Tensor, list[int], list[list[int]]]:
    """The input, output, block_shape and paddings / crops of SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND, checked as
    TFLite's Prepare does (rank 3 or 4; block_shape and `what` read as int32, one entry / row per spatial axis)."""
    need(len(op.inputs) == 3 and len(op.outputs) == 1, op, f"expected 3 inputs (input, block_shape, {what}) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    rank = len(x.shape)
    need(rank in (3, 4), op, f"input '{x.name}' has rank {rank}; TFLite's {op.kind} takes rank 3 or 4")
    spatial = rank - 2
    block = _const_ints(g, op, 1, "block_shape")
    need(len(block) == spatial, op, f"block_shape {block} has {len(block)} entries for {spatial} spatial axes")
    need(all(b >= 1 for b in block), op, f"block_shape {block} holds an entry below 1; TFLite rejects 0 and negative blocks "
         "give negative extents")
    pads, name = _const_vector(g, op, 2, what, ("int32",))
    need(pads.shape == (spatial, 2), op, f"{what} (tensor '{name}') have shape {list(pads.shape)}, expected [{spatial}, 2]")
    if what == "crops":
        need(bool(np.all(pads >= 0)), op, f"crops {pads.tolist()} hold a negative entry (TFLite rejects it)")
    else:
        need(bool(np.all(pads >= 0)), op, f"paddings {pads.tolist()} hold a negative entry: TensorFlow requires paddings >= 0; "
             "TFLite's kernel does not check them and crops the input instead, which tinyq does not compile")
    _requant_free(op, x, y, dtype)
    return x, y, block, pads.tolist()


def _nhwc(shape, block, pads):
    """A rank-3 (N, H, C) shape, block and paddings as rank 4 (N, H, 1, C), as TFLite's kernels read them."""
    if len(shape) == 4:
        return tuple(int(d) for d in shape), list(block), [list(p) for p in pads]
    n, h, c = (int(d) for d in shape)
    return (n, h, 1, c), [block[0], 1], [list(pads[0]), [0, 0]]


def batch_to_space_tables(shape, block, crops) -> list[np.ndarray]:
    """Output [n, h, w, c] of input [N, H, W, C] (4-D): with h + crop_top = ih * bh + sh and w + crop_left =
    iw * bw + sw, input [(sh * bw + sw) * N_out + n, ih, iw, c]."""
    n, h, w, c = shape
    (bh, bw), ((ct, cb), (cl, cr)) = block, crops
    on = n // (bh * bw)
    q, r = np.arange(h * bh - ct - cb, dtype=np.int64) + ct, np.arange(w * bw - cl - cr, dtype=np.int64) + cl
    batch = h * w * c
    return [np.arange(on, dtype=np.int64) * batch, (q // bh) * w * c + (q % bh) * bw * on * batch,
            (r // bw) * c + (r % bw) * on * batch, np.arange(c, dtype=np.int64)]


def space_to_batch_tables(shape, block) -> list[np.ndarray]:
    """SPACE_TO_BATCH_ND without paddings as a gather: output [(sh * bw + sw) * N + n, oh, ow, c] of input
    [N, H, W, C] (4-D) is input [n, oh * bh + sh, ow * bw + sw, c]."""
    n, h, w, c = shape
    bh, bw = block
    b = np.arange(bh * bw * n, dtype=np.int64)
    return [(b % n) * h * w * c + (b // n // bw) * w * c + (b // n % bw) * c, np.arange(h // bh, dtype=np.int64) * bh * w * c,
            np.arange(w // bw, dtype=np.int64) * bw * c, np.arange(c, dtype=np.int64)]


def space_to_batch_scatter(shape, block, pads) -> list[tuple[np.ndarray, np.ndarray]]:
    """SPACE_TO_BATCH_ND with paddings as a scatter: (input table, output table) per input axis (4-D).
    Input [n, h, w, c] goes to output [(sh * bw + sw) * N + n, oh, ow, c] where h + pad_top = oh * bh + sh
    and w + pad_left = ow * bw + sw; every other output element is padding."""
    n, h, w, c = shape
    (bh, bw), ((pt, pb), (pl, pr)) = block, pads
    oh, ow = (h + pt + pb) // bh, (w + pl + pr) // bw
    batch = oh * ow * c
    q, r = np.arange(h, dtype=np.int64) + pt, np.arange(w, dtype=np.int64) + pl
    out = [np.arange(n, dtype=np.int64) * batch, (q % bh) * bw * n * batch + (q // bh) * ow * c,
           (r % bw) * n * batch + (r // bw) * c, np.arange(c, dtype=np.int64)]
    return list(zip(_row_major_tables(shape), out))


def lower_space_to_batch(g: Graph, op: Op, dtype: str) -> KernelCall:
    x, y, block, pads = _batch_space_args(g, op, dtype, "paddings")
    for k, (d, b, (a, z)) in enumerate(zip(x.shape[1:-1], block, pads)):
        need((d + a + z) % b == 0, op, f"spatial axis {k + 1}: {d} + paddings {a} + {z} is not a multiple of block {b} "
             "(TFLite rejects it)")
    want = [x.shape[0] * _prod(block)] + [(d + a + z) // b for d, b, (a, z) in zip(x.shape[1:-1], block, pads)] + [x.shape[-1]]
    _check_out_shape(op, y, want)
    shape, block4, pads4 = _nhwc(x.shape, block, pads)
    if not any(v for p in pads4 for v in p):
        return _index_map_shaped(g, op, dtype, space_to_batch_tables(shape, block4))
    # Padded: TFLite memsets the padding with the output zero point (0 for float32 and int16).
    fill = 0.0 if dtype == "float32" else _qparams(y)[1]
    return _index_copy(g, op, dtype, space_to_batch_scatter(shape, block4, pads4), fill=fill)


def lower_batch_to_space(g: Graph, op: Op, dtype: str) -> KernelCall:
    x, y, block, crops = _batch_space_args(g, op, dtype, "crops")
    need(x.shape[0] % _prod(block) == 0, op, f"input batch {x.shape[0]} is not a multiple of the block's {_prod(block)} "
         "elements (TFLite rejects it)")
    want = [x.shape[0] // _prod(block)] + [d * b - a - z for d, b, (a, z) in zip(x.shape[1:-1], block, crops)] + [x.shape[-1]]
    need(all(d >= 1 for d in want), op, f"crops {crops} leave output shape {want}; tinyq compiles no empty tensors")
    _check_out_shape(op, y, want)
    shape, block4, crops4 = _nhwc(x.shape, block, crops)
    return _index_map_shaped(g, op, dtype, batch_to_space_tables(shape, block4, crops4))


def _index_map_shaped(g: Graph, op: Op, dtype: str, tables) -> KernelCall:
    """_index_map for tables of the rank-4 view of a rank-3 output (its extent-1 W axis dropped)."""
    y = g.tensor(op.outputs[0])
    if len(y.shape) == 3:
        tables = [tables[0], tables[1], tables[3]]
    return _index_map(g, op, dtype, tables)


# GATHER


def lower_gather(g: Graph, op: Op, dtype: str) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs (params, indices) and one output")
    if op.inputs[0] >= 0 and g.tensor(op.inputs[0]).is_const:
        # A constant table with run-time indices (an embedding): the op was dispatched on the indices' type.
        dtype = g.tensor(op.inputs[0]).dtype
    need(dtype in ELEM_BYTES, op, f"params are {dtype}; tinyq gathers {', '.join(ELEM_BYTES)}")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    need(op.inputs[1] >= 0, op, "the indices input is missing")
    pos = g.tensor(op.inputs[1])
    need(pos.dtype in ("int16", "int32", "int64"), op, f"indices '{pos.name}' are {pos.dtype}; TFLite's GATHER takes int16, int32 or int64")
    rank, prank = len(x.shape), len(pos.shape)
    o = op.options
    a = int(getattr(o, "axis", 0) or 0) if o is not None else 0
    axis = a + rank if a < 0 else a
    need(0 <= axis < rank, op, f"axis {a} is out of range for params '{x.name}' of rank {rank}")
    bd = int(getattr(o, "batchDims", 0) or 0) if o is not None else 0
    batch_dims = bd + prank if bd < 0 else bd
    need(0 <= batch_dims <= axis and batch_dims < rank and batch_dims <= prank, op,
         f"batch_dims {bd} (axis {axis}, params rank {rank}, indices rank {prank}): TFLite requires 0 <= batch_dims <= axis, "
         "batch_dims < the params' rank and <= the indices' rank")
    need(tuple(x.shape[:batch_dims]) == tuple(pos.shape[:batch_dims]), op,
         f"params {list(x.shape)} and indices {list(pos.shape)} differ on the first {batch_dims} (batch) axes; TFLite rejects it")
    _check_out_shape(op, y, tuple(x.shape[:axis]) + tuple(pos.shape[batch_dims:]) + tuple(x.shape[axis + 1 :]))
    axis_size = int(x.shape[axis])
    params = {"elem_size": ELEM_BYTES[dtype], "batch": _prod(x.shape[:batch_dims]), "outer": _prod(x.shape[batch_dims:axis]),
              "axis_size": axis_size, "coords": _prod(pos.shape[batch_dims:]), "inner": _prod(x.shape[axis + 1 :])}
    need(int(x.size) < 2**31 and int(y.size) < 2**31, op, "a tensor has more than 2^31 - 1 elements")
    if pos.is_const:
        idx = np.asarray(pos.data).astype(np.int64).reshape(-1)
        bad = np.nonzero((idx < 0) | (idx >= axis_size))[0]
        if len(bad):
            need(False, op, f"index {int(idx[bad[0]])} (entry {int(bad[0])} of '{pos.name}') is outside [0, {axis_size}) of "
                 f"axis {axis}; TFLite's GATHER fails on it")
        params["indices"] = ArrayRef("indices")
        return KERNELS["tq_gather"].call(params=params, inputs=[op.inputs[0], -1], outputs=[op.outputs[0]],
                                         arrays=[ConstArray("indices", "int32_t", idx.astype(np.int32))])
    need(pos.dtype == "int32", op, f"indices '{pos.name}' are {pos.dtype} computed at run time; tinyq reads run-time indices "
         "as int32 only: make them int32 in the model")
    params["indices"] = 0
    return KERNELS["tq_gather"].call(params=params, inputs=[op.inputs[0], op.inputs[1]], outputs=[op.outputs[0]])


# ----------------------------------------------------------------- REVERSE_V2


def lower_reverse(g: Graph, op: Op, dtype: str) -> KernelCall:
    """TFLite's REVERSE_V2 (reverse.cc): the values flipped along the constant int32 axes, which must be distinct
    and contiguous once negative ones are counted from the end (its Eval refuses others, and reads axes[0] of an
    empty list); values are copied raw, whatever the two tensors' quantization (Keras' Bidirectional flips the
    backward layer's sequence with it)."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs (input, axes) and one output")
    x, y = _moved(g, op, dtype, [op.inputs[0], op.outputs[0]])
    axes = _const_ints(g, op, 1, "axes")
    rank = len(x.shape)
    need(len(axes) >= 1, op, "the axes input is empty (TFLite's REVERSE_V2 reads its first entry)")
    flipped = sorted(a + rank if a < 0 else a for a in axes)
    need(all(0 <= a < rank for a in flipped), op, f"axes {axes} are out of range for an input of rank {rank}")
    need(all(b == a + 1 for a, b in zip(flipped, flipped[1:])), op,
         f"axes {axes} are not distinct contiguous axes (TFLite's REVERSE_V2 refuses them)")
    need(tuple(y.shape) == tuple(x.shape), op, f"output '{y.name}' has shape {list(y.shape)}, expected the input's {list(x.shape)}")
    strides = _row_major_strides(x.shape)
    start = sum((x.shape[a] - 1) * strides[a] for a in flipped)
    walk = [(n, -st if k in flipped else st) for k, (n, st) in enumerate(zip(x.shape, strides))]
    return _strided_copy(g, op, dtype, start, walk)


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
    "REVERSE_V2": lower_reverse,
}
for _kind, _lower in SLICING.items():
    for _dtype in ELEM_BYTES:
        _low = _typed(_lower, _dtype)
        register(_kind, check=check_by_lowering(_low), lower=_low, dtype=_dtype)

# Index maps and GATHER: one lowering for every type, except where TFLite has no kernel.
LAYOUT = {
    "TILE": lower_tile,
    "BROADCAST_TO": lower_broadcast_to,
    "DEPTH_TO_SPACE": lower_depth_to_space,
    "SPACE_TO_DEPTH": lower_space_to_depth,
    "MIRROR_PAD": lower_mirror_pad,
    "SPACE_TO_BATCH_ND": lower_space_to_batch,
    "BATCH_TO_SPACE_ND": lower_batch_to_space,
    "GATHER": lower_gather,
}
NO_INT16 = ("its Prepare takes float32, uint8, int8, int32 and int64 only, so the reference interpreter cannot run an "
            "int16 one (TensorFlow's converter does not make one either); keep this layer int8 or float32")
LAYOUT_REFUSED = {
    ("DEPTH_TO_SPACE", "int16"): f"TFLite's DEPTH_TO_SPACE has no int16 kernel: {NO_INT16}",
    ("SPACE_TO_DEPTH", "int16"): f"TFLite's SPACE_TO_DEPTH has no int16 kernel: {NO_INT16}",
}
for _kind, _lower in LAYOUT.items():
    for _dtype in ELEM_BYTES:
        if (_kind, _dtype) in LAYOUT_REFUSED:
            refuse(_kind, LAYOUT_REFUSED[_kind, _dtype], _dtype)
            continue
        _low = _typed(_lower, _dtype)
        register(_kind, check=check_by_lowering(_low), lower=_low, dtype=_dtype)
