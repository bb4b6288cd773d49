"""DEPTHWISE_CONV_2D's fast kernel (tq_depthwise_conv_fast_s8) at the image's border, against TFLite's reference.

Every output pixel reads its taps at tt[t] + corner + c: tt the taps' offsets from the window's corner
for a window inside the image, else a table (tq_dw_edge) whose taps outside the image point at the
zero-point row (its address less the corner, which may itself lie outside the image). The DSP cores
keep the assembler's job across pixels and run the last in.c % 4 channels as a block into a word.
Checked bit for bit over windows partly or wholly in the padding (maps of 1x1 to 6x5 under windows
up to 5x5, dilations, strides 1 and 2, same and valid), channel counts with and without a rest, on
the host (portable C) and on qemu-m4 (assembler), qemu-m55 (Helium) and qemu-m3 (portable C on the
core).
"""

from __future__ import annotations

import keras
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops import conv

from .helpers import assert_bit_exact, branches_model

L = keras.layers
FAST = "tq_depthwise_conv_fast_s8"



MODELS = {
    # 3x3 maps: eight of nine windows cross the border; 5x5 windows wider than the map; a dilation
    # that puts whole rows of taps outside; a 3x1 window
    "m3x3c8": ((3, 3, 8), [L.DepthwiseConv2D(3, padding="same"),
                           L.DepthwiseConv2D(5, padding="same", activation="relu"),
                           L.DepthwiseConv2D(3, dilation_rate=2, padding="same"),
                           L.DepthwiseConv2D((3, 1), strides=2, padding="same", activation="relu6")]),
    # channel counts with a rest of 1 and 3 (the rest block into a word), one pixel maps
    "m1x1c17": ((1, 1, 17), [L.DepthwiseConv2D(3, padding="same"), L.DepthwiseConv2D(1, padding="valid")]),
    "m6x5c19": ((6, 5, 19), [L.DepthwiseConv2D(3, padding="same"),
                             L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
                             L.DepthwiseConv2D(3, padding="valid"),
                             L.DepthwiseConv2D((5, 3), strides=(2, 1), padding="same")]),
    # a 2x3 map at stride 2 (windows from the padding corner), 12 channels
    "m2x3c12": ((2, 3, 12), [L.DepthwiseConv2D(3, strides=2, padding="same"),
                             L.DepthwiseConv2D((2, 3), padding="same", dilation_rate=(1, 2))]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwedge")
    return {name: branches_model(d, name, shape, layers, seed=n) for n, (name, (shape, layers)) in enumerate(MODELS.items())}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_border_windows_bit_exact_on_host(models, name):
    funcs = [op.call.func for op in compile_tflite(models[name], Target()).ops]
    assert funcs.count(FAST) >= len(MODELS[name][1]) - 1, funcs  # (a 1x1 window may be taken as it is)
    assert_bit_exact(models[name], samples=6)


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m55", "qemu-m3"])
def test_border_windows_bit_exact_on_core(models, core, tmp_path, monkeypatch):
    monkeypatch.setattr(conv, "_pad_copy_gain", lambda params: -1)  # the border tables (test_dw_pad_copy: the copy)
    for name in ("m3x3c8", "m6x5c19"):
        res = build(models[name], get_board(core), tmp_path / name)
        assert FAST in {op.call.func for op in res.graph.ops}
        run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
        assert run.bit_exact, (name, run.first_mismatch)
