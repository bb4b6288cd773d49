"""The fast convolution kernels on every quantization TFLite's reference kernels compute.

The fast CONV_2D and DEPTHWISE_CONV_2D kernels requantize with tq_requant_mm (four instructions)
where generation proves it exact, and with tq_requant_gen (MultiplyByQuantizedMultiplier for any
accumulator, multiplier and shift) everywhere else; a folded bias that overflows int32 is stored
modulo 2^32. Each case here rewrites one small converted model's quantization so that every layer
hits what the case is about: effective scales of 1/2 and more (shift 0), of 1 and more (left shifts),
huge ones (left shifts that wrap the accumulator, as TFLite's int32 multiply does), tiny ones with
zero points at the extremes (tq_requant_mm's rounding constant overflows), biases near the int32
limits with the input zero point far from 0 (accumulators of 2^30 and more; and past them, where
the folded bias overflows int32 and so do TFLite's own int32 sums for some inputs, which wrap in
both), fused RELU / RELU6 / RELU_N1_TO_1 clamps. The layers cover the 1x1, im2col, taps and
depthwise kernels, row counts past one stack chunk of the general path (70 rows and channels) and
odd counts. Every layer's output is a model output, so a wrong layer cannot hide behind a
saturating one. Bit-exact on the host (portable C, int8 and --wide-weights), and for one model
that mixes all modes on qemu-m4 (DSP assembler, int8 and int16 weights), qemu-m55 (Helium),
qemu-m3 (portable C) and qemu-m0 (portable C on ARMv6-M, its deepest stack read back: the most
this suite's kernels need, under the 16 KB part's stack_bytes).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import (
    assert_bit_exact,
    randomize_weights,
    rewrite_tflite,
    stack_used,
    write_tflite,
)

FAST = {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_taps_s8", "tq_depthwise_conv_fast_s8"}
REFERENCE = {"tq_conv_s8", "tq_depthwise_conv_s8"}
MM, GENERAL = 0, 1  # tinyq.ops.conv.REQUANT_MM, REQUANT_GENERAL

# Per case: (effective scales (low, high) as powers of two, bias kind, output zero points, fused activations).
CASES = {
    "normal": ((-12, -6), "small", "any", (0, 1)),
    "half": ((-1, -0.01), "small", "any", (0, 1, 3)),
    "above_one": ((0, 3), "small", "any", (0, 2)),
    "huge": ((10, 20), "small", "any", (0,)),
    "mixed": ((-12, 2), "small", "any", (0, 1, 2, 3)),
    "tiny_zp": ((-30, -25), "large", "extreme", (0, 1)),
    "bias_edges": ((-31, -24), "edge", "any", (0, 3)),
    "bias_wrap": ((-31, -24), "wrap", "any", (0,)),
    "clamps": ((-3, 1), "small", "extreme", (1, 2, 3)),
}
# One model, one case per layer: every mode and kernel in one build (the device runs).
ALL_MODES = ("half", "huge", "normal", "tiny_zp", "bias_edges", "above_one", "mixed", "clamps")


def _layers():
    import keras

    L = keras.layers
    return [
        L.Conv2D(16, 3, padding="same"),  # im2col (3 input channels)
        L.DepthwiseConv2D(3, padding="same"),  # depthwise, 16 channels
        L.Conv2D(70, 1),  # 1x1 (im2col on Helium): 35 row pairs, past one stack chunk
        L.DepthwiseConv2D(3, strides=2, padding="same"),  # 70 channels: a chunk of 64, a block, two lanes
        L.Conv2D(8, 1),  # in 70 channels: im2col
        L.Conv2D(7, 3, padding="same"),  # taps on the DSP extension (8 input channels), an odd row count
        L.DepthwiseConv2D(3, padding="valid"),  # 7 channels: one block and three lanes
    ]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(11)
    d = tmp_path_factory.mktemp("requant")
    m = keras.Sequential([keras.Input((7, 6, 3)), *_layers()])
    randomize_weights(m, np.random.default_rng(4))
    calib = np.random.default_rng(5).uniform(-1.0, 3.0, (16, 7, 6, 3)).astype(np.float32)
    return d, write_tflite(d, "base", m, [calib])


def _requantized(src, dst, cases, seed: int):
    """`src` with each CONV_2D / DEPTHWISE_CONV_2D layer i quantized as CASES[cases[i]] says, and every
    layer's output a model output."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)

    def edit(model):
        sg = model.subgraphs[0]
        kinds = {k: max(c.builtinCode, c.deprecatedBuiltinCode) for k, c in enumerate(model.operatorCodes)}
        convs = [op for op in sg.operators
                 if kinds[op.opcodeIndex] in (schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D)]
        assert len(convs) == len(cases)
        x0 = sg.tensors[convs[0].inputs[0]]
        x0.quantization.scale, x0.quantization.zeroPoint = [0.02], [int(rng.integers(60, 110))]  # far from 0
        for op, case in zip(convs, cases):
            (lo, hi), bias_kind, zps, acts = CASES[case]
            x, w, b = (sg.tensors[i] for i in op.inputs)
            out = sg.tensors[op.outputs[0]]
            s_in, zp_in = float(np.float32(x.quantization.scale[0])), int(x.quantization.zeroPoint[0])
            s_out = float(np.float32(10 ** rng.uniform(-2.0, 0.0)))
            zo = int(rng.choice([-128, 127])) if zps == "extreme" else int(rng.integers(-128, 128))
            out.quantization.scale, out.quantization.zeroPoint = [s_out], [zo]
            n = len(w.quantization.scale)
            eff = 2.0 ** rng.uniform(lo, hi, n)
            w_s = np.float32(eff * s_out / s_in)
            w.quantization.scale = [float(s) for s in w_s]
            wq = np.frombuffer(bytes(model.buffers[w.buffer].data), dtype=np.int8).reshape(w.shape).astype(np.int64)
            rows = wq.reshape(n, -1) if kinds[op.opcodeIndex] == schema.BuiltinOperator.CONV_2D else wq.reshape(-1, n).T
            # The largest |sum w (x - zp_in)|: the bias stays inside int32 with it (TFLite's sums do not overflow).
            bound = np.abs(rows).sum(axis=1) * max(abs(-128 - zp_in), abs(127 - zp_in))
            if bias_kind == "small":
                bias = rng.integers(-(2**12), 2**12, n)
            elif bias_kind == "large":
                bias = rng.integers(-(2**30), 2**30, n)
            else:  # at the int32 limits, of the sign of the folded input offset
                folded = rows.sum(axis=1) * -zp_in
                sign = np.where(folded >= 0, 1, -1)
                if bias_kind == "edge":  # every sum inside int32
                    bias = sign * (2**31 - 1 - bound - rng.integers(0, 1000, n))
                else:  # the folded bias (the sum for inputs of 0) past it
                    bias = sign * (2**31 - 1 - np.abs(folded) // 2)
            model.buffers[b.buffer].data = np.frombuffer(bias.astype(np.int32).tobytes(), dtype=np.uint8).copy()
            b.quantization.scale = [float(np.float32(s_in * float(s))) for s in w_s]
            b.quantization.zeroPoint = [0] * n
            op.builtinOptions.fusedActivationFunction = int(rng.choice(acts))
        sg.outputs = [int(op.outputs[0]) for op in convs]

    return rewrite_tflite(src, dst, edit)


@pytest.fixture(scope="module")
def models(base):
    d, src = base
    out = {c: _requantized(src, d / f"{c}.tflite", [c] * len(_layers()), seed=20 + n) for n, c in enumerate(CASES)}
    out["all"] = _requantized(src, d / "all.tflite", ALL_MODES[: len(_layers())], seed=7)
    return out


def _modes(path, target):
    """(kernel, requant mode) of every convolution layer."""
    calls = [op.call for op in compile_tflite(path, target).ops]
    return [(c.func, c.params["gemm"]["requant"] if "gemm" in c.params else c.params.get("requant"))
            for c in calls if c.func in FAST | REFERENCE]


@pytest.mark.parametrize("case", [*CASES, "all"])
def test_every_quantization_runs_fast_and_bit_exact_on_the_host(models, case):
    modes = _modes(models[case], Target())
    assert len(modes) == len(_layers()) and all(f in FAST for f, _ in modes), modes
    kinds = {f for f, _ in modes}
    assert {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_depthwise_conv_fast_s8"} <= kinds, kinds
    if case == "all":
        assert {m for _, m in modes} == {MM, GENERAL}, modes
    elif case == "normal":
        assert all(m == MM for _, m in modes), modes  # the four-instruction requantization where it is exact
    elif case != "mixed":
        assert all(m == GENERAL for _, m in modes), modes
    else:
        assert GENERAL in {m for _, m in modes}, modes
    assert_bit_exact(models[case], samples=12)


def test_dsp_layout_takes_the_tap_kernel_and_both_modes(models, monkeypatch):
    from tinyq.ops import conv

    modes = _modes(models["all"], Target.for_extensions(["dsp"]))
    assert {m for _, m in modes} == {MM, GENERAL}, modes
    # The 3x3 layer over 8 channels runs on a 4x3 map, where most windows reach the padding: im2col
    # (conv._im2col_small); without that rule the tap kernel, in both modes.
    assert "tq_conv_taps_s8" not in {f for f, _ in modes}, modes
    monkeypatch.setattr(conv, "_im2col_small", lambda params, extra: False)
    modes = _modes(models["all"], Target.for_extensions(["dsp"]))
    assert "tq_conv_taps_s8" in {f for f, _ in modes} and {m for _, m in modes} == {MM, GENERAL}, modes


@pytest.mark.parametrize("case", ["huge", "bias_edges", "all"])
def test_wide_weights_bit_exact_on_the_host(models, case):
    assert_bit_exact(models[case], samples=8, wide=True)


def test_folded_bias_overflow_is_not_refused(models):
    """Biases at the int32 limits whose folded input offset overflows: stored modulo 2^32, fast."""
    from tinyq.compiler.importer import import_model

    g = import_model(models["bias_wrap"])
    overflow = False
    for op in g.ops:
        w, b = g.tensor(op.inputs[1]), g.tensor(op.inputs[2])
        rows = w.data.reshape(w.shape[0], -1) if op.kind == "CONV_2D" else w.data.reshape(-1, w.shape[3]).T
        folded = b.data.astype(np.int64) - int(g.tensor(op.inputs[0]).quant.zp) * rows.astype(np.int64).sum(axis=1)
        overflow |= bool(np.any(np.abs(folded) >= 2**31))
    assert overflow


@pytest.mark.parametrize("core,wide", [("qemu-m4", False), ("qemu-m4", True), ("qemu-m55", False), ("qemu-m3", False),
                                       pytest.param("qemu-m0", False, marks=pytest.mark.slow)],
                         ids=["qemu-m4", "qemu-m4-wide", "qemu-m55", "qemu-m3", "qemu-m0"])
def test_all_modes_bit_exact_on_device(models, core, wide, tmp_path):
    """The DSP extension's assembler (TQ_REQUANT_GEN in tq_gemm_dsp.S and tq_depthwise_dsp.S, int8 and
    int16 weights), Helium and the portable C."""
    res = build(models["all"], get_board(core), tmp_path / "b", wide=wide)
    run = run_on_device(res.out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch
    if core == "qemu-m0":  # the deepest stack known (the tap kernel's two modes), with room left in 16 KB of RAM
        used = stack_used(res, models["all"], tmp_path)
        assert used <= res.board.stack_bytes - 512, f"{used} B of {res.board.stack_bytes} B of stack"
