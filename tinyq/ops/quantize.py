"""QUANTIZE, DEQUANTIZE and CAST: the float edges of a --float-io model, requantization between integer
types, and plain value conversions.

TFLite's reference arithmetic (quantize.cc, dequantize.cc, cast.cc, reference/quantize.h,
requantize.h, dequantize.h), with the type pairs of the reference interpreter tinyq checks against
(ai_edge_litert's BUILTIN_REF):
- QUANTIZE float32 -> int8/uint8/int16: round(x / scale) + zero_point, the division and std::round in
  float (AffineQuantize);
- QUANTIZE int -> int (Requantize): MultiplyByQuantizedMultiplier with QuantizeMultiplier(in_scale /
  out_scale), the ratio taken in double, on the int32 value in - in_zp, then + out_zp and the output
  type's clamp; the int32 arithmetic wraps as the reference's does. The pairs are the Prepare's:
      int8, uint8 -> int8, uint8, int16     int16 -> int8, int16, int32     int32 -> int8, int16
  (int16 -> int16 alone requires zero points 0; int8 -> int32 and int32 -> int32 are no pairs of it).
  A ratio of 2^31 or more is refused: QuantizeMultiplier's shift is then 32 or more and the
  reference's `x * (1 << shift)` is undefined.
- DEQUANTIZE int8/uint8/int16 -> float32: (float)((double)scale * (q - zero_point)), reproduced
  exactly by a single-precision multiply (see tq_quantize.h); int16 requires zero point 0. TFLite has
  no int32 DEQUANTIZE (its Prepare takes 8- and 16-bit inputs only), so tinyq refuses it by name.
- CAST between int8, uint8, int16, int32, float32 and bool (the stored values; quantization is ignored,
  as cast.cc ignores it): integers wrap (static_cast), float32 -> integer truncates toward zero and
  saturates, NaN giving the maximum (cast.cc's SaturatingCastFloatingToInteger, so no conversion is
  undefined and nothing needs refusing), anything -> bool is != 0, bool -> anything 0 or 1.
These ops cross types, so one lowering (REGISTRY's) serves int8, int16x8 and float32 models (CAST is
also registered for int16 and float32 inputs, so check_types takes it in float graphs).
"""

from __future__ import annotations

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    Kernel,
    KernelCall,
    check_by_lowering,
    kernel_table,
    need,
    need_dtype,
    need_quant,
    quantize_multiplier,
    refuse,
    register,
)

HEADER = "tq_quantize.h"


def _k(func: str) -> Kernel:
    return Kernel(func, f"{func}_params", HEADER, (f"quantize/{func}.c",))


# One kernel per (input type, output type): tq_<op>_<in>_<out>, one type where both are the same;
# CAST is one kernel with type codes.
KERNELS = kernel_table(
    _k("tq_quantize_f32_s8"),
    _k("tq_quantize_f32_u8"),
    _k("tq_quantize_f32_s16"),
    _k("tq_requantize_s8"),
    _k("tq_requantize_s8_u8"),
    _k("tq_requantize_s8_s16"),
    _k("tq_requantize_u8_s8"),
    _k("tq_requantize_u8"),
    _k("tq_requantize_u8_s16"),
    _k("tq_requantize_s16_s8"),
    _k("tq_requantize_s16"),
    _k("tq_requantize_s16_s32"),
    _k("tq_requantize_s32_s8"),
    _k("tq_requantize_s32_s16"),
    _k("tq_dequantize_s8_f32"),
    _k("tq_dequantize_u8_f32"),
    _k("tq_dequantize_s16_f32"),
    _k("tq_cast"),
)
SHORT = {"int8": "s8", "uint8": "u8", "int16": "s16", "int32": "s32", "float32": "f32"}
# QUANTIZE's type pairs, as quantize.cc's Prepare takes them: input type -> output types.
QUANTIZE_PAIRS = {
    "float32": ("int8", "uint8", "int16"),
    "int8": ("int8", "uint8", "int16"),
    "uint8": ("int8", "uint8", "int16"),
    "int16": ("int8", "int16", "int32"),
    "int32": ("int8", "int16"),
}
DEQUANTIZE_INPUTS = ("int8", "uint8", "int16")
# CAST's types and their codes in tq_quantize.h (TQ_CAST_*).
CAST_CODES = {"int8": 0, "uint8": 1, "int16": 2, "int32": 3, "float32": 4, "bool": 5}
FLT_MIN = float(np.finfo(np.float32).tiny)
FLT_MAX = float(np.finfo(np.float32).max)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _scale(g: Graph, op: Op, t: Tensor) -> float:
    """The per-tensor float32 scale, required to be positive, finite and normal (no flush-to-zero risk)."""
    q = need_quant(g, op, t.index)
    s = float(np.float32(q.s))
    need(FLT_MIN <= s <= FLT_MAX, op, f"tensor '{t.name}' has scale {s!r}: scales must be positive normal float32 values")
    return s


def _zero_point(op: Op, t: Tensor) -> int:
    """The per-tensor zero point, which TFLite keeps as an int32."""
    zp = int(t.quant.zp)
    need(INT32_MIN <= zp <= INT32_MAX, op, f"tensor '{t.name}' has zero point {zp}, outside int32 (TFLite stores an int32)")
    return zp


def _io(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len(op.inputs) == 1 and op.inputs[0] >= 0 and len(op.outputs) == 1, op, "expected one input and one output")
    src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(src.size == dst.size, op, f"input has {src.size} elements, output {dst.size}")
    return src, dst


def _pair_text(pairs: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{a} -> {', '.join(b)}" for a, b in pairs.items())


# --------------------------------------------------------------------------- QUANTIZE


def _requantize_multiplier(g: Graph, op: Op, src: Tensor, dst: Tensor) -> tuple[int, int]:
    """QuantizeMultiplier(in_scale / out_scale) in double, as Prepare computes it; refused where the
    reference's left shift `x * (1 << shift)` is undefined (shift > 31)."""
    in_scale, out_scale = _scale(g, op, src), _scale(g, op, dst)
    mult, shift = quantize_multiplier(in_scale / out_scale)
    need(shift <= 31, op, f"input scale {in_scale!r} / output scale {out_scale!r} is 2^31 or more: TFLite's "
         f"requantization would shift left by {shift} bits, which its int32 arithmetic does not define")
    return mult, shift


def lower_quantize(g: Graph, op: Op) -> KernelCall:
    src, dst = _io(g, op)
    need_dtype(g, op, src.index, *QUANTIZE_PAIRS)
    outs = QUANTIZE_PAIRS[src.dtype]
    need(dst.dtype in outs, op, f"QUANTIZE {src.dtype} -> {dst.dtype} (tensor '{dst.name}'): TFLite's QUANTIZE has no such "
         f"kernel (its Prepare takes {_pair_text(QUANTIZE_PAIRS)})")
    out_scale = _scale(g, op, dst)
    out_zp = _zero_point(op, dst)
    if src.dtype == "float32":
        return KERNELS[f"tq_quantize_f32_{SHORT[dst.dtype]}"].call(
            params={"size": dst.size, "scale": out_scale, "zero_point": out_zp}, inputs=[src.index], outputs=[dst.index])
    in_zp = _zero_point(op, src)
    if src.dtype == "int16" and dst.dtype == "int16":
        for t, zp in ((src, in_zp), (dst, out_zp)):
            need(zp == 0, op, f"int16 tensor '{t.name}' has zero point {zp}: TFLite's int16 -> int16 QUANTIZE requires 0")
    mult, shift = _requantize_multiplier(g, op, src, dst)
    s_in, s_out = SHORT[src.dtype], SHORT[dst.dtype]
    name = f"tq_requantize_{s_in}" if s_in == s_out else f"tq_requantize_{s_in}_{s_out}"
    return KERNELS[name].call(params={"size": dst.size, "in_zp": in_zp, "mult": mult, "shift": shift, "out_zp": out_zp},
                              inputs=[src.index], outputs=[dst.index])


# --------------------------------------------------------------------------- DEQUANTIZE


def lower_dequantize(g: Graph, op: Op) -> KernelCall:
    src, dst = _io(g, op)
    need_dtype(g, op, src.index, *DEQUANTIZE_INPUTS)
    need_dtype(g, op, dst.index, "float32")
    scale, zp = _scale(g, op, src), _zero_point(op, src)
    if src.dtype == "int16":
        need(zp == 0, op, f"int16 tensor '{src.name}' has zero point {zp}: TFLite's DEQUANTIZE requires 0 for int16")
    info = np.iinfo(src.dtype)
    # q - zp must be exact in float32 (and its product with the scale exact in double): |q - zp| <= 2^24.
    need(max(abs(int(info.min) - zp), abs(int(info.max) - zp)) <= 2**24, op,
         f"tensor '{src.name}' has zero point {zp}, so far outside {src.dtype} that q - zero_point is no longer exact in float")
    return KERNELS[f"tq_dequantize_{SHORT[src.dtype]}_f32"].call(
        params={"size": dst.size, "scale": scale, "zero_point": zp}, inputs=[src.index], outputs=[dst.index])


# --------------------------------------------------------------------------- CAST


def lower_cast(g: Graph, op: Op) -> KernelCall:
    src, dst = _io(g, op)
    types = ", ".join(CAST_CODES)
    for t in (src, dst):
        need(t.dtype in CAST_CODES, op, f"tensor '{t.name}' is {t.dtype}: tinyq's CAST converts between {types}")
    return KERNELS["tq_cast"].call(
        params={"size": dst.size, "in_type": CAST_CODES[src.dtype], "out_type": CAST_CODES[dst.dtype]},
        inputs=[src.index], outputs=[dst.index])


# One lowering each for every type they cross (the same function whichever type lowering_for looks up).
for _dtype in ("int8", "int16", "float32"):
    register("QUANTIZE", check=check_by_lowering(lower_quantize), lower=lower_quantize, dtype=_dtype)
    register("DEQUANTIZE", check=check_by_lowering(lower_dequantize), lower=lower_dequantize, dtype=_dtype)
refuse("DEQUANTIZE", "TFLite's DEQUANTIZE has no int32 kernel (its Prepare takes int8, uint8, int16 and float16 "
       "inputs), so the reference interpreter cannot run one; requantize to int8 or int16 with QUANTIZE first", "int32")
# One lowering for every input type; registered for int16 and float32 too, so float graphs take it.
for _dtype in ("int8", "int16", "float32"):
    register("CAST", check=check_by_lowering(lower_cast), lower=lower_cast, dtype=_dtype)
