"""Activations (int8): SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU and the RELU family.

Each lowering mirrors the Prepare of TFLite's kReference kernel (tensorflow/lite/kernels/
activations.cc), which is what the BUILTIN_REF resolver runs:

- SOFTMAX: reference_ops::Softmax in gemmlowp fixed point; Prepare computes the beta * scale
  multiplier (PreprocessSoftmaxScaling) and diff_min (CalculateInputRadius).
- LOGISTIC / TANH: the reference path builds a 256-entry table in Prepare by evaluating the
  float function per int8 value (LUTPopulate) and looks it up; the table is built here the same
  way, with float32 arithmetic and the C library's expf / tanhf (the ones the interpreter calls).
- HARD_SWISH: reference_ops::HardSwish, int16 multipliers computed with float32 scales.
- LEAKY_RELU: reference_ops::QuantizeLeakyRelu, two multipliers (float32 scale ratios).
- RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1: ReluX, requantizing when the scales differ.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from tinyq.ir import Graph, Op
from tinyq.ops.base import (
    ArrayRef,
    ConstArray,
    KernelCall,
    need,
    need_dtype,
    need_quant,
    quantize_multiplier,
    register,
    tflite_round,
)

HEADER = "tq_activation.h"
F32 = np.float32


# --------------------------------------------------------------------------- shared checks


def _check_unary(g: Graph, op: Op) -> None:
    """One int8 input, one int8 output of the same size, both quantized per tensor."""
    need(len([i for i in op.inputs if i >= 0]) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    src = need_dtype(g, op, op.inputs[0], "int8")
    dst = need_dtype(g, op, op.outputs[0], "int8")
    need_quant(g, op, op.inputs[0])
    need_quant(g, op, op.outputs[0])
    need(not src.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(src.size == dst.size, op, f"input has {src.size} elements but output has {dst.size}")


def _scales(g: Graph, op: Op) -> tuple[np.float32, int, np.float32, int]:
    qi = g.tensor(op.inputs[0]).quant
    qo = g.tensor(op.outputs[0]).quant
    return F32(qi.s), int(qi.zp), F32(qo.s), int(qo.zp)


def _call(g: Graph, op: Op, name: str, params: dict, arrays: list[ConstArray] | None = None) -> KernelCall:
    return KernelCall(
        func=f"tq_{name}_s8",
        params_type=f"tq_{name}_s8_params",
        header=HEADER,
        sources=(f"activation/tq_{name}_s8.c",),
        params=params,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        arrays=arrays or [],
    )


def _option(op: Op, name: str) -> float:
    """A float option; a missing options table leaves TFLite's parameter at 0 (the schema default)."""
    return float(getattr(op.options, name, 0.0)) if op.options is not None else 0.0


def _need_multiplier(op: Op, what: str, real: float) -> tuple[int, int]:
    """quantize_multiplier, rejecting multipliers the int32 arithmetic cannot apply."""
    need(math.isfinite(real) and real >= 0.0, op, f"{what} multiplier {real!r} is not a finite non-negative number")
    mult, shift = quantize_multiplier(real)
    need(-31 <= shift <= 30, op, f"{what} multiplier {real:g} is out of the supported range (scales too far apart)")
    return mult, shift


# --------------------------------------------------------------------------- SOFTMAX

SOFTMAX_DIFF_INT_BITS = 5  # kScaledDiffIntegerBits
SOFTMAX_MAX_DEPTH = 4095  # depth * 2^19 (exp(0) in Q12.19) must fit in int32


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius: (multiplier, left shift, diff_min).

    beta and the scale are float32 values widened to double, as in SoftmaxPrepare.
    Raises ValueError where TFLite's Prepare would abort.
    """
    real = min(float(beta) * float(input_scale) * float(1 << (31 - SOFTMAX_DIFF_INT_BITS)), float((1 << 31) - 1))
    if not real > 1.0:  # QuantizeMultiplierGreaterThanOne
        raise ValueError(f"beta * input scale * 2^26 = {real:g} must exceed 1")
    mult, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ValueError(f"left shift {left_shift} is negative")
    radius = math.floor(
        1.0 * ((1 << SOFTMAX_DIFF_INT_BITS) - 1) * float(1 << (31 - SOFTMAX_DIFF_INT_BITS)) / float(1 << left_shift)
    )
    return mult, left_shift, -int(radius)


def _softmax_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(len(src.shape) >= 1, op, "input must have at least one dimension")
    need(tuple(src.shape) == tuple(dst.shape), op, f"output shape {list(dst.shape)} differs from input {list(src.shape)}")
    qo = dst.quant
    need(qo.zp == -128, op, f"output zero point is {qo.zp}, TFLite requires -128 for int8 softmax")
    need(abs(float(qo.s) - 1.0 / 256) <= 0.001 / 256, op, f"output scale is {qo.s:g}, TFLite requires 1/256")
    depth = int(src.shape[-1])
    need(1 <= depth <= SOFTMAX_MAX_DEPTH, op, f"softmax over {depth} elements: at most {SOFTMAX_MAX_DEPTH} supported")
    beta = _option(op, "beta")
    try:
        softmax_params(float(F32(beta)), float(F32(src.quant.s)))
    except ValueError as e:
        need(False, op, f"beta {beta:g} with input scale {src.quant.s:g} cannot be applied ({e})")


def _softmax_lower(g: Graph, op: Op) -> KernelCall:
    src = g.tensor(op.inputs[0])
    beta = _option(op, "beta")
    mult, left_shift, diff_min = softmax_params(float(F32(beta)), float(F32(src.quant.s)))
    depth = int(src.shape[-1])
    return _call(
        g,
        op,
        "softmax",
        {
            "rows": src.size // depth,
            "depth": depth,
            "input_multiplier": mult,
            "input_left_shift": left_shift,
            "diff_min": diff_min,
        },
    )


# --------------------------------------------------------------------------- LOGISTIC / TANH (tables)

_LIBM = None


def _libm():
    """The C math library the reference interpreter links (glibc's libm on Linux), or False.

    The interpreter calls the C library's expf / tanhf while building its tables (and logf in
    CheckedLog2); calling the same functions here reproduces them exactly. Without a loadable libm,
    numpy's float32 functions are used (they agreed with glibc on every table tried, but are not
    guaranteed to).
    """
    global _LIBM
    if _LIBM is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            for fn in ("expf", "tanhf", "logf"):
                f = getattr(lib, fn)
                f.restype = ctypes.c_float
                f.argtypes = [ctypes.c_float]
            _LIBM = lib
        except (OSError, AttributeError):
            _LIBM = False
    return _LIBM


def _expf(x: np.float32) -> np.float32:
    lib = _libm()
    return F32(lib.expf(float(x))) if lib else F32(np.exp(F32(x)))


def _tanhf(x: np.float32) -> np.float32:
    lib = _libm()
    return F32(lib.tanhf(float(x))) if lib else F32(np.tanh(F32(x)))


def logf(x: np.float32) -> np.float32:
    """The C library's logf (TFLite's CheckedLog2 takes std::log of a float)."""
    lib = _libm()
    return F32(lib.logf(float(x))) if lib else F32(np.log(F32(x)))


def _logistic_f32(x: np.float32) -> np.float32:
    """1.0f / (1.0f + std::exp(-x)) in float32."""
    return F32(F32(1.0) / F32(F32(1.0) + _expf(F32(-x))))


def _tanh_f32(x: np.float32) -> np.float32:
    return _tanhf(x)


def lut_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int, fn) -> np.ndarray:
    """LUTPopulate<int8_t>: the table the reference kernel builds in Prepare, indexed by (uint8_t)x.

    Every step is float32 (input_scale * (x - zp), the transform, * (1 / output_scale),
    std::round, + zero point), then truncation to int32 and clamping to int8.
    """
    s_in = F32(in_scale)
    inverse_scale = F32(F32(1.0) / F32(out_scale))
    table = np.zeros(256, dtype=np.int8)
    with np.errstate(over="ignore", invalid="ignore"):
        for v in range(-128, 128):
            deq = F32(s_in * F32(v - in_zp))
            t = fn(deq)
            scaled = F32(t * inverse_scale)
            rescaled = F32(tflite_round(float(scaled))) if np.isfinite(scaled) else scaled
            total = F32(rescaled + F32(out_zp))
            # static_cast<int32_t>: truncation; out-of-range values give INT32_MIN on x86 (cvttss2si).
            q = int(float(total)) if np.isfinite(total) and abs(float(total)) < 2.0**31 else -(2**31)
            table[v & 0xFF] = max(-128, min(127, q))
    return table


def _lut_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    if op.kind == "LOGISTIC":
        qo = g.tensor(op.outputs[0]).quant
        need(float(F32(qo.s)) == 1.0 / 256, op, f"output scale is {qo.s:g}, TFLite requires 1/256 for int8 logistic")


def _lut_lower(g: Graph, op: Op) -> KernelCall:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    fn = _logistic_f32 if op.kind == "LOGISTIC" else _tanh_f32
    table = lut_table(s_in, zp_in, s_out, zp_out, fn)
    return _call(
        g,
        op,
        "lut",
        {"size": g.tensor(op.inputs[0]).size, "table": ArrayRef("table")},
        [ConstArray("table", "int8_t", table)],
    )


# --------------------------------------------------------------------------- RELU family

# act_min, act_max in real units (TFLite's QuantizedReluX arguments); None = unbounded above.
RELU_BOUNDS = {
    "RELU": (0.0, None),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "RELU_0_TO_1": (0.0, 1.0),
}


def relu_bounds(kind: str, out_scale: float, out_zp: int) -> tuple[int, int]:
    """zp + (int)roundf(bound / scale) in float32, intersected with int8 (QuantizedReluX)."""
    lo, hi = RELU_BOUNDS[kind]
    s = F32(out_scale)

    def q(v: float) -> int:
        return out_zp + tflite_round(float(F32(F32(v) / s)))

    act_min = max(-128, q(lo))
    act_max = 127 if hi is None else min(127, q(hi))
    return act_min, act_max


def _relu_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    s_in, _, s_out, _ = _scales(g, op)
    need(s_out > 0, op, "output scale must be positive")
    _need_multiplier(op, "input/output scale", float(F32(s_in / s_out)))


def _relu_lower(g: Graph, op: Op) -> KernelCall:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    mult, shift = quantize_multiplier(float(F32(s_in / s_out)))  # float division, as in ReluPrepare
    act_min, act_max = relu_bounds(op.kind, s_out, zp_out)
    return _call(
        g,
        op,
        "relu",
        {
            "size": g.tensor(op.inputs[0]).size,
            "in_zp": zp_in,
            "out_zp": zp_out,
            "mult": mult,
            "shift": shift,
            "act_min": act_min,
            "act_max": act_max,
        },
    )


# --------------------------------------------------------------------------- LEAKY_RELU


def _leaky_multipliers(g: Graph, op: Op) -> tuple[float, float]:
    s_in, _, s_out, _ = _scales(g, op)
    alpha = F32(_option(op, "alpha"))
    # LeakyReluPrepare: both ratios are evaluated in float32 and then widened to double.
    real_alpha = float(F32(F32(s_in * alpha) / s_out))
    real_identity = float(F32(s_in / s_out))
    return real_identity, real_alpha


def _leaky_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    s_out = _scales(g, op)[2]
    need(s_out > 0, op, "output scale must be positive")
    real_identity, real_alpha = _leaky_multipliers(g, op)
    _need_multiplier(op, "identity", real_identity)
    need(math.isfinite(real_alpha), op, f"alpha multiplier {real_alpha!r} is not finite")
    _need_multiplier(op, "alpha", abs(real_alpha))


def _leaky_lower(g: Graph, op: Op) -> KernelCall:
    _, zp_in, _, zp_out = _scales(g, op)
    real_identity, real_alpha = _leaky_multipliers(g, op)
    m_id, s_id = quantize_multiplier(real_identity)
    m_a, s_a = quantize_multiplier_signed(real_alpha)
    return _call(
        g,
        op,
        "leaky_relu",
        {
            "size": g.tensor(op.inputs[0]).size,
            "in_zp": zp_in,
            "out_zp": zp_out,
            "mult_identity": m_id,
            "shift_identity": s_id,
            "mult_alpha": m_a,
            "shift_alpha": s_a,
        },
    )


def quantize_multiplier_signed(real: float) -> tuple[int, int]:
    """QuantizeMultiplier for any sign: frexp keeps the sign in the significand (alpha may be < 0).

    TFLite only renormalizes a significand that rounds up to +2^31; -2^31 fits int32 and stays.
    """
    if real >= 0:
        return quantize_multiplier(real)
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


# --------------------------------------------------------------------------- HARD_SWISH


def _downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: round a Q0.31 multiplier to Q0.15."""
    if m >= (2**31 - 1) - (1 << 15):
        return 2**15 - 1
    return (m + (1 << 15)) >> 16


def hard_swish_params(in_scale: float, out_scale: float) -> tuple[int, int, int, int]:
    """HardSwishPrepare: (output_mult, output_exp, reluish_mult, reluish_exp), float32 scale math."""
    hires_input_scale = F32(F32(1.0) / F32(128.0)) * F32(in_scale)
    reluish_scale = F32(F32(3.0) / F32(32768.0))
    output_multiplier = F32(hires_input_scale / F32(out_scale))
    reluish_multiplier = F32(hires_input_scale / reluish_scale)
    om, oe = quantize_multiplier(float(output_multiplier))
    rm, re_ = quantize_multiplier(float(reluish_multiplier))
    return _downscale_to_int16(om), oe, _downscale_to_int16(rm), re_


def _hard_swish_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    s_in, _, s_out, _ = _scales(g, op)
    need(s_out > 0 and s_in > 0, op, "scales must be positive")
    om, oe, rm, re_ = hard_swish_params(s_in, s_out)
    need(oe <= 0, op, f"output multiplier exponent {oe} > 0: TFLite requires output scale >= input scale / 128")
    need(oe >= -31 and -31 <= re_ <= 31, op, "input/output scales are too far apart for the int16 arithmetic")


def _hard_swish_lower(g: Graph, op: Op) -> KernelCall:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    om, oe, rm, re_ = hard_swish_params(s_in, s_out)
    return _call(
        g,
        op,
        "hard_swish",
        {
            "size": g.tensor(op.inputs[0]).size,
            "in_zp": zp_in,
            "out_zp": zp_out,
            "output_mult": om,
            "output_exp": oe,
            "reluish_mult": rm,
            "reluish_exp": re_,
        },
    )


# --------------------------------------------------------------------------- registration

register("SOFTMAX", check=_softmax_check, lower=_softmax_lower)
register("LOGISTIC", check=_lut_check, lower=_lut_lower)
register("TANH", check=_lut_check, lower=_lut_lower)
for _kind in RELU_BOUNDS:
    register(_kind, check=_relu_check, lower=_relu_lower)
register("LEAKY_RELU", check=_leaky_check, lower=_leaky_lower)
register("HARD_SWISH", check=_hard_swish_check, lower=_hard_swish_lower)
