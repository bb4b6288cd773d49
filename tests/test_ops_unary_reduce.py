"""Activations (ELU, LEAKY_RELU on int16, PRELU, ABS, NEG) and reductions (MEAN on int16, REDUCE_MAX,
REDUCE_MIN, SUM) against TFLite's reference interpreter, bit for bit (float32: within FLOAT_TOLERANCE).

- Single-op models written as flatbuffers sweep what the converter cannot reach: every int8 input
  (256) and every int16 input (65536) of the elementwise ops over fixed, random and edge scales and
  zero points; alphas of both signs; reduction shapes and axes (one, several, negative, repeated,
  scalar, all of them; keep_dims both ways).
- Keras models through tinyq's converter (int8, `--mode int16x8`, float32) cover what real models
  hold: LeakyReLU, PReLU, ELU, GlobalMaxPooling1D/2D, GlobalAveragePooling1D/2D, keras.ops.sum / max /
  min / abs / negative; the int8 one also with random activation scales (helpers.requantize).
- A few of them run on qemu-m4.

ELU is checked against the interpreter's BUILTIN resolver: TFLite has one ELU kernel (activations.cc
EluPrepare / EluEval), but BuiltinRefOpResolver does not register it, so `tinyq verify` cannot load an
ELU model. What the reference cannot give is refused with a message: quantized SUM (the reference
kernel reads the tensors as uint8), int16 HARD_SWISH (no reference kernel), REDUCE_MAX / REDUCE_MIN
whose output quantization differs from the input's (the reference fails at run time).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.build.host import HostModel
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model, quant_mode
from tinyq.compiler.pipeline import generate_library
from tinyq.errors import UnsupportedModel
from tinyq.ops.activation import LUT_FUNCTIONS, lut_table

from .helpers import (
    assert_bit_exact,
    one_op_model,
    randomize_weights,
    ref_interpreter,
    requantize,
    tensor_spec,
    write_tflite,
)

L = keras.layers
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ALL_INT8 = np.arange(-128, 128).reshape(1, 1, 256)
ALL_INT16 = np.arange(-32768, 32768).reshape(1, 1, 65536)
DTYPES = {"int8": np.int8, "int16": np.int16, "float32": np.float32}


# --------------------------------------------------------------------------- flatbuffers and checks


def _options(kind: str, **fields):
    from ai_edge_litert import schema_py_generated as s

    name = {"LEAKY_RELU": "LeakyReluOptions", "SUM": "ReducerOptions", "MEAN": "ReducerOptions",
            "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions"}.get(kind)
    if name is None:
        return None, 0
    o = getattr(s, name + "T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o, getattr(s.BuiltinOptions, name)


def unary_model(kind: str, dtype: str, n: int, in_q, out_q, **options) -> bytes:
    """x [1, n] -> kind -> y [1, n]."""
    return one_op_model(kind, [tensor_spec((1, n), dtype, in_q, name="x")], [tensor_spec((1, n), dtype, out_q, name="y")],
                        *_options(kind, **options))


def reduce_model(kind: str, dtype: str, shape, axes, keep: bool, in_q=None, out_q=None) -> bytes:
    """x -> kind over the constant `axes` (a list, or an int for a scalar axis tensor) -> y."""
    ax = np.array(axes, dtype=np.int32)
    rank = len(shape)
    resolved = {a % rank for a in np.reshape(ax, -1).tolist()}
    kept = [1 if i in resolved else d for i, d in enumerate(shape)]
    out_shape = kept if keep else [d for i, d in enumerate(shape) if i not in resolved]
    return one_op_model(kind, [tensor_spec(shape, dtype, in_q, name="x"), tensor_spec(ax.shape, "int32", None, data=ax, name="axes")],
                        [tensor_spec(out_shape, dtype, out_q, name="y")], *_options(kind, keepDims=keep))


def prelu_model(dtype: str, shape, alpha: np.ndarray, in_q=None, alpha_q=None, out_q=None) -> bytes:
    return one_op_model("PRELU", [tensor_spec(shape, dtype, in_q, name="x"), tensor_spec(alpha.shape, dtype, alpha_q, data=alpha, name="alpha")],
                        [tensor_spec(shape, dtype, out_q, name="y")])


def check(tmp_path, tag: str, model: bytes, inputs: np.ndarray | None = None, samples: int = 20):
    """`model` bit-exact on the host: on `inputs` (samples first) if given, else on random and edge inputs."""
    path = tmp_path / f"{tag}.tflite"
    path.write_bytes(model)
    if inputs is None:
        return assert_bit_exact(path, samples=samples)
    data = tmp_path / f"{tag}.npy"
    np.save(data, inputs)
    r = verify_tflite(path, samples=0, inputs=data)
    assert r.samples == inputs.shape[0] and r.bit_exact, f"{tag}: {r.summary()}"
    return r


def refused(tmp_path, model: bytes, *words: str) -> str:
    path = tmp_path / "refused.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedModel) as e:
        generate_library(path, name="tq_model")
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


def run_builtin(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The interpreter with its default (BUILTIN) kernels: the only resolver that has ELU."""
    from ai_edge_litert import interpreter as lrt

    src = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = lrt.Interpreter(experimental_op_resolver_type=lrt.OpResolverType.BUILTIN, num_threads=1, **src)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], np.asarray(x, d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def run_host(path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    host = HostModel(generate_library(path, name="tq_model"), "tq_model")
    try:
        return host.run(inputs)[0]
    finally:
        host.close()


def _quants(seed: int, n: int, dtype: str = "int8"):
    """Fixed edge quantizations, then `n` random ones (int16: zero point 0)."""
    rng = np.random.default_rng(seed)
    if dtype == "int16":
        fixed = [(1.0 / 32768, 0), (3.0517578125e-05 * 7, 0), (0.5, 0)]
        return fixed + [(float(np.float32(10 ** rng.uniform(-5, -1))), 0) for _ in range(n)]
    fixed = [(0.0784313753247261, -1), (0.001, -128), (3.0, 127), (1.0 / 16, 0)]
    return fixed + [(float(np.float32(10 ** rng.uniform(-3, 0.5))), int(rng.integers(-128, 128))) for _ in range(n)]


# --------------------------------------------------------------------------- ELU (int8 table, float)


@pytest.mark.parametrize("case", range(6))
def test_elu_int8_table_all_inputs(tmp_path, case):
    """EluPrepare's LUTPopulate<int8_t> (expm1f in float32) on all 256 inputs, generated C against the
    interpreter's ELU kernel, at edge and random input / output quantizations."""
    in_q = _quants(10 + case, 2)[case]
    out_q = _quants(20 + case, 2)[::-1][case]
    model = unary_model("ELU", "int8", 256, in_q, out_q)
    want = run_builtin(model, [ALL_INT8[0]])[0]
    table = lut_table(in_q[0], in_q[1], out_q[0], out_q[1], LUT_FUNCTIONS["ELU"])
    np.testing.assert_array_equal(table[ALL_INT8[0, 0].astype(np.int8).view(np.uint8)], want[0])
    path = tmp_path / "elu.tflite"
    path.write_bytes(model)
    np.testing.assert_array_equal(run_host(path, [ALL_INT8[0].astype(np.int8)])[0], want)


def test_elu_float_keras(tmp_path):
    """Keras ELU (float32 only: TensorFlow's converter has no int8 or int16 ELU) within the tolerance."""
    from tinyq.checks.match import FLOAT_TOLERANCE, compare_output

    x = keras.Input((12,))
    model = keras.Model(x, [L.ELU()(L.Dense(16)(x)), L.ELU(alpha=1.0)(x)])
    randomize_weights(model, np.random.default_rng(3))
    path = write_tflite(tmp_path, "elu", model, None, mode="float")
    assert "ELU" in {op.kind for op in import_model(path).ops}
    rng = np.random.default_rng(4)
    for _ in range(5):
        xs = [rng.uniform(-6, 3, (1, 12)).astype(np.float32)]
        for got, want in zip(run_host(path, xs), run_builtin(path, xs)):
            assert compare_output(got.reshape(want.shape), want, FLOAT_TOLERANCE).first_bad is None


# --------------------------------------------------------------------------- LEAKY_RELU


def test_leaky_relu_negative_alpha_ties(tmp_path):
    """A negative alpha is applied by magnitude, the rounded product negated: with equal scales and
    alpha -0.75, input -2 gives 1 (a signed multiplier would round the tie 1.5 to 2)."""
    for dtype, data in (("int8", ALL_INT8), ("int16", ALL_INT16)):
        for alpha in (-0.75, -0.25, -1.5):
            q = (0.5, 0)
            model = unary_model("LEAKY_RELU", dtype, data.shape[-1], q, q, alpha=alpha)
            check(tmp_path, f"tie_{dtype}{alpha}", model, data.astype(DTYPES[dtype]))


@pytest.mark.parametrize("alpha", [0.1, 0.3, 1.5, -0.25, 0.0, 2.0])
def test_leaky_relu_int16_all_inputs(tmp_path, alpha):
    """Every int16 input at several input / output scales (equal, finer, coarser, random)."""
    qs = _quants(int(alpha * 100) % 97, 2, "int16")
    pairs = [(qs[0], qs[0]), (qs[1], qs[0]), (qs[0], qs[2]), (qs[3], qs[4])]
    for k, (in_q, out_q) in enumerate(pairs):
        model = unary_model("LEAKY_RELU", "int16", 65536, in_q, out_q, alpha=alpha)
        check(tmp_path, f"leaky16_{k}", model, ALL_INT16.astype(np.int16))


# --------------------------------------------------------------------------- PRELU

PRELU_SHAPES = [
    # input shape, alpha shape
    ((1, 4, 4, 5), (1, 1, 5)),  # Keras PReLU(shared_axes=[1, 2])
    ((1, 4, 4, 5), (4, 4, 5)),  # Keras PReLU()
    ((1, 4, 4, 5), (5,)),
    ((1, 3, 4, 2), (1, 4, 1)),
    ((1, 3, 6), (3, 1)),
    ((1, 9), (9,)),
    ((1, 2, 3, 4), (1, 2, 3, 4)),
]


@pytest.mark.parametrize("shape,alpha_shape", PRELU_SHAPES)
def test_prelu_int8_sweep(tmp_path, shape, alpha_shape):
    """Broadcast alphas with random values, alpha scales and zero points, random activation quantization."""
    rng = np.random.default_rng(sum(shape) + len(alpha_shape))
    for k in range(3):
        alpha = rng.integers(-128, 128, alpha_shape).astype(np.int8)
        alpha_q = (float(np.float32(10 ** rng.uniform(-3, -1))), int(rng.integers(-30, 30)) if k else 0)
        in_q, out_q = _quants(k, 3)[4 + k], _quants(50 + k, 3)[3 + k]
        check(tmp_path, f"prelu{k}", prelu_model("int8", shape, alpha, in_q, alpha_q, out_q), samples=12)


@pytest.mark.parametrize("shape,alpha_shape", PRELU_SHAPES[:4])
def test_prelu_float_sweep(tmp_path, shape, alpha_shape):
    alpha = np.random.default_rng(7).normal(0, 0.5, alpha_shape).astype(np.float32)
    check(tmp_path, "prelu_f32", prelu_model("float32", shape, alpha), samples=8)


def test_prelu_int8_all_inputs(tmp_path):
    """All 256 inputs against every alpha value (alpha [256] broadcast over 256 copies of the input)."""
    x = np.repeat(np.arange(-128, 128), 256).reshape(1, 256, 256)  # x[i, j] = i - 128, alpha[j] = j - 128
    alpha = np.arange(-128, 128).astype(np.int8)
    for k, (in_q, a_q, out_q) in enumerate([((0.05, 3), (0.01, 0), (0.04, -20)), ((0.5, -128), (0.003, 17), (2.0, 127))]):
        model = prelu_model("int8", (1, 256, 256), alpha, in_q, a_q, out_q)
        check(tmp_path, f"prelu_all{k}", model, x.reshape(1, 1, 256, 256).astype(np.int8))


def test_prelu_alpha_not_broadcastable_refused(tmp_path):
    alpha = np.zeros((3,), np.int8)
    refused(tmp_path, prelu_model("int8", (1, 4, 5), alpha, (0.1, 0), (0.1, 0), (0.1, 0)), "alpha shape [3]", "[1, 4, 5]")


# --------------------------------------------------------------------------- ABS, NEG


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_abs_all_inputs(tmp_path, dtype):
    """Equal scales (no rescale, any zero points) and different ones, every input."""
    data = (ALL_INT8 if dtype == "int8" else ALL_INT16).astype(DTYPES[dtype])
    qs = _quants(31, 4, dtype)
    pairs = [(qs[0], (qs[0][0], qs[1][1])), (qs[1], qs[2]), (qs[2], qs[1]), (qs[4], qs[5]), (qs[5], qs[6])]
    for k, (in_q, out_q) in enumerate(pairs):
        check(tmp_path, f"abs{k}", unary_model("ABS", dtype, data.shape[-1], in_q, out_q), data)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_neg_all_inputs(tmp_path, dtype):
    """TFLite negates the raw values whatever the quantization (the converter never emits it quantized)."""
    data = (ALL_INT8 if dtype == "int8" else ALL_INT16).astype(DTYPES[dtype])
    for k, (in_q, out_q) in enumerate([((0.1, 0), (0.1, 0)), ((0.02, 0), (0.5, 0))] + ([((0.1, 5), (0.3, -9))] if dtype == "int8" else [])):
        check(tmp_path, f"neg{k}", unary_model("NEG", dtype, data.shape[-1], in_q, out_q), data)


def test_abs_neg_float(tmp_path):
    for kind in ("ABS", "NEG"):
        check(tmp_path, kind, unary_model(kind, "float32", 40, None, None), samples=10)


# --------------------------------------------------------------------------- reductions

REDUCE_CASES = [
    # input shape, axes (an int: a scalar axis tensor), keep_dims
    ((1, 5, 5, 4), [1, 2], False),  # Keras GlobalMax/AveragePooling2D
    ((1, 5, 5, 4), [2, 1], True),
    ((1, 7, 4), 1, False),  # Keras GlobalMaxPooling1D: a scalar axis
    ((2, 3, 4, 5), [0, 2], True),
    ((2, 3, 4, 5), [-1], False),
    ((2, 3, 4, 5), [3, -1, 0], False),  # repeated axis
    ((2, 3, 4, 5), [0, 1, 2, 3], False),  # every axis
    ((6,), [0], True),
    ((3, 4), [-2], False),
    ((4, 6), [1, 0], True),
    ((1, 1, 9, 3), [2], True),
]
CASE_IDS = [f"{'x'.join(map(str, s))}-{a}-{'keep' if k else 'drop'}" for s, a, k in REDUCE_CASES]


@pytest.mark.parametrize("shape,axes,keep", REDUCE_CASES, ids=CASE_IDS)
def test_reduce_max_min_sweep(tmp_path, shape, axes, keep):
    """REDUCE_MAX and REDUCE_MIN on int8 (random shared quantization), int16 and float32."""
    rng = np.random.default_rng(len(CASE_IDS[REDUCE_CASES.index((shape, axes, keep))]))
    q8 = (float(np.float32(10 ** rng.uniform(-3, 0))), int(rng.integers(-128, 128)))
    q16 = (float(np.float32(10 ** rng.uniform(-5, -2))), 0)
    for kind in ("REDUCE_MAX", "REDUCE_MIN"):
        check(tmp_path, f"{kind}8", reduce_model(kind, "int8", shape, axes, keep, q8, q8), samples=10)
        check(tmp_path, f"{kind}16", reduce_model(kind, "int16", shape, axes, keep, q16, q16), samples=10)
        check(tmp_path, f"{kind}f", reduce_model(kind, "float32", shape, axes, keep), samples=6)


@pytest.mark.parametrize("shape,axes,keep", REDUCE_CASES, ids=CASE_IDS)
def test_mean_int16_and_sum_float_sweep(tmp_path, shape, axes, keep):
    """MEAN on int16 (random input / output scales: the count folded into the multiplier) and SUM on float32."""
    rng = np.random.default_rng(100 + len(CASE_IDS[REDUCE_CASES.index((shape, axes, keep))]))
    for k in range(2):
        in_q = (float(np.float32(10 ** rng.uniform(-5, -2))), 0)
        out_q = (float(np.float32(in_q[0] * 10 ** rng.uniform(-1.5, 1))), 0)
        check(tmp_path, f"mean16_{k}", reduce_model("MEAN", "int16", shape, axes, keep, in_q, out_q), samples=10)
    check(tmp_path, "sumf", reduce_model("SUM", "float32", shape, axes, keep), samples=6)


def test_mean_int16_long_and_extreme(tmp_path):
    """Many elements (the count's bits capped by 31 + shift) and full-scale inputs."""
    data = np.stack([np.full((1, 64, 64, 2), v, np.int16) for v in (32767, -32768)] + [np.random.default_rng(1).integers(-32768, 32768, (1, 64, 64, 2)).astype(np.int16)])
    for k, (in_q, out_q) in enumerate([((1e-4, 0), (1e-4, 0)), ((3e-5, 0), (1e-3, 0)), ((1e-3, 0), (3e-5, 0))]):
        check(tmp_path, f"mean_long{k}", reduce_model("MEAN", "int16", (1, 64, 64, 2), [1, 2], False, in_q, out_q), data)


def test_reduce_float_all_axes_starts_from_first_element(tmp_path):
    """ReduceAllDims starts from the first element, ReduceGeneric from -FLT_MAX: all -inf inputs give
    -inf over every axis and -FLT_MAX over some."""
    x = np.full((1, 2, 3), -np.inf, np.float32)
    for axes, want in (([0, 1, 2], -np.inf), ([1, 2], -np.finfo(np.float32).max)):
        path = tmp_path / "allneg.tflite"
        path.write_bytes(reduce_model("REDUCE_MAX", "float32", (1, 2, 3), axes, False))
        it = ref_interpreter(path)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = it.get_tensor(it.get_output_details()[0]["index"])
        got = run_host(path, [x])[0].reshape(ref.shape)
        assert np.all(ref == want) and np.array_equal(got, ref), (axes, got, ref)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_quantized_sum_refused(tmp_path, dtype):
    """The reference SUM reads quantized tensors as uint8: -1 counts as 255 (shown here), so tinyq refuses."""
    q = (0.5, 0)
    model = reduce_model("SUM", dtype, (2, 4), [1], False, q, q)
    it = ref_interpreter(model)
    it.set_tensor(it.get_input_details()[0]["index"], np.array([[-1, -2, 3, 4], [1, 1, 1, 1]], DTYPES[dtype]))
    it.invoke()
    if dtype == "int8":
        assert it.get_tensor(it.get_output_details()[0]["index"]).tolist() == [-1, 4]  # 255+254+3+4 clamps to 255
    refused(tmp_path, model, f"{dtype} SUM is not supported", "uint8", "MEAN")


def test_reduce_max_needs_equal_quantization(tmp_path):
    model = reduce_model("REDUCE_MAX", "int8", (1, 4, 3), [1], False, (0.1, 3), (0.2, 3))
    refused(tmp_path, model, "differs from the input's", "REDUCE_MAX")


def test_hard_swish_int16_refused(tmp_path):
    refused(tmp_path, unary_model("HARD_SWISH", "int16", 8, (0.001, 0), (0.001, 0)), "no int16 HARD_SWISH")


# --------------------------------------------------------------------------- Keras models

_KERAS: dict = {}


def _act_model():
    """Activations after a convolution (realistic scales) and the ops Keras lowers to reductions."""
    x = inp = keras.Input((6, 6, 3))
    y = L.Conv2D(5, 1)(x)
    seq = L.Reshape((36, 5))(y)
    outs = [
        L.LeakyReLU(negative_slope=0.2)(y),
        L.LeakyReLU(negative_slope=1.5)(y),
        L.GlobalAveragePooling2D()(y),
        L.GlobalAveragePooling1D()(seq),
        keras.ops.abs(y),
    ]
    return keras.Model(inp, outs)


def _prelus(x):
    """Two PReLUs, each after its own convolution (on one shared tensor the converter does not fuse
    them into PRELU but spells them out as RELU, NEG, MUL and ADD)."""
    return [L.PReLU(shared_axes=[1, 2])(L.Conv2D(5, 1)(x)), L.PReLU()(L.Conv2D(4, 3)(x))]


def _prelu_model():
    x = keras.Input((6, 6, 3))
    return keras.Model(x, _prelus(x))


def _reduce_model():
    x = inp = keras.Input((6, 6, 3))
    y = L.Conv2D(5, 1)(x)
    seq = L.Reshape((36, 5))(y)
    outs = [
        L.GlobalMaxPooling2D()(y),
        L.GlobalMaxPooling2D(keepdims=True)(y),
        L.GlobalMaxPooling1D()(seq),
        keras.ops.max(y, axis=-1, keepdims=True),
        keras.ops.min(y, axis=[1, 2]),
        keras.ops.min(seq, axis=0),
    ]
    return keras.Model(inp, outs)


def _float_model():
    x = inp = keras.Input((6, 6, 3))
    y = L.Conv2D(5, 1)(x)
    seq = L.Reshape((36, 5))(y)
    outs = [
        L.LeakyReLU(negative_slope=0.2)(y), *_prelus(x),
        L.GlobalMaxPooling2D()(y), L.GlobalMaxPooling1D()(seq), L.GlobalAveragePooling1D()(seq),
        keras.ops.sum(y, axis=[1, 2]), keras.ops.sum(seq), keras.ops.max(y, axis=-1), keras.ops.min(seq, axis=1, keepdims=True),
        keras.ops.abs(y), keras.ops.negative(y),
    ]
    return keras.Model(inp, outs)


KERAS = {
    # name: (builder, mode, op kinds the converted model must hold)
    "act_int8": (_act_model, "int8", {"LEAKY_RELU", "MEAN", "ABS"}),
    "prelu_int8": (_prelu_model, "int8", {"PRELU"}),
    "reduce_int8": (_reduce_model, "int8", {"REDUCE_MAX", "REDUCE_MIN"}),
    "act_int16x8": (_act_model, "int16x8", {"LEAKY_RELU", "MEAN", "ABS"}),
    "reduce_int16x8": (_reduce_model, "int16x8", {"REDUCE_MAX", "REDUCE_MIN"}),
    "float": (_float_model, "float", {"LEAKY_RELU", "PRELU", "REDUCE_MAX", "REDUCE_MIN", "MEAN", "SUM", "ABS", "NEG"}),
}


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("unary_reduce")

    def get(name: str):
        if name not in _KERAS:
            build, mode, _ = KERAS[name]
            model = build()
            randomize_weights(model, np.random.default_rng(len(name)))
            calib = None if mode == "float" else [np.random.default_rng(5).uniform(-2, 2, (16, 6, 6, 3)).astype(np.float32)]
            _KERAS[name] = write_tflite(root, name, model, calib, mode=mode)
        return _KERAS[name]

    return get


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_models(keras_models, name):
    path = keras_models(name)
    g = import_model(path)
    assert quant_mode(g) == KERAS[name][1]
    assert KERAS[name][2] <= {op.kind for op in g.ops}, [op.kind for op in g.ops]
    r = verify_tflite(path, samples=12)
    assert r.passed, r.summary()


@pytest.mark.parametrize("seed", [1, 2])
def test_keras_int8_requantized(keras_models, tmp_path, seed):
    """The int8 models with random activation scales and zero points (shared ones where REDUCE_MAX
    / MIN need the output to keep the input's) and fused activations."""
    for name, same in (("act_int8", False), ("prelu_int8", False), ("reduce_int8", True)):
        path = requantize(keras_models(name), tmp_path / f"{name}_{seed}.tflite", seed, same=same)
        assert_bit_exact(path, samples=10)


@pytest.mark.parametrize("name", ["act_int8", "prelu_int8", "reduce_int8", "act_int16x8", "reduce_int16x8"])
def test_keras_models_qemu_m4(keras_models, name):
    r = verify_on_board(keras_models(name), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def test_elu_qemu_m4(tmp_path):
    """ELU on the core: the int8 table on all 256 inputs (bit-exact) and float32 expm1f from newlib
    (within the tolerance), against the interpreter's ELU kernel (BUILTIN: BUILTIN_REF has none)."""
    from tinyq.boards import get_board
    from tinyq.build.firmware import build
    from tinyq.checks.match import FLOAT_TOLERANCE, compare_output
    from tinyq.checks.runners import DeviceRunner
    from tinyq.device import open_device

    board = get_board("qemu-m4")
    x = keras.Input((64,))
    fm = keras.Model(x, L.ELU()(x))
    cases = [
        (unary_model("ELU", "int8", 256, (0.04, 30), (0.03, -60)), [ALL_INT8[0].astype(np.int8)]),
        (write_tflite(tmp_path, "elu_f", fm, None, mode="float").read_bytes(),
         [np.linspace(-12, 3, 64, dtype=np.float32).reshape(1, 64)]),
    ]
    for k, (model, inputs) in enumerate(cases):
        path = tmp_path / f"elu{k}.tflite"
        path.write_bytes(model)
        built = build(path, board, tmp_path / f"build{k}")
        with open_device(built.out_dir, board) as dut:
            got = DeviceRunner(dut, built.manifest).run(inputs)
        for g_out, want in zip(got, run_builtin(model, inputs)):
            g_out = np.asarray(g_out).reshape(want.shape)
            if want.dtype == np.float32:
                assert compare_output(g_out, want, FLOAT_TOLERANCE).first_bad is None
            else:
                np.testing.assert_array_equal(g_out, want)
