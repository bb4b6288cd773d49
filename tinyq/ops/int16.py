"""int16x8 lowerings: ops whose activations are int16 (weights int8), -> tq_int16.h kernels.

The ops TFLite's converter emits for EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
matched to what the BUILTIN_REF resolver runs for int16 tensors:

- CONV_2D / DEPTHWISE_CONV_2D: reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel
  in their int16-input, int64-bias form: int64 accumulator, per-channel QuantizeMultiplier of
  double(input_scale) * double(filter_scale[c]) / double(output_scale) as for int8, applied by the
  int64 MultiplyByQuantizedMultiplier (multiplier rounded to 16 bits, one rounding shift).
- FULLY_CONNECTED: the reference FullyConnected(PerChannel) variants with float scales, as the
  int8 kReference path: round((double)acc * effective_scale).
- ADD: add.cc's general int16 path (pot_scale_int16 false): int8's arithmetic with left_shift 15.
- AVERAGE_POOL_2D / MAX_POOL_2D: reference_integer_ops pooling on int16 values.
- SOFTMAX: reference_ops::SoftmaxInt16 with the two 513-entry tables SoftmaxPrepare builds
  (LUTPopulate<int16_t> in double: exp on [-10, 0], 1 / (1 + x) on [0, 1]).
- RESHAPE / EXPAND_DIMS / SQUEEZE: views (passes.alias), or a copy where the graph needs two buffers.
- LOGISTIC / TANH: reference_integer_ops::Logistic / Tanh for int16. The input is rescaled in int32
  as TFLite's Prepare and Eval do it (sigmoid_input_scaling) and interpolated in TFLite's constant
  256-entry sigmoid_table_uint16. That table is generated here from the rule that makes it
  (sigmoid_table; it is not round(65536 * sigmoid(i / 24)): 44 entries differ by one): each sample
  is moved by half the error linear interpolation makes at the midpoint to the next sample, and the
  last entry is the kernels' saturation value 0xFFFF. The rule was found by comparing candidates
  with the table the reference interpreter holds, read back through TANH outputs whose
  interpolation fraction is zero; tests/test_int16x8.py holds it to the interpreter on all 65536
  int16 inputs at several input scales (each of Prepare's input-scaling paths) for both ops. A rule
  was preferred to reading the table from the interpreter at generation time: generation then needs
  no interpreter, and the rule has a margin (no unrounded entry is within 0.004 of a rounding tie).
QUANTIZE and DEQUANTIZE at the edges take the int8 table's lowerings (tinyq/ops/quantize.py
handles int16 already).

TFLite's Prepare requires int16 activations to be symmetric (zero point 0); so do these checks.
Geometry and weight checks are the int8 ones (tinyq/ops/conv.py, pool.py, elementwise.py).
"""

from __future__ import annotations

import math

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops import conv as c8
from tinyq.ops import pool as p8
from tinyq.ops.activation import logf
from tinyq.ops.base import (
    ArrayRef,
    ConstArray,
    KernelCall,
    TensorRef,
    activation_range,
    need,
    need_dtype,
    need_quant,
    quantize_multiplier,
    register,
    tflite_round,
)
from tinyq.ops.elementwise import broadcast_shape, macs_binary

HEADER = "tq_int16.h"
# tq_int16.h reuses the int8 ADD and pooling parameter structs: their headers ship with every call.
DEPS = ("include/tq_elementwise.h", "include/tq_pool.h")
ADD_LEFT_SHIFT = 15  # add.cc: left_shift 15 for the general int16 path


def _act(g: Graph, op: Op, index: int) -> Tensor:
    """An int16 activation quantized per tensor, symmetric, with a usable scale."""
    t = need_dtype(g, op, index, "int16")
    q = need_quant(g, op, index)
    need(q.zp == 0, op, f"int16 tensor '{t.name}' has zero point {q.zp}; TFLite requires 0 for int16 activations; re-convert with `tinyq convert --mode int16x8`")
    need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{t.name}' has scale {q.s}, expected a positive number")
    return t


def _io(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
    x = _act(g, op, op.inputs[0])
    need(not x.is_const, op, "has a constant input activation, which is not supported")
    return x, _act(g, op, op.outputs[0])


def _unary_call(op: Op, family: str, name: str, params: dict, **extra) -> KernelCall:
    """tq_<name>_s16(&params, input, output) from firmware/kernels/<family>/tq_<name>_s16.c."""
    return KernelCall(
        func=f"tq_{name}_s16",
        params_type=f"tq_{name}_s16_params",
        header=HEADER,
        sources=(f"{family}/tq_{name}_s16.c", *DEPS),
        params=params,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        **extra,
    )


def _bias64(g: Graph, op: Op, channels: int) -> Tensor | None:
    """The optional int64 bias of a 16x8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED."""
    b = op.inputs[2] if len(op.inputs) > 2 else -1
    if b < 0:
        return None
    t = g.tensor(b)
    need(
        t.dtype == "int64",
        op,
        f"bias '{t.name}' is {t.dtype}; tinyq's 16x8 kernels take TFLite's default int64 bias "
        "(convert without the int32-bias option)",
    )
    need(t.is_const, op, f"bias '{t.name}' is not constant; only constant biases are supported")
    need(t.size == channels, op, f"bias '{t.name}' has {t.size} values for {channels} output channels")
    need(bool(np.all(np.abs(t.data.astype(np.int64)) < 2**40)), op, f"bias '{t.name}' exceeds 2^40 (TFLite's int64 accumulator range)")
    return t


def _requant(inp: Tensor, w: Tensor, out: Tensor, channels: int, op: Op) -> list[ConstArray]:
    """Per-channel QuantizeMultiplier as for int8; the int64 MultiplyByQuantizedMultiplier takes
    shifts in [-31, 7]."""
    mult, shift = [], []
    for real in c8.effective_scales(inp, w, out, channels):
        m, s = quantize_multiplier(real)
        need(-31 <= s <= 7, op, f"requantization scale {real:g} is out of the int16 kernels' range")
        mult.append(m)
        shift.append(s)
    return [ConstArray("mult", "int32_t", np.asarray(mult, dtype=np.int32)),
            ConstArray("shift", "int32_t", np.asarray(shift, dtype=np.int32))]


def _window_params(g: Graph, op: Op, inp: Tensor, kh: int, kw: int, oc: int) -> tuple[dict, dict]:
    """(shapes and kernel size, strides / dilations / padding) as the int8 CONV_2D computes them."""
    out_shape, pad_h, pad_w = c8._check_window(g, op, inp, kh, kw, oc)
    o = op.options
    return {
        "in": c8._dims(inp.shape),
        "out": c8._dims(out_shape),
        "kh": kh,
        "kw": kw,
    }, {
        "stride_h": int(o.strideH),
        "stride_w": int(o.strideW),
        "dil_h": int(o.dilationHFactor),
        "dil_w": int(o.dilationWFactor),
        "pad_h": pad_h,
        "pad_w": pad_w,
    }


def _tail(out: Tensor, op: Op, w: Tensor, bias: Tensor | None, fixed_point: bool = True) -> dict:
    lo, hi = activation_range(c8._check_fused(op), out)
    tail = {"act_min": lo, "act_max": hi, "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0}
    if fixed_point:
        tail.update(c8.FIXED_POINT)
    return tail


# --------------------------------------------------------------------------- CONV_2D, DEPTHWISE_CONV_2D

# kind -> (kernel name, axis of the weights' output channels: OHWI for CONV_2D, 1HWC for DEPTHWISE)
WINDOW_KERNELS = {"CONV_2D": ("conv", 0), "DEPTHWISE_CONV_2D": ("depthwise_conv", 3)}


def _window_op(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """Input, output, weights and the kernel-specific channel parameters, checked as for int8."""
    need(len(op.inputs) in (2, 3), op, f"has {len(op.inputs)} inputs, expected input, weights and optional bias")
    inp, out = _io(g, op)
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    w = g.tensor(op.inputs[1])
    in_c = inp.shape[3]
    if op.kind == "CONV_2D":
        need(len(w.shape) == 4, op, f"weights '{w.name}' have rank {len(w.shape)}, expected 4 (OHWI)")
        oc, fic = w.shape[0], w.shape[3]
        need(fic > 0 and in_c % fic == 0, op, f"input has {in_c} channels, not a multiple of the filter's {fic}")
        need(oc % (in_c // fic) == 0, op, f"{oc} output channels do not split into {in_c // fic} groups")
        extra = {"filter_in_c": fic, "groups": in_c // fic}
    else:
        need(len(w.shape) == 4 and w.shape[0] == 1, op, f"weights '{w.name}' have shape {list(w.shape)}, expected [1, kh, kw, channels]")
        oc = w.shape[3]
        need(oc % in_c == 0, op, f"{oc} output channels are not a multiple of the {in_c} input channels")
        dm = int(c8._opts(op).depthMultiplier)
        need(dm in (0, oc // in_c), op, f"depth_multiplier {dm} disagrees with {in_c} input and {oc} output channels")
        extra = {"depth_mult": oc // in_c}
    c8._check_weights(g, op, oc, axis=WINDOW_KERNELS[op.kind][1])
    return inp, out, w, extra


def check_window(g: Graph, op: Op) -> None:
    lower_window(g, op)


def lower_window(g: Graph, op: Op) -> KernelCall:
    inp, out, w, extra = _window_op(g, op)
    name, axis = WINDOW_KERNELS[op.kind]
    oc = w.shape[axis]
    shape, window = _window_params(g, op, inp, w.shape[1], w.shape[2], oc)
    bias = _bias64(g, op, oc)
    return KernelCall(
        func=f"tq_{name}_s16",
        params_type=f"tq_{name}_s16_params",
        header=HEADER,
        sources=(f"conv/tq_{name}_s16.c", *DEPS),
        params={**shape, **extra, **window, **_tail(out, op, w, bias)},
        inputs=[inp.index],
        outputs=[out.index],
        arrays=_requant(inp, w, out, oc, op),
    )


# --------------------------------------------------------------------------- FULLY_CONNECTED


def check_fc(g: Graph, op: Op) -> None:
    o = c8._opts(op)
    need(int(o.weightsFormat) == 0, op, f"weights format {int(o.weightsFormat)} (shuffled) is not supported; use the DEFAULT format")
    need(len(op.inputs) in (2, 3), op, f"has {len(op.inputs)} inputs, expected input, weights and optional bias")
    inp, out = _io(g, op)
    w = g.tensor(op.inputs[1])
    need(len(w.shape) == 2, op, f"weights '{w.name}' have rank {len(w.shape)}, expected 2 [units, depth]")
    units, accum = w.shape
    need(accum > 0 and inp.size % accum == 0, op, f"input of {inp.size} values does not split into rows of {accum}")
    c8._check_weights(g, op, units, axis=0, zero_point_ok=True)
    _bias64(g, op, units)
    c8._check_fused(op)
    expected = tuple(inp.shape[:-1]) + (units,) if o.keepNumDims else (inp.size // accum, units)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")


def lower_fc(g: Graph, op: Op) -> KernelCall:
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    batches, accum, units = c8._fc_geometry(g, op)
    bias = _bias64(g, op, units)
    scales = np.asarray(c8.effective_scales(inp, w, out, units), dtype=np.float64)
    return KernelCall(
        func="tq_fully_connected_s16",
        params_type="tq_fully_connected_s16_params",
        header=HEADER,
        sources=("conv/tq_fully_connected_s16.c", *DEPS),
        params={
            "batches": batches,
            "accum_depth": accum,
            "out_depth": units,
            "w_offset": 0 if w.quant.per_channel else -int(w.quant.zp),
            **_tail(out, op, w, bias, fixed_point=False),
            "scale": ArrayRef("scale"),
        },
        inputs=[inp.index],
        outputs=[out.index],
        arrays=[ConstArray("scale", "double", scales)],
    )


# --------------------------------------------------------------------------- ADD


def _add_params(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    a, b = (_act(g, op, i) for i in op.inputs)
    y = _act(g, op, op.outputs[0])
    need(
        not bool(getattr(op.options, "potScaleInt16", False)),
        op,
        "uses the power-of-two int16 ADD (pot_scale_int16), which tinyq does not implement; convert with `tinyq convert --mode int16x8`",
    )
    s1, s2, so = float(a.quant.s), float(b.quant.s), float(y.quant.s)
    twice_max = 2.0 * max(s1, s2)
    scaled = {}
    for key, real in (("in1", s1 / twice_max), ("in2", s2 / twice_max), ("out", twice_max / ((1 << ADD_LEFT_SHIFT) * so))):
        scaled[f"{key}_mult"], scaled[f"{key}_shift"] = quantize_multiplier(real)
        need(scaled[f"{key}_shift"] <= 0, op, f"output scale {so:g} is too small for the inputs' scales ({s1:g}, {s2:g})")
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    lo, hi = activation_range(fused, y)
    # Symmetric int16: no offsets (the struct is tq_add_s8_params).
    return {"shape": broadcast_shape(g, op), "in1_offset": 0, "in2_offset": 0, "out_offset": 0, "left_shift": ADD_LEFT_SHIFT,
            **scaled, "act_min": lo, "act_max": hi}


def check_add(g: Graph, op: Op) -> None:
    _add_params(g, op)


def lower_add(g: Graph, op: Op) -> KernelCall:
    params = _add_params(g, op)
    return KernelCall(
        func="tq_add_s16",
        params_type="tq_add_s16_params",
        header=HEADER,
        sources=("elementwise/tq_add_s16.c", *DEPS),
        params=params,
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        in_place=None if params["shape"]["broadcast"] else "direct",
    )


# --------------------------------------------------------------------------- pooling


def _pool(g: Graph, op: Op) -> dict:
    o = op.options
    need(o is not None, op, "missing Pool2DOptions")
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = _io(g, op)
    need(len(x.shape) == 4 and len(y.shape) == 4, op, f"input {list(x.shape)} and output {list(y.shape)} must be 4-D NHWC")
    need(o.padding in (p8.SAME, p8.VALID), op, f"unknown padding {o.padding}")
    fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
    need(fh > 0 and fw > 0 and sh > 0 and sw > 0, op, f"filter {fh}x{fw} and strides {sh}x{sw} must be positive")
    n, ih, iw, ch = x.shape
    oh, ow = p8.out_size(o.padding, ih, fh, sh), p8.out_size(o.padding, iw, fw, sw)
    need(tuple(y.shape) == (n, oh, ow, ch), op, f"output shape {list(y.shape)} does not match the pooled shape {[n, oh, ow, ch]}")
    need(fh * fw <= 65536, op, f"a {fh}x{fw} window could overflow the int32 sum of int16 values")
    ph, pw = p8.pad_before(sh, ih, fh, oh), p8.pad_before(sw, iw, fw, ow)
    if op.kind == "AVERAGE_POOL_2D":
        for oy in range(oh):
            need(not p8._window_empty(oy * sh - ph, fh, ih), op, f"output row {oy} has an empty pooling window")
        for ox in range(ow):
            need(not p8._window_empty(ox * sw - pw, fw, iw), op, f"output column {ox} has an empty pooling window")
    lo, hi = activation_range(int(o.fusedActivationFunction), y)
    return {
        "in": {"n": n, "h": ih, "w": iw, "c": ch},
        "out": {"n": n, "h": oh, "w": ow, "c": ch},
        "filter_h": fh,
        "filter_w": fw,
        "stride_h": sh,
        "stride_w": sw,
        "pad_h": ph,
        "pad_w": pw,
        "act_min": lo,
        "act_max": hi,
    }


def check_pool(g: Graph, op: Op) -> None:
    _pool(g, op)


def lower_pool(g: Graph, op: Op) -> KernelCall:
    name = "avgpool" if op.kind == "AVERAGE_POOL_2D" else "maxpool"
    return _unary_call(op, "pool", name, _pool(g, op))


# --------------------------------------------------------------------------- SOFTMAX

F32 = np.float32
LUT_STEPS = 512  # TFLite's int16 tables: 512 steps, 513 entries (the last one for the final slope)
SOFTMAX_MAX_DEPTH = 65536  # the Q16.15 sum of exp values stays below 2^31


def lut_int16(in_scale: float, in_zp: int, out_scale: float, out_zp: int, fn) -> np.ndarray:
    """SoftmaxPrepare's int16 tables (LUTPopulate<int16_t> on double, the C library's exp): fn sampled
    at 512 steps over the input range, each entry moved by half the error its linear interpolation
    makes at the step's midpoint, std::round half away from zero. (The float32 variant of the same
    routine differs in two entries of the 1 / (1 + x) table, which the interpreter showed.)"""
    lo, hi = -32768, 32767
    input_min, input_max = in_scale * (lo - in_zp), in_scale * (hi - in_zp)
    output_min, output_max = out_scale * (lo - out_zp), out_scale * (hi - out_zp)
    step = (input_max - input_min) / LUT_STEPS
    inv = (hi - lo + 1) / (output_max - output_min)

    def rnd(v: float) -> float:
        return math.copysign(math.floor(abs(v) + 0.5), v)

    def clamp(v: float) -> int:
        return int(min(max(v, float(lo)), float(hi)))

    table = np.zeros(LUT_STEPS + 1, dtype=np.int16)
    for i in range(LUT_STEPS):
        x = input_min + i * step
        sample = rnd(fn(x) * inv)
        interp = rnd((fn(input_min + (i + 1) * step) * inv + sample) / 2)
        err = interp - rnd(fn(x + step / 2) * inv)
        table[i] = clamp(sample - rnd(err / 2))
    table[LUT_STEPS] = clamp(rnd(fn(input_max) * inv))
    return table


def _one_over_one_plus(x: float) -> float:
    return 1.0 / (1.0 + x)


def _softmax_plan(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = _io(g, op)
    need(tuple(x.shape) == tuple(y.shape) and len(x.shape) >= 1, op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    need(abs(float(y.quant.s) - 1.0 / 32768) <= 0.001 / 32768, op, f"output scale is {y.quant.s:g}, TFLite requires 1/32768 for int16 softmax")
    depth = int(x.shape[-1])
    need(1 <= depth <= SOFTMAX_MAX_DEPTH, op, f"softmax over {depth} elements: at most {SOFTMAX_MAX_DEPTH} supported")
    beta = float(getattr(op.options, "beta", 0.0)) if op.options is not None else 0.0
    # SoftmaxPrepare: input scale * beta in float, divided by 10 / 65535 in double.
    real = float(F32(F32(x.quant.s) * F32(beta))) / (10.0 / 65535.0)
    mult, shift = quantize_multiplier(real)
    need(real > 0 and -31 <= shift <= 30, op, f"beta {beta:g} with input scale {x.quant.s:g} cannot be applied")
    return {"rows": x.size // depth, "depth": depth, "input_multiplier": mult, "input_left_shift": shift}


def check_softmax(g: Graph, op: Op) -> None:
    _softmax_plan(g, op)


def lower_softmax(g: Graph, op: Op) -> KernelCall:
    span = 32767 - (-32768)
    exp_lut = lut_int16(10.0 / span, 32767, 2.0 / span, 0, math.exp)  # exp on [-10, 0]
    recip_lut = lut_int16(1.0 / span, -32768, 2.0 / span, 0, _one_over_one_plus)  # 1 / (1 + x) on [0, 1]
    return _unary_call(
        op,
        "activation",
        "softmax",
        {**_softmax_plan(g, op), "exp_lut": ArrayRef("exp"), "one_over_lut": ArrayRef("recip")},
        arrays=[ConstArray("exp", "int16_t", exp_lut), ConstArray("recip", "int16_t", recip_lut)],
    )


# --------------------------------------------------------------------------- LOGISTIC, TANH

SIGMOID_TABLE_SIZE = 256
SIGMOID_TABLE_STEP = 1.0 / 24  # entry i holds sigmoid(i / 24): [0, 10.6] in 255 steps
SIGMOID_TABLE_ONE = 1 << 16  # Q0.16
SIGMOID_INPUT_UNIT = 3.0 * 4096  # the kernels' input: 1.0 is 3 * 4096 (+/-10.7 spans +/-2^17)
SIGMOID_POT_SHIFTS = {"LOGISTIC": (0,), "TANH": (0, 1)}  # shifts Prepare takes the power-of-two path for
SIGMOID_OUTPUT_LOG2 = -15  # output scale 2^-15


def sigmoid_table() -> np.ndarray:
    """TFLite's sigmoid_table_uint16, generated: sigmoid(i / 24) in Q0.16 for i < 255, each sample
    moved by half the error linear interpolation makes at the midpoint to the next sample,
    round(65536 * (f(a) - ((f(a) + f(b)) / 2 - f((a + b) / 2)) / 2)) in double (no entry is within
    0.004 of a tie, so float32 gives the same); the last entry is 0xFFFF, the value the kernels
    saturate to, so interpolating towards it runs into saturation without a step."""
    def f(x: float) -> float:
        return SIGMOID_TABLE_ONE / (1.0 + math.exp(-x))

    table = np.empty(SIGMOID_TABLE_SIZE, dtype=np.uint16)
    for i in range(SIGMOID_TABLE_SIZE - 1):
        a, b = i * SIGMOID_TABLE_STEP, (i + 1) * SIGMOID_TABLE_STEP
        midpoint_error = (f(a) + f(b)) / 2 - f((a + b) / 2)
        table[i] = tflite_round(f(a) - midpoint_error / 2)
    table[-1] = SIGMOID_TABLE_ONE - 1
    return table


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 in float32: (whether x is within 2^0.001 of a power of two, that power)."""
    log2 = F32(logf(F32(x)) * F32(F32(1.0) / logf(F32(2.0))))
    rounded = F32(tflite_round(float(log2)))
    return bool(abs(float(F32(log2 - rounded))) < float(F32(1e-3))), int(rounded)


def sigmoid_input_scaling(kind: str, scale: float) -> tuple[int, int]:
    """(multiplier, shift) such that (x * multiplier + round) >> shift is x in 1 / (3 * 4096) units.

    Logistic/TanhPrepare: a scale within CheckedLog2's tolerance of a power of two, whose shift
    12 + log2(scale) is one the op accepts (LOGISTIC 0; TANH 0 or 1), leaves the multiplier 0, which
    Eval reads as 3 << shift, shift 0. Any other scale: scale * 3 * 4096 in double, doubled (shift
    + 1) while at most 16383.5 and the shift at most 30, truncated to an integer.
    """
    pot, log2 = checked_log2(scale)
    shift = 12 + log2  # (15 - kInputIntegerBits) + log2(scale)
    if pot and shift in SIGMOID_POT_SHIFTS[kind]:
        return 3 << shift, 0
    m, shift = float(F32(scale)) * SIGMOID_INPUT_UNIT, 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    return int(m), shift


def _sigmoid_plan(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = _io(g, op)
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    s_out = float(F32(y.quant.s))
    pot, log2 = checked_log2(s_out)
    if op.kind == "LOGISTIC":
        ok = s_out == 2.0**SIGMOID_OUTPUT_LOG2
    else:
        ok = pot and log2 == SIGMOID_OUTPUT_LOG2
    need(ok, op, f"output scale is {y.quant.s:g}, TFLite requires 1/32768 for int16 {op.kind}; re-convert with `tinyq convert --mode int16x8`")
    mult, shift = sigmoid_input_scaling(op.kind, float(x.quant.s))
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    fits = all(-(2**31) <= v * mult + rnd < 2**31 for v in (-32768, 32767))
    need(
        mult >= 1 and fits,
        op,
        f"input scale {x.quant.s:g} is outside TFLite's int16 {op.kind} input range (its int32 rescaling by "
        f"{mult} >> {shift} would overflow or vanish); convert with `--mode int8`, or rescale the layer before it",
    )
    return {"size": x.size, "input_multiplier": mult, "input_shift": shift, "table": ArrayRef("table")}


def check_sigmoid(g: Graph, op: Op) -> None:
    _sigmoid_plan(g, op)


def lower_sigmoid(g: Graph, op: Op) -> KernelCall:
    return _unary_call(
        op,
        "activation",
        op.kind.lower(),
        _sigmoid_plan(g, op),
        arrays=[ConstArray("table", "uint16_t", sigmoid_table())],
        in_place="direct",  # each element is read before its output is written
    )


# --------------------------------------------------------------------------- RESHAPE copy


def check_copy(g: Graph, op: Op) -> None:
    need(len(op.outputs) == 1, op, "expected one output")
    src = need_dtype(g, op, op.inputs[0], "int16")
    dst = need_dtype(g, op, op.outputs[0], "int16")
    need(src.size == dst.size, op, f"input has {src.size} elements but output shape {list(dst.shape)} has {dst.size}")


def lower_copy(g: Graph, op: Op) -> KernelCall:
    return _unary_call(op, "shape", "copy", {"size": g.tensor(op.outputs[0]).size})


register("CONV_2D", check=check_window, lower=lower_window, macs=c8.macs_conv, dtype="int16")
register("DEPTHWISE_CONV_2D", check=check_window, lower=lower_window, macs=c8.macs_depthwise, dtype="int16")
register("FULLY_CONNECTED", check=check_fc, lower=lower_fc, macs=c8.macs_fc, dtype="int16")
register("ADD", check=check_add, lower=lower_add, macs=macs_binary, dtype="int16")
register("AVERAGE_POOL_2D", check=check_pool, lower=lower_pool, macs=p8.macs_pool, dtype="int16")
register("MAX_POOL_2D", check=check_pool, lower=lower_pool, macs=p8.macs_pool, dtype="int16")
register("SOFTMAX", check=check_softmax, lower=lower_softmax, dtype="int16")
for _kind in SIGMOID_POT_SHIFTS:
    register(_kind, check=check_sigmoid, lower=lower_sigmoid, dtype="int16")
for _kind in ("RESHAPE", "EXPAND_DIMS", "SQUEEZE"):
    register(_kind, check=check_copy, lower=lower_copy, dtype="int16")
