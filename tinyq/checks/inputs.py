"""The inputs every check runs: random and edge inputs for a graph, or the user's .npy / .npz.

What `make_inputs` draws for each model input, by what the tensor holds:
- a quantized integer (int8, int16, a quantized int32): every value of its type, as any real value of
  the quantization's range may arrive;
- float32: the values the model's QUANTIZE maps onto int8's range, with sub-step jitter;
- bool: 0 and 1;
- a plain (unquantized) integer is a count or an index, not a real value. One whose values reach a
  GATHER's indices (directly, or through integer ops: a RESHAPE, or the LESS, ADD, SELECT with which the
  converter wraps an Embedding's negative indices) draws from [0, the gathered axis's size) (the smallest
  over such GATHERs): TFLite's GATHER fails on an index outside the axis, so a wider draw would test
  nothing, and those indices pass such ops unchanged. Any other draws from int16's range
  (PLAIN_INT_RANGE), where sums and products of two values stay inside int32: TFLite's int32 kernels
  leave overflow to the C++ compiler, so a wrap would be nothing to be bit-exact with (the int32 kernels'
  own tests give extremes explicitly).
  One that is a TRANSPOSE_CONV's output_shape (int32 [4]; TFLM's models make it a model input) has one
  valid value, the op's output tensor's static shape, for which the code is generated (on any other the
  invoke fails): every input, edge or random, holds exactly that shape (`fixed_value`).
The edge inputs use the same ranges: the least, the greatest, and the zero point (0 for a plain
integer, or the range's least when 0 is outside it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyq.errors import BadInput
from tinyq.fileio import load_arrays
from tinyq.ir import NUMPY_DTYPES, Graph, Tensor

EDGES = ("min", "max", "zp")  # all minimum, all maximum, all zero point
PLAIN_INT_RANGE = (-(2**15), 2**15 - 1)  # an unquantized integer input that is no index: see the module's doc
INDEX_TYPES = ("int16", "int32", "int64")  # the types of a GATHER's indices


def make_inputs(g: Graph, samples: int, seed: int = 0) -> tuple[list[list[np.ndarray]], int]:
    """The edge inputs (all min, all max, all zero point) then `samples` random ones; and how many edges."""
    rng = np.random.default_rng(seed)
    tensors = [g.tensor(i) for i in g.inputs]
    ranges = [value_range(g, t) for t in tensors]
    fixed = [fixed_value(g, t) for t in tensors]
    out = [[_edge(t, r, which) if f is None else f.copy() for t, r, f in zip(tensors, ranges, fixed)] for which in EDGES]
    for _ in range(samples):
        out.append([_random(t, r, rng) if f is None else f.copy() for t, r, f in zip(tensors, ranges, fixed)])
    return out, len(EDGES)


def fixed_value(g: Graph, t: Tensor) -> np.ndarray | None:
    """The one value input `t` may hold, where it has one (see the module's doc): the static output shape of
    the TRANSPOSE_CONV whose output_shape it is; None for any other input."""
    if t.dtype != "int32" or t.quant is not None or tuple(t.shape) != (4,):
        return None
    for op in g.consumers().get(t.index, []):
        if op.kind == "TRANSPOSE_CONV" and op.inputs and op.inputs[0] == t.index and op.outputs and op.outputs[0] >= 0:
            shape = [int(d) for d in g.tensor(op.outputs[0]).shape]
            if len(shape) == 4:
                return np.asarray(shape, dtype=np.int32)
    return None


def _qrange(t: Tensor) -> tuple[int, int]:
    if t.dtype == "bool":
        return 0, 1
    info = np.iinfo(t.dtype) if t.dtype != "float32" else np.iinfo(np.int8)
    return int(info.min), int(info.max)


def value_range(g: Graph, t: Tensor) -> tuple[int, int]:
    """The least and greatest value make_inputs gives input `t` (see the module's doc)."""
    if t.dtype in ("float32", "bool") or t.quant is not None:
        return _qrange(t)
    sizes = _index_extents(g, t.index)
    if sizes:
        return 0, max(0, min(sizes) - 1)
    lo, hi = _qrange(t)
    return max(lo, PLAIN_INT_RANGE[0]), min(hi, PLAIN_INT_RANGE[1])


def _index_extents(g: Graph, index: int) -> list[int]:
    """The sizes of the axes GATHERs index with values computed from tensor `index` (through any integer ops)."""
    consumers = g.consumers()
    sizes: list[int] = []
    todo, seen = [index], set()
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        for op in consumers.get(i, []):
            if op.kind == "GATHER" and len(op.inputs) > 1 and op.inputs[1] == i:
                params = g.tensor(op.inputs[0])
                a = int(getattr(op.options, "axis", 0) or 0) if op.options is not None else 0
                if params.shape and -len(params.shape) <= a < len(params.shape):
                    sizes.append(int(params.shape[a]))
            else:
                todo.extend(o for o in op.outputs if o >= 0 and g.tensor(o).dtype in INDEX_TYPES)
    return sizes


def _random(t: Tensor, r: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if t.dtype == "float32":
        # Spread over the range the model's QUANTIZE maps to int8, with sub-step jitter.
        s, zp = _float_edge_params(t)
        q = rng.integers(-128, 128, size=t.shape).astype(np.float32)
        jitter = rng.uniform(-0.5, 0.5, size=t.shape).astype(np.float32)
        return ((q - zp + jitter) * s).astype(np.float32)
    lo, hi = r
    return rng.integers(lo, hi + 1, size=t.shape, dtype=np.int64).astype(NUMPY_DTYPES[t.dtype])


def _float_edge_params(t: Tensor) -> tuple[float, float]:
    q = getattr(t, "edge_quant", None)
    if q is not None:
        return q
    return (1.0 / 32.0, 0.0)


def _edge(t: Tensor, r: tuple[int, int], which: str) -> np.ndarray:
    if t.dtype == "float32":
        s, zp = _float_edge_params(t)
        v = {"min": (-128 - zp) * s, "max": (127 - zp) * s, "zp": 0.0}[which]
        return np.full(t.shape, v, dtype=np.float32)
    lo, hi = r
    zp = t.quant.zp if t.quant else 0
    v = {"min": lo, "max": hi, "zp": zp if lo <= zp <= hi else lo}[which]
    return np.full(t.shape, v, dtype=NUMPY_DTYPES[t.dtype])


def attach_float_edges(g: Graph) -> None:
    """For float inputs, remember the scale of the QUANTIZE that consumes them (for realistic data)."""
    consumers = g.consumers()
    for i in g.inputs:
        t = g.tensor(i)
        if t.dtype != "float32":
            continue
        for op in consumers.get(i, []):
            if op.kind == "QUANTIZE":
                q = g.tensor(op.outputs[0]).quant
                if q is not None:
                    t.edge_quant = (q.s, float(q.zp))  # type: ignore[attr-defined]


def load_inputs(path: Path, g: Graph) -> list[list[np.ndarray]]:
    """User inputs from .npy (samples x input shape, first input) or .npz (one array per input; an
    evaluation set's x), quantized as TFLite's QUANTIZE does where the model takes integers."""
    path = Path(path)
    arrays = load_arrays(path, what="--inputs", skip=("y",))
    tensors = [g.tensor(i) for i in g.inputs]
    if len(arrays) != len(tensors):
        raise BadInput(f"{path} holds {len(arrays)} arrays but the model has {len(tensors)} inputs: give one array per input")
    out: list[list[np.ndarray]] = []
    for k, (a, t) in enumerate(zip(arrays, tensors)):
        shape = tuple(int(d) for d in t.shape)
        if shape and shape[0] == 1 and a.ndim == len(shape) and tuple(a.shape[1:]) == shape[1:]:
            pass  # the samples along the model's batch axis of 1
        elif a.ndim >= 1 and tuple(a.shape[1:]) == shape:
            a = a.reshape((a.shape[0], *shape[1:]) if shape and shape[0] == 1 else (a.shape[0], 1, *shape))
        else:
            want = ", ".join(map(str, shape[1:] if shape and shape[0] == 1 else shape))
            raise BadInput(f"{path}: input {k} has shape {tuple(a.shape)} but the model expects (N{', ' if want else ''}{want}) "
                           "(samples first): reshape the samples")
        if a.dtype.kind not in "biuf":
            raise BadInput(f"{path}: input {k} has type {a.dtype}, not numbers: save a numeric array")
        floating = np.issubdtype(NUMPY_DTYPES[t.dtype], np.floating)
        if a.dtype.kind == "f" and not floating and not np.isfinite(a).all():  # (a float input takes NaN and inf)
            raise BadInput(f"{path}: input {k} has {int((~np.isfinite(a)).sum())} NaN/inf values: replace them (numpy.nan_to_num)")
        integer = np.issubdtype(NUMPY_DTYPES[t.dtype], np.integer)
        if integer and (t.quant is None or a.dtype.kind != "f") and a.size:
            lo, hi = np.iinfo(NUMPY_DTYPES[t.dtype]).min, np.iinfo(NUMPY_DTYPES[t.dtype]).max
            if a.min() < lo or a.max() > hi:  # the cast below would wrap them
                raise BadInput(f"{path}: input {k} has values in [{a.min()}, {a.max()}] but the model takes {t.dtype} "
                               f"[{lo}, {hi}]: give values in range")
        if t.dtype != "float32" and a.dtype.kind == "f" and t.quant is None:
            # A plain integer input (indices, counts) given as floats: whole numbers only.
            if not np.array_equal(a, np.round(a)):
                raise BadInput(f"{path}: input {k} holds fractions but the model takes {t.dtype} values (indices or counts): "
                               "give whole numbers")
        elif t.dtype != "float32" and a.dtype.kind == "f":
            # As TFLite's QUANTIZE (and `tinyq convert --eval`): float32 divide, round half away from zero.
            q = t.quant
            with np.errstate(over="ignore"):  # huge values: clipped below, as TFLite's QUANTIZE saturates
                v = np.clip(a.astype(np.float32) / np.float32(q.s), -2.0**40, 2.0**40)
            r = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int64)
            a = np.clip(r + q.zp, *_qrange(t)).astype(NUMPY_DTYPES[t.dtype])
        for n in range(a.shape[0]):
            if len(out) <= n:
                out.append([])
            out[n].append(a[n : n + 1].astype(NUMPY_DTYPES[t.dtype]).reshape(shape))
    return out


def load_labels(path: Path) -> np.ndarray | None:
    """Class ids from an .npz evaluation set's `y`, if it has one."""
    path = Path(path)
    if path.suffix != ".npz":
        return None
    with np.load(path) as z:
        return np.asarray(z["y"]).reshape(-1) if "y" in z.files else None
