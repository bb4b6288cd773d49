"""Resizing: RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on int8, int16 (16x8) and float32.

Both ops match the kernels TFLite's reference resolver (BUILTIN_REF) runs; tinyq/ops computes what
those kernels recompute for every output pixel - the source rows and columns and the interpolation
weights - once, here, and hands the C kernels (tq_resize.h) one table per output axis:

- RESIZE_NEAREST_NEIGHBOR (resize_nearest_neighbor.cc, every type): reference_ops::
  ResizeNearestNeighbor, dispatched on the element size only, so one kernel (tq_resize_nearest) moves
  pixels of any type. GetNearestNeighbor's source index, in float32 as TFLite computes it: the scale
  is in / out, or (in - 1) / (out - 1) with align_corners (and out > 1), divided in float; the index is
  floor((o + offset) * scale), std::round of it with align_corners, offset 0.5 with half_pixel_centers
  (then clamped at 0), clamped at in - 1. Every flag pair runs, align_corners with half_pixel_centers
  too (only the bilinear Prepare rejects that pair).
- RESIZE_BILINEAR on int8 and int16: resize_bilinear.cc's kReference Eval calls reference_ops::
  ResizeBilinearInteger for both (the float ResizeBilinear<int8_t> is the optimized path's). Fixed
  point with 10 fractional bits: scale_10 = (1024 * in + out / 2) / out (align_corners: in - 1 and
  out - 1), source position o * scale_10 (+ scale_10 / 2 - 512 with half_pixel_centers), lower index
  max(pos / 1024, 0) and upper min((pos + 1023) / 1024, in - 1) in C's truncating division, the four
  taps weighted by products of (1024 - frac) and frac, summed in 64 bits and divided by 2^20 rounding
  half away from zero (TFLite's default build; TFLITE_SINGLE_ROUNDING would round half up). Where both
  taps of an axis are the same pixel (position below 0, or past the last pixel) its two weights always
  add up to 1024, so the table gives that pixel weight 1024 and the other 0: the same integer sum,
  with weights in [0, 1024] that the kernels' narrower arithmetic relies on.
- RESIZE_BILINEAR on float32: reference_ops::ResizeBilinear<float>: float32 scale and positions as in
  ComputeInterpolationValues, the weights (pos - lower) and 1 - (pos - lower) kept as float32 tables,
  and the kernel multiplies and adds in the reference expression's order: bit-exact on the host and on a
  Cortex-M4F (tinyq builds with -ffp-contract=off, so no multiply-add is fused).

Neither op reads the quantization: values are moved or interpolated raw, and TFLite's Prepare does
not ask the output to share the input's scale and zero point (the converter always makes them equal),
so a model whose output is quantized differently gets the input's raw values, as in TFLite. Any int16
zero point works for the same reason.

Refused, by name: a size input that is not a constant int32 pair of positive values (tinyq compiles
static shapes), input ranks other than 4, an output shape other than the one the size gives,
RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite's Prepare fails), and the
sizes for which TFLite's integer or float bilinear kernel reads a source row or column past the
input's end (its lower index is not clamped: upscaling 1 row to 70 on int8, say, reads row 1 of a
1-row image: the next image's pixels, or memory past the tensor for the last one), where there is
nothing in bounds to be bit-exact with. Over inputs of 1-64 and outputs of 1-256 rows or columns this
happens only on the integer path with neither flag set, from about 8.7x upscaling (28 -> 244, 1 -> 55);
Keras' Resizing and UpSampling2D set half_pixel_centers and never hit it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    check_by_lowering,
    kernel_table,
    need,
    need_dtype,
    nhwc,
    register,
    tflite_round,
)

HEADER = "tq_resize.h"
ONE = 1 << 10  # ResizeBilinearInteger's fixed point: 10 fractional bits (TQ_RESIZE_ONE in tq_resize.h)
ELEM_BYTES = {"int8": 1, "int16": 2, "float32": 4}
DTYPES = tuple(ELEM_BYTES)

KERNELS = kernel_table(
    # every type: pixels of elem_size * channels bytes, picked by table
    Kernel("tq_resize_nearest", "tq_resize_nearest_params", HEADER, ("resize/tq_resize_nearest.c",)),
    # ResizeBilinearInteger (int8, int16), ResizeBilinear<float> (float32)
    Kernel("tq_resize_bilinear_s8", "tq_resize_bilinear_s8_params", HEADER, ("resize/tq_resize_bilinear_s8.c",)),
    Kernel("tq_resize_bilinear_s16", "tq_resize_bilinear_s16_params", HEADER, ("resize/tq_resize_bilinear_s16.c",)),
    Kernel("tq_resize_bilinear_f32", "tq_resize_bilinear_f32_params", HEADER, ("resize/tq_resize_bilinear_f32.c",)),
)
BILINEAR_KERNEL = {"int8": "tq_resize_bilinear_s8", "int16": "tq_resize_bilinear_s16", "float32": "tq_resize_bilinear_f32"}


# --------------------------------------------------------------------------- the op, as Prepare reads it


@dataclass(frozen=True)
class Resize:
    """A resize op's tensors, sizes and flags, validated."""

    x: Tensor
    y: Tensor
    n: int
    in_h: int
    in_w: int
    c: int
    out_h: int
    out_w: int
    align_corners: bool
    half_pixel_centers: bool


def resize_op(g: Graph, op: Op, dtype: str) -> Resize:
    """The op's input, output and size, checked as both resize kernels' Prepare check them."""
    need(op.options is not None, op, f"missing {'ResizeBilinear' if op.kind == 'RESIZE_BILINEAR' else 'ResizeNearestNeighbor'}Options")
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, "
         "expected 2 (the image and its size) and 1")
    x = need_dtype(g, op, op.inputs[0], dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    need(not x.is_const, op, f"input '{x.name}' is a constant; tinyq resizes activations only")
    for t in (x, y):
        need(t.quant is None or not t.quant.per_channel, op, f"tensor '{t.name}' is quantized per channel, expected per tensor")
    need(len(x.shape) == 4, op, f"input '{x.name}' has shape {list(x.shape)}; TFLite resizes 4-D NHWC images only")
    need(op.inputs[1] >= 0, op, "the size input is missing")
    st = g.tensor(op.inputs[1])
    need(st.is_const, op, f"the size input (tensor '{st.name}') is computed at run time; tinyq compiles static shapes only: "
         "resize to a fixed size (keras.layers.Resizing(height, width), UpSampling2D) and re-export")
    need(st.dtype == "int32", op, f"the size input (tensor '{st.name}') is {st.dtype}; TFLite requires int32")
    need(len(st.shape) == 1 and st.shape[0] == 2, op, f"the size input (tensor '{st.name}') has shape {list(st.shape)}; "
         "TFLite requires [2] (height, width)")
    out_h, out_w = (int(v) for v in np.asarray(st.data).reshape(-1))
    need(out_h > 0 and out_w > 0, op, f"the size input (tensor '{st.name}') is [{out_h}, {out_w}]; "
         "both must be positive (tinyq compiles no empty tensors)")
    n, in_h, in_w, c = (int(d) for d in x.shape)
    need(n > 0 and in_h > 0 and in_w > 0 and c > 0, op, f"input '{x.name}' has shape {list(x.shape)}, with no elements")
    need(tuple(y.shape) == (n, out_h, out_w, c), op, f"output '{y.name}' has shape {list(y.shape)}, but resizing "
         f"{list(x.shape)} to [{out_h}, {out_w}] gives {[n, out_h, out_w, c]}")
    for t in (x, y):
        need(t.nbytes < 2**31, op, f"tensor '{t.name}' holds {t.nbytes} bytes; tinyq indexes tensors below 2^31 bytes")
    o = op.options
    return Resize(x, y, n, in_h, in_w, c, out_h, out_w, bool(o.alignCorners), bool(o.halfPixelCenters))


# --------------------------------------------------------------------------- RESIZE_NEAREST_NEIGHBOR


def nearest_index(o: int, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> int:
    """reference_ops::GetNearestNeighbor: the source index of output index `o` on one axis (float32)."""
    f = np.float32
    if align_corners and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    pos = (f(o) + f(0.5 if half_pixel_centers else 0.0)) * scale
    i = tflite_round(float(pos)) if align_corners else math.floor(float(pos))
    i = min(i, in_size - 1)
    if half_pixel_centers:
        i = max(i, 0)
    return i


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    return [nearest_index(o, in_size, out_size, align_corners, half_pixel_centers) for o in range(out_size)]


def lower_nearest(g: Graph, op: Op, dtype: str) -> KernelCall:
    r = resize_op(g, op, dtype)
    pixel = ELEM_BYTES[dtype] * r.c
    rows = nearest_indices(r.in_h, r.out_h, r.align_corners, r.half_pixel_centers)
    cols = nearest_indices(r.in_w, r.out_w, r.align_corners, r.half_pixel_centers)
    need(all(0 <= i < r.in_h for i in rows) and all(0 <= i < r.in_w for i in cols), op, "a source index lies outside "
         "the input (internal error)")
    return KERNELS["tq_resize_nearest"].call(
        params={"elem_size": ELEM_BYTES[dtype], "in": nhwc(r.x.shape), "out": nhwc(r.y.shape),
                "row": ArrayRef("row"), "col": ArrayRef("col")},
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        arrays=[ConstArray("row", "int32_t", np.array([i * r.in_w * pixel for i in rows], dtype=np.int64).astype(np.int32)),
                ConstArray("col", "int32_t", np.array([i * pixel for i in cols], dtype=np.int32))],
    )


# --------------------------------------------------------------------------- RESIZE_BILINEAR


def _trunc_div(a: int, b: int) -> int:
    """C++ integer division (rounds toward zero), b > 0."""
    q = abs(a) // b
    return q if a >= 0 else -q


def bilinear_axis_int(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[tuple[int, int, int]]:
    """ResizeBilinearInteger on one axis: (lower, upper, pos - 1024 * lower) for every output index, as
    ComputeInterpolationValuesInteger gives them (lower is not clamped to in_size - 1, as in TFLite)."""
    if align_corners and out_size > 1:
        scale = (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = (ONE * in_size + out_size // 2) // out_size
    out = []
    for o in range(out_size):
        pos = o * scale + scale // 2 - (1 << 9) if half_pixel_centers else o * scale
        lo = max(_trunc_div(pos, ONE), 0)
        hi = min(_trunc_div(pos + ONE - 1, ONE), in_size - 1)
        out.append((lo, hi, pos - ONE * lo))
    return out


def bilinear_axis_float(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[tuple[int, int, np.float32]]:
    """ResizeBilinear<float> on one axis: (lower, upper, pos - lower) for every output index, in
    float32 as ComputeInterpolationValues computes them (lower is not clamped to in_size - 1)."""
    f = np.float32
    if align_corners and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    out = []
    for o in range(out_size):
        pos = (f(o) + f(0.5)) * scale - f(0.5) if half_pixel_centers else f(o) * scale
        lo = max(int(np.floor(pos)), 0)
        hi = min(int(np.ceil(pos)), in_size - 1)
        out.append((lo, hi, f(pos - f(lo))))
    return out


def _in_bounds(op: Op, axis: str, r: Resize, taps, in_size: int, out_size: int) -> None:
    """Refuse the sizes for which TFLite's bilinear kernel reads past the input's end on `axis`."""
    for o, (lo, _, _) in enumerate(taps):
        need(lo <= in_size - 1, op, f"resizing {in_size} {axis}s to {out_size} (align_corners={r.align_corners}, "
             f"half_pixel_centers={r.half_pixel_centers}): TFLite's {r.x.dtype} RESIZE_BILINEAR reads {axis} {lo} of "
             f"{in_size} for output {axis} {o} (its lower index is not clamped), past the input's end: the next "
             "image or memory beyond the tensor, so there is no defined result to match; choose another output "
             "size, or set half_pixel_centers (as Keras Resizing and UpSampling2D do)")


def lower_bilinear(g: Graph, op: Op, dtype: str) -> KernelCall:
    r = resize_op(g, op, dtype)
    need(not (r.align_corners and r.half_pixel_centers), op, "align_corners and half_pixel_centers are both set; "
         "TFLite's RESIZE_BILINEAR rejects the pair (its Prepare fails): set at most one")
    row_px, px = r.in_w * r.c, r.c  # element offsets of a source row in an image, of a pixel in a row
    if dtype == "float32":
        ys = bilinear_axis_float(r.in_h, r.out_h, r.align_corners, r.half_pixel_centers)
        xs = bilinear_axis_float(r.in_w, r.out_w, r.align_corners, r.half_pixel_centers)
        _in_bounds(op, "row", r, ys, r.in_h, r.out_h)
        _in_bounds(op, "column", r, xs, r.in_w, r.out_w)
        f = np.float32
        arrays = [
            ConstArray("row0", "int32_t", np.array([lo * row_px for lo, _, _ in ys], dtype=np.int32)),
            ConstArray("row1", "int32_t", np.array([hi * row_px for _, hi, _ in ys], dtype=np.int32)),
            ConstArray("wy0", "float", np.array([f(1) - d for _, _, d in ys], dtype=np.float32)),
            ConstArray("wy1", "float", np.array([d for _, _, d in ys], dtype=np.float32)),
            ConstArray("col0", "int32_t", np.array([lo * px for lo, _, _ in xs], dtype=np.int32)),
            ConstArray("col1", "int32_t", np.array([hi * px for _, hi, _ in xs], dtype=np.int32)),
            ConstArray("wx0", "float", np.array([f(1) - d for _, _, d in xs], dtype=np.float32)),
            ConstArray("wx1", "float", np.array([d for _, _, d in xs], dtype=np.float32)),
        ]
    else:
        need(max(r.in_h, r.in_w, r.out_h, r.out_w) < 2**20, op, f"resizing {[r.in_h, r.in_w]} to {[r.out_h, r.out_w]}: "
             "TFLite's int32 source positions (1024 * size) would overflow; tinyq takes sizes below 2^20")
        ys = bilinear_axis_int(r.in_h, r.out_h, r.align_corners, r.half_pixel_centers)
        xs = bilinear_axis_int(r.in_w, r.out_w, r.align_corners, r.half_pixel_centers)
        _in_bounds(op, "row", r, ys, r.in_h, r.out_h)
        _in_bounds(op, "column", r, xs, r.in_w, r.out_w)

        def weight(lo: int, hi: int, frac: int) -> int:
            # One pixel under both taps: weights 1024 - frac and frac add up to 1024 on it.
            if lo == hi:
                return 0
            need(0 <= frac <= ONE, op, f"interpolation weight {frac}/1024 outside [0, 1] (internal error)")
            return frac

        arrays = [
            ConstArray("row0", "int32_t", np.array([lo * row_px for lo, _, _ in ys], dtype=np.int32)),
            ConstArray("row1", "int32_t", np.array([hi * row_px for _, hi, _ in ys], dtype=np.int32)),
            ConstArray("wy", "int16_t", np.array([weight(*t) for t in ys], dtype=np.int16)),
            ConstArray("col0", "int32_t", np.array([lo * px for lo, _, _ in xs], dtype=np.int32)),
            ConstArray("col1", "int32_t", np.array([hi * px for _, hi, _ in xs], dtype=np.int32)),
            ConstArray("wx", "int16_t", np.array([weight(*t) for t in xs], dtype=np.int16)),
        ]
    params = {"in": nhwc(r.x.shape), "out": nhwc(r.y.shape), **{a.name: ArrayRef(a.name) for a in arrays}}
    return KERNELS[BILINEAR_KERNEL[dtype]].call(params=params, inputs=[op.inputs[0]], outputs=[op.outputs[0]], arrays=arrays)


def macs_bilinear(g: Graph, op: Op) -> int:
    """Four taps per output value."""
    return 4 * g.tensor(op.outputs[0]).size


# --------------------------------------------------------------------------- registration


def _typed(lower, dtype: str):
    """`lower(g, op, dtype)` as the lowering of one type."""

    def lower_typed(g: Graph, op: Op) -> KernelCall:
        return lower(g, op, dtype)

    lower_typed.__name__ = f"{lower.__name__}_{dtype}"
    return lower_typed


for _dtype in DTYPES:
    _low = _typed(lower_nearest, _dtype)
    register("RESIZE_NEAREST_NEIGHBOR", check=check_by_lowering(_low), lower=_low, dtype=_dtype)
    _low = _typed(lower_bilinear, _dtype)
    register("RESIZE_BILINEAR", check=check_by_lowering(_low), lower=_low, macs=macs_bilinear, dtype=_dtype)
