"""Constant folding: evaluate the shape arithmetic converters leave in a graph, with numpy.

A model exported with a dynamic batch computes its reshape targets at run time:
SHAPE(x) -> STRIDED_SLICE -> PACK -> RESHAPE's shape input. tinyq compiles for the static
shape in the file (batch 1), so every such op has constant inputs (SHAPE only needs its
input's static shape) and is evaluated here: its outputs become constant tensors and the op
leaves the schedule. Ops are visited in execution order, so chains fold in one pass.

Only ops whose TFLite result is fully determined by their constant inputs are folded:
integer arithmetic on unquantized int32/int64 tensors, and data movement (which copies raw
values) when it does not mix quantizations. Anything else - a float op, a quantized op that
rescales, an out-of-range index TFLite would reject - is left in place for the lowering
checks to accept or reject. Ops that produce a graph output are never folded (the output
needs a kernel to be written).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinyq.ir import NUMPY_DTYPES, Graph, Op, Tensor

# TensorType enum values of the schema (ShapeOptions.outType, CastOptions).
_TYPE_CODES = {2: "int32", 4: "int64", 0: "float32", 9: "int8", 7: "int16", 3: "uint8", 6: "bool"}
INT_TYPES = ("int32", "int64")


class _Skip(Exception):
    """The op cannot be folded safely; it stays in the graph."""


def _req(cond: bool) -> None:
    if not cond:
        raise _Skip


def _opt(op: Op, name: str, default):
    v = getattr(op.options, name, default) if op.options is not None else default
    return default if v is None else v


def _ins(g: Graph, op: Op) -> list[Tensor]:
    return [g.tensor(i) for i in op.inputs if i >= 0]


def _arr(t: Tensor) -> np.ndarray:
    return np.asarray(t.data)


def _same_quant(ts: list[Tensor]) -> bool:
    q = [None if t.quant is None else (t.quant.scale, t.quant.zero_point) for t in ts]
    return all(x == q[0] for x in q)


def _int_only(g: Graph, op: Op) -> None:
    """Arithmetic folds only on unquantized int32/int64 tensors (wrap-around like C++)."""
    for t in _ins(g, op) + [g.tensor(o) for o in op.outputs]:
        _req(t.dtype in INT_TYPES and t.quant is None)


def _no_fused(op: Op) -> None:
    _req(int(_opt(op, "fusedActivationFunction", 0)) == 0)


def _axis(axis: int, rank: int) -> int:
    a = int(axis) + (rank if int(axis) < 0 else 0)
    _req(0 <= a < max(rank, 1))
    return a


def _index(i: int, n: int) -> int:
    """A TFLite index into an axis of extent n (negative counts from the end)."""
    j = int(i) + (n if int(i) < 0 else 0)
    _req(0 <= j < n)
    return j


# --------------------------------------------------------------------------- folders


def _shape(g: Graph, op: Op) -> list[np.ndarray]:
    src = g.tensor(op.inputs[0])
    out_t = _TYPE_CODES.get(int(_opt(op, "outType", 2)), "int32")
    _req(out_t in INT_TYPES)
    return [np.array(src.shape, dtype=out_t)]


def _strided_slice(g: Graph, op: Op) -> list[np.ndarray]:
    x, begin, end, strides = (_arr(t) for t in _ins(g, op)[:4])
    _req(int(_opt(op, "ellipsisMask", 0)) == 0 and int(_opt(op, "newAxisMask", 0)) == 0)
    bm, em, sm = int(_opt(op, "beginMask", 0)), int(_opt(op, "endMask", 0)), int(_opt(op, "shrinkAxisMask", 0))
    offset = bool(_opt(op, "offset", False))
    begin, end, strides = (np.asarray(v).reshape(-1).astype(np.int64) for v in (begin, end, strides))
    n = len(begin)
    _req(len(end) == n and len(strides) == n and n <= x.ndim)
    index = []
    for d in range(n):
        b, e, s = int(begin[d]), int(end[d]), int(strides[d])
        _req(s != 0)
        if offset:
            e = b + e
        if sm >> d & 1:
            index.append(_index(b, x.shape[d]))
            continue
        index.append(slice(None if bm >> d & 1 else b, None if em >> d & 1 else e, s))
    return [np.array(x[tuple(index)])]


def _slice(g: Graph, op: Op) -> list[np.ndarray]:
    x, begin, size = (_arr(t) for t in _ins(g, op)[:3])
    begin, size = begin.reshape(-1).astype(np.int64), size.reshape(-1).astype(np.int64)
    _req(len(begin) == x.ndim and len(size) == x.ndim)
    index = []
    for d in range(x.ndim):
        b, s = int(begin[d]), int(size[d])
        e = x.shape[d] if s == -1 else b + s
        _req(0 <= b <= e <= x.shape[d])
        index.append(slice(b, e))
    return [np.array(x[tuple(index)])]


def _pack(g: Graph, op: Op) -> list[np.ndarray]:
    xs = [_arr(t) for t in _ins(g, op)]
    _req(len({x.shape for x in xs}) == 1)
    return [np.stack(xs, axis=_axis(_opt(op, "axis", 0), xs[0].ndim + 1))]


def _unpack(g: Graph, op: Op) -> list[np.ndarray]:
    x = _arr(g.tensor(op.inputs[0]))
    a = _axis(_opt(op, "axis", 0), x.ndim)
    _req(x.shape[a] == len(op.outputs))
    return [np.take(x, k, axis=a) for k in range(x.shape[a])]


def _concat(g: Graph, op: Op) -> list[np.ndarray]:
    _no_fused(op)
    xs = [_arr(t) for t in _ins(g, op)]
    return [np.concatenate(xs, axis=_axis(_opt(op, "axis", 0), xs[0].ndim))]


def _gather(g: Graph, op: Op) -> list[np.ndarray]:
    params, idx = (_arr(t) for t in _ins(g, op)[:2])
    _req(int(_opt(op, "batchDims", 0)) == 0 and idx.dtype.kind == "i")
    a = _axis(_opt(op, "axis", 0), params.ndim)
    _req(bool(np.all((idx >= 0) & (idx < params.shape[a]))))
    return [np.take(params, idx, axis=a)]


def _reshape(g: Graph, op: Op) -> list[np.ndarray]:
    x = _arr(g.tensor(op.inputs[0]))
    return [x.reshape(_reshape_target(g, op, x.size))]


def _reshape_target(g: Graph, op: Op, size: int) -> tuple[int, ...]:
    """RESHAPE's new shape: the shape input if constant, else the options, else the output tensor."""
    shape = None
    if len(op.inputs) > 1 and op.inputs[1] >= 0 and g.tensor(op.inputs[1]).is_const:
        shape = [int(v) for v in _arr(g.tensor(op.inputs[1])).reshape(-1)]
    elif _opt(op, "newShape", None) is not None:
        shape = [int(v) for v in _opt(op, "newShape", None)]
    else:
        shape = list(g.tensor(op.outputs[0]).shape)
    _req(shape.count(-1) <= 1 and all(v >= -1 for v in shape))
    if -1 in shape:
        known = int(np.prod([v for v in shape if v != -1], dtype=np.int64))
        _req(known > 0 and size % known == 0)
        shape[shape.index(-1)] = size // known
    _req(int(np.prod(shape, dtype=np.int64)) == size)
    return tuple(shape)


def _expand_dims(g: Graph, op: Op) -> list[np.ndarray]:
    x, axis = (_arr(t) for t in _ins(g, op)[:2])
    _req(axis.size == 1)
    a = int(axis.reshape(-1)[0])
    a += x.ndim + 1 if a < 0 else 0
    _req(0 <= a <= x.ndim)
    return [np.expand_dims(x, a)]


def _squeeze(g: Graph, op: Op) -> list[np.ndarray]:
    x = _arr(g.tensor(op.inputs[0]))
    dims = list(_opt(op, "squeezeDims", None) or [])
    if not dims:
        return [x.reshape([d for d in x.shape if d != 1])]
    axes = {_axis(d, x.ndim) for d in dims}
    _req(all(x.shape[a] == 1 for a in axes))
    return [x.reshape([d for k, d in enumerate(x.shape) if k not in axes])]


def _transpose(g: Graph, op: Op) -> list[np.ndarray]:
    x, perm = (_arr(t) for t in _ins(g, op)[:2])
    p = [int(v) for v in perm.reshape(-1)]
    _req(sorted(p) == list(range(x.ndim)))
    return [np.transpose(x, p)]


def _fill(g: Graph, op: Op) -> list[np.ndarray]:
    dims, value = (_arr(t) for t in _ins(g, op)[:2])
    _req(value.size == 1 and bool(np.all(dims >= 0)))
    return [np.full([int(d) for d in dims.reshape(-1)], value.reshape(-1)[0], dtype=value.dtype)]


def _cast(g: Graph, op: Op) -> list[np.ndarray]:
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    ok = ("int32", "int64", "bool", "int8", "int16", "uint8")
    _req(src.quant is None and dst.quant is None and src.dtype in ok and dst.dtype in ok)
    x = _arr(src)
    if dst.dtype == "bool":
        return [x != 0]
    return [x.astype(NUMPY_DTYPES[dst.dtype])]  # C++ static_cast: integer wrap-around


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def fold(g: Graph, op: Op) -> list[np.ndarray]:
        _int_only(g, op)
        _no_fused(op)
        a, b = (_arr(t) for t in _ins(g, op)[:2])
        _req(a.dtype == b.dtype)
        with np.errstate(over="ignore"):
            return [np.asarray(fn(a, b)).astype(a.dtype)]

    return fold


def _floor_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _req(bool(np.all(b != 0)))
    return np.floor_divide(a, b)


def _reduce(fn):
    def fold(g: Graph, op: Op) -> list[np.ndarray]:
        _int_only(g, op)
        x, axes = (_arr(t) for t in _ins(g, op)[:2])
        ax = tuple(sorted({_axis(a, x.ndim) for a in axes.reshape(-1)}))
        with np.errstate(over="ignore"):
            r = fn(x, axis=ax, keepdims=bool(_opt(op, "keepDims", False)), dtype=x.dtype)
        return [np.asarray(r)]

    return fold


def _range(g: Graph, op: Op) -> list[np.ndarray]:
    _int_only(g, op)
    start, limit, delta = (int(_arr(t).reshape(-1)[0]) for t in _ins(g, op)[:3])
    _req(delta != 0)
    return [np.arange(start, limit, delta, dtype=_arr(g.tensor(op.inputs[0])).dtype)]


# Data movement: the values are copied raw, so quantized tensors are fine if nothing rescales.
MOVE = {
    "STRIDED_SLICE": _strided_slice,
    "SLICE": _slice,
    "PACK": _pack,
    "UNPACK": _unpack,
    "CONCATENATION": _concat,
    "GATHER": _gather,
    "RESHAPE": _reshape,
    "EXPAND_DIMS": _expand_dims,
    "SQUEEZE": _squeeze,
    "TRANSPOSE": _transpose,
    "FILL": _fill,
}
# Integer arithmetic on unquantized int32/int64 tensors.
ARITH = {
    "CAST": _cast,
    "ADD": _binary(np.add),
    "SUB": _binary(np.subtract),
    "MUL": _binary(np.multiply),
    "FLOOR_DIV": _binary(_floor_div),
    "MAXIMUM": _binary(np.maximum),
    "MINIMUM": _binary(np.minimum),
    "REDUCE_PROD": _reduce(np.prod),
    "SUM": _reduce(np.sum),
    "RANGE": _range,
}
FOLDERS: dict[str, Callable[[Graph, Op], list[np.ndarray]]] = {"SHAPE": _shape, **MOVE, **ARITH}
# Inputs of data-movement ops that carry the data (the others are indices / shapes / axes).
DATA_INPUTS = {"PACK": None, "CONCATENATION": None, "STRIDED_SLICE": 1, "SLICE": 1, "GATHER": 1,
               "RESHAPE": 1, "EXPAND_DIMS": 1, "SQUEEZE": 1, "TRANSPOSE": 1, "UNPACK": 1, "FILL": (1, 2)}


def _foldable(g: Graph, op: Op, graph_outputs: set[int]) -> bool:
    if op.kind not in FOLDERS or not op.outputs:
        return False
    if any(o in graph_outputs for o in op.outputs):
        return False
    ins = [i for i in op.inputs if i >= 0]
    if not ins:
        return False
    if op.kind == "SHAPE":
        return True  # only the (static) shape of its input matters
    return all(g.tensor(i).is_const for i in ins)


def _move_quant_ok(g: Graph, op: Op) -> bool:
    """Data movement must not mix quantizations: the data inputs and outputs share one."""
    sel = DATA_INPUTS[op.kind]
    ins = [i for i in op.inputs if i >= 0]
    if sel is None:
        data = ins
    elif isinstance(sel, tuple):
        data = ins[sel[0] : sel[1]]
    else:
        data = ins[:sel]
    ts = [g.tensor(i) for i in data] + [g.tensor(o) for o in op.outputs]
    return _same_quant(ts) and len({t.dtype for t in ts}) == 1


def fold_constants(graph: Graph) -> Graph:
    """Evaluate constant ops in place: their outputs get `data`, the ops leave `graph.ops`."""
    outs = set(graph.outputs)
    kept: list[Op] = []
    folded = 0
    for op in graph.ops:
        if not _foldable(graph, op, outs) or (op.kind in MOVE and not _move_quant_ok(graph, op)):
            kept.append(op)
            continue
        try:
            results = FOLDERS[op.kind](graph, op)
        except _Skip:
            kept.append(op)
            continue
        if len(results) != len(op.outputs):
            kept.append(op)
            continue
        for o, value in zip(op.outputs, results):
            t = graph.tensor(o)
            value = np.asarray(value)
            if t.dtype in NUMPY_DTYPES:
                value = value.astype(NUMPY_DTYPES[t.dtype])
            t.data = np.array(value, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
            t.shape = tuple(int(d) for d in value.shape)
        folded += 1
    graph.ops = kept
    _resolve_reshapes(graph)
    if folded:
        graph.notes.append(f"constant folding: {folded} op(s) evaluated at generation time")
    return graph


def _resolve_reshapes(graph: Graph) -> None:
    """A RESHAPE whose shape input became constant gets that (fully resolved) output shape."""
    for op in graph.ops:
        if op.kind != "RESHAPE" or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        if not graph.tensor(op.inputs[1]).is_const:
            continue
        src, dst = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
        try:
            shape = _reshape_target(graph, op, src.size)
        except _Skip:
            continue
        if shape != tuple(dst.shape) and int(np.prod(shape, dtype=np.int64)) == dst.size:
            dst.shape = shape
