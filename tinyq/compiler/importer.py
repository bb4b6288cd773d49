"""Read a .tflite flatbuffer into tinyq's IR, through the schema module ai_edge_litert ships.

Everything that makes a model unusable is rejected here with one line naming the fix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, UnsupportedModel
from tinyq.ir import NUMPY_DTYPES, Graph, Op, Quant, Tensor

try:  # the schema module lives in ai_edge_litert; older installs had it in tflite_runtime
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - depends on the environment
    schema = None

_OP_NAMES = None
_TYPE_NAMES = None



def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def op_names() -> dict[int, str]:
    global _OP_NAMES
    if _OP_NAMES is None:
        _OP_NAMES = _enum_names(schema.BuiltinOperator)
    return _OP_NAMES


def type_names() -> dict[int, str]:
    global _TYPE_NAMES
    if _TYPE_NAMES is None:
        _TYPE_NAMES = {k: v.lower() for k, v in _enum_names(schema.TensorType).items()}
    return _TYPE_NAMES


def read_model(path: Path):
    """Parse a .tflite file into the schema's object API (ModelT); bad files are BadInput."""
    if schema is None:  # pragma: no cover
        raise BadInput("ai_edge_litert is not installed: run `pip install ai-edge-litert`")
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path} is a directory, not a .tflite file: give the .tflite path (run `tinyq convert` for a SavedModel)")
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file: check the path") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read it ({e.strerror}): check the path and permissions") from None
    return _parse(buf, path), buf


def _parse(buf: bytes, path: Path):
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise BadInput(f"{path} is not a TFLite flatbuffer (no TFL3 identifier): give a .tflite file written by `tinyq convert`")
    try:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception:
        raise BadInput(f"{path} is corrupt or truncated ({len(buf)} bytes): re-export it with `tinyq convert`") from None
    if not model.subgraphs:
        raise BadInput(f"{path} has no subgraph: re-export it with `tinyq convert`")
    return model


def _buffer_data(model, buf: bytes, index: int, path: Path) -> bytes | None:
    if index <= 0 or index >= len(model.buffers or []):
        return None
    b = model.buffers[index]
    if b.offset and b.offset > 1:  # large models keep data outside the flatbuffer
        end = b.offset + b.size
        if end > len(buf):
            raise BadInput(f"{path} is truncated: buffer {index} ends at byte {end} of {len(buf)}: re-export the model")
        return bytes(buf[b.offset:end])
    if b.data is None or len(b.data) == 0:
        return None
    return np.asarray(b.data, dtype=np.uint8).tobytes()


def _quant(t) -> Quant | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scale = tuple(float(np.float32(s)) for s in q.scale)
    zps = q.zeroPoint if q.zeroPoint is not None else [0] * len(scale)
    return Quant(scale=scale, zero_point=tuple(int(z) for z in zps), axis=int(q.quantizedDimension or 0))


def import_model(path: Path) -> Graph:
    """Read `path` into a Graph. Structure is checked here, and the two TFLite modes that dequantize
    weights at run time (dynamic-range, float16) are named; passes.check_types validates the rest."""
    model, buf = read_model(path)
    path = Path(path)
    if len(model.subgraphs) > 1:
        raise UnsupportedModel(
            f"{path} has {len(model.subgraphs)} subgraphs (control flow such as WHILE/IF): "
            "tinyq compiles single-subgraph models; remove control flow from the Keras model"
        )
    sg = model.subgraphs[0]
    names = type_names()
    # Tensors named only as some operator's intermediates may be empty: they carry quantization, not data.
    used = {int(x) for o in (sg.operators or []) for x in [*(o.inputs if o.inputs is not None else []),
                                                          *(o.outputs if o.outputs is not None else [])]}
    used |= {int(x) for x in [*sg.inputs, *sg.outputs]}
    tensors: list[Tensor] = []
    for i, t in enumerate(sg.tensors or []):
        dtype = names.get(t.type, f"type{t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        sig = t.shapeSignature
        if sig is not None and len(sig) and any(int(d) < 0 for d in sig):
            sig = [int(d) for d in sig]
            if any(d < 0 for d in sig[1:]):
                raise UnsupportedModel(
                    f"tensor {i} '{_name(t)}' has dynamic shape {sig}: only the batch may be dynamic; "
                    "give the Keras Input a fixed shape and run `tinyq convert`"
                )
        if any(d <= 0 for d in shape) and shape and i in used:
            raise UnsupportedModel(
                f"tensor {i} '{_name(t)}' has shape {list(shape)}: shapes must be static and non-empty; run `tinyq convert`"
            )
        raw = _buffer_data(model, buf, t.buffer, path)
        data = None
        if raw is not None:
            if dtype not in NUMPY_DTYPES:
                raise UnsupportedModel(f"tensor {i} '{_name(t)}' has type {dtype.upper()}, which tinyq does not support")
            arr = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype])
            expected = int(np.prod(shape)) if shape else 1
            if arr.size != expected:
                raise BadInput(
                    f"{path} is corrupt: tensor {i} '{_name(t)}' holds {arr.size} values for shape {list(shape)}: re-export the model"
                )
            data = arr.reshape(shape).copy()
        tensors.append(Tensor(index=i, name=_name(t), shape=shape, dtype=dtype, quant=_quant(t), data=data,
                              variable=bool(t.isVariable)))

    ops_by_code = op_names()
    ops: list[Op] = []
    for k, o in enumerate(sg.operators or []):
        if o.opcodeIndex >= len(model.operatorCodes or []):
            raise BadInput(f"{path} is corrupt: operator {k} names opcode {o.opcodeIndex}: re-export the model")
        code = model.operatorCodes[o.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        kind = ops_by_code.get(builtin, f"BUILTIN_{builtin}")
        if kind == "CUSTOM":
            cname = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            kind = f"CUSTOM:{cname}"
        ins = [int(x) for x in (o.inputs if o.inputs is not None else [])]
        outs = [int(x) for x in (o.outputs if o.outputs is not None else [])]
        for x in ins + outs:
            if x >= len(tensors):
                raise BadInput(f"{path} is corrupt: operator {k} ({kind}) names tensor {x}: re-export the model")
        mids = [int(x) for x in (o.intermediates if o.intermediates is not None else [])]
        if any(x < 0 or x >= len(tensors) for x in mids):
            raise BadInput(f"{path} is corrupt: operator {k} ({kind}) names an intermediate tensor out of range: re-export the model")
        ops.append(Op(index=k, kind=kind, inputs=ins, outputs=outs, options=o.builtinOptions, intermediates=mids))

    g = Graph(
        tensors=tensors,
        ops=ops,
        inputs=[int(x) for x in sg.inputs],
        outputs=[int(x) for x in sg.outputs],
        name="model",
        source_sha256=hashlib.sha256(buf).hexdigest(),
    )
    reject_runtime_dequantization(g, path)
    return g


def quant_mode(g: Graph) -> str:
    """Which TFLite variant the graph is: "float16" (float16 weights, DEQUANTIZE to float32 at run time),
    "dynamic" (int8 weights, float activations), "float", "int16x8" (int16 activations, int8 weights) or
    "int8" (the rest, checked by check_types)."""

    def float_activation(i: int) -> bool:
        return i >= 0 and not g.tensor(i).is_const and g.tensor(i).dtype == "float32"

    if any(t.dtype == "float16" and t.is_const for t in g.tensors):
        return "float16"
    for op in g.ops:
        consts = [g.tensor(i) for i in op.inputs if i >= 0 and g.tensor(i).is_const]
        int8_weights = any(t.dtype == "int8" for t in consts)
        if op.kind == "DEQUANTIZE" and int8_weights:
            return "dynamic"  # weights expanded to float once per run
        if int8_weights and any(float_activation(i) for i in op.inputs + op.outputs):
            return "dynamic"  # hybrid kernel: float activations against int8 weights
    if any(float_activation(i) for op in g.ops if op.kind not in ("QUANTIZE", "DEQUANTIZE") for i in op.inputs + op.outputs):
        return "float"
    if any(t.dtype == "int16" and not t.is_const for t in g.tensors):
        return "int16x8"  # `tinyq convert --mode int16x8`: int16 activations, int8 weights (the _s16 lowerings in tinyq/ops/)
    return "int8"


_RUNTIME_DEQUANT = {
    "dynamic": (
        "a dynamic-range model (int8 weights, float activations): its kernels dequantize at run time in float, "
        "which a microcontroller build cannot run bit-exact and gains little"
    ),
    "float16": (
        "a float16 model (float16 weights, DEQUANTIZE to float32 at run time): every layer computes in float, "
        "which a microcontroller build cannot run bit-exact, and float16 only halves the weights"
    ),
}


def reject_runtime_dequantization(g: Graph, path: Path) -> None:
    """One line for the `tinyq convert --mode dynamic|float16` variants: why not, and what to run instead."""
    why = _RUNTIME_DEQUANT.get(quant_mode(g))
    if why is not None:
        raise UnsupportedModel(f"{Path(path).name} is {why}; convert with `tinyq convert MODEL -c CALIB` (full int8)")


def _name(t) -> str:
    n = t.name
    if isinstance(n, bytes):
        n = n.decode("utf-8", "replace")
    return n or ""
