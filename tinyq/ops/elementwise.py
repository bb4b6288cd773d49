"""Element-wise binary ops, broadcasting: ADD and MUL on int8 and float32, ADD on int16x8.

int8 matches TFLite's reference path (BUILTIN_REF), with tq_elementwise.h kernels:
- add.cc Prepare (8-bit general path): left_shift 20, input multipliers
  in_scale / (2 * max in_scale), output multiplier 2 * max in_scale / (2^20 * out_scale),
  all through QuantizeMultiplierSmallerThanOneExp; reference_integer_ops::AddFunc per element.
- mul.cc Prepare: one multiplier in1_scale * in2_scale / out_scale, computed in float32
  (the scales are floats in TfLiteQuantizationParams); reference_integer_ops::MulElementwise.
Identical input shapes use a flat loop; anything else a 4-D broadcast loop (ranks <= 4).

int16x8 ADD: add.cc's general int16 path (pot_scale_int16 false): int8's arithmetic with
left_shift 15, on symmetric int16 activations (TFLite's Prepare requires zero point 0).
float32: the same broadcasting, float kernels.
"""

from __future__ import annotations

import numpy as np

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op
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
    check_by_lowering,
    fast_kernels,
    float_activation_range,
    kernel_table,
    need,
    need_dtype,
    need_float32,
    need_int16,
    need_quant,
    quantize_multiplier,
    register,
    where,
)

HEADER = "tq_elementwise.h"
LEFT_SHIFT = 20
LEFT_SHIFT_S16 = 15  # add.cc: left_shift 15 for the general int16 path

KERNELS = kernel_table(
    # int8
    Kernel("tq_add_s8", "tq_add_s8_params", HEADER, ("elementwise/tq_add_s8.c",)),
    Kernel("tq_add_fast_s8", "tq_add_fast_s8_params", HEADER, ("elementwise/tq_add_fast_s8.c",)),
    Kernel("tq_mul_s8", "tq_mul_s8_params", HEADER, ("elementwise/tq_mul_s8.c",)),
    # int16x8
    Kernel("tq_add_s16", "tq_add_s16_params", INT16_HEADER, ("elementwise/tq_add_s16.c", *INT16_DEPS)),
    # float32
    Kernel("tq_add_f32", "tq_add_f32_params", FLOAT_HEADER, ("elementwise/tq_add_f32.c", *FLOAT_DEPS)),
    Kernel("tq_mul_f32", "tq_mul_f32_params", FLOAT_HEADER, ("elementwise/tq_mul_f32.c", *FLOAT_DEPS)),
)


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


def _common(g: Graph, op: Op):
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    for i in (*op.inputs, *op.outputs):
        need(i >= 0, op, "an input is missing")
        need_dtype(g, op, i, "int8")
    q1, q2, qo = (need_quant(g, op, i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    lo, hi = activation_range(fused, g.tensor(op.outputs[0]))
    return q1, q2, qo, lo, hi


# --------------------------------------------------------------------------- ADD


def _add_params(g: Graph, op: Op) -> dict:
    q1, q2, qo, lo, hi = _common(g, op)
    s1, s2, so = float(q1.s), float(q2.s), float(qo.s)
    twice_max = 2.0 * max(s1, s2)  # exact: the scales are float32 values
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * so))
    need(
        sh1 <= 0 and sh2 <= 0 and sho <= 0,
        op,
        f"output scale {so:g} is too small for the inputs' scales ({s1:g}, {s2:g}): the rescale must be below 1",
    )
    return {
        "shape": broadcast_shape(g, op),
        "in1_offset": -q1.zp,
        "in2_offset": -q2.zp,
        "out_offset": qo.zp,
        "left_shift": LEFT_SHIFT,
        "in1_mult": m1,
        "in1_shift": sh1,
        "in2_mult": m2,
        "in2_shift": sh2,
        "out_mult": mo,
        "out_shift": sho,
        "act_min": lo,
        "act_max": hi,
    }


def check_add(g: Graph, op: Op) -> None:
    _add_params(g, op)


def lower_add(g: Graph, op: Op) -> KernelCall:
    params = _add_params(g, op)
    flat = not params["shape"]["broadcast"]
    if flat and fast_kernels(g):
        # Tabulating each input's rescale (2 x 256 int32 of flash) pays once there are more elements.
        table = params["shape"]["size"] >= 1024
        arrays = []
        if table:
            arrays = [ConstArray(f"t{j}", "int32_t", add_rescale_table(params[f"in{j}_offset"], LEFT_SHIFT, params[f"in{j}_mult"],
                                                                      params[f"in{j}_shift"])) for j in (1, 2)]
        return KERNELS["tq_add_fast_s8"].call(
            params={"add": params, "t1": ArrayRef("t1") if table else 0, "t2": ArrayRef("t2") if table else 0},
            inputs=[op.inputs[0], op.inputs[1]],
            outputs=[op.outputs[0]],
            arrays=arrays,
            in_place="direct",  # reads element i of both inputs before writing element i
        )
    return KERNELS["tq_add_s8"].call(
        params=params,
        inputs=[op.inputs[0], op.inputs[1]],
        outputs=[op.outputs[0]],
        in_place="direct" if flat else None,  # the flat loop reads element i before writing it
    )


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


# --------------------------------------------------------------------------- MUL


def _mul_params(g: Graph, op: Op) -> dict:
    q1, q2, qo, lo, hi = _common(g, op)
    # mul.cc: `input1->params.scale * input2->params.scale / output->params.scale` in float.
    real = float(np.float32(np.float32(q1.s) * np.float32(q2.s)) / np.float32(qo.s))
    mult, shift = quantize_multiplier(real)
    need(-31 <= shift <= 30, op, f"rescale {real:g} is outside TFLite's multiplier range")
    return {
        "shape": broadcast_shape(g, op),
        "in1_offset": -q1.zp,
        "in2_offset": -q2.zp,
        "out_offset": qo.zp,
        "out_mult": mult,
        "out_shift": shift,
        "act_min": lo,
        "act_max": hi,
    }


def check_mul(g: Graph, op: Op) -> None:
    _mul_params(g, op)


def lower_mul(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_mul_s8"].call(
        params=_mul_params(g, op),
        inputs=[op.inputs[0], op.inputs[1]],
        outputs=[op.outputs[0]],
    )


def macs_binary(g: Graph, op: Op) -> int:
    return g.tensor(op.outputs[0]).size


# --------------------------------------------------------------------------- ADD (int16x8)


def _add_s16_params(g: Graph, op: Op) -> dict:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    a, b = (need_int16(g, op, i) for i in op.inputs)
    y = need_int16(g, op, op.outputs[0])
    need(
        not bool(getattr(op.options, "potScaleInt16", False)),
        op,
        "uses the power-of-two int16 ADD (pot_scale_int16), which tinyq does not implement; convert with `tinyq convert --mode int16x8`",
    )
    s1, s2, so = float(a.quant.s), float(b.quant.s), float(y.quant.s)
    twice_max = 2.0 * max(s1, s2)
    scaled = {}
    for key, real in (("in1", s1 / twice_max), ("in2", s2 / twice_max), ("out", twice_max / ((1 << LEFT_SHIFT_S16) * so))):
        scaled[f"{key}_mult"], scaled[f"{key}_shift"] = quantize_multiplier(real)
        need(scaled[f"{key}_shift"] <= 0, op, f"output scale {so:g} is too small for the inputs' scales ({s1:g}, {s2:g})")
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    lo, hi = activation_range(fused, y)
    # Symmetric int16: no offsets (the struct is tq_add_s8_params).
    return {"shape": broadcast_shape(g, op), "in1_offset": 0, "in2_offset": 0, "out_offset": 0, "left_shift": LEFT_SHIFT_S16,
            **scaled, "act_min": lo, "act_max": hi}


def check_add_s16(g: Graph, op: Op) -> None:
    _add_s16_params(g, op)


def lower_add_s16(g: Graph, op: Op) -> KernelCall:
    params = _add_s16_params(g, op)
    return KERNELS["tq_add_s16"].call(
        params=params,
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        in_place=None if params["shape"]["broadcast"] else "direct",
    )


# --------------------------------------------------------------------------- ADD, MUL (float32)


def lower_binary_f32(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    need_float32(g, op, *op.inputs, *op.outputs)
    shape = broadcast_shape(g, op)
    lo, hi = float_activation_range(op)
    flat = not shape["broadcast"]
    return KERNELS[f"tq_{op.kind.lower()}_f32"].call(params={"shape": shape, "act_min": lo, "act_max": hi}, inputs=list(op.inputs),
                                                     outputs=[op.outputs[0]], in_place="direct" if flat else None)


# --------------------------------------------------------------------------- registration

register("ADD", check=check_add, lower=lower_add, macs=macs_binary)
register("MUL", check=check_mul, lower=lower_mul, macs=macs_binary)
register("ADD", check=check_add_s16, lower=lower_add_s16, macs=macs_binary, dtype="int16")
for _kind in ("ADD", "MUL"):
    register(_kind, check=check_by_lowering(lower_binary_f32), lower=lower_binary_f32, macs=macs_binary, dtype="float32")
