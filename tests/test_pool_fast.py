"""The int8 pooling fast twins (tq_avgpool_fast_s8, tq_maxpool_fast_s8) over shapes that reach each of
their paths: fewer than four channels (a channel at a time), channel counts that are not multiples of
four (the last word overlaps the one before), 2-wide windows (their own loop), windows of more than 255
values (halfword sums flushed into 32-bit ones), windows wider than 255 pixels (a channel at a time),
clipped border windows with padding=same, and fused RELU / RELU6 clamps. One model holds every layer;
bit-exact against TFLite's reference interpreter on the host (portable C) and on qemu-m4 (the DSP
path), on qemu-m3 and qemu-m55 (Helium) with the slow tests."""

from __future__ import annotations

import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.synth import Net, options
from tinyq.compiler.pipeline import compile_tflite
from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY

from .helpers import assert_bit_exact

SAME, VALID = 0, 1
NONE, RELU, RELU6 = 0, 1, 3

# input (h, w, c): layers (filter (h, w), strides (h, w), padding, fused activation)
CASES = {
    (9, 10, 1): [((2, 2), (2, 2), VALID, NONE), ((3, 3), (2, 2), SAME, RELU)],
    (7, 6, 3): [((2, 2), (1, 1), SAME, NONE), ((3, 2), (2, 1), SAME, RELU6)],
    (8, 9, 5): [((2, 2), (2, 2), VALID, NONE), ((3, 3), (1, 1), SAME, NONE)],
    (6, 7, 17): [((3, 3), (2, 2), SAME, RELU6), ((2, 2), (2, 2), VALID, RELU)],
    (5, 5, 8): [((4, 4), (3, 3), SAME, NONE), ((2, 3), (1, 2), VALID, NONE)],
    (20, 20, 6): [((20, 20), (1, 1), VALID, NONE)],  # 400 values a window
    (1, 300, 4): [((1, 300), (1, 1), VALID, RELU)],  # a window row of 300 pixels
    (4, 4, 2): [((4, 4), (1, 1), VALID, NONE)],
}


def _out(size: int, k: int, s: int, padding: int) -> int:
    return (size + s - 1) // s if padding == SAME else (size - k + s) // s


def pool_model(path):
    net = Net("int8")
    net.versions = {"AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2}
    for (h, w, c), layers in CASES.items():
        x = net.input((1, h, w, c), name=f"in_{h}x{w}x{c}")
        for (kh, kw), (sh, sw), pad, act in layers:
            oh, ow = _out(h, kh, sh, pad), _out(w, kw, sw, pad)
            for kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                y = net.tensor((1, oh, ow, c), name=f"{kind[:3]}_{h}x{w}x{c}_k{kh}x{kw}_s{sh}x{sw}_p{pad}_a{act}")
                net.add_op(kind, [x], [y], options("Pool2DOptionsT", padding=pad, strideH=sh, strideW=sw,
                                                    filterHeight=kh, filterWidth=kw, fusedActivationFunction=act))
                net.outputs.append(y)
    return net.write(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return pool_model(tmp_path_factory.mktemp("pool_fast") / "pools.tflite")


def test_fast_twins_are_chosen_and_bit_exact_on_the_host(model):
    g = compile_tflite(model)
    funcs = {op.call.func for op in g.ops}
    assert funcs == {"tq_avgpool_fast_s8", "tq_maxpool_fast_s8"}, funcs
    assert_bit_exact(model, samples=4, kernels=("fast", "ref"))


@pytest.mark.parametrize("core", ["qemu-m4", pytest.param("qemu-m3", marks=pytest.mark.slow),
                                  pytest.param("qemu-m55", marks=pytest.mark.slow)])
def test_fast_twins_bit_exact_on_core(model, core, tmp_path):
    res = build(model, get_board(core), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=2, edges=True)
    assert run.bit_exact, run.first_mismatch


def test_average_window_too_large_for_the_int32_rounding_is_refused():
    from ai_edge_litert import schema_py_generated as schema

    q = Quant(scale=(0.5,), zero_point=(0,))
    o = schema.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = VALID, 1, 1, 2049, 2048
    ts = [Tensor(0, "x", (1, 2049, 2048, 1), "int8", q), Tensor(1, "y", (1, 1, 1, 1), "int8", q)]
    g = Graph(tensors=ts, ops=[Op(0, "AVERAGE_POOL_2D", [0], [1], o)], inputs=[0], outputs=[1])
    with pytest.raises(UnsupportedModel, match="2049x2048 window holds over 4194304 values"):
        REGISTRY["AVERAGE_POOL_2D"].check(g, g.ops[0])
    o.filterHeight = 2048  # 2^22 values: accepted (the output shape is checked first, so keep it)
    ts[0] = Tensor(0, "x", (1, 2048, 2048, 1), "int8", q)
    REGISTRY["AVERAGE_POOL_2D"].check(g, g.ops[0])
