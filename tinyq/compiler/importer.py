"""Read a .tflite flatbuffer into tinyq's IR, through the schema module ai_edge_litert ships.

Everything that makes a model unusable is rejected here with one line naming the fix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, UnsupportedModel
from tinyq.ir import NUMPY_DTYPES, Graph, Op, Quant, Tensor, WeightPack

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
    weights at run time (dynamic-range, float16) are named; passes.check_types validates the rest.

    Only the first subgraph runs; further ones are accepted where they are a CALL_ONCE's init subgraph
    (resource variables, see `_resource_variables`): anything else that calls a subgraph (WHILE, IF)
    is control flow, refused naming the op."""
    model, buf = read_model(path)
    path = Path(path)
    inits = _init_subgraphs(model, path)
    sg = model.subgraphs[0]
    tensors = _tensors(model, sg, buf, path)
    ops_by_code = op_names()
    ops: list[Op] = []
    for k, o in enumerate(sg.operators or []):
        if o.opcodeIndex >= len(model.operatorCodes or []):
            raise BadInput(f"{path} is corrupt: operator {k} names opcode {o.opcodeIndex}: re-export the model")
        kind = _kind(model, o, ops_by_code)
        ins = [int(x) for x in (o.inputs if o.inputs is not None else [])]
        outs = [int(x) for x in (o.outputs if o.outputs is not None else [])]
        for x in ins + outs:
            if x >= len(tensors) or x < -1 or (x == -1 and x in outs):
                raise BadInput(f"{path} is corrupt: operator {k} ({kind}) names tensor {x} of {len(tensors)}: re-export the model")
        if not outs and kind not in NO_OUTPUT_OPS:
            raise BadInput(f"{path} is corrupt: operator {k} ({kind}) writes no tensor: re-export the model")
        mids = [int(x) for x in (o.intermediates if o.intermediates is not None else [])]
        if any(x < 0 or x >= len(tensors) for x in mids):
            raise BadInput(f"{path} is corrupt: operator {k} ({kind}) names an intermediate tensor out of range: re-export the model")
        ops.append(Op(index=k, kind=kind, inputs=ins, outputs=outs, options=_options(kind, o), intermediates=mids))

    ends = {}
    for what, xs in (("input", sg.inputs), ("output", sg.outputs)):
        ends[what] = [int(x) for x in (xs if xs is not None else [])]
        for x in ends[what]:
            if not 0 <= x < len(tensors):
                raise BadInput(f"{path} is corrupt: the model {what}s name tensor {x} of {len(tensors)}: re-export the model")
    _check_dataflow(tensors, ops, ends["input"], path)
    g = Graph(
        tensors=tensors,
        ops=ops,
        inputs=ends["input"],
        outputs=ends["output"],
        name="model",
        source_sha256=hashlib.sha256(buf).hexdigest(),
    )
    for t in g.tensors:
        if t.variable and t.is_const:
            raise UnsupportedModel(
                f"tensor {t.index} '{t.name}' is a variable tensor with data, which TFLite's interpreter refuses too "
                "(\"not supported now\"): re-export the model"
            )
        if t.variable and t.index in g.inputs + g.outputs:
            raise UnsupportedModel(
                f"tensor {t.index} '{t.name}' is a variable tensor and a model input or output: tinyq keeps state "
                "inside the model (outputs are written, not kept): re-export the model"
            )
    _resource_variables(g, model, buf, path, inits)
    reject_runtime_dequantization(g, path)
    _check_int4_readers(g)
    g.weight_hints = _weight_hints(model, buf, path)
    return g


# --------------------------------------------------------------------------- packed weights


def _int4_tensor(i: int, name: str, shape: tuple[int, ...], raw: bytes, quant: Quant | None, path: Path) -> Tensor:
    """A constant INT4 tensor, unpacked to int8 once (tinyq.compiler.packing keeps it packed in flash).

    TFLite's layout (tensor_utils::UnpackDenseInt4IntoInt8): the whole tensor densely, two values a byte,
    element 2k in the low nibble of byte k and 2k + 1 in its high nibble, each a two's complement int4;
    an odd count ends with a byte whose high nibble is unused."""
    n = int(np.prod(shape)) if shape else 1
    nbytes = (n + 1) // 2
    if len(raw) < nbytes:
        raise BadInput(f"{path} is corrupt: INT4 tensor {i} '{name}' has {len(raw)} bytes of data, fewer than the {nbytes} "
                       f"its {n} packed values take: re-export the model")
    b = np.frombuffer(raw[:nbytes], dtype=np.uint8).astype(np.int16)
    both = np.stack([b & 0xF, b >> 4], axis=1).reshape(-1)[:n]
    data = np.where(both >= 8, both - 16, both).astype(np.int8).reshape(shape)
    if quant is not None and any(not -8 <= z <= 7 for z in quant.zero_point):
        z = next(z for z in quant.zero_point if not -8 <= z <= 7)
        raise BadInput(f"{path} is corrupt: INT4 tensor {i} '{name}' has zero point {z}, outside int4's range [-8, 7]: "
                       "re-export the model")
    return Tensor(index=i, name=name, shape=shape, dtype="int8", quant=quant, data=data,
                  pack=WeightPack(4, "linear", "int4"))


INT4_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _check_int4_readers(g: Graph) -> None:
    """An INT4 tensor is read only as the weights (input 1) of CONV_2D, DEPTHWISE_CONV_2D or
    FULLY_CONNECTED: the only places tinyq has packed kernels for."""
    for op in g.ops:
        for pos, i in enumerate(op.inputs):
            t = g.tensor(i) if i >= 0 else None
            if t is not None and t.pack is not None and t.pack.source == "int4" and (op.kind not in INT4_WEIGHT_OPS or pos != 1):
                raise UnsupportedModel(
                    f"operator {op.index} ({op.kind}) reads INT4 tensor {i} '{t.name}' as input {pos}: tinyq takes INT4 only "
                    "as the weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED; quantize the others to int8"
                )


def _weight_hints(model, buf: bytes, path: Path) -> dict[str, tuple[int, str]]:
    """The "tinyq.weights" metadata entry (tinyq.compiler.packing.read_hints), or none."""
    from tinyq.compiler.packing import METADATA_NAME, read_hints

    for m in model.metadata or []:
        name = m.name.decode("utf-8", "replace") if isinstance(m.name, bytes) else str(m.name or "")
        if name != METADATA_NAME:
            continue
        raw = _buffer_data(model, buf, int(m.buffer), path)
        if raw is None:
            raise BadInput(f"{path}: the {METADATA_NAME} metadata names buffer {m.buffer}, which holds no data: re-export the model")
        return read_hints(raw, str(path))
    return {}


def _check_dataflow(tensors: list[Tensor], ops: list[Op], inputs: list[int], path: Path) -> None:
    """Operators in an order that runs: each tensor written once, and read only after it is written
    (or never written: a constant, a model input, a variable, a resource handle's result). So no graph
    with a cycle, a tensor written twice or read before it exists reaches the passes."""
    written: dict[int, int] = {}
    for o in ops:
        for x in o.outputs:
            if x in written or x in inputs or tensors[x].is_const:
                what = "a model input" if x in inputs else "a constant" if tensors[x].is_const else f"operator {written[x]}'s output"
                raise BadInput(f"{path} is corrupt: operator {o.index} ({o.kind}) writes tensor {x}, which is {what}: "
                               "re-export the model")
            written[x] = o.index
    done: set[int] = set()
    for o in ops:
        for x in o.inputs:
            if x >= 0 and x in written and x not in done:
                raise BadInput(f"{path} is corrupt: operator {o.index} ({o.kind}) reads tensor {x} before operator "
                               f"{written[x]} writes it (a cycle, or operators out of order): re-export the model")
            t = tensors[x] if x >= 0 else None
            if t is not None and x not in written and x not in inputs and not t.is_const and not t.variable and t.size:
                raise BadInput(f"{path} is corrupt: operator {o.index} ({o.kind}) reads tensor {x} '{t.name}', which no "
                               "operator writes and which is neither a model input nor a constant: re-export the model")
        done.update(o.outputs)


def _kind(model, o, ops_by_code: dict[int, str]) -> str:
    code = model.operatorCodes[o.opcodeIndex]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    kind = ops_by_code.get(builtin, f"BUILTIN_{builtin}")
    if kind == "CUSTOM":
        cname = code.customCode.decode("utf-8", "replace") if isinstance(code.customCode, bytes) else str(code.customCode)
        kind = f"CUSTOM:{_printable(cname)}"
    return kind


# A zero point is a value of its tensor's type (one outside it would be wrapped where kernels store it).
ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}

# Operators that write no tensor (every other one has an output).
NO_OUTPUT_OPS = ("ASSIGN_VARIABLE", "CALL_ONCE")

# Builtin operators whose options table is not named after them (the rest: CONV_2D -> Conv2DOptions).
_OPTIONS_OF = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions", "REDUCE_ALL": "ReducerOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions", "L2_NORMALIZATION": "L2NormOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions", "RANDOM_UNIFORM": "RandomOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions", "MULTINOMIAL": "RandomOptions",
}


def _options(kind: str, o):
    """The operator's builtin options, or None where they are not the table its kind reads: TFLite reads
    options of another type as none (its parser asks for builtin_options_as_<the op's table>), so do we;
    no pass then meets, say, an ADD holding Conv2DOptions."""
    opts = o.builtinOptions
    if opts is None:
        return None
    want = _OPTIONS_OF.get(kind, kind.replace("_", "") + "Options")
    return opts if type(opts).__name__[:-1].lower() == want.lower() else None


def _tensors(model, sg, buf: bytes, path: Path) -> list[Tensor]:
    """One subgraph's tensors, shapes and constant data checked."""
    names = type_names()
    # Tensors named only as some operator's intermediates may be empty: they carry quantization, not data.
    used = {int(x) for o in (sg.operators or []) for x in [*(o.inputs if o.inputs is not None else []),
                                                          *(o.outputs if o.outputs is not None else [])]}
    used |= {int(x) for x in [*(sg.inputs if sg.inputs is not None else []), *(sg.outputs if sg.outputs is not None else [])]}
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
        nbuf = len(model.buffers or [])
        if t.buffer < 0 or 0 < t.buffer >= nbuf:  # TFLite refuses it too ("specifies out of range buffer")
            raise BadInput(f"{path} is corrupt: tensor {i} '{_name(t)}' names buffer {t.buffer} of {nbuf}: re-export the model")
        raw = _buffer_data(model, buf, t.buffer, path)
        if dtype == "int4" and raw is not None:
            tensors.append(_int4_tensor(i, _name(t), shape, raw, _quant(t), path))
            continue
        if i in used and dtype not in NUMPY_DTYPES and dtype != "resource":  # resource: _resource_variables
            raise UnsupportedModel(f"tensor {i} '{_name(t)}' has type {dtype.upper()}, which tinyq does not support")
        data = None
        if raw is not None:
            if dtype not in NUMPY_DTYPES:
                raise UnsupportedModel(f"tensor {i} '{_name(t)}' has type {dtype.upper()}, which tinyq does not support")
            item = np.dtype(NUMPY_DTYPES[dtype]).itemsize
            if len(raw) % item:
                raise BadInput(f"{path} is corrupt: tensor {i} '{_name(t)}' has {len(raw)} bytes of data, not a whole number "
                               f"of {dtype} values: re-export the model")
            arr = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype])
            expected = int(np.prod(shape)) if shape else 1
            if arr.size != expected:
                raise BadInput(
                    f"{path} is corrupt: tensor {i} '{_name(t)}' holds {arr.size} values for shape {list(shape)}: re-export the model"
                )
            data = arr.reshape(shape).copy()
        quant = _quant(t)
        lo, hi = ZERO_POINT_RANGE.get(dtype, (None, None))
        if quant is not None and lo is not None and any(not lo <= z <= hi for z in quant.zero_point):
            z = next(z for z in quant.zero_point if not lo <= z <= hi)
            raise BadInput(f"{path} is corrupt: tensor {i} '{_name(t)}' has zero point {z}, outside {dtype}'s range "
                           f"[{lo}, {hi}] (TFLite's quantization spec): re-export the model")
        tensors.append(Tensor(index=i, name=_name(t), shape=shape, dtype=dtype, quant=quant, data=data,
                              variable=bool(t.isVariable)))
    return tensors


# --------------------------------------------------------------------------- subgraphs and resource variables

# What a CALL_ONCE init subgraph may hold: the converter's initialization of resource variables.
INIT_OPS = ("VAR_HANDLE", "ASSIGN_VARIABLE")


def _called(o) -> list[int]:
    """The subgraphs an operator runs (WHILE's cond and body, IF's branches, CALL_ONCE's init...)."""
    opts = o.builtinOptions
    if opts is None:
        return []
    out = []
    for attr, v in vars(opts).items():
        if attr.endswith("SubgraphIndex") and v is not None:
            out.append(int(v))
        elif attr.endswith("SubgraphIndices") and v is not None:
            out += [int(x) for x in v]
    return out


def _init_subgraphs(model, path: Path) -> list[int]:
    """The subgraphs the main one runs through CALL_ONCE; any other subgraph is refused in one line."""
    n = len(model.subgraphs)
    ops_by_code = op_names()
    inits: list[int] = []
    for k, sg in enumerate(model.subgraphs):
        for j, o in enumerate(sg.operators or []):
            called = _called(o)
            if not called or o.opcodeIndex >= len(model.operatorCodes or []):
                continue
            kind = _kind(model, o, ops_by_code)
            if kind != "CALL_ONCE" or k != 0:
                where = f"operator {j} ({kind})" + (f" of subgraph {k}" if k else "")
                raise UnsupportedModel(
                    f"{path} has control flow: {where} runs subgraph {', '.join(map(str, called))}; tinyq compiles one "
                    "subgraph (plus CALL_ONCE initialization of variables): remove WHILE/IF from the Keras model "
                    "(an RNN layer: unroll=True, or tf.keras.layers.RNN(..., unroll=True))"
                )
            for c in called:
                if not 0 < c < n:
                    raise BadInput(f"{path} is corrupt: operator {j} (CALL_ONCE) names subgraph {c} of {n}: re-export the model")
                inits.append(c)
    for k in range(1, n):
        if k not in inits:
            raise UnsupportedModel(
                f"{path} has {n} subgraphs and subgraph {k} ('{_name(model.subgraphs[k])}') is not run by the first one "
                "(several signatures?): tinyq compiles a single subgraph; convert one tf.function (one signature)"
            )
    return inits


def _key(op, what: str) -> str:
    """A VAR_HANDLE's variable: container and shared name (TFLite keys its resources by both)."""
    opts = op.builtinOptions
    container = getattr(opts, "container", None) or b""  # options of another type: none (TFLite's reading)
    shared = getattr(opts, "sharedName", None) or b""
    dec = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in (container, shared)]
    return _printable("/".join(x for x in dec if x)) or what


def _resource_variables(g: Graph, model, buf: bytes, path: Path, inits: list[int]) -> None:
    """Resource variables (`converter.experimental_enable_resource_variables`) as variable tensors.

    Each variable (a VAR_HANDLE's container and shared name) becomes one variable tensor appended to
    the graph, whose `initial` value is what the CALL_ONCE init subgraph assigns it (a constant);
    READ_VARIABLE reads it (its input) and ASSIGN_VARIABLE writes it (its output; the value is the
    input): tinyq.ops.variables copies the bytes, as TFLite does; VAR_HANDLE and CALL_ONCE leave the schedule: the generated reset() runs the
    initialization, before the first inference and at every reset."""
    ops_by_code = op_names()
    initial: dict[str, np.ndarray] = {}
    for k in inits:
        sg = model.subgraphs[k]
        tensors = _tensors(model, sg, buf, path)
        handles: dict[int, str] = {}
        for j, o in enumerate(sg.operators or []):
            kind = _kind(model, o, ops_by_code)
            ins = [int(x) for x in (o.inputs if o.inputs is not None else [])]
            outs = [int(x) for x in (o.outputs if o.outputs is not None else [])]
            if kind not in INIT_OPS:
                raise UnsupportedModel(
                    f"{path}: the CALL_ONCE init subgraph {k} computes ({kind}, operator {j}): tinyq runs init subgraphs "
                    "that assign constants to variables (tf.Variable with a constant initial value)"
                )
            if kind == "VAR_HANDLE":
                handles[outs[0]] = _key(o, f"variable {outs[0]} of subgraph {k}")
                continue
            if len(ins) != 2 or ins[0] not in handles or not tensors[ins[1]].is_const:
                raise UnsupportedModel(
                    f"{path}: the CALL_ONCE init subgraph {k} assigns a computed value (operator {j}): tinyq runs init "
                    "subgraphs that assign constants to variables (tf.Variable with a constant initial value)"
                )
            initial[handles[ins[0]]] = tensors[ins[1]].data
    handles: dict[int, str] = {}
    state: dict[str, int] = {}
    assigned: set[str] = set()
    kept: list[Op] = []
    for op in g.ops:
        if op.kind == "CALL_ONCE":
            continue
        if op.kind == "VAR_HANDLE":
            handles[op.outputs[0]] = _key(model.subgraphs[0].operators[op.index], f"variable {op.outputs[0]}")
            continue
        if op.kind in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            if not op.inputs or op.inputs[0] not in handles:
                raise UnsupportedModel(f"operator {op.index} ({op.kind}) reads a resource no VAR_HANDLE made: re-export the model")
            key = handles[op.inputs[0]]
            value = op.outputs[0] if op.kind == "READ_VARIABLE" else op.inputs[1]
            v = g.tensor(value)
            if key not in state:
                state[key] = _variable_tensor(g, key, v, initial.get(key), path)
            s = g.tensor(state[key])
            if (v.dtype, v.size) != (s.dtype, s.size):
                raise UnsupportedModel(
                    f"operator {op.index} ({op.kind}) moves {v.dtype} {list(v.shape)} through variable '{key}', which holds "
                    f"{s.dtype} {list(s.shape)}: a variable keeps one type and shape in tinyq"
                )
            if op.kind == "READ_VARIABLE":
                if key not in initial and key not in assigned:
                    raise UnsupportedModel(
                        f"operator {op.index} (READ_VARIABLE) reads variable '{key}' before any value is assigned "
                        "(TFLite's interpreter fails there too): give the tf.Variable an initial value"
                    )
                op.inputs = [s.index]
            else:
                assigned.add(key)
                op.inputs, op.outputs = [value], [s.index]  # the op writes the variable: its output
        elif any(i >= 0 and g.tensor(i).dtype == "resource" for i in op.inputs + op.outputs):
            raise UnsupportedModel(f"operator {op.index} ({op.kind}) takes a resource tensor: tinyq reads resources only "
                                   "through READ_VARIABLE and ASSIGN_VARIABLE")
        kept.append(op)
    if any(g.tensor(i).dtype == "resource" for i in g.inputs + g.outputs):
        raise UnsupportedModel(f"{path}: a model input or output is a resource: tinyq keeps variables inside the model")
    g.ops = kept


def _variable_tensor(g: Graph, key: str, like: Tensor, initial: np.ndarray | None, path: Path) -> int:
    """A new variable tensor holding resource variable `key`, shaped and typed as `like`."""
    if initial is not None:
        if NUMPY_DTYPES.get(like.dtype) != initial.dtype or initial.size != like.size:
            raise UnsupportedModel(
                f"{path}: variable '{key}' is initialized with {initial.dtype} {list(initial.shape)} but used as "
                f"{like.dtype} {list(like.shape)}: a variable keeps one type and shape in tinyq"
            )
        initial = initial.reshape(like.shape).copy()
    t = Tensor(index=len(g.tensors), name=f"variable {key}", shape=tuple(like.shape), dtype=like.dtype, quant=like.quant,
               variable=True, initial=initial)
    g.tensors.append(t)
    return t.index


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
        from tinyq.compiler.islands import island_op_indices

        islands = island_op_indices(g)  # float islands become tables: they do not make a float model
        if any(float_activation(i) for op in g.ops if op.kind not in ("QUANTIZE", "DEQUANTIZE") and op.index not in islands
               for i in op.inputs + op.outputs):
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
    """A tensor's (or subgraph's) name, printable: control characters (a newline, a NUL) are escaped, so a
    message naming it stays one line."""
    n = t.name
    if isinstance(n, bytes):
        n = n.decode("utf-8", "replace")
    return _printable(n or "")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
