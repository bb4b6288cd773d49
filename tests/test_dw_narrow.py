"""DEPTHWISE_CONV_2D one channel plane at a time (tq_depthwise_conv_plane_s8), against TFLite's reference.

The plane kernel takes the depthwise layers with few channels, channel counts that are not multiples
of 4 and depth multipliers on the cores without Helium: each input channel's rows gathered into
zero-point-padded rows, then each output channel computed from them with its weights in registers
(3x3 windows at stride 1 or 2 two outputs an iteration, in assembler on the DSP extension; any other
window tap by tap). Each model checks that the kernel was chosen, then runs bit for bit on the host
(portable C), with both requantizations and with bands of a few rows; one firmware runs on qemu-m4
(the assembler) and one on qemu-m3 (portable C on the core).
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
PLANE = "tq_depthwise_conv_plane_s8"



MODELS = {
    # one channel: 3x3 at strides 1, 2 and (2, 1), odd and even widths; a 5x3 window and a dilation
    # (tap by tap); multipliers
    "c1": ((13, 11, 1), [L.DepthwiseConv2D(3, padding="same"),
                         L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
                         L.DepthwiseConv2D(3, strides=(2, 1), padding="valid"),
                         L.DepthwiseConv2D((5, 3), strides=(1, 2), padding="same"),
                         L.DepthwiseConv2D(3, dilation_rate=2, padding="same"),
                         L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
                         L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="valid"),
                         L.DepthwiseConv2D(3, strides=2, padding="valid")]),  # an odd width (5) at stride 2
    # three and seventeen channels: gathers at a stride, the last pair of an odd row
    "c3": ((9, 10, 3), [L.DepthwiseConv2D(3, padding="same"),
                        L.DepthwiseConv2D(3, strides=2, padding="same"),
                        L.DepthwiseConv2D(3, padding="valid", activation="relu"),
                        L.DepthwiseConv2D((3, 5), padding="same"),
                        L.DepthwiseConv2D(3, depth_multiplier=5, padding="same")]),
    "c17": ((13, 11, 17), [L.DepthwiseConv2D(3, padding="same"),
                           L.DepthwiseConv2D(3, padding="valid", activation="relu6"),
                           L.DepthwiseConv2D(3, depth_multiplier=2, strides=(1, 2), padding="same")]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwn")
    return {name: branches_model(d, name, shape, layers, seed=n) for n, (name, (shape, layers)) in enumerate(MODELS.items())}


def _funcs(path, target=None):
    return [op.call.func for op in compile_tflite(path, target or Target()).ops]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_narrow_layers_take_the_plane_kernel_bit_exact(models, name):
    assert set(_funcs(models[name])) == {PLANE}
    assert_bit_exact(models[name], samples=6)


def test_general_requantization_and_bands_of_a_few_rows(models, monkeypatch):
    """requant 1 (tq_requant_gen) for every layer, and scratch for a band of one or two output rows,
    so that bands carry their shared input rows over."""
    monkeypatch.setattr(conv, "_requant_mode", lambda *a, **k: conv.REQUANT_GENERAL)
    monkeypatch.setattr(conv, "PLANE_BAND_BYTES", 128)
    g = compile_tflite(models["c1"], Target())
    assert {op.call.params["requant"] for op in g.ops} == {1}
    assert 1 < max(op.call.params["band"] for op in g.ops) < 6
    for name in ("c1", "c3"):
        assert_bit_exact(models[name], samples=4)


def test_in_place_only_where_each_row_is_gathered_first():
    base = {"kh": 3, "kw": 3, "dil_h": 1, "dil_w": 1, "depth_mult": 1}
    same = {**base, "in": {"h": 8, "w": 8}, "out": {"h": 8, "w": 8}, "stride_h": 1, "pad_h": 1}
    assert conv._plane_in_place(same)
    assert not conv._plane_in_place({**same, "depth_mult": 2})
    # valid padding at stride 2: output row r lands on input row r / 2 at most, gathered long before
    assert conv._plane_in_place({**base, "in": {"h": 9, "w": 9}, "out": {"h": 4, "w": 4}, "stride_h": 2, "pad_h": 0})
    # a window of one row over rows of 4, output rows of 8 (what no depthwise shape gives, but the rule
    # must see it): output row 0 lands on input row 1, which row 1's window reads and is not gathered yet
    one_row = {**base, "kh": 1, "in": {"h": 8, "w": 4}, "out": {"h": 4, "w": 8}, "pad_h": 0}
    assert not conv._plane_in_place({**one_row, "stride_h": 1})
    assert conv._plane_in_place({**one_row, "stride_h": 2})  # at stride 2 no later window reads row 1


def test_helium_keeps_its_vector_kernel_but_for_multipliers_over_few_channels(models):
    helium = Target(k_align=16, wide=False)
    assert PLANE not in _funcs(models["c17"], helium)
    assert _funcs(models["c1"], helium).count(PLANE) == 2  # the two layers with a depth multiplier


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m3"])
def test_plane_kernel_bit_exact_on_core(models, core, tmp_path):
    res = build(models["c3"] if core == "qemu-m3" else models["c1"], get_board(core), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=2, edges=True)
    assert run.bit_exact, run.first_mismatch
