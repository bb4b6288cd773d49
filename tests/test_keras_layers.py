"""The Keras layers users reach for, each in a tiny seeded model converted by tinyq's own converter (int8,
and int16x8 where TensorFlow's converter can), compiled and checked bit-exact against TFLite's reference
interpreter on the host; one model combining many of them also on qemu-m4; and keras.applications
MobileNet, MobileNetV2 and MobileNetV3Small (minimalistic and full) at 96x96 at TinyML widths, random weights.

Every case is converted once (a module cache); models stay tiny (8x8x4 images, sequences of 8) so the
file runs in a few minutes. A case is a Keras model builder, its input shapes (an int32 input is written
("int32", shape, vocabulary)) and the modes TensorFlow converts it in.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from .conftest import run_tinyq
from .helpers import (
    BOTH_KERNELS,
    assert_bit_exact,
    op_kinds,
    randomize_weights,
    write_tflite,
)

L = keras.layers

BOTH = ("int8", "int16x8")
INT8 = ("int8",)


def _model(inputs, outputs):
    return keras.Model(inputs, outputs)


# --------------------------------------------------------------------------- convolutions


def conv1d_valid_same():
    x = inp = keras.Input((8, 4))
    x = L.Conv1D(5, 3, padding="valid", activation="relu")(x)
    x = L.Conv1D(4, 3, padding="same")(x)
    x = L.Conv1D(3, 2, strides=2, padding="same")(x)
    return _model(inp, x)


def conv1d_causal_dilated():
    x = inp = keras.Input((8, 4))
    x = L.Conv1D(5, 3, padding="causal", activation="relu")(x)
    x = L.Conv1D(4, 2, padding="causal", dilation_rate=2)(x)
    x = L.Conv1D(3, 3, padding="valid", dilation_rate=2)(x)
    return _model(inp, x)


def separable_conv1d():
    x = inp = keras.Input((8, 4))
    x = L.SeparableConv1D(6, 3, padding="same", activation="relu")(x)
    x = L.SeparableConv1D(3, 3, depth_multiplier=2, padding="valid")(x)
    return _model(inp, x)


def separable_conv2d():
    x = inp = keras.Input((8, 8, 4))
    x = L.SeparableConv2D(6, 3, padding="same", activation="relu")(x)
    x = L.SeparableConv2D(3, 3, strides=2, depth_multiplier=2, padding="valid")(x)
    return _model(inp, x)


def conv2d_transpose():
    x = inp = keras.Input((4, 4, 4))
    x = L.Conv2DTranspose(5, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(3, 2, strides=1, padding="valid")(x)
    return _model(inp, x)


# --------------------------------------------------------------------------- resampling and shapes


def upsampling():
    inp1, inp2 = keras.Input((8, 4)), keras.Input((4, 4, 3))
    a = L.UpSampling1D(2)(inp1)
    b = L.UpSampling2D(2, interpolation="nearest")(inp2)
    c = L.UpSampling2D((2, 3), interpolation="bilinear")(inp2)
    return _model([inp1, inp2], [a, b, c])


def resizing():
    inp = keras.Input((5, 6, 3))
    a = L.Resizing(8, 9, interpolation="bilinear")(inp)
    b = L.Resizing(3, 4, interpolation="nearest")(inp)
    c = L.Resizing(7, 7, interpolation="bilinear", crop_to_aspect_ratio=True)(inp)
    return _model(inp, [a, b, c])


def pad_crop():
    inp1, inp2 = keras.Input((8, 4)), keras.Input((6, 6, 3))
    a = L.Cropping1D((1, 2))(L.ZeroPadding1D((2, 1))(inp1))
    b = L.ZeroPadding2D(((1, 2), (0, 1)))(inp2)
    c = L.Cropping2D(((1, 0), (2, 1)))(L.Conv2D(4, 1)(inp2))
    return _model([inp1, inp2], [a, b, c])


def permute_repeat():
    inp1, inp2 = keras.Input((4, 6, 3)), keras.Input((5,))
    a = L.Permute((3, 1, 2))(inp1)
    b = L.Permute((2, 1))(L.Reshape((4, 18))(inp1))
    c = L.RepeatVector(4)(L.Dense(3)(inp2))
    return _model([inp1, inp2], [a, b, c])


# --------------------------------------------------------------------------- merges, pools, multi-in/out


def merge_binary():
    a, b = keras.Input((6, 5)), keras.Input((6, 5))
    outs = [L.Subtract()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b]), L.Multiply()([a, b])]
    return _model([a, b], outs)


def squeeze_excite():
    x = inp = keras.Input((8, 8, 8))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(2, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="sigmoid")(s)
    y = L.Multiply()([x, s])  # [1, 8, 8, 8] * [1, 1, 1, 8]: a broadcast MUL
    d = L.Dense(8, activation="hard_sigmoid")(L.GlobalAveragePooling2D()(inp))
    z = L.Multiply()([inp, L.Reshape((1, 1, 8))(d)])
    return _model(inp, [y, z])


def global_pools():
    inp1, inp2 = keras.Input((8, 4)), keras.Input((6, 6, 3))
    outs = [L.GlobalMaxPooling1D()(inp1), L.GlobalAveragePooling1D()(inp1),
            L.GlobalMaxPooling2D()(inp2), L.GlobalAveragePooling2D()(inp2)]
    return _model([inp1, inp2], outs)


# --------------------------------------------------------------------------- activations


def _dense_act(act):
    def build():
        x = inp = keras.Input((4, 6))
        x = L.Dense(8)(x)
        x = act(x)
        return _model(inp, L.Dense(5)(x))

    build.__name__ = getattr(act, "__name__", "act")
    return build


def prelu():
    x = inp = keras.Input((6, 6, 4))
    a = L.PReLU(shared_axes=[1, 2])(L.Conv2D(4, 3, padding="same")(x))
    b = L.PReLU()(x)
    return _model(inp, [a, b])


def hard_sigmoid(x):
    return L.Activation("hard_sigmoid")(x)


def elu(x):
    return L.ELU()(x)


def gelu(x):
    return L.Activation("gelu")(x)


def gelu_tanh(x):
    return L.Lambda(lambda t: keras.activations.gelu(t, approximate=True))(x)


def swish(x):
    return L.Activation("swish")(x)


def softplus(x):
    return L.Activation("softplus")(x)


def layer_norm():
    x = inp = keras.Input((6, 8))
    x = L.Dense(8)(x)
    x = L.LayerNormalization()(x)
    return _model(inp, L.Dense(4)(x))


# --------------------------------------------------------------------------- sequences


def _rnn(layer, return_sequences):
    def build():
        inp = keras.Input((8, 4))
        return _model(inp, layer(6, return_sequences=return_sequences)(inp))

    return build


def bidirectional():
    inp = keras.Input((8, 4))
    a = L.Bidirectional(L.LSTM(4, return_sequences=True))(inp)
    b = L.Bidirectional(L.GRU(3))(inp)
    return _model(inp, [a, b])


def embedding():
    inp = keras.Input((8,), dtype="int32")
    x = L.Embedding(20, 6)(inp)
    x = L.GlobalAveragePooling1D()(x)
    return _model(inp, L.Dense(3)(x))


def multi_head_attention():
    inp = keras.Input((6, 8))
    x = L.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)
    return _model(inp, x)


def many_layers():
    """Many of the layers above in one multi-input, multi-output model (the one checked on qemu-m4)."""
    img, seq = keras.Input((8, 8, 4)), keras.Input((8, 4))
    x = L.SeparableConv2D(6, 3, padding="same", activation="relu")(img)
    x = L.LeakyReLU(0.2)(L.ZeroPadding2D(1)(x))
    s = L.Conv2D(6, 1, activation="sigmoid")(L.GlobalAveragePooling2D(keepdims=True)(x))
    x = L.Cropping2D(((1, 2), (2, 1)))(L.Multiply()([x, s]))
    up = L.UpSampling2D(2, interpolation="bilinear")(L.Conv2DTranspose(3, 2, strides=2, padding="same")(x))
    pooled = L.Concatenate()([L.GlobalMaxPooling2D()(x), L.GlobalAveragePooling2D()(up)])
    y = L.Conv1D(5, 3, padding="causal", dilation_rate=2)(seq)
    y = L.Activation("gelu")(L.Conv1D(5, 3, padding="same")(y))
    z = L.Activation("swish")(L.SeparableConv1D(5, 3, padding="same")(seq))
    merged = L.Permute((2, 1))(L.Subtract()([L.Maximum()([y, z]), L.Minimum()([y, z])]))
    seq_out = L.Dense(4)(L.GlobalAveragePooling1D()(L.UpSampling1D(2)(y)))
    return _model([img, seq], [up, pooled, merged, seq_out])


# id -> (builder, input shapes (("int32", shape, vocabulary) for an integer input), modes)
CASES = {
    "conv1d_valid_same": (conv1d_valid_same, [(8, 4)], BOTH),
    "conv1d_causal_dilated": (conv1d_causal_dilated, [(8, 4)], BOTH),
    "separable_conv1d": (separable_conv1d, [(8, 4)], BOTH),
    "separable_conv2d": (separable_conv2d, [(8, 8, 4)], BOTH),
    "conv2d_transpose": (conv2d_transpose, [(4, 4, 4)], BOTH),
    "upsampling": (upsampling, [(8, 4), (4, 4, 3)], BOTH),
    "resizing": (resizing, [(5, 6, 3)], BOTH),
    "pad_crop": (pad_crop, [(8, 4), (6, 6, 3)], BOTH),
    "permute_repeat": (permute_repeat, [(4, 6, 3), (5,)], BOTH),
    "merge_binary": (merge_binary, [(6, 5), (6, 5)], BOTH),
    "squeeze_excite": (squeeze_excite, [(8, 8, 8)], BOTH),
    "global_pools": (global_pools, [(8, 4), (6, 6, 3)], BOTH),
    "prelu": (prelu, [(6, 6, 4)], INT8),  # TensorFlow: "Quantization to 16x8-bit not yet supported for op: 'PRELU'"
    "hard_sigmoid": (_dense_act(hard_sigmoid), [(4, 6)], BOTH),
    "elu": (_dense_act(elu), [(4, 6)], BOTH),
    "gelu": (_dense_act(gelu), [(4, 6)], BOTH),
    "gelu_tanh": (_dense_act(gelu_tanh), [(4, 6)], BOTH),
    "swish": (_dense_act(swish), [(4, 6)], BOTH),
    "softplus": (_dense_act(softplus), [(4, 6)], BOTH),
    # int16x8: TFLite has no int16 SQUARED_DIFFERENCE kernel, its own interpreter cannot run the model
    "layer_norm": (layer_norm, [(6, 8)], INT8),
    "lstm_seq": (_rnn(L.LSTM, True), [(8, 4)], BOTH),
    "lstm_last": (_rnn(L.LSTM, False), [(8, 4)], BOTH),
    "gru_seq": (_rnn(L.GRU, True), [(8, 4)], BOTH),
    "gru_last": (_rnn(L.GRU, False), [(8, 4)], BOTH),
    "simple_rnn_seq": (_rnn(L.SimpleRNN, True), [(8, 4)], BOTH),
    "simple_rnn_last": (_rnn(L.SimpleRNN, False), [(8, 4)], BOTH),
    "bidirectional": (bidirectional, [(8, 4)], BOTH),
    # int16x8: TensorFlow's quantizer fails ("Max and min for dynamic tensors should be recorded during calibration")
    "embedding": (embedding, [("int32", (8,), 20)], INT8),
    "multi_head_attention": (multi_head_attention, [(6, 8)], BOTH),
    "many_layers": (many_layers, [(8, 8, 4), (8, 4)], BOTH),
}

# The operators a case's converted model must hold (what it is about), where the converter's choice is stable.
HOLDS = {
    "conv1d_valid_same": {"CONV_2D"},
    "conv1d_causal_dilated": {"PAD", "CONV_2D"},
    "separable_conv1d": {"DEPTHWISE_CONV_2D", "CONV_2D"},
    "separable_conv2d": {"DEPTHWISE_CONV_2D", "CONV_2D"},
    "conv2d_transpose": {"TRANSPOSE_CONV"},
    "upsampling": {"TILE", "RESIZE_BILINEAR"},
    "resizing": {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "STRIDED_SLICE"},
    "pad_crop": {"PAD", "STRIDED_SLICE"},
    "permute_repeat": {"TRANSPOSE", "TILE"},
    "merge_binary": {"SUB", "MAXIMUM", "MINIMUM", "MUL"},
    "squeeze_excite": {"MEAN", "LOGISTIC", "MUL"},
    "global_pools": {"MEAN", "REDUCE_MAX"},
    "prelu": {"PRELU"},
    "multi_head_attention": {"BATCH_MATMUL", "SOFTMAX"},
}

PARAMS = [pytest.param(name, mode, id=f"{name}-{mode}") for name, (_, _, modes) in CASES.items() for mode in modes]


def calibration(shapes, rng, n: int = 16) -> list[np.ndarray]:
    """`n` samples per input: uniform in [-2, 2) for float inputs, indices below the vocabulary for int32 ones."""
    out = []
    for s in shapes:
        if s and s[0] == "int32":
            out.append(rng.integers(0, s[2], size=(n, *s[1])).astype(np.int32))
        else:
            out.append(rng.uniform(-2.0, 2.0, size=(n, *s)).astype(np.float32))
    return out


def convert_case(name: str, mode: str, path: str) -> str:
    """Build case `name` with its seeded weights, convert it with tinyq's converter in `mode`, write it to `path`."""
    build, shapes, _ = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    keras.utils.set_random_seed(7)
    model = build()
    randomize_weights(model, rng, gain=1.2, bias_std=0.3)
    out = Path(path)
    write_tflite(out.parent, out.stem, model, calibration(shapes, rng), mode=mode)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A case converted once per module and mode (`convert`: convert_case or convert_app): its .tflite,
    or the converter's error again."""
    root = tmp_path_factory.mktemp("keras_layers")
    cache: dict = {}

    def get(name: str, mode: str, convert=convert_case) -> Path:
        if (name, mode) not in cache:
            try:
                cache[(name, mode)] = Path(convert(name, mode, str(root / f"{name}_{mode}.tflite")))
            except Exception as e:  # noqa: BLE001  (kept, so each test of this case fails with it)
                cache[(name, mode)] = e
        got = cache[(name, mode)]
        if isinstance(got, Exception):
            raise got
        return got

    return get


@pytest.mark.parametrize("name,mode", PARAMS)
def test_layer_bit_exact(converted, name, mode):
    """Converted by tinyq, compiled to C (the reference loops and the fast kernels), the same outputs as
    TFLite's reference interpreter bit for bit."""
    path = converted(name, mode)
    kinds = set(op_kinds(path))
    assert HOLDS.get(name, set()) <= kinds, kinds
    assert_bit_exact(path, samples=12, kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- keras.applications


def seeded_weights(model, rng: np.random.Generator) -> None:
    """Random weights for a deep network that keep activations in range: randomize_weights, then
    depthwise kernels scaled by their own fan-in (kh * kw) and batch norms with positive variances."""
    randomize_weights(model, rng, gain=1.4, bias_std=0.1)
    for layer in model.layers:
        if isinstance(layer, L.DepthwiseConv2D):
            w = layer.get_weights()
            kh, kw = w[0].shape[:2]
            w[0] = rng.normal(0.0, 1.4 / np.sqrt(kh * kw), w[0].shape).astype(np.float32)
            layer.set_weights(w)
        elif isinstance(layer, L.BatchNormalization):
            n = layer.get_weights()[0].shape
            gamma, beta = rng.uniform(0.7, 1.3, n), rng.normal(0.0, 0.2, n)
            mean, var = rng.normal(0.0, 0.1, n), rng.uniform(0.5, 1.5, n)
            layer.set_weights([a.astype(np.float32) for a, keep in
                               zip((gamma, beta, mean, var), (layer.scale, layer.center, True, True)) if keep])


APPS_SHAPE = (96, 96, 3)

# id -> (keras.applications constructor, its arguments, modes); 10 classes as logits (no softmax, which
# random weights would saturate), no pretrained weights
APPS = {
    "mobilenet_v1_0.25": ("MobileNet", {"alpha": 0.25}, BOTH),
    "mobilenet_v2_0.35": ("MobileNetV2", {"alpha": 0.35}, BOTH),
    "mobilenet_v3_small_0.75_minimalistic": ("MobileNetV3Small", {"alpha": 0.75, "minimalistic": True}, BOTH),
    "mobilenet_v3_small_0.75": ("MobileNetV3Small", {"alpha": 0.75, "minimalistic": False}, BOTH),
}
APP_HOLDS = {"mobilenet_v2_0.35": {"ADD"}, "mobilenet_v3_small_0.75": {"HARD_SWISH", "MUL"}}  # beyond convolutions and MEAN


def convert_app(name: str, mode: str, path: str) -> str:
    """Build keras.applications model `name` at 96x96 with seeded weights and convert it to `path`."""
    ctor, kw, _ = APPS[name]
    keras.utils.set_random_seed(11)
    model = getattr(keras.applications, ctor)(input_shape=APPS_SHAPE, weights=None, classes=10, classifier_activation=None, **kw)
    rng = np.random.default_rng(sum(map(ord, name)))
    seeded_weights(model, rng)
    calib = rng.uniform(-1.0, 1.0, size=(8, *APPS_SHAPE)).astype(np.float32)
    if ctor == "MobileNetV3Small":  # its own preprocessing layer expects pixels in [0, 255]
        calib = (calib + 1.0) * 127.5
    out = Path(path)
    write_tflite(out.parent, out.stem, model, [calib], mode=mode)
    return path


APP_PARAMS = [pytest.param(name, mode, id=f"{name}-{mode}") for name, (_, _, modes) in APPS.items() for mode in modes]


@pytest.mark.parametrize("name,mode", APP_PARAMS)
def test_application_bit_exact(converted, name, mode):
    path = converted(name, mode, convert_app)
    kinds = set(op_kinds(path))
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN"} | APP_HOLDS.get(name, set()) <= kinds, kinds
    assert_bit_exact(path, samples=3)


@pytest.mark.parametrize(("name", "most"), [("mobilenet_v1_0.25", 0.65), ("mobilenet_v2_0.35", 0.8)])
def test_mobilenet_arena_with_outputs_over_inputs(converted, name, most, monkeypatch):
    """Layer outputs laid over the inputs they are computed from (planner.Overlap, see
    tests/test_plan_overlap.py) shrink both MobileNets' arenas (M4 target): v1 64.5 -> 38.9 KB, v2
    147.5 -> 110.7 KB at 2 classes."""
    from tinyq.compiler import passes
    from tinyq.compiler.pipeline import compile_tflite
    from tinyq.compiler.target import Target

    path = converted(name, "int8", convert_app)
    shifted = compile_tflite(path, Target()).arena_size
    # As before overlaps: no output over its input but as a view of it.
    views = [(n, (lambda g: passes._alias_in_place(g) or g) if n == "in_place" else f) for n, f in passes.PIPELINE]
    monkeypatch.setattr(passes, "PIPELINE", views)
    monkeypatch.setattr(passes, "overlaps", lambda g: [])
    apart = compile_tflite(path, Target()).arena_size
    assert shifted <= most * apart, (shifted, apart)


def _verify_on_qemu(path, *args) -> dict:
    r = run_tinyq("verify", path, "--board", "qemu-m4", "--json", *args)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


@pytest.mark.parametrize("mode", BOTH)
def test_many_layers_on_qemu_m4(converted, mode):
    """One model holding most of the layers above, its firmware run on a Cortex-M4 in QEMU, bit for bit."""
    d = _verify_on_qemu(converted("many_layers", mode), "--samples", 4)
    assert d["bit_exact"] and d["samples"] == 4 + 3, d


def test_mobilenet_v2_on_qemu_m4(converted, tmp_path):
    """MobileNetV2 0.35 at 96x96 fits qemu-m4; one random input (an inference takes seconds in QEMU)."""
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(3).integers(-128, 128, size=(1, *APPS_SHAPE), dtype=np.int64).astype(np.int8))
    d = _verify_on_qemu(converted("mobilenet_v2_0.35", "int8", convert_app), "--inputs", x)
    assert d["bit_exact"] and d["samples"] == 1, d
