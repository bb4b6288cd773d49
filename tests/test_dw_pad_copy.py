"""DEPTHWISE_CONV_2D's fast kernel on a zero-point-padded copy of its input (pad_copy 1), against TFLite's reference.

On the DSP cores, where a small map's border pixels (each its own table of tap addresses) cost more than
copying the image into scratch with its padding around it (conv._pad_copy_gain), the kernel copies it
(every pixel in.c rounded up to 4 bytes, the padding the input's zero point, the extra lanes any value:
their weights are 0) and runs every pixel on the interior path, one assembler call each (tq_dw_padded);
with in.c % 4 != 0 the assembler computes the last channels in the same call, the spare lanes written
into the next pixel's output (not past an image's last pixel). RAM: taken outright where the copy is at
most PLANE_BAND_BYTES (with int16 weights there on the DSP cores: tq_depthwise_conv_fast_wide_s8,
PAD_COPY_WIDE), else only where the arena stays as it is (plan_memory's twins). Checked bit for bit on
small maps (1x1 to 4x3, odd channel counts, strides 1 and 2, dilation, 5x5 windows, both
requantizations, --wide-weights) on the host (portable C, the DSP target's choices) and on qemu-m4
(assembler, int16 and int8 weights); and the plane kernel's gather of short rows (under 8 pixels) over
several channels.
"""

from __future__ import annotations

import dataclasses

import keras
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks import verify
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops import conv

from .helpers import assert_bit_exact, branches_model

L = keras.layers
FAST = "tq_depthwise_conv_fast_s8"
FAST_WIDE = "tq_depthwise_conv_fast_wide_s8"
PLANE = "tq_depthwise_conv_plane_s8"
DSP = Target.for_extensions(["dsp"])

MODELS = {
    # one pixel, four pixels (stride 2 from the padding corner, a 5x5 window wider than the map)
    "m1x1c8": ((1, 1, 8), [L.DepthwiseConv2D(3, padding="same"), L.DepthwiseConv2D(5, padding="same", activation="relu")]),
    "m2x2c7": ((2, 2, 7), [L.DepthwiseConv2D(5, padding="same"),
                           L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")]),
    # 3x3 maps: eight of nine windows cross the border; a dilation; a rest of 1
    "m3x3c8": ((3, 3, 8), [L.DepthwiseConv2D(3, padding="same"),
                           L.DepthwiseConv2D(3, dilation_rate=2, padding="same"),
                           L.DepthwiseConv2D(3, strides=2, padding="same")]),
    "m3x3c17": ((3, 3, 17), [L.DepthwiseConv2D(3, padding="same"), L.DepthwiseConv2D(5, padding="same", activation="relu")]),
    # an uneven map, a 3x1 window, a rest of 2
    "m4x3c6": ((4, 3, 6), [L.DepthwiseConv2D(5, padding="same"), L.DepthwiseConv2D((3, 1), padding="same")]),
}

# The plane kernel's short rows, gathered several at a time
PLANE_MODELS = {
    "p6x5c3": ((6, 5, 3), [L.DepthwiseConv2D(3, padding="same"), L.DepthwiseConv2D(3, strides=2, padding="same")]),
    "p5x7c5": ((5, 7, 5), [L.DepthwiseConv2D(3, padding="same", activation="relu"), L.DepthwiseConv2D(3, padding="valid")]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwpad")
    every = {**MODELS, **PLANE_MODELS}
    return {name: branches_model(d, name, shape, layers, seed=40 + n) for n, (name, (shape, layers)) in enumerate(every.items())}


@pytest.fixture
def dsp_host(monkeypatch):
    """Host verification with the DSP cores' choices (the C runs its portable path)."""
    monkeypatch.setattr(verify, "target_for", lambda kernels, extensions=(), wide=False, pack_weights="auto":
                        dataclasses.replace(Target.for_extensions(["dsp"], kernels, wide), pack_weights=pack_weights))


def _padded(path, target=DSP) -> list[int]:
    return [op.call.params.get("pad_copy", 0) for op in compile_tflite(path, target).ops if op.call.func in (FAST, FAST_WIDE)]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padded_copy_bit_exact_on_host(models, dsp_host, monkeypatch, name):
    calls = [op.call for op in compile_tflite(models[name], DSP).ops if op.call.func in (FAST, FAST_WIDE)]
    assert [c.params["pad_copy"] for c in calls] == [int(conv._pad_copy_gain(c.params) > 0) for c in calls]
    # int16 weights exactly where the copy is taken outright (every copy of these small maps)
    assert [c.func == FAST_WIDE for c in calls] == [bool(c.params["pad_copy"]) for c in calls]
    monkeypatch.setattr(conv, "_pad_copy_gain", lambda params: 1)  # every layer, where it pays or not
    assert _padded(models[name]) == [1] * len(MODELS[name][1])
    assert_bit_exact(models[name], samples=6)


def test_general_requantization_and_wide_weights(models, dsp_host, monkeypatch):
    assert_bit_exact(models["m3x3c17"], samples=4, wide=True)
    monkeypatch.setattr(conv, "_requant_mode", lambda *a, **k: conv.REQUANT_GENERAL)
    g = compile_tflite(models["m3x3c17"], DSP)
    assert {(op.call.params["pad_copy"], op.call.params["requant"]) for op in g.ops} == {(1, 1)}
    assert_bit_exact(models["m3x3c17"], samples=4)


def test_taken_only_where_it_pays(models):
    # larger maps of more channels: fewer border pixels against a copy of every channel
    big = {"in": {"n": 1, "h": 25, "w": 5, "c": 64}, "out": {"n": 1, "h": 25, "w": 5, "c": 64}, "kh": 3, "kw": 3,
           "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_h": 1, "pad_w": 1}
    assert conv._pad_copy_gain(big) < 0
    small = {**big, "in": {**big["in"], "h": 3, "w": 3, "c": 8}, "out": {**big["out"], "h": 3, "w": 3, "c": 8}}
    assert conv._pad_copy_gain(small) > 0 and conv._pad_copy_bytes(small) == 5 * 5 * 8
    assert conv._pad_copy_gain({**small, "in": {**small["in"], "h": 1, "w": 1}, "out": {**small["out"], "h": 1, "w": 1}}) < 0
    # no DSP extension (portable C, Helium): never
    assert set(_padded(models["m3x3c8"], Target())) == {0}
    assert set(_padded(models["m3x3c8"], Target(k_align=16, wide=False))) == {0}


def test_larger_copies_only_where_the_arena_has_room(models, monkeypatch):
    monkeypatch.setattr(conv, "PLANE_BAND_BYTES", 64)
    g = compile_tflite(models["m3x3c17"], DSP)
    calls = [op.call for op in g.ops]
    # one model input and two outputs live throughout: the copy's scratch would grow the arena
    assert all(c.params["pad_copy"] == 0 and c.alt is not None and c.alt[0].params["pad_copy"] == 1 for c in calls)


@pytest.mark.parametrize("name", sorted(PLANE_MODELS))
def test_plane_kernel_short_rows_bit_exact_on_host(models, name):
    assert set(op.call.func for op in compile_tflite(models[name], Target()).ops) == {PLANE}
    assert_bit_exact(models[name], samples=6)


def test_last_block_whole_under_an_overlapping_plan_on_qemu_m4(tmp_path, monkeypatch):
    """Without the copy, on the DSP cores a pixel's last block (in.c % 4 != 0) is computed whole too
    (but for a row's last pixel), writing up to 3 bytes into the next pixel's output: the declared
    gap is 4 bytes larger, and an output planned below its dying input stays bit-exact."""
    from .test_plan_overlap import _chain, _overlapping

    monkeypatch.setattr(conv, "_pad_copy_gain", lambda params: -1)
    monkeypatch.setattr(conv, "_plane_suits", lambda *a: False)
    path = _chain(tmp_path / "chain.tflite", (1, 9, 9, 18), [("DEPTHWISE_CONV_2D", 3, 1, "same", 18),
                                                             ("MAX_POOL_2D", 3, 1, "same", 18)], seed=5)
    res = build(path, get_board("qemu-m4"), tmp_path / "b")
    dw = res.graph.ops[0].call
    assert dw.func == FAST and dw.params["pad_copy"] == 0
    assert dw.gap == conv.window_gap(dw.params, conv.PIXEL) + 4
    assert 0 in _overlapping(res.graph), res.graph.notes
    run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
    assert run.bit_exact, run.first_mismatch


def test_bit_exact_on_qemu_m4(models, tmp_path, monkeypatch):
    """tq_dw_padded (one assembler call a pixel, an image's last pixel's last in.c % 4 channels through
    a word) with int16 weights, and with int8 weights (PAD_COPY_WIDE off: a 1x1 map, an uneven one
    with a rest of 2); the plane kernel's short rows."""
    monkeypatch.setattr(conv, "_pad_copy_gain", lambda params: 1)
    for name, wide in (("m3x3c17", True), ("m2x2c7", True), ("m1x1c8", False), ("m4x3c6", False), ("p5x7c5", None)):
        monkeypatch.setattr(conv, "PAD_COPY_WIDE", bool(wide))
        res = build(models[name], get_board("qemu-m4"), tmp_path / name)
        if name in MODELS:
            assert {(op.call.params.get("pad_copy"), op.call.func) for op in res.graph.ops} == {(1, FAST_WIDE if wide else FAST)}
        run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
        assert run.bit_exact, (name, run.first_mismatch)


def test_plane_kernel_against_the_padded_copy_by_cost():
    """_plane_suits weighs the plane kernel against the fast kernel as it would run: on its padded copy
    (_padded_cost) where that is taken outright, else with border tables (_block_cost)."""
    from types import SimpleNamespace

    def params(h, w, c):
        return {"in": {"n": 1, "h": h, "w": w, "c": c}, "out": {"n": 1, "h": h, "w": w, "c": c}, "kh": 3, "kw": 3,
                "depth_mult": 1, "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_h": 1, "pad_w": 1}

    g = SimpleNamespace(target=DSP)
    six = params(6, 6, 17)  # a 1,280-byte copy: the fast kernel on it, not the plane kernel
    assert conv._pad_copy_outright(six) and conv._padded_cost(six) < conv._plane_cost(six) < conv._block_cost(six)
    assert not conv._plane_suits(g, six, 17)
    narrow = params(25, 5, 17)  # a 3,780-byte copy is not taken outright: the plane kernel
    assert not conv._pad_copy_outright(narrow) and conv._plane_suits(g, narrow, 17)
    assert conv._plane_suits(g, params(6, 6, 5), 5)  # few channels: the plane kernel costs less
    assert conv._plane_suits(SimpleNamespace(target=Target()), six, 17)  # no DSP extension: no copy
