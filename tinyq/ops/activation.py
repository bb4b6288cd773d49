"""Activations: SOFTMAX, LOGISTIC, TANH, ELU, HARD_SWISH, LEAKY_RELU, PRELU, the RELU family, ABS, NEG;
and the unary math ops EXP, LOG, SQRT, RSQRT, SQUARE, GELU, LOG_SOFTMAX.

On int8, each lowering mirrors the Prepare of TFLite's kReference kernel (tensorflow/lite/kernels/
activations.cc; elementwise.cc for ABS, neg.cc for NEG), which is what the BUILTIN_REF resolver runs:

- SOFTMAX: reference_ops::Softmax in gemmlowp fixed point; Prepare computes the beta * scale
  multiplier (PreprocessSoftmaxScaling) and diff_min (CalculateInputRadius). The output is int8
  (scale 1/256, zero point -128) or int16 (Softmax<int8_t, int16_t>: scale 1/65536, zero point
  -32768, as TFLite Micro requires; the same arithmetic with a 16-bit output stage).
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

The unary math ops (exp.cc, elementwise.cc, activations.cc's LogSoftmax and Gelu), on int8:

- EXP, LOG, GELU: the reference builds a 256-entry table in Prepare (LUTPopulate<int8_t>) of expf,
  of x <= 0 ? the output's lowest value : logf(x), and of GeluTransform (0.5 x erfcf(-x / sqrt 2)) or
  GeluTransformApproximate (the tanhf form) by the `approximate` option; built here the same way, in
  float32 with the C library's functions, and run by tq_lut_s8.
- SQRT: SqrtEvalQuantized computes each element in float32, (int)(sqrtf(in_scale * (x - zp)) /
  out_scale) + zp, truncated, clamped: a function of the int8 value alone, so its 256 results are
  computed here (numpy's float32 sqrt and division are IEEE's, as the C library's) into a tq_lut_s8 table.
- RSQRT: RsqrtEvalQuantizedInt8's fixed point (GetInvSqrtQuantizedMultiplierExp's Newton-Raphson in
  Q3.28, then two MultiplyByQuantizedMultiplier steps by the multiplier 1 / (sqrtf(in_scale) *
  out_scale)), reproduced here in integers for each of the 256 values into a tq_lut_s8 table.
- LOG_SOFTMAX: reference_integer_ops::LogSoftmax in gemmlowp fixed point (tq_log_softmax_s8), with
  LogSoftmaxPrepare's input multiplier (PreprocessSoftmaxScaling, beta 1), its reverse multiplier
  (PreprocessLogSoftmaxScalingExp) and diff_min; output scale 16/256, zero point 127.
- SQUARE: refused: Square's Prepare takes float32 only.

SQRT and RSQRT are defined for inputs at or above the zero point: below it TFLite's Eval stops with an
error ("... only defined for non-negative / positive values"), and tinyq's table gives the zero
point's result there.

On int16 (zero points 0, as GenericPrepare and exp.cc's Prepare require; GELU's Prepare does not, so
tinyq takes any): EXP, LOG, RSQRT and GELU look up the 513-entry table LUTPopulate<int16_t> builds
(its float32 variant: lut_int16 with float32 arithmetic, checked against the interpreter's on every
int16 input) with TFLite's interpolation (tq_lut_s16); SQRT computes SqrtEvalQuantized<int16_t>'s
float32 expression in C (tq_sqrt_s16; sqrtf and the division are correctly rounded on every target,
hardware or soft float). LOG_SOFTMAX (no int16 kernel) and SQUARE are refused.

On float32: expf, logf, sqrtf, 1.0f / sqrtf, x * x, LogSoftmax's x - max - logf(sum of expf(x - max)),
and GELU with tanhf / erfcf (TFLite's float GELU uses Eigen's tanh and erfc: within FLOAT_TOLERANCE).
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

# The int8 SOFTMAX's arithmetic before its output stage, shared by the int8 and int16 outputs.
SOFTMAX_CORE = "include/tq_softmax_core.h"

KERNELS = kernel_table(
    # int8
    Kernel("tq_softmax_s8", "tq_softmax_s8_params", HEADER, ("activation/tq_softmax_s8.c", SOFTMAX_CORE)),
    Kernel("tq_softmax_s8_s16", "tq_softmax_s8_s16_params", HEADER, ("activation/tq_softmax_s8_s16.c", SOFTMAX_CORE)),
    # LOGISTIC, TANH, ELU, GELU, EXP, LOG, SQRT, RSQRT
    Kernel("tq_lut_s8", "tq_lut_s8_params", HEADER, ("activation/tq_lut_s8.c",)),
    Kernel("tq_log_softmax_s8", "tq_log_softmax_s8_params", HEADER, ("activation/tq_log_softmax_s8.c",)),
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
    Kernel("tq_lut_s16", "tq_lut_s16_params", INT16_HEADER, ("activation/tq_lut_s16.c", *INT16_DEPS)),  # EXP, LOG, RSQRT, GELU
    Kernel("tq_sqrt_s16", "tq_sqrt_s16_params", INT16_HEADER, ("activation/tq_sqrt_s16.c", *INT16_DEPS)),
    # float islands (FLOAT_ISLAND, tinyq/compiler/islands.py): int8 -> int8 runs tq_lut_s8
    Kernel("tq_table_s16", "tq_table_s16_params", "tq_table.h", ("activation/tq_table_s16.c",)),
    Kernel("tq_table_s8_s16", "tq_table_s8_s16_params", "tq_table.h", ("activation/tq_table_s8_s16.c",)),
    Kernel("tq_table_s16_s8", "tq_table_s16_s8_params", "tq_table.h", ("activation/tq_table_s16_s8.c",)),
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
    Kernel("tq_exp_f32", "tq_exp_f32_params", FLOAT_HEADER, ("activation/tq_exp_f32.c", *FLOAT_DEPS)),
    Kernel("tq_log_f32", "tq_log_f32_params", FLOAT_HEADER, ("activation/tq_log_f32.c", *FLOAT_DEPS)),
    Kernel("tq_sqrt_f32", "tq_sqrt_f32_params", FLOAT_HEADER, ("activation/tq_sqrt_f32.c", *FLOAT_DEPS)),
    Kernel("tq_rsqrt_f32", "tq_rsqrt_f32_params", FLOAT_HEADER, ("activation/tq_rsqrt_f32.c", *FLOAT_DEPS)),
    Kernel("tq_square_f32", "tq_square_f32_params", FLOAT_HEADER, ("activation/tq_square_f32.c", *FLOAT_DEPS)),
    Kernel("tq_gelu_f32", "tq_gelu_f32_params", FLOAT_HEADER, ("activation/tq_gelu_f32.c", *FLOAT_DEPS)),
    Kernel("tq_log_softmax_f32", "tq_log_softmax_f32_params", FLOAT_HEADER, ("activation/tq_log_softmax_f32.c", *FLOAT_DEPS)),
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


# The output types of an int8 SOFTMAX: kernel, output scale and zero point. reference_ops::Softmax writes
# exp / sum in units of 2^-8 (int8) or 2^-16 (int16) offset by the type's minimum; SoftmaxPrepare checks the
# int8 output's quantization, TFLite Micro's also the int16 one's (1/65536, -32768: what those values mean).
SOFTMAX_OUTPUTS = {
    "int8": ("tq_softmax_s8", 1.0 / 256, -128),
    "int16": ("tq_softmax_s8_s16", 1.0 / 65536, -32768),
}


def _softmax_check(g: Graph, op: Op) -> None:
    need(len([i for i in op.inputs if i >= 0]) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    src = need_dtype(g, op, op.inputs[0], "int8")
    dst = need_dtype(g, op, op.outputs[0], *SOFTMAX_OUTPUTS)
    need_quant(g, op, op.inputs[0])
    need_quant(g, op, op.outputs[0])
    need(not src.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(len(src.shape) >= 1, op, "input must have at least one dimension")
    need(tuple(src.shape) == tuple(dst.shape), op, f"output shape {list(dst.shape)} differs from input {list(src.shape)}")
    _, scale, zp = SOFTMAX_OUTPUTS[dst.dtype]
    qo = dst.quant
    need(qo.zp == zp, op, f"output zero point is {qo.zp}, TFLite requires {zp} for {dst.dtype} softmax output")
    need(abs(float(qo.s) - scale) <= 0.001 * scale, op,
         f"output scale is {qo.s:g}, TFLite requires 1/{round(1 / scale)} for {dst.dtype} softmax output")
    depth = int(src.shape[-1])
    need(1 <= depth <= SOFTMAX_MAX_DEPTH, op, f"softmax over {depth} elements: at most {SOFTMAX_MAX_DEPTH} supported")
    beta = _option(op, "beta")
    try:
        softmax_params(float(F32(beta)), float(F32(src.quant.s)))
    except ValueError as e:
        need(False, op, f"beta {beta:g} with input scale {src.quant.s:g} cannot be applied ({e})")


def _softmax_lower(g: Graph, op: Op) -> KernelCall:
    """int8 -> int8 (tq_softmax_s8) or int8 -> int16 (tq_softmax_s8_s16): the same parameters."""
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    beta = _option(op, "beta")
    mult, left_shift, diff_min = softmax_params(float(F32(beta)), float(F32(src.quant.s)))
    depth = int(src.shape[-1])
    return _call(
        op,
        "tq_softmax_s8_s16" if dst.dtype == "int16" else "tq_softmax_s8",
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

    The interpreter calls the C library's expf / tanhf / expm1f / logf / erfcf while building its
    tables (and logf in CheckedLog2); calling the same functions here reproduces them exactly.
    Without a loadable libm, numpy's float32 functions are used, and math.erfc rounded to float32
    (they agreed with glibc on every table tried, but are not guaranteed to).
    """
    global _LIBM
    if _LIBM is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            for fn in ("expf", "tanhf", "logf", "expm1f", "erfcf"):
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


def _erfcf(x: np.float32) -> np.float32:
    lib = _libm()
    return F32(lib.erfcf(float(x))) if lib else F32(math.erfc(float(x)))


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
    std::round, + zero point), then truncation to int32 and clamping to int8. Values beyond int32
    (EXP's overflow, say) saturate: the conversion is undefined in C++, and the interpreter's table
    holds 127 there (tests/test_ops_math.py sees it).
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
            # static_cast<int32_t>: truncation, saturating out of range (NaN, which no transform here
            # yields, taken as INT32_MIN).
            q = -(2**31) if np.isnan(total) else int(min(max(float(total), -(2.0**31)), 2.0**31 - 1))
            table[v & 0xFF] = max(-128, min(127, q))
    return table


GELU_MINUS_SQRT1_2 = F32(-0.70710678118654752440)  # static_cast<float>(-M_SQRT1_2)
GELU_SQRT_2_OVER_PI = F32(1.12837916709551257390 * 0.70710678118654752440)  # M_2_SQRTPI * M_SQRT1_2


def _gelu_f32(x: np.float32) -> np.float32:
    """GeluTransform: 0.5f * x * std::erfc(x * (float)-M_SQRT1_2), in float32."""
    x = F32(x)
    return F32(F32(F32(0.5) * x) * _erfcf(F32(x * GELU_MINUS_SQRT1_2)))


def _gelu_approximate_f32(x: np.float32) -> np.float32:
    """GeluTransformApproximate: 0.5f * x * (1.f + std::tanh(kSqrt2dPi * (x + 0.044715f * x * x * x))),
    in float32, kSqrt2dPi = (float)(M_2_SQRTPI * M_SQRT1_2)."""
    x = F32(x)
    cube = F32(F32(F32(F32(0.044715) * x) * x) * x)
    return F32(F32(F32(0.5) * x) * F32(F32(1.0) + _tanhf(F32(GELU_SQRT_2_OVER_PI * F32(x + cube)))))


def _gelu_approximate(op: Op) -> bool:
    """GeluOptions.approximate (false without an options table, TFLite's default)."""
    return bool(getattr(op.options, "approximate", False)) if op.options is not None else False


def lut_transform(g: Graph, op: Op, dtype: str = "int8"):
    """The float32 function TFLite's Prepare tabulates for `op` (LUTPopulate's transform)."""
    if op.kind in LUT_FUNCTIONS:
        return LUT_FUNCTIONS[op.kind]
    if op.kind == "EXP":
        return _expf
    if op.kind == "GELU":
        return _gelu_approximate_f32 if _gelu_approximate(op) else _gelu_f32
    qo = g.tensor(op.outputs[0]).quant
    if op.kind == "LOG":
        # LogLUTPrepare: x <= 0 maps to the output's lowest value, (type min - zero point) * scale.
        lowest = F32(F32(np.iinfo(dtype).min - int(qo.zp)) * F32(qo.s))
        return lambda x: lowest if x <= 0 else logf(F32(x))
    if op.kind == "RSQRT":
        # GenericPrepare's int16 RSQRT table: x <= 0 maps to 32767 * output scale (the int16 maximum).
        highest = F32(F32(np.iinfo(dtype).max) * F32(qo.s))
        return lambda x: highest if x <= 0 else F32(F32(1.0) / np.sqrt(F32(x)))
    raise AssertionError(f"no table transform for {op.kind}")


def sqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> tuple[np.ndarray, float]:
    """SqrtEvalQuantized<int8_t> for each int8 value, as a table indexed by (uint8_t)x, and the largest
    quotient sqrtf(...) / out_scale (before truncation). In float32: in_scale * (x - zp), sqrtf, / out_scale;
    static_cast<int> truncates, + zero point, clamped. Values below the zero point (where TFLite's Eval
    fails) take the zero point's result."""
    v = np.arange(-128, 128, dtype=np.int64)
    deq = (F32(in_scale) * np.maximum(v - in_zp, 0).astype(F32)).astype(F32)
    quotient = (np.sqrt(deq).astype(F32) / F32(out_scale)).astype(F32)
    q = np.trunc(quotient.astype(np.float64)).astype(np.int64) + out_zp
    table = np.empty(256, dtype=np.int8)
    table[v & 0xFF] = np.clip(q, -128, 127)
    return table, float(quotient.max())


# --- RSQRT's fixed point, on Python ints (TFLite's int32 arithmetic; a wrap raises OverflowError).

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _int32(v: int) -> int:
    if not INT32_MIN <= v <= INT32_MAX:
        raise OverflowError(f"{v} overflows int32")
    return v


def _srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    t = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
    return t // 2**31 if t >= 0 else -((-t) // 2**31)  # C division truncates toward zero


def _rounding_divide_by_pot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _mul_by_quantized_multiplier(x: int, mult: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier (double rounding), refusing a left shift that overflows."""
    left = max(shift, 0)
    if left > 30:
        raise OverflowError(f"left shift {left}")
    return _rounding_divide_by_pot(_srdhm(_int32(x << left), mult), max(-shift, 0))


def _saturating_mul_by_pot(x: int, e: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<e> for e >= 0."""
    threshold = (1 << (31 - e)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << e


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp(value, kReverseShift = -1): 1 / sqrt(value) as (multiplier,
    left shift), by five Newton-Raphson steps in Q3.28."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = (32 - value.bit_length() - 1) // 2 - 1  # (CountLeadingZeros - 1) / 2 - 1 bit pairs
    shift -= pairs
    value <<= 2 * pairs
    half_input = _rounding_divide_by_pot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)  # 1.5 in Q3.28
    x = 1 << 28
    for _ in range(5):
        x3 = _saturating_mul_by_pot(_srdhm(_srdhm(x, x), x), 6)
        x = _saturating_mul_by_pot(_int32(_srdhm(half_three, x) - _srdhm(half_input, x3)), 3)
    x = _srdhm(x, 1518500250)  # * sqrt(2) / 2
    if shift < 0:
        x, shift = _int32(x << -shift), 0
    return x, -shift


RSQRT_SHIFT = 20  # RsqrtEvalQuantizedInt8's kShift


def rsqrt_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    """SetRsqrtOutputMultiplier: 1. / (std::sqrt(in_scale) * out_scale), the product in float32."""
    return quantize_multiplier(1.0 / float(F32(F32(np.sqrt(F32(in_scale))) * F32(out_scale))))


def rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """RsqrtEvalQuantizedInt8 for each int8 value, as a table indexed by (uint8_t)x: 127 at the zero
    point, else 1 / sqrt(x - zp) in fixed point, brought to 2^20 units and rescaled by the output
    multiplier, + zero point, clamped. Values below the zero point (where TFLite's Eval fails) take the
    zero point's result. Raises OverflowError where TFLite's int32 arithmetic would wrap."""
    mult, shift = rsqrt_multiplier(in_scale, out_scale)
    table = np.empty(256, dtype=np.int8)
    for v in range(-128, 128):
        value = max(v - in_zp, 0)
        if value == 0:
            q = 127
        else:
            inv_mult, inv_shift = inv_sqrt_multiplier(value)
            data = _mul_by_quantized_multiplier(1, inv_mult, inv_shift + RSQRT_SHIFT)
            q = _mul_by_quantized_multiplier(data, mult, shift - RSQRT_SHIFT) + out_zp
        table[v & 0xFF] = max(-128, min(127, q))
    return table


def _sqrt_quotient_fits(op: Op, quotient: float) -> None:
    need(quotient < 2.0**31 - 2.0**16, op, f"sqrt of the largest input over the output scale is {quotient:g}: "
         "beyond int32, where TFLite's conversion is undefined (output scale too small)")


def _table_s8(g: Graph, op: Op) -> np.ndarray:
    """The int8 table of a table-driven op (see lut_table, sqrt_table, rsqrt_table), validating it."""
    s_in, zp_in, s_out, zp_out = _scales(g, op)
    need(s_in > 0 and s_out > 0 and np.isfinite(s_in) and np.isfinite(s_out), op, "scales must be positive numbers")
    if op.kind == "SQRT":
        table, quotient = sqrt_table(s_in, zp_in, s_out, zp_out)
        _sqrt_quotient_fits(op, quotient)
        return table
    if op.kind == "RSQRT":
        try:
            return rsqrt_table(s_in, zp_in, s_out, zp_out)
        except OverflowError:
            raise UnsupportedModel(f"{where(op)}: input scale {s_in:g} with output scale {s_out:g} overflows int32 in "
                                   "TFLite's fixed-point RSQRT (scales too small)") from None
    return lut_table(s_in, zp_in, s_out, zp_out, lut_transform(g, op))


def _lut_check(g: Graph, op: Op) -> None:
    _check_unary(g, op)
    if op.kind == "LOGISTIC":
        qo = g.tensor(op.outputs[0]).quant
        need(float(F32(qo.s)) == 1.0 / 256, op, f"output scale is {qo.s:g}, TFLite requires 1/256 for int8 logistic")
    _table_s8(g, op)


# The float function each table-driven int8 op evaluates per input value (its Prepare's transform);
# EXP, LOG, GELU: lut_transform.
LUT_FUNCTIONS = {"LOGISTIC": _logistic_f32, "TANH": _tanh_f32, "ELU": _elu_f32}


def _lut_lower(g: Graph, op: Op) -> KernelCall:
    return _call(
        op,
        "tq_lut_s8",
        {"size": g.tensor(op.inputs[0]).size, "table": ArrayRef("table")},
        [ConstArray("table", "int8_t", _table_s8(g, op))],
    )


# --------------------------------------------------------------------------- LOG_SOFTMAX

LOG_SOFTMAX_OUTPUT = (16.0 / 256, 127)  # LogSoftmaxPrepare's required output scale and zero point


def log_softmax_params(input_scale: float) -> dict:
    """LogSoftmaxPrepare (kReference, beta 1): the input multiplier and left shift
    (PreprocessSoftmaxScaling), the reverse multiplier of 2^(31 - left shift) / multiplier
    (PreprocessLogSoftmaxScalingExp, QuantizeMultiplierSmallerThanOneExp) and diff_min.
    Raises ValueError where TFLite's Prepare would abort."""
    mult, left_shift, diff_min = softmax_params(1.0, input_scale)
    if left_shift < 1:
        raise ValueError(f"left shift {left_shift}: 2^(31 - shift) overflows int")
    reverse = float(1 << (31 - left_shift)) / float(mult)
    if not 0.0 < reverse < 1.0:
        raise ValueError(f"reverse scaling divisor {reverse!r} is not below 1")
    rev_mult, rev_shift = quantize_multiplier(reverse)
    if rev_shift > 0:
        raise ValueError(f"reverse scaling divisor {reverse!r} rounds to 1")
    return {"input_multiplier": mult, "input_left_shift": left_shift, "reverse_multiplier": rev_mult,
            "reverse_shift": rev_shift, "diff_min": diff_min}


def _log_softmax_plan(g: Graph, op: Op) -> dict:
    _check_unary(g, op)
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(len(src.shape) >= 1 and tuple(src.shape) == tuple(dst.shape), op,
         f"output shape {list(dst.shape)} differs from input {list(src.shape)}")
    qo = dst.quant
    need(float(F32(qo.s)) == LOG_SOFTMAX_OUTPUT[0] and qo.zp == LOG_SOFTMAX_OUTPUT[1], op,
         f"output scale {qo.s:g} and zero point {qo.zp}: TFLite requires 16/256 and 127 for int8 LOG_SOFTMAX")
    depth = int(src.shape[-1])
    need(1 <= depth <= SOFTMAX_MAX_DEPTH, op, f"LOG_SOFTMAX over {depth} elements: at most {SOFTMAX_MAX_DEPTH} supported")
    try:
        params = log_softmax_params(float(F32(src.quant.s)))
    except ValueError as e:
        raise UnsupportedModel(f"{where(op)}: input scale {src.quant.s:g} cannot be applied ({e})") from None
    return {"rows": src.size // depth, "depth": depth, **params}


def _log_softmax_check(g: Graph, op: Op) -> None:
    _log_softmax_plan(g, op)


def _log_softmax_lower(g: Graph, op: Op) -> KernelCall:
    return _call(op, "tq_log_softmax_s8", _log_softmax_plan(g, op))


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


def lut_int16(in_scale: float, in_zp: int, out_scale: float, out_zp: int, fn, real=float) -> np.ndarray:
    """LUTPopulateInt16<FloatT>: fn sampled at 512 steps over the input range, each entry moved by half
    the error its linear interpolation makes at the step's midpoint, std::round half away from zero,
    every step in `real`: float (double) for SoftmaxPrepare's tables (LUTPopulate on double with the
    C library's exp; the float32 variant differs in two entries of the 1 / (1 + x) table, which the
    interpreter showed), np.float32 for LUTPopulate<int16_t> on float (EXP, LOG, RSQRT, GELU; `fn`
    then takes and returns np.float32). An entry that comes out NaN (inf - inf where EXP overflows)
    is 0, what the interpreter's static_cast<int16_t> gives for it."""
    lo, hi = -32768, 32767
    s_in, s_out = real(in_scale), real(out_scale)
    input_min, input_max = real(s_in * real(lo - in_zp)), real(s_in * real(hi - in_zp))
    output_min, output_max = real(s_out * real(lo - out_zp)), real(s_out * real(hi - out_zp))
    step = real(real(input_max - input_min) / real(LUT_STEPS))
    half_step = real(step / real(2))
    inv = real(real(hi - lo + 1) / real(output_max - output_min))

    def rnd(v):
        return v if not math.isfinite(v) else real(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))

    def clamp(v) -> int:
        return 0 if math.isnan(v) else int(min(max(float(v), float(lo)), float(hi)))

    def f(x):
        return real(fn(x))

    table = np.zeros(LUT_STEPS + 1, dtype=np.int16)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(LUT_STEPS):
            x = real(input_min + real(real(i) * step))
            val, midpoint, nxt = f(x), f(real(x + half_step)), f(real(input_min + real(real(i + 1) * step)))
            sample = rnd(real(val * inv))
            interp = rnd(real(real(real(nxt * inv) + sample) / real(2)))
            err = real(interp - rnd(real(midpoint * inv)))
            table[i] = clamp(real(sample - rnd(real(err / real(2)))))
        table[LUT_STEPS] = clamp(rnd(real(f(input_max) * inv)))
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


# --------------------------------------------------------------------------- EXP, LOG, RSQRT, GELU, SQRT (int16x8)


def _math_s16_tensors(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    """The int16 input and output of a unary math op: symmetric (zero points 0, as exp.cc's Prepare and
    GenericPrepare require), but for GELU, whose Prepare takes any zero point (its table covers the
    int16 range around it)."""
    need(len([i for i in op.inputs if i >= 0]) == 1, op, "expects one input and one output")
    if op.kind == "GELU":
        need(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
        x = need_dtype(g, op, op.inputs[0], "int16")
        y = need_dtype(g, op, op.outputs[0], "int16")
        for i in (op.inputs[0], op.outputs[0]):
            q = need_quant(g, op, i)
            need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{g.tensor(i).name}' has scale {q.s}, expected a positive number")
        need(not x.is_const, op, "a constant input is not supported (fold it before conversion)")
    else:
        x, y = int16_io(g, op)
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    return x, y


def lower_lut_s16(g: Graph, op: Op) -> KernelCall:
    x, y = _math_s16_tensors(g, op)
    qi, qo = x.quant, y.quant
    table = lut_int16(float(F32(qi.s)), int(qi.zp), float(F32(qo.s)), int(qo.zp), lut_transform(g, op, "int16"), real=F32)
    return _call(op, "tq_lut_s16", {"size": x.size, "table": ArrayRef("table")},
                 arrays=[ConstArray("table", "int16_t", table)], in_place="direct")


def lower_sqrt_s16(g: Graph, op: Op) -> KernelCall:
    x, y = _math_s16_tensors(g, op)
    s_in, s_out = F32(x.quant.s), F32(y.quant.s)
    with np.errstate(over="ignore"):
        _sqrt_quotient_fits(op, float(F32(np.sqrt(F32(s_in * F32(32767))) / s_out)))
    return _call(op, "tq_sqrt_s16", {"size": x.size, "in_scale": float(s_in), "out_scale": float(s_out)}, in_place="direct")


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


def lower_gelu_f32(g: Graph, op: Op) -> KernelCall:
    x, _ = _unary_f32(g, op)
    return _call(op, "tq_gelu_f32", {"size": x.size, "approximate": int(_gelu_approximate(op))}, in_place="direct")


def lower_log_softmax_f32(g: Graph, op: Op) -> KernelCall:
    x, y = _unary_f32(g, op)
    need(len(x.shape) >= 1 and tuple(x.shape) == tuple(y.shape), op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    depth = int(x.shape[-1])
    return _call(op, "tq_log_softmax_f32", {"rows": x.size // depth, "depth": depth}, in_place="direct")


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

# The unary math ops (see the module docstring).
MATH_TABLE_OPS = ("EXP", "LOG", "GELU", "SQRT", "RSQRT")  # int8: one tq_lut_s8 table each
for _kind in MATH_TABLE_OPS:
    register(_kind, check=_lut_check, lower=_lut_lower)
register("LOG_SOFTMAX", check=_log_softmax_check, lower=_log_softmax_lower)
for _kind in ("EXP", "LOG", "GELU", "RSQRT"):
    register(_kind, check=check_by_lowering(lower_lut_s16), lower=lower_lut_s16, dtype="int16")
register("SQRT", check=check_by_lowering(lower_sqrt_s16), lower=lower_sqrt_s16, dtype="int16")
for _dtype in ("int8", "int16"):
    refuse("SQUARE", f"TFLite's reference interpreter has no {_dtype} SQUARE kernel (Square's Prepare takes float32 "
           "only; TensorFlow's converter leaves SQUARE in float32), so there is nothing to be bit-exact with; write "
           "x * x as a multiplication (keras.layers.Multiply()([x, x]) converts to MUL), or compile the unquantized "
           "float32 .tflite of the model", dtype=_dtype)
refuse("LOG_SOFTMAX", "TFLite's reference interpreter has no int16 LOG_SOFTMAX kernel (LogSoftmaxEval takes float32, "
       "uint8 and int8), so there is nothing to be bit-exact with; convert this model with `--mode int8`", dtype="int16")
for _kind in ("EXP", "LOG", "SQRT", "RSQRT", "SQUARE"):
    register(_kind, check=check_by_lowering(lower_pointwise_f32), lower=lower_pointwise_f32, dtype="float32")
register("GELU", check=check_by_lowering(lower_gelu_f32), lower=lower_gelu_f32, dtype="float32")
register("LOG_SOFTMAX", check=check_by_lowering(lower_log_softmax_f32), lower=lower_log_softmax_f32, dtype="float32")


# --------------------------------------------------------------------------- float islands

# FLOAT_ISLAND (not a TFLite builtin): a DEQUANTIZE -> elementwise float ops -> QUANTIZE island that the
# float_islands pass (tinyq/compiler/islands.py) replaced by a table of its results for every input value;
# inputs (source, table), the table a constant indexed by the source's bit pattern.
ISLAND_KERNELS = {("int8", "int8"): "tq_lut_s8", ("int16", "int16"): "tq_table_s16",
                  ("int8", "int16"): "tq_table_s8_s16", ("int16", "int8"): "tq_table_s16_s8"}


def lower_float_island(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects a source and a table")
    x, table, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    func = ISLAND_KERNELS.get((x.dtype, y.dtype))
    need(func is not None, op, f"maps {x.dtype} to {y.dtype}; float island tables map int8 or int16 to int8 or int16")
    entries = 1 << (8 * np.dtype(x.dtype).itemsize)
    need(table.is_const and table.dtype == y.dtype and table.size == entries, op,
         f"table '{table.name}' must hold {entries} {y.dtype} values")
    need(x.size == y.size, op, f"maps {x.size} values to {y.size}")
    return KERNELS[func].call(params={"size": x.size, "table": TensorRef(table.index)}, inputs=[x.index], outputs=[y.index],
                              in_place="direct" if x.dtype == y.dtype else None)


for _dtype in ("int8", "int16"):
    register("FLOAT_ISLAND", check=check_by_lowering(lower_float_island), lower=lower_float_island, dtype=_dtype)
