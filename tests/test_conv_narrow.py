"""Convolutions over few input channels on the fast kernels, bit for bit against TFLite's reference.

A 1x1 convolution over any channel count runs tq_conv_1x1_s8: each column is read k bytes (in.c
rounded up to the group) from its pixel on, the bytes past in.c meeting zero weights, and a pixel
whose k bytes would pass the input's end is copied first. im2col copies a small window (kw * in.c
under 12 bytes) inside the image a word at a time, over-reading and over-writing up to 3 bytes.
The cases put pixels at the input's end (odd maps, strides), windows at every border, dilations and a
fused ADD after a 1x1 convolution over 5 channels. The host runs the portable C; qemu-m4 the DSP
path, qemu-m55 Helium (k padded to 16: 13 bytes read past a 3-channel pixel).
"""

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import BOTH_KERNELS, assert_bit_exact, write_tflite


def _net():
    import keras

    L = keras.layers
    inp = keras.Input((9, 7, 3))
    a = L.Conv2D(5, 1, activation="relu")(inp)  # 1x1 over 3 channels (k 4): the last pixels copied
    b = L.Conv2D(6, 1, strides=2)(a)  # 1x1 over 5 channels, stride 2, odd map (5x4 pixels)
    c = L.Conv2D(5, 1)(b)  # 1x1 over 6 channels
    d = L.Add()([L.Conv2D(5, 1)(b), c])  # the ADD fused into one of the two 1x1 convolutions over 6
    e = L.Conv2D(2, 3, padding="same")(d)  # 3x3 over 5 channels (run 15: im2col's general copy)
    f = L.Conv2D(7, 3, padding="same", activation="relu6")(e)  # 3x3 over 2 channels (run 6: word copies)
    g = L.Conv2D(3, 3, strides=2, padding="valid")(f)  # 3x3 over 7 channels, stride 2
    h = L.Conv2D(4, (3, 2), dilation_rate=(2, 1), padding="same")(inp)  # over 3 channels, dilated rows
    i = L.Conv2D(1, 3, padding="same")(h)  # 3x3 over 4 channels into 1
    j = L.Conv2D(3, 3, strides=2, padding="same")(L.Conv2D(1, 1)(i))  # 3x3 over 1 channel, stride 2
    return keras.Model(inp, [g, j])


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(11)
    m = _net()
    calib = np.random.default_rng(2).normal(0.7, 1.5, (24, 9, 7, 3)).astype(np.float32)
    return write_tflite(tmp_path_factory.mktemp("narrow"), "narrow", m, [calib])


def test_narrow_convolutions_take_the_fast_kernels_bit_exact_on_the_host(narrow):
    g = compile_tflite(narrow, Target())
    convs = [op for op in g.ops if op.kind == "CONV_2D"]
    one_by_one = [op for op in convs if op.call.params.get("kh", 1) == 1 and op.call.func == "tq_conv_1x1_s8"]
    in_c = sorted(op.call.params["in"]["c"] for op in one_by_one)
    assert in_c == [1, 3, 5, 6, 6], in_c  # every 1x1 convolution, whatever its channels
    assert all(op.call.func in ("tq_conv_im2col_s8", "tq_conv_taps_s8", "tq_conv_1x1_s8") for op in convs)
    assert any(op.call.params.get("res", {}).get("t_conv") for op in one_by_one)  # the ADD fused into a 1x1
    assert_bit_exact(narrow, samples=24, kernels=BOTH_KERNELS)


def test_helium_columns_read_past_a_pixel(narrow):
    """On Helium the rows are padded to 16: a 3-channel pixel's column reads 13 bytes past it."""
    g = compile_tflite(narrow, Target.for_extensions(["dsp", "mve"]))
    spare = {op.call.params["gemm"]["k"] - op.call.params["in"]["c"] for op in g.ops if op.call.func == "tq_conv_1x1_s8"}
    assert max(spare) == 15, spare


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m55"])
def test_narrow_convolutions_bit_exact_on_core(narrow, core, tmp_path):
    run = run_on_device(build(narrow, get_board(core), tmp_path / "b").out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch
