"""float32 lowerings: the ops of an unquantized model -> tq_float.h kernels (cores with an FPU).

Registered with dtype="float32", so `lowering_for` picks them for ops whose activations are float
(see base.VARIANTS). The geometry is TFLite's, through the int8 side's helpers (padding, output
sizes, broadcasting, shape simplification); the kernels sum in the reference kernels' order, so
the results match TFLite's reference interpreter up to rounding where the C library's expf /
tanhf differ (tinyq verify compares float outputs within FLOAT_TOLERANCE, see tinyq/verify.py).
"""

from __future__ import annotations

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.activation import RELU_BOUNDS
from tinyq.ops.base import (
    FUSED_NAMES,
    ArrayRef,
    ConstArray,
    KernelCall,
    TensorRef,
    need,
    need_dtype,
    register,
)
from tinyq.ops.conv import (
    _check_window,
    _dims,
    _fc_geometry,
    _opts,
    macs_conv,
    macs_depthwise,
    macs_fc,
)
from tinyq.ops.elementwise import broadcast_shape, macs_binary
from tinyq.ops.pool import _window_empty, macs_mean, macs_pool, out_size, pad_before
from tinyq.ops.shape import (
    _concat_axis,
    _const_input,
    _left_pad,
    _pad_dims,
    _paddings,
    _perm,
    _prod,
    simplify_transpose,
)

HEADER = "tq_float.h"
F32 = ("float32",)
FLT_MAX = float(np.finfo(np.float32).max)
# CalculateActivationRange(float): the clamp of each fused activation tinyq's float kernels apply.
FUSED_RANGE = {0: (-FLT_MAX, FLT_MAX), 1: (0.0, FLT_MAX), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def _f32(g: Graph, op: Op, *indices: int) -> list[Tensor]:
    """The tensors, each required to be float32."""
    out = []
    for i in indices:
        need(i >= 0, op, "an input is missing")
        out.append(need_dtype(g, op, i, "float32"))
    return out


def _fused(op: Op) -> tuple[float, float]:
    fused = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
    need(fused in FUSED_RANGE, op, f"fused activation {FUSED_NAMES.get(fused, fused)} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)")
    return FUSED_RANGE[fused]


def _call(op: Op, name: str, params: dict, inputs: list[int] | None = None, extra: tuple[str, ...] = (),
          in_place: str | None = None, arrays: list[ConstArray] | None = None, as_array: bool = False) -> KernelCall:
    """The call of tq_<name>_f32, whose source is <family>/tq_<name>_f32.c (family from FAMILY)."""
    return KernelCall(
        func=f"tq_{name}_f32",
        params_type=f"tq_{name}_f32_params",
        header=HEADER,
        sources=(f"{FAMILY[name]}/tq_{name}_f32.c", "include/tq_elementwise.h", "include/tq_shape.h") + extra,
        params=params,
        inputs=list(op.inputs[:1]) if inputs is None else inputs,
        outputs=[op.outputs[0]],
        arrays=arrays or [],
        in_place=in_place,
        inputs_as_array=as_array,
    )


FAMILY = {
    **dict.fromkeys(("conv", "depthwise_conv", "fully_connected"), "conv"),
    **dict.fromkeys(("add", "mul"), "elementwise"),
    **dict.fromkeys(("avgpool", "maxpool", "mean"), "pool"),
    **dict.fromkeys(("relu", "leaky_relu", "hard_swish", "logistic", "tanh", "softmax"), "activation"),
    **dict.fromkeys(("pad", "concat", "transpose", "copy"), "shape"),
}


# --------------------------------------------------------------------------- convolutions


def _weights_bias(g: Graph, op: Op, rank: int, channels_at: int) -> tuple[Tensor, Tensor | None, int]:
    """Constant float32 weights of `rank` and an optional constant bias of one value per output
    channel (the weights' axis `channels_at`)."""
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expects input, weights, an optional bias and one output")
    inp, w, _ = _f32(g, op, op.inputs[0], op.inputs[1], op.outputs[0])
    need(not inp.is_const, op, "has a constant input activation, which is not supported")
    need(w.is_const, op, f"weights '{w.name}' are not constant; only constant weights are supported")
    need(len(w.shape) == rank, op, f"weights '{w.name}' have shape {list(w.shape)}, expected rank {rank}")
    channels = int(w.shape[channels_at])
    bias = None
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        (bias,) = _f32(g, op, op.inputs[2])
        need(bias.is_const and bias.size == channels, op, f"bias '{bias.name}' must be {channels} constant values")
    return w, bias, channels


def _conv_params(g: Graph, op: Op, w: Tensor, bias: Tensor | None, kh: int, kw: int, oc: int) -> dict:
    inp = g.tensor(op.inputs[0])
    need(len(inp.shape) == 4, op, f"input has rank {len(inp.shape)}, expected 4 (NHWC)")
    o = _opts(op)
    lo, hi = _fused(op)
    out_shape, pad_h, pad_w = _check_window(g, op, inp, kh, kw, oc)
    return {
        "in": _dims(inp.shape), "out": _dims(out_shape), "kh": kh, "kw": kw,
        "stride_h": int(o.strideH), "stride_w": int(o.strideW), "dil_h": int(o.dilationHFactor), "dil_w": int(o.dilationWFactor),
        "pad_h": pad_h, "pad_w": pad_w, "act_min": lo, "act_max": hi,
        "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0,
    }


def _conv(g: Graph, op: Op) -> KernelCall:
    w, bias, oc = _weights_bias(g, op, 4, 0)
    _, kh, kw, fic = w.shape
    in_c = g.tensor(op.inputs[0]).shape[-1]
    need(fic > 0 and in_c % fic == 0 and oc % (in_c // fic) == 0, op,
         f"{in_c} input and {oc} output channels do not split into groups of the filter's {fic}")
    params = {**_conv_params(g, op, w, bias, kh, kw, oc), "filter_in_c": fic, "groups": in_c // fic}
    return _call(op, "conv", params)


def _depthwise(g: Graph, op: Op) -> KernelCall:
    w, bias, oc = _weights_bias(g, op, 4, 3)
    _, kh, kw, _ = w.shape
    need(w.shape[0] == 1, op, f"weights '{w.name}' have shape {list(w.shape)}, expected [1, kh, kw, channels]")
    in_c = g.tensor(op.inputs[0]).shape[-1]
    need(oc % in_c == 0, op, f"{oc} output channels are not a multiple of the {in_c} input channels")
    return _call(op, "depthwise_conv", {**_conv_params(g, op, w, bias, kh, kw, oc), "depth_mult": oc // in_c})


def _fully_connected(g: Graph, op: Op) -> KernelCall:
    o = _opts(op)
    need(int(o.weightsFormat) == 0, op, f"weights format {int(o.weightsFormat)} (shuffled) is not supported; use the DEFAULT format")
    w, bias, units = _weights_bias(g, op, 2, 0)
    inp, out = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    accum = int(w.shape[1])
    need(accum > 0 and inp.size % accum == 0, op, f"input of {inp.size} values does not split into rows of {accum}")
    batches, _, _ = _fc_geometry(g, op)
    expected = tuple(inp.shape[:-1]) + (units,) if o.keepNumDims else (batches, units)
    need(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} differs from the computed {list(expected)}")
    lo, hi = _fused(op)
    params = {"batches": batches, "accum_depth": accum, "out_depth": units, "act_min": lo, "act_max": hi,
              "weights": TensorRef(w.index), "bias": TensorRef(bias.index) if bias is not None else 0}
    return _call(op, "fully_connected", params)


# --------------------------------------------------------------------------- ADD, MUL


def _binary(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
    _f32(g, op, *op.inputs, *op.outputs)
    shape = broadcast_shape(g, op)
    lo, hi = _fused(op)
    flat = not shape["broadcast"]
    return _call(op, op.kind.lower(), {"shape": shape, "act_min": lo, "act_max": hi}, inputs=list(op.inputs),
                 in_place="direct" if flat else None)


# --------------------------------------------------------------------------- pooling, MEAN


def _pool(g: Graph, op: Op) -> KernelCall:
    o = op.options
    need(o is not None, op, "missing Pool2DOptions")
    need(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
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
    lo, hi = _fused(op)
    params = {"in": _dims(x.shape), "out": _dims(y.shape), "filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw,
              "pad_h": ph, "pad_w": pw, "act_min": lo, "act_max": hi}
    return _call(op, "avgpool" if op.kind == "AVERAGE_POOL_2D" else "maxpool", params)


def _mean(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects an input, an axis tensor and one output")
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
    axes_data = _const_input(g, op, 1, "axis")
    rank = len(x.shape)
    need(1 <= rank <= 4, op, f"input shape {list(x.shape)} has rank {rank}; MEAN supports ranks 1 to 4")
    given = [int(a) for a in axes_data.reshape(-1)]
    need(all(-rank <= a < rank for a in given), op, f"axes {given} are out of range for rank {rank}")
    axes = {a % rank for a in given}
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    keep = bool(getattr(op.options, "keepDims", False)) if op.options is not None else False
    want = kept if keep else tuple(d for i, d in enumerate(x.shape) if i not in axes)
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} does not match the reduced shape {list(want)}")
    in4, out4 = (1,) * (4 - rank) + tuple(x.shape), (1,) * (4 - rank) + kept
    win4 = tuple(i // o for i, o in zip(in4, out4))
    return _call(op, "mean", {"in": _dims(in4), "out": _dims(out4), "win": _dims(win4)})


# --------------------------------------------------------------------------- activations


def _unary(g: Graph, op: Op) -> tuple[Tensor, Tensor]:
    need(len([i for i in op.inputs if i >= 0]) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
    need(not x.is_const, op, "a constant input is not supported (fold it before conversion)")
    need(x.size == y.size, op, f"input has {x.size} elements but output has {y.size}")
    return x, y


def _option(op: Op, name: str) -> float:
    return float(np.float32(getattr(op.options, name, 0.0))) if op.options is not None else 0.0


def _pointwise(g: Graph, op: Op) -> KernelCall:
    x, _ = _unary(g, op)
    if op.kind in RELU_BOUNDS:
        lo, hi = RELU_BOUNDS[op.kind]
        return _call(op, "relu", {"size": x.size, "lo": lo, "hi": float("inf") if hi is None else hi}, in_place="direct")
    if op.kind == "LEAKY_RELU":
        return _call(op, "leaky_relu", {"size": x.size, "alpha": _option(op, "alpha")}, in_place="direct")
    return _call(op, op.kind.lower(), {"size": x.size}, in_place="direct")


def _softmax(g: Graph, op: Op) -> KernelCall:
    x, y = _unary(g, op)
    need(len(x.shape) >= 1 and tuple(x.shape) == tuple(y.shape), op, f"output shape {list(y.shape)} differs from input {list(x.shape)}")
    depth = int(x.shape[-1])
    return _call(op, "softmax", {"rows": x.size // depth, "depth": depth, "beta": _option(op, "beta")})


# --------------------------------------------------------------------------- data movement

BYTES = 4  # a float32 moved as bytes


def _pad(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and one output")
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
    pads = _paddings(g, op)
    want = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))
    need(tuple(y.shape) == want, op, f"output shape {list(y.shape)} does not match the padded shape {list(want)}")
    value = 0.0
    if op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        _f32(g, op, op.inputs[2])
        cv = _const_input(g, op, 2, "constant value")
        need(cv.size == 1, op, f"the constant value must be a scalar, it has {cv.size} elements")
        value = float(cv.reshape(-1)[0])
    dims = _pad_dims(x.shape, pads, op)
    params = {"in_dims": _left_pad([d for d, _, _ in dims], 1), "out_dims": _left_pad([d + b + a for d, b, a in dims], 1),
              "before": _left_pad([b for _, b, _ in dims], 0), "pad_value": value}
    return _call(op, "pad", params)


def _concat(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expected at least one input and one output")
    ins = _f32(g, op, *op.inputs)
    (y,) = _f32(g, op, op.outputs[0])
    need(_fused(op) == FUSED_RANGE[0], op, "a fused activation on CONCATENATION is not supported")
    axis = _concat_axis(g, op)
    others = [tuple(d for k, d in enumerate(t.shape) if k != axis) for t in ins + [y]]
    need(len(set(others)) == 1 and all(len(t.shape) == len(y.shape) for t in ins), op,
         f"input shapes {[list(t.shape) for t in ins]} do not concatenate on axis {axis}")
    need(sum(t.shape[axis] for t in ins) == y.shape[axis], op, f"output shape {list(y.shape)} is not the concatenation of the inputs")
    chunk = np.array([_prod(t.shape[axis:]) for t in ins], dtype=np.int32)
    return _call(op, "concat", {"num_inputs": len(ins), "outer": _prod(y.shape[:axis]), "chunk": ArrayRef("chunk")},
                 inputs=list(op.inputs), arrays=[ConstArray("chunk", "int32_t", chunk)], as_array=True)


def _transpose(g: Graph, op: Op) -> KernelCall:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expected 2 inputs and one output")
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
    perm = _perm(g, op)
    need(tuple(y.shape) == tuple(x.shape[a] for a in perm), op, f"output shape {list(y.shape)} is not the permuted input shape")
    # The bytes of each float as one more innermost axis, which the permutation leaves in place.
    shape, p = simplify_transpose(tuple(x.shape) + (BYTES,), perm + [len(perm)])
    strides = [_prod(shape[a + 1:]) for a in range(len(shape))]
    need(len(p) <= 6, op, "the transpose needs more than 6 axes")
    params = {"out_dims": _left_pad([shape[a] for a in p], 1), "in_stride": _left_pad([strides[a] for a in p], 0)}
    return _call(op, "transpose", params, extra=("shape/tq_transpose_s8.c",))


def _copy(g: Graph, op: Op) -> KernelCall:
    x, y = _f32(g, op, op.inputs[0], op.outputs[0])
    need(x.size == y.size, op, f"input has {x.size} elements but output shape {list(y.shape)} has {y.size}")
    return _call(op, "copy", {"size": BYTES * y.size}, extra=("shape/tq_copy_s8.c",), in_place="direct")


def _register(kinds, lower, macs=None) -> None:
    for kind in kinds:
        register(kind, check=lambda g, op, f=lower: f(g, op) and None, lower=lower, macs=macs, dtype="float32")


_register(["CONV_2D"], _conv, macs_conv)
_register(["DEPTHWISE_CONV_2D"], _depthwise, macs_depthwise)
_register(["FULLY_CONNECTED"], _fully_connected, macs_fc)
_register(["ADD", "MUL"], _binary, macs_binary)
_register(["AVERAGE_POOL_2D", "MAX_POOL_2D"], _pool, macs_pool)
_register(["MEAN"], _mean, macs_mean)
_register([*RELU_BOUNDS, "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH"], _pointwise)
_register(["SOFTMAX"], _softmax)
_register(["PAD", "PADV2"], _pad)
_register(["CONCATENATION"], _concat)
_register(["TRANSPOSE"], _transpose)
_register(["RESHAPE", "EXPAND_DIMS", "SQUEEZE"], _copy)
