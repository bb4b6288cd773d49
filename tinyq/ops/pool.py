"""Pooling and reduction: AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, REDUCE_MAX, REDUCE_MIN on int8 and int16x8;
those and SUM on float32.

int8 matches TFLite's reference path (BUILTIN_REF), with tq_pool.h kernels:
- pooling.cc GenericPrepare + reference_integer_ops::AveragePool / MaxPool: padding from
  ComputePaddingHeightWidth, averages rounded half away from zero over the valid elements,
  clamp to the fused activation range. Pooling works on raw int8 values; TFLite only
  debug-checks that input and output share quantization, so the kernel does the same arithmetic.
- reduce.cc PrepareMeanOrSum + EvalQuantizedMean -> reference_ops::QuantizedMeanOrSum:
  multiplier of in_scale / out_scale, re-scaled by the reduced element count
  (floor(log2(count)) bits, capped at 32 and 31 + shift). With kReference this integer path
  is taken for every int8 MEAN: the 4-D spatial (axes 1,2, keep_dims) Mean and the equal-
  quantization integer division of older TFLite are gone (checked against ai_edge_litert).
- reduce.cc EvalGeneric -> reference_ops::ReduceGeneric for REDUCE_MAX / REDUCE_MIN (Keras
  GlobalMaxPooling1D/2D): the largest / smallest raw value of each block; TFLite's Eval requires
  the output to share the input's scale and zero point, so nothing is rescaled.

int16x8: AVERAGE_POOL_2D / MAX_POOL_2D are reference_integer_ops pooling on int16 values (symmetric
int16 activations, as TFLite's Prepare requires); MEAN is QuantizedMeanOrSum on int16 values (int32
sums, the same multiplier arithmetic as int8: every Keras GlobalAveragePooling of a 16x8 model);
REDUCE_MAX / REDUCE_MIN as on int8.

Quantized SUM is refused: with BUILTIN_REF, reduce.cc's QuantizedMeanOrSum<T, kReference> hands the
reference kernel the tensors as uint8_t whatever their type, so an int8 SUM sums the bytes as unsigned
values and clamps to [0, 255] (-1 counts as 255), and an int16 SUM reads bytes and writes half its
output. Neither is a sum to be bit-exact with (the optimized interpreter and TFLM compute the real
one); tinyq says so and asks for MEAN or a float32 model.

float32: the same geometry, float kernels; SUM / REDUCE_MAX / REDUCE_MIN in ReduceGeneric's order.

ARG_MAX / ARG_MIN (int8, float32; int32 or int64 indices) and L2_NORMALIZATION (int8, float32) have their
own sections below; TFLite's reference rejects both on int16 inputs, so tinyq refuses those by name.
"""

from __future__ import annotations

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    FLOAT_DEPS,
    FLOAT_HEADER,
    INT16_DEPS,
    INT16_HEADER,
    Kernel,
    KernelCall,
    activation_range,
    check_by_lowering,
    fast_kernels,
    float_activation_range,
    int16_io,
    kernel_table,
    need,
    need_dtype,
    need_float32,
    need_int16,
    need_quant,
    nhwc,
    quantize_multiplier,
    refuse,
    register,
)
from tinyq.ops.overlap import PIXEL, window_gap

HEADER = "tq_pool.h"
SAME, VALID = 0, 1

KERNELS = kernel_table(
    # int8, TFLite's reference loops
    Kernel("tq_avgpool_s8", "tq_avgpool_s8_params", HEADER, ("pool/tq_avgpool_s8.c",)),
    Kernel("tq_maxpool_s8", "tq_maxpool_s8_params", HEADER, ("pool/tq_maxpool_s8.c",)),
    Kernel("tq_mean_s8", "tq_mean_s8_params", HEADER, ("pool/tq_mean_s8.c",)),
    Kernel("tq_reduce_s8", "tq_reduce_s8_params", HEADER, ("pool/tq_reduce_s8.c",)),  # REDUCE_MAX, REDUCE_MIN
    # int8, fast twins: four channels at once where SIMD32 is available (same parameters)
    Kernel("tq_avgpool_fast_s8", "tq_avgpool_s8_params", HEADER, ("pool/tq_avgpool_fast_s8.c", "include/tq_gemm.h", "include/tq_mve.h")),
    Kernel("tq_maxpool_fast_s8", "tq_maxpool_s8_params", HEADER, ("pool/tq_maxpool_fast_s8.c", "include/tq_gemm.h", "include/tq_mve.h")),
    # int16x8
    Kernel("tq_avgpool_s16", "tq_avgpool_s16_params", INT16_HEADER, ("pool/tq_avgpool_s16.c", *INT16_DEPS)),
    Kernel("tq_maxpool_s16", "tq_maxpool_s16_params", INT16_HEADER, ("pool/tq_maxpool_s16.c", *INT16_DEPS)),
    Kernel("tq_mean_s16", "tq_mean_s16_params", INT16_HEADER, ("pool/tq_mean_s16.c", *INT16_DEPS)),
    Kernel("tq_reduce_s16", "tq_reduce_s16_params", INT16_HEADER, ("pool/tq_reduce_s16.c", *INT16_DEPS)),
    # int16x8, fast twins: windows through a table of pixel addresses, two channels a word (tq_int16_fast.h)
    Kernel("tq_avgpool_s16_fast", "tq_avgpool_s16_params", "tq_int16_fast.h",
           ("pool/tq_avgpool_s16_fast.c", "include/tq_int16.h", *INT16_DEPS)),
    Kernel("tq_maxpool_s16_fast", "tq_maxpool_s16_params", "tq_int16_fast.h",
           ("pool/tq_maxpool_s16_fast.c", "include/tq_int16.h", *INT16_DEPS)),
    # float32
    Kernel("tq_avgpool_f32", "tq_avgpool_f32_params", FLOAT_HEADER, ("pool/tq_avgpool_f32.c", *FLOAT_DEPS)),
    Kernel("tq_maxpool_f32", "tq_maxpool_f32_params", FLOAT_HEADER, ("pool/tq_maxpool_f32.c", *FLOAT_DEPS)),
    Kernel("tq_mean_f32", "tq_mean_f32_params", FLOAT_HEADER, ("pool/tq_mean_f32.c", *FLOAT_DEPS)),
    # SUM, REDUCE_MAX, REDUCE_MIN; tq_pool.h for the tq_reduce_op codes
    Kernel("tq_reduce_f32", "tq_reduce_f32_params", FLOAT_HEADER, ("pool/tq_reduce_f32.c", "include/tq_pool.h", *FLOAT_DEPS)),
    # ARG_MAX / ARG_MIN (int32 or int64 indices) and L2_NORMALIZATION: int8 and float32
    Kernel("tq_arg_minmax_s8", "tq_arg_minmax_s8_params", HEADER, ("pool/tq_arg_minmax_s8.c",)),
    Kernel("tq_l2_norm_s8", "tq_l2_norm_s8_params", HEADER, ("pool/tq_l2_norm_s8.c",)),
    Kernel("tq_arg_minmax_f32", "tq_arg_minmax_f32_params", FLOAT_HEADER, ("pool/tq_arg_minmax_f32.c", *FLOAT_DEPS)),
    Kernel("tq_l2_norm_f32", "tq_l2_norm_f32_params", FLOAT_HEADER, ("pool/tq_l2_norm_f32.c", *FLOAT_DEPS)),
)
# The pooling kernels' names, by op.
POOL_NAMES = {"AVERAGE_POOL_2D": "avgpool", "MAX_POOL_2D": "maxpool"}
# tq_avgpool_fast_s8 sums four channels a word in halfwords, a window row at least at a time: rows of
# at most this many pixels (exact: 255 * 128 < 2^15); wider windows go a channel at a time.
POOL_WORDS_MAX_WIDTH = 255
AVG_MAX_WINDOW = 1 << 22  # tq_avg_q's numerator below 2^31 (tq_avgpool_fast_s8.c)


# --------------------------------------------------------------------------- pooling


def out_size(padding: int, size: int, filt: int, stride: int) -> int:
    """ComputeOutSize (dilation 1)."""
    if padding == SAME:
        return (size + stride - 1) // stride
    return (size + stride - filt) // stride


def pad_before(stride: int, size: int, filt: int, out: int) -> int:
    """ComputePaddingWithOffset (dilation 1): the smaller half of the total padding."""
    total = (out - 1) * stride + filt - size
    return max(total, 0) // 2


def _rows(op: Op, y, padding: int, ih: int, fh: int, sh: int) -> tuple[int, int]:
    """(output rows, top padding): from the options' padding, or, for a band of a patched stage
    (Op.pad_h, tinyq.compiler.patch), the band's own rows and padding over its input slice."""
    if op.pad_h is None:
        oh = out_size(padding, ih, fh, sh)
        return oh, pad_before(sh, ih, fh, oh)
    oh = int(y.shape[1]) if len(y.shape) == 4 else 0
    need(op.pad_h >= 0 and oh > 0 and (oh - 1) * sh - op.pad_h < ih, op,
         f"band of {oh} rows with {op.pad_h} rows of padding does not fit its {ih}-row input slice")
    return oh, op.pad_h


def _pool_geometry(g: Graph, op: Op) -> dict:
    o = op.options
    need(o is not None, op, "missing Pool2DOptions")
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x = need_dtype(g, op, op.inputs[0], "int8")
    y = need_dtype(g, op, op.outputs[0], "int8")
    need_quant(g, op, op.inputs[0])
    need_quant(g, op, op.outputs[0])
    need(len(x.shape) == 4 and len(y.shape) == 4, op, f"input {list(x.shape)} and output {list(y.shape)} must be 4-D NHWC")
    need(o.padding in (SAME, VALID), op, f"unknown padding {o.padding}")
    fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
    need(fh > 0 and fw > 0, op, f"filter {fh}x{fw} must be positive")
    need(sh > 0 and sw > 0, op, f"strides {sh}x{sw} must be positive")
    n, ih, iw, c = x.shape
    oh, ph = _rows(op, y, o.padding, ih, fh, sh)
    ow = out_size(o.padding, iw, fw, sw)
    need(
        tuple(y.shape) == (n, oh, ow, c),
        op,
        f"output shape {list(y.shape)} does not match the pooled shape {[n, oh, ow, c]}",
    )
    pw = pad_before(sw, iw, fw, ow)
    lo, hi = activation_range(int(o.fusedActivationFunction), y)
    return {"n": n, "ih": ih, "iw": iw, "c": c, "oh": oh, "ow": ow, "fh": fh, "fw": fw, "sh": sh, "sw": sw, "ph": ph, "pw": pw, "lo": lo, "hi": hi}


def _window_empty(start: int, filt: int, size: int) -> bool:
    return min(filt, size - start) <= max(0, -start)


def check_pool(g: Graph, op: Op) -> None:
    p = _pool_geometry(g, op)
    if op.kind == "AVERAGE_POOL_2D":
        # tq_avgpool_fast_s8's rounding division forms 2 * sum + 513 * count in 32 bits.
        need(p["fh"] * p["fw"] <= AVG_MAX_WINDOW, op, f"a {p['fh']}x{p['fw']} window holds over {AVG_MAX_WINDOW} values: "
             "the int32 sums could overflow")
        # TFLite's AveragePool fails on a window without valid elements; we never divide by zero.
        for oy in range(p["oh"]):
            need(not _window_empty(oy * p["sh"] - p["ph"], p["fh"], p["ih"]), op, f"output row {oy} has an empty pooling window")
        for ox in range(p["ow"]):
            need(not _window_empty(ox * p["sw"] - p["pw"], p["fw"], p["iw"]), op, f"output column {ox} has an empty pooling window")


def lower_pool(g: Graph, op: Op) -> KernelCall:
    p = _pool_geometry(g, op)
    name = POOL_NAMES[op.kind]
    # The fast twins take four channels at once where SIMD32 is available. Both kernels walk the output
    # a pixel at a time, row-major, reading only its window: the output may overlap the input (gap).
    call = KERNELS[f"tq_{name}_fast_s8" if fast_kernels(g) else f"tq_{name}_s8"].call(
        params={
            "in": {"n": p["n"], "h": p["ih"], "w": p["iw"], "c": p["c"]},
            "out": {"n": p["n"], "h": p["oh"], "w": p["ow"], "c": p["c"]},
            "filter_h": p["fh"],
            "filter_w": p["fw"],
            "stride_h": p["sh"],
            "stride_w": p["sw"],
            "pad_h": p["ph"],
            "pad_w": p["pw"],
            "act_min": p["lo"],
            "act_max": p["hi"],
            # The fast twins' channel-at-a-time path on SIMD32 cores (TQ_CFG_POOL_NARROW).
            "narrow": int(p["c"] < 4 or (op.kind == "AVERAGE_POOL_2D" and p["fw"] > POOL_WORDS_MAX_WIDTH)),
        },
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
    )
    call.gap = window_gap(call.params, PIXEL)
    return call


def macs_pool(g: Graph, op: Op) -> int:
    o = op.options
    return g.tensor(op.outputs[0]).size * int(o.filterHeight) * int(o.filterWidth)


# --------------------------------------------------------------------------- reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN

REDUCE_OPS = {"SUM": 0, "REDUCE_MAX": 1, "REDUCE_MIN": 2}  # tq_reduce_op (tq_pool.h)


def reduction(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, dict]:
    """A reduction's input and output (of `dtype`) and its blocks, as TFLite's Prepare resolves them.

    The axis tensor is a constant int32 list or scalar; negative axes count from the end, repeats
    count once (ResolveAxis). Shapes are padded to rank 4 on the left: `out4` is the keep_dims shape
    (also the element order without keep_dims), `win4` the extent reduced along each axis, `count`
    the elements per block; `all_axes` when every input axis is reduced (ReduceAllDims).
    """
    need(len(op.inputs) == 2 and op.inputs[1] >= 0 and len(op.outputs) == 1, op, "expects an input, an axis tensor and one output")
    x = need_dtype(g, op, op.inputs[0], dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    ax = g.tensor(op.inputs[1])
    need(ax.is_const, op, f"axis tensor '{ax.name}' must be constant")
    need(ax.dtype == "int32", op, f"axis tensor '{ax.name}' is {ax.dtype}, expected int32")
    rank = len(x.shape)
    need(1 <= rank <= 4, op, f"input shape {list(x.shape)} has rank {rank}; {op.kind} supports ranks 1 to 4")
    axes: list[int] = []
    for a in ax.data.reshape(-1).tolist():
        r = a + rank if a < 0 else a
        need(0 <= r < rank, op, f"axis {a} is out of range for rank {rank}")
        if r not in axes:
            axes.append(r)
    keep = bool(getattr(op.options, "keepDims", False)) if op.options is not None else False
    kept_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    want = kept_shape if keep else tuple(d for i, d in enumerate(x.shape) if i not in axes)
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} does not match the reduced shape {list(want)}")
    in4 = (1,) * (4 - rank) + tuple(x.shape)
    out4 = (1,) * (4 - rank) + kept_shape
    win4 = tuple(i // o for i, o in zip(in4, out4))
    count = 1
    for w in win4:
        count *= w
    return x, y, {"in4": in4, "out4": out4, "win4": win4, "count": count, "axes": axes, "all_axes": len(axes) == rank}


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """PrepareMeanOrSum's multiplier of in_scale / out_scale (float32 scales divided in double), with
    1 / count folded in as QuantizedMeanOrSum does it (floor(log2(count)) bits, at most 32 and
    31 + shift, then an integer division)."""
    mult, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    return (mult << bits) // count, shift - bits


def _mean_plan(g: Graph, op: Op) -> dict:
    _, _, r = reduction(g, op, "int8")
    qx = need_quant(g, op, op.inputs[0])
    qy = need_quant(g, op, op.outputs[0])
    count = r["count"]
    need(count * 255 < 2**31, op, f"reduces {count} elements: the int32 sum could overflow")
    # No axes (count 1) rescales too: the reference kernel has no copy shortcut (ReduceIsCopy is the
    # optimized kernels'), which ai_edge_litert confirms.
    mult, shift = mean_multiplier(qx.s, qy.s, count)
    need(-31 <= shift <= 30, op, f"rescale shift {shift} is outside TFLite's range")
    sum_offset, out_zp = qx.zp * count, qy.zp
    return {"in4": r["in4"], "out4": r["out4"], "win4": r["win4"], "mult": mult, "shift": shift, "sum_offset": sum_offset, "out_zp": out_zp}


def _mean_params(p: dict) -> dict:
    return {
        "in": nhwc(p["in4"]),
        "out": nhwc(p["out4"]),
        "win": nhwc(p["win4"]),
        "sum_offset": p["sum_offset"],
        "mult": p["mult"],
        "shift": p["shift"],
        "out_zp": p["out_zp"],
    }


def check_mean(g: Graph, op: Op) -> None:
    _mean_plan(g, op)


def lower_mean(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_mean_s8"].call(params=_mean_params(_mean_plan(g, op)), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


def _mean_s16_plan(g: Graph, op: Op) -> dict:
    """EvalQuantizedMean<int16_t>: QuantizedMeanOrSum on int16 values, zero points 0."""
    x, y, r = reduction(g, op, "int16")
    need_int16(g, op, op.inputs[0])
    need_int16(g, op, op.outputs[0])
    count = r["count"]
    need(count * 32768 < 2**31, op, f"reduces {count} elements: the int32 sum of int16 values could overflow")
    mult, shift = mean_multiplier(x.quant.s, y.quant.s, count)
    need(-31 <= shift <= 30, op, f"input scale {x.quant.s:g} and output scale {y.quant.s:g} over {count} elements "
         f"need a rescale shift of {shift}, outside TFLite's range (the scales are too far apart)")
    return {"in4": r["in4"], "out4": r["out4"], "win4": r["win4"], "mult": mult, "shift": shift, "sum_offset": 0, "out_zp": 0}


def check_mean_s16(g: Graph, op: Op) -> None:
    _mean_s16_plan(g, op)


def lower_mean_s16(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_mean_s16"].call(params=_mean_params(_mean_s16_plan(g, op)), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


def macs_reduce(g: Graph, op: Op) -> int:
    return g.tensor(op.inputs[0]).size


macs_mean = macs_reduce


def _minmax_params(g: Graph, op: Op, dtype: str) -> dict:
    """REDUCE_MAX / REDUCE_MIN on int8 or int16: EvalType requires equal input and output quantization."""
    _, _, r = reduction(g, op, dtype)
    if dtype == "int16":
        qx, qy = need_int16(g, op, op.inputs[0]).quant, need_int16(g, op, op.outputs[0]).quant
    else:
        qx, qy = need_quant(g, op, op.inputs[0]), need_quant(g, op, op.outputs[0])
    need(
        float(qx.s) == float(qy.s) and qx.zp == qy.zp,
        op,
        f"output quantization (scale {qy.s:g}, zero point {qy.zp}) differs from the input's (scale {qx.s:g}, "
        f"zero point {qx.zp}); TFLite's {op.kind} requires them equal (its Eval fails otherwise)",
    )
    return {"in": nhwc(r["in4"]), "out": nhwc(r["out4"]), "win": nhwc(r["win4"]), "op": REDUCE_OPS[op.kind]}


def lower_minmax(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_reduce_s8"].call(params=_minmax_params(g, op, "int8"), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


def lower_minmax_s16(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_reduce_s16"].call(params=_minmax_params(g, op, "int16"), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- pooling (int16x8)


def _pool_s16_params(g: Graph, op: Op) -> dict:
    o = op.options
    need(o is not None, op, "missing Pool2DOptions")
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = int16_io(g, op)
    need(len(x.shape) == 4 and len(y.shape) == 4, op, f"input {list(x.shape)} and output {list(y.shape)} must be 4-D NHWC")
    need(o.padding in (SAME, VALID), op, f"unknown padding {o.padding}")
    fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
    need(fh > 0 and fw > 0 and sh > 0 and sw > 0, op, f"filter {fh}x{fw} and strides {sh}x{sw} must be positive")
    n, ih, iw, ch = x.shape
    oh, ph = _rows(op, y, o.padding, ih, fh, sh)
    ow = out_size(o.padding, iw, fw, sw)
    need(tuple(y.shape) == (n, oh, ow, ch), op, f"output shape {list(y.shape)} does not match the pooled shape {[n, oh, ow, ch]}")
    need(fh * fw <= 65536, op, f"a {fh}x{fw} window could overflow the int32 sum of int16 values")
    pw = pad_before(sw, iw, fw, ow)
    if op.kind == "AVERAGE_POOL_2D":
        for oy in range(oh):
            need(not _window_empty(oy * sh - ph, fh, ih), op, f"output row {oy} has an empty pooling window")
        for ox in range(ow):
            need(not _window_empty(ox * sw - pw, fw, iw), op, f"output column {ox} has an empty pooling window")
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


def check_pool_s16(g: Graph, op: Op) -> None:
    _pool_s16_params(g, op)


POOL16_MAX_WINDOW = 64  # TQ_POOL16_MAX_WINDOW: the fast twins' window table


def lower_pool_s16(g: Graph, op: Op) -> KernelCall:
    params = _pool_s16_params(g, op)
    # Helium builds (k_align 16) read windows row by row: any size; the other paths through a table.
    small = params["filter_h"] * params["filter_w"] <= POOL16_MAX_WINDOW or g.target.k_align == 16
    fast = "_fast" if fast_kernels(g) and small else ""
    return KERNELS[f"tq_{POOL_NAMES[op.kind]}_s16{fast}"].call(params=params, inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- pooling, MEAN (float32)


def lower_pool_f32(g: Graph, op: Op) -> KernelCall:
    o = op.options
    need(o is not None, op, "missing Pool2DOptions")
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = need_float32(g, op, op.inputs[0], op.outputs[0])
    need(len(x.shape) == 4, op, f"input {list(x.shape)} must be 4-D NHWC")
    fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
    need(min(fh, fw, sh, sw) > 0 and int(o.padding) in (0, 1), op, f"filter {fh}x{fw}, strides {sh}x{sw}, padding {o.padding} are invalid")
    n, ih, iw, c = x.shape
    oh, ow = out_size(int(o.padding), ih, fh, sh), out_size(int(o.padding), iw, fw, sw)
    need(tuple(y.shape) == (n, oh, ow, c), op, f"output shape {list(y.shape)} does not match the pooled shape {[n, oh, ow, c]}")
    ph, pw = pad_before(sh, ih, fh, oh), pad_before(sw, iw, fw, ow)
    rows_ok = all(not _window_empty(r * sh - ph, fh, ih) for r in range(oh))
    cols_ok = all(not _window_empty(k * sw - pw, fw, iw) for k in range(ow))
    need(rows_ok and cols_ok, op, "a pooling window holds no input element")
    lo, hi = float_activation_range(op)
    params = {"in": nhwc(x.shape), "out": nhwc(y.shape), "filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw,
              "pad_h": ph, "pad_w": pw, "act_min": lo, "act_max": hi}
    return KERNELS[f"tq_{POOL_NAMES[op.kind]}_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


def lower_mean_f32(g: Graph, op: Op) -> KernelCall:
    _, _, r = reduction(g, op, "float32")
    return KERNELS["tq_mean_f32"].call(params={"in": nhwc(r["in4"]), "out": nhwc(r["out4"]), "win": nhwc(r["win4"])},
                                       inputs=[op.inputs[0]], outputs=[op.outputs[0]])


def lower_reduce_f32(g: Graph, op: Op) -> KernelCall:
    """SUM, REDUCE_MAX, REDUCE_MIN: ReduceGeneric, or ReduceAllDims when every axis is reduced."""
    _, _, r = reduction(g, op, "float32")
    params = {"in": nhwc(r["in4"]), "out": nhwc(r["out4"]), "win": nhwc(r["win4"]), "op": REDUCE_OPS[op.kind],
              "from_first": int(r["all_axes"])}
    return KERNELS["tq_reduce_f32"].call(params=params, inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- ARG_MAX, ARG_MIN
#
# arg_min_max.cc: Prepare takes a one-element int32 or int64 axis (negative counts from the end) and the
# output type of ArgMaxOptions / ArgMinOptions (int32 or int64), and accepts float32, uint8, int8 and
# int32 inputs (int16 it rejects); Eval runs ArgMinMax with std::greater / std::less, so the first
# index wins a tie and a NaN never replaces the best (a leading NaN stays). Quantized inputs are
# compared raw (a positive scale keeps their order): there is no quantization arithmetic at all.

INDEX_TYPES = {2: "int32", 4: "int64"}  # TensorType of ArgMaxOptions.output_type


def _arg_minmax_params(g: Graph, op: Op, dtype: str) -> dict:
    need(len(op.inputs) == 2 and op.inputs[1] >= 0 and len(op.outputs) == 1, op, "expects an input, an axis tensor and one output")
    x = need_dtype(g, op, op.inputs[0], dtype)
    y = g.tensor(op.outputs[0])
    ax = g.tensor(op.inputs[1])
    need(ax.is_const, op, f"axis tensor '{ax.name}' is computed at run time; tinyq compiles a constant axis only")
    need(ax.dtype in ("int32", "int64"), op, f"axis tensor '{ax.name}' is {ax.dtype}; TFLite takes int32 or int64")
    need(ax.size == 1, op, f"axis tensor '{ax.name}' holds {ax.size} values; TFLite takes exactly one axis")
    o = op.options
    want = INDEX_TYPES.get(int(getattr(o, "outputType", -1))) if o is not None else None
    need(want is not None, op, f"output_type {getattr(o, 'outputType', None)} is not INT32 or INT64 (TFLite's Prepare refuses it)")
    need(y.dtype == want, op, f"output '{y.name}' is {y.dtype} but output_type says {want}")
    rank = len(x.shape)
    need(rank >= 1, op, "input is a scalar; TFLite needs at least one dimension")
    axis = int(np.asarray(ax.data).reshape(-1)[0])
    a = axis + rank if axis < 0 else axis
    need(0 <= a < rank, op, f"axis {axis} is out of range for rank {rank}")
    want_shape = tuple(d for i, d in enumerate(x.shape) if i != a)
    need(tuple(y.shape) == want_shape, op, f"output shape {list(y.shape)} does not match {list(want_shape)} (the input without axis {a})")
    need(x.shape[a] >= 1, op, f"axis {a} is empty")
    outer = int(np.prod(x.shape[:a], dtype=np.int64))
    inner = int(np.prod(x.shape[a + 1:], dtype=np.int64))
    return {"outer": outer, "axis_size": int(x.shape[a]), "inner": inner, "is_max": int(op.kind == "ARG_MAX"),
            "index64": int(want == "int64")}


def lower_arg_minmax(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_arg_minmax_s8"].call(params=_arg_minmax_params(g, op, "int8"), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


def lower_arg_minmax_f32(g: Graph, op: Op) -> KernelCall:
    return KERNELS["tq_arg_minmax_f32"].call(params=_arg_minmax_params(g, op, "float32"), inputs=[op.inputs[0]], outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- L2_NORMALIZATION
#
# l2norm.cc: rank <= 4, input and output of one type (float32, uint8 or int8: int16 is rejected), no
# fused activation; int8 output quantized with scale 1/128 and zero point 0. The reference kernels
# normalize along the last axis: int8 by reference_integer_ops::L2Normalization (fixed-point inverse
# square root, tq_l2_norm_s8), float32 by reference_ops::L2Normalization with epsilon 1e-6.

L2_EPSILON = float(np.float32(1e-6))
L2_OUTPUT_SCALE = 1.0 / 128.0


def _l2_geometry(g: Graph, op: Op, dtype: str) -> tuple[Tensor, dict]:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x = need_dtype(g, op, op.inputs[0], dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    need(not x.is_const, op, "has a constant input, which is not supported")
    need(1 <= len(x.shape) <= 4, op, f"input shape {list(x.shape)} has rank {len(x.shape)}; TFLite's L2_NORMALIZATION takes ranks 1 to 4")
    need(tuple(y.shape) == tuple(x.shape), op, f"output shape {list(y.shape)} differs from the input's {list(x.shape)}")
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    need(fused == 0, op, "has a fused activation; TFLite's L2_NORMALIZATION Prepare requires NONE")
    depth = int(x.shape[-1])
    return x, {"outer": x.size // depth if depth else 0, "depth": depth}


def lower_l2_norm(g: Graph, op: Op) -> KernelCall:
    x, p = _l2_geometry(g, op, "int8")
    qx = need_quant(g, op, op.inputs[0])
    qy = need_quant(g, op, op.outputs[0])
    need(float(qy.s) == L2_OUTPUT_SCALE and qy.zp == 0, op,
         f"output quantization (scale {qy.s:g}, zero point {qy.zp}) is not TFLite's fixed 1/128 and 0 (its Prepare refuses it)")
    need(p["depth"] * 255 * 255 < 2**31, op, f"vectors of {p['depth']} values: the int32 sum of squares could overflow")
    return KERNELS["tq_l2_norm_s8"].call(params={**p, "in_zp": int(qx.zp)}, inputs=[x.index], outputs=[op.outputs[0]])


def lower_l2_norm_f32(g: Graph, op: Op) -> KernelCall:
    x, p = _l2_geometry(g, op, "float32")
    return KERNELS["tq_l2_norm_f32"].call(params={**p, "epsilon": L2_EPSILON}, inputs=[x.index], outputs=[op.outputs[0]])


def macs_elements(g: Graph, op: Op) -> int:
    return g.tensor(op.inputs[0]).size


# --------------------------------------------------------------------------- registration

for _kind in POOL_NAMES:
    register(_kind, check=check_pool, lower=lower_pool, macs=macs_pool)
    register(_kind, check=check_pool_s16, lower=lower_pool_s16, macs=macs_pool, dtype="int16")
    register(_kind, check=check_by_lowering(lower_pool_f32), lower=lower_pool_f32, macs=macs_pool, dtype="float32")
register("MEAN", check=check_mean, lower=lower_mean, macs=macs_mean)
register("MEAN", check=check_mean_s16, lower=lower_mean_s16, macs=macs_mean, dtype="int16")
register("MEAN", check=check_by_lowering(lower_mean_f32), lower=lower_mean_f32, macs=macs_mean, dtype="float32")
for _kind in ("REDUCE_MAX", "REDUCE_MIN"):
    register(_kind, check=check_by_lowering(lower_minmax), lower=lower_minmax, macs=macs_reduce)
    register(_kind, check=check_by_lowering(lower_minmax_s16), lower=lower_minmax_s16, macs=macs_reduce, dtype="int16")
for _kind in REDUCE_OPS:
    register(_kind, check=check_by_lowering(lower_reduce_f32), lower=lower_reduce_f32, macs=macs_reduce, dtype="float32")
for _kind in ("ARG_MAX", "ARG_MIN"):
    register(_kind, check=check_by_lowering(lower_arg_minmax), lower=lower_arg_minmax, macs=macs_elements)
    register(_kind, check=check_by_lowering(lower_arg_minmax_f32), lower=lower_arg_minmax_f32, macs=macs_elements, dtype="float32")
    refuse(_kind, f"int16 {_kind} is not supported: TFLite's {_kind} (arg_min_max.cc Prepare) rejects int16 inputs, so "
           "there is no reference to be bit-exact with; keep the op in int8 or float32", dtype="int16")
register("L2_NORMALIZATION", check=check_by_lowering(lower_l2_norm), lower=lower_l2_norm, macs=macs_elements)
register("L2_NORMALIZATION", check=check_by_lowering(lower_l2_norm_f32), lower=lower_l2_norm_f32, macs=macs_elements, dtype="float32")
refuse("L2_NORMALIZATION", "int16 L2_NORMALIZATION is not supported: TFLite's L2_NORMALIZATION (l2norm.cc Prepare) takes float32, "
       "uint8 and int8 only, so there is no reference to be bit-exact with; use an int8 or float32 model", dtype="int16")
for _dtype in ("int8", "int16"):
    refuse("SUM", f"{_dtype} SUM is not supported: TFLite's reference SUM kernel (BUILTIN_REF) reads the {_dtype} "
           "tensors as uint8 (reduce.cc), so its outputs are not sums and there is nothing correct to be bit-exact "
           "with; use MEAN (keras.ops.mean) instead, or a float32 model", dtype=_dtype)
