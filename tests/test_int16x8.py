"""int16x8 (16-bit activations, 8-bit weights): `tinyq convert --mode int16x8` and the int16 kernels,
bit-exact against TFLite's reference interpreter, one tiny Keras model per op (a per-op sweep).

Each case is converted once (module cache), checked to hold the op it is about with int16 activations,
then compiled and run on the host by `verify_tflite` (random full-range int16 inputs, the edge inputs,
and the calibration samples themselves, which keep activations in their calibrated ranges).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.convert import convert_keras
from tinyq.errors import UnsupportedModel
from tinyq.importer import import_model, quant_mode
from tinyq.verify import verify_on_board, verify_tflite

from .conftest import run_tinyq

L = keras.layers
ops = keras.ops


def _seeded(model, rng):
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0.0, 1.0 / np.sqrt(max(1, int(np.prod(w.shape[:-1])))) if w.ndim > 1 else 0.3,
                                          w.shape).astype(np.float32) for w in ws])


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
            _seeded(model, rng)
            calib = rng.uniform(-1.5, 2.5, size=(12, *in_shape)).astype(np.float32)
            path = root / f"{name}{'_fio' if float_io else ''}.tflite"
            path.write_bytes(convert_keras(model, [calib], float_io=float_io, mode="int16x8"))
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


def test_tanh_declined_by_name(tmp_path):
    rng = np.random.default_rng(3)
    inp = keras.Input((5,))
    model = keras.Model(inp, L.Activation("tanh")(L.Dense(4)(inp)))
    path = tmp_path / "tanh.tflite"
    path.write_bytes(convert_keras(model, [rng.normal(size=(8, 5)).astype(np.float32)], mode="int16x8"))
    with pytest.raises(UnsupportedModel, match=r"int16 TANH is not implemented.*--mode int8"):
        verify_tflite(path, samples=1)


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
