"""The fast paths for depth multipliers, grouped convolutions and FULLY_CONNECTED, against TFLite's reference.

- DEPTHWISE_CONV_2D with a depth multiplier m > 1 and at most 64 taps: the fast depthwise kernel on
  the input with each channel repeated m times (tq_depthwise_conv_mult_s8); more taps over one input
  channel: a CONV_2D on the GEMM kernels (im2col);
- grouped CONV_2D: one matrix product per group (tq_conv_grouped_s8);
- FULLY_CONNECTED: four rows at a time from interleaved weights, zero points folded (the weights'
  one times the row's sum at run time), requantized in fixed point where generation proves that
  equal to the reference's double rounding, else guarded (tq_fc_round near rounding boundaries).

Each case checks that the fast kernel was chosen, then runs it bit for bit on the host (portable C)
and one small model on qemu-m4 (DSP assembler), qemu-m55 (Helium), qemu-m3 and qemu-m0 (portable C).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import (
    assert_bit_exact,
    branches_model,
    randomize_weights,
    rewrite_tflite,
    write_tflite,
)

L = keras.layers



def _funcs(path, target=None):
    return [op.call.func for op in compile_tflite(path, target or Target()).ops]


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D, depth multiplier

DW = {
    # in_c 1: windows up to 9x9 (more than 64 taps: as a CONV_2D, im2col)
    "c1": ((11, 10, 1), [L.DepthwiseConv2D(3, strides=2, depth_multiplier=8, padding="same", activation="relu"),
                         L.DepthwiseConv2D((9, 9), depth_multiplier=3, padding="same"),
                         L.DepthwiseConv2D((5, 3), strides=(1, 2), depth_multiplier=2, padding="valid", activation="relu6"),
                         L.DepthwiseConv2D(3, depth_multiplier=1, dilation_rate=2, padding="same")]),
    # in_c 3 and 8: the fast depthwise kernel over the repeated channels
    "c3": ((9, 8, 3), [L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                       L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same", activation="relu"),
                       L.DepthwiseConv2D((5, 5), depth_multiplier=4, padding="valid"),
                       L.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=(2, 1), padding="same")]),
    "c8": ((7, 9, 8), [L.DepthwiseConv2D(3, strides=(2, 1), depth_multiplier=8, padding="same", activation="relu6"),
                       L.DepthwiseConv2D((8, 8), depth_multiplier=2, padding="same")]),
}


@pytest.fixture(scope="module")
def dw_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwm")
    return {name: branches_model(d, name, shape, layers, seed=n) for n, (name, (shape, layers)) in enumerate(DW.items())}


@pytest.mark.parametrize("name", sorted(DW))
def test_depth_multipliers_take_the_fast_kernels_bit_exact(dw_models, name):
    funcs = _funcs(dw_models[name])
    if name == "c1":
        # 9x9 (81 taps) as a CONV_2D; the rest over one channel one plane at a time (test_dw_narrow.py)
        assert sorted(funcs) == ["tq_conv_im2col_s8"] + ["tq_depthwise_conv_plane_s8"] * 3
    elif name == "c3":
        assert set(funcs) == {"tq_depthwise_conv_plane_s8"}, funcs
    else:  # 3x3 with a multiplier one plane at a time; 8x8 on the repeated channels
        assert funcs == ["tq_depthwise_conv_plane_s8", "tq_depthwise_conv_mult_s8"], funcs
    assert_bit_exact(dw_models[name], samples=12)
    # with Helium the plane kernel takes only fewer than 4 input channels (c1, c3)
    assert ("tq_depthwise_conv_plane_s8" in _funcs(dw_models[name], Target(k_align=16, wide=False))) == (name != "c8")


def test_more_than_64_taps_over_several_channels_stay_on_the_reference(tmp_path):
    # A grouped product of one row per channel costs more than the reference loop: not taken.
    path = branches_model(tmp_path, "big", (10, 10, 2), [L.DepthwiseConv2D((9, 9), padding="same")], seed=3)
    assert _funcs(path) == ["tq_depthwise_conv_s8"]


# --------------------------------------------------------------------------- grouped CONV_2D

GROUPED = [L.Conv2D(6, 3, groups=2, padding="same", activation="relu"),
           L.Conv2D(12, (2, 3), strides=2, groups=4, padding="valid"),
           L.Conv2D(10, 1, groups=2),
           L.Conv2D(4, 3, groups=4, dilation_rate=2, padding="same", activation="relu6")]


def test_grouped_conv_takes_the_fast_kernel_bit_exact(tmp_path):
    path = branches_model(tmp_path, "grouped", (9, 7, 8), GROUPED, seed=5)
    assert set(_funcs(path)) == {"tq_conv_grouped_s8"}
    assert_bit_exact(path, samples=12)
    assert set(_funcs(path, Target(wide=True))) == {"tq_conv_grouped_s8"}
    assert_bit_exact(path, samples=4, wide=True)


# --------------------------------------------------------------------------- FULLY_CONNECTED

FC_SHAPES = [(1, 1), (3, 5), (37, 13), (128, 7), (9, 128), (640, 3), (5, 640)]  # (depth, units)


@pytest.fixture(scope="module")
def fc_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc")
    out = {}
    for depth, units in FC_SHAPES:
        out[depth, units] = branches_model(d, f"fc{depth}x{units}", (depth,), [L.Dense(units, activation="relu"), L.Dense(units)],
                                      seed=depth + units)
    out["batch3"] = branches_model(d, "batch3", (3, 21), [L.Dense(6), L.Dense(9, activation="relu")], seed=7)
    return out


def _fc_params(path):
    return [op.call.params for op in compile_tflite(path, Target()).ops if op.call.func == "tq_fully_connected_fast_s8"]


@pytest.mark.parametrize("key", [*FC_SHAPES, "batch3"], ids=str)
def test_fully_connected_shapes_bit_exact(fc_models, key):
    params = _fc_params(fc_models[key])
    assert len(params) == 2  # both layers on the fast kernel
    if key == "batch3":
        assert all(p["batches"] == 3 for p in params)
    assert_bit_exact(fc_models[key], samples=12)


def _per_tensor(zero_point: int, ties: bool):
    """Every FULLY_CONNECTED's weights per-tensor with `zero_point`; `ties`: power-of-two scales, so
    that the effective scale is 1/8 and many sums are exact ties (half away from zero in the reference)."""
    def edit(model):
        sg = model.subgraphs[0]
        for op in sg.operators:
            x, w, b = (sg.tensors[i] for i in op.inputs)
            wq = np.frombuffer(bytes(model.buffers[w.buffer].data), dtype=np.int8).reshape(w.shape).astype(np.float64)
            real = wq * np.asarray(w.quantization.scale, dtype=np.float64)[:, None]
            s = np.float32(np.abs(real).max() / (127.0 - abs(zero_point)))
            if ties:
                x.quantization.scale = [2.0**-6]
                sg.tensors[op.outputs[0]].quantization.scale = [2.0**-8]
                s = np.float32(2.0**-5)
            q = np.clip(np.round(real / float(s)) + zero_point, -128, 127).astype(np.int8)
            model.buffers[w.buffer].data = np.frombuffer(q.tobytes(), dtype=np.uint8).copy()
            w.quantization.scale, w.quantization.zeroPoint, w.quantization.quantizedDimension = [float(s)], [zero_point], 0
            bs = float(np.float32(np.float32(x.quantization.scale[0]) * s))
            qb = np.random.default_rng(1).integers(-300, 300, size=b.shape).astype(np.int32)
            model.buffers[b.buffer].data = np.frombuffer(qb.tobytes(), dtype=np.uint8).copy()
            b.quantization.scale, b.quantization.zeroPoint, b.quantization.quantizedDimension = [bs], [0], 0

    return edit


@pytest.mark.parametrize("zero_point,ties", [(0, False), (-7, False), (11, True)], ids=["symmetric", "weights_zp", "ties_zp"])
def test_fully_connected_per_tensor_weights_with_zero_points(tmp_path, zero_point, ties):
    src = branches_model(tmp_path, "pt", (45,), [L.Dense(11, activation="relu"), L.Dense(6)], seed=9)
    path = rewrite_tflite(src, tmp_path / "pt_edit.tflite", _per_tensor(zero_point, ties))
    params = _fc_params(path)
    assert len(params) == 2 and all(p["w_offset"] == -zero_point for p in params)
    assert_bit_exact(path, samples=30)


@pytest.fixture(scope="module")
def ties_model(tmp_path_factory):
    """Per-tensor weights with a zero point and an effective scale of exactly 1/8: many sums are ties."""
    d = tmp_path_factory.mktemp("ties")
    src = branches_model(d, "ties", (45,), [L.Dense(11, activation="relu"), L.Dense(6)], seed=9)
    return rewrite_tflite(src, d / "ties_edit.tflite", _per_tensor(11, True))


def test_guarded_requantization_on_the_host(ties_model, monkeypatch):
    # Without the enumeration (as for large per-channel layers), every row is guarded: sums near a
    # rounding boundary, the ties among them, take tq_fc_round.
    import tinyq.ops.conv as conv

    monkeypatch.setattr(conv, "FC_CHECK_BUDGET", 0)
    params = _fc_params(ties_model)
    assert len(params) == 2 and all(p["guarded"] for p in params)
    assert_bit_exact(ties_model, samples=30)


def test_guarded_requantization_on_qemu_m4(ties_model, monkeypatch, tmp_path):
    import tinyq.ops.conv as conv

    monkeypatch.setattr(conv, "FC_CHECK_BUDGET", 0)
    res = build(ties_model, get_board("qemu-m4"), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch


def test_fixed_point_requantization_is_proven_or_guarded(monkeypatch):
    import tinyq.ops.conv as conv

    scales = np.array([0.0018019478178041871, 0.0015575379814701616])
    table, guard = conv._fc_fixed_point(scales, np.array([2_400_000, 2_400_000]), -128, -128, 127)
    assert guard is None  # proven by enumeration
    for row, s in enumerate(scales):
        mult, t = int(table[row, 0]), int(table[row, 1])
        assert abs(mult / 2.0 ** (32 + t) - s) < s * 2.0**-29
    # 1/8 with ties: the multiplier one above 2^30 rounds them away from zero for these sums.
    table, guard = conv._fc_fixed_point(np.array([0.125]), np.array([1000]), 0, -128, 127)
    assert guard is None and table[0, 0] == 2**30 + 1
    monkeypatch.setattr(conv, "FC_CHECK_BUDGET", 1000)  # too many sums to enumerate: guarded
    table, guard = conv._fc_fixed_point(scales, np.array([2_400_000, 2_400_000]), -128, -128, 127)
    assert guard is not None and np.all(guard > 0)
    assert conv._fc_fixed_point(np.array([0.75]), np.array([1000]), 0, -128, 127) is None  # scale >= 1/2: reference


# --------------------------------------------------------------------------- on the emulated cores


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A depth multiplier over one and over three channels (a 9x9 window over one: im2col), a grouped convolution and fully connected
    layers (odd depth and units, one with per-tensor weights and a zero point) in one model."""
    d = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(21)
    inp = keras.Input((10, 9, 4))
    one = L.Conv2D(1, 1)(inp)
    a = L.DepthwiseConv2D(3, strides=2, depth_multiplier=8, padding="same", activation="relu")(one)
    a2 = L.DepthwiseConv2D(9, depth_multiplier=2, padding="same")(one)
    b = L.DepthwiseConv2D(3, depth_multiplier=3, padding="same")(L.Conv2D(3, 1)(inp))
    c = L.Conv2D(8, 3, groups=4, padding="same", activation="relu")(inp)
    f = L.Dense(7)(L.Dense(13, activation="relu")(L.Flatten()(inp)))
    model = keras.Model(inp, [a, a2, b, c, f])
    randomize_weights(model, rng)
    calib = rng.uniform(-1.0, 3.0, size=(16, 10, 9, 4)).astype(np.float32)
    src = write_tflite(d, "mixed", model, [calib])

    def fc_zero_point(m):  # the last FULLY_CONNECTED's weights per-tensor with zero point 3
        sg = m.subgraphs[0]
        op = [o for o in sg.operators if len(sg.tensors[o.inputs[1]].shape) == 2][-1]
        w = sg.tensors[op.inputs[1]]
        q = np.frombuffer(bytes(m.buffers[w.buffer].data), dtype=np.int8).reshape(w.shape)
        q = np.clip(q.astype(np.int64) // 2 + 3, -128, 127).astype(np.int8)
        m.buffers[w.buffer].data = np.frombuffer(q.tobytes(), dtype=np.uint8).copy()
        sc = float(np.max(w.quantization.scale)) * 2
        w.quantization.scale, w.quantization.zeroPoint, w.quantization.quantizedDimension = [sc], [3], 0
        bias = sg.tensors[op.inputs[2]]
        bias.quantization.scale = [float(np.float32(np.float32(sg.tensors[op.inputs[0]].quantization.scale[0]) * np.float32(sc)))]
        bias.quantization.zeroPoint = [0]

    return rewrite_tflite(src, d / "mixed_zp.tflite", fc_zero_point)


def test_mixed_model_kernels_and_host(mixed):
    funcs = set(_funcs(mixed))
    assert {"tq_conv_im2col_s8", "tq_depthwise_conv_plane_s8", "tq_conv_grouped_s8", "tq_fully_connected_fast_s8"} <= funcs
    assert "tq_depthwise_conv_s8" not in funcs and "tq_conv_s8" not in funcs
    assert any(p["w_offset"] == -3 for p in _fc_params(mixed))
    assert_bit_exact(mixed, samples=12, kernels=("fast", "ref"))


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m55", "qemu-m3", pytest.param("qemu-m0", marks=pytest.mark.slow)])
def test_mixed_model_bit_exact_on_core(mixed, core, tmp_path):
    res = build(mixed, get_board(core), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch


def _big_scale(model):
    """Every FULLY_CONNECTED's output scale cut so that its effective scale is above 1/2: no
    fixed-point form (the reference's double rounding of acc * scale with scale >= 1/2)."""
    sg = model.subgraphs[0]
    for op in sg.operators:
        x, w = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
        y = sg.tensors[op.outputs[0]]
        ws = float(np.max(np.asarray(w.quantization.scale, dtype=np.float64)))
        y.quantization.scale = [float(np.float32(x.quantization.scale[0] * ws / 3.0))]


@pytest.mark.parametrize("how", ["scale_above_half", "no_fixed_point"])
def test_fully_connected_without_a_fixed_point_form_stays_fast(tmp_path, monkeypatch, how):
    """Where no fixed-point requantization is exact (scales of 1/2 and more, or guards too wide for a
    large per-channel layer), the dot products stay on the fast kernel and every output is requantized
    by tq_fc_round (guarded 2): bit-exact on the host and on qemu-m4 (the DSP loop's sums only)."""
    import tinyq.ops.conv as conv

    src = branches_model(tmp_path, "nofp", (43,), [L.Dense(9, activation="relu"), L.Dense(6)], seed=21)
    path = src
    if how == "scale_above_half":
        path = rewrite_tflite(src, tmp_path / "big_scale.tflite", _big_scale)
    else:
        monkeypatch.setattr(conv, "_fc_fixed_point", lambda *a, **k: None)
    params = _fc_params(path)
    assert len(params) == 2 and all(p["guarded"] == 2 for p in params)
    assert_bit_exact(path, samples=20)
    res = build(path, get_board("qemu-m4"), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch
