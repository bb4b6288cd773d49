"""Activations (int8) against TFLite's reference interpreter: every output bit-exact.

Two kinds of models:
- Keras models where the activation follows a Dense / Conv2D (realistic scales), converted
  with tinyq.convert and checked with verify_tflite;
- single-op models written directly as flatbuffers, to sweep all 256 input values over many
  scales / zero points / alphas, and softmax over many scales, betas and row shapes (beta != 1
  cannot be obtained from the converter).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from tinyq.checks.verify import verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel
from tinyq.resources import KERNELS

from .helpers import (
    BOTH_KERNELS,
    assert_bit_exact,
    one_op_model,
    op_kinds,
    single_op_model,
    tensor_spec,
    write_tflite,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# --------------------------------------------------------------------------- single-op flatbuffers


def softmax_options(beta: float):
    from ai_edge_litert import schema_py_generated as s

    o = s.SoftmaxOptionsT()
    o.beta = beta
    return o, s.BuiltinOptions.SoftmaxOptions


def leaky_options(alpha: float):
    from ai_edge_litert import schema_py_generated as s

    o = s.LeakyReluOptionsT()
    o.alpha = alpha
    return o, s.BuiltinOptions.LeakyReluOptions


def check_single(tmp_path, tag, kind, shape, in_q, out_q, inputs: np.ndarray, opts=(None, 0)):
    model = tmp_path / f"{tag}.tflite"
    model.write_bytes(single_op_model(kind, shape, in_q, out_q, *opts))
    data = tmp_path / f"{tag}.npy"
    np.save(data, inputs.astype(np.int8))
    r = verify_tflite(model, samples=0, inputs=data)
    assert r.samples == inputs.shape[0]
    assert r.bit_exact, f"{kind} in {in_q} out {out_q}: {r.summary()}"


# --------------------------------------------------------------------------- elementwise sweeps

ALL_INT8 = np.arange(-128, 128, dtype=np.int64).reshape(1, 256)


def _scale_configs(seed: int, n: int):
    rng = np.random.default_rng(seed)
    fixed = [(0.0784313753247261, -1), (0.023529412224888802, -128), (1.0 / 16, 5)]
    rand = [(float(np.float32(10 ** rng.uniform(-3, 1))), int(rng.integers(-128, 128))) for _ in range(n)]
    return fixed + rand


ELEMENTWISE = [
    # kind, output quantization (None: random like the input), options
    ("LOGISTIC", (1.0 / 256, -128), None),
    ("TANH", (1.0 / 128, 0), None),
    ("TANH", None, None),
    ("RELU", None, None),
    ("RELU6", None, None),
    ("RELU_N1_TO_1", None, None),
    ("RELU_0_TO_1", None, None),
    ("HARD_SWISH", None, None),
    ("LEAKY_RELU", None, 0.1),
    ("LEAKY_RELU", None, 0.3),
    ("LEAKY_RELU", None, 1.5),
    ("LEAKY_RELU", None, -0.25),
]


@pytest.mark.parametrize("case", range(len(ELEMENTWISE)), ids=[f"{k}-{o}-{a}" for k, o, a in ELEMENTWISE])
def test_elementwise_all_inputs(tmp_path, case):
    """Every int8 input value, over fixed and random input/output scales and zero points."""
    kind, out_q, alpha = ELEMENTWISE[case]
    ins = _scale_configs(seed=case, n=3)
    outs = _scale_configs(seed=100 + case, n=3)[::-1]
    opts = leaky_options(alpha) if kind == "LEAKY_RELU" else (None, 0)
    ran = 0
    for k, (in_q, oq) in enumerate(zip(ins, outs)):
        oq = out_q or oq
        if kind == "HARD_SWISH" and oq[0] < in_q[0] / 128 * 1.01:
            oq = (in_q[0] / 4, oq[1])  # TFLite needs output scale >= input scale / 128
        check_single(tmp_path, f"{kind}{k}", kind, (1, 256), in_q, oq, ALL_INT8, opts)
        ran += 1
    assert ran == 6


# --------------------------------------------------------------------------- softmax sweeps


def softmax_rows(depth: int, n: int, seed: int) -> np.ndarray:
    """Rows with one maximum and the rest at every distance 0..255 below it, flat rows, random rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(256):
        r = np.full(depth, 127 - d)
        r[(d * 7) % depth] = 127
        rows.append(r)
    rows += [np.full(depth, -128), np.full(depth, 127), np.full(depth, 0)]
    while len(rows) < n:
        if rng.random() < 0.5:
            r = rng.integers(-128, 128, depth)
        else:  # values close to the row maximum, where the outputs are large
            r = 127 - rng.integers(0, int(rng.integers(1, 48)), depth) - int(rng.integers(0, 100))
        rows.append(r)
    return np.clip(np.array(rows[:n]), -128, 127)


SOFTMAX = [
    # input scale, zero point, beta, depth
    (0.14469251036643982, 14, 1.0, 12),  # MLPerf Tiny keyword spotting (DS-CNN)
    (0.17185351252555847, 24, 1.0, 10),  # MLPerf Tiny image classification (ResNet-8)
    (0.0039, -3, 1.0, 10),
    (0.0625, 0, 1.0, 2),
    (0.9, -50, 1.0, 37),  # large scale: diff_min cuts most of the row
    (3.7, 100, 1.0, 5),
    (0.2, 10, 0.5, 12),
    (0.05, -20, 2.0, 1),
    (0.31, 0, 7.3, 3),
    (0.011, 64, 0.1, 256),
]


@pytest.mark.parametrize("scale,zp,beta,depth", SOFTMAX)
def test_softmax_sweep(tmp_path, scale, zp, beta, depth):
    rows = 300
    data = softmax_rows(depth, 2 * rows, seed=depth).reshape(2, rows, depth)
    out_q = (1.0 / 256, -128)
    check_single(tmp_path, "softmax", "SOFTMAX", (1, rows, depth), (scale, zp), out_q, data, softmax_options(beta))


def test_softmax_long_rows(tmp_path):
    """4095 elements (the longest row supported), with 511 of them at the maximum: the largest sum
    of exponentials TFLite's reference kernel accepts (from 512 on it aborts the process)."""
    depth = 4095
    rng = np.random.default_rng(5)
    a = np.zeros((2, depth), dtype=np.int64)  # with scale 1.0, diff_min is -15: zeros do not count
    a[0, :511] = 127
    a[1, rng.permutation(depth)[:511]] = 127
    b = np.stack([rng.integers(-128, 128, depth), np.arange(depth) % 256 - 128])
    data = np.stack([a, b])
    check_single(tmp_path, "long", "SOFTMAX", (1, 2, depth), (1.0, 0), (1.0 / 256, -128), data, softmax_options(1.0))


def test_softmax_sum_past_tflite_limit(tmp_path):
    """Where TFLite aborts (sum of exponentials >= 512) the kernel gives the rounded result, -128."""
    from tinyq.build.host import HostModel
    from tinyq.compiler.pipeline import generate_library

    path = tmp_path / "wide.tflite"
    path.write_bytes(single_op_model("SOFTMAX", (1, 600), (0.05, 0), (1.0 / 256, -128), *softmax_options(1.0)))
    host = HostModel(generate_library(path, name="tq_model"), "tq_model")
    try:
        out, _ = host.run([np.full((1, 600), 100, dtype=np.int8)])
    finally:
        host.close()
    assert np.all(out[0] == -128)


# --------------------------------------------------------------------------- Keras models


def _keras_cases():
    from keras import layers

    def conv(n=4):
        return layers.Conv2D(n, 3)

    def concat_dense(x):
        return layers.Concatenate()([layers.Dense(8)(x), layers.Dense(8)(x)])

    img, vec = (6, 6, 2), (8,)
    return [
        ("dense_softmax", lambda x: layers.Softmax()(layers.Dense(10)(x)), vec, "SOFTMAX"),
        ("conv_softmax", lambda x: layers.Softmax()(conv(5)(x)), img, "SOFTMAX"),
        ("conv_sigmoid", lambda x: layers.Activation("sigmoid")(conv()(x)), img, "LOGISTIC"),
        ("dense_sigmoid", lambda x: layers.Activation("sigmoid")(layers.Dense(12)(x)), vec, "LOGISTIC"),
        ("conv_tanh", lambda x: layers.Activation("tanh")(conv()(x)), img, "TANH"),
        ("dense_tanh", lambda x: layers.Activation("tanh")(layers.Dense(12)(x)), vec, "TANH"),
        ("conv_hard_swish", lambda x: layers.Activation("hard_swish")(conv()(x)), img, "HARD_SWISH"),
        ("dense_hard_swish", lambda x: layers.Activation("hard_swish")(layers.Dense(12)(x)), vec, "HARD_SWISH"),
        ("dense_leaky_0.1", lambda x: layers.LeakyReLU(negative_slope=0.1)(layers.Dense(12)(x)), vec, "LEAKY_RELU"),
        ("conv_leaky_0.3", lambda x: layers.LeakyReLU(negative_slope=0.3)(conv()(x)), img, "LEAKY_RELU"),
        # Dense / Conv2D absorb a following ReLU; after a concatenation it stays an op of its own.
        ("concat_relu", lambda x: layers.ReLU()(concat_dense(x)), vec, "RELU"),
        ("concat_relu6", lambda x: layers.ReLU(max_value=6)(concat_dense(x)), vec, "RELU6"),
        ("input_relu6_dense", lambda x: layers.Dense(8)(layers.ReLU(max_value=6)(x)), vec, "RELU6"),
    ]


KERAS_IDS = [
    "dense_softmax",
    "conv_softmax",
    "conv_sigmoid",
    "dense_sigmoid",
    "conv_tanh",
    "dense_tanh",
    "conv_hard_swish",
    "dense_hard_swish",
    "dense_leaky_0.1",
    "conv_leaky_0.3",
    "concat_relu",
    "concat_relu6",
    "input_relu6_dense",
]


@pytest.mark.parametrize("name", KERAS_IDS)
def test_keras_model(tmp_path, name):
    import keras

    case = {c[0]: c for c in _keras_cases()}[name]
    _, body, shape, kind = case
    keras.utils.set_random_seed(KERAS_IDS.index(name))
    inp = keras.Input(shape)
    model = keras.Model(inp, body(inp))
    calib = np.random.default_rng(1).standard_normal((16, *shape)).astype(np.float32) * 2.0
    path = write_tflite(tmp_path, name, model, [calib])
    kinds = op_kinds(path)
    assert kind in kinds, f"the converter did not emit {kind} on its own: {kinds}"
    assert_bit_exact(path)


# --------------------------------------------------------------------------- rejections


def _compile(tmp_path, kind, shape, in_q, out_q, opts=(None, 0)):
    path = tmp_path / "m.tflite"
    path.write_bytes(single_op_model(kind, shape, in_q, out_q, *opts))
    return compile_graph(import_model(path))


@pytest.mark.parametrize(
    "kind,shape,in_q,out_q,opts,words",
    [
        ("SOFTMAX", (1, 10), (0.1, 0), (1.0 / 256, 0), "softmax", "zero point"),
        ("SOFTMAX", (1, 10), (0.1, 0), (1.0 / 128, -128), "softmax", "1/256"),
        ("SOFTMAX", (1, 5000), (0.1, 0), (1.0 / 256, -128), "softmax", "at most 4095"),
        ("SOFTMAX", (1, 10), (1e-9, 0), (1.0 / 256, -128), "softmax", "beta"),
        ("LOGISTIC", (1, 10), (0.1, 0), (1.0 / 128, 0), None, "1/256"),
        ("HARD_SWISH", (1, 10), (1.0, 0), (0.001, 0), None, "output scale"),
    ],
)
def test_rejects_what_tflite_rejects(tmp_path, kind, shape, in_q, out_q, opts, words):
    options = softmax_options(1.0) if opts == "softmax" else (None, 0)
    with pytest.raises(UnsupportedModel, match=words):
        _compile(tmp_path, kind, shape, in_q, out_q, options)


def test_lowering_params(tmp_path):
    """The lowered calls carry TFLite's Prepare values (spot checks against hand-derived numbers)."""
    g = _compile(tmp_path, "SOFTMAX", (1, 12), (0.14469251036643982, 14), (1.0 / 256, -128), softmax_options(1.0))
    p = g.ops[0].call.params
    # 0.1446925 * 2^26 = 9710137.4 = 0.5787... * 2^24
    assert p["input_left_shift"] == 24 and p["rows"] == 1 and p["depth"] == 12
    assert p["diff_min"] == -((31 << 26) >> 24)
    assert abs(p["input_multiplier"] / 2**31 * 2**24 - 0.14469251036643982 * 2**26) < 1
    g = _compile(tmp_path, "TANH", (1, 4), (0.1, 0), (1.0 / 128, 0))
    table = g.ops[0].call.arrays[0].values
    assert table.dtype == np.int8 and table.size == 256
    assert table[0] == 0 and table[127] == 127 and table[128] == -128  # tanh(0), tanh(12.7), tanh(-12.8)


# --------------------------------------------------------------------------- kernels compile cleanly

CROSS = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


@pytest.mark.parametrize("cc", [["gcc"], CROSS], ids=["host", "cortex-m4"])
def test_kernels_compile_warning_free(tmp_path, cc):
    assert shutil.which(cc[0]), f"{cc[0]} is not installed"
    sources = sorted((KERNELS / "activation").glob("*.c"))
    int8 = {"tq_" + n + "_s8.c" for n in ("softmax", "lut", "relu", "leaky_relu", "hard_swish")}
    assert int8 <= {s.name for s in sources}, sorted(s.name for s in sources)  # and the float32 / int16 twins
    for src in sources:
        r = subprocess.run(
            [*cc, "-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Wpedantic", "-Werror", "-O2",
             "-I", str(KERNELS / "include"), "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, f"{src.name}: {r.stderr}"


# --------------------------------------------------------------------------- softmax, int8 in, int16 out

S16_OUT = (1.0 / 65535, -32768)  # what TFLite Micro's models carry (TFLM requires 1/65536 within 0.1%)


def softmax_s8_s16_model(shape, in_q, beta: float, out_q=S16_OUT) -> bytes:
    return one_op_model("SOFTMAX", [tensor_spec(shape, "int8", in_q, name="x")], [tensor_spec(shape, "int16", out_q, name="y")],
                        *softmax_options(beta), description="tinyq softmax int8 -> int16 test")


SOFTMAX_S8_S16 = [
    # input scale, zero point, beta, depth, rows
    (0.06996273249387741, 2, 1.0, 2, 300),  # TFLM's keyword_scrambled model
    (0.14469251036643982, 14, 1.0, 12, 300),
    (0.0039, -3, 1.0, 10, 300),
    (0.9, -50, 1.0, 37, 260),  # diff_min cuts most of the row
    (0.2, 10, 0.5, 1, 260),  # one element: always 1.0, saturated to 32767
    (0.31, 0, 7.3, 3, 260),
    (0.011, 64, 0.1, 700, 4),  # a sum of exponentials past 512, where int8 output aborts in TFLite
]


@pytest.mark.parametrize("scale,zp,beta,depth,rows", SOFTMAX_S8_S16)
def test_softmax_s8_s16_sweep(tmp_path, scale, zp, beta, depth, rows):
    """int8 -> int16 SOFTMAX (reference_ops::Softmax<int8_t, int16_t>), both kernel sets, bit for bit."""
    path = tmp_path / "softmax16.tflite"
    path.write_bytes(softmax_s8_s16_model((1, rows, depth), (scale, zp), beta))
    data = softmax_rows(depth, 2 * rows, seed=depth).reshape(2, 1, rows, depth)
    np.save(tmp_path / "x.npy", data.astype(np.int8))
    r = assert_bit_exact(path, kernels=BOTH_KERNELS, inputs=tmp_path / "x.npy")
    assert r.samples == 2


def test_softmax_s8_s16_lowering(tmp_path):
    """The int16 output takes its own kernel with the int8 kernel's parameters."""
    path = tmp_path / "m.tflite"
    path.write_bytes(softmax_s8_s16_model((2, 12), (0.14469251036643982, 14), 1.0))
    call = compile_graph(import_model(path)).ops[0].call
    int8 = _compile(tmp_path, "SOFTMAX", (2, 12), (0.14469251036643982, 14), (1.0 / 256, -128), softmax_options(1.0)).ops[0].call
    assert (call.func, int8.func) == ("tq_softmax_s8_s16", "tq_softmax_s8")
    assert call.params == int8.params and call.params["rows"] == 2


@pytest.mark.parametrize(
    "out_q,words",
    [((1.0 / 32768, 0), "zero point is 0, TFLite requires -32768"), ((1.0 / 32768, -32768), "1/65536")],
)
def test_softmax_s8_s16_rejects_other_output_quantization(tmp_path, out_q, words):
    path = tmp_path / "m.tflite"
    path.write_bytes(softmax_s8_s16_model((1, 10), (0.1, 0), 1.0, out_q))
    with pytest.raises(UnsupportedModel, match=words):
        compile_graph(import_model(path))


def test_softmax_s8_s16_qemu_m4(tmp_path):
    """One int8 -> int16 SOFTMAX on a Cortex-M4 (QEMU)."""
    from tinyq.checks.verify import verify_on_board

    path = tmp_path / "softmax16.tflite"
    path.write_bytes(softmax_s8_s16_model((1, 6, 12), (0.14469251036643982, 14), 1.0))
    np.save(tmp_path / "x.npy", softmax_rows(12, 18, seed=3).reshape(3, 1, 6, 12).astype(np.int8))
    r = verify_on_board(path, "qemu-m4", samples=3, inputs=tmp_path / "x.npy")
    assert r.bit_exact and r.samples == 3, r.summary()
