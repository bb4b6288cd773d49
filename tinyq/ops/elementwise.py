"""Element-wise ops with TFLite's broadcasting: ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV,
ADD_N, the comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL), SELECT, SELECT_V2 and
LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT.

    op                  int8   int16 (int16x8)   float32   other          fused activation
    ADD                 yes    yes               yes       int32          yes
    SUB                 yes    yes               yes       int32          yes
    MUL                 yes    yes               yes       int32          yes
    DIV                 yes    refused (2)       yes       int32 refused  yes
    MAXIMUM, MINIMUM    yes    yes               yes       -              -
    SQUARED_DIFFERENCE  yes    refused (1)       yes       -              -
    ADD_N               refused (3)              yes       int32          -
    the comparisons     yes    yes               yes       int32, bool (4)
    SELECT, SELECT_V2   yes    yes               yes       int32, bool    -
    LOGICAL_*           -      -                 -         bool           -

Integer kernels match TFLite's reference path (BUILTIN_REF) bit for bit (tq_elementwise.h, tq_int16.h):
- ADD, SUB: add.cc / sub.cc Prepare, the general path (PrepareGeneralSubOp): left_shift 20 (int8) or
  15 (int16), input multipliers in_scale / (2 * max in_scale), output multiplier
  2 * max in_scale / (2^left_shift * out_scale), through QuantizeMultiplierSmallerThanOneExp;
  reference_integer_ops::AddFunc, reference_ops::Sub / BroadcastQuantSubSlow per element (SUB takes
  the difference of the two rescaled inputs). An output multiplier of 1 or more is refused: add.cc's
  Prepare aborts on it (QuantizeMultiplierSmallerThanOneExp's check), sub.cc quantizes it with a
  left shift that the reference kernels' MultiplyByQuantizedMultiplierSmallerThanOneExp cannot apply.
  int16 runs the general path unless pot_scale_int16 is set and all three scales are powers of two
  (CheckedLog2): that LSTM path (Add16 / Sub16) is refused; `tinyq convert --mode int16x8` writes
  pot_scale_int16 false.
- MUL: mul.cc Prepare, one multiplier in1_scale * in2_scale / out_scale computed in float32 (the
  scales are floats in TfLiteQuantizationParams); reference_integer_ops::MulElementwise, on int8 or
  int16 (zero points 0) values.
- MAXIMUM, MINIMUM: maximum_minimum.cc compares the stored values (el1 > el2 ? el1 : el2), with no
  requantization: the converter gives the inputs and the output one scale and zero point.
- SQUARED_DIFFERENCE (int8): squared_difference.cc Prepare, left_shift 7, the input multipliers of
  ADD, output multiplier (2 * max in_scale)^2 / (2^14 * out_scale); the rescaled difference squared
  in int32. (1) TFLite has no int16 kernel (its interpreter fails on such a model), so neither has tinyq.
- DIV (int8): div.cc Prepare, one multiplier in1_scale / (in2_scale * out_scale) in float32;
  reference_ops::DivElementwise per element: the divisor's Q0.31 reciprocal (GetReciprocal), the
  numerator shifted left by its sign bits, a rounding right shift by recip_shift + headroom - out_shift.
  That shift reaches 32 and more for some operand pairs (every zero numerator, small numerators over
  large divisors), where C++ leaves RoundingDivideByPOT undefined: tq_div_s8 computes what the
  reference's x86-64 build does there (the shift counts the processor masks), checked on every operand
  pair against the interpreter. A divisor at its zero point stops the reference (CheckNonZero); the
  kernel returns an error there. (2) TensorFlow's converter does not quantize DIV to 16x8.
- ADD, SUB, MUL on int32 (index arithmetic: the converter writes an Embedding's negative-index wrap as
  LESS, ADD, SELECT before its GATHER): add.cc, sub.cc, mul.cc add, subtract, multiply the stored values
  (reference_ops::Add, SubWithActivation, Mul) and clamp to the fused activation's range
  (CalculateActivationRange<int32_t>); overflow wraps, as the reference's does in practice (C++ leaves
  it undefined; the kernels compute modulo 2^32).
- ADD_N: add_n.cc adds float32 and int32 (reference_ops::AddN, summed from 0 in input order).
  (3) It has no int8 or int16 kernel; the converter writes keras.layers.Add of 3 or more inputs as
  chained ADDs.
- The comparisons (bool outputs): comparisons.cc. int8 (ComparisonQuantized): each input offset by
  its zero point, shifted left by 8 and scaled by its own scale as a multiplier (QuantizeMultiplier-
  SmallerThanOneExp, so scales of 1 or more are refused: the reference aborts at 1 and shifts by a
  negative count above), the two int32 values compared; int16: EQUAL, NOT_EQUAL the same (quantized
  tensors), LESS, LESS_EQUAL, GREATER, GREATER_EQUAL the stored values (GREATER runs as LESS with the
  inputs swapped); float32, int32 and bool (4: EQUAL, NOT_EQUAL only) compare as stored.
- SELECT, SELECT_V2 (select.cc): the stored values copied (any element type: one kernel on 1, 2 or
  4 bytes); SELECT's condition is x's shape, a scalar or one value per index of x's first axis
  (RankOneSelect); SELECT_V2 broadcasts condition, x and y.
- LOGICAL_AND, LOGICAL_OR (broadcasting), LOGICAL_NOT on bool tensors (uint8_t 0 / 1).
float32: the same broadcasting; ADD, SUB, MUL, DIV clamp to the fused activation's range (NONE to
+-FLT_MAX, as TFLite's ActivationFunctionWithMinMax does: x / 0 becomes +-FLT_MAX, 0 / 0 stays NaN),
the others do not clamp.

Broadcasting: identical input shapes use a flat loop; anything else a 4-D broadcast loop (ranks <= 4;
TFLite's reference loop, BroadcastBinaryOpSimple, goes to rank 8). The kernels share one walk over
the output (tq_bcast_iter in tq_elementwise.h); SELECT_V2 reads its condition through its own strides.
"""

from __future__ import annotations

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.activation import checked_log2
from tinyq.ops.base import (
    FLOAT_DEPS,
    FLOAT_HEADER,
    INT16_DEPS,
    INT16_HEADER,
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    activation_range,
    fast_kernels,
    float_activation_range,
    kernel_table,
    need,
    need_dtype,
    need_float32,
    need_int16,
    need_quant,
    quantize_multiplier,
    refuse,
    register,
    where,
)

HEADER = "tq_elementwise.h"
LEFT_SHIFT = 20  # add.cc / sub.cc: the 8-bit general path
LEFT_SHIFT_S16 = 15  # add.cc / sub.cc: the general int16 path
LEFT_SHIFT_SQDIFF = 7  # squared_difference.cc (int8)


def _s8(op: str) -> Kernel:
    """tq_<op>_s8 in elementwise/tq_<op>_s8.c, its params struct tq_<op>_s8_params in tq_elementwise.h;
    _s16 and _f32 likewise, declared in tq_int16.h and tq_float.h."""
    return Kernel(f"tq_{op}_s8", f"tq_{op}_s8_params", HEADER, (f"elementwise/tq_{op}_s8.c",))


def _s16(op: str) -> Kernel:
    return Kernel(f"tq_{op}_s16", f"tq_{op}_s16_params", INT16_HEADER, (f"elementwise/tq_{op}_s16.c", *INT16_DEPS))


def _f32(op: str) -> Kernel:
    return Kernel(f"tq_{op}_f32", f"tq_{op}_f32_params", FLOAT_HEADER, (f"elementwise/tq_{op}_f32.c", *FLOAT_DEPS))


def _any(name: str) -> Kernel:
    """tq_<name> in elementwise/tq_<name>.c, declared in tq_elementwise.h: the int32, bool and any-type kernels."""
    return Kernel(f"tq_{name}", f"tq_{name}_params", HEADER, (f"elementwise/tq_{name}.c",))


KERNELS = kernel_table(
    # int8
    _s8("add"),
    # the DSP cores' loop in assembler beside it (tq_add_dsp.S, empty elsewhere)
    Kernel("tq_add_fast_s8", "tq_add_fast_s8_params", HEADER, ("elementwise/tq_add_fast_s8.c", "elementwise/tq_add_dsp.S")),
    _s8("sub"),
    _s8("mul"),
    _s8("maximum"),
    _s8("minimum"),
    _s8("squared_difference"),
    # int16x8
    _s16("add"),
    # the fast twin of tq_add_s16: one 64-bit rounding step per rescale (tq_int16_fast.h)
    Kernel("tq_add_s16_fast", "tq_add_s16_params", "tq_int16_fast.h", ("elementwise/tq_add_s16_fast.c", "include/tq_int16.h",
                                                                       *INT16_DEPS)),
    _s16("sub"),
    _s16("mul"),
    _s16("maximum"),
    _s16("minimum"),
    # float32
    _f32("add"),
    _f32("sub"),
    _f32("mul"),
    _f32("maximum"),
    _f32("minimum"),
    _f32("squared_difference"),
    # DIV, ADD_N, the comparisons (bool outputs)
    Kernel("tq_div_s8", "tq_div_s8_params", HEADER, ("elementwise/tq_div_s8.c", "include/tq_activation.h")),
    _f32("div"),
    _f32("add_n"),
    _any("add_n_s32"),
    # int32: ADD, SUB, MUL (index arithmetic)
    _any("add_s32"),
    _any("sub_s32"),
    _any("mul_s32"),
    _s8("compare"),
    _s16("compare"),
    _f32("compare"),
    _any("compare_s32"),
    _any("compare_bool"),
    # any element type: SELECT / SELECT_V2; bool: LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT
    _any("select"),
    _any("logical_and"),
    _any("logical_or"),
    _any("logical_not"),
)


# --------------------------------------------------------------------------- operands and broadcasting


def broadcast_shape(g: Graph, op: Op) -> dict:
    """The tq_bcast_s8 parameters: flat loop for equal shapes, strides for a 4-D broadcast loop."""
    a, b, y = (g.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    for t in (a, b, y):
        need(len(t.shape) <= 4, op, f"tensor '{t.name}' has shape {list(t.shape)}: broadcasting supports ranks up to 4")
    try:
        full = tuple(int(d) for d in np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise UnsupportedModel(f"{where(op)}: input shapes {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    need(tuple(y.shape) == full, op, f"output shape {list(y.shape)} does not match the broadcast shape {list(full)}")
    size = int(y.size)
    zero = {"n": 0, "h": 0, "w": 0, "c": 0}
    if tuple(a.shape) == tuple(b.shape):
        return {"broadcast": 0, "size": size, "out": {"n": 1, "h": 1, "w": 1, "c": size}, "in1_stride": zero, "in2_stride": zero}
    out4 = (1,) * (4 - len(full)) + full
    return {
        "broadcast": 1,
        "size": size,
        "out": dict(zip("nhwc", out4)),
        "in1_stride": _strides(a.shape, out4),
        "in2_stride": _strides(b.shape, out4),
    }


def _strides(shape: tuple[int, ...], out4: tuple[int, ...]) -> dict:
    s4 = (1,) * (4 - len(shape)) + tuple(shape)
    strides = []
    step = 1
    for d in reversed(s4):
        strides.append(step)
        step *= d
    strides.reverse()
    # An axis the input broadcasts along (extent 1 against a larger output) reads one element.
    return {k: st if d == o and d > 1 else 0 for k, st, d, o in zip("nhwc", strides, s4, out4)}


def _in_place(shape: dict) -> str | None:
    """The flat loop reads element i of both inputs before writing element i; the broadcast loop may not."""
    return None if shape["broadcast"] else "direct"


def _operands(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, Tensor]:
    """(in1, in2, out), all of `dtype`; integer ones quantized per tensor with a usable scale (int16: symmetric)."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
    if dtype == "float32":
        a, b, y = need_float32(g, op, *op.inputs, *op.outputs)
        return a, b, y
    if dtype == "int16":
        a, b, y = (need_int16(g, op, i) for i in (*op.inputs, *op.outputs))
        return a, b, y
    for i in (*op.inputs, *op.outputs):
        need_dtype(g, op, i, dtype)
        q = need_quant(g, op, i)
        need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{g.tensor(i).name}' has scale {q.s}, expected a positive number")
    a, b, y = (g.tensor(i) for i in (*op.inputs, *op.outputs))
    return a, b, y


def _need_zero_points_in_range(op: Op, *tensors: Tensor) -> None:
    """PrepareGeneralSubOp / add.cc / squared_difference.cc: every zero point within the integer type."""
    for t in tensors:
        lo, hi = int(np.iinfo(t.dtype).min), int(np.iinfo(t.dtype).max)
        need(lo <= t.quant.zp <= hi, op, f"tensor '{t.name}' has zero point {t.quant.zp}, outside {t.dtype}'s [{lo}, {hi}]")


def _fused(op: Op) -> int:
    return int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0


def _offsets(a: Tensor, b: Tensor, y: Tensor) -> dict:
    return {"in1_offset": -a.quant.zp, "in2_offset": -b.quant.zp, "out_offset": y.quant.zp}


def _rescale(op: Op, a: Tensor, b: Tensor, y: Tensor, left_shift: int, squared: bool = False) -> dict:
    """The multipliers of add.cc / sub.cc's general path (or squared_difference.cc's, `squared`).

    Prepare computes `2 * std::max(scale1, scale2)` on float scales: a float32 doubled, exact, then
    held in a double, as are the ratios below. `(1 << left_shift) * out_scale` is a float product,
    exact (a power of two), so Python's doubles give Prepare's values bit for bit."""
    s1, s2, so = float(a.quant.s), float(b.quant.s), float(y.quant.s)
    twice_max = 2.0 * max(s1, s2)
    if squared:
        real_out = (twice_max * twice_max) / ((1 << (2 * left_shift)) * so)
    else:
        real_out = twice_max / ((1 << left_shift) * so)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(real_out)
    need(
        sh1 <= 0 and sh2 <= 0 and sho <= 0,
        op,
        f"output scale {so:g} is too small for the inputs' scales ({s1:g}, {s2:g}): the output rescale {real_out:g} "
        "must be below 1 (TFLite's reference kernel cannot scale up)",
    )
    return {"left_shift": left_shift, "in1_mult": m1, "in1_shift": sh1, "in2_mult": m2, "in2_shift": sh2, "out_mult": mo, "out_shift": sho}


def _int16_pot_path(op: Op, a: Tensor, b: Tensor, y: Tensor) -> bool:
    """Whether add.cc / sub.cc take their power-of-two int16 path: pot_scale_int16 set (a missing
    options table reads as false) and all three scales powers of two by CheckedLog2."""
    if op.options is None or not bool(getattr(op.options, "potScaleInt16", False)):
        return False
    return all(checked_log2(float(t.quant.s))[0] for t in (a, b, y))


def _need_general_int16(op: Op, a: Tensor, b: Tensor, y: Tensor) -> None:
    scales = ", ".join(f"{float(t.quant.s):g}" for t in (a, b, y))
    need(
        not _int16_pot_path(op, a, b, y),
        op,
        f"sets pot_scale_int16 and its scales ({scales}) are powers of two, so TFLite runs its power-of-two int16 "
        f"{op.kind} (the LSTM path), which tinyq does not implement; convert with `tinyq convert --mode int16x8` "
        "(pot_scale_int16 false)",
    )


# --------------------------------------------------------------------------- ADD, SUB (int8, int16)


def _add_sub_params(g: Graph, op: Op, dtype: str) -> dict:
    a, b, y = _operands(g, op, dtype)
    _need_zero_points_in_range(op, a, b, y)
    if dtype == "int16":
        _need_general_int16(op, a, b, y)  # zero points are 0 (need_int16): no offsets
    lo, hi = activation_range(_fused(op), y)
    left_shift = LEFT_SHIFT if dtype == "int8" else LEFT_SHIFT_S16
    return {"shape": broadcast_shape(g, op), **_offsets(a, b, y), **_rescale(op, a, b, y, left_shift), "act_min": lo, "act_max": hi}


def _add_params(g: Graph, op: Op) -> dict:
    return _add_sub_params(g, op, "int8")


def check_add(g: Graph, op: Op) -> None:
    _add_params(g, op)


def lower_add(g: Graph, op: Op) -> KernelCall:
    params = _add_params(g, op)
    flat = not params["shape"]["broadcast"]
    if flat and fast_kernels(g):
        inputs = [op.inputs[0], op.inputs[1]]
        if params["in1_mult"] != HALF and params["in2_mult"] == HALF and params["in2_shift"] == 0:
            # ADD commutes: the larger scale's input (rescale 1/2) first, as the DSP loop takes it.
            inputs.reverse()
            for key in ("offset", "mult", "shift"):
                params[f"in1_{key}"], params[f"in2_{key}"] = params[f"in2_{key}"], params[f"in1_{key}"]
        # Tabulating each input's rescale (2 x 256 int32 of flash) pays once there are more elements.
        table = params["shape"]["size"] >= 1024
        arrays = []
        if table:
            arrays = [ConstArray(f"t{j}", "int32_t", add_rescale_table(params[f"in{j}_offset"], LEFT_SHIFT, params[f"in{j}_mult"],
                                                                      params[f"in{j}_shift"])) for j in (1, 2)]
        return KERNELS["tq_add_fast_s8"].call(
            params={"add": params, "t1": ArrayRef("t1") if table else 0, "t2": ArrayRef("t2") if table else 0,
                    "k": add_dsp_constants(params)},
            inputs=inputs,
            outputs=[op.outputs[0]],
            arrays=arrays,
            in_place="direct",  # reads element i of both inputs before writing element i
        )
    return KERNELS["tq_add_s8"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], in_place=_in_place(params["shape"]))


HALF = 1 << 30  # the quantized multiplier of 1/2 (shift 0): the larger-scale input's rescale
ADD_DSP_BOUND = (1 << 31) - (1 << 28) - 2  # |constant| within which no sum of tq_add_dsp.S leaves int32


def add_dsp_constants(p: dict) -> list[int]:
    """tq_add_dsp.S's constants (params k: Cb, hb, mb, eb, ho, mo, so, act_min, act_max, n) for an ADD's
    params with in1 the larger scale; all 0 (n 0: the C loops run) where that form does not apply.

    In2's rescale SRDHM((b + ob) 2^20, mb) >> eb (rounded) is SMMULR((b + ob) 2^21, mb) plus hb - neg, shifted
    by eb; an eb of 0 (mb 2^30: an exact halving) is given as mb 2^31 - 1, eb 1, which gives the same
    value (SMMULR((b + ob) 2^21, 2^31 - 1) is (b + ob) 2^20 exactly, then halved without rounding).
    In1's offset is added after that shift as oa 2^19 2^eb in hb. Sums: |SMMULR| < 2^28, so the
    constants within ADD_DSP_BOUND keep every sum in int32."""
    none = [0] * 10
    ls, so = p["left_shift"], -p["out_shift"]
    if ls != LEFT_SHIFT or p["in1_mult"] != HALF or p["in1_shift"] != 0 or p["out_mult"] < 0 or so < 1 or p["in2_mult"] < 0:
        return none
    mb, eb = p["in2_mult"], -p["in2_shift"]
    if eb == 0:
        if mb != HALF:
            return none
        mb, eb = (1 << 31) - 1, 1
    if eb > 30:
        return none
    hb = (1 << (eb - 1)) + p["in1_offset"] * (1 << (ls - 1)) * (1 << eb)
    ho = (1 << (so - 1)) + p["out_offset"] * (1 << so)
    if abs(hb) > ADD_DSP_BOUND or abs(ho) > ADD_DSP_BOUND or p["shape"]["size"] < 1:
        return none
    return [p["in2_offset"] * (1 << (ls + 1)), hb, mb, eb, ho, p["out_mult"], so, p["act_min"], p["act_max"],
            p["shape"]["size"]]


def _srdhm(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values."""
    ab = a.astype(np.int64) * np.int64(b)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    t = ab + nudge
    q = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C division by 2^31 truncates toward zero
    return np.where((a == -(2**31)) & (b == -(2**31)), np.int64(2**31 - 1), q)


def _rounding_divide_by_pot(x: np.ndarray, e: int) -> np.ndarray:
    mask = (1 << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > threshold)


def add_rescale_table(offset: int, left_shift: int, mult: int, shift: int) -> np.ndarray:
    """The 256 values of one ADD input's rescale, indexed by byte + 128 (tq_add_fast_s8's t1/t2)."""
    q = np.arange(-128, 128, dtype=np.int64)
    return _rounding_divide_by_pot(_srdhm((q + offset) << left_shift, mult), -shift).astype(np.int32)


def residual_tables(params: dict, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(table of input k, table of the other input) for an ADD (its _add_params) fused into a convolution."""
    t = [add_rescale_table(params[f"in{j}_offset"], params["left_shift"], params[f"in{j}_mult"], params[f"in{j}_shift"]) for j in (1, 2)]
    return t[k], t[1 - k]


def _check_add_sub(dtype: str):
    def check(g: Graph, op: Op) -> None:
        _add_sub_params(g, op, dtype)

    return check


def _lower_add_sub(dtype: str):
    suffix = {"int8": "s8", "int16": "s16"}[dtype]

    def lower(g: Graph, op: Op) -> KernelCall:
        params = _add_sub_params(g, op, dtype)
        kernel = KERNELS[f"tq_{op.kind.lower()}_{suffix}"]
        if (op.kind == "ADD" and dtype == "int16" and fast_kernels(g) and params["in1_offset"] == params["in2_offset"] == 0
                and params["out_offset"] == 0 and max(params["in1_shift"], params["in2_shift"], params["out_shift"]) <= 0):
            kernel = KERNELS["tq_add_s16_fast"]
        return kernel.call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], in_place=_in_place(params["shape"]))

    return lower


# --------------------------------------------------------------------------- MUL (int8, int16)


def _mul_params(g: Graph, op: Op, dtype: str = "int8") -> dict:
    a, b, y = _operands(g, op, dtype)
    lo, hi = activation_range(_fused(op), y)
    # mul.cc: `input1->params.scale * input2->params.scale / output->params.scale` in float (float
    # scales), the result widened to the double that QuantizeMultiplier takes.
    real = float(np.float32(np.float32(a.quant.s) * np.float32(b.quant.s)) / np.float32(y.quant.s))
    mult, shift = quantize_multiplier(real)
    need(-31 <= shift <= 30, op, f"rescale {real:g} is outside TFLite's multiplier range")
    return {"shape": broadcast_shape(g, op), **_offsets(a, b, y), "out_mult": mult, "out_shift": shift, "act_min": lo, "act_max": hi}


def _check_mul(dtype: str):
    def check(g: Graph, op: Op) -> None:
        _mul_params(g, op, dtype)

    return check


def _lower_mul(dtype: str):
    kernel = KERNELS[{"int8": "tq_mul_s8", "int16": "tq_mul_s16"}[dtype]]

    def lower(g: Graph, op: Op) -> KernelCall:
        params = _mul_params(g, op, dtype)
        return kernel.call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], in_place=_in_place(params["shape"]))

    return lower


# --------------------------------------------------------------------------- MAXIMUM, MINIMUM (all types)


def _minmax_params(g: Graph, op: Op, dtype: str) -> dict:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
        need_dtype(g, op, i, dtype)
    return {"shape": broadcast_shape(g, op)}


def _check_minmax(dtype: str):
    def check(g: Graph, op: Op) -> None:
        _minmax_params(g, op, dtype)

    return check


def _lower_minmax(dtype: str):
    suffix = {"int8": "s8", "int16": "s16", "float32": "f32"}[dtype]

    def lower(g: Graph, op: Op) -> KernelCall:
        params = _minmax_params(g, op, dtype)
        kernel = KERNELS[f"tq_{op.kind.lower()}_{suffix}"]
        return kernel.call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], in_place=_in_place(params["shape"]))

    return lower


# --------------------------------------------------------------------------- SQUARED_DIFFERENCE (int8)


def _sqdiff_params(g: Graph, op: Op) -> dict:
    out = op.outputs[0] if len(op.outputs) == 1 else -1
    need(
        out < 0 or g.tensor(out).dtype != "int16",
        op,
        "is int16: TFLite has no int16 SQUARED_DIFFERENCE kernel (its interpreter fails on this model); "
        "convert with `tinyq convert --mode int8`, or keep (a - b)^2 out of the int16x8 model",
    )
    a, b, y = _operands(g, op, "int8")
    _need_zero_points_in_range(op, a, b, y)
    # squared_difference.cc: no fused activation, the output clamped to the int8 range.
    return {"shape": broadcast_shape(g, op), **_offsets(a, b, y), **_rescale(op, a, b, y, LEFT_SHIFT_SQDIFF, squared=True),
            "act_min": -128, "act_max": 127}


def check_sqdiff(g: Graph, op: Op) -> None:
    _sqdiff_params(g, op)


def lower_sqdiff(g: Graph, op: Op) -> KernelCall:
    params = _sqdiff_params(g, op)
    return KERNELS["tq_squared_difference_s8"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                                    in_place=_in_place(params["shape"]))


# --------------------------------------------------------------------------- DIV (int8)


def _div_params(g: Graph, op: Op) -> dict:
    """div.cc Prepare on int8: one multiplier in1_scale / (in2_scale * out_scale), a float32 product
    and quotient (the scales are floats) widened to the double QuantizeMultiplier takes."""
    a, b, y = _operands(g, op, "int8")
    _need_zero_points_in_range(op, a, b, y)
    lo, hi = activation_range(_fused(op), y)
    real = float(np.float32(np.float32(a.quant.s) / np.float32(np.float32(b.quant.s) * np.float32(y.quant.s))))
    mult, shift = quantize_multiplier(real)
    # DivElementwise shifts right by recip_shift + headroom - out_shift, recip_shift = floor(log2 |v2|)
    # (0 at |v2| = 1, always reachable) and headroom the sign bits of +-v1: a negative count (an
    # output rescale above 2^22 or so) would be a left shift the reference cannot make.
    lowest = min(_sign_bits(s * (q - a.quant.zp)) for q in range(-128, 128) for s in (1, -1)) - shift
    need(lowest >= 0, op, f"rescale {real:g} (in1 scale {a.quant.s:g} / (in2 scale {b.quant.s:g} * out scale {y.quant.s:g})) "
         "is too large: TFLite's int8 DIV would shift left by a negative count")
    return {"shape": broadcast_shape(g, op), **_offsets(a, b, y), "out_mult": mult, "out_shift": shift, "act_min": lo, "act_max": hi}


def _sign_bits(v: int) -> int:
    """CountLeadingSignBits of an int32."""
    return 31 - (v if v >= 0 else ~v).bit_length()


def check_div(g: Graph, op: Op) -> None:
    _div_params(g, op)


def lower_div(g: Graph, op: Op) -> KernelCall:
    params = _div_params(g, op)
    return KERNELS["tq_div_s8"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], in_place=_in_place(params["shape"]))


# --------------------------------------------------------------------------- comparisons (bool outputs)

COMPARISONS = {"EQUAL": 0, "NOT_EQUAL": 1, "LESS": 2, "LESS_EQUAL": 3, "GREATER": 4, "GREATER_EQUAL": 5}  # TQ_CMP_*
LEFT_SHIFT_COMPARE = 8  # comparisons.cc ComparisonQuantized
COMPARE_KERNEL = {"int8": "tq_compare_s8", "int16": "tq_compare_s16", "float32": "tq_compare_f32", "int32": "tq_compare_s32",
                  "bool": "tq_compare_bool"}


def _compare_rescale(op: Op, t: Tensor, k: int) -> dict:
    """QuantizeMultiplier of one input's scale itself (ComparisonQuantized): below 1 it goes through
    QuantizeMultiplierSmallerThanOneExp, whose shift <= 0 the reference's rescale needs."""
    q = t.quant
    s = float(q.s)
    need(s > 0 and np.isfinite(s), op, f"tensor '{t.name}' has scale {s}, expected a positive number")
    mult, shift = quantize_multiplier(s)
    need(shift <= 0, op, f"tensor '{t.name}' has scale {s:g}: TFLite's quantized comparison rescales each input by its "
         "scale as a multiplier below 1 (QuantizeMultiplierSmallerThanOneExp): at 1 its reference kernel aborts, above 1 "
         "it shifts by a negative count (undefined); re-quantize the inputs to scales below 1")
    return {f"in{k}_offset": -int(q.zp), f"in{k}_mult": mult, f"in{k}_shift": shift}


def _compare_params(g: Graph, op: Op) -> tuple[str, dict]:
    """(input type, tq_compare_* parameters): comparisons.cc's choice of kernel per type."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
    a, b, y = (g.tensor(i) for i in (*op.inputs, *op.outputs))
    need(a.dtype == b.dtype, op, f"compares {a.dtype} tensor '{a.name}' with {b.dtype} tensor '{b.name}': TFLite requires one type")
    need(y.dtype == "bool", op, f"output tensor '{y.name}' is {y.dtype}, expected bool")
    dtype = a.dtype
    need(dtype in COMPARE_KERNEL, op, f"compares {dtype} tensors; tinyq compares int8, int16, int32, float32 and bool ones")
    params: dict = {"shape": broadcast_shape(g, op), "op": COMPARISONS[op.kind]}
    if dtype == "bool":
        need(op.kind in ("EQUAL", "NOT_EQUAL"), op, f"TFLite's {op.kind} has no bool kernel (its interpreter fails on this model)")
    if dtype not in ("int8", "int16"):
        return dtype, params
    as_stored = {**params, "rescale": 0, "in1_offset": 0, "in2_offset": 0, "left_shift": 0, "in1_mult": 0, "in1_shift": 0,
                 "in2_mult": 0, "in2_shift": 0}
    if dtype == "int16" and op.kind not in ("EQUAL", "NOT_EQUAL"):
        # comparisons.cc: LESS, LESS_EQUAL (and GREATER, GREATER_EQUAL, run as them with the inputs
        # swapped) compare int16 values as stored, whatever their scales.
        return dtype, as_stored
    if dtype == "int16" and a.quant is None:
        # EQUAL / NOT_EQUAL look at the first input's quantization only.
        need(op.kind == "EQUAL", op, f"compares unquantized int16 tensor '{a.name}': TFLite's NOT_EQUAL then writes no "
             "output (comparisons.cc handles only quantized int16 there); give the tensors quantization parameters")
        return dtype, as_stored
    for t in (a, b):
        need(t.quant is not None and not t.quant.per_channel, op,
             f"tensor '{t.name}' has no per-tensor quantization parameters; run `tinyq convert`")
    _need_zero_points_in_range(op, a, b)
    return dtype, {**params, "rescale": 1, "left_shift": LEFT_SHIFT_COMPARE, **_compare_rescale(op, a, 1), **_compare_rescale(op, b, 2)}


def check_compare(g: Graph, op: Op) -> None:
    _compare_params(g, op)


def lower_compare(g: Graph, op: Op) -> KernelCall:
    dtype, params = _compare_params(g, op)
    if dtype in ("float32", "int32", "bool"):
        params = {"shape": params["shape"], "op": params["op"]}
    # The flat loop reads element k of both inputs before writing byte k, which no later element's
    # bytes precede: the bool output may go over either input.
    return KERNELS[COMPARE_KERNEL[dtype]].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                               in_place=_in_place(params["shape"]))


# --------------------------------------------------------------------------- ADD, SUB, MUL (int32)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# CalculateActivationRange<int32_t>: the clamp of each fused activation on int32 values.
FUSED_RANGE_S32 = {0: (INT32_MIN, INT32_MAX), 1: (0, INT32_MAX), 2: (-1, 1), 3: (0, 6)}


def _arith_s32_params(g: Graph, op: Op) -> dict:
    """add.cc / sub.cc / mul.cc on int32: the values as stored (no quantization), clamped to the fused
    activation's range."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
        need_dtype(g, op, i, "int32")
    fused = _fused(op)
    need(fused in FUSED_RANGE_S32, op, f"fused activation {fused} is not supported on int32 (NONE, RELU, RELU6, RELU_N1_TO_1 are)")
    lo, hi = FUSED_RANGE_S32[fused]
    return {"shape": broadcast_shape(g, op), "act_min": lo, "act_max": hi}


def check_arith_s32(g: Graph, op: Op) -> None:
    _arith_s32_params(g, op)


def lower_arith_s32(g: Graph, op: Op) -> KernelCall:
    params = _arith_s32_params(g, op)
    return KERNELS[f"tq_{op.kind.lower()}_s32"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                                     in_place=_in_place(params["shape"]))


# --------------------------------------------------------------------------- ADD_N (float32, int32)


def _add_n_params(g: Graph, op: Op) -> tuple[str, dict]:
    """add_n.cc Prepare: two or more inputs of the output's shape and type."""
    need(len(op.inputs) >= 2 and len(op.outputs) == 1, op, "expects two or more inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
    y = g.tensor(op.outputs[0])
    need(y.dtype in ("float32", "int32"), op, f"output tensor '{y.name}' is {y.dtype}: TFLite's ADD_N adds float32 or int32")
    for i in op.inputs:
        t = g.tensor(i)
        need(t.dtype == y.dtype and tuple(t.shape) == tuple(y.shape), op,
             f"input tensor '{t.name}' is {t.dtype} {list(t.shape)}, expected {y.dtype} {list(y.shape)} (ADD_N does not broadcast)")
    return y.dtype, {"n": len(op.inputs), "size": int(y.size)}


def check_add_n(g: Graph, op: Op) -> None:
    _add_n_params(g, op)


def lower_add_n(g: Graph, op: Op) -> KernelCall:
    dtype, params = _add_n_params(g, op)
    kernel = KERNELS["tq_add_n_f32" if dtype == "float32" else "tq_add_n_s32"]
    return kernel.call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]], inputs_as_array=True, in_place="direct")


def macs_add_n(g: Graph, op: Op) -> int:
    return g.tensor(op.outputs[0]).size * (len(op.inputs) - 1)


# --------------------------------------------------------------------------- SELECT, SELECT_V2 (any element type)

SELECT_BYTES = {"int8": 1, "bool": 1, "int16": 2, "int32": 4, "float32": 4}


def _layout(shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> tuple[dict, list[dict]]:
    """The tq_bcast_s8 of an output of shape `out` (flat when every shape equals it), and the strides of
    each of `shapes` broadcast to it (numpy's alignment on the last axis)."""
    size = int(np.prod(out, dtype=np.int64)) if out else 1
    if all(tuple(s) == tuple(out) for s in shapes):
        zero = {"n": 0, "h": 0, "w": 0, "c": 0}
        return {"broadcast": 0, "size": size, "out": {"n": 1, "h": 1, "w": 1, "c": size}, "in1_stride": zero, "in2_stride": zero}, \
            [zero for _ in shapes]
    out4 = (1,) * (4 - len(out)) + tuple(out)
    strides = [_strides(tuple(s), out4) for s in shapes]
    return {"broadcast": 1, "size": size, "out": dict(zip("nhwc", out4)), "in1_stride": strides[1], "in2_stride": strides[2]}, strides


def _select_params(g: Graph, op: Op) -> dict:
    """select.cc Prepare: SELECT takes a condition of x's shape, a scalar or a rank-1 one along x's first
    axis (RankOneSelect), x and y of one shape; SELECT_V2 broadcasts all three (BroadcastSelectSlow)."""
    need(len(op.inputs) == 3 and len(op.outputs) == 1, op, "expects three inputs (condition, x, y) and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
    c, x, y, out = (g.tensor(i) for i in (*op.inputs, *op.outputs))
    need(c.dtype == "bool", op, f"condition tensor '{c.name}' is {c.dtype}, expected bool")
    need(x.dtype == y.dtype == out.dtype, op, f"x '{x.name}' ({x.dtype}), y '{y.name}' ({y.dtype}) and the output "
         f"'{out.name}' ({out.dtype}) must have one type")
    need(x.dtype in SELECT_BYTES, op, f"selects {x.dtype} values; tinyq selects int8, int16, int32, float32 and bool ones")
    for t in (c, x, y, out):
        need(len(t.shape) <= 4, op, f"tensor '{t.name}' has shape {list(t.shape)}: broadcasting supports ranks up to 4")
    cs, xs, ys, os_ = (tuple(int(d) for d in t.shape) for t in (c, x, y, out))
    if op.kind == "SELECT_V2":
        try:
            full = tuple(int(d) for d in np.broadcast_shapes(cs, xs, ys))
        except ValueError:
            raise UnsupportedModel(f"{where(op)}: shapes {list(cs)}, {list(xs)} and {list(ys)} do not broadcast") from None
        need(os_ == full, op, f"output shape {list(os_)} does not match the broadcast shape {list(full)}")
        shape, strides = _layout([cs, xs, ys], full)
        cond_stride = strides[0]
    else:
        need(xs == ys and os_ == xs, op, f"x {list(xs)}, y {list(ys)} and the output {list(os_)} must have one shape (SELECT "
             "does not broadcast them; SELECT_V2 does)")
        low_rank = len(cs) == 0 or (len(cs) == 1 and len(xs) >= 1 and cs[0] == xs[0])
        need(cs == xs or low_rank, op, f"condition shape {list(cs)} is neither x's {list(xs)}, a scalar nor one value per "
             "index of x's first axis")
        shape, _ = _layout([xs, xs, xs], xs)
        cond_stride = {"n": 0, "h": 0, "w": 0, "c": 0}
        if cs != xs:
            shape = {**shape, "broadcast": 1, "out": dict(zip("nhwc", (1,) * (4 - len(xs)) + xs)),
                     "in1_stride": _strides(xs, (1,) * (4 - len(xs)) + xs), "in2_stride": _strides(xs, (1,) * (4 - len(xs)) + xs)}
            if len(cs) == 1 and x.size > 1:
                cond_stride = {**cond_stride, "nhwc"[4 - len(xs)]: 1}
    return {"shape": shape, "cond_stride": cond_stride, "elem_size": SELECT_BYTES[x.dtype]}


def check_select(g: Graph, op: Op) -> None:
    _select_params(g, op)


def lower_select(g: Graph, op: Op) -> KernelCall:
    params = _select_params(g, op)
    # Flat: element k of every input is read before element k is written, so the output may go over
    # x or y (or the condition, when the values are bytes too).
    return KERNELS["tq_select"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                     in_place=_in_place(params["shape"]))


# --------------------------------------------------------------------------- LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT (bool)


def _logical_params(g: Graph, op: Op) -> dict:
    unary = op.kind == "LOGICAL_NOT"
    need(len(op.inputs) == (1 if unary else 2) and len(op.outputs) == 1, op,
         f"expects {'one input' if unary else 'two inputs'} and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
        need_dtype(g, op, i, "bool")
    if unary:
        x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
        need(tuple(x.shape) == tuple(y.shape), op, f"output shape {list(y.shape)} is not the input's {list(x.shape)}")
        return {"size": int(y.size)}
    return {"shape": broadcast_shape(g, op)}


def check_logical(g: Graph, op: Op) -> None:
    _logical_params(g, op)


def lower_logical(g: Graph, op: Op) -> KernelCall:
    params = _logical_params(g, op)
    flat = op.kind == "LOGICAL_NOT" or not params["shape"]["broadcast"]
    return KERNELS[f"tq_{op.kind.lower()}"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                                  in_place="direct" if flat else None)


# --------------------------------------------------------------------------- float32

CLAMPED_F32 = ("ADD", "SUB", "MUL", "DIV")  # the float ops with a fused activation (its clamp)


def lower_binary_f32(g: Graph, op: Op) -> KernelCall:
    _operands(g, op, "float32")
    shape = broadcast_shape(g, op)
    params: dict = {"shape": shape}
    if op.kind in CLAMPED_F32:
        params["act_min"], params["act_max"] = float_activation_range(op)
    return KERNELS[f"tq_{op.kind.lower()}_f32"].call(params=params, inputs=list(op.inputs), outputs=[op.outputs[0]],
                                                     in_place=_in_place(shape))


def check_binary_f32(g: Graph, op: Op) -> None:
    lower_binary_f32(g, op)


def macs_binary(g: Graph, op: Op) -> int:
    return g.tensor(op.outputs[0]).size


# --------------------------------------------------------------------------- registration

register("ADD", check=check_add, lower=lower_add, macs=macs_binary)
register("SUB", check=_check_add_sub("int8"), lower=_lower_add_sub("int8"), macs=macs_binary)
register("MUL", check=_check_mul("int8"), lower=_lower_mul("int8"), macs=macs_binary)
register("SQUARED_DIFFERENCE", check=check_sqdiff, lower=lower_sqdiff, macs=macs_binary)
for _kind in ("ADD", "SUB"):
    register(_kind, check=_check_add_sub("int16"), lower=_lower_add_sub("int16"), macs=macs_binary, dtype="int16")
register("MUL", check=_check_mul("int16"), lower=_lower_mul("int16"), macs=macs_binary, dtype="int16")
for _kind in ("MAXIMUM", "MINIMUM"):
    for _dtype in ("int8", "int16", "float32"):
        register(_kind, check=_check_minmax(_dtype), lower=_lower_minmax(_dtype), macs=macs_binary, dtype=_dtype)
for _kind in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "DIV"):
    register(_kind, check=check_binary_f32, lower=lower_binary_f32, macs=macs_binary, dtype="float32")
register("DIV", check=check_div, lower=lower_div, macs=macs_binary)
for _kind in ("ADD", "SUB", "MUL"):
    register(_kind, check=check_arith_s32, lower=lower_arith_s32, macs=macs_binary, dtype="int32")
refuse("DIV", "int16 DIV is not supported: TensorFlow's converter does not quantize DIV to 16x8, and TFLite's int16 kernel "
       "divides in float32 for equal shapes but in integers when broadcasting; keep the division in an int8 or float32 "
       "model", "int16")
refuse("DIV", "int32 DIV is not supported: TFLite's int32 division fails at run time on a zero divisor; tinyq folds "
       "integer shape arithmetic at generation time but does not divide int32 tensors at run time", "int32")
for _dtype in ("float32", "int32"):
    register("ADD_N", check=check_add_n, lower=lower_add_n, macs=macs_add_n, dtype=_dtype)
for _dtype in ("int8", "int16"):
    refuse("ADD_N", f"{_dtype} ADD_N is not supported: TFLite's ADD_N adds float32 or int32 only (its interpreter fails on an "
           f"{_dtype} one: \"AddN only supports FLOAT32|INT32\"); TensorFlow's converter writes keras.layers.Add of 3 or more "
           "inputs as chained ADDs, which tinyq compiles", _dtype)
for _kind in COMPARISONS:
    for _dtype in ("int8", "int16", "float32", "int32"):
        register(_kind, check=check_compare, lower=lower_compare, macs=macs_binary, dtype=_dtype)
    if _kind in ("EQUAL", "NOT_EQUAL"):
        register(_kind, check=check_compare, lower=lower_compare, macs=macs_binary, dtype="bool")
    else:
        refuse(_kind, f"bool {_kind} is not supported: TFLite's {_kind} has no bool kernel (its interpreter fails on this model)",
               "bool")
for _kind in ("SELECT", "SELECT_V2"):
    # The type an op computes in is its first non-constant input's: the condition (bool) or, with a
    # constant condition, the values'. One lowering serves them all.
    for _dtype in ("int8", "int16", "float32", "int32", "bool"):
        register(_kind, check=check_select, lower=lower_select, macs=macs_binary, dtype=_dtype)
for _kind in ("LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT"):
    register(_kind, check=check_logical, lower=lower_logical, macs=macs_binary, dtype="bool")
