"""The Helium (MVE) paths of the fast kernels on qemu-m55, bit for bit against TFLite's reference.

One multi-layer model per build sweeps what tq_mve.h specializes on: depthwise channel counts that
are whole groups of sixteen, groups plus blocks of four, and odd tails (67, 32, 33, 20, 5), 3x3 and 5x5
windows, strides 1 and 2 and clamped activations; 1x1, im2col and tap-by-tap convolutions with odd
output channel counts (an odd last row stored through a predicated scatter) and odd pixel counts
(the last pixel paired with itself). A second model runs the tap-by-tap kernel with a fused residual
ADD (two pixels a unit: tq_mve_acc_duo's 2x2 blocks, tq_mve_req_quad); a third average and max pooling (windows 2
to 5, global and a 1,575-pixel row, strides 1 and 2, clipped edge windows, 1, 5, 7 and 21 channels:
predicated tails) and
unfused ADDs, one tabulated (1,575 elements) and one computed (63), neither a multiple of four.
"""

import re

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import write_tflite

HELIUM = Target.for_extensions(["dsp", "mve"])


def _model(tmp, name, inp_shape, layers, seed):
    import keras

    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input(inp_shape), *layers])
    rng = np.random.default_rng(seed)
    calib = rng.normal(0.7, 2.0, (24, *inp_shape)).astype(np.float32)
    return write_tflite(tmp, name, m, [calib])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    import keras

    L = keras.layers
    layers = [
        L.Conv2D(67, 3, padding="same", activation="relu"),                      # odd rows
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),      # 4 groups + 3 lanes
        L.Conv2D(32, 1),                                                          # gathered (67 channels)
        L.DepthwiseConv2D(5, padding="same"),                                     # 25 taps, 2 groups
        L.Conv2D(33, 1),                                                          # 1x1 in place, odd rows
        L.DepthwiseConv2D(3, strides=(1, 2), padding="same", activation="relu"),  # 2 groups + 1 lane
        L.Conv2D(20, 3, strides=2, padding="valid", activation="relu"),
        L.DepthwiseConv2D(3, padding="same"),                                     # a group and a block
        L.Conv2D(5, 1),
        L.DepthwiseConv2D(3, padding="same"),                                     # a block and a lane
        L.Conv2D(1, 1),
    ]
    return _model(tmp_path_factory.mktemp("helium"), "sweep", (13, 11, 5), layers, seed=11)


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(3)
    L = keras.layers
    inp = keras.Input((10, 9, 16))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(16, 3, padding="same")(x)
    out = L.ReLU()(L.Add()([inp, y]))
    m = keras.Model(inp, L.Conv2D(7, 1)(out))
    calib = np.random.default_rng(4).normal(0, 1.5, (16, 10, 9, 16)).astype(np.float32)
    return write_tflite(tmp_path_factory.mktemp("helium_res"), "res", m, [calib])


@pytest.fixture(scope="module")
def pool_add(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(8)
    L = keras.layers
    inp = keras.Input((15, 15, 3))
    a = L.Conv2D(7, 1, activation="relu")(inp)
    z = L.Add()([L.DepthwiseConv2D(3, padding="same")(a), a])
    p = L.AveragePooling2D(5)(z)
    z2 = L.Add()([L.DepthwiseConv2D(3, padding="same")(p), p])
    c = L.Conv2D(21, 1, activation="relu")(z)
    c = L.AveragePooling2D(3, strides=1, padding="same")(c)
    c = L.MaxPooling2D(3, strides=2, padding="same")(c)
    c = L.Conv2D(5, 1)(c)
    c = L.MaxPooling2D(2, strides=1, padding="same")(c)
    c = L.AveragePooling2D(2, strides=2, padding="same")(c)
    g = L.AveragePooling2D(4)(c)
    row = L.AveragePooling2D((1, 1575))(L.Reshape((1, 1575, 1))(z))  # a window row of 1,575 pixels
    m = keras.Model(inp, [L.Flatten()(z2), L.Flatten()(g), L.Flatten()(row)])
    calib = np.random.default_rng(9).normal(0.3, 1.2, (16, 15, 15, 3)).astype(np.float32)
    return write_tflite(tmp_path_factory.mktemp("helium_pool"), "pool_add", m, [calib])


def test_sweep_takes_the_helium_kernels(sweep):
    g = compile_tflite(sweep, HELIUM)
    funcs = [op.call.func for op in g.ops]
    assert funcs.count("tq_depthwise_conv_fast_s8") == 5, funcs
    assert "tq_conv_1x1_s8" in funcs and ({"tq_conv_im2col_s8", "tq_conv_taps_s8"} & set(funcs)), funcs
    dw = [op.call.params for op in g.ops if op.call.func == "tq_depthwise_conv_fast_s8"]
    assert [p["in"]["c"] for p in dw] == [67, 32, 33, 20, 5]
    assert all(p["paired"] == 0 for p in dw)  # the [T][4] layout tq_mve_dw16 gathers from


def test_sweep_bit_exact_on_m55(sweep, tmp_path):
    res = build(sweep, get_board("qemu-m55"), tmp_path / "b")
    src = (res.out_dir / "src" / "tq_mve.h").read_text()
    assert re.search(r"vmullb\.s16", src) and re.search(r"vmlava\.s8", src)
    run = run_on_device(res.out_dir, runs=4, edges=True)
    assert run.bit_exact, run.first_mismatch


def test_fused_residual_bit_exact_on_m55(residual, tmp_path):
    g = compile_tflite(residual, HELIUM)
    assert any(op.call.params.get("res", {}).get("t_conv") for op in g.ops), [op.call.func for op in g.ops]
    run = run_on_device(build(residual, get_board("qemu-m55"), tmp_path / "b").out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch


def test_pool_and_add_bit_exact_on_m55(pool_add, tmp_path):
    g = compile_tflite(pool_add, HELIUM)
    funcs = [op.call.func for op in g.ops]
    adds = [op.call.params for op in g.ops if op.call.func == "tq_add_fast_s8"]
    assert sorted(p["add"]["shape"]["size"] for p in adds) == [63, 1575], funcs
    assert funcs.count("tq_avgpool_fast_s8") >= 4 and funcs.count("tq_maxpool_fast_s8") == 2, funcs
    run = run_on_device(build(pool_add, get_board("qemu-m55"), tmp_path / "b").out_dir, runs=4, edges=True)
    assert run.bit_exact, run.first_mismatch
