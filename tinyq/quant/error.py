"""Per-layer quantization error: every int8 tensor of a model against the float model's on calibration data.

SQNR = 10*log10(sum(f^2) / sum((f - dequant(q))^2)) over all samples, where f is the float model's tensor
and q the int8 model's (TFLite reference kernels), dequantized with the tensor's own scale and zero point.
The error a layer adds is its SQNR drop against its worst input; layers that fall below a threshold, and
those near it that lose the most, are flagged.

Tensors are matched by name (the converter names op outputs after the Keras layers in both models, fused
activations included, e.g. 'model/conv1/Relu;model/conv1/convolution'), then by the same name without
scope and numeric suffixes, then by the graph (the float op of the same kind reading the matched inputs),
then by op kind and shape in graph order; the rest are reported as not matched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput
from tinyq.quant import convert as cv

BIT_DB = 20.0 * math.log10(2.0)  # 6.02 dB of SQNR per bit of precision
MIN_LOSS_DB = 2 * BIT_DB  # a layer losing less than two bits against its inputs is ordinary requantization
_QUANT_TYPES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


# ----------------------------------------------------------------------------- the two graphs


@dataclass
class _T:
    name: str
    shape: tuple[int, ...]
    dtype: str
    const: bool
    scale: float | None
    zero_point: int


@dataclass
class _Op:
    kind: str
    inputs: list[int]
    outputs: list[int]


@dataclass
class _Net:
    tensors: list[_T]
    ops: list[_Op]
    inputs: list[int]
    outputs: list[int]


def _net(buf: bytes, path: Path) -> _Net:
    from tinyq.compiler.importer import (
        _buffer_data,
        _name,
        _parse,
        op_names,
        type_names,
    )

    model = _parse(buf, path)
    if len(model.subgraphs) > 1:
        raise BadInput(f"{path} has {len(model.subgraphs)} subgraphs (control flow): give a single-subgraph model")
    sg = model.subgraphs[0]
    types, kinds = type_names(), op_names()
    tensors = []
    for i, t in enumerate(sg.tensors or []):
        q = t.quantization
        per_tensor = q is not None and q.scale is not None and len(q.scale) == 1
        zps = q.zeroPoint if per_tensor and q.zeroPoint is not None and len(q.zeroPoint) else [0]
        tensors.append(_T(
            name=_name(t), shape=tuple(int(d) for d in (t.shape if t.shape is not None else [])),
            dtype=types.get(t.type, f"type{t.type}"), const=_buffer_data(model, buf, t.buffer, path) is not None,
            scale=float(np.float32(q.scale[0])) if per_tensor else None, zero_point=int(zps[0]),
        ))
    ops = []
    for o in sg.operators or []:
        code = model.operatorCodes[o.opcodeIndex]
        kind = kinds.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), f"BUILTIN_{code.builtinCode}")
        ops.append(_Op(kind, [int(i) for i in (o.inputs if o.inputs is not None else [])],
                       [int(i) for i in (o.outputs if o.outputs is not None else [])]))
    return _Net(tensors, ops, [int(i) for i in sg.inputs], [int(i) for i in sg.outputs])


def _is_tflite(path: Path) -> bool:
    if path.is_dir():
        return False
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def float_tflite(path: Path, quiet: bool = True) -> bytes:
    """The float reference as .tflite bytes: a float .tflite as is, a Keras model/SavedModel converted unoptimized."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory: give the float model (.keras, .h5, SavedModel or float .tflite) with --float")
    if _is_tflite(path):
        return path.read_bytes()
    lm = cv.load_model(path, quiet=quiet)
    return cv.convert_model(lm, None, quiet=quiet, mode="float")


# ----------------------------------------------------------------------------- matching


@dataclass
class _Row:
    op_index: int | None  # None: a graph input
    kind: str
    tensor: int
    float_tensor: int | None = None
    match: str | None = None


def _int8_rows(q: _Net) -> list[_Row]:
    rows = [_Row(None, "input", i) for i in q.inputs if q.tensors[i].dtype in _QUANT_TYPES and q.tensors[i].scale]
    for k, op in enumerate(q.ops):
        for o in op.outputs:
            t = q.tensors[o]
            if o >= 0 and t.dtype in _QUANT_TYPES and t.scale:
                rows.append(_Row(k, op.kind, o))
    return rows


def _float_candidates(f: _Net) -> list[tuple[int, str, int]]:
    """(position, op kind, tensor) of every float activation: graph inputs, then op outputs in order
    (DEQUANTIZE of constant weights, as in float16 models, left out)."""
    cands = [(-1, "input", i) for i in f.inputs]
    for k, op in enumerate(f.ops):
        if all(i < 0 or f.tensors[i].const for i in op.inputs):
            continue
        cands += [(k, op.kind, o) for o in op.outputs if o >= 0 and f.tensors[o].dtype == "float32"]
    return cands


def short_name(name: str) -> str:
    """What a person reads: the first of fused names, without the model scope ('conv1_1/Relu')."""
    parts = name.split(";")[0].split("/")
    return "/".join(parts[1:] if len(parts) > 1 else parts)


def _key(name: str) -> str:
    """A tensor name without model scope and numeric suffixes: 'functional_1/conv1_1/Relu;...' -> 'conv1/Relu'."""
    return "/".join(re.sub(r"(_\d+|\d+)$", "", p) for p in short_name(name).split("/"))


def match_tensors(q: _Net, f: _Net) -> list[_Row]:
    rows = _int8_rows(q)
    cands = _float_candidates(f)
    taken: set[int] = set()

    def take(row: _Row, tensor: int, how: str) -> None:
        row.float_tensor, row.match = tensor, how
        taken.add(tensor)

    # Graph inputs by position (a --float-io model's QUANTIZE output stands for its float input).
    quantized_inputs = {op.outputs[0]: op.inputs[0] for op in q.ops if op.kind == "QUANTIZE" and op.inputs[0] in q.inputs}
    for row in rows:
        src = quantized_inputs.get(row.tensor, row.tensor)
        if src in q.inputs:
            pos = q.inputs.index(src)
            if pos < len(f.inputs):
                take(row, f.inputs[pos], "input")

    def shape_ok(row: _Row, t: int) -> bool:
        return t not in taken and f.tensors[t].shape == q.tensors[row.tensor].shape

    for how, name_of in (("name", lambda n: n), ("renamed", _key)):
        index: dict[str, list[int]] = {}
        for _, _, t in cands:
            index.setdefault(name_of(f.tensors[t].name), []).append(t)
        wanted: dict[str, int] = {}
        for row in rows:
            if row.match is None:
                k = name_of(q.tensors[row.tensor].name)
                wanted[k] = wanted.get(k, 0) + 1
        for row in rows:
            if row.match is not None:
                continue
            k = name_of(q.tensors[row.tensor].name)
            hits = [t for t in index.get(k, []) if shape_ok(row, t)]
            if len(hits) == 1 and wanted[k] == 1:  # unique on both sides, or it is a guess
                take(row, hits[0], how)

    # In graph order: the float op of the same kind reading the matched inputs, else the next free float op
    # of the same kind and shape after the last match.
    by_graph = _graph_matcher(q, f, rows)
    pos_of = {t: p for p, _, t in cands}
    last = -1
    for row in rows:
        if row.match is None:
            hit = by_graph(row, shape_ok)
            if hit is not None:
                take(row, hit, "graph")
            else:
                hit = next((t for p, kind, t in cands if p > last and kind == row.kind and shape_ok(row, t)), None)
                if hit is not None:
                    take(row, hit, "order")
        if row.float_tensor is not None:
            last = max(last, pos_of.get(row.float_tensor, last))
    return rows


def _graph_matcher(q: _Net, f: _Net, rows: list[_Row]):
    """For a row: the output of the one float op of its kind that reads the float tensors its op's activation
    inputs are matched to (the graphs may schedule parallel branches in another order), or None."""
    weights = {o for op in f.ops if all(i < 0 or f.tensors[i].const for i in op.inputs) for o in op.outputs}

    def activations(net: _Net, op: _Op, skip: set[int]) -> tuple[int, ...]:
        return tuple(i for i in op.inputs if i >= 0 and not net.tensors[i].const and i not in skip)

    readers: dict[tuple, list[_Op]] = {}
    for op in f.ops:
        readers.setdefault((op.kind, activations(f, op, weights)), []).append(op)

    def find(row: _Row, shape_ok) -> int | None:
        if row.op_index is None:
            return None
        pair = {r.tensor: r.float_tensor for r in rows if r.float_tensor is not None}
        qop = q.ops[row.op_index]
        ins = tuple(pair.get(i) for i in activations(q, qop, set()))
        if not ins or None in ins:
            return None
        pos = qop.outputs.index(row.tensor)
        hits = [op.outputs[pos] for op in readers.get((qop.kind, ins), []) if pos < len(op.outputs)]
        hits = [t for t in hits if shape_ok(row, t)]
        return hits[0] if len(hits) == 1 else None

    return find


# ----------------------------------------------------------------------------- the figures


@dataclass
class LayerError:
    index: int | None  # op index in the int8 model; None for a graph input
    op: str
    tensor: str  # the int8 tensor's name
    float_tensor: str | None
    match: str | None  # "input", "name", "renamed", "graph", "order"; None: no float tensor matched
    shape: list[int]
    dtype: str
    scale: float
    zero_point: int
    sqnr_db: float | None
    drop_db: float | None  # SQNR lost at this layer: its worst input's SQNR minus its own
    clipped: float | None  # share of float values outside the int8 range (saturated)
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class QuantError:
    model: str
    float_model: str
    calibration: dict
    threshold_db: float
    worst: int
    layers: list[LayerError]
    flagged: list[str]  # tensor names of the flagged layers, worst first
    unmatched: int

    def to_json(self) -> dict:
        return asdict(self)


def _sqnr(signal: float, noise: float) -> tuple[float | None, str | None]:
    if noise == 0.0:
        return None, "exact: no quantization noise"
    if signal == 0.0:
        return None, "the float tensor is all zeros"
    return 10.0 * math.log10(signal / noise), None


def _interpreter(content: bytes, resolver: str):
    import warnings

    from ai_edge_litert import interpreter as lrt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": that is what this is
        it = lrt.Interpreter(
            model_content=content,
            experimental_op_resolver_type=getattr(lrt.OpResolverType, resolver),
            experimental_preserve_all_tensors=True,
            num_threads=1,
        )
    it.allocate_tensors()
    return it


def quant_error(model: Path, float_model: Path, calib: Path, calib_limit: int | None = None,
                threshold_db: float = 20.0, worst: int = 3, progress: Callable[[int], None] | None = None,
                quiet: bool = True) -> QuantError:
    """SQNR of every int8 tensor of `model` against `float_model` over the calibration samples."""
    from tinyq.compiler.importer import read_model

    model, float_model, calib = Path(model), Path(float_model), Path(calib)
    _, qbuf = read_model(model)
    q = _net(qbuf, model)
    arrays = cv.read_calibration_arrays(calib, calib_limit)
    infos = [cv.TensorInfo(name=q.tensors[i].name, shape=(None, *q.tensors[i].shape[1:])) for i in q.inputs]
    samples = cv.load_calibration(calib, infos, arrays=arrays)
    fbuf = float_tflite(float_model, quiet=quiet)
    f = _net(fbuf, float_model)
    _check_pair(q, f, model, float_model)

    rows = match_tensors(q, f)
    measured = [r for r in rows if r.float_tensor is not None]
    sig = np.zeros(len(measured))
    noise = np.zeros(len(measured))
    clipped = np.zeros(len(measured), dtype=np.int64)
    count = np.zeros(len(measured), dtype=np.int64)
    with cv.quiet_stderr(quiet):
        qi = _interpreter(qbuf, "BUILTIN_REF")  # the kernels tinyq is bit-exact with
        fi = _interpreter(fbuf, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")  # a delegate would hide the intermediates
    edges = [_edge(q, i) for i in q.inputs]
    n = int(samples[0].shape[0])
    for s in range(n):
        for i, e, x in zip(q.inputs, edges, samples):
            qi.set_tensor(i, cv.quantize_input(x[s : s + 1], e).reshape(q.tensors[i].shape))
        for i, x in zip(f.inputs, samples):
            fi.set_tensor(i, x[s : s + 1].reshape(f.tensors[i].shape))
        qi.invoke()
        fi.invoke()
        for k, r in enumerate(measured):
            t = q.tensors[r.tensor]
            fv = fi.get_tensor(r.float_tensor).astype(np.float64)
            deq = (qi.get_tensor(r.tensor).astype(np.float64) - t.zero_point) * t.scale
            sig[k] += float(np.sum(fv * fv))
            noise[k] += float(np.sum((fv - deq) ** 2))
            lo, hi = _QUANT_TYPES[t.dtype]
            level = fv / t.scale + t.zero_point
            clipped[k] += int(np.count_nonzero((level < lo - 0.5) | (level > hi + 0.5)))
            count[k] += fv.size
        if progress:
            progress(1)

    figures = {r.tensor: (float(sig[k]), float(noise[k]), float(clipped[k] / count[k])) for k, r in enumerate(measured)}
    layers = []
    for r in rows:
        t = q.tensors[r.tensor]
        sqnr, note, clip = None, "no float tensor matches" if r.float_tensor is None else None, None
        if r.tensor in figures:
            s_, n_, clip = figures[r.tensor]
            sqnr, note = _sqnr(s_, n_)
        layers.append(LayerError(
            index=r.op_index, op=r.kind, tensor=t.name,
            float_tensor=f.tensors[r.float_tensor].name if r.float_tensor is not None else None, match=r.match,
            shape=list(t.shape), dtype=t.dtype, scale=float(t.scale), zero_point=t.zero_point,
            sqnr_db=sqnr, drop_db=None, clipped=clip, note=note,
        ))
    _drops(q, rows, layers)
    flagged = _flag(layers, threshold_db, worst)
    return QuantError(
        model=str(model), float_model=str(float_model), calibration={"file": str(calib), "samples": n},
        threshold_db=threshold_db, worst=worst, layers=layers, flagged=flagged,
        unmatched=sum(1 for x in layers if x.match is None),
    )


def _edge(net: _Net, i: int) -> cv.EdgeInfo:
    t = net.tensors[i]
    return cv.EdgeInfo(index=i, name=t.name, shape=t.shape, dtype=t.dtype, scale=t.scale, zero_point=t.zero_point)


def _check_pair(q: _Net, f: _Net, model: Path, float_model: Path) -> None:
    qs = [list(q.tensors[i].shape) for i in q.inputs]
    fs = [list(f.tensors[i].shape) for i in f.inputs]
    if qs != fs:
        raise BadInput(
            f"{float_model} has inputs {fs} but {model} has {qs}: give the float model {model.name} was converted from"
        )
    bad = next((f.tensors[i] for i in f.inputs if f.tensors[i].dtype != "float32"), None)
    if bad is not None:
        raise BadInput(
            f"{float_model} takes {bad.dtype} input '{bad.name}', so it is not a float model: "
            "give the Keras model (or float .tflite) the int8 model was converted from"
        )


def _drops(q: _Net, rows: list[_Row], layers: list[LayerError]) -> None:
    by_tensor = {r.tensor: L for r, L in zip(rows, layers)}
    for r, L in zip(rows, layers):
        if r.op_index is None or L.sqnr_db is None:
            continue
        ins = [by_tensor[i].sqnr_db for i in q.ops[r.op_index].inputs if i in by_tensor and by_tensor[i].sqnr_db is not None]
        if ins:
            L.drop_db = min(ins) - L.sqnr_db


def _flag(layers: list[LayerError], threshold_db: float, worst: int) -> list[str]:
    """Flag layers below the threshold, and the `worst` that lose the most: two bits (12 dB) or more against
    their inputs, ending within two bits of the threshold (a healthy int8 layer keeps 35-50 dB, so a loss
    from a clean input to 40 dB is not worth a flag)."""
    for L in layers:
        if L.sqnr_db is not None and L.sqnr_db < threshold_db:
            L.reasons.append(f"below {threshold_db:g} dB")
    losers = [L for L in layers if L.drop_db is not None and L.drop_db >= MIN_LOSS_DB and L.sqnr_db < threshold_db + MIN_LOSS_DB]
    for rank, L in enumerate(sorted(losers, key=lambda L: -L.drop_db)[:worst], 1):
        L.reasons.append(f"loss #{rank}: {L.drop_db:.1f} dB")
    for L in layers:
        L.flagged = bool(L.reasons)
    ranked = sorted((L for L in layers if L.flagged), key=lambda L: (L.sqnr_db if L.sqnr_db is not None else math.inf))
    return [L.tensor for L in ranked]
