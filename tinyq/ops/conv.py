"""Convolution family: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV on int8, int16x8 and float32.

int8 matches TFLite's builtin ops with the kReference kernels (the BUILTIN_REF resolver):
reference_integer_ops::ConvPerChannel, DepthwiseConvPerChannel, FullyConnected and
FullyConnectedPerChannel. Everything Prepare computes is done here once:

- padding: ComputePaddingHeightWidth (out size from ComputeOutSize; the reference kernels use
  only the top/left padding, the odd extra SAME row/column falls bottom/right by the bounds);
- requantization scale per output channel: effective_scale = double(input_scale) *
  double(filter_scale[c]) / double(output_scale) (per-tensor weights broadcast one scale).
  CONV_2D and DEPTHWISE_CONV_2D turn it into a fixed-point multiplier and shift with
  QuantizeMultiplier (PopulateConvolutionQuantizationParams) and requantize with
  MultiplyByQuantizedMultiplier. FULLY_CONNECTED's kReference kernel calls the reference
  FullyConnected / FullyConnectedPerChannel variants that take the float scales and requantize
  in double: round((double)acc * effective_scale). Verified against the interpreter with
  power-of-two scales, where every rounding scheme disagrees on ties (tests/test_ops_conv.py);
- the fused activation's clamp range (CalculateActivationRangeQuantized).

int16x8 (int16 activations, int8 weights), matched to what the BUILTIN_REF resolver runs for
int16 tensors (geometry and weight checks are the int8 ones):

- CONV_2D / DEPTHWISE_CONV_2D: reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel
  in their int16-input, int64-bias form: int64 accumulator, per-channel QuantizeMultiplier of
  double(input_scale) * double(filter_scale[c]) / double(output_scale) as for int8, applied by the
  int64 MultiplyByQuantizedMultiplier (multiplier rounded to 16 bits, one rounding shift).
- FULLY_CONNECTED: the reference FullyConnected(PerChannel) variants with float scales, as the
  int8 kReference path: round((double)acc * effective_scale).

float32: the same geometry; the kernels sum in the reference kernels' order (see tinyq.ops).

TRANSPOSE_CONV (all three types) has its own section below: TFLite's transpose-conv padding and its
scatter loops with an int32 / int64 scratch of the output's size.

BATCH_MATMUL (int8, int16x8, float32) too: batch_matmul.cc's Prepare and reference loops, both operands
read in place (constant or not), one per-tensor multiplier.
"""

from __future__ import annotations

import math

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    FLOAT_DEPS,
    FLOAT_HEADER,
    FUSED_NAMES,
    INT16_DEPS,
    INT16_HEADER,
    SHAPE_INPUTS,
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    TensorRef,
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
    register,
)
from tinyq.ops.overlap import PAIR, PIXEL, window_gap
from tinyq.ops.packed import packed_arrays

HEADER = "tq_conv.h"
FAST_HEADER = "tq_conv_fast.h"
# The fast convolutions' GEMM helpers, with the assembler for the DSP extension and its macros.
GEMM = ("include/tq_gemm.h", "include/tq_mve.h", "conv/tq_gemm_dsp.S", "include/tq_dsp_asm.h")
RESIDUAL = "conv/tq_residual_add_s8.c"  # the ADD fuse_residual may fold into a fast convolution
# The dot products of the fast TRANSPOSE_CONV and BATCH_MATMUL (SMLAD on the DSP extension, VMLADAVA on Helium).
DOT = "include/tq_dot_fast.h"
PACKED_HEADER = "tq_packed.h"  # the packed-weight kernels (tq_conv.h's structs, which it includes)
# The fast int16x8 kernels' header and what it includes.
FAST16_HEADER = "tq_int16_fast.h"
FAST16_DEPS = ("include/tq_int16.h", *INT16_DEPS)

KERNELS = kernel_table(
    # int8, TFLite's reference loops (--kernels ref)
    Kernel("tq_conv_s8", "tq_conv_s8_params", HEADER, ("conv/tq_conv_s8.c",)),
    Kernel("tq_depthwise_conv_s8", "tq_depthwise_conv_s8_params", HEADER, ("conv/tq_depthwise_conv_s8.c",)),
    Kernel("tq_fully_connected_s8", "tq_fully_connected_s8_params", HEADER, ("conv/tq_fully_connected_s8.c",)),
    # int8, specialized at generation time (--kernels fast); each _wide twin reads int16 weights (--wide-weights)
    Kernel("tq_conv_1x1_s8", "tq_conv_1x1_s8_params", FAST_HEADER, ("conv/tq_conv_1x1_s8.c", RESIDUAL, *GEMM)),
    Kernel("tq_conv_1x1_wide_s8", "tq_conv_1x1_s8_params", FAST_HEADER,
           ("conv/tq_conv_1x1_s8.c", RESIDUAL, *GEMM, "conv/tq_conv_1x1_wide_s8.c")),
    Kernel("tq_conv_im2col_s8", "tq_conv_im2col_s8_params", FAST_HEADER, ("conv/tq_conv_im2col_s8.c", *GEMM)),
    Kernel("tq_conv_im2col_wide_s8", "tq_conv_im2col_s8_params", FAST_HEADER,
           ("conv/tq_conv_im2col_s8.c", *GEMM, "conv/tq_conv_im2col_wide_s8.c")),
    Kernel("tq_conv_taps_s8", "tq_conv_taps_s8_params", FAST_HEADER, ("conv/tq_conv_taps_s8.c", RESIDUAL, *GEMM)),
    Kernel("tq_conv_taps_wide_s8", "tq_conv_taps_s8_params", FAST_HEADER,
           ("conv/tq_conv_taps_s8.c", RESIDUAL, *GEMM, "conv/tq_conv_taps_wide_s8.c")),
    Kernel("tq_depthwise_conv_fast_s8", "tq_depthwise_conv_fast_s8_params", FAST_HEADER,
           ("conv/tq_depthwise_conv_fast_s8.c", "include/tq_gemm.h", "include/tq_mve.h", "conv/tq_depthwise_dsp.S", "include/tq_dsp_asm.h")),
    Kernel("tq_depthwise_conv_fast_wide_s8", "tq_depthwise_conv_fast_s8_params", FAST_HEADER,
           ("conv/tq_depthwise_conv_fast_s8.c", "include/tq_gemm.h", "include/tq_mve.h", "conv/tq_depthwise_dsp.S", "include/tq_dsp_asm.h",
            "conv/tq_depthwise_conv_fast_wide_s8.c")),
    Kernel("tq_depthwise_conv_mult_s8", "tq_depthwise_conv_mult_s8_params", "tq_depthwise_mult.h",
           ("conv/tq_depthwise_conv_mult_s8.c", "conv/tq_depthwise_conv_fast_s8.c", "include/tq_conv_fast.h", "include/tq_gemm.h",
            "include/tq_mve.h", "conv/tq_depthwise_dsp.S", "include/tq_dsp_asm.h")),
    Kernel("tq_depthwise_conv_plane_s8", "tq_depthwise_conv_plane_s8_params", "tq_depthwise_plane.h",
           ("conv/tq_depthwise_conv_plane_s8.c", "conv/tq_depthwise_plane_dsp.S", "include/tq_dsp_asm.h",
            "include/tq_conv_fast.h", "include/tq_gemm.h", "include/tq_mve.h")),  # the last three: tq_dsp_asm.h's C part
    Kernel("tq_conv_grouped_s8", "tq_conv_grouped_s8_params", "tq_conv_grouped.h",
           ("conv/tq_conv_grouped_s8.c", *GEMM, "include/tq_conv_fast.h")),
    Kernel("tq_fully_connected_fast_s8", "tq_fully_connected_fast_s8_params", FAST_HEADER,
           ("conv/tq_fully_connected_fast_s8.c", "include/tq_gemm.h", "include/tq_mve.h", "conv/tq_fc_dsp.S",
            "include/tq_fc_dsp.h")),
    # int8, packed low-bit weights (tinyq.ops.packed: b-bit indices plus a codebook; portable C, every core)
    Kernel("tq_conv_packed_s8", "tq_conv_packed_s8_params", PACKED_HEADER, ("conv/tq_conv_packed_s8.c", "include/tq_conv.h")),
    Kernel("tq_depthwise_packed_s8", "tq_depthwise_packed_s8_params", PACKED_HEADER,
           ("conv/tq_depthwise_packed_s8.c", "include/tq_conv.h")),
    Kernel("tq_fully_connected_packed_s8", "tq_fully_connected_packed_s8_params", PACKED_HEADER,
           ("conv/tq_fully_connected_packed_s8.c", "include/tq_conv.h")),
    # int16x8
    Kernel("tq_conv_s16", "tq_conv_s16_params", INT16_HEADER, ("conv/tq_conv_s16.c", *INT16_DEPS)),
    Kernel("tq_depthwise_conv_s16", "tq_depthwise_conv_s16_params", INT16_HEADER, ("conv/tq_depthwise_conv_s16.c", *INT16_DEPS)),
    Kernel("tq_fully_connected_s16", "tq_fully_connected_s16_params", INT16_HEADER, ("conv/tq_fully_connected_s16.c", *INT16_DEPS)),
    # int16x8, fast twins (tq_int16_fast.h: int32 partial sums, SXTB16 + SMLAD on the DSP extension)
    Kernel("tq_conv_s16_fast", "tq_conv_s16_fast_params", FAST16_HEADER, ("conv/tq_conv_s16_fast.c", *FAST16_DEPS)),
    Kernel("tq_depthwise_conv_s16_fast", "tq_depthwise_conv_s16_fast_params", FAST16_HEADER,
           ("conv/tq_depthwise_conv_s16_fast.c", *FAST16_DEPS)),
    Kernel("tq_fully_connected_s16_fast", "tq_fully_connected_s16_fast_params", FAST16_HEADER,
           ("conv/tq_fully_connected_s16_fast.c", *FAST16_DEPS)),
    # float32
    Kernel("tq_conv_f32", "tq_conv_f32_params", FLOAT_HEADER, ("conv/tq_conv_f32.c", *FLOAT_DEPS)),
    Kernel("tq_depthwise_conv_f32", "tq_depthwise_conv_f32_params", FLOAT_HEADER, ("conv/tq_depthwise_conv_f32.c", *FLOAT_DEPS)),
    Kernel("tq_fully_connected_f32", "tq_fully_connected_f32_params", FLOAT_HEADER, ("conv/tq_fully_connected_f32.c", *FLOAT_DEPS)),
    # TRANSPOSE_CONV: int8, int16x8, float32 (reference scatter loops)
    Kernel("tq_transpose_conv_s8", "tq_transpose_conv_s8_params", HEADER, ("conv/tq_transpose_conv_s8.c",)),
    Kernel("tq_transpose_conv_fast_s8", "tq_transpose_conv_fast_s8_params", HEADER,
           ("conv/tq_transpose_conv_fast_s8.c", DOT)),
    Kernel("tq_transpose_conv_s16", "tq_transpose_conv_s16_params", INT16_HEADER, ("conv/tq_transpose_conv_s16.c", *INT16_DEPS)),
    Kernel("tq_transpose_conv_f32", "tq_transpose_conv_f32_params", FLOAT_HEADER, ("conv/tq_transpose_conv_f32.c", *FLOAT_DEPS)),
    # BATCH_MATMUL: int8, int16x8 (int16 operands), float32 (reference loops, operands read through strides)
    Kernel("tq_batch_matmul_s8", "tq_batch_matmul_s8_params", HEADER, ("conv/tq_batch_matmul_s8.c",)),
    Kernel("tq_batch_matmul_fast_s8", "tq_batch_matmul_s8_params", HEADER, ("conv/tq_batch_matmul_fast_s8.c", DOT)),
    Kernel("tq_batch_matmul_s16", "tq_batch_matmul_s16_params", INT16_HEADER, ("conv/tq_batch_matmul_s16.c", *INT16_DEPS)),
    Kernel("tq_batch_matmul_f32", "tq_batch_matmul_f32_params", FLOAT_HEADER, ("conv/tq_batch_matmul_f32.c", *FLOAT_DEPS)),
)

PADDING_SAME, PADDING_VALID = 0, 1
SUPPORTED_FUSED = (0, 1, 2, 3)  # NONE, RELU, RELU_N1_TO_1, RELU6
MAX_TAPS = 64  # TQ_CONV_MAX_TAPS: taps in a filter row
TAPS_MAX_OUT = 128  # TQ_CONV_TAPS_MAX_OUT: output channels whose accumulators tq_conv_taps_s8 keeps


# --------------------------------------------------------------------------- TFLite geometry


def out_size(padding: int, image: int, kernel: int, stride: int, dilation: int) -> int:
    """ComputeOutSize (padding.h)."""
    effective = (kernel - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (image + stride - 1) // stride
    return (image + stride - effective) // stride


def pad_with_offset(stride: int, dilation: int, image: int, kernel: int, out: int) -> tuple[int, int]:
    """ComputePaddingWithOffset: (padding before, extra padding after)."""
    effective = (kernel - 1) * dilation + 1
    total = max(0, (out - 1) * stride + effective - image)
    return total // 2, total % 2


def band_rows(op: Op, out: Tensor, h: int, stride: int, pad_h: int) -> int:
    """The output rows of a band of a patched stage (tinyq.compiler.patch): its output's height, each
    row's window starting inside its input slice of h rows below pad_h rows of padding."""
    oh = int(out.shape[1]) if len(out.shape) == 4 else 0
    need(0 <= pad_h and oh > 0 and (oh - 1) * stride - pad_h < h, op,
         f"band of {oh} rows with {pad_h} rows of padding does not fit its {h}-row input slice")
    return oh


# --------------------------------------------------------------------------- shared checks


def _opts(op: Op):
    need(op.options is not None, op, "has no builtin options; re-export the model with `tinyq convert`")
    return op.options


def _check_fused(op: Op) -> int:
    fused = int(_opts(op).fusedActivationFunction)
    need(
        fused in SUPPORTED_FUSED,
        op,
        f"fused activation {FUSED_NAMES.get(fused, fused)} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)",
    )
    return fused


def _bias_index(op: Op) -> int:
    return op.inputs[2] if len(op.inputs) > 2 else -1


def _check_io(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len(op.inputs) in (2, 3), op, f"has {len(op.inputs)} inputs, expected input, weights and optional bias")
    need(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
    for i in (op.inputs[0], op.outputs[0]):
        t = g.tensor(i)
        need(t.dtype != "int16", op, f"tensor '{t.name}' is int16: 16x8 quantization is not supported; quantize activations to int8")
        need_dtype(g, op, i, "int8")
        q = need_quant(g, op, i)
        need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{t.name}' has scale {q.s}, expected a positive number")
    need(not g.tensor(op.inputs[0]).is_const, op, "has a constant input activation, which is not supported")
    return g.tensor(op.inputs[0]), g.tensor(op.outputs[0])


def _check_weights(g: Graph, op: Op, channels: int, axis: int | None, zero_point_ok: bool = False) -> Tensor:
    """Constant int8 weights with one scale per output channel (axis) or one per tensor.

    Weights are symmetric (zero point 0) except per-tensor FULLY_CONNECTED weights
    (`zero_point_ok`), whose zero point the reference FullyConnected applies as weights_offset;
    the convolution kernels have no weights offset."""
    w = g.tensor(op.inputs[1])
    need(w.dtype != "int4", op, f"weights '{w.name}' are packed int4, which is not supported; quantize weights to int8")
    need_dtype(g, op, w.index, "int8")
    need(w.is_const, op, f"weights '{w.name}' are not constant; only constant weights are supported")
    q = need_quant(g, op, w.index, per_tensor=False)
    if q.per_channel:
        need(
            axis is not None and q.axis == axis and len(q.scale) == channels,
            op,
            f"weights '{w.name}' have {len(q.scale)} scales on axis {q.axis}; expected per-tensor or {channels} on axis {axis}",
        )
    if q.per_channel or not zero_point_ok:
        need(all(z == 0 for z in q.zero_point), op, f"weights '{w.name}' must be symmetric (zero point 0)")
    need(all(s > 0 and np.isfinite(s) for s in q.scale), op, f"weights '{w.name}' have a non-positive scale")
    return w


def _check_bias(g: Graph, op: Op, channels: int) -> Tensor | None:
    b = _bias_index(op)
    if b < 0:
        return None
    t = g.tensor(b)
    need(t.dtype != "int64", op, f"bias '{t.name}' is int64 (16x8 quantization), which is not supported")
    need_dtype(g, op, b, "int32")
    need(t.is_const, op, f"bias '{t.name}' is not constant; only constant biases are supported")
    need(t.size == channels, op, f"bias '{t.name}' has {t.size} values for {channels} output channels")
    return t


def effective_scales(inp: Tensor, w: Tensor, out: Tensor, channels: int) -> list[float]:
    """double(input_scale) * double(filter_scale[c]) / double(output_scale), per-tensor broadcast."""
    scales = w.quant.scale if w.quant.per_channel else (w.quant.scale[0],) * channels
    return [float(inp.quant.s) * float(fs) / float(out.quant.s) for fs in scales]


def _requant_arrays(inp: Tensor, w: Tensor, out: Tensor, channels: int, op: Op) -> list[ConstArray]:
    """Per-channel multiplier/shift (PopulateConvolutionQuantizationParams)."""
    mult, shift = [], []
    for real in effective_scales(inp, w, out, channels):
        m, s = quantize_multiplier(real)
        need(-31 <= s <= 30, op, f"requantization scale {real:g} is out of range")
        mult.append(m)
        shift.append(s)
    return [
        ConstArray("mult", "int32_t", np.asarray(mult, dtype=np.int32)),
        ConstArray("shift", "int32_t", np.asarray(shift, dtype=np.int32)),
    ]


def _common_params(inp: Tensor, out: Tensor, fused: int, bias: Tensor | None, w: Tensor) -> dict:
    lo, hi = activation_range(fused, out)
    return {
        "in_offset": -int(inp.quant.zp),
        "out_offset": int(out.quant.zp),
        "act_min": lo,
        "act_max": hi,
        "weights": TensorRef(w.index),
        "bias": TensorRef(bias.index) if bias is not None else 0,  # 0: NULL, no bias
    }


FIXED_POINT = {"mult": ArrayRef("mult"), "shift": ArrayRef("shift")}


def _check_window(g: Graph, op: Op, inp: Tensor, kh: int, kw: int, out_c: int) -> tuple[tuple[int, int, int, int], int, int]:
    """Strides, dilations, padding and the output shape TFLite's Prepare would compute."""
    o = _opts(op)
    sh, sw = int(o.strideH), int(o.strideW)
    dh, dw = int(o.dilationHFactor), int(o.dilationWFactor)
    need(sh >= 1 and sw >= 1, op, f"stride {sh}x{sw} must be at least 1")
    need(dh >= 1 and dw >= 1, op, f"dilation {dh}x{dw} must be at least 1")
    need(int(o.padding) in (PADDING_SAME, PADDING_VALID), op, f"padding {o.padding} is not SAME or VALID")
    n, h, w, _ = inp.shape
    out = g.tensor(op.outputs[0])
    # A band of a patched stage (Op.pad_h): its rows and top padding are the band's.
    oh = out_size(int(o.padding), h, kh, sh, dh) if op.pad_h is None else band_rows(op, out, h, sh, op.pad_h)
    ow = out_size(int(o.padding), w, kw, sw, dw)
    need(oh > 0 and ow > 0, op, f"the {kh}x{kw} window does not fit the {h}x{w} input")
    expected = (n, oh, ow, out_c)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")
    pad_h, _ = pad_with_offset(sh, dh, h, kh, oh) if op.pad_h is None else (op.pad_h, 0)
    pad_w, _ = pad_with_offset(sw, dw, w, kw, ow)
    return expected, pad_h, pad_w


# --------------------------------------------------------------------------- CONV_2D


def check_conv(g: Graph, op: Op) -> None:
    inp, out = _check_io(g, op)
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    w = g.tensor(op.inputs[1])
    need(len(w.shape) == 4, op, f"weights '{w.name}' have rank {len(w.shape)}, expected 4 (OHWI)")
    oc, kh, kw, fic = w.shape
    in_c = inp.shape[3]
    need(fic > 0 and in_c % fic == 0, op, f"input has {in_c} channels, not a multiple of the filter's {fic}")
    groups = in_c // fic
    need(oc % groups == 0, op, f"{oc} output channels do not split into {groups} groups")
    _check_weights(g, op, oc, axis=0)
    # TFLite's CONV_2D Prepare requires the bias for quantized inputs (DEPTHWISE does not).
    need(_check_bias(g, op, oc) is not None, op, "has no bias, which TFLite requires for a quantized CONV_2D; re-export the model")
    _check_fused(op)
    _check_window(g, op, inp, kh, kw, oc)


def lower_conv(g: Graph, op: Op) -> KernelCall:
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    oc, kh, kw, fic = w.shape
    o = op.options
    out_shape, pad_h, pad_w = _check_window(g, op, inp, kh, kw, oc)
    bias = _check_bias(g, op, oc)
    params = {
        "in": nhwc(inp.shape),
        "out": nhwc(out_shape),
        "kh": kh,
        "kw": kw,
        "filter_in_c": fic,
        "groups": inp.shape[3] // fic,
        "stride_h": int(o.strideH),
        "stride_w": int(o.strideW),
        "dil_h": int(o.dilationHFactor),
        "dil_w": int(o.dilationWFactor),
        "pad_h": pad_h,
        "pad_w": pad_w,
        **_common_params(inp, out, _check_fused(op), bias, w),
        **FIXED_POINT,
    }
    requant = _requant_arrays(inp, w, out, oc, op)
    if w.pack is not None:
        return _lower_packed(op, "tq_conv_packed_s8", params, inp, out, w, requant)
    if fast_kernels(g) and params["groups"] == 1:  # any requantization (_requant_mode)
        return _lower_conv_fast(g, op, params, inp, out, w, bias, requant)
    if fast_kernels(g):
        grouped = _lower_conv_grouped(g, op, params, inp, out, w, bias, requant)
        if grouped is not None:
            return grouped
    return KERNELS["tq_conv_s8"].call(params=params, inputs=[inp.index], outputs=[out.index], arrays=requant)


# --------------------------------------------------------------------------- packed weights (all three)

LG_BITS = {1: 0, 2: 1, 4: 2}


def _lower_packed(op: Op, func: str, params: dict, inp: Tensor, out: Tensor, w: Tensor, arrays: list[ConstArray]) -> KernelCall:
    """The layer on its packed weights (tinyq.ops.packed, Tensor.pack): the reference kernel's params and
    requantization arrays, its weights pointer replaced by the packed rows and codebook (tq_packed.h).
    The same kernel for every target: portable C (its DSP / Helium twins are yet to come)."""
    packed, tables, row_bytes = packed_arrays(op.kind, w)
    need(w.pack.bits in LG_BITS, op, f"weights '{w.name}' packed in {w.pack.bits} bits; 1, 2 or 4 are supported")
    wp = {
        "rows": ArrayRef("wp"),
        "codebook": ArrayRef("cb") if tables is not None else 0,
        "row_bytes": row_bytes,
        "lg_bits": LG_BITS[w.pack.bits],
        "per_channel": int(w.pack.codebook == "channel"),
    }
    fields = {k: v for k, v in params.items() if k != "weights"}
    at = list(fields).index("bias")  # the struct's order: ... act_max, w, bias, ...
    ordered = dict(list(fields.items())[:at] + [("w", wp)] + list(fields.items())[at:])
    consts = [ConstArray("wp", "uint8_t", packed.reshape(-1))]
    if tables is not None:
        consts.append(ConstArray("cb", "int8_t", tables.reshape(-1)))
    return KERNELS[func].call(params=ordered, inputs=[inp.index], outputs=[out.index], arrays=consts + arrays)


# How the fast kernels requantize a layer (their params' `requant`, chosen per layer at generation).
REQUANT_MM = 0  # tq_requant_mm: LSL, SMMLAR, SUB, ASR, proven exact for every accumulator the layer can produce
REQUANT_GENERAL = 1  # tq_requant_gen: TFLite's MultiplyByQuantizedMultiplier for any accumulator and shift


def _fast_quant(requant: list[ConstArray], out_offset: int, folded_bias: np.ndarray, lanes: int,
                mode: int = REQUANT_MM) -> ConstArray:
    """The fast kernels' per-channel constants in one array, by blocks of `lanes` channels (zero
    past the last): bias[lanes] (input offset folded in), then per channel three words: for
    REQUANT_MM mult, radd = 2^(e-1) + out_offset * 2^e (tq_requant_mm's rounding and output zero
    point) and rsh = e, for its right shift e; for REQUANT_GENERAL mult, the left shift max(shift, 0)
    and the right shift max(-shift, 0) (tq_requant_gen; the zero point is the kernel's out_offset).
    One pointer then walks them (see tq_gemm.h, tq_conv_fast.h)."""
    mult = next(a for a in requant if a.name == "mult").values.astype(np.int64)
    shift = next(a for a in requant if a.name == "shift").values.astype(np.int64)
    if mode == REQUANT_MM:
        e = -shift
        words = [mult, (1 << (e - 1)) + out_offset * (1 << e), e]
    else:
        words = [mult, np.maximum(shift, 0), np.maximum(-shift, 0)]
    n = len(mult)
    blocks = -(-n // lanes)
    bias = np.zeros(blocks * lanes, dtype=np.int64)
    bias[:n] = folded_bias
    per_channel = np.zeros((blocks * lanes, 3), dtype=np.int64)
    per_channel[:n] = np.stack(words, axis=1)
    table = np.concatenate([bias.reshape(blocks, lanes), per_channel.reshape(blocks, 3 * lanes)], axis=1)
    return ConstArray("quant", "int32_t", table.reshape(-1).astype(np.int32))


def _acc_bound(params: dict, bias: Tensor | None, rows: np.ndarray) -> np.ndarray:
    """Per output channel, the largest |accumulator| the layer can produce: bias + sum w (x + in_offset)
    over int8 inputs x (rows: each output channel's weights, [out_c][taps]). The fast kernels sum
    folded bias + sum w x modulo 2^32, the same number, so two bounds hold; the smaller is kept."""
    rows = rows.astype(np.int64)
    off = int(params["in_offset"])
    b = bias.data.astype(np.int64) if bias is not None else np.zeros(len(rows), dtype=np.int64)
    mags = np.abs(rows).sum(axis=1)
    folded = np.abs(b + off * rows.sum(axis=1)) + 128 * mags
    direct = np.abs(b) + max(abs(-128 + off), abs(127 + off)) * mags
    return np.minimum(folded, direct)


def _requant_mode(requant: list[ConstArray], params: dict, bias: Tensor | None, rows: np.ndarray) -> int:
    """REQUANT_MM where tq_requant_mm is exact for every accumulator the layer can produce: right
    shifts e of 1 to 30 (every effective scale below 1/2, as in practice), |acc| < 2^30 (its doubling
    fits int32) and radd plus the high product word inside int32. Otherwise REQUANT_GENERAL, which
    costs a few instructions more an output, never more a MAC."""
    mult = next(a for a in requant if a.name == "mult").values.astype(np.int64)
    e = -next(a for a in requant if a.name == "shift").values.astype(np.int64)
    if not np.all(e >= 1) or np.any(e > 30):
        return REQUANT_GENERAL
    acc_max = _acc_bound(params, bias, rows)
    if not np.all(acc_max < 2**30):
        return REQUANT_GENERAL
    x_max = (acc_max * mult >> 31) + 1
    radd = (1 << (e - 1)) + int(params["out_offset"]) * (1 << e)
    return REQUANT_MM if bool(np.all(np.abs(radd) + x_max < 2**31)) else REQUANT_GENERAL


def _fast_requant_fits(requant: list[ConstArray], params: dict, bias: Tensor | None, rows: np.ndarray) -> bool:
    """Whether tq_requant_mm is exact for the layer (_requant_mode is REQUANT_MM), for kernels that
    have only that requantization."""
    return _requant_mode(requant, params, bias, rows) == REQUANT_MM


def _fold_input_offset(op: Op, bias: Tensor | None, in_offset: int, weight_sums: np.ndarray) -> np.ndarray:
    """bias[c] + in_offset * sum of channel c's weights, modulo 2^32: the fast kernels then read raw
    input bytes (padding taps hold the input zero point, so they add nothing). The kernels' int32
    sums wrap alike, so the accumulator is the reference's (bias + sum w (x + in_offset)) whenever
    that fits int32, whatever the folded bias alone does."""
    b = bias.data.astype(np.int64) if bias is not None else np.zeros(len(weight_sums), dtype=np.int64)
    folded = b + in_offset * np.asarray(weight_sums, dtype=np.int64)
    return ((folded + 2**31) % 2**32 - 2**31).astype(np.int32)


def _split(g: Graph) -> bool:
    """Whether the fast convolutions' int8 weights are stored split (the DSP extension's loop reads
    two words per 4 of k of a pixel, X and Y: see tq_gemm_dsp.S), with int16 weights never."""
    return g.target.dsp and g.target.k_align == 4 and not g.target.wide


def _pair_room(g: Graph, k: int) -> int:
    """TQ_GEMM_PAIR_ROOM(k): bytes of a column pair, with the DSP extension's two words of sums."""
    return 4 * k + (8 if g.target.dsp else 0)


def _gemm(g: Graph, op: Op, params: dict, inp: Tensor, w: Tensor, bias: Tensor | None, requant: list[ConstArray]) -> tuple[dict, list[ConstArray]]:
    """Weight rows padded to the inner-loop width, the input offset folded into the bias."""
    rows = w.data.reshape(w.shape[0], -1).astype(np.int64)
    oc, depth = rows.shape
    group = g.target.k_align
    k = -(-depth // group) * group
    padded = np.zeros((oc + oc % 2, k), dtype=np.int8)  # an even row count: a zero row ends an odd one
    padded[:oc, :depth] = rows
    # Pairs of rows interleaved `group` bytes at a time: [pair][k / group][2][group] (see tq_gemm.h).
    folded = _fold_input_offset(op, bias, int(params["in_offset"]), rows.sum(axis=1))
    stored, chunked = padded, 0
    if _split(g):
        # The DSP loop's int8 layout (tq_gemm_dsp.S): each word's bytes (w1 + 128, w0, w3 + 128, w2), and
        # the bias less the constant that loop adds per row: it sums w (x + 129) (even k), (w + 128)
        # (x + 1) (odd k, padding included: there w + 128 is 128) less 128 x (odd k, per pixel).
        stored = padded.copy()
        stored[:, 0::2] = (padded[:, 1::2].view(np.uint8) ^ 0x80).view(np.int8)
        stored[:, 1::2] = padded[:, 0::2]
        p64 = padded[:oc].astype(np.int64)
        folded = folded.astype(np.int64) - (129 * p64[:, 0::2].sum(axis=1) + p64[:, 1::2].sum(axis=1) + 128 * (k // 2))
        folded = ((folded + 2**31) % 2**32 - 2**31).astype(np.int32)
        # Its sums end at 256 (w (x + 129) even, w x + w + 128 odd, over the k of a call), which must
        # fit int32 (intermediate wraps cancel): else k runs in chunks (params chunked, tq_gemm_dsp.S).
        mags = np.abs(padded.astype(np.int64))
        bound = 256 * mags[:, 0::2].sum(axis=1) + 128 * mags[:, 1::2].sum(axis=1) + 128 * (k // 2)
        chunked = int(bound.max() >= 2**23)
    packed = stored.reshape(-1, 2, k // group, group).transpose(0, 2, 1, 3).reshape(-1)
    mode = _requant_mode(requant, params, bias, rows)
    gemm = {
        "out_c": oc,
        "k": k,
        "group": group,
        "out_offset": params["out_offset"],
        "act_min": params["act_min"],
        "act_max": params["act_max"],
        "weights": ArrayRef("w"),
        "weights16": 0,
        "quant": ArrayRef("quant"),
        "requant": mode,
        "mm_pairs": oc // 2 if mode == REQUANT_MM else 0,  # the rest in tq_gemm_rest_dsp
        "chunked": chunked,
    }
    weights = ConstArray("w", "int8_t", packed)
    if g.target.wide and group == 4:
        # int16 per pair of rows and 4 of k: row 0 (w0, w2), (w1, w3), then row 1 (see tq_gemm.h).
        quads = padded.astype(np.int16).reshape(-1, 2, k // 4, 4)[..., [0, 2, 1, 3]]
        weights = ConstArray("w16", "int16_t", quads.transpose(0, 2, 1, 3).reshape(-1))
        gemm["weights"], gemm["weights16"] = 0, ArrayRef("w16")
    arrays = [weights, _fast_quant(requant, int(params["out_offset"]), folded, 2, mode)]
    return gemm, arrays


def _pairs_table(g: Graph, gemm: dict, quant: ConstArray) -> ConstArray:
    """The quant table as tq_gemm_pairs_dsp reads it (the DSP extension's int8-weight row-pair loop
    from the biases: the 1x1, im2col and grouped kernels, not the tap kernel, whose C reads the biases
    as they are), with tq_requant_mm's constants: each bias doubled modulo 2^32, since that loop ends
    at twice the accumulator (TQ_REQUANT2; 2 acc is exact there, |acc| < 2^30, and the wraps cancel);
    and above the 8 bits of the first row's right shift (ASR by a register reads those only) the
    loop's control: bit 8 the clamped store (an activation range narrower than int8), bits 9 up the
    row pairs the loop still runs after this one (mm_pairs - 1 - i; 0 past them)."""
    if not (_split(g) and gemm["requant"] == REQUANT_MM):
        return quant
    blocks = quant.values.astype(np.int64).reshape(-1, 8)  # bias[2], then mult, radd, rsh per row
    blocks[:, :2] = (2 * blocks[:, :2] + 2**31) % 2**32 - 2**31
    clamp = int(not (gemm["act_min"] == -128 and gemm["act_max"] == 127))
    left = np.maximum(gemm["mm_pairs"] - 1 - np.arange(len(blocks)), 0)
    blocks[:, 4] |= (clamp << 8) | (left << 9)
    return ConstArray(quant.name, quant.ctype, blocks.reshape(-1).astype(np.int32))


NO_RESIDUAL = {"t_conv": 0, "t_res": 0, "out_mult": 0, "out_radd": 0, "out_rsh": 0, "act_min": 0, "act_max": 0}


IM2COL_RUN_MAX = 64  # filter rows (bytes) shorter than this: im2col may gather whole columns (params gather)
IM2COL_GATHER_PIXELS = 576  # output pixels of a map on which filter rows of at most 32 bytes are gathered
IM2COL_EXTRA_MAX = 1024  # bytes of scratch im2col may take beyond the tap kernel's on a border-bound map


def _im2col_gather(g: Graph, params: dict) -> int:
    """im2col's params gather (tq_conv_im2col_s8.c, DSP extension and portable cores): 1 where it
    gathers whole columns, the taps inside the image copied and the rest the zero point, instead of
    building the column pair filter row by filter row from the rows in place: dilation 1, filter rows
    under IM2COL_RUN_MAX bytes, some windows reaching into the padding, and either half of them doing
    so or rows of at most 32 bytes on a map of at most IM2COL_GATHER_PIXELS output pixels. Measured on
    qemu-m4: 3x3 over 8 channels on a 3x3 map 11,480 -> 9,600 instructions, 12x12 maps 3% fewer;
    rows of 48 bytes on 12x12 and 24x24 maps, and 96x96 maps, 1-2% more, hence the bounds."""
    run, pixels = params["kw"] * params["in"]["c"], params["out"]["h"] * params["out"]["w"]
    border = _border_pixels(params)
    short = run < IM2COL_RUN_MAX and params["dil_h"] == params["dil_w"] == 1 and border > 0
    return int(short and (2 * border >= pixels or (run <= 32 and pixels <= IM2COL_GATHER_PIXELS))
               and g.target.k_align != 16)  # (Helium gathers its own way)


def _border_pixels(params: dict) -> int:
    """Output pixels whose window reaches into the padding."""
    def inside(out: int, size: int, k: int, stride: int, dil: int, pad: int) -> int:
        return sum(1 for o in range(out) if o * stride - pad >= 0 and o * stride - pad + (k - 1) * dil < size)

    oh, ow = params["out"]["h"], params["out"]["w"]
    rows = inside(oh, params["in"]["h"], params["kh"], params["stride_h"], params["dil_h"], params["pad_h"])
    cols = inside(ow, params["in"]["w"], params["kw"], params["stride_w"], params["dil_w"], params["pad_w"])
    return oh * ow - rows * cols


def _im2col_small(params: dict, extra: int) -> bool:
    """im2col rather than the tap kernel, whatever the arena: on a map where at least half the output
    pixels reach into the padding, with filter rows under IM2COL_RUN_MAX bytes (gathered whole) and at
    most IM2COL_EXTRA_MAX bytes more scratch. There the tap kernel builds most filter rows tap by tap
    and runs the rows' sums three times over (3x3 over 16 channels on a 3x3 map: 30,800 instructions,
    im2col 25,500), for a few hundred bytes of RAM."""
    run = params["kw"] * params["in"]["c"]
    small = params["dil_w"] == 1 and params["dil_h"] == 1 and run < IM2COL_RUN_MAX and extra <= IM2COL_EXTRA_MAX
    return small and 2 * _border_pixels(params) >= params["out"]["h"] * params["out"]["w"]


def _lower_conv_fast(g: Graph, op: Op, params: dict, inp: Tensor, out: Tensor, w: Tensor, bias: Tensor | None,
                     requant: list[ConstArray]) -> KernelCall:
    """The fast CONV_2D kernels; their second input is the residual of an ADD that the
    fuse_residual pass may fold into them (-1, NULL, until then)."""
    gemm, arrays = _gemm(g, op, params, inp, w, bias, requant)
    geometry = {k: params[k] for k in ("in", "out")}
    wide = gemm["weights16"] != 0
    if params["kh"] == params["kw"] == 1:
        # A column pair (int16 on DSP cores), and where k > in_c room for the pixels at the input's end
        # (columns are read k bytes from each pixel: see tq_conv_fast.h).
        spare = 2 * gemm["k"] if gemm["k"] > params["in"]["c"] else 0
        scratch = g.add_scratch(f"pixels@{op.index}", _pair_room(g, gemm["k"]) + spare)
        return KERNELS["tq_conv_1x1_wide_s8" if wide else "tq_conv_1x1_s8"].call(
            params={**geometry, "stride_h": params["stride_h"], "stride_w": params["stride_w"], "gemm": gemm,
                    "res": dict(NO_RESIDUAL)},
            inputs=[inp.index, -1],
            outputs=[out.index, scratch],
            arrays=[arrays[0], _pairs_table(g, gemm, arrays[1])],
            # Both pixels of a pair are copied out before their outputs land, at or behind them.
            in_place="direct" if params["out"]["c"] <= params["in"]["c"] else None,
            gap=window_gap(params, PAIR),  # the pair's columns are copied before its outputs land
        )
    # Pairs of pixels may straddle two rows: one ring row more than the delay needs.
    ring = ring_rows(params) + 1
    ring_bytes = ring * params["out"]["w"] * params["out"]["c"]
    window = {k: params[k] for k in ("kh", "kw", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")}
    in_c = params["in"]["c"]
    cols = 2 * gemm["k"] + _pair_room(g, gemm["k"])  # two columns and their pair (two words a 4 of k on DSP cores)
    im2col = KERNELS["tq_conv_im2col_wide_s8" if wide else "tq_conv_im2col_s8"].call(
        params={**geometry, **window, "in_zp": -params["in_offset"], "ring_rows": ring,
                "gather": _im2col_gather(g, params), "gemm": gemm},
        inputs=[inp.index],
        outputs=[out.index, -1],
        arrays=[arrays[0], _pairs_table(g, gemm, arrays[1])],
        in_place="ring",
        gap=window_gap(params, PAIR),  # (with ring_rows 0) both pixels gathered, then both written
    )
    if (in_c % gemm["group"] == 0 and params["kw"] <= MAX_TAPS and params["out"]["c"] <= TAPS_MAX_OUT
            and not _im2col_small(params, cols - _pair_room(g, params["kw"] * in_c))):
        # Whole groups of channels per tap: a column pair of one filter row at a time (a scratch of
        # 4 kw in_c bytes instead of im2col's 6 k). im2col's single pass over k costs fewer
        # instructions, so plan_memory switches to it wherever its scratch leaves the arena as it is.
        scratch = g.add_scratch(f"taps@{op.index}", _pair_room(g, params["kw"] * in_c) + ring_bytes)
        im2col.outputs[1] = scratch
        return KERNELS["tq_conv_taps_wide_s8" if wide else "tq_conv_taps_s8"].call(
            params={**geometry, **window, "in_zp": -params["in_offset"], "ring_rows": ring, "gemm": gemm,
                    "res": dict(NO_RESIDUAL)},
            inputs=[inp.index, -1],
            outputs=[out.index, scratch],
            arrays=arrays,
            in_place="ring",
            alt=(im2col, cols),
            gap=window_gap(params, PAIR),  # (with ring_rows 0) a filter row's taps copied, outputs at the end
        )
    im2col.outputs[1] = g.add_scratch(f"im2col@{op.index}", cols + ring_bytes)
    return im2col


def _lower_conv_grouped(g: Graph, op: Op, params: dict, inp: Tensor, out: Tensor, w: Tensor, bias: Tensor | None,
                        requant: list[ConstArray]) -> KernelCall | None:
    """tq_conv_grouped_s8: each group's rows laid out by _gemm as one convolution's, the groups' weights
    and constants one after another; None (the reference kernel) where the groups would need
    different requantization forms."""
    groups, fic = params["groups"], params["filter_in_c"]
    oc = w.shape[0]
    rows = oc // groups
    gemm, weights, quant = None, [], []
    for grp in range(groups):
        part = slice(grp * rows, (grp + 1) * rows)
        sub = Tensor(index=w.index, name=w.name, shape=(rows, *w.shape[1:]), dtype=w.dtype, quant=w.quant, data=w.data[part])
        sub_bias = None if bias is None else Tensor(index=bias.index, name=bias.name, shape=(rows,), dtype=bias.dtype,
                                                     data=bias.data[part])
        sub_requant = [ConstArray(a.name, a.ctype, a.values[part]) for a in requant if a.name in ("mult", "shift")]
        one, arrays = _gemm(g, op, params, inp, sub, sub_bias, sub_requant)
        if gemm is not None and one != gemm:
            return None
        gemm = one
        weights.append(arrays[0].values)
        quant.append(_pairs_table(g, one, arrays[1]).values)  # (each group's row pairs counted apart)
    wname = arrays[0].name
    w_array = ConstArray(wname, arrays[0].ctype, np.concatenate(weights))
    q_array = ConstArray("quant", "int32_t", np.concatenate(quant))
    window = {k: params[k] for k in ("in", "out", "kh", "kw", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")}
    return KERNELS["tq_conv_grouped_s8"].call(
        params={**window, "in_zp": -params["in_offset"], "groups": groups, "group_in_c": fic,
                "w_stride": len(weights[0]), "q_stride": len(quant[0]), "gemm": gemm},
        inputs=[inp.index],
        outputs=[out.index, g.add_scratch(f"grouped@{op.index}", 2 * gemm["k"] + _pair_room(g, gemm["k"]))],
        arrays=[w_array, q_array],
    )


def ring_rows(params: dict) -> int:
    """Output rows a kernel must hold back to write its output over its input (tq_row_stage).

    Output row r covers the input rows up to last_in(r); those are last read by output row
    (last_in + pad_h) / stride_h, so row r waits until that row is computed.
    """
    oh, orb = params["out"]["h"], params["out"]["w"] * params["out"]["c"]
    irb = params["in"]["w"] * params["in"]["c"]
    delay = 0
    for r in range(oh):
        last_in = ((r + 1) * orb - 1) // irb
        delay = max(delay, min(oh - 1, (last_in + params["pad_h"]) // params["stride_h"]) - r)
    return delay + 1


def macs_conv(g: Graph, op: Op) -> int:
    out = g.tensor(op.outputs[0])
    _, kh, kw, fic = g.tensor(op.inputs[1]).shape
    return int(out.size) * kh * kw * fic


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D


def check_depthwise(g: Graph, op: Op) -> None:
    inp, out = _check_io(g, op)
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    w = g.tensor(op.inputs[1])
    need(len(w.shape) == 4 and w.shape[0] == 1, op, f"weights '{w.name}' have shape {list(w.shape)}, expected [1, kh, kw, channels]")
    _, kh, kw, oc = w.shape
    in_c = inp.shape[3]
    need(oc % in_c == 0, op, f"{oc} output channels are not a multiple of the {in_c} input channels")
    dm = int(_opts(op).depthMultiplier)
    need(dm in (0, oc // in_c), op, f"depth_multiplier {dm} disagrees with {in_c} input and {oc} output channels")
    _check_weights(g, op, oc, axis=3)
    _check_bias(g, op, oc)
    _check_fused(op)
    _check_window(g, op, inp, kh, kw, oc)


def _depthwise_blocks(taps_by_channel: np.ndarray, paired: bool, wide: bool) -> ConstArray:
    """Depthwise weights [T][C] by blocks of four channels (zero past the last), in the layout the
    fast kernel reads (tq_conv_fast.h): [T][4] per block on Helium; else taps by pairs, each pair
    as two words whose SXTB16 gives a channel's (t, t + 1), int16 with --wide-weights."""
    t_count, oc = taps_by_channel.shape
    blocks = -(-oc // 4)
    padded = np.zeros((t_count, blocks * 4), dtype=np.int16)
    padded[:, :oc] = taps_by_channel
    per_block = padded.reshape(t_count, blocks, 4).transpose(1, 0, 2)  # [block][tap][lane]
    if not paired:
        return ConstArray("w", "int8_t", per_block.reshape(-1).astype(np.int8))
    pairs = t_count // 2
    two = per_block[:, : 2 * pairs].reshape(blocks, pairs, 2, 4)  # [block][pair][tap of pair][lane]
    if wide:
        body = two.transpose(0, 1, 3, 2)  # per pair, per lane: (t, t + 1)
        last = per_block[:, 2 * pairs:, [0, 2, 1, 3]]  # (c0, c2), (c1, c3)
        ctype, name, dtype = "int16_t", "w16", np.int16
    else:
        # Per pair: lanes 0 and 1 of tap t, then of tap t + 1; then lanes 2 and 3 the same.
        body = two.reshape(blocks, pairs, 2, 2, 2).transpose(0, 1, 3, 2, 4)
        last = per_block[:, 2 * pairs:]
        ctype, name, dtype = "int8_t", "w", np.int8
    table = np.concatenate([body.reshape(blocks, -1), last.reshape(blocks, -1)], axis=1)
    return ConstArray(name, ctype, table.reshape(-1).astype(dtype))


def lower_depthwise(g: Graph, op: Op) -> KernelCall:
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    _, kh, kw, oc = w.shape
    o = op.options
    out_shape, pad_h, pad_w = _check_window(g, op, inp, kh, kw, oc)
    bias = _check_bias(g, op, oc)
    params = {
        "in": nhwc(inp.shape),
        "out": nhwc(out_shape),
        "kh": kh,
        "kw": kw,
        "depth_mult": oc // inp.shape[3],
        "stride_h": int(o.strideH),
        "stride_w": int(o.strideW),
        "dil_h": int(o.dilationHFactor),
        "dil_w": int(o.dilationWFactor),
        "pad_h": pad_h,
        "pad_w": pad_w,
        **_common_params(inp, out, _check_fused(op), bias, w),
        **FIXED_POINT,
    }
    requant = _requant_arrays(inp, w, out, oc, op)
    if w.pack is not None:
        return _lower_packed(op, "tq_depthwise_packed_s8", params, inp, out, w, requant)
    if fast_kernels(g) and _plane_suits(g, params, oc):
        return _lower_depthwise_plane(g, op, params, inp, w, bias, requant)
    if fast_kernels(g) and params["depth_mult"] == 1 and kh * kw <= 64:  # any requantization (_requant_mode)
        mode = _requant_mode(requant, params, bias, w.data.reshape(kh * kw, oc).T)
        ring = ring_rows(params)
        row = params["out"]["w"] * params["out"]["c"]
        # The input offset folded into the bias over every tap: padding taps read the zero point.
        folded = _fold_input_offset(op, bias, int(params["in_offset"]), w.data.reshape(kh * kw, oc).astype(np.int64).sum(axis=0))
        fast = {k: v for k, v in params.items() if k not in ("depth_mult", "mult", "shift", "in_offset", "bias")}
        weights = _depthwise_blocks(w.data.reshape(kh * kw, oc), paired=g.target.k_align == 4, wide=g.target.wide)
        wide = weights.ctype == "int16_t"
        kernel = KERNELS["tq_depthwise_conv_fast_wide_s8" if wide else "tq_depthwise_conv_fast_s8"]
        call_params = {**fast, "in_zp": -params["in_offset"], "paired": int(g.target.k_align == 4),
                       "weights": 0 if wide else ArrayRef("w"), "weights16": ArrayRef("w16") if wide else 0,
                       "quant": ArrayRef("quant"), "ring_rows": ring, "requant": mode, "pad_copy": 0}
        arrays = [weights, _fast_quant(requant, int(params["out_offset"]), folded, 4, mode)]
        # (with ring_rows 0) a pixel's channel blocks read and written in turn; on the DSP cores the
        # last block of a pixel (in.c % 4 != 0) also writes up to 3 bytes of the next pixel's output
        gap = window_gap(params, PIXEL) + (4 if g.target.dsp and oc % 4 else 0)
        padded = {**call_params, "pad_copy": 1, "ring_rows": 0}
        pad_bytes = -(-oc // 8) * 8 + _pad_copy_bytes(params) + 4
        # The same kernel on a zero-point-padded copy of the input (every pixel on the interior path),
        # on the DSP cores where it saves instructions (_pad_copy_gain). RAM: taken outright where the
        # copy is at most PLANE_BAND_BYTES (the plane kernel's padded rows take as much), else offered
        # to plan_memory, which takes it only where its scratch leaves the arena as it is. The copy is
        # made before any output byte is written: the output may overlay the input in any way.
        offer = g.target.dsp and _pad_copy_gain(params) > 0
        if offer and pad_bytes <= PLANE_BAND_BYTES:
            if PAD_COPY_WIDE and g.target.k_align == 4 and not wide:
                # A layer this small (its padded copy at most PLANE_BAND_BYTES: a small map of few channels)
                # takes its weights as int16, as --wide-weights does: each pair of taps then costs 14
                # instructions instead of 18 in the DSP loop (no sign extension), about 12% of the layer,
                # for kh kw in.c more bytes of flash (at most about 1 KB at 3x3). Its own entry points
                # (TQ_CFG_DW_WIDE): a model whose other depthwise layers keep int8 weights links both.
                kernel = KERNELS["tq_depthwise_conv_fast_wide_s8"]
                padded = {**padded, "weights": 0, "weights16": ArrayRef("w16")}
                arrays = [_depthwise_blocks(w.data.reshape(kh * kw, oc), paired=True, wide=True), arrays[1]]
            return kernel.call(params=padded, inputs=[inp.index], outputs=[out.index, g.add_scratch(f"pad@{op.index}", pad_bytes)],
                               arrays=arrays, in_place="direct", gap=0)
        scratch = g.add_scratch(f"rows@{op.index}", -(-oc // 8) * 8 + ring * row)
        alt = (kernel.call(params=padded, inputs=[inp.index], outputs=[out.index, scratch], arrays=arrays, in_place="ring",
                           gap=gap), pad_bytes) if offer else None
        return kernel.call(params=call_params, inputs=[inp.index], outputs=[out.index, scratch], arrays=arrays,
                           in_place="ring", alt=alt, gap=gap)
    if fast_kernels(g) and (params["depth_mult"] > 1 or kh * kw > 64):
        fast = _lower_depthwise_as_conv(g, op, params, inp, out, w, bias, requant)
        if fast is not None:
            return fast
    return KERNELS["tq_depthwise_conv_s8"].call(params=params, inputs=[inp.index], outputs=[out.index], arrays=requant)


PLANE_BAND_BYTES = 2048  # the plane kernel's padded input rows: fewer bands, fewer calls; more RAM
PAD_COPY_WIDE = True  # int16 weights for the fast depthwise kernel on a padded copy taken outright (lower_depthwise)


def _pad_copy_bytes(params: dict) -> int:
    """The fast depthwise kernel's padded copy of the input (pad_copy 1, tq_conv_fast.h): every window
    inside it, each pixel in.c rounded up to 4 bytes."""
    hp = (params["out"]["h"] - 1) * params["stride_h"] + (params["kh"] - 1) * params["dil_h"] + 1
    wp = (params["out"]["w"] - 1) * params["stride_w"] + (params["kw"] - 1) * params["dil_w"] + 1
    return hp * wp * (-(-params["in"]["c"] // 4) * 4)


def _pad_copy_gain(params: dict) -> float:
    """Instructions the padded copy saves the fast depthwise kernel on the DSP cores, about (measured
    on qemu-m4): 140 a pixel whose window reaches the padding (its table of tap addresses) and, where
    in.c % 4 != 0, 40 a pixel (the last channels in the same assembler call); against the copy's 1.5
    a word of the copy (its zero points), 4 a word of the image copied over it, 12 an image row (and
    12 an image pixel where in.c % 4 != 0) and 100 a call."""
    c = params["in"]["c"]
    oh, ow = params["out"]["h"], params["out"]["w"]
    ih, iw = params["in"]["h"], params["in"]["w"]
    words = -(-c // 4)
    border = oh * ow - _inner(params)
    saved = 140 * border + (40 * oh * ow if c % 4 else 0)
    cost = 1.5 * _pad_copy_bytes(params) / 4 + 4 * ih * iw * words + 12 * ih + (12 * ih * iw if c % 4 else 0) + 100
    return params["in"]["n"] * (saved - cost)


def _inner(params: dict) -> int:
    """Output pixels whose windows lie inside the image."""
    def inner(out: int, size: int, stride: int, pad: int, span: int) -> int:
        return sum(1 for o in range(out) if o * stride - pad >= 0 and o * stride - pad + span < size)

    span_h, span_w = (params["kh"] - 1) * params["dil_h"], (params["kw"] - 1) * params["dil_w"]
    return (inner(params["out"]["h"], params["in"]["h"], params["stride_h"], params["pad_h"], span_h)
            * inner(params["out"]["w"], params["in"]["w"], params["stride_w"], params["pad_w"], span_w))


def _plane_suits(g: Graph, params: dict, oc: int) -> bool:
    """Whether tq_depthwise_conv_plane_s8 (one channel plane at a time) takes the layer (windows of at
    most 64 taps and 16 rows). With Helium, only fewer than 4 input channels with a depth multiplier
    (there the vector kernel over the repeated channels measured 1.3x CMSIS-NN, the plane kernel's C
    0.3-0.6x). Without: any window over fewer than 4 input channels; 3x3 windows with dilation 1 and
    a stride of 1 or 2 across (its two-outputs-an-iteration loops) with a depth multiplier, or where
    the fast kernel's blocks of four channels would leave lanes idle or a remainder (in.c not a
    multiple of 4, or under 16 channels), where the plane kernel costs less (_plane_cost, _block_cost;
    with channels the blocks fill, at least 40% less)."""
    c, m = params["in"]["c"], params["depth_mult"]
    if params["kh"] > 16 or params["kh"] * params["kw"] > 64:
        return False
    if g.target.k_align != 4:
        return c < 4 and m > 1
    three = (params["kh"], params["kw"], params["dil_h"], params["dil_w"]) == (3, 3, 1, 1) and params["stride_w"] in (1, 2)
    if c < 4:
        return True
    if three and m > 1:  # against the fast kernel over the repeated channels, one output row a call: about 1.9x
        return _plane_cost(params) < 1.9 * _block_cost({**params, "in": {**params["in"], "c": c * m}})
    block = _padded_cost(params) if g.target.dsp and _pad_copy_outright(params) else _block_cost(params)
    if c % 4 != 0:
        return three and _plane_cost(params) < block
    # Channels the blocks of four fill: the plane kernel is about 3 KB more code on the DSP cores, worth
    # it only where it saves at least 40% of the layer's instructions.
    return three and c < 16 and _plane_cost(params) < 0.6 * block


def _plane_cost(params: dict) -> float:
    """Instructions tq_depthwise_conv_plane_s8 takes for a 3x3 layer on the DSP cores, about (measured
    on qemu-m4: per input channel its rows gathered, per output channel a call and 53 a pair of
    outputs)."""
    c, m = params["in"]["c"], params["depth_mult"]
    ih, iw, oh, ow = params["in"]["h"], params["in"]["w"], params["out"]["h"], params["out"]["w"]
    gather = ih * (15 + iw * (2 if c == 1 else 5))
    return c * gather + c * m * (300 + oh * (25 + -(-ow // 2) * 53))


def _block_cost(params: dict) -> float:
    """The same for tq_depthwise_conv_fast_s8 (depth multiplier 1): per output pixel 100, 132 a block
    of four channels and 220 for the last in.c % 4 (a block of four on the DSP extension); 150 more a
    pixel whose window reaches the padding (its table of tap addresses)."""
    c, rest = params["in"]["c"], params["in"]["c"] % 4
    oh, ow = params["out"]["h"], params["out"]["w"]

    def inner(out: int, size: int, stride: int, pad: int) -> int:
        return sum(1 for o in range(out) if o * stride - pad >= 0 and o * stride - pad + 2 < size)

    border = oh * ow - inner(oh, params["in"]["h"], params["stride_h"], params["pad_h"]) * inner(
        ow, params["in"]["w"], params["stride_w"], params["pad_w"])
    return oh * ow * (100 + c // 4 * 132 + (220 if rest else 0)) + 150 * border


def _pad_copy_outright(params: dict) -> bool:
    """Whether lower_depthwise runs the fast kernel (depth multiplier 1) on a padded copy taken outright on
    the DSP cores: where it pays and takes at most PLANE_BAND_BYTES of scratch."""
    c = params["in"]["c"]
    return (params["depth_mult"] == 1 and params["kh"] * params["kw"] <= 64 and _pad_copy_gain(params) > 0
            and -(-c // 8) * 8 + _pad_copy_bytes(params) + 4 <= PLANE_BAND_BYTES)


def _padded_cost(params: dict) -> float:
    """Instructions tq_depthwise_conv_fast_wide_s8 takes on its padded copy (tq_dw_padded) for a 3x3 layer on
    the DSP cores, about (measured on qemu-m4, 3x3 maps of 8 and 17 channels): 400 a call, 15 a pixel and 104
    a block of four channels; the copy 1.5 a word of it, 5 a word of the image and, where in.c % 4 != 0,
    30 an image pixel."""
    c = params["in"]["c"]
    pixels, image = params["out"]["h"] * params["out"]["w"], params["in"]["h"] * params["in"]["w"]
    copy = 1.5 * _pad_copy_bytes(params) / 4 + 5 * image * -(-c // 4) + (30 * image if c % 4 else 0)
    return params["in"]["n"] * (400 + pixels * (15 + 104 * -(-c // 4)) + copy)


def _plane_in_place(params: dict) -> bool:
    """Whether the plane kernel may write its output over its input (depth multiplier 1): channel c's
    output row oy overwrites channel c's input bytes at the same offsets, so every input row it
    reaches must be in its scratch already (the kernel gathers a band's rows, up to its last window's
    last, before computing them) or never needed again (above the next row's window)."""
    if params["depth_mult"] != 1:
        return False
    ih, iw = params["in"]["h"], params["in"]["w"]
    oh, ow = params["out"]["h"], params["out"]["w"]
    span = (params["kh"] - 1) * params["dil_h"] + 1
    for oy in range(oh):
        iy0 = oy * params["stride_h"] - params["pad_h"]
        reached = ((oy + 1) * ow - 1) // iw  # the last input row the output's row oy lands on
        if reached >= max(min(iy0 + span, ih), iy0 + params["stride_h"]):
            return False
    return True


def _lower_depthwise_plane(g: Graph, op: Op, params: dict, inp: Tensor, w: Tensor, bias: Tensor | None,
                           requant: list[ConstArray]) -> KernelCall:
    """tq_depthwise_conv_plane_s8: weights [out.c][kh][kw], four quant words per output channel (bias
    with the input offset folded, then the requantization's three), a ring of padded input rows."""
    _, kh, kw, oc = w.shape
    taps = w.data.reshape(kh * kw, oc)
    mode = _requant_mode(requant, params, bias, taps.T)
    folded = _fold_input_offset(op, bias, int(params["in_offset"]), taps.astype(np.int64).sum(axis=0))
    span_h, span_w = (kh - 1) * params["dil_h"] + 1, (kw - 1) * params["dil_w"] + 1
    iw, ow = params["in"]["w"], params["out"]["w"]
    right = max(0, (ow - 1) * params["stride_w"] + span_w - params["pad_w"] - iw)
    row_w = -(-(params["pad_w"] + iw + right + 4) // 4) * 4  # 4 bytes past the last window: word loads
    oh, sh = params["out"]["h"], params["stride_h"]
    # Output rows a fill of the scratch serves: all where the padded plane fits PLANE_BAND_BYTES, else
    # as many as fit (at least one).
    band = min(oh, max(1, (PLANE_BAND_BYTES // row_w - span_h) // sh + 1))
    plane = {k: v for k, v in params.items() if k not in ("depth_mult", "mult", "shift", "in_offset", "bias")}
    plane.update({"mult": params["depth_mult"], "in_zp": -params["in_offset"], "weights": ArrayRef("w"),
                  "quant": ArrayRef("quant"), "requant": mode, "band": band, "row_w": row_w})
    weights = ConstArray("w", "int8_t", np.ascontiguousarray(taps.T).reshape(-1).astype(np.int8))
    return KERNELS["tq_depthwise_conv_plane_s8"].call(
        params=plane,
        inputs=[inp.index],
        outputs=[g.tensor(op.outputs[0]).index, g.add_scratch(f"plane@{op.index}", ((band - 1) * sh + span_h) * row_w)],
        arrays=[weights, _fast_quant(requant, int(params["out_offset"]), folded, 1, mode)],
        in_place="direct" if _plane_in_place(params) else None,
    )


def _lower_depthwise_as_conv(g: Graph, op: Op, params: dict, inp: Tensor, out: Tensor, w: Tensor, bias: Tensor | None,
                             requant: list[ConstArray]) -> KernelCall | None:
    """A depthwise layer the fast depthwise kernel does not take (a depth multiplier m > 1, or more
    than 64 taps). With m > 1 and at most 64 taps: the fast depthwise kernel on the input with each
    channel repeated m times (tq_depthwise_conv_mult_s8; measured on qemu-m4 for one input channel,
    3x3, m = 8: 5.9 instructions a MAC, against 7.7 for im2col, 7.9 for a C loop over int16 tap
    pairs (SMLAD) and 27 for the reference). More taps over one input channel:
    the CONV_2D it is (output channel j's filter the tap column [kh][kw] of that channel, OHWI with
    I = 1) on the fast GEMM kernels (im2col). None otherwise (more taps over several channels: a
    grouped convolution of one row per group costs more than the reference loop)."""
    _, kh, kw, oc = w.shape
    if params["depth_mult"] > 1 and kh * kw <= 64:
        return _lower_depthwise_mult(g, op, params, inp, out, w, bias, requant)
    if params["in"]["c"] > 1:
        return None
    rows = np.asarray(w.data, dtype=np.int8).reshape(kh * kw, oc).T  # [oc][kh * kw]
    as_conv = Tensor(index=w.index, name=w.name, shape=(oc, kh, kw, 1), dtype=w.dtype, quant=w.quant,
                     data=np.ascontiguousarray(rows).reshape(oc, kh, kw, 1))
    return _lower_conv_fast(g, op, {k: v for k, v in params.items() if k != "depth_mult"}, inp, out, as_conv, bias, requant)


def _lower_depthwise_mult(g: Graph, op: Op, params: dict, inp: Tensor, out: Tensor, w: Tensor, bias: Tensor | None,
                          requant: list[ConstArray]) -> KernelCall:
    """tq_depthwise_conv_mult_s8: the layer as the fast depthwise kernel's over C m channels (the same
    weights, biases and constants: output channel c m + j reads channel c m + j of the input with each
    channel repeated m times), one output row at a time from the repeated rows under its windows."""
    _, kh, kw, oc = w.shape
    taps = w.data.reshape(kh * kw, oc)
    mode = _requant_mode(requant, params, bias, taps.T)
    folded = _fold_input_offset(op, bias, int(params["in_offset"]), taps.astype(np.int64).sum(axis=0))
    weights = _depthwise_blocks(taps, paired=g.target.k_align == 4, wide=False)  # int8 weights, even with --wide-weights
    dw = {k: v for k, v in params.items() if k not in ("depth_mult", "mult", "shift", "in_offset", "bias")}
    dw.update({"in": {**params["in"], "c": oc}, "in_zp": -params["in_offset"], "paired": int(g.target.k_align == 4),
               "weights": ArrayRef("w"), "weights16": 0, "quant": ArrayRef("quant"), "ring_rows": 0, "requant": mode,
               "pad_copy": 0})
    span = (kh - 1) * params["dil_h"] + 1
    scratch = -(-oc // 8) * 8 + span * params["in"]["w"] * oc
    return KERNELS["tq_depthwise_conv_mult_s8"].call(
        params={"dw": dw, "in_c": params["in"]["c"], "mult": params["depth_mult"]},
        inputs=[inp.index],
        outputs=[out.index, g.add_scratch(f"mult@{op.index}", scratch)],
        arrays=[weights, _fast_quant(requant, int(params["out_offset"]), folded, 4, mode)],
    )


def macs_depthwise(g: Graph, op: Op) -> int:
    out = g.tensor(op.outputs[0])
    _, kh, kw, _ = g.tensor(op.inputs[1]).shape
    return int(out.size) * kh * kw


# --------------------------------------------------------------------------- FULLY_CONNECTED


def _fc_geometry(g: Graph, op: Op) -> tuple[int, int, int]:
    """(batches, accum_depth, units) as FULLY_CONNECTED's Prepare derives them."""
    inp = g.tensor(op.inputs[0])
    w = g.tensor(op.inputs[1])
    units, accum = w.shape
    return inp.size // accum, accum, units


def check_fc(g: Graph, op: Op) -> None:
    _check_fc_shapes(g, op, *_check_io(g, op), check_bias=_check_bias)


def _check_fc_shapes(g: Graph, op: Op, inp: Tensor, out: Tensor, check_bias) -> None:
    """FULLY_CONNECTED's weights, bias (`check_bias(g, op, units)`: int32 or int64), fused activation and
    output shape, for any activation type."""
    o = _opts(op)
    need(int(o.weightsFormat) == 0, op, f"weights format {int(o.weightsFormat)} (shuffled) is not supported; use the DEFAULT format")
    w = g.tensor(op.inputs[1])
    need(len(w.shape) == 2, op, f"weights '{w.name}' have rank {len(w.shape)}, expected 2 [units, depth]")
    units, accum = w.shape
    need(accum > 0 and inp.size % accum == 0, op, f"input of {inp.size} values does not split into rows of {accum}")
    _check_weights(g, op, units, axis=0, zero_point_ok=True)
    check_bias(g, op, units)
    _check_fused(op)
    batches = inp.size // accum
    if o.keepNumDims:
        need(len(inp.shape) >= 1 and inp.shape[-1] == accum, op, f"keep_num_dims needs the input's last dimension to be {accum}")
        expected = tuple(inp.shape[:-1]) + (units,)
    else:
        expected = (batches, units)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")


def lower_fc(g: Graph, op: Op) -> KernelCall:
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    batches, accum, units = _fc_geometry(g, op)
    bias = _check_bias(g, op, units)
    params = {
        "batches": batches,
        "accum_depth": accum,
        "out_depth": units,
        # Per-tensor weights keep their zero point (reference FullyConnected's weights_offset);
        # per-channel weights are symmetric (FullyConnectedPerChannel has no weights offset).
        "w_offset": 0 if w.quant.per_channel else -int(w.quant.zp),
        **_common_params(inp, out, _check_fused(op), bias, w),
        "scale": ArrayRef("scale"),
    }
    scales = np.asarray(effective_scales(inp, w, out, units), dtype=np.float64)
    if w.pack is not None:
        return _lower_packed(op, "tq_fully_connected_packed_s8", params, inp, out, w, [ConstArray("scale", "double", scales)])
    if fast_kernels(g):
        fast = _lower_fc_fast(g, op, params, inp, out, w, bias, scales)
        if fast is not None:
            return fast
    return KERNELS["tq_fully_connected_s8"].call(
        params=params,
        inputs=[inp.index],
        outputs=[out.index],
        arrays=[ConstArray("scale", "double", scales)],
    )


FC_CHECK_BUDGET = 1 << 27  # sums enumerated to prove a fully connected layer's fixed-point requantization
FC_CHECK_SLICE = 1 << 21  # of them at a time (bounded memory)


def _fc_fixed_point(scales: np.ndarray, acc_max: np.ndarray, out_offset: int, lo: int, hi: int
                    ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per row mult, t and rnd (low, high word) with clamp(((acc * mult + rnd) >> 32) >> t) equal to
    the reference's clamp(round((double)acc * scale) + out_offset) for every |acc| <= acc_max[row],
    proven by enumerating the sums whose output does not clamp (both forms are monotonic, so the
    sums past an enumerated clamped one clamp alike); the multiplier nearest the scale first, then
    its neighbours. Where that would take too long (large per-channel layers) or fails: the nearest
    multiplier and per row a guard, the error bound of sum * mult against the exact product in
    units of 2^-S (sum_max * |mult - scale 2^S| plus double rounding), within which of a rounding
    boundary the kernel takes the exact double-rounding path: (table, guard or None). None for scales
    outside [2^-22, 1/2)."""
    table = np.zeros((len(scales), 4), dtype=np.int64)
    guard = np.zeros(len(scales), dtype=np.int64)
    plan = []  # per distinct scale: its rows, S, the nearest multiplier and the sums to enumerate
    for s in np.unique(scales):
        rows = np.nonzero(scales == s)[0]
        _, x = math.frexp(float(s))
        shift = max(32, 31 - x)
        nearest = int(round(math.ldexp(float(s), shift)))
        if not (0 < nearest < 2**31 - 2 and shift <= 54):
            return None
        a_max = int(acc_max[rows].max())
        guard[rows] = math.ceil(a_max * abs(nearest - math.ldexp(float(s), shift))) + (1 << (shift - 22)) + 4
        a_lo = max(-a_max, math.floor((lo - out_offset - 1) / float(s)) - 1)
        a_hi = min(a_max, math.ceil((hi - out_offset + 1) / float(s)) + 1)
        plan.append((float(s), rows, shift, nearest, a_lo, a_hi))
    proven = sum(max(0, a_hi - a_lo + 1) for *_, a_lo, a_hi in plan) <= FC_CHECK_BUDGET
    for s, rows, shift, nearest, a_lo, a_hi in plan:
        found = None
        if proven:
            # The first candidate equal to the double form on every sum, FC_CHECK_SLICE sums at a time.
            found = next((c for c in ((mult, half) for mult in (nearest, nearest - 1, nearest + 1, nearest - 2, nearest + 2)
                                      for half in (1 << (shift - 1), (1 << (shift - 1)) - 1))
                          if _fc_form_equal(s, shift, *c, out_offset, lo, hi, a_lo, a_hi)), None)
        proven = proven and found is not None
        mult, half = found or (nearest, 1 << (shift - 1))
        rnd = half + out_offset * (1 << shift)
        table[rows] = (mult, shift - 32, rnd & 0xFFFFFFFF, rnd >> 32)
    if proven:
        return table, None
    # The guarded form needs the nearest multipliers and the half-up rounding of every row.
    for s in np.unique(scales):
        rows = np.nonzero(scales == s)[0]
        _, x = math.frexp(float(s))
        shift = max(32, 31 - x)
        rnd = (1 << (shift - 1)) + out_offset * (1 << shift)
        table[rows] = (int(round(math.ldexp(float(s), shift))), shift - 32, rnd & 0xFFFFFFFF, rnd >> 32)
        if int(guard[rows].max()) >= min(2**25, 1 << (shift - 2)):  # stored as ceil(guard / 4) << 8 beside t
            return None
    return table, guard


def _fc_form_equal(s: float, shift: int, mult: int, half: int, out_offset: int, lo: int, hi: int, a_lo: int, a_hi: int) -> bool:
    """Whether clamp(((a * mult + half) >> shift) + out_offset) equals the reference's clamp(round((double)a
    * s) + out_offset) for every a in [a_lo, a_hi], FC_CHECK_SLICE sums at a time."""
    for start in range(a_lo, a_hi + 1, FC_CHECK_SLICE):
        a = np.arange(start, min(start + FC_CHECK_SLICE, a_hi + 1), dtype=np.int64)
        v = np.clip(a.astype(np.float64) * s, -2.0**30, 2.0**30)  # tq_fully_connected_s8's double
        t0 = np.trunc(v)
        exact = np.clip((t0 + (v >= t0 + 0.5) - (v <= t0 - 0.5)).astype(np.int64) + out_offset, lo, hi)
        if not np.array_equal(exact, np.clip(((a * mult + half) >> shift) + out_offset, lo, hi)):
            return False
    return True


def _lower_fc_fast(g: Graph, op: Op, params: dict, inp: Tensor, out: Tensor, w: Tensor, bias: Tensor | None,
                   scales: np.ndarray) -> KernelCall | None:
    """tq_fully_connected_fast_s8: weights by quads of rows interleaved `group` bytes at a time, the
    zero points folded (the weights' one times each row's sum at run time), requantized in fixed
    point (proven equal to the reference's double arithmetic, or guarded: tq_fc_round near a rounding
    boundary), or, for scales no fixed-point form takes, every output by tq_fc_round (guarded 2)."""
    accum, units = params["accum_depth"], params["out_depth"]
    group = g.target.k_align
    widen = _fc_widen(g, accum, units)
    split = group == 4 and not widen
    # On DSP cores k is a multiple of 8 (tq_fc_dsp.S's in-place loop, fc_prep 2, takes 8 of depth a
    # step) but where that would add a step to rows of at most 16 words (the other loops run k / 4 steps).
    k_step = 8 if split and g.target.dsp and -(-accum // 4) > 16 else group
    k = -(-accum // k_step) * k_step
    quads = -(-units // 4)
    rows = np.asarray(w.data, dtype=np.int8).reshape(units, accum)
    padded = np.zeros((quads * 4, k), dtype=np.int8)
    padded[:units, :accum] = rows
    # The DSP loop's layout (tq_fc_dsp.S; the portable loop reads it too): with groups of 4, each
    # 4 of depth (w0, w1, w2, w3) stored as (w3 + 128, w2, w1 + 128, w0), the bytes of indices past
    # the depth 0 (so that whatever the input's bytes there, they add nothing), and the bias less that
    # loop's constant.
    stored = padded.copy()
    if split:
        u = padded.view(np.uint8)
        stored[:, 0::4] = (u[:, 3::4] ^ 0x80).view(np.int8)
        stored[:, 1::4] = padded[:, 2::4]
        stored[:, 2::4] = (u[:, 1::4] ^ 0x80).view(np.int8)
        stored[:, 3::4] = padded[:, 0::4]
        source = np.arange(k) // 4 * 4 + 3 - np.arange(k) % 4  # the depth index each stored byte is of
        stored[:, source >= accum] = 0
    packed = stored.reshape(quads, 4, k // group, group).transpose(0, 2, 1, 3).reshape(-1)
    if split and g.target.dsp and units % 4 == 1:
        # A last quad's only row (tq_fc_row1 on DSP cores) stored alone: its words one after another.
        whole = stored[:units - 1].reshape(quads - 1, 4, k // group, group).transpose(0, 2, 1, 3).reshape(-1)
        packed = np.concatenate([whole, stored[units - 1]])
    in_off, w_off = int(params["in_offset"]), int(params["w_offset"])
    wide = rows.astype(np.int64)
    b = bias.data.astype(np.int64) if bias is not None else np.zeros(units, dtype=np.int64)
    # sum (w + w_off)(x + in_off) + b = sum w x + w_off sum x + [b + in_off sum w + depth w_off in_off]
    folded = np.zeros(quads * 4, dtype=np.int64)
    folded[:units] = b + in_off * wide.sum(axis=1) + accum * w_off * in_off
    if split:  # per 4 of depth the loop sums w0 (x0 - 127) + (w1 + 128) x1 + w2 (x2 + 128) + (w3 + 128)(x3 + 1):
        # the dot product, 128 (x1 + x3) (taken off at run time) and this constant
        p64 = padded.astype(np.int64)
        folded -= -127 * p64[:, 0::4].sum(axis=1) + 128 * p64[:, 2::4].sum(axis=1) + p64[:, 3::4].sum(axis=1) + 128 * (accum // 4)
    folded = ((folded + 2**31) % 2**32 - 2**31).astype(np.int32)  # int32 sums wrap alike
    x_max = max(abs(-128 + in_off), abs(127 + in_off))
    acc_max = np.abs(b) + x_max * np.abs(wide + w_off).sum(axis=1)
    fixed = _fc_fixed_point(scales, acc_max, int(params["out_offset"]), int(params["act_min"]), int(params["act_max"]))
    # No fixed-point form (scales of 1/2 and more, or guards too wide for large layers): the dot
    # products still run fast and every output is requantized by the exact tq_fc_round (guarded 2).
    exact_only = fixed is None
    table, guard = fixed if fixed is not None else (np.zeros((units, 4), dtype=np.int64), np.zeros(units, dtype=np.int64))
    fast = {k_: params[k_] for k_ in ("batches", "accum_depth", "out_depth")}
    full = np.zeros((quads * 4, 4), dtype=np.int64)
    full[:units] = table
    if guard is not None:
        # ceil(guard / 4) beside t (< 64), whose low byte alone the shifts read: word >> 6 is the guard
        # rounded up to a multiple of 4.
        full[:units, 1] += -(-guard // 4) << 8
    fast.update(k=k, group=group, w_offset=w_off, out_offset=params["out_offset"], act_min=params["act_min"],
                act_max=params["act_max"], weights=ArrayRef("w"), bias=ArrayRef("bias"), quant=ArrayRef("quant"),
                guarded=2 if exact_only else int(guard is not None), scale_m=0, scale_e=0, split=int(split),
                fc_prep=0, wide=0, chunk_lg=_fc_chunk_lg(stored) if split else 8)
    arrays = [ConstArray("w", "int8_t", packed), ConstArray("bias", "int32_t", folded),
              ConstArray("quant", "int32_t", ((full + 2**31) % 2**32 - 2**31).astype(np.int32).reshape(-1))]
    if guard is not None:
        # Each double scale as m * 2^e, 2^52 <= m < 2^53, for the integer tq_fc_round.
        parts = [math.frexp(float(s)) for s in scales]
        m = np.asarray([int(f * 2**53) for f, _ in parts], dtype=np.uint64)
        e = np.asarray([x - 53 for _, x in parts], dtype=np.int32)
        arrays += [ConstArray("scale_m", "uint64_t", m), ConstArray("scale_e", "int32_t", e)]
        fast.update(scale_m=ArrayRef("scale_m"), scale_e=ArrayRef("scale_e"))
    if widen:
        # int16 weights with the weights' zero point inside them (the run-time add 0), read by
        # tq_fc_wide_dsp (tq_fc_dsp.S); the bias is `folded` as it is (b + in_off sum (w + w_off)).
        fast.update(weights=0, wide=ArrayRef("w16"))
        arrays[0] = ConstArray("w16", "int16_t", _fc_wide_stream(padded, accum, units, w_off))
    if not split:
        return KERNELS["tq_fully_connected_fast_s8"].call(params=fast, inputs=[inp.index], outputs=[out.index, -1],
                                                          arrays=arrays)
    # With k / 2 words of scratch the DSP loop's operands are made once a call (14 instructions
    # per 16 MACs instead of 16): taken by plan_memory wherever that scratch leaves the arena as it is.
    scratch = g.add_scratch(f"fc@{op.index}", 0, dtype="int32")
    prep = KERNELS["tq_fully_connected_fast_s8"].call(params={**fast, "fc_prep": 1}, inputs=[inp.index],
                                                      outputs=[out.index, scratch], arrays=arrays)
    return KERNELS["tq_fully_connected_fast_s8"].call(params=fast, inputs=[inp.index], outputs=[out.index, scratch],
                                                      arrays=arrays, alt=(prep, k // 2))


FC_WIDE_QUADS = 2  # layers of at most this many quads of rows take int16 weights by default (DSP cores)
FC_WIDE_EXTRA_MAX = 16 * 1024  # and only while that costs at most this much flash beyond the int8 weights
FC_WIDE_FLASH_SHARE = 16  # nor more than this fraction (1 / n) of the board's flash


FC_CHUNK_LG_MAX = 16  # the DSP loops' longest chunks: 2^16 bytes of input


def _fc_chunk_lg(stored: np.ndarray) -> int:
    """log2 of the DSP loops' chunks in input bytes (tq_fc_dsp.S; params chunk_lg): the longest power
    of two from 256 (right for any weights) up to the row's length whose every run of words (wherever
    a loop's chunks start) keeps D, the sum of w2 (x2 + 128) - w0 (127 - x0) + u1 x1 + u3 (1 + x3) per
    word, within [-2^23, 2^23) for any input, so that its 256 D, the loops' sum, fits int32. Each
    term's extremes over the input's range, from the stored bytes (u3, w2, u1, w0)."""
    u3, w2 = stored[:, 0::4].view(np.uint8).astype(np.int64), stored[:, 1::4].astype(np.int64)
    u1, w0 = stored[:, 2::4].view(np.uint8).astype(np.int64), stored[:, 3::4].astype(np.int64)
    hi = np.maximum(255 * w2, 0) + np.maximum(-255 * w0, 0) + 127 * u1 + 128 * u3
    lo = np.minimum(255 * w2, 0) + np.minimum(-255 * w0, 0) - 128 * u1 - 127 * u3
    words = stored.shape[1] // 4
    best = 8
    for lg in range(9, FC_CHUNK_LG_MAX + 1):
        n = min(1 << (lg - 2), words)
        c_hi = np.concatenate([np.zeros((len(hi), 1), np.int64), np.cumsum(hi, axis=1)], axis=1)
        c_lo = np.concatenate([np.zeros((len(lo), 1), np.int64), np.cumsum(lo, axis=1)], axis=1)
        if (c_hi[:, n:] - c_hi[:, :-n]).max() >= 2**23 or (c_lo[:, n:] - c_lo[:, :-n]).min() < -2**23:
            break
        best = lg
        if n == words:
            break
    return best


def _fc_widen(g: Graph, accum: int, units: int) -> bool:
    """Whether FULLY_CONNECTED stores its weights as int16 (tq_fc_wide_dsp: SXTB16 of the input, SMLAD,
    13 instructions per 16 MACs and nothing a call but the requantization): on DSP cores, every layer
    with --wide-weights, by default those of at most FC_WIDE_QUADS quads of rows (there the int8 loops'
    pass over the input, a sums or operands pass, is paid for at most two quads: about 1.0 instruction
    per MAC against 0.84) whose widened weights cost at most FC_WIDE_EXTRA_MAX bytes more flash and at
    most 1 / FC_WIDE_FLASH_SHARE of the board's (Target.flash, where known)."""
    if not (g.target.dsp and g.target.k_align == 4):
        return False
    quads = -(-units // 4)
    extra = 4 * quads * -(-accum // 4) * 4  # int16 bytes less int8 bytes: one byte per stored weight
    cap = min(FC_WIDE_EXTRA_MAX, g.target.flash // FC_WIDE_FLASH_SHARE) if g.target.flash else FC_WIDE_EXTRA_MAX
    return g.target.wide or (quads <= FC_WIDE_QUADS and extra <= cap)


def _fc_wide_stream(padded: np.ndarray, accum: int, units: int, w_off: int) -> np.ndarray:
    """tq_fc_wide_dsp's weights from the int8 rows `padded` [quads * 4][k]: w + w_off (0 past the
    depth and the units), per quad of rows and 4 of depth each row's (w0, w2, w1, w3)
    as int16 (the SMLAD operands of the input's SXTB16 lanes (x0, x2) and (x1, x3)):
    [quads][k / 4][4][4]."""
    n, k = padded.shape
    w = padded.astype(np.int64) + w_off
    w[:, accum:] = 0
    w[units:] = 0
    quads = w.reshape(n // 4, 4, k // 4, 4)[..., [0, 2, 1, 3]].transpose(0, 2, 1, 3)
    return quads.astype(np.int16).reshape(-1)


def fc_wide_on_operands(call) -> None:
    """A tq_fc_wide_dsp layer made to read its input as an earlier layer made it into Z words in place
    (fc_prep 3; passes._fc_flip): per 4 of depth the lanes are UXTB16 Z = (127 - x0, x2 + 128) and
    SXTB16 of Z rotated = (x1, -1 - x3), so w0 and w3 are stored negated and the bias less the
    constant -127 w0 + 128 w2 + w3 per 4 of depth that those terms add."""
    arrays = {a.name: a for a in call.arrays}
    w = arrays["w16"].values.astype(np.int64).reshape(-1, 4)  # (w0, w2, w1, w3) rows
    const = (-127 * w[:, 0] + 128 * w[:, 1] + w[:, 3]).reshape(-1, call.params["k"] // 4, 4).sum(axis=1).reshape(-1)
    w[:, 0], w[:, 3] = -w[:, 0], -w[:, 3]
    bias = arrays["bias"].values.astype(np.int64) - const
    new = {"w16": ConstArray("w16", "int16_t", w.astype(np.int16).reshape(-1)),
           "bias": ConstArray("bias", "int32_t", ((bias + 2**31) % 2**32 - 2**31).astype(np.int32))}
    call.arrays = [new.get(a.name, a) for a in call.arrays]
    call.params["fc_prep"] = 3


def macs_fc(g: Graph, op: Op) -> int:
    batches, accum, units = _fc_geometry(g, op)
    return batches * units * accum


# --------------------------------------------------------------------------- int16x8 checks


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


def _requant_s16(inp: Tensor, w: Tensor, out: Tensor, channels: int, op: Op) -> list[ConstArray]:
    """Per-channel QuantizeMultiplier as for int8; the int64 MultiplyByQuantizedMultiplier takes
    shifts in [-31, 7]."""
    mult, shift = [], []
    for real in effective_scales(inp, w, out, channels):
        m, s = quantize_multiplier(real)
        need(-31 <= s <= 7, op, f"requantization scale {real:g} is out of the int16 kernels' range")
        mult.append(m)
        shift.append(s)
    return [ConstArray("mult", "int32_t", np.asarray(mult, dtype=np.int32)),
            ConstArray("shift", "int32_t", np.asarray(shift, dtype=np.int32))]


def _window_params(g: Graph, op: Op, inp: Tensor, kh: int, kw: int, oc: int) -> tuple[dict, dict]:
    """(shapes and kernel size, strides / dilations / padding) as the int8 CONV_2D computes them."""
    out_shape, pad_h, pad_w = _check_window(g, op, inp, kh, kw, oc)
    o = op.options
    return {
        "in": nhwc(inp.shape),
        "out": nhwc(out_shape),
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


def _tail_s16(out: Tensor, op: Op, w: Tensor, bias: Tensor | None, fixed_point: bool = True) -> dict:
    lo, hi = activation_range(_check_fused(op), out)
    tail = {"act_min": lo, "act_max": hi, "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0}
    if fixed_point:
        tail.update(FIXED_POINT)
    return tail


# --------------------------------------------------------------------------- CONV_2D, DEPTHWISE_CONV_2D (int16x8)

# kind -> (kernel, axis of the weights' output channels: OHWI for CONV_2D, 1HWC for DEPTHWISE)
WINDOW_S16 = {"CONV_2D": ("tq_conv_s16", 0), "DEPTHWISE_CONV_2D": ("tq_depthwise_conv_s16", 3)}


def _window_op_s16(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """Input, output, weights and the kernel-specific channel parameters, checked as for int8."""
    need(len(op.inputs) in (2, 3), op, f"has {len(op.inputs)} inputs, expected input, weights and optional bias")
    inp, out = int16_io(g, op)
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
        dm = int(_opts(op).depthMultiplier)
        need(dm in (0, oc // in_c), op, f"depth_multiplier {dm} disagrees with {in_c} input and {oc} output channels")
        extra = {"depth_mult": oc // in_c}
    _check_weights(g, op, oc, axis=WINDOW_S16[op.kind][1])
    return inp, out, w, extra


def _lower_window_s16(g: Graph, op: Op, scratch: bool) -> KernelCall:
    """The int16x8 CONV_2D / DEPTHWISE_CONV_2D call; `scratch` False (the check) adds no scratch tensor."""
    inp, out, w, extra = _window_op_s16(g, op)
    kernel, axis = WINDOW_S16[op.kind]
    oc = w.shape[axis]
    shape, window = _window_params(g, op, inp, w.shape[1], w.shape[2], oc)
    bias = _bias64(g, op, oc)
    requant = _requant_s16(inp, w, out, oc, op)
    if fast_kernels(g) and extra.get("groups", 1) == 1 and w.shape[1] * w.shape[2] <= DW16_MAX_TAPS:
        lo, hi = activation_range(_check_fused(op), out)
        fast = {**shape, **window, "act_min": lo, "act_max": hi, "quant": ArrayRef("quant16")}
        arrays = [_fast_requant_s16(requant, bias, oc)]
        if op.kind == "CONV_2D":
            return _lower_conv_s16_fast(g, op, fast, inp, out, w, arrays, scratch)
        return _lower_depthwise_s16_fast(g, op, {**fast, **extra}, inp, out, w, arrays, scratch)
    return KERNELS[kernel].call(
        params={**shape, **extra, **window, **_tail_s16(out, op, w, bias)},
        inputs=[inp.index],
        outputs=[out.index],
        arrays=requant,
    )


def check_window_s16(g: Graph, op: Op) -> None:
    _lower_window_s16(g, op, scratch=False)


def lower_window_s16(g: Graph, op: Op) -> KernelCall:
    return _lower_window_s16(g, op, scratch=True)


# --------------------------------------------------------------------------- int16x8 fast twins (tq_int16_fast.h)

DW16_MAX_TAPS = 64  # TQ_DW16_MAX_TAPS
INT32_SUM = 2**31 - 1  # the largest |sum of x * w| a chunk may reach: 32768 * (sum of |w|) <= 2^31 - 1


def _fast_requant_s16(requant: list[ConstArray], bias: Tensor | None, channels: int) -> ConstArray:
    """tq_s16_requant's constants per channel, padded to an even count: the low and high words of
    K = bias * red + 2^(rsh - 1), red (the multiplier rounded to 16 bits as the int64
    MultiplyByQuantizedMultiplier does) and rsh = 15 - shift."""
    mult = next(a for a in requant if a.name == "mult").values.astype(np.int64)
    shift = next(a for a in requant if a.name == "shift").values.astype(np.int64)
    red = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
    rsh = 15 - shift
    b = bias.data.astype(np.int64).reshape(-1) if bias is not None else np.zeros(channels, dtype=np.int64)
    k = b * red + (np.ones(channels, dtype=np.int64) << (rsh - 1))  # |bias| < 2^40: inside int64
    table = np.zeros((channels + channels % 2, 4), dtype=np.int64)
    table[:, 3] = 8  # a padding channel's shift, never used
    table[:channels] = np.stack([k & 0xFFFFFFFF, k >> 32, red, rsh], axis=1)
    return ConstArray("quant16", "int32_t", table.reshape(-1).astype(np.uint32).view(np.int32))


def _group_s16(g: Graph) -> int:
    """tq_int16_fast.h's weight group: 8 on Helium builds (VLDRB.S16 of 8 weights), else 4 (SXTB16)."""
    return 8 if g.target.k_align == 16 else 4


def _rows_s16(rows: np.ndarray, group: int) -> ConstArray:
    """Weight rows [n][k] in tq_int16_fast.h's layout: k padded to a multiple of the group and the rows
    to an even count with zeros, pairs of rows `group` bytes at a time; with a group of 4 each 4 bytes
    as w0 w2 w1 w3."""
    n, k = rows.shape
    kpad = -(-k // group) * group
    padded = np.zeros((n + n % 2, kpad), dtype=np.int8)
    padded[:n, :k] = rows
    groups = padded.reshape(-1, kpad // group, group)
    if group == 4:
        groups = groups[..., [0, 2, 1, 3]]
    packed = groups.reshape(-1, 2, kpad // group, group).transpose(0, 2, 1, 3).reshape(-1)
    return ConstArray("w16rows", "int8_t", packed)


def _chunk_s16(rows: np.ndarray, group: int) -> int:
    """The depth tq_s16_dot2x2 may sum in int32: the whole row where every row's 32768 * sum |w| fits,
    else the largest multiple of the group for which every chunk of every row does (504 always does)."""
    k = rows.shape[1]
    mags = np.abs(rows.astype(np.int64))
    if int(mags.sum(axis=1).max(initial=0)) * 32768 <= INT32_SUM:
        return k
    cum = np.concatenate([np.zeros((len(rows), 1), dtype=np.int64), np.cumsum(mags, axis=1)], axis=1)
    for chunk in range(k // group * group, 0, -group):
        ends = np.minimum(np.arange(0, k, chunk) + chunk, k)
        sums = cum[:, ends] - cum[:, np.arange(0, k, chunk)]
        if int(sums.max()) * 32768 <= INT32_SUM:
            return chunk
    raise AssertionError("a chunk of 8 int8 weights always fits int32")


def _lower_conv_s16_fast(g: Graph, op: Op, fast: dict, inp: Tensor, out: Tensor, w: Tensor, arrays: list[ConstArray],
                         scratch: bool) -> KernelCall:
    """CONV_2D (one group): a column pair of two output pixels gathered into 2 kpad int16 of scratch."""
    rows = w.data.reshape(w.shape[0], -1)
    k, group = rows.shape[1], _group_s16(g)
    cols = g.add_scratch(f"cols16@{op.index}", 2 * (-(-k // group) * group), dtype="int16") if scratch else -1
    return KERNELS["tq_conv_s16_fast"].call(
        params={**fast, "k": k, "group": group, "chunk": _chunk_s16(rows, group), "weights": ArrayRef("w16rows")},
        inputs=[inp.index],
        outputs=[out.index, cols],
        arrays=[_rows_s16(rows, group), *arrays],
    )


def _lower_depthwise_s16_fast(g: Graph, op: Op, fast: dict, inp: Tensor, out: Tensor, w: Tensor, arrays: list[ConstArray],
                              scratch: bool) -> KernelCall:
    """DEPTHWISE_CONV_2D: int16 weights by blocks of four output channels and pairs of taps."""
    _, kh, kw, oc = w.shape
    t2, c4 = -(-kh * kw // 2) * 2, -(-oc // 4) * 4
    padded = np.zeros((t2, c4), dtype=np.int16)
    padded[: kh * kw, :oc] = w.data.reshape(kh * kw, oc)
    # [block of 4 channels][tap pair][channel of the block][tap of the pair]
    weights = padded.reshape(t2 // 2, 2, c4 // 4, 4).transpose(2, 0, 3, 1).reshape(-1)
    zeros = g.add_scratch(f"zeros16@{op.index}", -(-inp.shape[3] // 4) * 4, dtype="int16") if scratch else -1
    return KERNELS["tq_depthwise_conv_s16_fast"].call(
        params={**fast, "weights16": ArrayRef("w16")},
        inputs=[inp.index],
        outputs=[out.index, zeros],
        arrays=[ConstArray("w16", "int16_t", weights), *arrays],
    )


# --------------------------------------------------------------------------- FULLY_CONNECTED (int16x8)


def check_fc_s16(g: Graph, op: Op) -> None:
    need(len(op.inputs) in (2, 3), op, f"has {len(op.inputs)} inputs, expected input, weights and optional bias")
    _check_fc_shapes(g, op, *int16_io(g, op), check_bias=_bias64)


def lower_fc_s16(g: Graph, op: Op) -> KernelCall:
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    w = g.tensor(op.inputs[1])
    batches, accum, units = _fc_geometry(g, op)
    bias = _bias64(g, op, units)
    scales = np.asarray(effective_scales(inp, w, out, units), dtype=np.float64)
    if fast_kernels(g):
        lo, hi = activation_range(_check_fused(op), out)
        # Each double scale as m * 2^e, 2^52 <= m < 2^53, for the integer tq_fc16_round_int.
        parts = [math.frexp(float(s)) for s in scales]
        m = np.asarray([int(f * 2**53) for f, _ in parts], dtype=np.uint64)
        need(bool(np.all((m >= 2**52) & (m < 2**53))), op, "a requantization scale is not a normal double")
        rows, group = w.data.reshape(units, accum), _group_s16(g)
        b = bias.data.astype(np.int64).reshape(-1) if bias is not None else np.zeros(units, dtype=np.int64)
        return KERNELS["tq_fully_connected_s16_fast"].call(
            params={"batches": batches, "accum_depth": accum, "out_depth": units, "group": group,
                    "chunk": _chunk_s16(rows, group),
                    "act_min": lo, "act_max": hi, "weights": ArrayRef("w16rows"), "bias": ArrayRef("bias64"),
                    "w_offset": 0 if w.quant.per_channel else -int(w.quant.zp),
                    "scale_m": ArrayRef("scale_m"), "scale_e": ArrayRef("scale_e")},
            inputs=[inp.index],
            outputs=[out.index],
            arrays=[_rows_s16(rows, group), ConstArray("bias64", "int64_t", b), ConstArray("scale_m", "uint64_t", m),
                    ConstArray("scale_e", "int32_t", np.asarray([x - 53 for _, x in parts], dtype=np.int32))],
        )
    return KERNELS["tq_fully_connected_s16"].call(
        params={
            "batches": batches,
            "accum_depth": accum,
            "out_depth": units,
            "w_offset": 0 if w.quant.per_channel else -int(w.quant.zp),
            **_tail_s16(out, op, w, bias, fixed_point=False),
            "scale": ArrayRef("scale"),
        },
        inputs=[inp.index],
        outputs=[out.index],
        arrays=[ConstArray("scale", "double", scales)],
    )


# --------------------------------------------------------------------------- float32


def _weights_bias_f32(g: Graph, op: Op, rank: int, channels_at: int) -> tuple[Tensor, Tensor | None, int]:
    """Constant float32 weights of `rank` and an optional constant bias of one value per output
    channel (the weights' axis `channels_at`)."""
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expects input, weights, an optional bias and one output")
    inp, w, _ = need_float32(g, op, op.inputs[0], op.inputs[1], op.outputs[0])
    need(not inp.is_const, op, "has a constant input activation, which is not supported")
    need(w.is_const, op, f"weights '{w.name}' are not constant; only constant weights are supported")
    need(len(w.shape) == rank, op, f"weights '{w.name}' have shape {list(w.shape)}, expected rank {rank}")
    channels = int(w.shape[channels_at])
    bias = None
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        (bias,) = need_float32(g, op, op.inputs[2])
        need(bias.is_const and bias.size == channels, op, f"bias '{bias.name}' must be {channels} constant values")
    return w, bias, channels


def _conv_params_f32(g: Graph, op: Op, w: Tensor, bias: Tensor | None, kh: int, kw: int, oc: int) -> dict:
    inp = g.tensor(op.inputs[0])
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    o = _opts(op)
    lo, hi = float_activation_range(op)
    out_shape, pad_h, pad_w = _check_window(g, op, inp, kh, kw, oc)
    return {
        "in": nhwc(inp.shape), "out": nhwc(out_shape), "kh": kh, "kw": kw,
        "stride_h": int(o.strideH), "stride_w": int(o.strideW), "dil_h": int(o.dilationHFactor), "dil_w": int(o.dilationWFactor),
        "pad_h": pad_h, "pad_w": pad_w, "act_min": lo, "act_max": hi,
        "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0,
    }


def lower_conv_f32(g: Graph, op: Op) -> KernelCall:
    w, bias, oc = _weights_bias_f32(g, op, 4, 0)
    _, kh, kw, fic = w.shape
    in_c = g.tensor(op.inputs[0]).shape[-1]
    need(fic > 0 and in_c % fic == 0 and oc % (in_c // fic) == 0, op,
         f"{in_c} input and {oc} output channels do not split into groups of the filter's {fic}")
    params = {**_conv_params_f32(g, op, w, bias, kh, kw, oc), "filter_in_c": fic, "groups": in_c // fic}
    return KERNELS["tq_conv_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


def lower_depthwise_f32(g: Graph, op: Op) -> KernelCall:
    w, bias, oc = _weights_bias_f32(g, op, 4, 3)
    _, kh, kw, _ = w.shape
    need(w.shape[0] == 1, op, f"weights '{w.name}' have shape {list(w.shape)}, expected [1, kh, kw, channels]")
    in_c = g.tensor(op.inputs[0]).shape[-1]
    need(oc % in_c == 0, op, f"{oc} output channels are not a multiple of the {in_c} input channels")
    params = {**_conv_params_f32(g, op, w, bias, kh, kw, oc), "depth_mult": oc // in_c}
    return KERNELS["tq_depthwise_conv_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


def lower_fc_f32(g: Graph, op: Op) -> KernelCall:
    o = _opts(op)
    need(int(o.weightsFormat) == 0, op, f"weights format {int(o.weightsFormat)} (shuffled) is not supported; use the DEFAULT format")
    w, bias, units = _weights_bias_f32(g, op, 2, 0)
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    accum = int(w.shape[1])
    need(accum > 0 and inp.size % accum == 0, op, f"input of {inp.size} values does not split into rows of {accum}")
    batches, _, _ = _fc_geometry(g, op)
    expected = tuple(inp.shape[:-1]) + (units,) if o.keepNumDims else (batches, units)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")
    lo, hi = float_activation_range(op)
    params = {"batches": batches, "accum_depth": accum, "out_depth": units, "act_min": lo, "act_max": hi,
              "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0}
    return KERNELS["tq_fully_connected_f32"].call(params=params, inputs=list(op.inputs[:1]), outputs=[op.outputs[0]])


# --------------------------------------------------------------------------- TRANSPOSE_CONV
#
# transpose_conv.cc with the kReference kernels (reference_integer_ops::TransposeConv,
# reference_ops::TransposeConv). Inputs: output_shape (int32 [4]), weights [out_c, kh, kw, in_c], input
# NHWC, optional bias. output_shape is a constant, or a model input when the output tensor's shape is
# static (TFLM's models do this): the code is generated for that shape, the only value the input may
# hold, and the kernel returns TQ_ARG_ERROR at run time on any other (checks.inputs gives it that value).
# Prepare's padding is ComputePaddingHeightWidthChecked run on the OUTPUT size (stride, filter,
# dilation 1), whose implied input size must be the input's; the scatter loops use its top/left part
# (out = in * stride - pad + tap, outputs outside skipped); requantization is CONV_2D's
# (PopulateConvolutionQuantizationParams with the fused activation); int8 sums in an int32 scratch of
# the output's size, int16x8 in an int64 one, float32 in the output itself.

TC_OUTPUT_SHAPE, TC_WEIGHTS, TC_INPUT, TC_BIAS = 0, 1, 2, 3
# TransposeConvOptions.quantized_bias_type (a TensorType): the int16 accumulator TFLite picks.
BIAS_TYPE_FLOAT32, BIAS_TYPE_INT32, BIAS_TYPE_INT64 = 0, 2, 4
SHAPE_INPUTS["TRANSPOSE_CONV"] = (TC_OUTPUT_SHAPE,)  # a run-time output_shape: the op computes in its input's type


def transpose_conv_padding(padding: int, out: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """Prepare's ComputePaddingHeightWidthChecked on one axis, run on the OUTPUT size (dilation 1):
    (the input size it implies, ComputeOutSize; padding before; extra padding after)."""
    implied = out_size(padding, out, kernel, stride, 1)
    total = max(0, (implied - 1) * stride + kernel - out)
    return implied, total // 2, total % 2


def _tc_axis(size_in: int, kernel: int, stride: int, pad: int, size_out: int) -> tuple[int, int]:
    """(input/tap pairs that land inside the output, the most that land on one output coordinate)."""
    hits = [0] * size_out
    for i in range(size_in):
        for k in range(kernel):
            o = i * stride - pad + k
            if 0 <= o < size_out:
                hits[o] += 1
    return sum(hits), max(hits, default=0)


def _tc_geometry(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """Input, weights and output of a TRANSPOSE_CONV and its shapes, strides and padding, checked
    as Prepare and Eval check them (any type)."""
    need(len(op.inputs) in (3, 4), op, f"has {len(op.inputs)} inputs, expected output_shape, weights, input and optional bias")
    need(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
    need(all(i >= 0 for i in op.inputs[:3]), op, "lacks its output_shape, weights or input")
    shape_t = g.tensor(op.inputs[TC_OUTPUT_SHAPE])
    need(shape_t.dtype == "int32", op, f"output_shape (tensor '{shape_t.name}') is {shape_t.dtype}; TFLite requires int32")
    if shape_t.is_const:
        dims = [int(v) for v in np.asarray(shape_t.data).reshape(-1)]
    else:
        out_shape = [int(d) for d in g.tensor(op.outputs[0]).shape]
        need(shape_t.index in g.inputs, op, f"output_shape (tensor '{shape_t.name}') is computed at run time; tinyq "
             f"compiles static shapes only: make it a constant (the output tensor's shape is {out_shape}), or export "
             "the model with a fixed batch size")
        need(tuple(int(d) for d in shape_t.shape) == (4,), op,
             f"output_shape (model input '{shape_t.name}') has shape {list(shape_t.shape)}, expected [4] (NHWC)")
        dims = out_shape  # the one value the input may hold: the kernel checks it at run time (tc_shape_input)
    need(len(shape_t.shape) == 1 and len(dims) == 4, op, f"output_shape {dims} is not 4 values (NHWC)")
    need(all(d > 0 for d in dims), op, f"output_shape {dims} has a dimension below 1")
    inp, w, out = g.tensor(op.inputs[TC_INPUT]), g.tensor(op.inputs[TC_WEIGHTS]), g.tensor(op.outputs[0])
    need(not inp.is_const, op, "has a constant input activation, which is not supported")
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    need(len(w.shape) == 4, op, f"weights '{w.name}' have rank {len(w.shape)}, expected 4 [out_c, kh, kw, in_c]")
    need(w.is_const, op, f"weights '{w.name}' are not constant; only constant weights are supported")
    need(min(w.shape) > 0 and min(inp.shape) > 0, op, f"input {list(inp.shape)} or weights {list(w.shape)} have an empty dimension")
    oc, kh, kw, wic = w.shape
    need(wic == inp.shape[3], op, f"weights '{w.name}' have {wic} input channels, the input has {inp.shape[3]}")
    need(tuple(out.shape) == tuple(dims), op, f"output shape {list(out.shape)} differs from output_shape {dims}")
    need(dims[0] == inp.shape[0], op, f"output batch {dims[0]} differs from the input's {inp.shape[0]}")
    need(dims[3] == oc, op, f"output has {dims[3]} channels, the weights {oc}")
    o = _opts(op)
    sh, sw = int(o.strideH), int(o.strideW)
    need(1 <= sh <= 32767 and 1 <= sw <= 32767, op, f"stride {sh}x{sw} is outside TFLite's [1, 32767]")
    need(int(o.padding) in (PADDING_SAME, PADDING_VALID), op, f"padding {o.padding} is not SAME or VALID")
    ih, pad_h, _ = transpose_conv_padding(int(o.padding), dims[1], kh, sh)
    iw, pad_w, _ = transpose_conv_padding(int(o.padding), dims[2], kw, sw)
    name = "SAME" if int(o.padding) == PADDING_SAME else "VALID"
    need((ih, iw) == tuple(inp.shape[1:3]), op,
         f"a {name} {kh}x{kw} window with stride {sh}x{sw} makes a {dims[1]}x{dims[2]} output from a {ih}x{iw} input, "
         f"not from the {inp.shape[1]}x{inp.shape[2]} input it has (TFLite's Prepare refuses this output_shape)")
    return inp, w, out, {
        "in": nhwc(inp.shape), "out": nhwc(out.shape), "kh": kh, "kw": kw,
        "stride_h": sh, "stride_w": sw, "pad_h": pad_h, "pad_w": pad_w,
    }


def tc_shape_input(g: Graph, op: Op) -> int:
    """The model input holding a TRANSPOSE_CONV's output_shape, which its kernel checks at run time
    against the shape it was generated for; -1 (NULL) for a constant one, checked here."""
    i = op.inputs[TC_OUTPUT_SHAPE]
    return -1 if g.tensor(i).is_const else i


def _tc_taps(window: dict) -> int:
    """The most products one output sums: its input/tap pairs times the input channels."""
    _, most_h = _tc_axis(window["in"]["h"], window["kh"], window["stride_h"], window["pad_h"], window["out"]["h"])
    _, most_w = _tc_axis(window["in"]["w"], window["kw"], window["stride_w"], window["pad_w"], window["out"]["w"])
    return most_h * most_w * window["in"]["c"]


def _tc_bias(g: Graph, op: Op, channels: int, dtype: str, hint: str = "") -> Tensor | None:
    """The optional 4th input: constant, `dtype`, one value per output channel, zero point 0."""
    if len(op.inputs) <= TC_BIAS or op.inputs[TC_BIAS] < 0:
        return None
    t = g.tensor(op.inputs[TC_BIAS])
    need(t.dtype == dtype, op, f"bias '{t.name}' is {t.dtype}, expected {dtype}{hint}")
    need(t.is_const, op, f"bias '{t.name}' is not constant; only constant biases are supported")
    need(t.size == channels, op, f"bias '{t.name}' has {t.size} values for {channels} output channels")
    need(t.quant is None or all(z == 0 for z in t.quant.zero_point), op, f"bias '{t.name}' has a non-zero zero point")
    return t


def _tc_int_io(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, Tensor, dict]:
    inp, w, out, window = _tc_geometry(g, op)
    if dtype == "int16":
        need_int16(g, op, inp.index)
        need_int16(g, op, out.index)
    else:
        for t in (inp, out):
            need(t.dtype != "int16", op, f"tensor '{t.name}' is int16 and the other is not; quantize both activations alike")
            need_dtype(g, op, t.index, "int8")
            q = need_quant(g, op, t.index)
            need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{t.name}' has scale {q.s}, expected a positive number")
    _check_weights(g, op, window["out"]["c"], axis=0)
    _check_fused(op)
    return inp, w, out, window


def _tc_lower_s8(g: Graph, op: Op, scratch: bool) -> KernelCall:
    inp, w, out, window = _tc_int_io(g, op, "int8")
    oc = window["out"]["c"]
    bias = _tc_bias(g, op, oc, "int32")
    # The int32 sum of every output must be exact (the reference's, and any order of it).
    w_max = np.abs(w.data.reshape(oc, -1).astype(np.int64)).max(axis=1)
    b = np.abs(bias.data.astype(np.int64)) if bias is not None else np.zeros(oc, dtype=np.int64)
    in_offset = -int(inp.quant.zp)
    x_max = max(abs(-128 + in_offset), abs(127 + in_offset))
    need(bool(np.all(_tc_taps(window) * x_max * w_max + b < 2**31)), op,
         "an output's sum may overflow the int32 accumulator (too many input channels and taps)")
    params = {**window, **_common_params(inp, out, _check_fused(op), bias, w), **FIXED_POINT}
    requant = _requant_arrays(inp, w, out, oc, op)
    outputs = [out.index, g.add_scratch(f"acc@{op.index}", out.size, dtype="int32") if scratch else -1]
    inputs = [inp.index, tc_shape_input(g, op)]
    if fast_kernels(g):
        return _tc_lower_fast_s8(params, w, outputs, inputs, inp, requant)
    return KERNELS["tq_transpose_conv_s8"].call(params=params, inputs=inputs, outputs=outputs, arrays=requant)


def _tc_lower_fast_s8(params: dict, w: Tensor, outputs: list[int], inputs: list[int], inp: Tensor,
                      requant: list[ConstArray]) -> KernelCall:
    """tq_transpose_conv_fast_s8: the weights as [kh][kw][out_c][in_c] (each tap's output channels
    side by side) and each (tap, channel)'s input offset times its weight sum, added per tap in place
    of the offset (taps outside the output are skipped, so the fold is per tap, not per channel).
    Each term is the reference's exactly: the same int32 sums (checked above), the same bits."""
    taps = np.asarray(w.data, dtype=np.int8).transpose(1, 2, 0, 3)  # [kh][kw][out_c][in_c]
    tap_bias = int(params["in_offset"]) * taps.astype(np.int64).sum(axis=3)
    fast = {k: params[k] for k in ("in", "out", "kh", "kw", "stride_h", "stride_w", "pad_h", "pad_w", "out_offset",
                                   "act_min", "act_max", "bias", "mult", "shift")}
    fast.update({"weights": ArrayRef("w"), "tap_bias": ArrayRef("tap_bias")})
    arrays = [ConstArray("w", "int8_t", taps.reshape(-1)), ConstArray("tap_bias", "int32_t", tap_bias.reshape(-1).astype(np.int32)),
              *requant]
    return KERNELS["tq_transpose_conv_fast_s8"].call(params=fast, inputs=inputs, outputs=outputs, arrays=arrays)


def check_transpose_conv(g: Graph, op: Op) -> None:
    _tc_lower_s8(g, op, scratch=False)


def lower_transpose_conv(g: Graph, op: Op) -> KernelCall:
    return _tc_lower_s8(g, op, scratch=True)


def _tc_lower_s16(g: Graph, op: Op, scratch: bool) -> KernelCall:
    inp, w, out, window = _tc_int_io(g, op, "int16")
    oc = window["out"]["c"]
    bt = int(getattr(op.options, "quantizedBiasType", BIAS_TYPE_FLOAT32) or 0)
    need(bt != BIAS_TYPE_INT32, op, "quantized_bias_type is INT32 (int32 accumulation); tinyq's 16x8 kernels take "
         "TFLite's default int64 bias (convert without the int32-bias option)")
    need(bt in (BIAS_TYPE_FLOAT32, BIAS_TYPE_INT64), op, f"quantized_bias_type {bt} is not INT64 (or unset)")
    bias = _tc_bias(g, op, oc, "int64", "; tinyq's 16x8 kernels take TFLite's default int64 bias (convert without the int32-bias option)")
    b = np.abs(bias.data.astype(np.int64)) if bias is not None else np.zeros(oc, dtype=np.int64)
    w_max = np.abs(w.data.reshape(oc, -1).astype(np.int64)).max(axis=1)
    need(bool(np.all(_tc_taps(window) * 32768 * w_max + b < 2**47)), op,
         "an output's sum plus bias may exceed 2^47, the range of TFLite's int64 requantization")
    lo, hi = activation_range(_check_fused(op), out)
    params = {**window, "act_min": lo, "act_max": hi, "weights": TensorRef(w.index),
              "bias": TensorRef(bias.index) if bias is not None else 0, **FIXED_POINT}
    outputs = [out.index, g.add_scratch(f"acc@{op.index}", out.size, dtype="int64") if scratch else -1]
    return KERNELS["tq_transpose_conv_s16"].call(params=params, inputs=[inp.index, tc_shape_input(g, op)], outputs=outputs,
                                                 arrays=_requant_s16(inp, w, out, oc, op))


def check_transpose_conv_s16(g: Graph, op: Op) -> None:
    _tc_lower_s16(g, op, scratch=False)


def lower_transpose_conv_s16(g: Graph, op: Op) -> KernelCall:
    return _tc_lower_s16(g, op, scratch=True)


def lower_transpose_conv_f32(g: Graph, op: Op) -> KernelCall:
    inp, w, out, window = _tc_geometry(g, op)
    need_float32(g, op, inp.index, w.index, out.index)
    bias = _tc_bias(g, op, window["out"]["c"], "float32")
    lo, hi = float_activation_range(op)
    params = {**window, "act_min": lo, "act_max": hi, "weights": TensorRef(w.index),
              "bias": TensorRef(bias.index) if bias is not None else 0}
    return KERNELS["tq_transpose_conv_f32"].call(params=params, inputs=[inp.index, tc_shape_input(g, op)],
                                                 outputs=[out.index])


def macs_transpose_conv(g: Graph, op: Op) -> int:
    """Products the scatter computes: input/tap pairs inside the output, times in_c * out_c."""
    _, _, _, window = _tc_geometry(g, op)
    pairs_h, _ = _tc_axis(window["in"]["h"], window["kh"], window["stride_h"], window["pad_h"], window["out"]["h"])
    pairs_w, _ = _tc_axis(window["in"]["w"], window["kw"], window["stride_w"], window["pad_w"], window["out"]["w"])
    return window["in"]["n"] * pairs_h * pairs_w * window["in"]["c"] * window["out"]["c"]


# --------------------------------------------------------------------------- BATCH_MATMUL
#
# batch_matmul.cc with the kReference kernels. Prepare: ranks 2 to 5, operands of one type (float32,
# int8 or int16; the hybrid float x int8 form is not a full-integer op), batch dims broadcast (equal
# or 1), the depth of LHS (its last dim, or second to last with adj_x) equal to RHS's (its second to
# last, or last with adj_y), output [broadcast batch dims][M][N]; for int8 / int16 outputs one
# multiplier QuantizeMultiplier(double(float(lhs_scale * rhs_scale)) / double(out_scale)) (the product in
# float32, as GetQuantizedConvolutionMultipler forms it: a scale ratio near a power of two tells) and the
# clamp to the type's range (no fused activation); int16 zero points all 0. Eval transposes RHS (and
# LHS under adj_x) into scratch tensors and runs reference_ops::BatchMatMul on rank-5 shapes (three
# batch dims); its "RHS [..., 1, X, Y]" shape compression is a reshape with the same result. The
# sums are exact integers (int32 for int8, int64 for int16) or float32 summed over the depth in
# order, so tinyq's kernels read both operands in place through strides: no transposed copy, no
# scratch, whether RHS is constant (its data is the call's input) or computed.

BMM_RANKS = (2, 5)


def _bmm_geometry(g: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, dict]:
    """LHS, RHS and output of a BATCH_MATMUL and the kernels' shared geometry, as Prepare checks them."""
    need(len(op.inputs) == 2 and all(i >= 0 for i in op.inputs) and len(op.outputs) == 1, op,
         "expects two inputs (LHS, RHS) and one output")
    lhs, rhs, out = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    o = op.options
    adj_x = bool(getattr(o, "adjX", False)) if o is not None else False
    adj_y = bool(getattr(o, "adjY", False)) if o is not None else False
    lo, hi = BMM_RANKS
    for name, t in (("LHS", lhs), ("RHS", rhs)):
        need(lo <= len(t.shape) <= hi, op, f"{name} '{t.name}' has shape {list(t.shape)}; TFLite's BATCH_MATMUL takes ranks {lo} to {hi}")
    rank = max(len(lhs.shape), len(rhs.shape))
    l5 = (1,) * (5 - len(lhs.shape)) + tuple(int(d) for d in lhs.shape)
    r5 = (1,) * (5 - len(rhs.shape)) + tuple(int(d) for d in rhs.shape)
    batch = []
    for i in range(3):
        a, b = l5[i], r5[i]
        need(a == b or a == 1 or b == 1, op, f"batch dimensions of LHS {list(lhs.shape)} and RHS {list(rhs.shape)} do not broadcast")
        batch.append(b if a == 1 else a)
    m, k = (l5[4], l5[3]) if adj_x else (l5[3], l5[4])
    k_rhs, n = (r5[4], r5[3]) if adj_y else (r5[3], r5[4])
    need(k == k_rhs, op, f"LHS {list(lhs.shape)} (adj_x {adj_x}) and RHS {list(rhs.shape)} (adj_y {adj_y}) have depths {k} and {k_rhs}")
    expected = tuple(batch[3 - (rank - 2):]) + (m, n)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")
    need(min(m, n, k) >= 1, op, f"an empty matrix product ({m}x{k} by {k}x{n})")

    def batch_strides(s5: tuple[int, ...]) -> tuple[int, ...]:
        # reference batch_matmul::extent: the elements after the dim, 0 where the dim is 1 (broadcast).
        return tuple(0 if s5[i] == 1 else int(np.prod(s5[i + 1:], dtype=np.int64)) for i in range(3))

    geometry = {
        "batch": tuple(batch),
        "lhs_batch_stride": batch_strides(l5),
        "rhs_batch_stride": batch_strides(r5),
        "rows": m, "cols": n, "depth": k,
        # LHS is [..][M][K] in memory, or [..][K][M] with adj_x; RHS [..][K][N], or [..][N][K] with adj_y.
        "lhs_row_stride": 1 if adj_x else k, "lhs_depth_stride": m if adj_x else 1,
        "rhs_depth_stride": 1 if adj_y else n, "rhs_col_stride": k if adj_y else 1,
    }
    return lhs, rhs, out, geometry


def _bmm_multiplier(op: Op, lhs: Tensor, rhs: Tensor, out: Tensor, max_shift: int) -> tuple[int, int]:
    """Prepare's GetQuantizedConvolutionMultipler and QuantizeMultiplier."""
    real = float(np.float32(lhs.quant.s) * np.float32(rhs.quant.s)) / float(out.quant.s)  # the product in float32
    mult, shift = quantize_multiplier(real)
    need(-31 <= shift <= max_shift, op, f"requantization scale {real:g} (LHS scale {lhs.quant.s:g} times RHS scale {rhs.quant.s:g} "
         f"over output scale {out.quant.s:g}) needs shift {shift}, outside [-31, {max_shift}]")
    return mult, shift


def _bmm_quant_tensors(g: Graph, op: Op, lhs: Tensor, rhs: Tensor, out: Tensor, dtype: str) -> None:
    need(out.dtype != "int32", op, f"output '{out.name}' is int32: the unrequantized {dtype} BATCH_MATMUL (raw products, no zero "
         "points) is not supported; requantize the output to the operands' type")
    for name, t in (("LHS", lhs), ("RHS", rhs), ("output", out)):
        need(t.dtype == dtype, op, f"{name} '{t.name}' is {t.dtype}, expected {dtype} like the LHS")
        need(t.quant is not None, op, f"{name} '{t.name}' has no quantization parameters; run `tinyq convert`")
        need(not t.quant.per_channel, op, f"{name} '{t.name}' is quantized per channel; TFLite's BATCH_MATMUL reads one scale and "
             "zero point per tensor (batch_matmul.cc Prepare)")
        need(t.quant.s > 0 and np.isfinite(t.quant.s), op, f"{name} '{t.name}' has scale {t.quant.s}, expected a positive number")


def _bmm_lower_s8(g: Graph, op: Op, scratch: bool) -> KernelCall:
    lhs, rhs, out, geometry = _bmm_geometry(g, op)
    _bmm_quant_tensors(g, op, lhs, rhs, out, "int8")
    k = geometry["depth"]
    need(k * 255 * 255 < 2**31, op, f"depth {k}: the int32 sum of products could overflow")
    mult, shift = _bmm_multiplier(op, lhs, rhs, out, 30)
    params = {**geometry, "lhs_offset": -int(lhs.quant.zp), "rhs_offset": -int(rhs.quant.zp), "out_offset": int(out.quant.zp),
              "mult": mult, "shift": shift}
    if fast_kernels(g):
        # Column sums, then the RHS transposed (its columns made contiguous) and two LHS rows, where needed.
        size = 4 * geometry["cols"] + (k * geometry["cols"] if geometry["rhs_depth_stride"] != 1 else 0)
        size += 2 * k if geometry["lhs_depth_stride"] != 1 else 0
        return KERNELS["tq_batch_matmul_fast_s8"].call(params=params, inputs=[lhs.index, rhs.index],
                                                       outputs=[out.index, g.add_scratch(f"bmm@{op.index}", size) if scratch else -1])
    return KERNELS["tq_batch_matmul_s8"].call(params=params, inputs=[lhs.index, rhs.index], outputs=[out.index])


def check_batch_matmul(g: Graph, op: Op) -> None:
    _bmm_lower_s8(g, op, scratch=False)


def lower_batch_matmul(g: Graph, op: Op) -> KernelCall:
    return _bmm_lower_s8(g, op, scratch=True)


def lower_batch_matmul_s16(g: Graph, op: Op) -> KernelCall:
    lhs, rhs, out, geometry = _bmm_geometry(g, op)
    _bmm_quant_tensors(g, op, lhs, rhs, out, "int16")
    for name, t in (("LHS", lhs), ("RHS", rhs), ("output", out)):
        need(t.quant.zp == 0, op, f"int16 {name} '{t.name}' has zero point {t.quant.zp}; TFLite's BATCH_MATMUL requires 0; "
             "re-convert with `tinyq convert --mode int16x8`")
    k = geometry["depth"]
    need(k * 2**30 < 2**47, op, f"depth {k}: the int64 sum may exceed 2^47, the range of TFLite's int64 requantization")
    mult, shift = _bmm_multiplier(op, lhs, rhs, out, 7)
    return KERNELS["tq_batch_matmul_s16"].call(params={**geometry, "mult": mult, "shift": shift}, inputs=[lhs.index, rhs.index],
                                               outputs=[out.index])


def lower_batch_matmul_f32(g: Graph, op: Op) -> KernelCall:
    lhs, rhs, out, geometry = _bmm_geometry(g, op)
    need(rhs.dtype != "int8", op, f"RHS '{rhs.name}' is int8 against a float32 LHS: a hybrid (dynamic-range) BATCH_MATMUL, which "
         "tinyq does not run; convert to full int8 (`tinyq convert`) or keep the model float32")
    need_float32(g, op, lhs.index, rhs.index, out.index)
    return KERNELS["tq_batch_matmul_f32"].call(params=geometry, inputs=[lhs.index, rhs.index], outputs=[out.index])


def macs_batch_matmul(g: Graph, op: Op) -> int:
    _, _, out, geometry = _bmm_geometry(g, op)
    return int(out.size) * geometry["depth"]


# --------------------------------------------------------------------------- registration

register("CONV_2D", check=check_conv, lower=lower_conv, macs=macs_conv)
register("DEPTHWISE_CONV_2D", check=check_depthwise, lower=lower_depthwise, macs=macs_depthwise)
register("FULLY_CONNECTED", check=check_fc, lower=lower_fc, macs=macs_fc)
register("CONV_2D", check=check_window_s16, lower=lower_window_s16, macs=macs_conv, dtype="int16")
register("DEPTHWISE_CONV_2D", check=check_window_s16, lower=lower_window_s16, macs=macs_depthwise, dtype="int16")
register("FULLY_CONNECTED", check=check_fc_s16, lower=lower_fc_s16, macs=macs_fc, dtype="int16")
register("CONV_2D", check=check_by_lowering(lower_conv_f32), lower=lower_conv_f32, macs=macs_conv, dtype="float32")
register("DEPTHWISE_CONV_2D", check=check_by_lowering(lower_depthwise_f32), lower=lower_depthwise_f32, macs=macs_depthwise, dtype="float32")
register("FULLY_CONNECTED", check=check_by_lowering(lower_fc_f32), lower=lower_fc_f32, macs=macs_fc, dtype="float32")
register("TRANSPOSE_CONV", check=check_transpose_conv, lower=lower_transpose_conv, macs=macs_transpose_conv)
register("TRANSPOSE_CONV", check=check_transpose_conv_s16, lower=lower_transpose_conv_s16, macs=macs_transpose_conv, dtype="int16")
register("TRANSPOSE_CONV", check=check_by_lowering(lower_transpose_conv_f32), lower=lower_transpose_conv_f32,
         macs=macs_transpose_conv, dtype="float32")
register("BATCH_MATMUL", check=check_batch_matmul, lower=lower_batch_matmul, macs=macs_batch_matmul)
register("BATCH_MATMUL", check=check_by_lowering(lower_batch_matmul_s16), lower=lower_batch_matmul_s16, macs=macs_batch_matmul,
         dtype="int16")
register("BATCH_MATMUL", check=check_by_lowering(lower_batch_matmul_f32), lower=lower_batch_matmul_f32, macs=macs_batch_matmul,
         dtype="float32")
