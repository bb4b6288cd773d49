"""float32 models: per-op Keras models converted without quantization, compiled onto tinyq's float
kernels (tq_float.h) and compared with TFLite's reference interpreter within FLOAT_TOLERANCE
(|diff| <= 1e-5 x max(1, |ref|) per element; measured: 0 on the host, ~1e-7 on qemu-m4, where
newlib's expf differs from glibc's by an ulp). A float model is refused for a board without an FPU.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tinyq.checks.match import FLOAT_TOLERANCE, compare_output
from tinyq.checks.verify import verify_tflite
from tinyq.compiler.importer import import_model, quant_mode
from tinyq.quant.convert import convert_keras

from .conftest import run_tinyq
from .helpers import randomize_weights, write_tflite
from .test_ops_activation import _keras_cases
from .test_ops_conv import CONV_CASES, DW_CASES, FC_CASES

L = keras.layers
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _float_model(tmp_path, model, name="m", seed=0):
    """`model` (seeded random weights) as a float32 .tflite."""
    randomize_weights(model, np.random.default_rng(seed))
    return write_tflite(tmp_path, name, model, None, mode="float")


def _check(path, *kinds, samples=10):
    """The graph is a float32 model holding `kinds`; the host C matches the interpreter within the tolerance."""
    g = import_model(path)
    assert quant_mode(g) == "float"
    assert set(kinds) <= {op.kind for op in g.ops}, [op.kind for op in g.ops]
    r = verify_tflite(path, samples=samples)
    assert r.tolerance == FLOAT_TOLERANCE
    assert r.passed, r.summary()
    assert r.max_abs_diff <= FLOAT_TOLERANCE
    return r


def _seq(in_shape, *layers):
    return keras.Sequential([keras.Input(in_shape), *layers])


# --------------------------------------------------------------------------- convolutions (the int8 tests' cases)


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv2d(tmp_path, case):
    _, in_shape, filters, kernel, strides, padding, dilation, use_bias, act, groups = case
    layer = L.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, use_bias=use_bias,
                     activation=act, groups=groups)
    _check(_float_model(tmp_path, _seq(in_shape, layer), seed=filters), "CONV_2D")


@pytest.mark.parametrize("case", DW_CASES, ids=[c[0] for c in DW_CASES])
def test_depthwise(tmp_path, case):
    _, in_shape, kernel, dm, strides, padding, dilation, use_bias, act = case
    layer = L.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=dm, dilation_rate=dilation,
                              use_bias=use_bias, activation=act)
    _check(_float_model(tmp_path, _seq(in_shape, layer), seed=dm), "DEPTHWISE_CONV_2D")


@pytest.mark.parametrize("case", FC_CASES, ids=[c[0] for c in FC_CASES])
def test_dense(tmp_path, case):
    _, in_shape, units, use_bias, act, _ = case
    _check(_float_model(tmp_path, _seq(in_shape, L.Dense(units, use_bias=use_bias, activation=act)), seed=units),
           "FULLY_CONNECTED")


# --------------------------------------------------------------------------- activations (the int8 tests' Keras cases)


@pytest.mark.parametrize("case", _keras_cases(), ids=[c[0] for c in _keras_cases()])
def test_activation(tmp_path, case):
    _, build, in_shape, kind = case
    x = keras.Input(in_shape)
    _check(_float_model(tmp_path, keras.Model(x, build(x))), kind)


def test_relu_family_on_large_values(tmp_path):
    """RELU / RELU6 / RELU_N1_TO_1 after an ADD (so they stay ops), on inputs far past the bounds."""
    a, b = keras.Input((4, 5)), keras.Input((4, 5))
    s = L.Add()([a, b])
    m = keras.Model([a, b], [L.ReLU()(s), L.ReLU(max_value=6)(s), keras.ops.clip(s, -1.0, 1.0)])
    _check(_float_model(tmp_path, m), "RELU", "RELU6")


# --------------------------------------------------------------------------- element-wise, pooling, MEAN


def test_add_mul_broadcast_and_fused(tmp_path):
    a, b, c = keras.Input((4, 5, 3)), keras.Input((1, 5, 1)), keras.Input((4, 5, 3))
    y = keras.ops.multiply(keras.ops.add(a, b), b)
    fused = L.ReLU()(L.Add()([a, c]))  # the converter fuses the ReLU into the ADD
    scaled = L.Rescaling(0.5, offset=-0.25)(L.Multiply()([a, c]))  # MUL and ADD by constants
    _check(_float_model(tmp_path, keras.Model([a, b, c], [y, fused, scaled])), "ADD", "MUL")


@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((8, 8, 4), (2, 2), (2, 2), "valid"),
    ((9, 7, 2), (3, 2), (2, 1), "same"),
    ((5, 5, 2), (4, 4), (3, 3), "same"),  # edge windows with few valid elements
])
def test_pooling(tmp_path, shape, pool, strides, padding):
    x = keras.Input(shape)
    outs = [L.AveragePooling2D(pool, strides=strides, padding=padding)(x), L.MaxPooling2D(pool, strides=strides, padding=padding)(x)]
    _check(_float_model(tmp_path, keras.Model(x, outs)), "AVERAGE_POOL_2D", "MAX_POOL_2D")


def test_mean(tmp_path):
    x = keras.Input((6, 7, 5))
    outs = [L.GlobalAveragePooling2D()(x), L.GlobalAveragePooling2D(keepdims=True)(x), keras.ops.mean(x, axis=[1, 3])]
    _check(_float_model(tmp_path, keras.Model(x, outs)), "MEAN")


# --------------------------------------------------------------------------- data movement


def test_pad_concat_transpose(tmp_path):
    x = keras.Input((5, 6, 3))
    conv = L.Conv2D(4, 3, padding="same")(x)
    outs = [
        L.ZeroPadding2D(((1, 2), (0, 3)))(conv),
        keras.ops.pad(conv, [[0, 0], [2, 0], [1, 1], [0, 0]], constant_values=1.5),
        L.Concatenate()([x, conv]),
        L.Concatenate(axis=1)([conv, conv]),
        L.Permute((2, 1, 3))(conv),
    ]
    _check(_float_model(tmp_path, keras.Model(x, outs)), "PAD", "PADV2", "CONCATENATION", "TRANSPOSE")


def test_reshape_copy(tmp_path):
    """A reshape from the graph input to the graph output needs two buffers: tq_copy_f32."""
    from tinyq.compiler.pipeline import compile_tflite

    path = _float_model(tmp_path, _seq((4, 6), L.Reshape((3, 8))))
    assert [op.call.func for op in compile_tflite(path).ops] == ["tq_copy_f32"]
    _check(path, "RESHAPE")


# --------------------------------------------------------------------------- the comparison and the refusals


def test_tolerance_is_per_element_and_scaled():
    want = np.array([0.5, 100.0, -3.0, 0.0], dtype=np.float32)
    near = want + np.array([9e-6, 9e-4, 0.0, -9e-6], dtype=np.float32)
    c = compare_output(near, want, FLOAT_TOLERANCE)
    assert not c.identical and c.first_bad is None and c.max_abs == pytest.approx(9e-4, rel=1e-3)
    far = want.copy()
    far[2] += np.float32(2e-5)  # |ref| = 3: up to 3e-5 allowed
    assert compare_output(far, want, FLOAT_TOLERANCE).first_bad is None
    far[3] = np.float32(1.1e-5)  # |ref| = 0: 1e-5 allowed
    assert compare_output(far, want, FLOAT_TOLERANCE).first_bad == 3
    assert compare_output(np.array([np.nan], np.float32), np.array([0.0], np.float32), FLOAT_TOLERANCE).first_bad == 0
    # 0 / 0 on an Arm core (default NaN 0x7fc00000) against x86's (0xffc00000): a NaN both ways, no difference
    arm, x86 = np.array([0x7FC00000, 0], np.uint32).view(np.float32), np.array([0xFFC00000, 0], np.uint32).view(np.float32)
    c = compare_output(arm, x86, FLOAT_TOLERANCE)
    assert not c.identical and c.first_bad is None
    assert compare_output(near, want, None).first_bad == 0  # integer models and float-io edges: bit for bit
    assert compare_output(want.copy(), want, FLOAT_TOLERANCE).identical


def test_float_op_without_kernel_refused(tmp_path):
    # keras.ops.cumsum converts to CUMSUM, which has no float32 kernel (yet): pick another op when it has.
    m = _seq((4, 4, 2), L.Conv2D(2, 1), L.Lambda(lambda t: keras.ops.cumsum(t, axis=1)))
    r = run_tinyq("generate", _float_model(tmp_path, m), "-o", tmp_path / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "CUMSUM" in r.stderr and "no float32" in r.stderr and "tinyq convert" in r.stderr


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The demo's digits CNN, trained as `make demo` does, as a float32 .tflite, with test images."""
    from tinyq.quant.datasets import digits_dataset, train_digits_cnn

    d = tmp_path_factory.mktemp("digits-f32")
    model = train_digits_cnn()
    (d / "digits.tflite").write_bytes(convert_keras(model, None, mode="float"))
    _, _, x_test, y_test = digits_dataset()
    np.savez(d / "test.npz", x=x_test[:6], y=y_test[:6])
    return {"dir": d, "path": d / "digits.tflite", "model": model, "x": x_test[:6]}


@pytest.mark.parametrize("board", ["pico", "qemu-m3"])
def test_board_without_fpu_refused(digits, board, tmp_path):
    r = run_tinyq("build", digits["path"], "--board", board, "-o", tmp_path / "b")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "float32 model" in r.stderr and f"{board} has no FPU" in r.stderr and "qemu-m4" in r.stderr
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- on qemu-m4


def test_digits_float_on_qemu_m4(digits):
    """The digits demo model in float32: host verify, firmware for qemu-m4, the test images on the core."""
    d = digits["dir"]
    _check(digits["path"], "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX")
    r = run_tinyq("build", digits["path"], "--board", "qemu-m4", "-o", d / "build", "--name", "digits", "--json")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((d / "build" / "build.json").read_text())
    assert manifest["warnings"] == []  # the float kernels compile cleanly with -Wall -Wextra for the M4F
    assert not any("__aeabi_d" in ln for ln in (d / "build" / "firmware.map").read_text().splitlines())  # no soft double
    r = run_tinyq("profile", d / "build", "--inputs", d / "test.npz", "--json")
    assert r.returncode == 0, r.stderr
    dev = json.loads(r.stdout)
    assert dev["passed"] and dev["tolerance"] == FLOAT_TOLERANCE and dev["samples"] == 6
    assert dev["max_abs_diff"] <= FLOAT_TOLERANCE
    keras_pred = np.argmax(digits["model"].predict(digits["x"], verbose=0), axis=1)
    assert dev["accuracy"] == pytest.approx(float(np.mean(keras_pred == np.load(d / "test.npz")["y"])))
    r = run_tinyq("profile", d / "build", "--runs", "2")
    assert r.returncode == 0, r.stderr
    assert "within tolerance" in r.stdout or "bit-exact" in r.stdout


def test_float_ops_on_qemu_m4(tmp_path):
    """Convolutions, pooling, MEAN, element-wise ops and the expf / tanhf activations on the core."""
    x = keras.Input((9, 9, 3))
    y = L.Conv2D(6, 3, strides=2, padding="same", activation="relu6")(x)
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(y)
    y = L.Add()([L.AveragePooling2D(2, padding="same")(y), L.MaxPooling2D(2, padding="same")(y)])
    y = L.Activation("sigmoid")(L.Conv2D(4, 1)(L.ZeroPadding2D(1)(y)))
    y = L.Dense(6, activation="tanh")(L.GlobalAveragePooling2D()(y))
    path = _float_model(tmp_path, keras.Model(x, L.Softmax()(L.Dense(5)(y))))
    r = run_tinyq("verify", path, "--board", "qemu-m4", "-n", "3", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["passed"] and res["board"] == "qemu-m4" and res["tolerance"] == FLOAT_TOLERANCE
    assert res["max_abs_diff"] <= FLOAT_TOLERANCE


def test_bench_passes_a_float_model_within_tolerance(digits):
    """`tinyq bench` checks a float model as profile does: within the tolerance it passes, and the
    table and --json say which check it passed."""
    r = run_tinyq("bench", digits["path"], "--board", "qemu-m4", "--runs", "1", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["models"][0]
    assert row["passed"] and row["instructions"] > 0
    md = run_tinyq("bench", digits["path"], "--board", "qemu-m4", "--runs", "1", "--markdown")
    assert md.returncode == 0 and ("| yes |" in md.stdout or "| within tolerance (float) |" in md.stdout), md.stdout
