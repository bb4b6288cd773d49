"""Convolutions on small maps, where most windows reach into the padding, bit for bit against TFLite's reference.

Where windows reach into the padding (half of them, or with filter rows of at most 32 bytes on a map
of at most 576 output pixels) im2col gathers a window whose filter rows are under 64 bytes (params
gather 1, tq_im2col_gather) by the rows and columns it has inside the image (the rest of the
column the input zero point first, each inside row copied exactly: words, then bytes), and builds the
column pair in one call; on a map where at least half the
output pixels reach into the padding the lowering takes im2col over the tap kernel whatever the arena
(tinyq/ops/conv.py's _im2col_small). The cases: windows larger than the map (a 5x5 window over 3x3,
3x3 over 1x1 and 2x2: padding on both sides of a row), 1 to 16 input channels (runs of 3 to 48 bytes,
word and byte copies), strides, VALID padding, per-tensor weights, a clamped activation and input zero
points at both ends. The host runs the portable C, qemu-m4 the DSP extension's path.
"""

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.synth import SAME, VALID, Net, options
from tinyq.compiler.codegen import features
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops.conv import _border_pixels, _im2col_small

from .helpers import assert_bit_exact, assert_pedantic_c99

# name: (h, w, c, input zero point)
INPUTS = {"a": (3, 3, 1, -128), "b": (3, 3, 8, 127), "c": (3, 3, 16, 3), "d": (2, 2, 4, -5), "e": (1, 1, 8, 0),
          "f": (6, 6, 3, 10), "g": (5, 4, 12, -100)}
# (input, out_c, kernel, stride, padding, per-channel, relu6)
LAYERS = [
    ("a", 8, (3, 3), 1, "same", True, False),
    ("a", 3, (5, 5), 1, "same", True, True),  # the window wider than the map: padding both sides
    ("b", 8, (3, 3), 1, "same", True, False),
    ("b", 5, (3, 3), 2, "same", False, True),
    ("c", 16, (3, 3), 1, "same", True, False),
    ("c", 7, (2, 3), 1, "valid", True, False),
    ("d", 6, (3, 3), 1, "same", True, False),
    ("e", 4, (3, 3), 1, "same", False, False),  # one pixel: only the centre tap inside
    ("f", 9, (3, 3), 2, "same", True, True),  # run 9: two words and a byte
    ("g", 5, (3, 3), 1, "same", True, False),
]


def _net():
    rng = np.random.default_rng(19)
    net = Net("int8")
    xs = {}
    for name, (h, w, c, zp) in INPUTS.items():
        q = (0.03, zp)
        xs[name] = (net.input((1, h, w, c), "int8", q, name=f"in_{name}"), q, (h, w, c))
    for i, (src, oc, (kh, kw), stride, padding, per_channel, relu6) in enumerate(LAYERS):
        x, (in_s, _), (h, w, c) = xs[src]
        shape = (oc, kh, kw, c)
        wq = rng.integers(-128, 128, shape).astype(np.int8)
        w_scales = (10 ** rng.uniform(-2.5, -1.8, oc if per_channel else 1)).astype(np.float32)
        rms = float(np.sqrt((wq.astype(np.float64) ** 2).reshape(oc, -1).sum(axis=1).max())) * 60.0
        out_s = float(np.float32(3 * rms * in_s * float(w_scales.max()) / 127))
        out_q = (out_s, int(rng.integers(-20, 21)))
        bias = np.round(rng.normal(0.0, 0.3, oc) * rms).astype(np.int32)
        if per_channel:
            wt = net.const(wq, "int8", (w_scales, [0] * oc, 0), name=f"w{i}")
            b = net.const(bias, "int32", ((np.float32(in_s) * w_scales).astype(np.float32), [0] * oc, 0), name=f"b{i}")
        else:
            wt = net.const(wq, "int8", (float(w_scales[0]), 0), name=f"w{i}")
            b = net.const(bias, "int32", (float(np.float32(in_s) * w_scales[0]), 0), name=f"b{i}")
        if padding == "same":
            oh, ow = -(-h // stride), -(-w // stride)
        else:
            oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
        y = net.tensor((1, oh, ow, oc), "int8", out_q, name=f"y{i}")
        net.add_op("CONV_2D", [x, wt, b], [y], options(
            "Conv2DOptionsT", padding=SAME if padding == "same" else VALID, strideH=stride, strideW=stride,
            fusedActivationFunction=3 if relu6 else 0))
        net.outputs.append(y)
    return net


@pytest.fixture(scope="module")
def small_maps(tmp_path_factory):
    return _net().write(tmp_path_factory.mktemp("small_maps") / "small_maps.tflite")


def test_border_pixels_and_the_im2col_rule():
    def params(h, w, c, k, pad, stride=1):
        o, ow = (-(-h // stride), -(-w // stride)) if pad else ((h - k) // stride + 1, (w - k) // stride + 1)
        return {"in": {"h": h, "w": w, "c": c}, "out": {"h": o, "w": ow}, "kh": k, "kw": k,
                "stride_h": stride, "stride_w": stride, "dil_h": 1, "dil_w": 1, "pad_h": pad, "pad_w": pad}

    assert _border_pixels(params(3, 3, 16, 3, 1)) == 8
    assert _border_pixels(params(6, 6, 8, 3, 1)) == 20
    assert _border_pixels(params(8, 8, 16, 3, 1)) == 28
    assert _border_pixels(params(6, 6, 8, 3, 0)) == 0  # VALID: no window reaches past the image
    assert _im2col_small(params(3, 3, 16, 3, 1), 672)
    assert not _im2col_small(params(8, 8, 16, 3, 1), 672)  # 28 of 64 pixels on the border
    assert not _im2col_small(params(3, 3, 32, 3, 1), 672)  # filter rows of 96 bytes
    assert not _im2col_small(params(3, 3, 16, 3, 1), 2000)  # too much scratch


def test_small_maps_take_im2col_bit_exact_on_the_host(small_maps):
    g = compile_tflite(small_maps, Target.for_extensions(["dsp"]))
    funcs = {g.tensor(op.outputs[0]).name: op.call.func for op in g.ops if op.kind == "CONV_2D"}
    assert funcs["y4"] == "tq_conv_im2col_s8", funcs  # 3x3 over 16 channels on a 3x3 map: not the tap kernel
    border = [f"y{i}" for i, layer in enumerate(LAYERS) if layer[4] == "same"]
    assert {funcs[n] for n in border} == {"tq_conv_im2col_s8"}, funcs
    gather = {g.tensor(op.outputs[0]).name: op.call.params["gather"] for op in g.ops if op.call.func == "tq_conv_im2col_s8"}
    assert {gather[n] for n in border} == {1}, gather
    assert {f["macro"]: f["value"] for f in features(g)}["TQ_CFG_IM2COL_GATHER"] == 1
    mve = compile_tflite(small_maps, Target.for_extensions(["dsp", "mve"]))  # Helium gathers its own way
    assert {op.call.params["gather"] for op in mve.ops if op.call.func == "tq_conv_im2col_s8"} == {0}
    assert_bit_exact(small_maps, samples=12)


@pytest.mark.parametrize("compiler", ["cc", "arm-none-eabi-gcc"])
def test_small_maps_library_is_pedantic_c99(compiler, tmp_path):
    assert_pedantic_c99(tmp_path, compiler, {"small_maps": _net()})


def test_small_maps_bit_exact_on_m4(small_maps, tmp_path):
    run = run_on_device(build(small_maps, get_board("qemu-m4"), tmp_path / "b").out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch
