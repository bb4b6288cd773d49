"""DIV, ADD_N, SELECT / SELECT_V2, the comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER,
GREATER_EQUAL) and LOGICAL_AND / OR / NOT: bit-exact against TFLite's reference kernels (BUILTIN_REF).

Cases written as .tflite directly (one model of independent operators per sweep, so the C builds stay
few): broadcast shapes (same, scalar either side, per channel, ranks that differ, outer products, a
constant operand), random and edge quantizations with different scales on the two inputs, every int8
operand pair (comparisons, DIV), bool and int32 graph inputs and outputs through the generated API.
Keras models through tinyq's converter: keras.ops.where(x > y, a, b) (GREATER + SELECT),
keras.ops.divide (DIV), keras.layers.Add of three inputs (the converter writes two chained ADDs, not
ADD_N), comparisons feeding SELECT_V2, in int8, int16x8 (where the converter quantizes them) and
float32; a few of them on a Cortex-M4 under QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler import generate_library
from tinyq.compiler.importer import import_model
from tinyq.errors import UnsupportedModel

from .helpers import (
    assert_bit_exact,
    op_kinds,
    operator_code,
    pack_model,
    requantize,
    schema_tensor,
    tensor_spec,
    write_tflite,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
QMIN = {"int8": -128, "int16": -32768, "int32": -(2**31)}
QMAX = {"int8": 127, "int16": 32767, "int32": 2**31 - 1}

# id -> (in1 shape, in2 shape, whether in2 is a constant); output ranks <= 4.
SHAPES = {
    "same": ((1, 4, 4, 8), (1, 4, 4, 8), False),
    "scalar": ((1, 4, 4, 8), (), False),
    "scalar_first": ((1,), (2, 3, 5), False),
    "channel": ((1, 4, 4, 8), (8,), False),
    "column": ((2, 5, 6), (2, 5, 1), False),
    "outer": ((4, 1), (1, 3), False),
    "ranks_differ": ((2, 3, 4, 5), (3, 1, 5), False),
    "const_channel": ((1, 3, 3, 6), (6,), True),
}


# --------------------------------------------------------------------------- a .tflite of many operators


def _options(kind: str, fused: int = 0):
    """(builtin options, options type) of one operator, as the converter writes them."""
    from ai_edge_litert import schema_py_generated as s

    if kind == "DIV":
        o = s.DivOptionsT()
        o.fusedActivationFunction = fused
        return o, s.BuiltinOptions.DivOptions
    table = {"ADD_N": "AddNOptions", "SELECT": "SelectOptions", "SELECT_V2": "SelectV2Options", "EQUAL": "EqualOptions",
             "NOT_EQUAL": "NotEqualOptions", "LESS": "LessOptions", "LESS_EQUAL": "LessEqualOptions",
             "GREATER": "GreaterOptions", "GREATER_EQUAL": "GreaterEqualOptions", "LOGICAL_AND": "LogicalAndOptions",
             "LOGICAL_OR": "LogicalOrOptions", "LOGICAL_NOT": "LogicalNotOptions"}
    name = table[kind]
    return getattr(s, f"{name}T")(), getattr(s.BuiltinOptions, name)


def ops_model(ops: list[tuple], outputs: list | None = None) -> bytes:
    """A .tflite of operators (kind, [input specs], [output specs], fused activation) over tensor_spec()s;
    a spec may also be an int, naming tensor k of those made so far (to chain operators). The graph's
    inputs are every new spec without data, in order; its outputs `outputs` (tensor numbers), or every
    operator's first output."""
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    m.description = "tinyq select / compare sweep"
    tensors, graph_inputs, operators, codes = [], [], [], []

    def tensor(spec) -> int:
        if isinstance(spec, int):
            return spec
        if spec["data"] is None:
            graph_inputs.append(len(tensors))
        tensors.append(schema_tensor(m, spec["shape"], spec["dtype"], spec["q"], spec["data"], spec["name"] or f"t{len(tensors)}"))
        return len(tensors) - 1

    for kind, ins, outs, fused in ops:
        if kind not in codes:
            codes.append(kind)
        op = s.OperatorT()
        op.opcodeIndex = codes.index(kind)
        op.inputs = [tensor(x) for x in ins]
        op.outputs = []
        for spec in outs:  # outputs are not graph inputs
            k = tensor(spec)
            graph_inputs.remove(k)
            op.outputs.append(k)
        op.builtinOptions, op.builtinOptionsType = _options(kind, fused)
        operators.append(op)
    opcodes = [operator_code(kind) for kind in codes]
    sg = s.SubGraphT()
    sg.tensors, sg.operators = tensors, operators
    sg.inputs = graph_inputs
    sg.outputs = outputs if outputs is not None else [op.outputs[0] for op in operators]
    m.subgraphs, m.operatorCodes = [sg], opcodes
    return pack_model(m)


def _write(tmp_path, name: str, model: bytes):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    return path


def _f32(x: float) -> float:
    return float(np.float32(x))


def _verify_inputs(tmp_path, path, arrays: list[np.ndarray]):
    """verify_tflite on one input sample given as arrays (one per graph input, batch of one)."""
    npz = tmp_path / f"{path.stem}_inputs.npz"
    np.savez(npz, *[a[None] if a.ndim == 0 else a for a in arrays])
    r = verify_tflite(path, inputs=npz)
    assert r.bit_exact and r.samples >= 1, r.summary()
    return r


# --------------------------------------------------------------------------- DIV (int8)


def _div_quant(rng, j: int) -> list[tuple[float, int]]:
    """(scale, zero point) of in1, in2, out: seeded random with different scales, or the edges
    (extreme zero points, output rescales far above and below 1)."""
    if j < 4:
        s1, s2 = (_f32(10 ** rng.uniform(-3.0, 0.5)) for _ in range(2))
        so = _f32(s1 / s2 / 100 * 10 ** rng.uniform(-1.0, 2.0))
        z1, z2, zo = (int(z) for z in rng.integers(-128, 128, size=3))
        return [(s1, z1), (s2, z2), (so, zo)]
    s1, s2, so, z1, z2, zo = [(0.05, 0.05, 0.1, 0, 0, 0), (0.02, 0.5, 1e-3, 127, -128, -128), (1.0, 0.001, 5.0, -128, 127, 127),
                              (0.1, 0.1, 1e-5, 3, -7, 0), (1e-3, 0.9, 10.0, 0, 1, 0), (1e-7, 0.5, 40.0, -5, 0, 0)][j - 4]
    return [(_f32(s1), z1), (_f32(s2), z2), (_f32(so), zo)]


def test_div_int8_all_pairs(tmp_path):
    """Every int8 numerator against every divisor but the zero point, under 10 quantizations (fused
    activations in turn; output rescales from 1e-7 to 1e5): tq_div_s8 against DivElementwise, its
    shifts of 32 to 63 and of 64 and more included."""
    rng = np.random.default_rng(51)
    ops, feeds = [], []
    for j in range(10):
        q1, q2, qo = _div_quant(rng, j)
        divisors = np.array([v for v in range(-128, 128) if v != q2[1]], np.int8)
        n, m = 256, len(divisors)
        ops.append(("DIV", [tensor_spec((1, n, 1), "int8", q1), tensor_spec((1, 1, m), "int8", q2)],
                    [tensor_spec((1, n, m), "int8", qo)], j % 4 if j < 4 else 0))
        feeds += [np.arange(-128, 128, dtype=np.int8).reshape(1, n, 1), divisors.reshape(1, 1, m)]
    path = _write(tmp_path, "div_pairs", ops_model(ops))
    _verify_inputs(tmp_path, path, feeds)


# SHAPES for inputs given as arrays (tinyq.checks.inputs.load_inputs takes samples along a leading axis of 1).
FED_SHAPES = {
    "same": ((1, 4, 4, 8), (1, 4, 4, 8), False),
    "scalar": ((1, 4, 4, 8), (), False),
    "scalar_first": ((1,), (1, 3, 5), False),
    "channel": ((1, 4, 4, 8), (1, 8), False),
    "column": ((1, 5, 6), (1, 5, 1), False),
    "outer": ((1, 4, 1), (1, 1, 3), False),
    "ranks_differ": ((1, 3, 4, 5), (1, 1, 5), False),
    "const_channel": ((1, 3, 3, 6), (6,), True),
}


def test_div_int8_broadcast_sweep(tmp_path):
    """DIV over the broadcast shapes, random quantizations and fused activations, fed random operands
    whose divisors avoid their zero point (TFLite's Eval stops on one, see the next test)."""
    rng = np.random.default_rng(52)
    ops, feeds = [], []
    for j, (a, b, const) in enumerate(FED_SHAPES.values()):
        q1, q2, qo = _div_quant(rng, j)
        out = tuple(np.broadcast_shapes(a, b))
        divisor = rng.integers(-128, 128, size=b).astype(np.int8)
        divisor[divisor == q2[1]] = np.int8(q2[1] + 1 if q2[1] < 127 else q2[1] - 1)
        ops.append(("DIV", [tensor_spec(a, "int8", q1), tensor_spec(b, "int8", q2, data=divisor if const else None)],
                    [tensor_spec(out, "int8", qo)], j % 4))
        feeds.append(rng.integers(-128, 128, size=a).astype(np.int8))
        if not const:
            feeds.append(divisor)
    _verify_inputs(tmp_path, _write(tmp_path, "div_shapes", ops_model(ops)), feeds)


def test_div_int8_zero_divisor_stops_like_the_reference(tmp_path):
    """A divisor at its zero point: TFLite's Eval fails (CheckNonZero), the generated C returns an error."""
    from tinyq.build.host import HostModel
    from tinyq.errors import CheckFailed

    from .helpers import ref_interpreter

    q = [(0.05, 3), (0.1, -2), (0.2, 0)]
    model = ops_model([("DIV", [tensor_spec((1, 4), "int8", q[0]), tensor_spec((1, 4), "int8", q[1])],
                        [tensor_spec((1, 4), "int8", q[2])], 0)])
    path = _write(tmp_path, "div_zero", model)
    x, d = np.array([[1, 2, 3, 4]], np.int8), np.array([[5, -2, 7, 9]], np.int8)  # d[1] is the zero point
    it = ref_interpreter(path)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.set_tensor(it.get_input_details()[1]["index"], d)
    with pytest.raises(RuntimeError):
        it.invoke()
    host = HostModel(generate_library(path, name="m"), "m")
    try:
        with pytest.raises(CheckFailed, match="status -1"):
            host.run([x, d])
        d[0, 1] = 4
        host.run([x, d])  # and runs once the divisor is not zero
    finally:
        host.close()


def test_div_float32_sweep(tmp_path):
    """float32 DIV over the broadcast shapes and fused activations; the edge inputs divide by zero
    (x / 0: +-inf, clamped to +-FLT_MAX by NONE's range; 0 / 0: NaN, which passes the clamp)."""
    rng = np.random.default_rng(53)
    ops = []
    for j, (a, b, const) in enumerate(SHAPES.values()):
        out = tuple(np.broadcast_shapes(a, b))
        data = rng.uniform(0.5, 3.0, size=b).astype(np.float32) * rng.choice([-1, 1], size=b) if const else None
        ops.append(("DIV", [tensor_spec(a, "float32"), tensor_spec(b, "float32", data=data)], [tensor_spec(out, "float32")], j % 4))
    path = _write(tmp_path, "div_f32", ops_model(ops))
    r = verify_tflite(path, samples=8)
    assert r.bit_exact, r.summary()
    x = rng.uniform(-2, 2, size=(1, 4, 4, 8)).astype(np.float32)
    x[0, 0, 0, :5] = [1.0, -1.0, 0.0, np.inf, np.nan]
    d = np.where(np.arange(128).reshape(1, 4, 4, 8) % 3 == 0, 0.0, x).astype(np.float32)
    d[0, 0, 0, :5] = [0.0, 0.0, 0.0, 0.0, 2.0]  # 1 / 0, -1 / 0, 0 / 0, inf / 0, NaN / 2
    f32 = tensor_spec((1, 4, 4, 8), "float32")
    b = tensor_spec((1, 4, 4, 8), "bool")
    ops = [("DIV", [f32, f32], [f32], 0), ("NOT_EQUAL", [2, 2], [b], 0), ("LESS_EQUAL", [2, 0], [b], 0), ("EQUAL", [0, 2], [b], 0),
           ("SELECT_V2", [4, 2, 0], [f32], 0)]  # comparisons with NaN and infinities: NaN != NaN, nothing else holds
    single = _write(tmp_path, "div_f32_zero", ops_model(ops, outputs=[2, 3, 4, 5, 6]))
    _verify_inputs(tmp_path, single, [x, d])


# --------------------------------------------------------------------------- comparisons


def _compare_quant(rng, j: int, edge: bool) -> list[tuple[float, int]]:
    """(scale, zero point) of both inputs: random (different scales, below 1), or edge case j: equal
    scales, a ratio of 1000, scales just below 1, a scale so small its multiplier is 0, extreme zero points."""
    if not edge:
        s1, s2 = (_f32(10 ** rng.uniform(-4.0, -0.05)) for _ in range(2))
        z1, z2 = (int(z) for z in rng.integers(-128, 128, size=2))
        return [(s1, z1), (s2, z2)]
    s1, s2, z1, z2 = [(0.02, 0.02, 0, 0), (0.9, 9e-4, -128, 127), (_f32(0.99999), 0.5, 127, -128), (1e-11, 0.1, 5, 5),
                      (0.0625, 0.125, -1, 1)][j % 5]
    return [(_f32(s1), z1), (_f32(s2), z2)]


def _compare_cases(dtype: str, rng, edge: bool) -> list[tuple]:
    ops = []
    for j, (a, b, const) in enumerate(SHAPES.values()):
        for k, kind in enumerate(COMPARISONS):
            out = tuple(np.broadcast_shapes(a, b))
            if dtype == "int8":
                q1, q2 = _compare_quant(rng, j * 6 + k, edge)
            elif dtype == "int16":
                q1, q2 = (_f32(10 ** rng.uniform(-5.0, -0.05)), 0), (_f32(10 ** rng.uniform(-5.0, -0.05)), 0)
            else:
                q1 = q2 = None
            if const:
                data = (rng.uniform(-3, 3, size=b) if dtype == "float32" else rng.integers(QMIN[dtype], QMAX[dtype] + 1, size=b,
                                                                                            dtype=np.int64)).astype(dtype)
            else:
                data = None
            ops.append((kind, [tensor_spec(a, dtype, q1), tensor_spec(b, dtype, q2, data=data)], [tensor_spec(out, "bool")], 0))
    return ops


@pytest.mark.parametrize(("dtype", "profile"), [("int8", "random"), ("int8", "edge"), ("int16", "random"), ("float32", "random"),
                                                ("int32", "random")])
def test_compare_sweep(tmp_path, dtype, profile):
    """The six comparisons over the broadcast shapes: int8 requantizes both inputs (different scales and
    zero points), int16 EQUAL / NOT_EQUAL too while the others compare stored values, float32 and int32
    compare as stored. Graph outputs are bool; int32 inputs take the whole int32 range."""
    rng = np.random.default_rng({"int8": 61, "int16": 62, "float32": 63, "int32": 64}[dtype] + (profile == "edge"))
    path = _write(tmp_path, f"compare_{dtype}_{profile}", ops_model(_compare_cases(dtype, rng, profile == "edge")))
    g = import_model(path)
    assert {g.tensor(i).dtype for i in g.outputs} == {"bool"}
    r = verify_tflite(path, samples=10)
    assert r.bit_exact, r.summary()


def _pairs_model(dtype: str, values: np.ndarray, quants: list) -> tuple[bytes, list[np.ndarray]]:
    """Every (a, b) of `values` x `values` through the six comparisons under each quantization."""
    n = len(values)
    ops, feeds = [], []
    for q1, q2 in quants:
        for kind in COMPARISONS:
            ops.append((kind, [tensor_spec((1, n, 1), dtype, q1), tensor_spec((1, 1, n), dtype, q2)], [tensor_spec((1, n, n), "bool")], 0))
            feeds += [values.astype(dtype).reshape(1, n, 1), values.astype(dtype).reshape(1, 1, n)]
    return ops_model(ops), feeds


def test_compare_int8_all_pairs(tmp_path):
    """All 65,536 int8 pairs through all six comparisons under 3 quantizations: equal ones, different
    scales and zero points (ComparisonWithScaling rounds both, so EQUAL may hold for different values),
    and a ratio of 1000."""
    quants = [[(0.05, 0), (0.05, 0)], [(_f32(0.0123), 17), (_f32(0.0371), -90)], [(_f32(0.9), -128), (_f32(9e-4), 127)]]
    model, feeds = _pairs_model("int8", np.arange(-128, 128), quants)
    _verify_inputs(tmp_path, _write(tmp_path, "compare_pairs", model), feeds)


def test_compare_int16_many_pairs(tmp_path):
    """384 int16 values (the extremes, small ones, random ones) paired every way, six comparisons, two
    scale pairs, and EQUAL on unquantized int16 (compared as stored)."""
    rng = np.random.default_rng(65)
    values = np.unique(np.concatenate([[-32768, -32767, -1, 0, 1, 32766, 32767], np.arange(-40, 41),
                                       rng.integers(-32768, 32768, size=300)]))
    model, feeds = _pairs_model("int16", values, [[(_f32(1e-4), 0), (_f32(3.1e-4), 0)], [(_f32(0.5), 0), (_f32(2e-3), 0)]])
    path = _write(tmp_path, "compare_pairs_s16", model)
    _verify_inputs(tmp_path, path, feeds)
    n = len(values)
    raw = ops_model([("EQUAL", [tensor_spec((1, n, 1), "int16"), tensor_spec((1, 1, n), "int16")], [tensor_spec((1, n, n), "bool")], 0)])
    column, row = values.astype(np.int16).reshape(1, n, 1), values.astype(np.int16).reshape(1, 1, n)
    _verify_inputs(tmp_path, _write(tmp_path, "equal_raw_s16", raw), [column, row])


# --------------------------------------------------------------------------- SELECT, SELECT_V2

# id -> (condition, x, y shapes, whether y is a constant)
SELECT_V2_SHAPES = {
    "same": ((1, 4, 4, 8), (1, 4, 4, 8), (1, 4, 4, 8), False),
    "cond_scalar": ((), (2, 3, 5), (2, 3, 5), False),
    "cond_channel": ((8,), (1, 4, 4, 8), (1, 4, 4, 8), False),
    "x_scalar": ((3, 7), (), (3, 7), False),
    "y_const_scalar": ((2, 5, 6), (2, 5, 6), (), True),
    "outer": ((4, 1), (1, 3), (4, 3), False),
    "ranks_differ": ((3, 1, 5), (2, 3, 4, 5), (4, 1), False),
}
# SELECT: the condition has x's shape, is a scalar, or holds one value per index of x's first axis.
SELECT_SHAPES = {"same": ((2, 3, 4), (2, 3, 4)), "cond_scalar": ((), (3, 5)), "cond_first_axis": ((3,), (3, 4, 5)),
                 "cond_first_axis_4d": ((2,), (2, 3, 2, 4)), "rank1": ((6,), (6,))}
VALUE_Q = {"int8": (0.1, -3), "int16": (1e-3, 0), "float32": None, "int32": None, "bool": None}


def _values(rng, dtype: str, shape) -> np.ndarray:
    if dtype == "float32":
        return rng.uniform(-3, 3, size=shape).astype(np.float32)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(QMIN[dtype], QMAX[dtype] + 1, size=shape, dtype=np.int64).astype(dtype)


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32", "int32", "bool"])
def test_select_sweep(tmp_path, dtype):
    """SELECT_V2 over three-way broadcasts and SELECT over its condition shapes, on each value type;
    the condition is a bool graph input (random, and all false / all true at the edges)."""
    rng = np.random.default_rng(71)
    q = VALUE_Q[dtype]
    ops = []
    for c, x, y, const in SELECT_V2_SHAPES.values():
        out = tuple(np.broadcast_shapes(c, x, y))
        y_spec = tensor_spec(y, dtype, q, data=_values(rng, dtype, y) if const else None)
        ops.append(("SELECT_V2", [tensor_spec(c, "bool"), tensor_spec(x, dtype, q), y_spec],
                    [tensor_spec(out, dtype, q)], 0))
    for c, x in SELECT_SHAPES.values():
        ops.append(("SELECT", [tensor_spec(c, "bool"), tensor_spec(x, dtype, q), tensor_spec(x, dtype, q)], [tensor_spec(x, dtype, q)], 0))
    # A constant condition: the op then computes in its values' type (a lowering registered for each).
    cond = tensor_spec((3, 1), "bool", data=np.array([[True], [False], [True]]))
    ops.append(("SELECT_V2", [cond, tensor_spec((1, 4), dtype, q), tensor_spec((3, 4), dtype, q)], [tensor_spec((3, 4), dtype, q)], 0))
    path = _write(tmp_path, f"select_{dtype}", ops_model(ops))
    r = verify_tflite(path, samples=8)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- ADD_N, LOGICAL_*, bool and int32 graph I/O


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_add_n(tmp_path, dtype):
    """ADD_N of 2, 3 and 5 inputs (one of them a constant), and one written over a dying input: int32
    sums wrap over the full-range inputs as the reference's do."""
    rng = np.random.default_rng(81)
    shape = (1, 3, 4, 5)

    def spec(const=False):
        return tensor_spec(shape, dtype, data=_values(rng, dtype, shape) if const else None)

    ops = [("ADD_N", [spec(), spec()], [spec()], 0), ("ADD_N", [spec(), spec(True), spec()], [spec()], 0),
           ("ADD_N", [spec() for _ in range(5)], [spec()], 0)]
    ops += [("ADD_N", [spec(), spec()], [spec()], 0)]  # t13 + t14 -> t15
    ops += [("ADD_N", [15, 0, 13], [spec()], 0)]  # t15 (read here only), t0, t13 (graph inputs) -> t16, over t15
    ops += [("ADD_N", [16, 1], [spec()], 0)]  # -> t17
    path = _write(tmp_path, f"add_n_{dtype}", ops_model(ops, outputs=[2, 6, 12, 17]))
    assert op_kinds(path) == ["ADD_N"] * 6
    r = verify_tflite(path, samples=8)
    assert r.bit_exact, r.summary()
    g = generate_library(path, name="m").graph
    assert any("layer 4 (ADD_N) writes its output over its input" in n for n in g.notes), g.notes


def test_logical_and_bool_io(tmp_path):
    """LOGICAL_AND / OR (with broadcasting) / NOT on bool graph inputs, EQUAL / NOT_EQUAL of bools and
    a SELECT of bools: bool in, bool out through the generated API."""
    b = "bool"
    ops = [("LOGICAL_AND", [tensor_spec((2, 3, 4), b), tensor_spec((2, 3, 4), b)], [tensor_spec((2, 3, 4), b)], 0),
           ("LOGICAL_OR", [tensor_spec((3, 1), b), tensor_spec((1, 4), b)], [tensor_spec((3, 4), b)], 0),
           ("LOGICAL_NOT", [0], [tensor_spec((2, 3, 4), b)], 0),
           ("EQUAL", [0, 1], [tensor_spec((2, 3, 4), b)], 0),
           ("NOT_EQUAL", [3, tensor_spec((4,), b, data=np.array([1, 0, 1, 0], bool))], [tensor_spec((3, 4), b)], 0),
           ("SELECT_V2", [5, 0, 1], [tensor_spec((2, 3, 4), b)], 0)]
    path = _write(tmp_path, "logical", ops_model(ops))
    g = import_model(path)
    assert {g.tensor(i).dtype for i in (*g.inputs, *g.outputs)} == {"bool"}
    text = generate_library(path, name="m").files["m.h"]
    assert "const uint8_t *input0" in text and "uint8_t *output0" in text
    r = verify_tflite(path, samples=8)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- Keras models through tinyq's converter


def _keras_model(int16: bool = False):
    """where(x > y, a, y) (GREATER + SELECT), x / (|y| + 0.5) (DIV), Add of three inputs, where(a <= 0.25,
    x, 0) (LESS_EQUAL + SELECT_V2 with a scalar), where(x == a, x, y - a) (EQUAL on different scales).
    int16x8: TensorFlow's converter quantizes none of DIV, the comparisons or SELECT to 16x8, so only
    the three-input Add."""
    import keras

    x, y, a = keras.Input((4, 8)), keras.Input((4, 8)), keras.Input((4, 8))
    if int16:
        return keras.Model([x, y, a], [keras.layers.Add()([x, y, a]), keras.layers.Add()([x, keras.ops.abs(y), a, y])])
    outs = [keras.ops.where(x > y, a, y), keras.ops.divide(x, keras.ops.abs(y) + 0.5), keras.layers.Add()([x, y, a]),
            keras.ops.where(keras.ops.less_equal(a, 0.25), x, 0.0), keras.ops.where(keras.ops.equal(x, a), x, y - a)]
    return keras.Model([x, y, a], outs)


_CACHE: dict = {}


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    """The Keras model converted once per mode: int8, int16x8, float."""
    root = tmp_path_factory.mktemp("select_compare_keras")

    def get(mode: str):
        if mode not in _CACHE:
            rng = np.random.default_rng(5)
            calib = [rng.uniform(-2.0, 2.0, size=(16, 4, 8)).astype(np.float32) for _ in range(3)]
            model = _keras_model(int16=mode == "int16x8")
            _CACHE[mode] = write_tflite(root, f"select_compare_{mode}", model, None if mode == "float" else calib, mode=mode)
        return _CACHE[mode]

    return get


KERAS_KINDS = {"GREATER": 1, "SELECT": 2, "DIV": 1, "ADD": 3, "LESS_EQUAL": 1, "SELECT_V2": 1, "EQUAL": 1, "ADD_N": 0}


def _requantize_below_one(path, out, seed: int):
    """helpers.requantize with every int8 activation scale below 1 (the comparisons' limit), the DIV's
    divisor kept as converted (its zero point stays out of the divisor's range) and no fused activations."""
    from ai_edge_litert import schema_py_generated as s

    from .helpers import rewrite_tflite

    requantize(path, out, seed, activations=(0,))
    keep = {}
    m = s.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    sg = m.subgraphs[0]
    for op in sg.operators:
        if m.operatorCodes[op.opcodeIndex].builtinCode == s.BuiltinOperator.DIV:
            k = op.inputs[1]
            keep[k] = (list(sg.tensors[k].quantization.scale), list(sg.tensors[k].quantization.zeroPoint))

    def edit(model):
        for i, t in enumerate(model.subgraphs[0].tensors):
            q = t.quantization
            if i in keep:
                q.scale, q.zeroPoint = keep[i]
            elif t.type == s.TensorType.INT8 and q is not None and q.scale is not None and len(q.scale) == 1:
                q.scale = [min(float(q.scale[0]), _f32(0.9))]

    return rewrite_tflite(out, out, edit)


def test_keras_int8(keras_models, tmp_path):
    path = keras_models("int8")
    kinds = op_kinds(path)
    assert {k: kinds.count(k) for k in KERAS_KINDS} == KERAS_KINDS, kinds  # Add of three: two chained ADDs
    assert_bit_exact(path, samples=12, kernels=("ref", "fast"))
    for seed in range(2):  # other scales and zero points on every activation
        assert_bit_exact(_requantize_below_one(path, tmp_path / f"requant{seed}.tflite", seed), samples=8, kernels=("ref",))


def test_keras_int16x8(keras_models):
    path = keras_models("int16x8")
    g = import_model(path)
    kinds = [op.kind for op in g.ops if g.tensor(op.outputs[0]).dtype == "int16"]
    assert kinds.count("ADD") == 5 and "ADD_N" not in kinds, kinds  # Add of 3 and of 4 inputs: chained int16 ADDs
    assert_bit_exact(path, samples=12, kernels=("ref",))


def test_keras_float32(keras_models):
    path = keras_models("float")
    kinds = op_kinds(path)
    assert {k: kinds.count(k) for k in KERAS_KINDS} == KERAS_KINDS, kinds
    r = verify_tflite(path, samples=12)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- on a Cortex-M4 (QEMU)


def test_keras_int8_qemu_m4(keras_models):
    r = verify_on_board(keras_models("int8"), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def _io_model() -> bytes:
    """int32 and bool graph inputs and outputs: int32 comparisons and ADD_N, a bool input ANDed with a
    comparison, an int8 SELECT_V2 on it, an int8 DIV by a constant, and an int8 GREATER."""
    i32, b = "int32", "bool"
    q = (0.05, 3)
    ops = [("ADD_N", [tensor_spec((1, 6), i32), tensor_spec((1, 6), i32), tensor_spec((1, 6), i32, data=np.arange(-3, 3).reshape(1, 6))],
            [tensor_spec((1, 6), i32)], 0),                                                     # t0, t1, t2 -> t3
           ("GREATER_EQUAL", [0, 1], [tensor_spec((1, 6), b)], 0),                              # -> t4
           ("LOGICAL_AND", [4, tensor_spec((1, 1), b)], [tensor_spec((1, 6), b)], 0),           # t5 -> t6
           ("SELECT_V2", [6, tensor_spec((1, 6), "int8", q), tensor_spec((), "int8", q, data=np.array(-7, np.int8))],
            [tensor_spec((1, 6), "int8", q)], 0),                                               # t7, t8 -> t9
           ("DIV", [9, tensor_spec((6,), "int8", (0.02, -1), data=np.array([5, -9, 40, 100, -128, 2], np.int8))],
            [tensor_spec((1, 6), "int8", (0.5, 0))], 0),                                        # t10 -> t11
           ("GREATER", [9, 7], [tensor_spec((1, 6), b)], 0)]                                    # -> t12
    return ops_model(ops, outputs=[3, 6, 11, 12])


def test_bool_and_int32_io_host_and_qemu_m4(tmp_path):
    """bool and int32 graph inputs and outputs through the generated API, the host harness and the
    board's protocol buffers."""
    path = _write(tmp_path, "io", _io_model())
    g = import_model(path)
    assert [g.tensor(i).dtype for i in g.inputs] == ["int32", "int32", "bool", "int8"]
    assert [g.tensor(i).dtype for i in g.outputs] == ["int32", "bool", "int8", "bool"]
    header = generate_library(path, name="m").files["m.h"]
    assert "const int32_t *input0" in header and "const uint8_t *input2" in header and "uint8_t *output1" in header
    r = verify_tflite(path, samples=16)
    assert r.bit_exact, r.summary()
    r = verify_on_board(path, "qemu-m4", samples=4)
    assert r.bit_exact, r.summary()


@pytest.mark.slow
def test_compare_and_select_sweeps_qemu_m4(tmp_path):
    """A third of the int8 comparison sweep and the int16 SELECT_V2 cases on the Cortex-M4."""
    rng = np.random.default_rng(61)
    q = VALUE_Q["int16"]
    ops = _compare_cases("int8", rng, edge=False)[::3]
    for c, x, y, const in SELECT_V2_SHAPES.values():
        y_spec = tensor_spec(y, "int16", q, data=_values(rng, "int16", y) if const else None)
        ops.append(("SELECT_V2", [tensor_spec(c, "bool"), tensor_spec(x, "int16", q), y_spec],
                    [tensor_spec(tuple(np.broadcast_shapes(c, x, y)), "int16", q)], 0))
    path = _write(tmp_path, "compare_m4", ops_model(ops))
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- refusals


def _generate(tmp_path, model: bytes):
    return generate_library(_write(tmp_path, "refused", model), name="m")


def _one(kind, ins, out):
    return ops_model([(kind, ins, [out], 0)])


@pytest.mark.parametrize(("model", "match"), [
    (lambda: _one("ADD_N", [tensor_spec((4,), "int8", (0.1, 0))] * 3, tensor_spec((4,), "int8", (0.1, 0))),
     "int8 ADD_N is not supported.*FLOAT32|INT32.*chained ADDs"),
    (lambda: _one("ADD_N", [tensor_spec((4,), "int16", (0.1, 0))] * 2, tensor_spec((4,), "int16", (0.1, 0))),
     "int16 ADD_N is not supported"),
    (lambda: _one("DIV", [tensor_spec((4,), "int16", (0.1, 0))] * 2, tensor_spec((4,), "int16", (0.1, 0))),
     "int16 DIV is not supported.*16x8"),
    (lambda: _one("DIV", [tensor_spec((4,), "int32")] * 2, tensor_spec((4,), "int32")), "int32 DIV is not supported"),
    (lambda: _one("LESS", [tensor_spec((4,), "int8", (1.0, 0)), tensor_spec((4,), "int8", (0.1, 0))], tensor_spec((4,), "bool")),
     "scale 1.*below 1.*aborts"),
    (lambda: _one("EQUAL", [tensor_spec((4,), "int8", (0.1, 0)), tensor_spec((4,), "int8", (2.5, 0))], tensor_spec((4,), "bool")),
     "scale 2.5.*negative count"),
    (lambda: _one("GREATER", [tensor_spec((4,), "bool")] * 2, tensor_spec((4,), "bool")), "no bool kernel"),
    (lambda: _one("NOT_EQUAL", [tensor_spec((4,), "int16")] * 2, tensor_spec((4,), "bool")), "NOT_EQUAL then writes no output"),
    (lambda: _one("EQUAL", [tensor_spec((4,), "int8")] * 2, tensor_spec((4,), "bool")), "no per-tensor quantization"),
    (lambda: _one("EQUAL", [tensor_spec((4,), "int16", (0.1, 0)), tensor_spec((4,), "int16")], tensor_spec((4,), "bool")),
     "'t1' has no per-tensor quantization"),
    (lambda: _one("SELECT", [tensor_spec((2,), "bool"), tensor_spec((3, 4), "int8", (0.1, 0)), tensor_spec((3, 4), "int8", (0.1, 0))],
                  tensor_spec((3, 4), "int8", (0.1, 0))), "neither x's"),
    (lambda: _one("SELECT_V2", [tensor_spec((1, 2, 2, 2, 2), "bool"), tensor_spec((2,), "float32"), tensor_spec((2,), "float32")],
                  tensor_spec((1, 2, 2, 2, 2), "float32")), "ranks up to 4"),
    (lambda: _one("DIV", [tensor_spec((4,), "int8", (0.5, 0)), tensor_spec((4,), "int8", (1e-4, 0))], tensor_spec((4,), "int8", (1e-4, 0))),
     "too large.*negative count"),
], ids=["add_n_int8", "add_n_int16", "div_int16", "div_int32", "compare_scale_1", "compare_scale_above_1", "greater_bool",
        "not_equal_int16_unquantized", "compare_int8_unquantized", "equal_int16_half_quantized", "select_condition_shape", "select_v2_rank_5", "div_rescale_2e8"])
def test_refusals(tmp_path, model, match):
    with pytest.raises(UnsupportedModel, match=match):
        _generate(tmp_path, model())


def test_refusals_run_in_the_reference_too(tmp_path):
    """What tinyq refuses because TFLite's reference cannot run it: the interpreter fails on these models."""
    from .helpers import ref_interpreter

    bad = [_one("ADD_N", [tensor_spec((4,), "int8", (0.1, 0))] * 3, tensor_spec((4,), "int8", (0.1, 0))),
           _one("GREATER", [tensor_spec((4,), "bool")] * 2, tensor_spec((4,), "bool"))]
    for model in bad:
        with pytest.raises((RuntimeError, ValueError)):
            it = ref_interpreter(model)
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.ones(d["shape"], d["dtype"]))
            it.invoke()
