"""Data movement: PAD / PADV2, CONCATENATION, TRANSPOSE, and RESHAPE / EXPAND_DIMS / SQUEEZE copies.

These ops never change a value, so bit-exactness is about moving the right bytes and about
refusing what TFLite's Prepare refuses (int8 CONCATENATION with rescaling, fused activations).
Shapes are simplified here, not in C: size-1 axes are dropped and axes that move together are
merged, then everything is padded on the left to TQ_SHAPE_MAX_DIMS axes (tq_shape.h).

Every op here on int8 and float32 (the float transpose and copy move bytes with the int8 loops);
on int16x8, RESHAPE / EXPAND_DIMS / SQUEEZE: views (passes.alias), or a copy where the graph needs
two buffers.
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
)


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


def _pad_value(g: Graph, op: Op) -> int:
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    has_const = op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0
    if has_const:
        c = g.tensor(op.inputs[2])
        need(c.dtype == "int8", op, f"the constant value is {c.dtype}, expected int8 like the input")
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
    return _qparams(dst)[1]


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
