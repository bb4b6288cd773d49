"""The DSP extension's int8 convolution loop on split weights (tinyq/ops/conv.py's _gemm, tq_gemm_dsp.S),
bit for bit against TFLite's reference on qemu-m4 and qemu-m33.

On M4/M7/M33 each weight word is stored (w1 + 128, w0, w3 + 128, w2) and the columns hold X = (x0 + 129,
x2 + 129), Y = (256 x1 + 127 - x0, ...): the loop's sums end at 256 times the dot product plus a row's
constant (folded into the bias) and a pixel's correction (-128 times its odd-k inputs' sum, made by the
column builders). The layers cover 1x1, im2col and tap kernels, padding rows built from the zero point,
channel counts 1 to 520 (odd, not multiples of 4), strides, dilation, per-tensor and per-channel weights,
input zero points -128 and 127, the general requantization, and sums whose bound generation cannot prove
within int32 (weights all -128, k above 1000), which run k in chunks of 256; the devices run the edge
inputs too (every input -128, every input 127).
"""

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.synth import SAME, VALID, Net, options
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

# (input h, w, c, zero point); each layer: (input, out_c, kernel, stride, padding, dilation, weights, per-channel,
# relu, effective scale[, groups]): weights "normal" (full range per channel), "min" (all -128) or "alt" (127,
# -128, ...); an effective scale of 0.6 takes the general requantization.
INPUTS = {"a": (5, 7, 3, -128), "b": (6, 5, 8, 127), "c": (4, 4, 17, 5), "d": (3, 3, 96, -7), "e": (2, 3, 300, -128),
          "f": (2, 2, 520, 0), "g": (3, 4, 40, 64), "h": (12, 12, 64, -3), "i": (3, 3, 130, 100), "j": (2, 5, 344, -100),
          "k": (1, 2, 1100, -128)}
LAYERS = [
    ("a", 8, (1, 1), 1, "same", 1, "normal", True, False, None),
    ("a", 5, (3, 3), 1, "same", 1, "normal", True, True, None),
    ("a", 1, (3, 3), 2, "valid", 1, "normal", False, False, None),
    ("a", 6, (3, 3), 1, "same", 1, "normal", True, False, 0.6),
    ("b", 8, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("b", 7, (3, 3), 1, "same", 2, "alt", True, True, None),
    ("b", 33, (1, 1), 2, "same", 1, "normal", True, False, None),
    ("c", 33, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("c", 16, (2, 3), 1, "valid", 1, "normal", False, False, None),
    ("d", 24, (1, 1), 1, "same", 1, "normal", True, False, None),
    ("d", 10, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("d", 3, (1, 1), 1, "same", 1, "normal", True, False, 0.6),
    ("e", 6, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("e", 9, (1, 1), 1, "same", 1, "min", True, False, None),
    ("e", 5, (3, 3), 1, "same", 1, "normal", True, False, 0.6),
    ("f", 4, (1, 1), 1, "same", 1, "min", True, True, None),
    ("f", 3, (1, 1), 1, "same", 1, "alt", False, False, 0.6),
    ("g", 5, (3, 3), 1, "same", 1, "min", True, False, None),
    ("g", 12, (3, 3), 2, "same", 1, "min", True, False, 0.6),
    ("h", 16, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("b", 6, (3, 3), 1, "same", 1, "normal", True, False, None, 2),  # grouped: two groups of 4 input channels
    # Column pieces over 1024 bytes (the builder's halfword sums folded by blocks): a whole window (k 1172),
    # filter rows of 1032 bytes (two interior pixels paired on a 5-wide map; chunked, so the edge input's
    # sums would show a halfword overflow) and padding rows, a 1x1 column of 1100.
    ("i", 4, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("j", 3, (3, 3), 1, "same", 1, "normal", True, False, None),
    ("k", 3, (1, 1), 1, "same", 1, "normal", True, False, None),
]


def _model(path):
    rng = np.random.default_rng(7)
    net = Net("int8")
    xs = {}
    for name, (h, w, c, zp) in INPUTS.items():
        q = (0.02, zp)
        xs[name] = (net.input((1, h, w, c), "int8", q, name=f"in_{name}"), q, (h, w, c))
    for i, (src, oc, (kh, kw), stride, padding, dil, kind, per_channel, relu, eff, *groups) in enumerate(LAYERS):
        x, (in_s, _), (h, w, c) = xs[src]
        shape = (oc, kh, kw, c // (groups[0] if groups else 1))
        if kind == "min":
            wq = np.full(shape, -128, dtype=np.int8)
        elif kind == "alt":
            wq = np.where(np.arange(np.prod(shape)).reshape(shape) % 2 == 0, 127, -128).astype(np.int8)
        else:
            real = rng.normal(0.0, 1.0, shape)
            span = np.abs(real).reshape(oc, -1).max(axis=1) if per_channel else np.full(oc, np.abs(real).max())
            wq = np.clip(np.round(real * (127 / span)[:, None, None, None]), -128, 127).astype(np.int8)
        w_scales = (10 ** rng.uniform(-2.5, -1.8, oc if per_channel else 1)).astype(np.float32)
        # The output scale from the accumulator's spread (or, with `eff`, so that in * w / out = eff).
        rms = float(np.sqrt((wq.astype(np.float64) ** 2).reshape(oc, -1).sum(axis=1).max())) * 60.0
        ws = np.broadcast_to(w_scales, (oc,))
        out_s = float(np.float32(in_s * float(ws.max()) / eff)) if eff else float(np.float32(3 * rms * in_s * float(ws.max()) / 127))
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
            oh, ow = (h - (kh - 1) * dil - 1) // stride + 1, (w - (kw - 1) * dil - 1) // stride + 1
        y = net.tensor((1, oh, ow, oc), "int8", out_q, name=f"y{i}")
        net.add_op("CONV_2D", [x, wt, b], [y], options(
            "Conv2DOptionsT", padding=SAME if padding == "same" else VALID, strideH=stride, strideW=stride,
            dilationHFactor=dil, dilationWFactor=dil, fusedActivationFunction=1 if relu else 0))
        net.outputs.append(y)
    return net.write(path / "split.tflite")


@pytest.fixture(scope="module")
def split_model(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("split"))


def test_the_layers_take_every_path_of_the_split_loop(split_model):
    g = compile_tflite(split_model, Target.for_extensions(["dsp"]))
    calls = [op.call for op in g.ops if op.kind == "CONV_2D"]
    funcs = {c.func for c in calls}
    assert {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_taps_s8", "tq_conv_grouped_s8"} <= funcs, funcs
    gemms = {c.func: [] for c in calls}
    for c in calls:
        gemms[c.func].append(c.params["gemm"])
    for func in ("tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_taps_s8"):  # chunks and single sums, both requantizations
        assert {p["chunked"] for p in gemms[func]} == {0, 1}, func
        assert {p["requant"] for p in gemms[func]} == {0, 1}, func
    # Without the DSP extension (Cortex-M3, the host) and on Helium the weights stay as they were.
    assert not any(op.call.params["gemm"]["chunked"] for op in compile_tflite(split_model, Target()).ops if op.kind == "CONV_2D")


def test_pairs_loop_tables_carry_its_control(split_model):
    """tq_gemm_pairs_dsp's tables (1x1, im2col, grouped; requant 0): the biases doubled, row 0's rsh word
    the shift in its low byte, the clamp in bit 8 and the row pairs left in bits 9 up (tq_gemm_dsp.S); the
    tap kernel's (its C reads the biases) and the general requantization's as they were."""
    g = compile_tflite(split_model, Target.for_extensions(["dsp"]))
    seen = set()
    for op in g.ops:
        call = op.call
        if op.kind != "CONV_2D":
            continue
        gemm = call.params["gemm"]
        quant = next(a for a in call.arrays if a.name == "quant").values.astype(np.int64).reshape(-1, 8)
        rsh0 = quant[:, 4]
        if call.func == "tq_conv_taps_s8" or gemm["requant"] == 1:
            assert (rsh0 < 256).all(), call.func
            continue
        seen.add(call.func)
        groups = call.params.get("groups", 1)
        per = len(quant) // groups
        left = np.tile(np.maximum(gemm["mm_pairs"] - 1 - np.arange(per), 0), groups)
        clamp = int(not (gemm["act_min"] == -128 and gemm["act_max"] == 127))
        assert ((rsh0 & 255) >= 1).all() and ((rsh0 & 255) <= 31).all(), call.func
        assert ((rsh0 >> 8) & 1 == clamp).all(), call.func
        assert (rsh0 >> 9 == left).all(), call.func
        assert (quant[:, :2] % 2 == 0).all(), call.func  # doubled modulo 2^32
    assert seen == {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_grouped_s8"}, seen
    # Without the DSP extension the tables are TFLite's constants as they are.
    for op in compile_tflite(split_model, Target()).ops:
        if op.kind == "CONV_2D" and op.call.func.startswith("tq_conv_1x1"):
            assert (next(a for a in op.call.arrays if a.name == "quant").values.reshape(-1, 8)[:, 4] < 256).all()


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m33"])
def test_split_loop_bit_exact_on_core(split_model, core, tmp_path):
    run = run_on_device(build(split_model, get_board(core), tmp_path / "b").out_dir, runs=2, edges=True)
    assert run.bit_exact, run.first_mismatch
