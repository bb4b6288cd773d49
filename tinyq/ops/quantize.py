"""QUANTIZE and DEQUANTIZE: the float edges of a --float-io model, and int requantization.

TFLite's reference arithmetic (quantize.cc, dequantize.cc, reference/quantize.h,
requantize.h, dequantize.h):
- float32 -> int8/int16: round(x / scale) + zero_point, the division and std::round in float;
- int -> int: MultiplyByQuantizedMultiplier with QuantizeMultiplier(in_scale / out_scale),
  the ratio taken in double;
- int8/int16 -> float32: (float)((double)scale * (q - zero_point)), reproduced exactly by a
  single-precision multiply (see tq_quantize.h).
These ops cross types, so one lowering (REGISTRY's) serves int8, int16x8 and float32 models.
"""

from __future__ import annotations

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    Kernel,
    KernelCall,
    kernel_table,
    need,
    need_dtype,
    need_quant,
    quantize_multiplier,
    register,
)

HEADER = "tq_quantize.h"
# One kernel per (input type, output type): tq_<op>_<in>_<out>, one type where both are the same.
KERNELS = kernel_table(
    Kernel("tq_quantize_f32_s8", "tq_quantize_f32_s8_params", HEADER, ("quantize/tq_quantize_f32_s8.c",)),
    Kernel("tq_quantize_f32_s16", "tq_quantize_f32_s16_params", HEADER, ("quantize/tq_quantize_f32_s16.c",)),
    Kernel("tq_requantize_s8", "tq_requantize_s8_params", HEADER, ("quantize/tq_requantize_s8.c",)),
    Kernel("tq_requantize_s16", "tq_requantize_s16_params", HEADER, ("quantize/tq_requantize_s16.c",)),
    Kernel("tq_requantize_s16_s8", "tq_requantize_s16_s8_params", HEADER, ("quantize/tq_requantize_s16_s8.c",)),
    Kernel("tq_dequantize_s8_f32", "tq_dequantize_s8_f32_params", HEADER, ("quantize/tq_dequantize_s8_f32.c",)),
    Kernel("tq_dequantize_s16_f32", "tq_dequantize_s16_f32_params", HEADER, ("quantize/tq_dequantize_s16_f32.c",)),
)
SHORT = {"int8": "s8", "int16": "s16", "float32": "f32"}
FLT_MIN = float(np.finfo(np.float32).tiny)
FLT_MAX = float(np.finfo(np.float32).max)


def _scale(g: Graph, op: Op, t: Tensor) -> float:
    """The per-tensor float32 scale, required to be positive, finite and normal (no flush-to-zero risk)."""
    q = need_quant(g, op, t.index)
    s = float(np.float32(q.s))
    need(FLT_MIN <= s <= FLT_MAX, op, f"tensor '{t.name}' has scale {s!r}: scales must be positive normal float32 values")
    return s


def _io(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len(op.inputs) == 1 and op.inputs[0] >= 0 and len(op.outputs) == 1, op, "expected one input and one output")
    return g.tensor(op.inputs[0]), g.tensor(op.outputs[0])


# --------------------------------------------------------------------------- QUANTIZE


def check_quantize(g: Graph, op: Op) -> None:
    src, dst = _io(g, op)
    need_dtype(g, op, src.index, "float32", "int8", "int16")
    if src.dtype == "float32":
        need_dtype(g, op, dst.index, "int8", "int16")
    elif src.dtype == "int8":
        need_dtype(g, op, dst.index, "int8")
    else:
        need_dtype(g, op, dst.index, "int8", "int16")
    need(src.size == dst.size, op, f"input has {src.size} elements, output {dst.size}")
    _scale(g, op, dst)
    if dst.dtype == "int16":
        need(dst.quant.zp == 0, op, f"int16 output '{dst.name}' must have zero point 0 (TFLite requires it)")
    if src.dtype != "float32":
        _scale(g, op, src)
        if src.dtype == "int16":
            need(src.quant.zp == 0, op, f"int16 input '{src.name}' must have zero point 0 (TFLite requires it)")


def lower_quantize(g: Graph, op: Op) -> KernelCall:
    src, dst = _io(g, op)
    out_scale = _scale(g, op, dst)
    if src.dtype == "float32":
        name = f"tq_quantize_f32_{SHORT[dst.dtype]}"
        params = {"size": dst.size, "scale": out_scale, "zero_point": dst.quant.zp}
    else:
        in_scale = _scale(g, op, src)
        mult, shift = quantize_multiplier(in_scale / out_scale)  # double ratio, as Prepare does
        s_in, s_out = SHORT[src.dtype], SHORT[dst.dtype]
        name = f"tq_requantize_{s_in}" if s_in == s_out else f"tq_requantize_{s_in}_{s_out}"
        params = {"size": dst.size, "in_zp": src.quant.zp, "mult": mult, "shift": shift, "out_zp": dst.quant.zp}
    return KERNELS[name].call(params=params, inputs=[src.index], outputs=[dst.index])


# --------------------------------------------------------------------------- DEQUANTIZE


def check_dequantize(g: Graph, op: Op) -> None:
    src, dst = _io(g, op)
    need_dtype(g, op, src.index, "int8", "int16")
    need_dtype(g, op, dst.index, "float32")
    need(src.size == dst.size, op, f"input has {src.size} elements, output {dst.size}")
    _scale(g, op, src)


def lower_dequantize(g: Graph, op: Op) -> KernelCall:
    src, dst = _io(g, op)
    return KERNELS[f"tq_dequantize_{SHORT[src.dtype]}_f32"].call(
        params={"size": dst.size, "scale": _scale(g, op, src), "zero_point": src.quant.zp},
        inputs=[src.index],
        outputs=[dst.index],
    )


register("QUANTIZE", check=check_quantize, lower=lower_quantize)
register("DEQUANTIZE", check=check_dequantize, lower=lower_dequantize)
