"""SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE (and ADD, which shares their broadcast walk) on
int8, int16 and float32: bit-exact against TFLite's reference kernels (BUILTIN_REF).

Two kinds of cases:
- Sweeps written as .tflite directly: per op and type, one model of independent operators, one per
  broadcast case in SHAPES (same shapes, scalar either side, per channel, row, column, outer product,
  ranks that differ, a constant operand), each with its own quantization (seeded random, or the edges:
  extreme zero points, scale ratios, output scales at the rescale limit) and the op's fused
  activations in turn. One model per sweep keeps the C builds few.
- Keras layers through tinyq's converter: Subtract, Maximum, Minimum, Multiply (squeeze-and-excitation
  style), keras.ops.square(a - b), in int8 (then re-quantized at random), int16x8 and float32; the
  int8 and int16 ones also on a Cortex-M4 under QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler import compile_tflite
from tinyq.compiler.importer import import_model
from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY, VARIANTS

from .helpers import (
    assert_bit_exact,
    op_kinds,
    operator_code,
    pack_model,
    randomize_weights,
    requantize,
    rewrite_tflite,
    schema_tensor,
    tensor_spec,
    write_tflite,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# id -> (in1 shape, in2 shape, whether in2 is a constant); output ranks <= 4.
SHAPES = {
    "same": ((1, 4, 4, 8), (1, 4, 4, 8), False),
    "flat_1d": ((13,), (13,), False),
    "scalar": ((1, 4, 4, 8), (), False),
    "scalar_first": ((1,), (2, 3, 5), False),
    "channel": ((1, 4, 4, 8), (8,), False),
    "row": ((3, 7), (1, 7), False),
    "column": ((2, 5, 6), (2, 5, 1), False),
    "outer": ((4, 1), (1, 3), False),
    "ranks_differ": ((2, 3, 4, 5), (3, 1, 5), False),
    "squeeze_excite": ((1, 1, 1, 8), (1, 4, 4, 8), False),
    "const_channel": ((1, 3, 3, 6), (6,), True),
}
FUSED = (0, 1, 2, 3)  # NONE, RELU, RELU_N1_TO_1, RELU6
WITH_ACTIVATION = ("ADD", "SUB", "MUL")
QMIN = {"int8": -128, "int16": -32768}
QMAX = {"int8": 127, "int16": 32767}


# --------------------------------------------------------------------------- multi-operator .tflite


def _options(kind: str, fused: int, pot: bool):
    """(builtin options, options type) of one operator, as the converter writes them."""
    from ai_edge_litert import schema_py_generated as s

    if kind in ("ADD", "SUB"):
        o = s.AddOptionsT() if kind == "ADD" else s.SubOptionsT()
        o.fusedActivationFunction, o.potScaleInt16 = fused, pot
        return o, getattr(s.BuiltinOptions, "AddOptions" if kind == "ADD" else "SubOptions")
    if kind == "MUL":
        o = s.MulOptionsT()
        o.fusedActivationFunction = fused
        return o, s.BuiltinOptions.MulOptions
    if kind == "SQUARED_DIFFERENCE":
        return s.SquaredDifferenceOptionsT(), s.BuiltinOptions.SquaredDifferenceOptions
    return s.MaximumMinimumOptionsT(), s.BuiltinOptions.MaximumMinimumOptions


def binary_ops_model(kind: str, cases: list[tuple], pot: bool = False) -> bytes:
    """A .tflite of independent `kind` operators, one per case (in1 spec, in2 spec, out spec, fused
    activation): tensor_spec()s as for helpers.one_op_model; the graph's inputs are every operand
    without data, in order."""
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    m.description = f"tinyq {kind} sweep"
    tensors, graph_inputs, operators = [], [], []

    def tensor(spec) -> int:
        tensors.append(schema_tensor(m, spec["shape"], spec["dtype"], spec["q"], spec["data"], f"t{len(tensors)}"))
        return len(tensors) - 1

    for in1, in2, out, fused in cases:
        op = s.OperatorT()
        op.opcodeIndex = 0
        op.inputs = [tensor(in1), tensor(in2)]
        graph_inputs += [i for i, spec in zip(op.inputs, (in1, in2)) if spec["data"] is None]
        op.outputs = [tensor(out)]
        op.builtinOptions, op.builtinOptionsType = _options(kind, fused, pot)
        operators.append(op)
    code = operator_code(kind)
    sg = s.SubGraphT()
    sg.tensors, sg.operators = tensors, operators
    sg.inputs, sg.outputs = graph_inputs, [op.outputs[0] for op in operators]
    m.subgraphs, m.operatorCodes = [sg], [code]
    return pack_model(m)


# --------------------------------------------------------------------------- quantization of a case


def _f32(x: float) -> float:
    return float(np.float32(x))


def _natural_out_scale(kind: str, dtype: str, s1: float, s2: float) -> float:
    """The output scale a converter would pick for inputs spanning their whole range."""
    full = QMAX[dtype] + 1
    if kind in ("ADD", "SUB"):
        return s1 + s2
    if kind == "MUL":
        return s1 * s2 * full
    if kind == "SQUARED_DIFFERENCE":
        return (s1 + s2) ** 2 * full
    return max(s1, s2)


def _scales(kind: str, dtype: str, rng: np.random.Generator, edge: bool, j: int) -> tuple[float, float, float]:
    """(in1, in2, out) scales: seeded random (the output within a few decades of its natural scale),
    or edge case j: equal scales, ratios of 1000, powers of two, the output scale at the limit of
    Prepare's rescale (ADD, SUB: 2 max / (2^left_shift so) < 1; SQUARED_DIFFERENCE:
    (2 max)^2 / (2^14 so) < 1), MUL's rescale far above 1 (a left shift) and far below."""
    left = 20 if dtype == "int8" else 15
    if not edge:
        s1, s2 = (_f32(10 ** rng.uniform(-3.0, 0.5)) for _ in range(2))
        return s1, s2, _f32(_natural_out_scale(kind, dtype, s1, s2) * 10 ** rng.uniform(-1.5, 1.0))
    s1, s2 = [(0.02, 0.02), (3.0, 0.003), (1e-3, 2.5), (0.5, 0.25), (0.0625, 0.125)][j % 5]
    so = _natural_out_scale(kind, dtype, s1, s2) * [1.0, 1.0, 0.3, 1.0, 8.0][j % 5]
    if j % 5 == 3:
        so = 2.0 ** round(np.log2(so))  # all three scales powers of two
    if j % 5 == 1 and kind in ("ADD", "SUB"):
        so = 2 * max(s1, s2) / 2**left * 1.01  # the limit: nearly everything saturates
    if j % 5 == 1 and kind == "SQUARED_DIFFERENCE":
        so = (2 * max(s1, s2)) ** 2 / 2**14 * 1.01
    if kind == "MUL":
        so *= [1.0, 1e-3, 1.0, 30.0, 1.0][j % 5]  # rescales far above and below the natural one
    return _f32(s1), _f32(s2), _f32(so)


def _zero_points(dtype: str, rng: np.random.Generator, edge: bool, j: int) -> tuple[int, int, int]:
    if dtype == "int16":
        return 0, 0, 0  # TFLite requires symmetric int16
    if not edge:
        return tuple(int(z) for z in rng.integers(-128, 128, size=3))  # type: ignore[return-value]
    return [(-128, 127, 0), (127, -128, -128), (0, 0, 0), (-128, -128, 127), (127, 127, -1)][j % 5]


def _quant(kind: str, dtype: str, rng: np.random.Generator, edge: bool, j: int, fused: int) -> list[tuple[float, int]]:
    """(scale, zero point) of in1, in2, out. A random case's output fits its fused activation as a
    converter's would (RELU, RELU6: zero point at the bottom; RELU_N1_TO_1: [-1, 1] over the range);
    edge cases take the edges whatever the activation."""
    (s1, s2, so), (z1, z2, zo) = _scales(kind, dtype, rng, edge, j), _zero_points(dtype, rng, edge, j)
    if not edge and fused in (1, 3):
        zo = QMIN[dtype] if dtype == "int8" else 0
    elif not edge and fused == 2:
        # ADD and SUB still need an output rescale below 1 (int16: left_shift 15 leaves less room).
        limit = 2 * max(s1, s2) / 2 ** (20 if dtype == "int8" else 15) if kind in ("ADD", "SUB") else 0.0
        so, zo = _f32(max(2.0 / (QMAX[dtype] - QMIN[dtype]), 2 * limit)), 0
    return [(s1, z1), (s2, z2), (so, zo)]


def sweep_cases(kind: str, dtype: str, seed: int, edge: bool) -> list[tuple]:
    """One case per SHAPES entry: (in1, in2, out specs, fused activation)."""
    rng = np.random.default_rng(seed)
    cases = []
    for j, (a, b, const) in enumerate(SHAPES.values()):
        out = tuple(np.broadcast_shapes(a, b))
        fused = FUSED[(j + seed) % 4] if kind in WITH_ACTIVATION else 0
        if dtype == "float32":
            q1 = q2 = qo = None
            data = rng.uniform(-3.0, 3.0, size=b).astype(np.float32) if const else None
        else:
            q1, q2, qo = _quant(kind, dtype, rng, edge, j, fused)
            data = rng.integers(QMIN[dtype], QMAX[dtype] + 1, size=b).astype(dtype) if const else None
        cases.append((tensor_spec(a, dtype, q1), tensor_spec(b, dtype, q2, data=data), tensor_spec(out, dtype, qo), fused))
    return cases


def _write(tmp_path, name: str, model: bytes):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    return path


def _verify_float(path, samples: int = 12):
    r = verify_tflite(path, samples=samples)
    assert r.bit_exact, r.summary()  # + - * and comparisons in TFLite's order: the same floats
    return r


# --------------------------------------------------------------------------- sweeps


@pytest.mark.parametrize("profile", ["random", "edge"])
@pytest.mark.parametrize("kind", ["SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "ADD"])
def test_int8_sweep(tmp_path, kind, profile):
    seed = {"SUB": 1, "MUL": 2, "MAXIMUM": 3, "MINIMUM": 4, "SQUARED_DIFFERENCE": 5, "ADD": 6}[kind]
    cases = sweep_cases(kind, "int8", seed, profile == "edge")
    path = _write(tmp_path, f"{kind}_{profile}", binary_ops_model(kind, cases, pot=True))
    assert op_kinds(path) == [kind] * len(SHAPES)
    assert_bit_exact(path, samples=12, kernels=("ref",))


@pytest.mark.parametrize("profile", ["random", "edge"])
@pytest.mark.parametrize("kind", ["SUB", "MUL", "MAXIMUM", "MINIMUM", "ADD"])
def test_int16_sweep(tmp_path, kind, profile):
    seed = {"SUB": 11, "MUL": 12, "MAXIMUM": 13, "MINIMUM": 14, "ADD": 16}[kind]
    cases = sweep_cases(kind, "int16", seed, profile == "edge")
    path = _write(tmp_path, f"{kind}_{profile}_s16", binary_ops_model(kind, cases))
    assert {t.dtype for t in import_model(path).tensors} == {"int16"}
    assert_bit_exact(path, samples=12, kernels=("ref",))


@pytest.mark.parametrize("kind", ["SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"])
def test_float32_sweep(tmp_path, kind):
    cases = sweep_cases(kind, "float32", 21, edge=False)
    _verify_float(_write(tmp_path, f"{kind}_f32", binary_ops_model(kind, cases)))


def _all_pairs(tmp_path, kind: str, dtype: str, values: np.ndarray, n_quant: int, seed: int):
    """Every (a, b) of `values` x `values` through `kind` under n_quant quantizations: in1 [1, n, 1]
    against in2 [1, 1, n], an outer-product broadcast, fed `values` (not random inputs)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    cases = []
    for j in range(n_quant):
        edge = j % 2 == 1
        fused = FUSED[(j // 2) % 4] if kind in WITH_ACTIVATION and not edge else 0
        q = _quant(kind, dtype, rng, edge, j, fused)
        specs = [tensor_spec(sh, dtype, qq) for sh, qq in zip([(1, n, 1), (1, 1, n), (1, n, n)], q)]
        cases.append((*specs, fused))
    path = _write(tmp_path, f"{kind}_pairs_{dtype}", binary_ops_model(kind, cases))
    inputs = tmp_path / "pairs.npz"
    column, row = values.astype(dtype).reshape(1, n, 1), values.astype(dtype).reshape(1, 1, n)
    np.savez(inputs, *[v for _ in range(n_quant) for v in (column, row)])
    r = verify_tflite(path, inputs=inputs)
    assert r.bit_exact and r.samples == 1, r.summary()


@pytest.mark.parametrize("kind", ["SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "ADD"])
def test_int8_all_pairs(tmp_path, kind):
    """All 65,536 int8 operand pairs, under 8 quantizations (4 random, one per fused activation; 4 edge)."""
    _all_pairs(tmp_path, kind, "int8", np.arange(-128, 128), n_quant=8, seed=41)


@pytest.mark.parametrize("kind", ["SUB", "MUL", "ADD"])
def test_int16_many_pairs(tmp_path, kind):
    """384 int16 values (the extremes, small ones, random ones) paired every way, under 4 quantizations."""
    rng = np.random.default_rng(43)
    values = np.unique(np.concatenate([[-32768, -32767, -1, 0, 1, 32766, 32767], np.arange(-40, 41),
                                       rng.integers(-32768, 32768, size=300)]))
    _all_pairs(tmp_path, kind, "int16", values, n_quant=4, seed=44)


@pytest.mark.parametrize("kind", ["SUB", "ADD"])
def test_int16_pot_flag_with_general_scales(tmp_path, kind):
    """pot_scale_int16 set, scales not all powers of two: add.cc / sub.cc take the general path."""
    cases = sweep_cases(kind, "int16", 31, edge=False)
    path = _write(tmp_path, f"{kind}_potflag", binary_ops_model(kind, cases, pot=True))
    assert_bit_exact(path, samples=8, kernels=("ref",))


# --------------------------------------------------------------------------- refusals


def _one(kind, dtype, scales, zps=(0, 0, 0), shapes=((1, 4, 8), (1, 4, 8), (1, 4, 8)), fused=0, pot=False):
    specs = [tensor_spec(sh, dtype, (s, z)) for sh, s, z in zip(shapes, scales, zps)]
    return binary_ops_model(kind, [(*specs, fused)], pot=pot)


def _check(tmp_path, model: bytes):
    """Generate C for the model: UnsupportedModel for what tinyq refuses."""
    from tinyq.compiler import generate_library

    path = _write(tmp_path, "refused", model)
    return generate_library(path, name="m")


@pytest.mark.parametrize("kind", ["SUB", "ADD"])
def test_refuses_int16_power_of_two_path(tmp_path, kind):
    with pytest.raises(UnsupportedModel, match=f"pot_scale_int16.*power-of-two int16 {kind}.*--mode int16x8"):
        _check(tmp_path, _one(kind, "int16", (2.0**-10, 2.0**-12, 2.0**-10), pot=True))


def test_refuses_int16_squared_difference(tmp_path):
    with pytest.raises(UnsupportedModel, match="no int16 SQUARED_DIFFERENCE kernel"):
        _check(tmp_path, _one("SQUARED_DIFFERENCE", "int16", (1e-3, 1e-3, 1e-3)))


@pytest.mark.parametrize(("kind", "scales"), [("SUB", (0.5, 0.25, 1e-7)), ("SQUARED_DIFFERENCE", (0.5, 0.25, 1e-5))])
def test_refuses_output_rescale_of_one_or_more(tmp_path, kind, scales):
    with pytest.raises(UnsupportedModel, match="too small.*must be below 1"):
        _check(tmp_path, _one(kind, "int8", scales))


def test_refuses_tanh_fused_activation(tmp_path):
    with pytest.raises(UnsupportedModel, match="TANH"):
        _check(tmp_path, _one("SUB", "int8", (0.1, 0.1, 0.1), fused=4))


def _graph(kind, shapes, dtype="int8"):
    q = Quant(scale=(0.1,), zero_point=(0,))
    ts = [Tensor(i, n, sh, dtype, q) for i, (n, sh) in enumerate(zip("aby", shapes))]
    return Graph(tensors=ts, ops=[Op(0, kind, [0, 1], [2], None)], inputs=[0, 1], outputs=[2])


@pytest.mark.parametrize("kind", ["SUB", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"])
def test_rejects_rank_above_four_and_bad_broadcast(kind):
    g = _graph(kind, [(1, 2, 2, 2, 2)] * 3)
    with pytest.raises(UnsupportedModel, match="ranks up to 4"):
        REGISTRY[kind].check(g, g.ops[0])
    g = _graph(kind, [(1, 4, 3), (1, 4, 2), (1, 4, 3)])
    with pytest.raises(UnsupportedModel, match="do not broadcast"):
        REGISTRY[kind].check(g, g.ops[0])


def test_int16_and_float_lowerings_registered():
    for kind in ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"):
        assert kind in VARIANTS["int16"]
    for kind in ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"):
        assert kind in VARIANTS["float32"] and kind in REGISTRY


# --------------------------------------------------------------------------- Keras layers


def _keras_model(squared: bool = True):
    """Subtract (two inputs; a broadcast one with ReLU; a constant), Maximum, Minimum (broadcast),
    Multiply as squeeze-and-excitation, a SUB and a MAXIMUM in place, and (a - b)^2 (same shapes and
    broadcast)."""
    import keras

    L = keras.layers
    x, y = keras.Input((4, 4, 8)), keras.Input((4, 4, 8))
    c = L.Conv2D(8, 1)(x)
    pooled = L.GlobalAveragePooling2D(keepdims=True)(y)  # [1, 1, 1, 8]
    gate = L.Dense(8, activation="sigmoid")(L.Dense(4, activation="relu")(pooled))
    k = np.linspace(-1.5, 2.0, 8).astype(np.float32)
    outs = [
        L.Subtract()([x, y]),
        L.ReLU()(L.Subtract()([c, pooled])),
        x - k,
        L.Maximum()([x, c]),
        L.Minimum()([y, pooled]),
        L.Multiply()([c, gate]),
        # A SUB then a MAXIMUM whose first input dies there: each writes over it (in place).
        L.Conv2D(4, 1)(L.Maximum()([L.Subtract()([L.Conv2D(8, 1)(x), y]), c])),
    ]
    if squared:
        outs += [keras.ops.square(x - y), keras.ops.square(c - pooled)]
    model = keras.Model([x, y], outs)
    randomize_weights(model, np.random.default_rng(7), gain=1.0, bias_std=0.3)
    return model


_CACHE: dict = {}


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    """The Keras model converted once per mode: int8, int16x8 (without (a - b)^2), float."""
    root = tmp_path_factory.mktemp("binary_keras")

    def get(mode: str):
        if mode not in _CACHE:
            rng = np.random.default_rng(3)
            calib = [rng.uniform(-2.0, 2.0, size=(12, 4, 4, 8)).astype(np.float32),
                     rng.uniform(-1.0, 3.0, size=(12, 4, 4, 8)).astype(np.float32)]
            model = _keras_model(squared=mode != "int16x8")
            _CACHE[mode] = write_tflite(root, f"binary_{mode}", model, None if mode == "float" else calib, mode=mode)
        return _CACHE[mode]

    return get


KERAS_KINDS = {"SUB": 4, "MAXIMUM": 2, "MINIMUM": 1, "MUL": 1}


def _counts(path) -> dict[str, int]:
    kinds = op_kinds(path)
    return {k: kinds.count(k) for k in (*KERAS_KINDS, "SQUARED_DIFFERENCE")}


def _requantize(path, out, seed: int):
    """helpers.requantize (random activation scales, zero points, fused activations), then what
    TFLite fixes put back: LOGISTIC's output (1/256, -128) and a SQUARED_DIFFERENCE output scale
    its rescale accepts ((2 max in_scale)^2 / (2^14 out_scale) below 1)."""
    from ai_edge_litert import schema_py_generated as s

    def edit(m):
        sg = m.subgraphs[0]
        for op in sg.operators:
            code = m.operatorCodes[op.opcodeIndex].builtinCode
            q = sg.tensors[op.outputs[0]].quantization
            if code == s.BuiltinOperator.LOGISTIC:
                q.scale, q.zeroPoint = [1.0 / 256], [-128]
            elif code == s.BuiltinOperator.SQUARED_DIFFERENCE:
                twice_max = 2 * max(sg.tensors[i].quantization.scale[0] for i in op.inputs)
                q.scale = [max(float(q.scale[0]), _f32(twice_max**2 / 2**14 * 4))]

    return rewrite_tflite(requantize(path, out, seed), out, edit)


def test_keras_int8(keras_models, tmp_path):
    path = keras_models("int8")
    assert _counts(path) == {**KERAS_KINDS, "SQUARED_DIFFERENCE": 2}, op_kinds(path)
    assert_bit_exact(path, samples=12, kernels=("ref", "fast"))
    g = compile_tflite(path)
    in_place = [op.kind for op in g.ops if op.call.in_place and any("over its input" in n and f"layer {op.index} " in n for n in g.notes)]
    assert {"SUB", "MAXIMUM"} <= set(in_place), g.notes
    for seed in range(3):  # any scales and zero points, any fused activation
        assert_bit_exact(_requantize(path, tmp_path / f"requant{seed}.tflite", seed), samples=8, kernels=("ref",))


def test_keras_int16x8(keras_models):
    path = keras_models("int16x8")
    g = import_model(path)
    int16_kinds = [op.kind for op in g.ops if g.tensor(op.outputs[0]).dtype == "int16"]
    for kind, n in KERAS_KINDS.items():
        assert int16_kinds.count(kind) == n, int16_kinds
    assert_bit_exact(path, samples=12, kernels=("ref", "fast"))


def test_keras_float32(keras_models):
    path = keras_models("float")
    assert _counts(path) == {**KERAS_KINDS, "SQUARED_DIFFERENCE": 2}, op_kinds(path)
    _verify_float(path)


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
def test_keras_qemu_m4(keras_models, mode):
    """The same kernels on a Cortex-M4 under QEMU."""
    r = verify_on_board(keras_models(mode), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
