"""The weight tensors of a .tflite as the convert side reads and rewrites them: the CONV_2D /
DEPTHWISE_CONV_2D / FULLY_CONNECTED weights (int8 or INT4), their distinct values per tensor and per
output channel, TFLite's INT4 packing (two values a byte, the first element in the low nibble), the
rewrite of 4-bit-grid int8 tensors as INT4 and back, and the "tinyq.weights" metadata entry
({"version": 1, "tensors": {name: {"bits": B, "codebook": "layer" | "channel"}}}) that `tinyq build`
reads to pack those tensors. Below tinyq.quant.convert and tinyq.quant.lowbit, which both use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

META_NAME = "tinyq.weights"
META_VERSION = 1
PACK_BITS = (1, 2, 4)  # the packed widths `tinyq build` has kernels for
KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")  # the ops whose weight tensors are changed / counted


def pack_bits_for(bits: int) -> int | None:
    """The packed width that holds `bits`-bit weights (1, 2 or 4), None above 4."""
    return next((b for b in PACK_BITS if bits <= b), None)


def _model(data: bytes):
    from tinyq.compiler.importer import schema

    return schema.ModelT.InitFromPackedBuf(data, 0)


def _pack(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _name(t) -> str:
    return t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")


@dataclass
class WeightTensor:
    """The constant weight tensor of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op."""

    op: int  # index of the op reading it
    kind: str
    index: int  # tensor index
    name: str
    dtype: str
    axis: int  # the output-channel axis (the quantized dimension of a per-channel tensor)
    values: np.ndarray  # int8 (or unpacked int4) values, shaped like the tensor
    bias: int | None  # the op's bias tensor index, if constant

    def distinct(self) -> tuple[int, int]:
        """(distinct values in the tensor, most distinct values in one output channel)."""
        v = self.values
        rows = np.moveaxis(v, self.axis, 0).reshape(v.shape[self.axis], -1) if v.ndim else v.reshape(1, -1)
        per_channel = max((len(np.unique(r)) for r in rows), default=0)
        return len(np.unique(v)), per_channel

    def codebook(self, bits: int) -> str | None:
        """"layer" when the tensor takes at most 2**bits values, else "channel" when each output channel
        does, else None."""
        layer, channel = self.distinct()
        return "layer" if layer <= 2**bits else "channel" if channel <= 2**bits else None


def _buffer_bytes(model, t) -> np.ndarray | None:
    b = int(t.buffer)
    if not 0 < b < len(model.buffers or []):
        return None
    buf = model.buffers[b]
    if buf.data is None:
        return None
    return np.asarray(buf.data, dtype=np.uint8)


def unpack_int4(raw: np.ndarray, n: int) -> np.ndarray:
    """TFLite's packed INT4 bytes -> `n` int8 values: element 2i in byte i's low nibble, 2i+1 in its high one."""
    raw = np.asarray(raw, np.uint8)
    lo = (raw & 0x0F).astype(np.int8)
    hi = (raw >> 4).astype(np.int8)
    both = np.stack([lo, hi], axis=1).reshape(-1)[:n]
    return np.where(both > 7, both - 16, both).astype(np.int8)


def pack_int4(values: np.ndarray) -> np.ndarray:
    """int values in [-8, 7] -> TFLite's packed INT4 bytes (two a byte, the first element in the low nibble)."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values out of [-8, 7]")
    nib = (v & 0x0F).astype(np.uint8)
    if nib.size % 2:
        nib = np.append(nib, np.uint8(0))
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


def weight_tensors(model) -> list[WeightTensor]:
    """The int8 / INT4 constant weight tensors of the CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ops."""
    from tinyq.compiler.importer import op_names, type_names

    names, types = op_names(), type_names()
    sg = model.subgraphs[0]
    found = []
    for k, o in enumerate(sg.operators or []):
        code = model.operatorCodes[o.opcodeIndex]
        kind = names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "?")
        ins = [int(i) for i in (o.inputs if o.inputs is not None else [])]
        if kind not in KINDS or len(ins) < 2 or ins[1] < 0:
            continue
        t = sg.tensors[ins[1]]
        dtype = types.get(t.type, "?")
        raw = _buffer_bytes(model, t)
        if raw is None or dtype not in ("int8", "int4"):
            continue
        shape = tuple(int(d) for d in t.shape)
        n = int(np.prod(shape))
        vals = unpack_int4(raw, n) if dtype == "int4" else raw.view(np.int8)[:n].copy()
        q = t.quantization
        axis = int(q.quantizedDimension or 0) if q is not None and q.scale is not None and len(q.scale) > 1 else (
            3 if kind == "DEPTHWISE_CONV_2D" else 0)
        bias = ins[2] if len(ins) > 2 and ins[2] >= 0 and _buffer_bytes(model, sg.tensors[ins[2]]) is not None else None
        found.append(WeightTensor(op=k, kind=kind, index=ins[1], name=_name(t), dtype=dtype, axis=axis,
                                  values=vals.reshape(shape), bias=bias))
    return found


def weight_codebooks(data: bytes, bits: int) -> tuple[dict[str, dict], list[str]]:
    """({tensor name: {"bits": B, "codebook": ...}} for every int8 weight tensor that takes at most 2**B
    values per layer or per channel, B = pack_bits_for(bits)), [names of the int8 ones that do not])."""
    b = pack_bits_for(bits)
    if b is None:
        return {}, []
    entries: dict[str, dict] = {}
    off: list[str] = []
    for w in weight_tensors(_model(data)):
        if w.dtype != "int8":
            continue
        cb = w.codebook(b)
        if cb is None:
            off.append(w.name)
        else:
            entries[w.name] = {"bits": b, "codebook": cb}
    return entries, off


def read_metadata(data: bytes) -> dict | None:
    """The "tinyq.weights" entry of a .tflite as a dict, or None."""
    model = _model(data)
    for m in model.metadata or []:
        name = m.name.decode() if isinstance(m.name, bytes) else m.name
        if name == META_NAME:
            b = int(m.buffer)
            buf = model.buffers[b] if 0 < b < len(model.buffers or []) else None
            if buf is None or buf.data is None:
                return None
            return json.loads(bytes(np.asarray(buf.data, np.uint8)).decode("utf-8"))
    return None


def with_metadata(data: bytes, entries: dict[str, dict]) -> bytes:
    """`data` with its "tinyq.weights" metadata entry set to `entries` (replacing one there; with no entries,
    the model without one). A named tensor whose name another tensor shares is renamed "<name>;<index>"
    first, so each entry names one tensor."""
    if not entries and read_metadata(data) is None:
        return data
    from tinyq.compiler.importer import schema

    model = _model(data)
    kept = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != META_NAME]
    for m in model.metadata or []:  # an old entry's buffer stays, emptied (the other buffers keep their indices)
        if m not in kept and 0 < int(m.buffer) < len(model.buffers):
            model.buffers[int(m.buffer)].data = None
    if not entries:
        model.metadata = kept or None
        return _pack(model)
    sg = model.subgraphs[0]
    count: dict[str, int] = {}
    for t in sg.tensors:
        count[_name(t)] = count.get(_name(t), 0) + 1
    fixed: dict[str, dict] = {}
    for i, t in enumerate(sg.tensors):
        n = _name(t)
        if n in entries:
            if count[n] > 1:
                t.name = f"{n};{i}"
            fixed[_name(t)] = entries[n]
    body = {"version": META_VERSION, "tensors": {k: fixed[k] for k in sorted(fixed)}}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    buf = schema.BufferT()
    buf.data = np.frombuffer(blob, dtype=np.uint8).copy()
    model.buffers.append(buf)
    meta = schema.MetadataT()
    meta.name = META_NAME
    meta.buffer = len(model.buffers) - 1
    model.metadata = kept + [meta]
    return _pack(model)


# ----------------------------------------------------------------------------- INT4 rewrite


def _int4_levels(w: WeightTensor) -> np.ndarray | None:
    """The int4 levels k of an int8 weight tensor on the 4-bit grid (every value round(k * 127 / 7), k in
    -7..7, as TensorFlow's per-channel scale max|w| / 127 maps a kernel snapped to max|w| / 7), else None."""
    k = np.round(w.values.astype(np.float64) * 7.0 / 127.0)
    if not np.array_equal(np.round(k * 127.0 / 7.0), w.values.astype(np.float64)):
        return None
    return k.astype(np.int8)


def to_int4(data: bytes, kinds: Sequence[str] = KINDS) -> tuple[bytes, list[str]]:
    """Rewrite each int8 weight tensor of an op in `kinds` that sits on the 4-bit grid (every value
    round(k * 127 / 7)) as a TFLite INT4 tensor: values k, packed two a byte, scales x 127/7, and its int32
    bias requantized to the new input x filter scales (round half to even). Tensors read by more than one op
    are left alone. Returns (model, names of the rewritten tensors)."""
    from tinyq.compiler.importer import schema

    model = _model(data)
    sg = model.subgraphs[0]
    readers: dict[int, int] = {}
    for o in sg.operators or []:
        for i in o.inputs if o.inputs is not None else []:
            if int(i) >= 0:
                readers[int(i)] = readers.get(int(i), 0) + 1
    done = []
    for w in weight_tensors(model):
        if w.dtype != "int8" or w.kind not in kinds or readers.get(w.index) != 1:
            continue
        if w.bias is not None and readers.get(w.bias) != 1:
            continue
        levels = _int4_levels(w)
        t = sg.tensors[w.index]
        q = t.quantization
        if levels is None or q is None or q.scale is None:
            continue
        old = np.asarray(q.scale, np.float64)
        new = (old * 127.0 / 7.0).astype(np.float32)
        if w.bias is not None:
            bt = sg.tensors[w.bias]
            bq, braw = bt.quantization, _buffer_bytes(model, bt)
            if bq is None or bq.scale is None or bt.type != schema.TensorType.INT32 or braw is None:
                continue
            bias = braw.view(np.int32).astype(np.float64)
            if len(old) not in (1, len(bias)) or len(bq.scale) != len(old):
                continue
            rescaled = np.round(bias * old / new.astype(np.float64))  # the same real bias in the new scale
            bq.scale = (np.asarray(bq.scale, np.float64) / old * new.astype(np.float64)).astype(np.float32).tolist()
            model.buffers[bt.buffer].data = rescaled.astype(np.int32).view(np.uint8).copy()
        q.scale = new.tolist()
        t.type = schema.TensorType.INT4
        model.buffers[t.buffer].data = pack_int4(levels)
        done.append(w.name)
    return (_pack(model), done) if done else (data, [])


def expand_int4(data: bytes) -> bytes:
    """The same model with every INT4 weight tensor stored as INT8 (the same values, scales and biases): the
    integer arithmetic is unchanged, so the reference interpreter gives the same outputs bit for bit."""
    from tinyq.compiler.importer import schema

    model = _model(data)
    sg = model.subgraphs[0]
    changed = False
    for w in weight_tensors(model):
        if w.dtype == "int4":
            t = sg.tensors[w.index]
            t.type = schema.TensorType.INT8
            model.buffers[t.buffer].data = w.values.reshape(-1).view(np.uint8).copy()
            changed = True
    return _pack(model) if changed else data
