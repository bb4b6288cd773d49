"""Float islands: where TensorFlow's quantizer leaves an elementwise op in float between integer tensors
(ELU, NEG from LayerNormalization, SIN, SQUARE, ...), it writes DEQUANTIZE -> float ops -> QUANTIZE. Each
output value of such an island is a function of one input value, so the island is a table: 256 entries
for an int8 input, 65,536 for an int16 one. The `float_islands` pass (before check_types) fills each table
by running the island alone, as a tiny .tflite, in TFLite's reference interpreter (BUILTIN_REF) on every
input value, and replaces the island by one FLOAT_ISLAND op (tinyq/ops/activation.py) that looks the
table up: bit-exact with the interpreter by construction, and the model compiles all-integer.

What is an island (find_islands): a connected set of ops joined by non-constant float32 (or bool)
tensors, where
- the float values enter only through DEQUANTIZE of one non-constant int8 or int16 tensor (the source),
- they leave only through QUANTIZE to int8 or int16 (the exits; one table each), never as a graph output,
- every other op is elementwise per value (ISLAND_OPS): each operand that is not a constant is a float or
  bool tensor of the island with as many elements as the source (no broadcast between them), and each
  constant operand holds one value repeated (so every element sees the same function); RESHAPE /
  EXPAND_DIMS / SQUEEZE keep the element order and may take any shape operand.
Anything else is not an island and keeps check_full_integer's refusal (Rejected names why).

The interpreter has no ELU, ROUND or CEIL among its reference kernels: an island holding one is run on
TFLite's builtin kernels instead (without the XNNPACK delegate; a note says so); `tinyq verify` checks
such a model against a reference copy in which that island is replaced by the same table
(checks/reference.py). Each table is filled twice, the values placed in two different orders over the
island's elements; a kernel whose result depended on the element's position would differ, and
the island is refused rather than tabulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import NUMPY_DTYPES, Graph, Op, Tensor

KIND = "FLOAT_ISLAND"  # the op an island becomes: inputs (source, table), output the exit tensor
VIEW_OPS = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")
# Ops computing each output element from the same element of each operand (and from nothing else).
ISLAND_OPS = frozenset({
    # unary
    "ABS", "CEIL", "COS", "ELU", "EXP", "FLOOR", "GELU", "HARD_SWISH", "LEAKY_RELU", "LOG", "LOGISTIC", "NEG",
    "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "ROUND", "RSQRT", "SIGN", "SIN", "SQRT", "SQUARE", "TANH",
    "LOGICAL_NOT",
    # binary and ternary, elementwise with broadcasting (constants only: see the module's docstring)
    "ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD", "PRELU",
    "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LOGICAL_OR",
    "SELECT", "SELECT_V2",
    *VIEW_OPS,
})
SOURCE_TYPES = ("int8", "int16")
EXIT_TYPES = ("int8", "int16")
INNER_TYPES = ("float32", "bool")  # the types of the values inside an island
NO_REFERENCE_KERNEL = ("ELU", "ROUND", "CEIL")  # float ops BUILTIN_REF does not register


@dataclass
class Island:
    """A DEQUANTIZE -> float ops -> QUANTIZE island: ops in schedule order, the integer tensor it reads,
    the integer tensors it writes (one table each)."""

    ops: list[Op]
    source: int
    exits: list[int]

    def kinds(self) -> list[str]:
        return [op.kind for op in self.ops]

    def describe(self, g: Graph) -> str:
        """One line: its ops, the types it maps and the table size."""
        src = g.tensor(self.source).dtype
        outs = sorted({g.tensor(e).dtype for e in self.exits})
        entries = 1 << (8 * np.dtype(NUMPY_DTYPES[src]).itemsize)
        inner = [k for k in self.kinds() if k not in ("DEQUANTIZE", "QUANTIZE")] or ["(none)"]
        tables = f"{len(self.exits)} tables" if len(self.exits) > 1 else "a table"
        return (f"ops {', '.join(str(op.index) for op in self.ops)} ({' -> '.join(['DEQUANTIZE', *inner, 'QUANTIZE'])}): "
                f"{src} -> {'/'.join(outs)}, {tables} of {entries:,} entries")


@dataclass
class Rejected:
    """A set of float ops that is not an island, why, and the op that breaks it (None: the set as a whole)."""

    ops: list[Op]
    reason: str
    culprit: Op | None = None


@dataclass
class Found:
    islands: list[Island] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _inner(t: Tensor) -> bool:
    return not t.is_const and t.dtype in INNER_TYPES


def find_islands(g: Graph) -> Found:
    """The graph's float islands, and the other groups of ops joined by float tensors (Rejected)."""
    touching = [op for op in g.ops if any(i >= 0 and _inner(g.tensor(i)) for i in op.inputs + op.outputs)]
    # Group the ops joined by inner tensors (union-find on op positions).
    parent = list(range(len(touching)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    first_op: dict[int, int] = {}
    for k, op in enumerate(touching):
        for i in op.inputs + op.outputs:
            if i >= 0 and _inner(g.tensor(i)):
                if i in first_op:
                    parent[root(k)] = root(first_op[i])
                else:
                    first_op[i] = k
    groups: dict[int, list[Op]] = {}
    for k, op in enumerate(touching):
        groups.setdefault(root(k), []).append(op)
    found = Found()
    for ops in groups.values():
        island = _check_group(g, ops)
        if isinstance(island, Island):
            found.islands.append(island)
        else:
            reason, culprit = island
            found.rejected.append(Rejected(ops, reason, culprit))
    return found


def _check_group(g: Graph, ops: list[Op]) -> "Island | tuple[str, Op | None]":
    """The group as an Island, or why it is not one and the op that breaks it."""
    sources = {op.inputs[0] for op in ops if op.kind == "DEQUANTIZE" and op.inputs and op.inputs[0] >= 0}
    if not sources:
        return "its float values do not come from a DEQUANTIZE of an integer tensor", None
    if len(sources) > 1:
        return f"it reads {len(sources)} integer tensors (a table maps one)", None
    source = next(iter(sources))
    src = g.tensor(source)
    if src.is_const:
        return "it dequantizes a constant (weights computed in float at run time)", None
    if src.dtype not in SOURCE_TYPES or src.quant is None or src.quant.per_channel:
        return f"its DEQUANTIZE reads a {src.dtype} tensor that is not quantized per tensor (int8 or int16 are)", None
    size = src.size
    graph_edges = set(g.inputs) | set(g.outputs)
    exits: list[int] = []
    for op in ops:
        what = f"op {op.index} ({op.kind})"
        if op.kind == "DEQUANTIZE":
            continue
        if op.kind == "QUANTIZE":
            out = g.tensor(op.outputs[0])
            if out.dtype not in EXIT_TYPES or out.quant is None or out.quant.per_channel:
                return f"{what} writes {out.dtype}, not int8 or int16 quantized per tensor", op
            exits.append(out.index)
            continue
        if op.kind not in ISLAND_OPS:
            return f"{what} is not elementwise", op
        for i in op.inputs:
            if i < 0:
                continue
            t = g.tensor(i)
            if t.is_const:
                if op.kind in VIEW_OPS:
                    continue  # the new shape
                if t.dtype not in INNER_TYPES or (t.data.size > 1 and not np.all(t.data == t.data.flat[0])):
                    return f"{what} takes a constant that is not one value repeated (tensor '{t.name}')", op
            elif not _inner(t):
                return f"{what} also reads the {t.dtype} tensor '{t.name}'", op
        for o in op.outputs:
            if g.tensor(o).size != size:
                return f"{what} writes {g.tensor(o).size} values from {size} (not elementwise)", op
    for op in ops:
        for i in op.inputs + op.outputs:
            if i >= 0 and _inner(g.tensor(i)) and i in graph_edges:
                return f"its float tensor '{g.tensor(i).name}' is a graph input or output", None
    if not exits:
        return "its float values never reach a QUANTIZE", None
    return Island(ops=ops, source=source, exits=exits)


# --------------------------------------------------------------------------- tables


def island_tflite(g: Graph, island: Island) -> tuple[bytes, dict[int, int]]:
    """The island alone as a .tflite: the source as the graph input, the exits as outputs, the island's
    ops with their options and constants (operator versions 1: what every resolver registers). Returns
    the bytes and the new index of each of the graph's tensors it holds."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    m.operatorCodes = []
    index: dict[int, int] = {}
    tensors = []

    def tensor(i: int) -> int:
        if i < 0:
            return -1
        if i not in index:
            t = g.tensor(i)
            tt = s.TensorT()
            tt.shape, tt.type, tt.name, tt.buffer = list(t.shape), getattr(s.TensorType, t.dtype.upper()), t.name, 0
            if t.is_const:
                b = s.BufferT()
                b.data = np.frombuffer(np.ascontiguousarray(t.data).tobytes(), np.uint8).tolist()
                m.buffers.append(b)
                tt.buffer = len(m.buffers) - 1
            if t.quant is not None:
                qp = s.QuantizationParametersT()
                qp.scale, qp.zeroPoint = list(t.quant.scale), list(t.quant.zero_point)
                qp.quantizedDimension = t.quant.axis
                tt.quantization = qp
            index[i] = len(tensors)
            tensors.append(tt)
        return index[i]

    codes: list[int] = []
    operators = []
    for op in island.ops:
        code = getattr(s.BuiltinOperator, op.kind)
        if code not in codes:
            c = s.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
            m.operatorCodes.append(c)
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs = [tensor(i) for i in op.inputs]
        o.outputs = [tensor(i) for i in op.outputs]
        if op.options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(op.options).__name__[:-1])
            o.builtinOptions = op.options
        operators.append(o)
    sg = s.SubGraphT()
    sg.inputs = [tensor(island.source)]
    sg.outputs = [tensor(e) for e in island.exits]
    sg.tensors, sg.operators = tensors, operators
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), index


def _interpreter(data: bytes, kinds: list[str]):
    """The interpreter on the reference kernels, or on the builtin ones where BUILTIN_REF lacks an op of
    the island's (NO_REFERENCE_KERNEL); returns it and which resolver it runs."""
    from ai_edge_litert import interpreter as lrt

    resolver = "BUILTIN" if any(k in NO_REFERENCE_KERNEL for k in kinds) else "BUILTIN_REF"
    # BUILTIN without XNNPACK: TFLite's own builtin kernels, not a delegate's
    kind = "BUILTIN_WITHOUT_DEFAULT_DELEGATES" if resolver == "BUILTIN" else resolver
    it = lrt.Interpreter(model_content=data, experimental_op_resolver_type=getattr(lrt.OpResolverType, kind),
                         num_threads=1)
    it.allocate_tensors()
    return it, resolver


def island_tables(g: Graph, island: Island) -> tuple[dict[int, np.ndarray], str]:
    """Each exit's table (indexed by the source value's bit pattern: (uint8_t)x or (uint16_t)x) and the
    resolver that filled it. Raises UnsupportedModel where the interpreter refuses the island or its
    results depend on an element's position."""
    src = g.tensor(island.source)
    dtype = NUMPY_DTYPES[src.dtype]
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.int64)
    kinds = island.kinds()
    where = f"the float island of ops {', '.join(str(op.index) for op in island.ops)}"
    data, index = island_tflite(g, island)
    try:
        it, resolver = _interpreter(data, kinds)
    except (ValueError, RuntimeError) as e:
        why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise UnsupportedModel(f"{where} cannot run in TFLite's interpreter ({why[:160]}): replace its layer") from None
    inp = index[island.source]
    outs = [index[e] for e in island.exits]
    n = src.size

    def sweep(order: np.ndarray) -> list[np.ndarray]:
        got = [np.empty(len(values), dtype=np.int64) for _ in outs]
        for start in range(0, len(order), n):
            chunk = order[start : start + n]
            fill = np.concatenate([chunk, np.full(n - len(chunk), chunk[-1])]) if len(chunk) < n else chunk
            it.set_tensor(inp, fill.astype(dtype).reshape(src.shape))
            it.invoke()
            for k, o in enumerate(outs):
                got[k][chunk - info.min] = it.get_tensor(o).reshape(-1)[: len(chunk)]
        return got

    try:
        first = sweep(values)
        # The same values placed at other elements: reversed, and shifted by half the island's size.
        second = sweep(np.roll(values[::-1], n // 2))
    except (ValueError, RuntimeError) as e:
        why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise UnsupportedModel(f"{where} fails in TFLite's interpreter ({why[:160]}): replace its layer") from None
    for a, b in zip(first, second):
        if not np.array_equal(a, b):
            bad = int(values[np.flatnonzero(a != b)[0]])
            raise UnsupportedModel(f"{where} gives input {bad} different results at different elements in TFLite's "
                                   f"{resolver} kernels: it is not one table; replace its layer")
    tables = {}
    for e, got in zip(island.exits, first):
        out_dtype = NUMPY_DTYPES[g.tensor(e).dtype]
        table = np.empty(len(values), dtype=out_dtype)
        table[values & (len(values) - 1)] = got.astype(out_dtype)
        tables[e] = table
    return tables, resolver


def float_islands(g: Graph) -> Graph:
    """Replace each float island by FLOAT_ISLAND ops (one per exit) reading the source and a constant
    table; the island's other ops leave the schedule."""
    found = find_islands(g)
    _refuse_untabulated(g, found)
    for island in found.islands:
        tables, resolver = island_tables(g, island)
        drop = {id(op) for op in island.ops}
        replaced: dict[int, Op] = {}
        for op in island.ops:
            if op.kind == "QUANTIZE":
                out = op.outputs[0]
                t = Tensor(index=len(g.tensors), name=f"{g.tensor(out).name}/table", shape=(tables[out].size,),
                           dtype=g.tensor(out).dtype, data=tables[out])
                g.tensors.append(t)
                replaced[id(op)] = Op(index=op.index, kind=KIND, inputs=[island.source, t.index], outputs=[out])
        g.ops = [replaced.get(id(op), op) for op in g.ops if id(op) not in drop or id(op) in replaced]
        note = f"float island {island.describe(g)}: table lookup"
        if resolver != "BUILTIN_REF":
            note += f" (filled by TFLite's {resolver} kernels: BUILTIN_REF has no {', '.join(sorted(set(island.kinds()) & set(NO_REFERENCE_KERNEL)))})"
        g.notes.append(note)
    return g


def _refuse_untabulated(g: Graph, found: Found) -> None:
    """One line for a group of float ops between integer tensors that is no island (an op breaks it) and holds
    an op tinyq has no float32 kernel for: the model cannot compile, and the line says which op and why."""
    from tinyq.ops import VARIANTS

    float_kinds = {*VARIANTS.get("float32", {}), *VIEW_OPS, "QUANTIZE", "DEQUANTIZE"}
    for r in found.rejected:
        missing = sorted({op.kind for op in r.ops if op.kind not in float_kinds})
        if r.culprit is not None and missing:
            raise UnsupportedModel(
                f"operator {r.culprit.index} ({r.culprit.kind}) computes in float32 between integer tensors, and the float "
                f"ops there are no float island tinyq compiles to a table ({r.reason}) and have no float32 kernel "
                f"({', '.join(missing)}): replace that layer with an int8-friendly one"
            )


def island_op_indices(g: Graph) -> set[int]:
    """The indices of the ops that belong to float islands (what quant_mode does not count as float)."""
    return {op.index for island in find_islands(g).islands for op in island.ops}
