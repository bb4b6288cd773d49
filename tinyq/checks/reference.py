"""The references tinyq is held to: TFLite's reference interpreter and TFLM's arena."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, CheckFailed

log = logging.getLogger(__name__)


# Files the reference interpreter refuses for a reason that does not change the arithmetic run on a
# normalized copy, and the Reference says so (`notes`), so a report can show what the reference ran:
# - BUILTIN_REF registers some ops only up to an older version than the converter writes (TILE up to v2
#   while the converter writes v3 for int8/int16; DEPTH_TO_SPACE v1 vs v2): the same kernel code runs the
#   newer files, only the registration is missing; the op version is lowered one step at a time;
# - float islands (tinyq.compiler.islands) holding a float op BUILTIN_REF lacks (ELU, ROUND, CEIL): each
#   such island is replaced by its table (filled on TFLite's BUILTIN kernels, as `tinyq build` does), looked
#   up with integer ops the reference has (CAST, ADD, GATHER), so the rest of the model is still checked;
# - tensors whose quantized_dimension is outside their rank (TFLM's person-detection model): with one
#   scale the axis means nothing and is read as 0; per-channel, the one axis as long as the scales.
_NO_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
MAX_LOWERED = 8


class Reference:
    """ai_edge_litert with the reference kernels (OpResolverType.BUILTIN_REF), all tensors kept."""

    def __init__(self, path: Path):
        self.notes: list[str] = []
        self._data = Path(path).read_bytes()  # the interpreter reads the model from these bytes: keep them
        for _ in range(MAX_LOWERED + 1):
            try:
                self.it = _interpreter(self._data)
                break
            except (ValueError, RuntimeError) as e:  # an op the reference kernels lack (ELU), a Prepare that refuses
                m = _NO_OP.search(str(e))
                fixed = None
                if len(self.notes) < MAX_LOWERED:
                    if m is not None and int(m.group(2)) > 1:
                        op, version = m.group(1), int(m.group(2))
                        self._data = _lower_op_version(self._data, op, version)
                        fixed = f"{op} v{version} run as v{version - 1} (BUILTIN_REF does not register v{version})"
                    elif m is not None and m.group(1) in _no_reference_kernel():
                        self._data, n = _tabulate_islands(self._data)
                        fixed = (f"{n} float islands holding {m.group(1)} (no BUILTIN_REF kernel) run as their tables, "
                                 "filled by TFLite's BUILTIN kernels" if n else None)
                    elif "quantized_dimension must be in range" in str(e):
                        self._data, n = _normalize_quantized_dimension(self._data)
                        fixed = f"{n} tensors' quantized_dimension (out of range) read as the axis it can only mean" if n else None
                if fixed is None:
                    log.debug("the reference interpreter refused %s", path, exc_info=True)
                    why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
                    raise CheckFailed(f"{path}: TFLite's reference interpreter (BUILTIN_REF) cannot run this model ({why[:200]}), "
                                      "so there is nothing to check tinyq's outputs against: `tinyq build` still compiles it") from None
                self.notes.append(fixed)
        self.inputs = self.it.get_input_details()
        self.outputs = self.it.get_output_details()
        # Keep the graph's order (details are sorted by tensor index, not by position).
        self._in_order = {d["index"]: d for d in self.inputs}
        self._out_order = {d["index"]: d for d in self.outputs}
        self.tensor_count = len(self.it.get_tensor_details())

    def run(self, inputs: list[np.ndarray], input_indices: list[int], output_indices: list[int]) -> list[np.ndarray]:
        for x, i in zip(inputs, input_indices):
            d = self._in_order[i]
            self.it.set_tensor(i, np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
        try:
            self.it.invoke()
        except RuntimeError as e:  # an input the model rejects at run time: an index out of range, a zero divisor
            why = " ".join(str(e).split())
            raise BadInput(f"TFLite's reference interpreter fails on this input ({why}): give inputs the model accepts "
                           "(indices within their axis, nonzero divisors)") from None
        return [self.it.get_tensor(i).copy() for i in output_indices]

    def tensor(self, index: int) -> np.ndarray:
        return self.it.get_tensor(index)


def _interpreter(data: bytes):
    from ai_edge_litert import interpreter as lrt

    it = lrt.Interpreter(
        model_content=data,
        experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    it.allocate_tensors()
    return it


def _lower_op_version(data: bytes, op: str, version: int) -> bytes:
    """The model with every operator code `op` at `version` set to `version - 1`."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    for code in model.operatorCodes or []:
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if names.get(builtin) == op and int(code.version) == version:
            code.version = version - 1
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _no_reference_kernel() -> tuple[str, ...]:
    from tinyq.compiler.islands import NO_REFERENCE_KERNEL

    return NO_REFERENCE_KERNEL


def _tabulate_islands(data: bytes) -> tuple[bytes, int]:
    """The model with each float island that holds an op BUILTIN_REF lacks replaced by a lookup of its table
    (source -> CAST to int32 -> ADD the offset of the type's minimum -> GATHER from the table, RESHAPE to the
    exit's shape where it differs). Tensor indices of the rest of the graph are unchanged. Returns the bytes
    and how many islands changed."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from tinyq.compiler.importer import import_model, op_names
    from tinyq.compiler.islands import NO_REFERENCE_KERNEL, find_islands, island_tables

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(data)
        g = import_model(path)
    islands = [isl for isl in find_islands(g).islands if set(isl.kinds()) & set(NO_REFERENCE_KERNEL)]
    if not islands:
        return data, 0
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    sg = model.subgraphs[0]
    codes = {name: code for code, name in op_names().items()}
    type_code = {"int8": schema.TensorType.INT8, "int16": schema.TensorType.INT16, "int32": schema.TensorType.INT32}

    def opcode(kind: str) -> int:
        for k, c in enumerate(model.operatorCodes):
            if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == codes[kind]:
                return k
        c = schema.OperatorCodeT()
        c.builtinCode = codes[kind]
        c.deprecatedBuiltinCode = min(codes[kind], 127)
        c.version = 1
        model.operatorCodes.append(c)
        return len(model.operatorCodes) - 1

    def tensor(shape, dtype: str, values=None, like: int | None = None) -> int:
        t = schema.TensorT()
        t.shape = list(shape)
        t.type = type_code[dtype]
        t.name = f"tinyq/island_table_{len(sg.tensors)}"
        if like is not None:
            t.quantization = sg.tensors[like].quantization
        b = schema.BufferT()
        if values is not None:
            b.data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
        model.buffers.append(b)
        t.buffer = len(model.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def operator(kind: str, ins: list[int], outs: list[int], options_type: int = 0, options=None):
        o = schema.OperatorT()
        o.opcodeIndex = opcode(kind)
        o.inputs, o.outputs = ins, outs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    replaced: dict[int, list] = {}
    drop: set[int] = set()
    for isl in islands:
        tables, _ = island_tables(g, isl)
        src = g.tensor(isl.source)
        info = np.iinfo(np.dtype(src.dtype))
        wide = tensor(src.shape, "int32")
        index = tensor(src.shape, "int32")
        offset = tensor((), "int32", np.array([-info.min], dtype=np.int32))
        chain = [operator("CAST", [isl.source], [wide]), operator("ADD", [wide, offset], [index], schema.BuiltinOptions.AddOptions,
                                                                  schema.AddOptionsT())]
        values = np.arange(info.min, info.max + 1, dtype=np.int64)
        for e in isl.exits:
            by_value = tables[e][values & (len(values) - 1)]
            table = tensor((len(values),), g.tensor(e).dtype, by_value, like=e)
            gathered = e if tuple(g.tensor(e).shape) == tuple(src.shape) else tensor(src.shape, g.tensor(e).dtype, like=e)
            opts = schema.GatherOptionsT()
            opts.axis = 0
            chain.append(operator("GATHER", [table, index], [gathered], schema.BuiltinOptions.GatherOptions, opts))
            if gathered != e:
                shape = tensor((len(g.tensor(e).shape),), "int32", np.array(g.tensor(e).shape, dtype=np.int32))
                chain.append(operator("RESHAPE", [gathered, shape], [e]))
        drop |= {op.index for op in isl.ops}
        replaced[min(op.index for op in isl.ops)] = chain
    ops = []
    for k, o in enumerate(sg.operators):
        ops.extend(replaced.get(k, []))
        if k not in drop:
            ops.append(o)
    sg.operators = ops
    # The interpreter resolves every operator code, used or not: drop the codes no operator names any more.
    used = sorted({o.opcodeIndex for g_ in model.subgraphs for o in (g_.operators or [])})
    remap = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[k] for k in used]
    for g_ in model.subgraphs:
        for o in g_.operators or []:
            o.opcodeIndex = remap[o.opcodeIndex]
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), len(islands)


def _normalize_quantized_dimension(data: bytes) -> tuple[bytes, int]:
    """The model with every quantized_dimension outside its tensor's rank set to the axis it can only mean (old
    converters wrote 3 on tensors of any rank, and the interpreter refuses the file): 0 where there is one
    scale (the axis means nothing), else the one axis as long as the scales (a rank-1 per-channel bias: 0);
    ambiguous ones are left. Returns the bytes and how many tensors changed."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    n = 0
    for sg in model.subgraphs or []:
        for t in sg.tensors or []:
            q = t.quantization
            shape = [int(d) for d in t.shape] if t.shape is not None else []
            if q is None or q.scale is None or 0 <= int(q.quantizedDimension) < max(len(shape), 1):
                continue
            if len(q.scale) <= 1:
                q.quantizedDimension = 0
                n += 1
            else:  # per-channel (TFLM's person-detection biases: rank 1, dimension 3): the one axis that fits
                fits = [a for a, d in enumerate(shape) if d == len(q.scale)]
                if len(fits) == 1:
                    q.quantizedDimension = fits[0]
                    n += 1
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), n


def tflm_missing_reason() -> str:
    """Why tflm_arena_bytes gave no figure: the package is absent, or TFLM's interpreter refused the model."""
    import importlib.util

    if importlib.util.find_spec("tflite_micro") is None:
        return "tflite-micro not installed"
    return "TFLM's interpreter could not allocate this model"


def tflm_arena_bytes(path: Path) -> int | None:
    """TFLM's arena for the model, from the tflite-micro package's host interpreter (None if unavailable)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        log.debug("tflite-micro is not installed: no TFLM arena figure", exc_info=True)
        return None
    # print_allocations() writes from C++ straight to fd 1 or fd 2 (it changed between releases):
    # capture both through a temporary file.
    import sys

    with tempfile.TemporaryFile(mode="w+b") as cap:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(cap.fileno(), 1)
            os.dup2(cap.fileno(), 2)
            try:
                it = runtime.Interpreter.from_file(str(path))
                it.print_allocations()
            except Exception:  # TFLM refuses the model (an op it lacks, say): the figure is "n/a", not an error
                log.debug("TFLM's interpreter could not allocate %s", path, exc_info=True)
                return None
            finally:
                import ctypes

                ctypes.CDLL(None).fflush(None)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        cap.seek(0)
        text = cap.read().decode("utf-8", "replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None
