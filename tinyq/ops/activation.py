"""Activations: SOFTMAX, LOGISTIC, TANH, ELU, HARD_SWISH, LEAKY_RELU, PRELU, the RELU family, ABS, NEG.

On int8, each lowering mirrors the Prepare of TFLite's kReference kernel (tensorflow/lite/kernels/
activations.cc; elementwise.cc for ABS, neg.cc for NEG), which is what the BUILTIN_REF resolver runs:

- SOFTMAX: reference_ops::Softmax in gemmlowp fixed point; Prepare computes the beta * scale
  multiplier (PreprocessSoftmaxScaling) and diff_min (CalculateInputRadius).
- LOGISTIC / TANH: the reference path builds a 256-entry table in Prepare by evaluating the
  float function per int8 value (LUTPopulate) and looks it up; the table is built here the same
  way, with float32 arithmetic and the C library's expf / tanhf (the ones the interpreter calls).
- ELU: the same 256-entry table (EluPrepare's LUTPopulate<int8_t>), of x < 0 ? expm1f(x) : x.
- HARD_SWISH: reference_ops::HardSwish, int16 multipliers computed with float32 scales.
- LEAKY_RELU: reference_ops::QuantizeLeakyRelu, two multipliers (float32 scale ratios); a negative
  alpha multiplier is applied by its magnitude and the rounded product negated (LiteRT >= 2.2, the
  interpreter tinyq checks against; the older signed multiplier differs on rounding ties).
- PRELU: reference_ops::Prelu / BroadcastPrelu4DSlow, a constant int8 alpha broadcast to the input,
  multipliers in_scale / out_scale and in_scale * alpha_scale / out_scale (float32 products).
- RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1: ReluX, requantizing when the scales differ.
- ABS: AbsEvalQuantized, |x - zp| requantized (in_scale / out_scale in float32) when the scales differ.
- NEG: reference_ops::Negate on the raw int8 values: TFLite ignores the quantization (the converter
  never emits an int8 NEG; a hand-written one runs as the interpreter runs it).

On int16x8 (symmetric int16 activations, as TFLite's Prepare requires), SOFTMAX, LOGISTIC and TANH:

- SOFTMAX: reference_ops::SoftmaxInt16 with the two 513-entry tables SoftmaxPrepare builds
  (LUTPopulate<int16_t> in double: exp on [-10, 0], 1 / (1 + x) on [0, 1]).
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

int16x8 also has LEAKY_RELU (QuantizeLeakyRelu<int16_t>), ABS (AbsEvalQuantized<int16_t>) and NEG,
with int16's symmetric quantization. TFLite's reference HARD_SWISH has no int16 kernel (HardSwishEval
fails on int16), so tinyq refuses it.

On float32, every op above with the C library's expf / tanhf / expm1f (results within FLOAT_TOLERANCE).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    FLOAT_DEPS,
    FLOAT_HEADER,
    INT16_DEPS,
    INT16_HEADER,
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    TensorRef,
    check_by_lowering,
    dims4,
    int16_io,
    kernel_table,
    need,
    need_dtype,
    need_float32,
    need_quant,
    nhwc,
    quantize_multiplier,
    refuse,
    register,
    tflite_round,
    where,
)

HEADER = "tq_activation.h"
F32 = np.float32

KERNELS = kernel_table(
    # int8
    Kernel("tq_softmax_s8", "tq_softmax_s8_params", HEADER, ("activation/tq_softmax_s8.c",)),
    Kernel("tq_lut_s8", "tq_lut_s8_params", HEADER, ("activation/tq_lut_s8.c",)),  # LOGISTIC, TANH
    Kernel("tq_relu_s8", "tq_relu_s8_params", HEADER, ("activation/tq_relu_s8.c",)),
    Kernel("tq_leaky_relu_s8", "tq_leaky_relu_s8_params", HEADER, ("activation/tq_leaky_relu_s8.c",)),
    Kernel("tq_hard_swish_s8", "tq_hard_swish_s8_params", HEADER, ("activation/tq_hard_swish_s8.c",)),
    Kernel("tq_prelu_s8", "tq_prelu_s8_params", HEADER, ("activation/tq_prelu_s8.c",)),
    Kernel("tq_abs_s8", "tq_abs_s8_params", HEADER, ("activation/tq_abs_s8.c",)),
    Kernel("tq_neg_s8", "tq_neg_s8_params", HEADER, ("activation/tq_neg_s8.c",)),
    # int16x8
    Kernel("tq_softmax_s16", "tq_softmax_s16_params", INT16_HEADER, ("activation/tq_softmax_s16.c", *INT16_DEPS)),
    Kernel("tq_logistic_s16", "tq_logistic_s16_params", INT16_HEADER, ("activation/tq_logistic_s16.c", *INT16_DEPS)),
    Kernel("tq_tanh_s16", "tq_tanh_s16_params", INT16_HEADER, ("activation/tq_tanh_s16.c", *INT16_DEPS)),
    Kernel("tq_leaky_relu_s16", "tq_leaky_relu_s16_params", INT16_HEADER, ("activation/tq_leaky_relu_s16.c", *INT16_DEPS)),
    Kernel("tq_abs_s16", "tq_abs_s16_params", INT16_HEADER, ("activation/tq_abs_s16.c", *INT16_DEPS)),
    Kernel("tq_neg_s16", "tq_neg_s16_params", INT16_HEADER, ("activation/tq_neg_s16.c", *INT16_DEPS)),
    # float32
    Kernel("tq_softmax_f32", "tq_softmax_f32_params", FLOAT_HEADER, ("activation/tq_softmax_f32.c", *FLOAT_DEPS)),
    Kernel("tq_logistic_f32", "tq_logistic_f32_params", FLOAT_HEADER, ("activation/tq_logistic_f32.c", *FLOAT_DEPS)),
    Kernel("tq_tanh_f32", "tq_tanh_f32_params", FLOAT_HEADER, ("activation/tq_tanh_f32.c", *FLOAT_DEPS)),
    Kernel("tq_relu_f32", "tq_relu_f32_params", FLOAT_HEADER, ("activation/tq_relu_f32.c", *FLOAT_DEPS)),
    Kernel("tq_leaky_relu_f32", "tq_leaky_relu_f32_params", FLOAT_HEADER, ("activation/tq_leaky_relu_f32.c", *FLOAT_DEPS)),
    Kernel("tq_hard_swish_f32", "tq_hard_swish_f32_params", FLOAT_HEADER, ("activation/tq_hard_swish_f32.c", *FLOAT_DEPS)),
    Kernel("tq_elu_f32", "tq_elu_f32_params", FLOAT_HEADER, ("activation/tq_elu_f32.c", *FLOAT_DEPS)),
    Kernel("tq_abs_f32", "tq_abs_f32_params", FLOAT_HEADER, ("activation/tq_abs_f32.c", *FLOAT_DEPS)),
    Kernel("tq_neg_f32", "tq_neg_f32_params", FLOAT_HEADER, ("activation/tq_neg_f32.c", *FLOAT_DEPS)),
    Kernel("tq_prelu_f32", "tq_prelu_f32_params", FLOAT_HEADER, ("activation/tq_prelu_f32.c", *FLOAT_DEPS)),
)
# Largest |x - zero point| of each integer type's values, which a kernel multiplies (and may shift left).
MAX_OFFSET = {"int8": 255, "int16": 32768}


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


def _call(op: Op, kernel: str, params: dict, arrays: list[ConstArray] | None = None, in_place: str | None = None) -> KernelCall:
    """The unary `kernel` from the op's input to its output."""
    return KERNELS[kernel].call(params=params, inputs=[op.inputs[0]], outputs=[op.outputs[0]], arrays=arrays, in_place=in_place)


def _option(op: Op, name: str) -> float:
    """A float option; a missing options table leaves TFLite's parameter at 0 (the schema default)."""
    return float(getattr(op.options, name, 0.0)) if op.options is not None else 0.0


def _need_multiplier(op: Op, what: str, real: float, max_abs: int | None = None) -> tuple[int, int]:
    """quantize_multiplier, rejecting multipliers the int32 arithmetic cannot apply; with `max_abs`
    (the largest |value| the kernel multiplies), also those whose left shift would overflow int32,
    where TFLite's own arithmetic wraps."""
    need(math.isfinite(real) and real >= 0.0, op, f"{what} multiplier {real!r} is not a finite non-negative number")
    mult, shift = quantize_multiplier(real)
    need(-31 <= shift <= 30, op, f"{what} multiplier {real:g} is out of the supported range (scales too far apart)")
    if max_abs is not None:
        need(max_abs << max(shift, 0) < 2**31, op, f"{what} multiplier {real:g} is too large: values up to {max_abs} "
             "would overflow int32 in TFLite's arithmetic (scales too far apart)")
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
        op,
        "tq_softmax_s8",
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

    The interpreter calls the C library's expf / tanhf / expm1f while building its tables (and logf
    in CheckedLog2); calling the same functions here reproduces them exactly. Without a loadable libm,
    numpy's float32 functions are used (they agreed with glibc on every table tried, but are not
    guaranteed to).
    """
    global _LIBM
    if _LIBM is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            for fn in ("expf", "tanhf", "logf", "expm1f"):
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


def _expm1f(x: np.float32) -> np.float32:
    lib = _libm()
    return F32(lib.expm1f(float(x))) if lib else F32(np.expm1(F32(x)))


def _elu_f32(x: np.float32) -> np.float32:
    """EluPrepare's transform: value < 0.0f ? std::expm1(value) : value, in float32."""
    return _expm1f(x) if x < 0 else F32(x)


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


# The float function each table-driven int8 op evaluates per input value (its Prepare's transform).
LUT_FUNCTIONS = {"LOGISTIC": _logistic_f32, "TANH": _tanh_f32, "ELU": _elu_f32}


def _lut_lower(g: Graph, op: Op) -> KernelCall:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    fn = LUT_FUNCTIONS[op.kind]
    table = lut_table(s_in, zp_in, s_out, zp_out, fn)
    return _call(
        op,
        "tq_lut_s8",
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
        op,
        "tq_relu_s8",
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


def leaky_relu_multipliers(in_scale: float, out_scale: float, alpha: float) -> tuple[float, float, bool]:
    """LeakyReluPrepare's two real multipliers, as QuantizeLeakyRelu applies them: (identity, |alpha|,
    whether alpha's is negative).

    Both ratios are evaluated in float32 (in_scale * alpha / out_scale, in_scale / out_scale) and
    widened to double for QuantizeMultiplier. A negative alpha multiplier keeps its sign in the
    significand; the kernel applies its magnitude and negates the rounded product. Raises
    ValueError where TFLite could not apply them.
    """
    s_in, s_out, a = F32(in_scale), F32(out_scale), F32(alpha)
    real_alpha = float(F32(F32(s_in * a) / s_out))
    real_identity = float(F32(s_in / s_out))
    if not (math.isfinite(real_alpha) and math.isfinite(real_identity)):
        raise ValueError(f"multipliers {real_identity!r} and {real_alpha!r} are not finite")
    if real_alpha < 0 and tflite_round(math.frexp(-real_alpha)[0] * (1 << 31)) == 1 << 31:
        # QuantizeMultiplier keeps the significand -2^31 for a negative multiplier: not negatable.
        raise ValueError(f"alpha multiplier {real_alpha!r} rounds to -2^31, which TFLite cannot negate")
    return real_identity, abs(real_alpha), real_alpha < 0


def _leaky_plan(g: Graph, op: Op, dtype: str) -> dict:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    need(s_out > 0, op, "output scale must be positive")
    alpha = _option(op, "alpha")
    try:
        identity, alpha_abs, negative = leaky_relu_multipliers(s_in, s_out, alpha)
    except ValueError as e:
        raise UnsupportedModel(f"{where(op)}: alpha {alpha:g} with input scale {s_in:g} and output scale {s_out:g} "
                               f"cannot be applied ({e})") from None
    m_id, s_id = _need_multiplier(op, "identity", identity, MAX_OFFSET[dtype])
    m_a, s_a = _need_multiplier(op, "alpha", alpha_abs, MAX_OFFSET[dtype])
    offsets = {"in_zp": zp_in, "out_zp": zp_out} if dtype == "int8" else {}  # int16: zero points 0
    return {"size": g.tensor(op.inputs[0]).size, **offsets, "mult_identity": m_id, "shift_identity": s_id,
            "mult_alpha": m_a, "shift_alpha": s_a, "alpha_negative": int(negative)}


def _leaky_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    _leaky_plan(g, op, "int8")


def _leaky_lower(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_leaky_relu_s8", _leaky_plan(g, op, "int8"))


def check_leaky_s16(g: Graph, op: Op) -> None:
    need(len([i for i in op.inputs if i >= 0]) == 1, op, "expects one input and one output")
    x, y = int16_io(g, op)
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    _leaky_plan(g, op, "int16")


def lower_leaky_s16(g: Graph, op: Op) -> KernelCall:
    check_leaky_s16(g, op)
    return _call(op, "tq_leaky_relu_s16", _leaky_plan(g, op, "int16"), in_place="direct")


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
    _, oe, _, re_ = hard_swish_params(s_in, s_out)
    need(oe <= 0, op, f"output multiplier exponent {oe} > 0: TFLite requires output scale >= input scale / 128")
    need(oe >= -31 and -31 <= re_ <= 31, op, "input/output scales are too far apart for the int16 arithmetic")


def _hard_swish_lower(g: Graph, op: Op) -> KernelCall:
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    om, oe, rm, re_ = hard_swish_params(s_in, s_out)
    return _call(
        op,
        "tq_hard_swish_s8",
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


# --------------------------------------------------------------------------- PRELU


def alpha_strides(shape: tuple[int, ...], alpha_shape: tuple[int, ...]) -> dict | None:
    """The element strides (NHWC) of an alpha tensor broadcast to `shape`, 0 along broadcast axes;
    None if alpha does not broadcast to exactly `shape` (TFLite's PRELU output must keep the
    input's shape)."""
    if len(alpha_shape) > len(shape):
        return None
    a4, x4 = dims4(tuple(alpha_shape)), dims4(tuple(shape))
    if any(a not in (1, x) for a, x in zip(a4, x4)):
        return None
    strides, step = [], 1
    for a in reversed(a4):
        strides.append(step if a > 1 else 0)
        step *= a
    return nhwc(tuple(reversed(strides)))


def _prelu_tensors(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, Tensor]:
    need(len(op.inputs) == 2 and op.inputs[1] >= 0 and len(op.outputs) == 1, op, "expects an input, an alpha tensor and one output")
    x = need_dtype(g, op, op.inputs[0], dtype)
    a = need_dtype(g, op, op.inputs[1], dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    need(not x.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(a.is_const, op, f"alpha tensor '{a.name}' must be a constant; tinyq compiles static graphs only")
    need(len(x.shape) <= 4, op, f"input shape {list(x.shape)} has rank {len(x.shape)}; PRELU supports ranks up to 4")
    need(tuple(y.shape) == tuple(x.shape), op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    need(alpha_strides(x.shape, a.shape) is not None, op,
         f"alpha shape {list(a.shape)} does not broadcast to the input shape {list(x.shape)}")
    return x, a, y


def _prelu_plan(g: Graph, op: Op) -> dict:
    x, a, _ = _prelu_tensors(g, op, "int8")
    qx, qa, qy = (need_quant(g, op, i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    s_in, s_alpha, s_out = F32(qx.s), F32(qa.s), F32(qy.s)
    need(s_out > 0, op, "output scale must be positive")
    # PreluPrepare: both ratios in float32, widened to double.
    m_pos, s_pos = _need_multiplier(op, "input/output scale", float(F32(s_in / s_out)), MAX_OFFSET["int8"])
    m_neg, s_neg = _need_multiplier(op, "input * alpha / output scale", float(F32(F32(s_in * s_alpha) / s_out)),
                                    MAX_OFFSET["int8"] * MAX_OFFSET["int8"])
    return {
        "shape": nhwc(dims4(tuple(x.shape))),
        "alpha_stride": alpha_strides(x.shape, a.shape),
        "in_zp": int(qx.zp),
        "alpha_zp": int(qa.zp),
        "out_zp": int(qy.zp),
        "mult_pos": m_pos,
        "shift_pos": s_pos,
        "mult_neg": m_neg,
        "shift_neg": s_neg,
        "alpha": TensorRef(a.index),
    }


def _prelu_check(g: Graph, op: Op) -> None:
    _prelu_plan(g, op)


def _prelu_lower(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_prelu_s8", _prelu_plan(g, op), in_place="direct")


def lower_prelu_f32(g: Graph, op: Op) -> KernelCall:
    x, a, _ = _prelu_tensors(g, op, "float32")
    params = {"shape": nhwc(dims4(tuple(x.shape))), "alpha_stride": alpha_strides(x.shape, a.shape), "alpha": TensorRef(a.index)}
    return _call(op, "tq_prelu_f32", params, in_place="direct")


def macs_prelu(g: Graph, op: Op) -> int:
    return g.tensor(op.inputs[0]).size


# --------------------------------------------------------------------------- ABS, NEG

ABS_IDENTITY = (1 << 30, 1)  # tq_mul_by_quantized_mult by (2^30, 1) is x exactly: equal scales


def _abs_multiplier(g: Graph, op: Op, dtype: str) -> tuple[int, int]:
    """GenericPrepare (elementwise.cc): rescale only when the float32 scales differ, by
    in_scale / out_scale computed in float32."""
    s_in, _, s_out, _ = _scales(g, op)
    need(s_out > 0, op, "output scale must be positive")
    if s_in == s_out:
        return ABS_IDENTITY
    return _need_multiplier(op, "input/output scale", float(F32(s_in / s_out)), MAX_OFFSET[dtype])


def _abs_plan(g: Graph, op: Op) -> dict:
    _check_unary(g, op)
    mult, shift = _abs_multiplier(g, op, "int8")
    _, zp_in, _, zp_out = _scales(g, op)
    return {"size": g.tensor(op.inputs[0]).size, "in_zp": zp_in, "out_zp": zp_out, "mult": mult, "shift": shift}


def _abs_check(g: Graph, op: Op) -> None:
    _abs_plan(g, op)


def _abs_lower(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_abs_s8", _abs_plan(g, op), in_place="direct")


def _neg_tensors(g: Graph, op: Op, dtype: str) -> Tensor:
    """NEG's one input and output of `dtype`; their quantization plays no part (neg.cc ignores it)."""
    need(len([i for i in op.inputs if i >= 0]) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x = need_dtype(g, op, op.inputs[0], dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    need(not x.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    return x


def _neg_check(g: Graph, op: Op) -> None:
    _neg_tensors(g, op, "int8")


def _neg_lower(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_neg_s8", {"size": _neg_tensors(g, op, "int8").size}, in_place="direct")


def _int16_unary(g: Graph, op: Op) -> Tensor:
    need(len([i for i in op.inputs if i >= 0]) == 1, op, "expects one input and one output")
    x, y = int16_io(g, op)
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    return x


def lower_abs_s16(g: Graph, op: Op) -> KernelCall:
    x = _int16_unary(g, op)
    mult, shift = _abs_multiplier(g, op, "int16")
    return _call(op, "tq_abs_s16", {"size": x.size, "mult": mult, "shift": shift}, in_place="direct")


def lower_neg_s16(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_neg_s16", {"size": _neg_tensors(g, op, "int16").size}, in_place="direct")


# --------------------------------------------------------------------------- SOFTMAX (int16x8)

LUT_STEPS = 512  # TFLite's int16 tables: 512 steps, 513 entries (the last one for the final slope)
SOFTMAX_S16_MAX_DEPTH = 65536  # the Q16.15 sum of exp values stays below 2^31


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


def _softmax_s16_plan(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = int16_io(g, op)
    need(tuple(x.shape) == tuple(y.shape) and len(x.shape) >= 1, op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    need(abs(float(y.quant.s) - 1.0 / 32768) <= 0.001 / 32768, op, f"output scale is {y.quant.s:g}, TFLite requires 1/32768 for int16 softmax")
    depth = int(x.shape[-1])
    need(1 <= depth <= SOFTMAX_S16_MAX_DEPTH, op, f"softmax over {depth} elements: at most {SOFTMAX_S16_MAX_DEPTH} supported")
    beta = float(getattr(op.options, "beta", 0.0)) if op.options is not None else 0.0
    # SoftmaxPrepare: input scale * beta in float, divided by 10 / 65535 in double.
    real = float(F32(F32(x.quant.s) * F32(beta))) / (10.0 / 65535.0)
    mult, shift = quantize_multiplier(real)
    need(real > 0 and -31 <= shift <= 30, op, f"beta {beta:g} with input scale {x.quant.s:g} cannot be applied")
    return {"rows": x.size // depth, "depth": depth, "input_multiplier": mult, "input_left_shift": shift}


def check_softmax_s16(g: Graph, op: Op) -> None:
    _softmax_s16_plan(g, op)


def lower_softmax_s16(g: Graph, op: Op) -> KernelCall:
    span = 32767 - (-32768)
    exp_lut = lut_int16(10.0 / span, 32767, 2.0 / span, 0, math.exp)  # exp on [-10, 0]
    recip_lut = lut_int16(1.0 / span, -32768, 2.0 / span, 0, _one_over_one_plus)  # 1 / (1 + x) on [0, 1]
    return _call(
        op,
        "tq_softmax_s16",
        {**_softmax_s16_plan(g, op), "exp_lut": ArrayRef("exp"), "one_over_lut": ArrayRef("recip")},
        arrays=[ConstArray("exp", "int16_t", exp_lut), ConstArray("recip", "int16_t", recip_lut)],
    )


# --------------------------------------------------------------------------- LOGISTIC, TANH (int16x8)

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


def _sigmoid_s16_plan(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = int16_io(g, op)
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


def check_sigmoid_s16(g: Graph, op: Op) -> None:
    _sigmoid_s16_plan(g, op)


def lower_sigmoid_s16(g: Graph, op: Op) -> KernelCall:
    return _call(
        op,
        f"tq_{op.kind.lower()}_s16",
        _sigmoid_s16_plan(g, op),
        arrays=[ConstArray("table", "uint16_t", sigmoid_table())],
        in_place="direct",  # each element is read before its output is written
    )


# --------------------------------------------------------------------------- float32


def _unary_f32(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len([i for i in op.inputs if i >= 0]) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = need_float32(g, op, op.inputs[0], op.outputs[0])
    need(not x.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    return x, y


def _option_f32(op: Op, name: str) -> float:
    """A float option as a float32 value (0 without an options table)."""
    return float(np.float32(getattr(op.options, name, 0.0))) if op.options is not None else 0.0


def lower_pointwise_f32(g: Graph, op: Op) -> KernelCall:
    x, _ = _unary_f32(g, op)
    if op.kind in RELU_BOUNDS:
        lo, hi = RELU_BOUNDS[op.kind]
        return _call(op, "tq_relu_f32", {"size": x.size, "lo": lo, "hi": float("inf") if hi is None else hi}, in_place="direct")
    if op.kind == "LEAKY_RELU":
        return _call(op, "tq_leaky_relu_f32", {"size": x.size, "alpha": _option_f32(op, "alpha")}, in_place="direct")
    return _call(op, f"tq_{op.kind.lower()}_f32", {"size": x.size}, in_place="direct")  # ELU, ABS, NEG, ...


def lower_softmax_f32(g: Graph, op: Op) -> KernelCall:
    x, y = _unary_f32(g, op)
    need(len(x.shape) >= 1 and tuple(x.shape) == tuple(y.shape), op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    depth = int(x.shape[-1])
    return _call(op, "tq_softmax_f32", {"rows": x.size // depth, "depth": depth, "beta": _option_f32(op, "beta")})


# --------------------------------------------------------------------------- registration

register("SOFTMAX", check=_softmax_check, lower=_softmax_lower)
register("LOGISTIC", check=_lut_check, lower=_lut_lower)
register("TANH", check=_lut_check, lower=_lut_lower)
for _kind in RELU_BOUNDS:
    register(_kind, check=_relu_check, lower=_relu_lower)
register("ELU", check=_lut_check, lower=_lut_lower)
register("LEAKY_RELU", check=_leaky_check, lower=_leaky_lower)
register("HARD_SWISH", check=_hard_swish_check, lower=_hard_swish_lower)
register("PRELU", check=_prelu_check, lower=_prelu_lower, macs=macs_prelu)
register("ABS", check=_abs_check, lower=_abs_lower)
register("NEG", check=_neg_check, lower=_neg_lower)

register("SOFTMAX", check=check_softmax_s16, lower=lower_softmax_s16, dtype="int16")
for _kind in SIGMOID_POT_SHIFTS:
    register(_kind, check=check_sigmoid_s16, lower=lower_sigmoid_s16, dtype="int16")
register("LEAKY_RELU", check=check_leaky_s16, lower=lower_leaky_s16, dtype="int16")
register("ABS", check=check_by_lowering(lower_abs_s16), lower=lower_abs_s16, dtype="int16")
register("NEG", check=check_by_lowering(lower_neg_s16), lower=lower_neg_s16, dtype="int16")
refuse("HARD_SWISH", "TFLite's reference interpreter has no int16 HARD_SWISH kernel (HardSwishEval takes float32, "
       "uint8 and int8), so there is nothing to be bit-exact with; convert this model with `--mode int8`", dtype="int16")

for _kind in (*RELU_BOUNDS, "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH", "ELU", "ABS", "NEG"):
    register(_kind, check=check_by_lowering(lower_pointwise_f32), lower=lower_pointwise_f32, dtype="float32")
register("PRELU", check=check_by_lowering(lower_prelu_f32), lower=lower_prelu_f32, macs=macs_prelu, dtype="float32")
register("SOFTMAX", check=check_by_lowering(lower_softmax_f32), lower=lower_softmax_f32, dtype="float32")
