"""TRANSPOSE_CONV (Keras Conv2DTranspose, Conv1DTranspose): generated C bit-exact with TFLite's reference
kernels (reference_integer_ops::TransposeConv for int8 and int16x8, reference_ops::TransposeConv for float32).

Keras models cover what the converter emits: per-channel weights, with and without bias, fused RELU /
RELU6, output_padding (an output that is not input * stride), kernels 1..5 and strides 1..3 that differ
in height and width, 1..17 channels. Models written directly as flatbuffers cover what it does not:
other output_shapes TFLite accepts (the padding comes from the output size; Prepare requires the input
size it implies to be the input's), per-tensor weights, an absent 4th input, a batch of 2.
Every case runs `verify_tflite` on the host; a few run on QEMU (Cortex-M4, M55, M3).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.checks.match import FLOAT_TOLERANCE
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.pipeline import compile_tflite
from tinyq.errors import UnsupportedModel
from tinyq.ops.conv import _tc_axis, transpose_conv_padding

from .helpers import (
    BOTH_KERNELS,
    assert_bit_exact,
    one_op_model,
    randomize_weights,
    requantize,
    rewrite_tflite,
    tensor_spec,
    write_tflite,
)

L = keras.layers
SAME, VALID = 0, 1
FUSED = {None: 0, "relu": 1, "relu6": 3}


# --------------------------------------------------------------------------- helpers


def _keras(tmp_path, layer, in_shape, seed, mode="int8", name="m"):
    """A one-layer Keras model with seeded weights, converted in `mode` (int8, int16x8, float) with skewed
    calibration data (the int8 input zero point is far from 0)."""
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input(in_shape), layer])
    randomize_weights(model, rng)
    calib = None if mode == "float" else [rng.uniform(-1.0, 3.0, size=(16, *in_shape)).astype(np.float32)]
    return write_tflite(tmp_path, name, model, calib, mode=mode)


def _op(path):
    g = import_model(path)
    ops = [op for op in g.ops if op.kind == "TRANSPOSE_CONV"]
    assert len(ops) == 1, [op.kind for op in g.ops]
    return g, ops[0]


def _pads(g, op):
    """(pad_h, pad_w) as Prepare computes them."""
    o, w, out = op.options, g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    return (transpose_conv_padding(int(o.padding), out.shape[1], w.shape[1], int(o.strideH))[1],
            transpose_conv_padding(int(o.padding), out.shape[2], w.shape[2], int(o.strideW))[1])


def _float_ok(path, samples=10):
    r = verify_tflite(path, samples=samples)
    assert r.tolerance == FLOAT_TOLERANCE and r.passed, r.summary()
    assert r.max_abs_diff == 0.0, r.summary()  # the scatter sums in the reference's order: no rounding differs
    return r


def _one_op(tmp_path, name, in_shape, out_shape, kernel, strides, padding, dtype="int8", fused=0, bias=True, seed=0,
            bias_dtype=None, w_zero_point=0, bias_type=0):
    """A TRANSPOSE_CONV written directly: output_shape `out_shape` (NHWC), weights [out_c, kh, kw, in_c]
    quantized per tensor, optional bias; int8 / int16 activations or float32."""
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(seed)
    out_c, in_c = out_shape[3], in_shape[3]
    w_shape = (out_c, *kernel, in_c)
    opts = s.TransposeConvOptionsT()
    opts.padding, opts.strideH, opts.strideW, opts.fusedActivationFunction = padding, *strides, fused
    opts.quantizedBiasType = bias_type
    shape_spec = tensor_spec((4,), "int32", None, np.asarray(out_shape, dtype=np.int32), name="output_shape")
    if dtype == "float32":
        w = rng.normal(0.0, 1.0 / np.sqrt(kernel[0] * kernel[1] * in_c), w_shape).astype(np.float32)
        specs = [shape_spec, tensor_spec(w_shape, "float32", None, w, name="w"), tensor_spec(in_shape, "float32", name="x")]
        if bias:
            specs.append(tensor_spec((out_c,), "float32", None, rng.normal(0.0, 0.5, out_c).astype(np.float32), name="b"))
        outs = [tensor_spec(out_shape, "float32", name="y")]
    else:
        int16 = dtype == "int16"
        in_scale, w_scale = float(np.float32(0.02)), float(np.float32(0.011))
        in_zp = 0 if int16 else int(rng.integers(-60, 60))
        taps = -(-kernel[0] // strides[0]) * -(-kernel[1] // strides[1]) * in_c
        # Full-range inputs and weights (rms range / sqrt(3)): the sum's rms at a third of the output range.
        out_scale = float(np.float32(in_scale * w_scale * np.sqrt(taps) * 127))
        out_zp = 0 if int16 else int(rng.integers(-20, 20))
        w = rng.integers(-127, 128, w_shape).astype(np.int8)
        specs = [shape_spec, tensor_spec(w_shape, "int8", (w_scale, w_zero_point), w, name="w"),
                 tensor_spec(in_shape, dtype, (in_scale, in_zp), name="x")]
        if bias:
            bt = bias_dtype or ("int64" if int16 else "int32")
            b = rng.integers(-4000 * (64 if int16 else 1), 4000 * (64 if int16 else 1), out_c)
            specs.append(tensor_spec((out_c,), bt, (in_scale * w_scale, 0), b.astype(bt), name="b"))
        outs = [tensor_spec(out_shape, dtype, (out_scale, out_zp), name="y")]
    data = one_op_model("TRANSPOSE_CONV", specs, outs, opts, s.BuiltinOptions.TransposeConvOptions,
                        description="tinyq transpose conv test")
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- int8, Keras

KERAS_CASES = [
    # id, input HWC, filters, kernel, strides, padding, use_bias, activation, output_padding
    ("k1_s1_valid", (5, 4, 3), 2, (1, 1), (1, 1), "valid", True, None, None),
    ("k2_s2_same_relu", (4, 4, 2), 4, (2, 2), (2, 2), "same", True, "relu", None),
    ("k3_s2_same", (4, 5, 3), 5, (3, 3), (2, 2), "same", True, None, None),
    ("k5x3_s21_same_relu6", (3, 4, 6), 7, (5, 3), (2, 1), "same", True, "relu6", None),
    ("k4x5_s32_valid_nobias", (3, 3, 4), 3, (4, 5), (3, 2), "valid", False, None, None),
    ("k3x2_s13_valid_relu", (4, 3, 5), 6, (3, 2), (1, 3), "valid", True, "relu", None),
    ("k5_s3_same_outpad", (3, 3, 2), 4, (5, 5), (3, 3), "same", True, None, (2, 1)),
    ("k3_s23_valid_outpad_c17", (3, 4, 17), 17, (3, 3), (2, 3), "valid", True, "relu", (1, 2)),
    ("c1_k4x2_s2_same", (6, 5, 1), 1, (4, 2), (2, 2), "same", True, None, None),
    ("k5_s1_same_c16_nobias", (5, 5, 16), 9, (5, 5), (1, 1), "same", False, "relu6", None),
    ("k1x3_s31_same", (3, 4, 3), 8, (1, 3), (3, 1), "same", True, None, None),
]


@pytest.mark.parametrize("in_shape,filters,kernel,strides,padding,use_bias,act,out_pad",
                         [c[1:] for c in KERAS_CASES], ids=[c[0] for c in KERAS_CASES])
def test_conv2d_transpose_int8(tmp_path, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad):
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, activation=act,
                              output_padding=out_pad)
    path = _keras(tmp_path, layer, in_shape, seed=sum(in_shape) + filters)
    g, op = _op(path)
    o = op.options
    assert (o.strideH, o.strideW) == strides and o.padding == (SAME if padding == "same" else VALID)
    # The converter fuses the activation into a layer with bias; without one it may stay an op of its own.
    assert o.fusedActivationFunction == FUSED[act] or (not use_bias and len(g.ops) == 2), [op.kind for op in g.ops]
    w = g.tensor(op.inputs[1])
    assert w.shape == (filters, *kernel, in_shape[-1]) and w.quant.per_channel == (filters > 1)
    assert (len(op.inputs) == 4 and op.inputs[3] >= 0) == use_bias
    assert g.tensor(op.outputs[0]).shape[1:3] != tuple(d * s for d, s in zip(in_shape[:2], strides)) or out_pad is None
    assert_bit_exact(path, kernels=BOTH_KERNELS)  # the reference scatter and its fast twin (tq_transpose_conv_fast_s8)


def test_keras_cases_cover_the_geometry():
    """The sweep holds SAME paddings above 0 (rows and columns) and outputs that are not input * stride."""
    pads, other_sizes = set(), 0
    for _, in_shape, filters, kernel, strides, padding, _, _, out_pad in KERAS_CASES:
        layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, output_padding=out_pad)
        out = layer.compute_output_shape((1, *in_shape))
        for axis in (0, 1):
            implied, pad, _ = transpose_conv_padding(SAME if padding == "same" else VALID, out[1 + axis], kernel[axis],
                                                     strides[axis])
            assert implied == in_shape[axis]
            pads.add(pad)
            other_sizes += out[1 + axis] != in_shape[axis] * strides[axis]
    assert max(pads) >= 1 and other_sizes >= 6, (pads, other_sizes)


@pytest.mark.parametrize("seed", range(4))
def test_random_scales_and_fused_activations(tmp_path, seed):
    """Random input / output scales and zero points (one per tensor), each fused activation TFLite has
    a clamp for (NONE, RELU, RELU_N1_TO_1, RELU6)."""
    case = KERAS_CASES[(3, 6, 7, 5)[seed]]
    _, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad = case
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, activation=act,
                              output_padding=out_pad)
    src = _keras(tmp_path, layer, in_shape, seed=seed)
    for k, fused in enumerate((0, 1, 2, 3)):
        path = requantize(src, tmp_path / f"rq{k}.tflite", seed=10 * seed + k, activations=(fused,))
        assert _op(path)[1].options.fusedActivationFunction == fused
        assert_bit_exact(path, samples=8)


def test_conv1d_transpose_int8(tmp_path):
    """Conv1DTranspose converts to RESHAPE, TRANSPOSE_CONV (height 1), RESHAPE."""
    for k, (kernel, stride, padding) in enumerate(((3, 2, "same"), (4, 3, "valid"))):
        path = _keras(tmp_path, L.Conv1DTranspose(5, kernel, strides=stride, padding=padding), (7, 3), seed=k, name=f"c1d{k}")
        g, op = _op(path)
        assert g.tensor(op.inputs[2]).shape[1] == 1 and (op.options.strideH, op.options.strideW) == (1, stride)
        assert_bit_exact(path)


# --------------------------------------------------------------------------- any output_shape (flatbuffers)

GEOMETRY_CASES = [
    # id, input NHWC, output NHWC, kernel, strides, padding; each output implies the input's size
    ("same_out_smaller", (1, 4, 4, 3), (1, 7, 7, 4), (3, 3), (2, 2), SAME),  # pad 1 before, none after
    ("same_s32_out_minus", (1, 3, 3, 2), (1, 7, 5, 3), (2, 4), (3, 2), SAME),
    ("stride_over_kernel", (1, 3, 4, 5), (1, 8, 7, 2), (1, 2), (3, 2), SAME),  # outputs no tap reaches
    ("valid_out_larger", (1, 4, 3, 2), (1, 10, 7, 3), (3, 2), (2, 2), VALID),  # rows past the last tap
    ("batch2", (2, 3, 3, 2), (2, 6, 6, 3), (3, 3), (2, 2), SAME),
]


@pytest.mark.parametrize("in_shape,out_shape,kernel,strides,padding", [c[1:] for c in GEOMETRY_CASES],
                         ids=[c[0] for c in GEOMETRY_CASES])
def test_any_output_shape_int8(tmp_path, in_shape, out_shape, kernel, strides, padding):
    for k, fused in enumerate((0, 1, 3)):
        path = _one_op(tmp_path, f"g{k}", in_shape, out_shape, kernel, strides, padding, fused=fused, seed=k, bias=k != 1)
        assert_bit_exact(path, samples=6, kernels=BOTH_KERNELS)


def test_padding():
    """(implied input size, padding before, extra after) from the output size."""
    assert transpose_conv_padding(SAME, 8, 5, 2) == (4, 1, 1)
    assert transpose_conv_padding(SAME, 7, 3, 2) == (4, 1, 0)
    assert transpose_conv_padding(SAME, 8, 1, 3) == (3, 0, 0)
    assert transpose_conv_padding(VALID, 10, 3, 2) == (4, 0, 0)
    assert transpose_conv_padding(VALID, 9, 3, 2) == (4, 0, 0)


def test_output_shape_the_input_does_not_make_is_refused(tmp_path):
    """An output_shape whose implied input size is not the input's: TFLite's Prepare refuses it, so does tinyq."""
    from .helpers import ref_interpreter

    path = _one_op(tmp_path, "bad", (1, 4, 4, 3), (1, 6, 7, 4), (3, 3), (2, 2), SAME)  # 6 implies 3 rows, not 4
    with pytest.raises((RuntimeError, ValueError), match="computed_input_height"):
        ref_interpreter(path)
    _refused(path, "6x7 output from a 3x4 input", "not from the 4x4 input")


def test_absent_bias_as_minus_one(tmp_path):
    """Four inputs, the 4th -1: TFLite's optional bias, absent."""
    src = _one_op(tmp_path, "b", (1, 3, 4, 3), (1, 6, 8, 5), (3, 3), (2, 2), SAME, bias=True)

    def edit(model):
        o = model.subgraphs[0].operators[0]
        o.inputs = [int(i) for i in o.inputs[:3]] + [-1]

    path = rewrite_tflite(src, tmp_path / "minus1.tflite", edit)
    g, op = _op(path)
    assert op.inputs[3:] == [-1]
    assert_bit_exact(path, samples=6)


def test_macs(tmp_path):
    """MACs count the products the scatter computes: (input, tap) pairs that land inside the output."""
    from tinyq.ops import REGISTRY

    path = _one_op(tmp_path, "m", (1, 3, 4, 2), (1, 6, 7, 5), (5, 2), (2, 2), SAME)
    g, op = _op(path)
    pad_h, pad_w = _pads(g, op)
    assert (pad_h, pad_w) == (1, 0)
    brute = sum(1 for iy in range(3) for ix in range(4) for ky in range(5) for kx in range(2)
                if 0 <= iy * 2 - pad_h + ky < 6 and 0 <= ix * 2 - pad_w + kx < 7) * 2 * 5
    assert REGISTRY["TRANSPOSE_CONV"].macs(g, op) == brute
    assert _tc_axis(3, 5, 2, pad_h, 6)[1] == 3  # at most ceil(5 / 2) rows of taps meet on one output row


# --------------------------------------------------------------------------- int16x8

INT16_CASES = [
    # id, input HWC, filters, kernel, strides, padding, use_bias, activation, output_padding
    ("k3_s2_same_relu", (4, 5, 3), 5, (3, 3), (2, 2), "same", True, "relu", None),
    ("k5x3_s21_same_relu6", (3, 4, 6), 7, (5, 3), (2, 1), "same", True, "relu6", None),
    # (without a bias the converter keeps an activation as an op of its own: none here)
    ("k4x5_s32_valid_nobias", (3, 3, 4), 3, (4, 5), (3, 2), "valid", False, None, None),
    ("k3_s23_valid_outpad_c17", (3, 4, 17), 17, (3, 3), (2, 3), "valid", True, None, (1, 2)),
]


@pytest.mark.parametrize("in_shape,filters,kernel,strides,padding,use_bias,act,out_pad",
                         [c[1:] for c in INT16_CASES], ids=[c[0] for c in INT16_CASES])
def test_conv2d_transpose_int16x8(tmp_path, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad):
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, activation=act,
                              output_padding=out_pad)
    path = _keras(tmp_path, layer, in_shape, seed=sum(in_shape), mode="int16x8")
    g, op = _op(path)
    assert g.tensor(op.inputs[2]).dtype == "int16" and g.tensor(op.outputs[0]).dtype == "int16"
    assert op.options.quantizedBiasType == 4  # INT64: the int64 accumulator
    if use_bias:
        assert g.tensor(op.inputs[3]).dtype == "int64"
    assert_bit_exact(path)


@pytest.mark.parametrize("case", ["same_out_smaller", "valid_out_larger", "batch2"])
def test_any_output_shape_int16(tmp_path, case):
    _, in_shape, out_shape, kernel, strides, padding = next(c for c in GEOMETRY_CASES if c[0] == case)
    for k, fused in enumerate((0, 3)):
        path = _one_op(tmp_path, f"g{k}", in_shape, out_shape, kernel, strides, padding, dtype="int16", fused=fused,
                       seed=k, bias=k == 0)
        assert_bit_exact(path, samples=6)


# --------------------------------------------------------------------------- float32

FLOAT_CASES = [KERAS_CASES[i] for i in (2, 3, 4, 6, 7)]


@pytest.mark.parametrize("in_shape,filters,kernel,strides,padding,use_bias,act,out_pad",
                         [c[1:] for c in FLOAT_CASES], ids=[c[0] for c in FLOAT_CASES])
def test_conv2d_transpose_float32(tmp_path, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad):
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, use_bias=use_bias, activation=act,
                              output_padding=out_pad)
    path = _keras(tmp_path, layer, in_shape, seed=filters, mode="float")
    g, op = _op(path)
    assert g.tensor(op.inputs[2]).dtype == "float32" and op.options.fusedActivationFunction == FUSED[act]
    _float_ok(path)


def test_float32_conv1d_and_any_output_shape(tmp_path):
    _float_ok(_keras(tmp_path, L.Conv1DTranspose(4, 3, strides=2, padding="same", activation="relu"), (6, 3), seed=1,
                     mode="float", name="c1d"))
    for case in ("same_out_smaller", "stride_over_kernel", "batch2"):
        _, in_shape, out_shape, kernel, strides, padding = next(c for c in GEOMETRY_CASES if c[0] == case)
        _float_ok(_one_op(tmp_path, case, in_shape, out_shape, kernel, strides, padding, dtype="float32", fused=2,
                          bias=case != "batch2"))


# --------------------------------------------------------------------------- refused at generation time


def _refused(path, *words):
    with pytest.raises(UnsupportedModel, match=r"operator 0 \(TRANSPOSE_CONV\)") as e:
        compile_tflite(path)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_refusals(tmp_path):
    from ai_edge_litert import schema_py_generated as s

    base = dict(in_shape=(1, 3, 3, 2), out_shape=(1, 6, 6, 3), kernel=(3, 3), strides=(2, 2), padding=SAME)
    src = _one_op(tmp_path, "dyn", **base)  # (an output_shape that is a model input compiles: see the end of this file)
    _refused(_one_op(tmp_path, "tanh", **base, fused=4), "TANH")
    _refused(_one_op(tmp_path, "zp", **base, w_zero_point=3), "symmetric")
    _refused(_one_op(tmp_path, "b32", **base, dtype="int16", bias_dtype="int32"), "int64")
    _refused(_one_op(tmp_path, "acc32", **base, dtype="int16", bias_dtype="int32", bias_type=s.TensorType.INT32),
             "INT32")

    def wrong_output(model):
        sg = model.subgraphs[0]
        sg.tensors[sg.operators[0].outputs[0]].shape = [1, 5, 6, 3]

    _refused(rewrite_tflite(src, tmp_path / "wrong_out.tflite", wrong_output), "differs from output_shape")


# --------------------------------------------------------------------------- on QEMU


def test_int8_qemu_m4(tmp_path):
    """Per-channel Keras layers and a flatbuffer with per-tensor weights and odd geometry on a Cortex-M4."""
    _, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad = KERAS_CASES[3]
    path = _keras(tmp_path, L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, activation=act),
                  in_shape, seed=3)
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
    _, in_shape, out_shape, kernel, strides, padding = GEOMETRY_CASES[0]
    r = verify_on_board(_one_op(tmp_path, "geo", in_shape, out_shape, kernel, strides, padding, fused=1), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def test_int16x8_qemu_m4(tmp_path):
    _, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad = INT16_CASES[3]
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, output_padding=out_pad)
    r = verify_on_board(_keras(tmp_path, layer, in_shape, seed=4, mode="int16x8"), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def test_float32_qemu_m4(tmp_path):
    _, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad = KERAS_CASES[6]
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, output_padding=out_pad)
    r = verify_on_board(_keras(tmp_path, layer, in_shape, seed=5, mode="float"), "qemu-m4", samples=3)
    assert r.passed and r.max_abs_diff == 0.0, r.summary()  # no libm: the FPU's products and sums are the host's


@pytest.mark.parametrize("board", ["qemu-m55", "qemu-m3"])
def test_int8_qemu_other_cores(tmp_path, board):
    _, in_shape, filters, kernel, strides, padding, use_bias, act, out_pad = KERAS_CASES[7]
    layer = L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, activation=act, output_padding=out_pad)
    r = verify_on_board(_keras(tmp_path, layer, in_shape, seed=6), board, samples=3)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- output_shape as a model input
#
# TFLM's models (integration_tests/seanet/transpose_conv) feed output_shape as a model input (int32 [4]);
# the output tensor's shape is static, so that shape is the input's one valid value: the code is generated
# for it, the kernel fails the invoke (TQ_ARG_ERROR) on any other, and make_inputs gives exactly it.

RUNTIME_SHAPE = dict(in_shape=(1, 3, 3, 2), out_shape=(1, 6, 6, 3), kernel=(3, 3), strides=(2, 2), padding=SAME)


def _shape_as_input(src, dst):
    """`src` with its output_shape turned from a constant into the first model input."""

    def edit(model):
        sg = model.subgraphs[0]
        shape_t = int(sg.operators[0].inputs[0])
        sg.tensors[shape_t].buffer = 0
        sg.inputs = [shape_t, *[int(i) for i in sg.inputs]]

    return rewrite_tflite(src, dst, edit)


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_output_shape_as_model_input(tmp_path, dtype):
    from tinyq.checks.inputs import fixed_value, make_inputs
    from tinyq.ops.base import activation_dtype

    path = _shape_as_input(_one_op(tmp_path, "c", **RUNTIME_SHAPE, dtype=dtype, fused=1 if dtype != "float32" else 0),
                           tmp_path / f"runtime_{dtype}.tflite")
    g, op = _op(path)
    shape_t = g.tensor(op.inputs[0])
    assert not shape_t.is_const and g.inputs[0] == shape_t.index
    assert activation_dtype(g, op) == dtype  # dispatched on the activation, not on the int32 shape
    assert fixed_value(g, g.tensor(g.inputs[1])) is None
    batch, _ = make_inputs(g, 4)
    assert all(x[0].dtype == np.int32 and x[0].tolist() == [1, 6, 6, 3] for x in batch)
    if dtype == "float32":
        _float_ok(path, samples=4)
    else:
        assert_bit_exact(path, samples=6, kernels=BOTH_KERNELS if dtype == "int8" else ("ref",))


def _runtime_shape_inputs(tmp_path, name, shape):
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(1, 3, 3, 2)).astype(np.int8)
    path = tmp_path / f"{name}.npz"
    np.savez(path, in0=np.asarray([shape], dtype=np.int32), in1=x)
    return path


def test_output_shape_input_with_another_value_fails_the_invoke(tmp_path):
    """The generated code runs only for the shape it was generated for: an output_shape TFLite also accepts
    (5x5 implies the same 3x3 input) fails tinyq's invoke (exit 1); one TFLite refuses fails there first
    (exit 2, the input named); the right one verifies."""
    from tinyq.build.host import HostModel
    from tinyq.compiler import generate_library
    from tinyq.errors import CheckFailed

    from .conftest import run_tinyq
    from .helpers import assert_one_line_failure

    path = _shape_as_input(_one_op(tmp_path, "c", **RUNTIME_SHAPE), tmp_path / "runtime.tflite")
    x = np.zeros((1, 3, 3, 2), np.int8)
    host = HostModel(generate_library(path, name="m"), "m")
    try:
        for bad in ([1, 5, 5, 3], [1, 6, 6, 2], [2, 6, 6, 3], [0, 0, 0, 0]):
            with pytest.raises(CheckFailed, match="m_invoke returned status -1"):
                host.run([np.asarray(bad, np.int32), x])
        host.run([np.asarray([1, 6, 6, 3], np.int32), x])
    finally:
        host.close()
    r = run_tinyq("verify", path, "--inputs", _runtime_shape_inputs(tmp_path, "other", [1, 5, 5, 3]))
    assert_one_line_failure(r, "invoke returned status -1", code=1)
    r = run_tinyq("verify", path, "--inputs", _runtime_shape_inputs(tmp_path, "refused", [1, 7, 7, 3]))
    assert_one_line_failure(r, "input 1", "reference interpreter fails on this input")
    r = run_tinyq("verify", path, "--inputs", _runtime_shape_inputs(tmp_path, "right", [1, 6, 6, 3]))
    assert r.returncode == 0 and "bit-exact" in r.stdout, (r.stdout, r.stderr)


def test_output_shape_as_model_input_qemu_m4(tmp_path):
    path = _shape_as_input(_one_op(tmp_path, "c", **RUNTIME_SHAPE, fused=1), tmp_path / "runtime.tflite")
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
