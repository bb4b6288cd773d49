"""Synthetic .tflite models written tensor by tensor with TFLite's flatbuffer schema (ai_edge_litert's
`schema_py_generated` object API): what the converter does not emit, and single layers of any shape.

Two levels:
- the writer: `schema_tensor`, `operator_code`, `options`, `pack_model`, `tensor_spec` + `one_op_model`
  (one operator), `Net` (a graph op by op). The tests build their hand-made models with these.
- layers: `add_layer(net, row, rng)` writes one layer described by a sweep row (tinyq.checks.sweep's row
  spec: op, dtype, in, out, kernel, stride, padding, depth_multiplier, weights, weight_zero_point) with
  seeded random weights and realistic quantization: weights symmetric int8 using their full range (one
  scale per output channel or one per tensor; per-tensor FULLY_CONNECTED weights may have a zero point),
  int32 biases (int64 for int16 activations, the 16x8 scheme), and an output scale from the layer's real
  output range on the inputs tinyq's checks draw (every value of the input type), so outputs are not
  saturated. `rows_model(rows, seed)` puts several such layers side by side in one graph: each writes its
  own model output, named after the row; layers whose inputs have the same shape and type read the same
  model input (its quantization a function of shape and type), so a group of rows loads fewer bytes and
  every row's layer is the same whatever group it is in.

Every layer this writes runs in TFLite's reference interpreter (BUILTIN_REF) as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

# Default activation quantization of hand-built models, by type (int16: zero point 0, as 16x8 models have).
ACTIVATION_QUANT = {"int8": (0.05, -3), "int16": (0.002, 0), "float32": None}

SAME, VALID = 0, 1  # schema Padding
TYPE_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


# --------------------------------------------------------------------------- the writer


def pack_model(model) -> bytes:
    """A schema ModelT (the object API) as .tflite bytes."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _quantization(q):
    """A QuantizationParametersT from (scale, zero_point), or per channel from (scales, zero_points, axis)."""
    from ai_edge_litert import schema_py_generated as s

    qp = s.QuantizationParametersT()
    if len(q) == 3:
        qp.scale, qp.zeroPoint, qp.quantizedDimension = [float(v) for v in q[0]], [int(v) for v in q[1]], int(q[2])
    else:
        qp.scale, qp.zeroPoint = [float(q[0])], [int(q[1])]
    return qp


def schema_tensor(model, shape, dtype: str, q=None, data=None, name: str = ""):
    """A schema TensorT of `shape` and `dtype` (a TensorType name in any case), quantized or not (q None):
    `q` is (scale, zero_point), or (scales, zero_points, axis) per channel; constant `data` goes into a
    new buffer of `model` (a ModelT)."""
    from ai_edge_litert import schema_py_generated as s

    t = s.TensorT()
    t.shape, t.type, t.name, t.buffer = [int(d) for d in shape], getattr(s.TensorType, dtype.upper()), name, 0
    if data is not None:
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype.lower()).tobytes(), np.uint8).tolist()
        model.buffers.append(b)
        t.buffer = len(model.buffers) - 1
    if q is not None:
        t.quantization = _quantization(q)
    return t


def operator_code(kind: str, version: int = 1):
    """The schema OperatorCodeT of builtin `kind` at `version`."""
    from ai_edge_litert import schema_py_generated as s

    c = s.OperatorCodeT()
    c.builtinCode = getattr(s.BuiltinOperator, kind)
    c.deprecatedBuiltinCode = min(c.builtinCode, 127)
    c.version = version
    return c


def options(cls: str, **fields):
    """A schema options object (`cls`, e.g. "StridedSliceOptionsT") with `fields` set."""
    from ai_edge_litert import schema_py_generated as s

    o = getattr(s, cls)()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


class Net:
    """A .tflite written tensor by tensor with the flatbuffer schema: graph inputs, constants and ops in
    execution order. Test modules subclass it with their own `op` (what it returns, how outputs are labelled)
    on top of `add_op`. A tensor's default quantization ("net") is `quant` of the net's type, or of the
    tensor's own type with `quant_of_tensor_type`."""

    versions: dict[str, int] = {}  # operator versions other than 1, by kind

    def __init__(self, dtype: str, quant=ACTIVATION_QUANT, quant_of_tensor_type: bool = False):
        from ai_edge_litert import schema_py_generated as s

        self.dtype, self.quant, self.quant_of_tensor_type = dtype, quant, quant_of_tensor_type
        self.m = s.ModelT()
        self.m.version = 3
        self.m.buffers = [s.BufferT()]
        self.m.operatorCodes = []
        self.tensors: list = []
        self.ops: list = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, shape, dtype=None, q="net", data=None, name: str | None = None) -> int:
        dtype = dtype or self.dtype
        if q == "net":
            q = self.quant[dtype if self.quant_of_tensor_type else self.dtype]
        self.tensors.append(schema_tensor(self.m, shape, dtype, q, data, name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def input(self, shape, dtype=None, q="net", name: str | None = None) -> int:
        self.inputs.append(self.tensor(shape, dtype, q, name=name))
        return self.inputs[-1]

    def const(self, values, dtype="int32", q=None, name: str | None = None) -> int:
        return self.tensor(np.shape(values), dtype, q, np.asarray(values), name=name)

    def add_op(self, kind: str, ins, outs, options=None) -> None:
        """Operator `kind` reading tensors `ins` and writing `outs` (its code registered once)."""
        from ai_edge_litert import schema_py_generated as s

        codes = [c.builtinCode for c in self.m.operatorCodes]
        code = getattr(s.BuiltinOperator, kind)
        if code not in codes:
            self.m.operatorCodes.append(operator_code(kind, self.versions.get(kind, 1)))
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes.index(code), list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        self.ops.append(o)

    def bytes(self) -> bytes:
        from ai_edge_litert import schema_py_generated as s

        sg = s.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.ops, self.inputs, self.outputs
        self.m.subgraphs = [sg]
        return pack_model(self.m)

    def write(self, path):
        path = Path(path)
        path.write_bytes(self.bytes())
        return path


def tensor_spec(shape, dtype: str = "int8", q=None, data=None, name: str = "") -> dict:
    """One tensor of one_op_model: `dtype` a TensorType name in any case ("int8", "INT16", "float32"),
    `q` (scale, zero_point) or None for no quantization, `data` a constant's values or None."""
    return {"shape": tuple(shape), "dtype": dtype, "q": q, "data": data, "name": name}


def one_op_model(kind: str, inputs, outputs, options=None, options_type: int = 0, description: str | None = None) -> bytes:
    """A .tflite of one builtin operator `kind`, written directly as a flatbuffer (for what the
    converter does not emit). `inputs` and `outputs` are tensor_spec()s; the graph's inputs are the
    operator's inputs without data; unnamed tensors are called t0, t1, ... in order."""
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    if description is not None:
        m.description = description
    tensors = []

    def tensor(spec):
        tensors.append(schema_tensor(m, spec["shape"], spec["dtype"], spec["q"], spec["data"], spec["name"] or f"t{len(tensors)}"))
        return len(tensors) - 1

    ins = [tensor(spec) for spec in inputs]
    outs = [tensor(spec) for spec in outputs]
    code = operator_code(kind)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, ins, outs
    if options is not None:
        op.builtinOptionsType, op.builtinOptions = options_type, options
    sg = s.SubGraphT()
    sg.tensors, sg.operators = tensors, [op]
    sg.inputs = [i for i, spec in zip(ins, inputs) if spec["data"] is None]
    sg.outputs = outs
    m.subgraphs, m.operatorCodes = [sg], [code]
    return pack_model(m)


# --------------------------------------------------------------------------- layers from sweep rows

# Operator versions as TensorFlow's converter writes them for these types (int8 / int16 activations).
VERSIONS = {
    ("CONV_2D", "int8"): 3, ("CONV_2D", "int16"): 4,
    ("DEPTHWISE_CONV_2D", "int8"): 3, ("DEPTHWISE_CONV_2D", "int16"): 5,
    ("FULLY_CONNECTED", "int8"): 4, ("FULLY_CONNECTED", "int16"): 7,
    ("AVERAGE_POOL_2D", "int8"): 2, ("AVERAGE_POOL_2D", "int16"): 3,
    ("MAX_POOL_2D", "int8"): 2, ("MAX_POOL_2D", "int16"): 3,
    ("ADD", "int8"): 2, ("ADD", "int16"): 3,
}


class LayerNet(Net):
    """A Net whose operator codes carry the versions of VERSIONS (by the first layer's type)."""

    def __init__(self, dtype: str):
        super().__init__(dtype)
        self.versions = {kind: v for (kind, t), v in VERSIONS.items() if t == dtype}


def _input_quant(dtype: str, rng: np.random.Generator) -> tuple[float, int]:
    """A realistic activation quantization: int8 asymmetric, int16 symmetric (zero point 0)."""
    if dtype == "int16":
        return float(np.float32(10 ** rng.uniform(-4.3, -3.3))), 0
    return float(np.float32(10 ** rng.uniform(-2.0, -0.8))), int(rng.integers(-128, 64))


def _input_rms(dtype: str, zero_point: int) -> float:
    """Root mean square of (x - zero_point) over every value of the type (what the checks draw)."""
    lo, hi = TYPE_RANGE[dtype]
    n = hi - lo + 1
    return float(np.sqrt((n * n - 1) / 12.0 + ((lo + hi) / 2.0 - zero_point) ** 2))


def _weights(rng: np.random.Generator, shape, axis: int | None, zero_point: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights of `shape` using their full range (per channel along `axis`, or per tensor when None),
    around `zero_point`; and their scales (one per channel, or one)."""
    real = rng.normal(0.0, 1.0, shape)
    moved = np.moveaxis(real, axis, 0) if axis is not None else real.reshape(1, -1)
    flat = moved.reshape(moved.shape[0], -1)
    span = 127 - abs(zero_point)
    q = np.clip(np.round(flat * (span / np.abs(flat).max(axis=1))[:, None]) + zero_point, -128, 127).astype(np.int8)
    q = np.moveaxis(q.reshape(moved.shape), 0, axis) if axis is not None else q.reshape(shape)
    channels = flat.shape[0]
    scales = (10 ** rng.uniform(-2.7, -1.7, channels)).astype(np.float32)
    return q, scales


def _bias_and_output(rng, dtype: str, in_q: tuple[float, int], wq: np.ndarray, w_scales: np.ndarray, w_zp: int,
                     channel_axis: int, out_channels: int) -> tuple[np.ndarray, tuple[float, int]]:
    """Biases (int32, or int64 for int16 activations) and the output quantization: the real output's range
    over random inputs (accumulator RMS per channel, three sigmas, plus the bias) mapped onto the type."""
    w = np.moveaxis(wq.astype(np.float64) - w_zp, channel_axis, 0).reshape(out_channels, -1)
    scales = np.broadcast_to(w_scales, (out_channels,)).astype(np.float64) if w_scales.size > 1 else np.full(out_channels, float(w_scales[0]))
    acc_rms = np.sqrt((w * w).sum(axis=1)) * _input_rms(dtype, in_q[1])  # in integer accumulator units
    bias_q = np.round(rng.normal(0.0, 0.5, out_channels) * acc_rms)
    reach = (np.abs(bias_q) + 3.0 * acc_rms) * in_q[0] * scales  # real units
    span = float(reach.max()) or 1.0
    bias = bias_q.astype(np.int64 if dtype == "int16" else np.int32)
    if dtype == "int16":
        return bias, (float(np.float32(span / 32767.0)), 0)
    return bias, (float(np.float32(2.0 * span / 255.0)), int(rng.integers(-16, 17)))


def out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """TFLite's output extent (dilation 1)."""
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


def _padding(p: str | None) -> int:
    return SAME if p == "same" else VALID


def _model_input(net: Net, shape, dtype: str, which: str, seed: int, shared: dict | None) -> tuple[int, tuple[float, int]]:
    """A graph input of `shape` (its quantization drawn from the shape, the type and `which` alone, so every
    layer reading such an input sees the same one): made once per model where `shared` (a dict) keeps them."""
    key = f"in_{'x'.join(str(d) for d in shape[1:])}_{dtype}_{which}"
    if shared is not None and key in shared:
        return shared[key]
    q = _input_quant(dtype, np.random.default_rng([seed, _stable_hash(key)]))
    found = (net.input(shape, dtype, q, name=key), q)
    if shared is not None:
        shared[key] = found
    return found


def add_layer(net: Net, row: dict, rng: np.random.Generator, seed: int = 0, shared: dict | None = None) -> None:
    """Write the layer of sweep `row` into `net`, reading graph inputs named after their shape and type
    (one per model for all layers of that input shape where `shared` is a dict: fewer bytes to load) and
    writing its own graph output, named ROW_ID. The inputs' quantization depends on their shape and type
    only, and `rng` draws the rest: a layer is the same whatever model it is in."""
    op, dtype, rid = row["op"], row["dtype"], row["id"]
    h, w, c = row["in"]
    x_shape = (1, c) if op == "FULLY_CONNECTED" else (1, h, w, c)
    x, in_q = _model_input(net, x_shape, dtype, "x", seed, shared)
    bias_type = "int64" if dtype == "int16" else "int32"
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        oc = row["out"][2]
        per_channel = row["weights"] == "per_channel"
        w_zp = int(row.get("weight_zero_point") or 0)
        if op == "CONV_2D":
            kh, kw = row["kernel"]
            shape, axis = (oc, kh, kw, c), 0
        elif op == "DEPTHWISE_CONV_2D":
            kh, kw = row["kernel"]
            shape, axis = (1, kh, kw, oc), 3
        else:
            shape, axis = (oc, c), 0
        wq, w_scales = _weights(rng, shape, axis if per_channel else None, w_zp)
        bias, out_q = _bias_and_output(rng, dtype, in_q, wq, w_scales, w_zp, axis, oc)
        if per_channel:
            wt_q = (w_scales, [0] * oc, axis)
            b_q = ((np.float32(in_q[0]) * w_scales).astype(np.float32), [0] * oc, 0)
        else:
            wt_q = (float(w_scales[0]), w_zp)
            b_q = (float(np.float32(in_q[0]) * w_scales[0]), 0)
        wt = net.const(wq, "int8", wt_q, name=f"{rid}.weights")
        b = net.const(bias, bias_type, b_q, name=f"{rid}.bias")
        if op == "FULLY_CONNECTED":
            y = net.tensor((1, oc), dtype, out_q, name=rid)
            opts = options("FullyConnectedOptionsT", fusedActivationFunction=0)
        else:
            oh, ow = row["out"][:2]
            y = net.tensor((1, oh, ow, oc), dtype, out_q, name=rid)
            sh, sw = row["stride"]
            common = {"padding": _padding(row["padding"]), "strideH": sh, "strideW": sw, "fusedActivationFunction": 0}
            if op == "CONV_2D":
                opts = options("Conv2DOptionsT", **common)
            else:
                opts = options("DepthwiseConv2DOptionsT", depthMultiplier=row["depth_multiplier"], **common)
        net.add_op(op, [x, wt, b], [y], opts)
    elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        kh, kw = row["kernel"]
        sh, sw = row["stride"]
        oh, ow, oc = row["out"]
        y = net.tensor((1, oh, ow, oc), dtype, in_q, name=rid)  # pooling keeps the input's quantization
        net.add_op(op, [x], [y], options("Pool2DOptionsT", padding=_padding(row["padding"]), strideH=sh, strideW=sw,
                                         filterHeight=kh, filterWidth=kw, fusedActivationFunction=0))
    elif op == "ADD":
        x2, q2 = _model_input(net, x_shape, dtype, "y", seed, shared)
        reach = 3.0 * np.hypot(in_q[0] * _input_rms(dtype, in_q[1]), q2[0] * _input_rms(dtype, q2[1]))
        if dtype == "int16":
            out_q = (float(np.float32(reach / 32767.0)), 0)
        else:
            out_q = (float(np.float32(2.0 * reach / 255.0)), int(rng.integers(-16, 17)))
        y = net.tensor((1, h, w, c), dtype, out_q, name=rid)
        net.add_op("ADD", [x, x2], [y], options("AddOptionsT", fusedActivationFunction=0, potScaleInt16=False))
    else:
        raise ValueError(f"sweep row {rid}: no layer writer for {op}")
    net.outputs.append(y)


def rows_model(rows: Sequence[dict], seed: int = 0) -> bytes:
    """One .tflite holding the layer of each row side by side (one activation type for all): each writes its
    own output; layers of one input shape read the same graph input."""
    dtypes = {r["dtype"] for r in rows}
    if len(dtypes) != 1:
        raise ValueError(f"rows_model: one activation type per model, got {sorted(dtypes)}")
    net = LayerNet(dtypes.pop())
    shared: dict = {}
    for row in rows:  # a row's layer is the same whatever model it is in
        add_layer(net, row, np.random.default_rng([seed, _stable_hash(row["id"])]), seed, shared)
    net.m.description = "tinyq sweep: " + ", ".join(r["id"] for r in rows)
    return net.bytes()


def _stable_hash(text: str) -> int:
    """A seed from `text` that does not change between Python processes (hash() does)."""
    import zlib

    return zlib.crc32(text.encode())
