"""int16x8 (16-bit activations, 8-bit weights): `tinyq convert --mode int16x8` and the int16 kernels,
bit-exact against TFLite's reference interpreter, one tiny Keras model per op (a per-op sweep).

Each case is converted once (module cache), checked to hold the op it is about with int16 activations,
then compiled and run on the host by `verify_tflite` (random full-range int16 inputs, the edge inputs,
and the calibration samples themselves, which keep activations in their calibrated ranges).
LOGISTIC and TANH are also swept exhaustively: single-op models fed all 65536 int16 inputs, at input
scales chosen for the path TFLite's Prepare takes and at the scales the converter chose.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.checks.reference import Reference
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model, quant_mode
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel
from tinyq.ops.activation import checked_log2, sigmoid_input_scaling, sigmoid_table

from .conftest import run_tinyq
from .helpers import randomize_weights, single_op_model, write_tflite

L = keras.layers
ops = keras.ops


def _conv_model(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(5, 3, strides=2, padding="valid")(x)
    x = L.Conv2D(4, 3, padding="same", dilation_rate=2, use_bias=False, activation="relu6")(x)
    return keras.Model(inp, x)


def _depthwise_model(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(x)
    return keras.Model(inp, x)


def _dense_model(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.Flatten()(x)
    x = L.Dense(9, activation="relu")(x)
    x = L.Dense(4, use_bias=False)(x)
    return keras.Model(inp, x)


def _add_model(in_shape):
    inp = keras.Input(in_shape)
    a = L.Conv2D(3, 1)(inp)
    b = L.Conv2D(3, 3, padding="same")(inp)
    s = L.Add()([a, b])
    pooled = L.Conv2D(3, 1)(L.AveragePooling2D(in_shape[0])(inp))  # [1, 1, 3]
    return keras.Model(inp, L.ReLU()(ops.add(s, pooled)))  # a broadcast ADD, ReLU fused


def _pool_model(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.AveragePooling2D(3, strides=2, padding="same")(x)
    x = L.MaxPooling2D(2, strides=1, padding="valid")(x)
    x = L.AveragePooling2D(2, padding="valid")(x)
    return keras.Model(inp, x)


def _softmax_model(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.Dense(10)(x)
    x = L.Softmax()(x)
    return keras.Model(inp, x)


# id -> (model builder, input shape, the op kinds the converted model must hold)
CASES = {
    "conv": (_conv_model, (9, 9, 3), {"CONV_2D"}),
    "depthwise": (_depthwise_model, (8, 8, 3), {"DEPTHWISE_CONV_2D"}),
    "dense": (_dense_model, (3, 4, 2), {"FULLY_CONNECTED"}),
    "add": (_add_model, (6, 6, 2), {"ADD"}),
    "pool": (_pool_model, (9, 9, 3), {"AVERAGE_POOL_2D", "MAX_POOL_2D"}),
    "softmax": (_softmax_model, (3, 7), {"SOFTMAX"}),
}

_CACHE: dict = {}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Convert a case once per module: (path of the .tflite, path of its float calibration samples)."""
    root = tmp_path_factory.mktemp("int16x8")

    def get(name: str, float_io: bool = False):
        key = (name, float_io)
        if key not in _CACHE:
            build, in_shape, _ = CASES[name]
            rng = np.random.default_rng(len(name))
            model = build(in_shape)
            randomize_weights(model, rng, gain=1.0, bias_std=0.3)
            calib = rng.uniform(-1.5, 2.5, size=(12, *in_shape)).astype(np.float32)
            path = write_tflite(root, f"{name}{'_fio' if float_io else ''}", model, [calib], float_io=float_io, mode="int16x8")
            samples = root / f"{name}_x.npy"
            np.save(samples, calib)
            _CACHE[key] = (path, samples)
        return _CACHE[key]

    return get


def _int16_ops(path) -> dict[str, int]:
    g = import_model(path)
    assert quant_mode(g) == "int16x8"
    kinds: dict[str, int] = {}
    for op in g.ops:
        act = [g.tensor(i) for i in op.inputs + op.outputs if i >= 0 and not g.tensor(i).is_const]
        if act and all(t.dtype == "int16" for t in act):
            kinds[op.kind] = kinds.get(op.kind, 0) + 1
    return kinds


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_bit_exact(models, name):
    path, samples = models(name)
    kinds = _int16_ops(path)
    assert CASES[name][2] <= set(kinds), kinds
    r = verify_tflite(path, samples=16)
    assert r.bit_exact, r.summary()
    assert r.samples == 16 + r.edge_samples
    r = verify_tflite(path, inputs=samples)  # calibrated ranges (softmax rows that are not one-hot)
    assert r.bit_exact, r.summary()


def test_conv_bias_is_int64(models):
    g = import_model(models("conv")[0])
    biases = [g.tensor(op.inputs[2]) for op in g.ops if op.kind == "CONV_2D" and len(op.inputs) > 2 and op.inputs[2] >= 0]
    assert biases and all(b.dtype == "int64" for b in biases)


def test_float_io_edges(models):
    """--float-io: float32 in, QUANTIZE to int16, ..., DEQUANTIZE to float32 out."""
    path, samples = models("dense", float_io=True)
    g = import_model(path)
    assert [g.tensor(i).dtype for i in g.inputs + g.outputs] == ["float32", "float32"]
    assert {op.kind for op in g.ops} >= {"QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED"}
    r = verify_tflite(path, inputs=samples)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- LOGISTIC, TANH

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 65536)
OUT_2_15 = 1.0 / 32768

# (input scale, the input-scaling path Prepare takes): "pot" = power of two, multiplier 3 << shift;
# "general" = scale * 3 * 4096 doubled up past 16383.5 (up to shift 31), truncated.
SIGMOID_SCALES = [
    (2.0**-12, {"LOGISTIC": "pot", "TANH": "pot"}),  # Q3.12: shift 0
    (2.0**-11, {"LOGISTIC": "general", "TANH": "pot"}),  # shift 1: TANH only
    (2.0**-12 * 1.0004, {"LOGISTIC": "pot", "TANH": "pot"}),  # within CheckedLog2's 1e-3: taken as 2^-12
    (2.0**-12 * 1.002, {"LOGISTIC": "general", "TANH": "general"}),  # just outside it
    (8.0 / 32767, {"LOGISTIC": "pot", "TANH": "pot"}),  # the converter's scale for a range of +/-8
    (2.0**-13, {"LOGISTIC": "general", "TANH": "general"}),  # a power of two off the supported shifts
    (3.0 / 4096, {"LOGISTIC": "general", "TANH": "general"}),
    (1.0 / (3 * 4096), {"LOGISTIC": "general", "TANH": "general"}),  # multiplier exactly 2^14
    (4.5 / 32767, {"LOGISTIC": "general", "TANH": "general"}),
    (0.1234, {"LOGISTIC": "general", "TANH": "general"}),
    (1.0, {"LOGISTIC": "general", "TANH": "general"}),  # one doubling
    (5.0, {"LOGISTIC": "general", "TANH": "general"}),  # no doubling, the largest multiplier that fits
    (1e-9, {"LOGISTIC": "general", "TANH": "general"}),  # the loop stops at shift 31
]


def _sigmoid_model(tmp_path, kind: str, in_scale: float, out_scale: float = OUT_2_15):
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(single_op_model(kind, (1, 65536), (in_scale, 0), (out_scale, 0), dtype="INT16"))
    return path


def _all_inputs_bit_exact(tmp_path, kind: str, in_scale: float, out_scale: float = OUT_2_15) -> None:
    """Every int16 input through the generated C on the host against the reference interpreter."""
    data = tmp_path / "all_int16.npy"
    np.save(data, ALL_INT16)
    r = verify_tflite(_sigmoid_model(tmp_path, kind, in_scale, out_scale), samples=0, inputs=data)
    assert r.samples == 1 and r.bit_exact, f"{kind} input scale {in_scale!r}: {r.summary()}"


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale,paths", SIGMOID_SCALES, ids=[f"{s:.6g}" for s, _ in SIGMOID_SCALES])
def test_sigmoid_all_inputs(tmp_path, kind, scale, paths):
    """All 65536 int16 inputs, bit-exact, over input scales that take each of Prepare's paths."""
    mult, shift = sigmoid_input_scaling(kind, scale)
    took_pot = (mult, shift) in ((3, 0), (6, 0))  # the general path ends above 16383.5 or shifted
    assert took_pot == (paths[kind] == "pot") and (not took_pot or checked_log2(scale)[0]), (mult, shift)
    _all_inputs_bit_exact(tmp_path, kind, scale)


def test_tanh_output_scale_tolerance(tmp_path):
    """TanhPrepare takes any output scale CheckedLog2 rounds to 2^-15; the kernel ignores it."""
    _all_inputs_bit_exact(tmp_path, "TANH", 4.5 / 32767, OUT_2_15 * 1.0004)


def test_sigmoid_table_equals_interpreters(tmp_path):
    """The generated table against the one the interpreter holds, read back entry by entry.

    TANH at input scale just above 1/48 rescales x to exactly 256 x: output x is entry x - 32768 for
    x < 255 (no interpolation). Entry 255 only enters interpolations: at scale 2^-12, x = 21759 lands
    253/256 of the way from entry 254 to 255, which adds (253 d + 128) >> 8 = d for a step d < 43.
    """
    scale = float(np.nextafter(np.float32(1.0 / 48), np.float32(1.0)))
    assert sigmoid_input_scaling("TANH", scale) == (16384, 6)
    direct = Reference(_sigmoid_model(tmp_path, "TANH", scale))
    out = direct.run([np.arange(65536, dtype=np.int16).reshape(1, -1) % 255], [0], [1])[0].reshape(-1)
    interpolated = Reference(_sigmoid_model(tmp_path, "TANH", 2.0**-12))
    near_end = interpolated.run([np.full((1, 65536), 21759, dtype=np.int16)], [0], [1])[0].reshape(-1)
    reference = np.append(out[:255].astype(np.int64), int(near_end[0])) + 32768
    assert 0 <= reference[255] - reference[254] < 43  # where (253 d + 128) >> 8 = d
    table = sigmoid_table().astype(np.int64)
    bad = np.nonzero(table != reference)[0]
    assert bad.size == 0, f"first mismatch at entry {bad[0]}: generated {table[bad[0]]}, interpreter {reference[bad[0]]}"


@pytest.mark.parametrize(
    "kind,in_scale,out_scale,zp,words",
    [
        ("LOGISTIC", 4.5 / 32767, 1.0 / 16384, 0, "output scale is 6.10352e-05, TFLite requires 1/32768 for int16 LOGISTIC"),
        ("TANH", 4.5 / 32767, 1.0 / 32767 * 1.01, 0, "TFLite requires 1/32768 for int16 TANH"),
        ("TANH", 4.5 / 32767, OUT_2_15, 3, "zero point 3; TFLite requires 0"),
        ("LOGISTIC", 6.0, OUT_2_15, 0, "input scale 6 is outside TFLite's int16 LOGISTIC input range"),
        ("TANH", 1e-14, OUT_2_15, 0, "input scale 1e-14 is outside"),
    ],
)
def test_sigmoid_rejections(tmp_path, kind, in_scale, out_scale, zp, words):
    """What TFLite's Prepare rejects, or its int32 arithmetic cannot do, fails at generation in one line naming the fix."""
    path = tmp_path / "m.tflite"
    path.write_bytes(single_op_model(kind, (1, 8), (in_scale, zp), (out_scale, 0), dtype="INT16"))
    with pytest.raises(UnsupportedModel) as e:
        compile_graph(import_model(path))
    msg = str(e.value)
    assert words in msg and "\n" not in msg and ("`--mode int8`" in msg or "--mode int16x8`" in msg), msg


def _sigmoid_tanh_keras(in_shape):
    x = inp = keras.Input(in_shape)
    x = L.Dense(8, activation="sigmoid")(x)
    x = L.Dense(6, activation="tanh")(x)
    x = L.Dense(6, activation="tanh")(x)
    return keras.Model(inp, L.Dense(4, activation="sigmoid")(x))


@pytest.fixture(scope="module")
def sigmoid_tanh_cli(tmp_path_factory):
    """A Keras model with sigmoid and tanh layers, converted by `tinyq convert --mode int16x8`."""
    root = tmp_path_factory.mktemp("sigmoid_tanh")
    rng = np.random.default_rng(11)
    model = _sigmoid_tanh_keras((5,))
    randomize_weights(model, rng, gain=1.0, bias_std=0.3)
    model.save(root / "m.keras")
    calib = rng.uniform(-3.0, 3.0, size=(16, 5)).astype(np.float32)
    np.save(root / "calib.npy", calib)
    r = run_tinyq("convert", root / "m.keras", "-c", root / "calib.npy", "-o", root / "m.tflite", "--mode", "int16x8")
    assert r.returncode == 0, r.stderr
    return root / "m.tflite", root / "calib.npy"


def test_sigmoid_tanh_model(sigmoid_tanh_cli, tmp_path):
    """The converted model on the host; then every int16 input at the scales the converter chose."""
    path, calib = sigmoid_tanh_cli
    assert {"LOGISTIC", "TANH"} <= set(_int16_ops(path)), _int16_ops(path)
    for r in (verify_tflite(path, samples=16), verify_tflite(path, inputs=calib)):
        assert r.bit_exact, r.summary()
    g = import_model(path)
    scales = {(op.kind, float(g.tensor(op.inputs[0]).quant.s)) for op in g.ops if op.kind in ("LOGISTIC", "TANH")}
    assert len(scales) >= 3, scales
    for kind, scale in sorted(scales):
        _all_inputs_bit_exact(tmp_path, kind, scale)


def test_sigmoid_tanh_qemu_m4(sigmoid_tanh_cli):
    """The int16 LOGISTIC / TANH kernels on a Cortex-M4 under QEMU."""
    path, calib = sigmoid_tanh_cli
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
    assert r.samples == 3 + 3
    r = verify_on_board(path, "qemu-m4", inputs=calib)
    assert r.bit_exact and r.samples == 16, r.summary()


def test_convert_cli_needs_calibration(tmp_path):
    model = tmp_path / "m.keras"
    keras.Sequential([keras.Input((4,)), L.Dense(2)]).save(model)
    r = run_tinyq("convert", model, "-o", tmp_path / "m.tflite", "--mode", "int16x8")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--calib is missing" in lines[0] and "int16x8" in lines[0], r.stderr


def test_convert_cli_writes_int16_model(tmp_path):
    model, calib = tmp_path / "m.keras", tmp_path / "c.npy"
    keras.Sequential([keras.Input((6,)), L.Dense(3, activation="relu")]).save(model)
    np.save(calib, np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32))
    r = run_tinyq("convert", model, "-c", calib, "-o", tmp_path / "m.tflite", "--mode", "int16x8", "--json")
    assert r.returncode == 0, r.stderr
    import json

    report = json.loads(r.stdout)
    assert report["mode"] == "int16x8"
    assert [e["dtype"] for e in report["inputs"] + report["outputs"]] == ["int16", "int16"]
    assert report["inputs"][0]["zero_point"] == 0


@pytest.mark.parametrize("name", ["conv", "softmax"])
def test_qemu_m4(models, name):
    """The same kernels on a Cortex-M4 under QEMU: int16 I/O is 2 bytes an element, little endian."""
    path, _ = models(name)
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
    assert r.samples == 3 + 3
