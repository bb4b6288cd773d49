"""The inputs every check runs: random and edge inputs for a graph, or the user's .npy / .npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyq.errors import BadInput
from tinyq.fileio import load_arrays
from tinyq.ir import NUMPY_DTYPES, Graph, Tensor

EDGES = ("min", "max", "zp")  # all minimum, all maximum, all zero point


def make_inputs(g: Graph, samples: int, seed: int = 0) -> tuple[list[list[np.ndarray]], int]:
    """The edge inputs (all min, all max, all zero point) then `samples` random ones; and how many edges."""
    rng = np.random.default_rng(seed)
    tensors = [g.tensor(i) for i in g.inputs]
    out = [[_edge(t, which) for t in tensors] for which in EDGES]
    for _ in range(samples):
        out.append([_random(t, rng) for t in tensors])
    return out, len(EDGES)


def _qrange(t: Tensor) -> tuple[int, int]:
    if t.dtype == "bool":
        return 0, 1
    info = np.iinfo(t.dtype) if t.dtype != "float32" else np.iinfo(np.int8)
    return int(info.min), int(info.max)


def _random(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    if t.dtype == "float32":
        # Spread over the range the model's QUANTIZE maps to int8, with sub-step jitter.
        s, zp = _float_edge_params(t)
        q = rng.integers(-128, 128, size=t.shape).astype(np.float32)
        jitter = rng.uniform(-0.5, 0.5, size=t.shape).astype(np.float32)
        return ((q - zp + jitter) * s).astype(np.float32)
    lo, hi = _qrange(t)
    return rng.integers(lo, hi + 1, size=t.shape, dtype=np.int64).astype(NUMPY_DTYPES[t.dtype])


def _float_edge_params(t: Tensor) -> tuple[float, float]:
    q = getattr(t, "edge_quant", None)
    if q is not None:
        return q
    return (1.0 / 32.0, 0.0)


def _edge(t: Tensor, which: str) -> np.ndarray:
    if t.dtype == "float32":
        s, zp = _float_edge_params(t)
        v = {"min": (-128 - zp) * s, "max": (127 - zp) * s, "zp": 0.0}[which]
        return np.full(t.shape, v, dtype=np.float32)
    lo, hi = _qrange(t)
    zp = t.quant.zp if t.quant else 0
    v = {"min": lo, "max": hi, "zp": zp}[which]
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
        if a.ndim == len(t.shape) and tuple(a.shape[1:]) == tuple(t.shape[1:]):
            pass
        elif tuple(a.shape[1:]) == tuple(t.shape):
            a = a.reshape((a.shape[0],) + tuple(t.shape[1:]) if t.shape else (a.shape[0],))
        else:
            raise BadInput(
                f"{path}: input {k} has shape {tuple(a.shape)} but the model expects (N, {', '.join(map(str, t.shape[1:]))}): reshape the samples"
            )
        if t.dtype != "float32" and a.dtype.kind == "f":
            # As TFLite's QUANTIZE (and `tinyq convert --eval`): float32 divide, round half away from zero.
            q = t.quant
            v = a.astype(np.float32) / np.float32(q.s)
            r = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int64)
            a = np.clip(r + q.zp, *_qrange(t)).astype(NUMPY_DTYPES[t.dtype])
        for n in range(a.shape[0]):
            if len(out) <= n:
                out.append([])
            out[n].append(a[n : n + 1].astype(NUMPY_DTYPES[t.dtype]))
    return out


def load_labels(path: Path) -> np.ndarray | None:
    """Class ids from an .npz evaluation set's `y`, if it has one."""
    path = Path(path)
    if path.suffix != ".npz":
        return None
    with np.load(path) as z:
        return np.asarray(z["y"]).reshape(-1) if "y" in z.files else None
