"""The fast int16x8 twins (tq_int16_fast.h) against TFLite's reference interpreter, bit for bit.

CONV_2D (a column pair of two output pixels against pairs of int8 weight rows, SXTB16 + SMLAD),
DEPTHWISE_CONV_2D (taps in pairs, PKHBT / PKHTB + SMLAD), FULLY_CONNECTED (TFLite's double-precision
requantization in integers), MAX_POOL_2D / AVERAGE_POOL_2D and ADD. Products are summed in int32 over
chunks of the depth that cannot overflow, then in int64, so the int64 reference sums are met exactly.

The shapes are Keras models converted with `--mode int16x8` (per-channel weights, int64 biases), many
layers side by side over inputs of 1 to 67 channels: 1x1, 3x3 and 5x5 filters, strides 1 and 2, SAME
and VALID, depth multipliers 1 and 2, odd channel counts, weights whose rows overflow int32 unless
summed in chunks, biases beyond int32. Each check asserts that the fast kernels were chosen, then runs
the generated C on the host (portable C); one model runs on qemu-m4 (the DSP extension's assembler),
qemu-m55, qemu-m3 and qemu-m0 (portable C; ARMv6-M on the M0).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import (
    assert_bit_exact,
    one_op_model,
    options,
    randomize_weights,
    tensor_spec,
    write_tflite,
)

L = keras.layers

FAST = {
    "CONV_2D": "tq_conv_s16_fast",
    "DEPTHWISE_CONV_2D": "tq_depthwise_conv_s16_fast",
    "FULLY_CONNECTED": "tq_fully_connected_s16_fast",
    "MAX_POOL_2D": "tq_maxpool_s16_fast",
    "AVERAGE_POOL_2D": "tq_avgpool_s16_fast",
    "ADD": "tq_add_s16_fast",
}

# Input shapes (channels 1, 3, 8, 17, 67) and the output channels their convolutions take.
WINDOW_INPUTS = {"c1": ((9, 8, 1), 5), "c3": ((8, 7, 3), 16), "c8": ((7, 9, 8), 33), "c17": ((6, 5, 17), 1), "c67": ((5, 6, 67), 7)}


def _window_layers(oc: int, in_c: int) -> list:
    return [
        L.Conv2D(oc, 1, padding="same"),
        L.Conv2D(oc + 2, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(oc, 3, padding="valid", activation="relu6"),
        L.Conv2D(oc, 3, dilation_rate=2, padding="same"),
        L.Conv2D(in_c, (1, 2), strides=(2, 1), padding="valid"),
        L.DepthwiseConv2D(3, padding="same"),
        L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid", activation="relu"),
        L.DepthwiseConv2D((2, 3), depth_multiplier=2, padding="same"),
        L.MaxPooling2D(3, strides=2, padding="same"),
        L.AveragePooling2D(2, padding="valid"),
    ]


def _window_model():
    """Every window layer on each input; an ADD of each input and its 1x1 convolution back to its width;
    one 5x5 convolution over 67 channels with uniform weights (rows of 1675 taps: summed in chunks)."""
    inputs, outputs = [], []
    for name, (shape, oc) in WINDOW_INPUTS.items():
        x = keras.Input(shape, name=name)
        inputs.append(x)
        outputs += [layer(x) for layer in _window_layers(oc, shape[-1])]
        outputs.append(L.Add()([x, L.Conv2D(shape[-1], 1)(x)]))
    big = L.Conv2D(6, 5, padding="same", name="chunked")
    outputs.append(big(inputs[-1]))
    return keras.Model(inputs, outputs), big


def _dense_model():
    """FULLY_CONNECTED of depths 1 to 1100 (the widest with uniform weights: summed in chunks), 1 to 33 units."""
    inputs, outputs, chunked = [], [], []
    for depth, units in ((1, 3), (7, 1), (64, 10), (129, 33), (300, 8)):
        x = keras.Input((depth,))
        inputs.append(x)
        outputs.append(L.Dense(units, activation="relu" if depth % 2 else None)(x))
    x = keras.Input((1100,))
    inputs.append(x)
    chunked.append(L.Dense(5, name="chunked"))
    outputs.append(chunked[0](x))
    x = keras.Input((4, 6))  # batches of rows: keep_num_dims off, the input flattened to [4, 6]
    inputs.append(x)
    outputs.append(L.Dense(3)(x))
    return keras.Model(inputs, outputs), chunked[0]


def _convert(tmp_path_factory, name, build, bias_std=0.3):
    root = tmp_path_factory.mktemp(name)
    rng = np.random.default_rng(len(name))
    model, uniform = build()
    randomize_weights(model, rng, gain=1.0, bias_std=bias_std)
    kernel, bias = uniform.get_weights()
    uniform.set_weights([rng.uniform(-1.0, 1.0, kernel.shape).astype(np.float32), bias])
    calib = [rng.uniform(-1.5, 2.5, size=(16, *x.shape[1:])).astype(np.float32) for x in model.inputs]
    return write_tflite(root, name, model, calib, mode="int16x8")


@pytest.fixture(scope="module")
def window_model(tmp_path_factory):
    return _convert(tmp_path_factory, "window16", _window_model)


@pytest.fixture(scope="module")
def dense_models(tmp_path_factory):
    """Normal biases, and biases far beyond int32 (int64 sums, the exact double rounding's slow path)."""
    return {"normal": _convert(tmp_path_factory, "dense16", _dense_model),
            "big_bias": _convert(tmp_path_factory, "dense16_big_bias", _dense_model, bias_std=3000.0)}


def _calls(path):
    return [op.call for op in compile_tflite(path, Target()).ops]


def _assert_fast(path) -> list:
    """Every convolution, pooling, fully connected and ADD layer runs its fast int16 twin."""
    g = compile_tflite(path, Target())
    calls = [(op.kind, op.call) for op in g.ops]
    kinds = {k for k, _ in calls}
    for kind, call in calls:
        if kind in FAST:
            assert call.func == FAST[kind], (kind, call.func)
    return [c for _, c in calls if c.func in FAST.values()], kinds


def test_window_layers_are_fast_and_bit_exact(window_model):
    calls, kinds = _assert_fast(window_model)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD"} <= kinds, kinds
    convs = [c.params for c in calls if c.func == "tq_conv_s16_fast"]
    assert any(p["chunk"] < p["k"] for p in convs), "no convolution summed in chunks"
    assert any(p["k"] % 4 for p in convs) and any(p["out"]["c"] % 2 for p in convs)
    dws = [c.params for c in calls if c.func == "tq_depthwise_conv_s16_fast"]
    assert {p["depth_mult"] for p in dws} == {1, 2} and any(p["in"]["c"] % 2 for p in dws)
    assert_bit_exact(window_model, samples=6)


@pytest.mark.parametrize("case", ["normal", "big_bias"])
def test_dense_layers_are_fast_and_bit_exact(dense_models, case):
    path = dense_models[case]
    calls, kinds = _assert_fast(path)
    fcs = [c.params for c in calls if c.func == "tq_fully_connected_s16_fast"]
    assert len(fcs) == 7
    # The converter shrinks weight scales where biases are huge, so only the normal case keeps full rows.
    assert case == "big_bias" or any(p["chunk"] < p["accum_depth"] for p in fcs)
    assert any(p["batches"] == 4 for p in fcs)
    assert_bit_exact(path, samples=12)


def test_dense_layers_bit_exact_on_qemu_m4(dense_models):
    """The DSP path's rows four at a time (two row pairs sharing the input's loads) and in pairs after
    them: depths not a multiple of 4, sums in chunks, 33 units, batches of 4."""
    r = verify_on_board(dense_models["normal"], "qemu-m4", samples=2)
    assert r.bit_exact, r.summary()


def _fc_model(bias: np.ndarray, in_scale: float, w_scale: float, out_scale: float, depth: int = 24) -> bytes:
    """One int16x8 FULLY_CONNECTED with given (power-of-two) scales, so that products land on the
    rounding's ties, and the given int64 bias."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(depth)
    units = len(bias)
    w = rng.integers(-127, 128, size=(units, depth)).astype(np.int8)
    return one_op_model(
        "FULLY_CONNECTED",
        [tensor_spec((1, depth), "int16", (in_scale, 0)),
         tensor_spec((units, depth), "int8", (w_scale, 0), data=w),
         tensor_spec((units,), "int64", (in_scale * w_scale, 0), data=bias.astype(np.int64))],
        [tensor_spec((1, units), "int16", (out_scale, 0))],
        options(schema.FullyConnectedOptionsT.__name__),
        schema.BuiltinOptions.FullyConnectedOptions,
    )


@pytest.mark.parametrize("shift", [1, 3, 11])
def test_fc_rounding_ties_and_int64_bias(tmp_path, shift):
    """Effective scale 2^-shift: every shift-th power of two of the sums is a tie of the double rounding.
    The biases reach 2^39 (int64), where the integer rounding takes its exact path."""
    bias = np.array([0, 1, -1, 2**39 - 1, -(2**39), 3 * 2**31, -(2**31) - 5, 12345], dtype=np.int64)
    path = tmp_path / f"fc_ties_{shift}.tflite"
    path.write_bytes(_fc_model(bias, 2.0**-10, 2.0**-7, 2.0 ** (-17 + shift)))
    assert [c.func for c in _calls(path)] == ["tq_fully_connected_s16_fast"]
    assert_bit_exact(path, samples=40)


def _cnn():
    x = inp = keras.Input((12, 12, 6))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(24, 1, activation="relu")(x)
    y = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x)
    y = L.Conv2D(17, 3, padding="valid")(y)
    y = L.MaxPooling2D(2, padding="same")(y)
    z = L.AveragePooling2D(6)(x)
    z = L.Conv2D(17, 1)(z)
    x = L.Add()([y, z])
    x = L.Flatten()(x)
    x = L.Dense(10)(x)
    return keras.Model(inp, x)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn16")
    rng = np.random.default_rng(16)
    model = _cnn()
    randomize_weights(model, rng, gain=1.0, bias_std=0.3)
    calib = rng.uniform(-1.5, 2.5, size=(12, 12, 12, 6)).astype(np.float32)
    return write_tflite(root, "cnn16", model, [calib], mode="int16x8")


def test_cnn_host(cnn):
    _, kinds = _assert_fast(cnn)
    assert set(FAST) <= kinds, kinds
    assert_bit_exact(cnn, samples=6)


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55", "qemu-m3", pytest.param("qemu-m0", marks=pytest.mark.slow)])
def test_cnn_on_cores(cnn, board):
    """The DSP extension's assembler (M4; the M55 has it too) and the portable C (M3) on the cores."""
    r = verify_on_board(cnn, board, samples=2)
    assert r.bit_exact, r.summary()
