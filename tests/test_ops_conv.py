"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: generated C bit-exact with TFLite's reference kernels.

Each case builds a small Keras model with seeded random weights, quantizes it with random
calibration data (TensorFlow's converter: per-channel int8), checks that the converter produced
the op and options the case is about, then runs tinyq verify (random + edge inputs).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyq.compiler.importer import import_model
from tinyq.errors import UnsupportedModel

from .helpers import (
    BOTH_KERNELS,
    assert_bit_exact,
    randomize_weights,
    rewrite_tflite,
    write_tflite,
)

L = keras.layers

SAME, VALID = 0, 1
FUSED = {None: 0, "relu": 1, "hard_tanh": 2, "relu6": 3}


def _convert(tmp_path, layers, in_shape, seed, name="m"):
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input(in_shape), *layers])
    randomize_weights(model, rng)
    # Skewed calibration data: the input zero point is far from 0 (exercises the input offset).
    calib = rng.uniform(-1.0, 3.0, size=(16, *in_shape)).astype(np.float32)
    return write_tflite(tmp_path, name, model, [calib])


def _only_op(path, kind):
    g = import_model(path)
    ops = [op for op in g.ops if op.kind == kind]
    assert len(ops) == 1, [op.kind for op in g.ops]
    return g, ops[0]


def _without_bias(g, op, path, tmp_path):
    """The converter gives bias-free depthwise convolutions an all-zero bias; drop the input so
    the kernel's no-bias path runs, against the reference interpreter's optional-bias path."""
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        assert not g.tensor(op.inputs[2]).data.any()

        def edit(model):
            o = model.subgraphs[0].operators[op.index]
            o.inputs = [int(o.inputs[0]), int(o.inputs[1])]

        path = rewrite_tflite(path, tmp_path / "nobias.tflite", edit)
    g2 = import_model(path)
    assert g2.ops[op.index].inputs[2:] in ([], [-1])
    return path


# --------------------------------------------------------------------------- CONV_2D

CONV_CASES = [
    # id, input HWC, filters, kernel, strides, padding, dilation, use_bias, activation, groups
    ("k1_valid_relu", (5, 5, 3), 7, (1, 1), (1, 1), "valid", 1, True, "relu", 1),
    ("k3_same", (8, 8, 4), 5, (3, 3), (1, 1), "same", 1, True, None, 1),
    ("k3_s2_same_odd_pad_relu6", (8, 8, 3), 6, (3, 3), (2, 2), "same", 1, True, "relu6", 1),
    ("k3_s2_same_odd_input", (9, 7, 3), 4, (3, 3), (2, 2), "same", 1, True, None, 1),
    ("k5x3_s21_valid_relu", (11, 9, 2), 3, (5, 3), (2, 1), "valid", 1, True, "relu", 1),
    ("k5x3_s21_same", (10, 7, 5), 9, (5, 3), (2, 1), "same", 1, True, None, 1),
    ("k3_dil2_same", (10, 10, 3), 4, (3, 3), (1, 1), "same", 2, True, None, 1),
    ("k3_dil2_valid_nobias", (9, 9, 2), 5, (3, 3), (1, 1), "valid", 2, False, "relu", 1),
    ("k3_nobias_relu6", (6, 6, 3), 3, (3, 3), (1, 1), "same", 1, False, "relu6", 1),
    ("k3_relu_n1_to_1", (6, 6, 3), 5, (3, 3), (1, 1), "same", 1, True, "hard_tanh", 1),
    ("grouped_2", (6, 6, 4), 6, (3, 3), (1, 1), "same", 1, True, None, 2),
]


@pytest.mark.parametrize(
    "in_shape,filters,kernel,strides,padding,dilation,use_bias,act,groups",
    [c[1:] for c in CONV_CASES],
    ids=[c[0] for c in CONV_CASES],
)
def test_conv2d(tmp_path, in_shape, filters, kernel, strides, padding, dilation, use_bias, act, groups):
    layer = L.Conv2D(
        filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
        use_bias=use_bias, activation=act, groups=groups,
    )
    path = _convert(tmp_path, [layer], in_shape, seed=sum(in_shape) + filters)
    g, op = _only_op(path, "CONV_2D")
    o = op.options
    assert (o.strideH, o.strideW) == strides
    assert (o.dilationHFactor, o.dilationWFactor) == (dilation, dilation)
    assert o.padding == (SAME if padding == "same" else VALID)
    assert o.fusedActivationFunction == FUSED[act]
    assert g.tensor(op.inputs[1]).shape[3] * groups == in_shape[-1]
    # TFLite's quantized CONV_2D always has a bias: the converter gives use_bias=False a zero one.
    assert g.tensor(op.inputs[2]).data.any() == use_bias
    assert_bit_exact(path, kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D

DW_CASES = [
    # id, input HWC, kernel, depth_multiplier, strides, padding, dilation, use_bias, activation
    ("dm1_k3_same", (8, 8, 5), (3, 3), 1, (1, 1), "same", 1, True, None),
    ("dm2_k3_s2_valid_relu", (9, 9, 3), (3, 3), 2, (2, 2), "valid", 1, True, "relu"),
    ("dm3_k3x5_s21_same_relu6", (7, 9, 3), (3, 5), 3, (2, 1), "same", 1, True, "relu6"),
    ("dm1_k3_s2_same_odd_pad", (8, 8, 4), (3, 3), 1, (2, 2), "same", 1, True, None),
    ("dm1_dil2_same", (10, 10, 3), (3, 3), 1, (1, 1), "same", 2, True, None),
    ("dm2_dil2_valid_nobias", (9, 9, 2), (3, 3), 2, (1, 1), "valid", 2, False, "relu"),
]


@pytest.mark.parametrize(
    "in_shape,kernel,dm,strides,padding,dilation,use_bias,act",
    [c[1:] for c in DW_CASES],
    ids=[c[0] for c in DW_CASES],
)
def test_depthwise(tmp_path, in_shape, kernel, dm, strides, padding, dilation, use_bias, act):
    layer = L.DepthwiseConv2D(
        kernel, strides=strides, padding=padding, depth_multiplier=dm, dilation_rate=dilation,
        use_bias=use_bias, activation=act,
    )
    path = _convert(tmp_path, [layer], in_shape, seed=sum(in_shape) + dm)
    g, op = _only_op(path, "DEPTHWISE_CONV_2D")
    o = op.options
    assert g.tensor(op.outputs[0]).shape[-1] == in_shape[-1] * dm
    assert (o.strideH, o.strideW) == strides
    assert (o.dilationHFactor, o.dilationWFactor) == (dilation, dilation)
    assert o.fusedActivationFunction == FUSED[act]
    if not use_bias:
        path = _without_bias(g, op, path, tmp_path)
    assert_bit_exact(path, kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- FULLY_CONNECTED

FC_CASES = [
    # id, input shape, units, use_bias, activation, keep_num_dims expected
    ("bias", (16,), 10, True, None, False),
    ("nobias_relu", (7,), 5, False, "relu", False),
    ("relu6_odd", (33,), 3, True, "relu6", False),
    ("3d_keep_num_dims", (5, 7), 4, True, None, True),
]


@pytest.mark.parametrize("in_shape,units,use_bias,act,keep", [c[1:] for c in FC_CASES], ids=[c[0] for c in FC_CASES])
def test_dense(tmp_path, in_shape, units, use_bias, act, keep):
    path = _convert(tmp_path, [L.Dense(units, use_bias=use_bias, activation=act)], in_shape, seed=units)
    g, op = _only_op(path, "FULLY_CONNECTED")
    assert bool(op.options.keepNumDims) == keep
    assert op.options.fusedActivationFunction == FUSED[act]
    assert g.tensor(op.inputs[1]).quant.per_channel  # TF 2.21's converter: per-channel Dense weights
    assert_bit_exact(path, kernels=BOTH_KERNELS)


def test_dense_flatten_conv(tmp_path):
    """Conv -> Flatten -> Dense: FULLY_CONNECTED reading a rank-4 activation through a reshape."""
    layers = [L.Conv2D(3, 3, padding="same", activation="relu"), L.Flatten(), L.Dense(6)]
    assert_bit_exact(_convert(tmp_path, layers, (5, 5, 2), seed=3), kernels=BOTH_KERNELS)


# FULLY_CONNECTED with per-tensor weights (older converters, or per-channel disabled for Dense):
# rewrite the flatbuffer so the weights carry one scale, and optionally a non-zero zero point
# (the reference FullyConnected's weights_offset).


def _fc_op(model):
    from ai_edge_litert import schema_py_generated as schema

    sg = model.subgraphs[0]
    fc_code = [k for k, c in enumerate(model.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED]
    return sg, next(op for op in sg.operators if op.opcodeIndex in fc_code)


def _per_tensor_weights(zero_point: int):
    def edit(model):
        sg, op = _fc_op(model)
        x, w, b = (sg.tensors[i] for i in op.inputs)
        wq = np.frombuffer(bytes(model.buffers[w.buffer].data), dtype=np.int8).reshape(w.shape).astype(np.float64)
        real = wq * np.asarray(w.quantization.scale, dtype=np.float64)[:, None]
        s = np.float32(np.abs(real).max() / (127.0 - abs(zero_point)))
        q = np.clip(np.round(real / float(s)) + zero_point, -128, 127).astype(np.int8)
        model.buffers[w.buffer].data = np.frombuffer(q.tobytes(), dtype=np.uint8).copy()
        w.quantization.scale, w.quantization.zeroPoint, w.quantization.quantizedDimension = [float(s)], [zero_point], 0
        bq = np.frombuffer(bytes(model.buffers[b.buffer].data), dtype=np.int32).astype(np.float64)
        b_real = bq * np.asarray(b.quantization.scale, dtype=np.float64)
        bs = np.float32(np.float32(x.quantization.scale[0]) * s)
        qb = np.round(b_real / float(bs)).astype(np.int32)
        model.buffers[b.buffer].data = np.frombuffer(qb.tobytes(), dtype=np.uint8).copy()
        b.quantization.scale, b.quantization.zeroPoint, b.quantization.quantizedDimension = [float(bs)], [0], 0

    return edit


@pytest.mark.parametrize("zero_point", [0, 5], ids=["symmetric", "weights_offset"])
def test_dense_per_tensor(tmp_path, zero_point):
    src = _convert(tmp_path, [L.Dense(9, activation="relu")], (12,), seed=7)
    path = rewrite_tflite(src, tmp_path / "pt.tflite", _per_tensor_weights(zero_point))
    g, op = _only_op(path, "FULLY_CONNECTED")
    q = g.tensor(op.inputs[1]).quant
    assert not q.per_channel and q.zp == zero_point
    assert_bit_exact(path, kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- rounding

# Power-of-two scales make the effective scale exactly 1/8: a quarter of the accumulators are
# ties (x.5) and many others are where double rounding (fixed point) and single rounding differ.
# CONV_2D and DEPTHWISE_CONV_2D requantize in fixed point (MultiplyByQuantizedMultiplier, double
# rounding); FULLY_CONNECTED's reference kernel requantizes in double with std::round. Only the
# exact scheme passes.


def _tie_scales(kind: str, seed: int):
    def edit(model):
        rng = np.random.default_rng(seed)
        sg = model.subgraphs[0]
        op = sg.operators[0]
        x, w, b = (sg.tensors[i] for i in op.inputs)
        out = sg.tensors[op.outputs[0]]
        x.quantization.scale = [2.0**-6]
        out.quantization.scale, out.quantization.zeroPoint = [2.0**-8], [0]
        n = len(w.quantization.scale)
        q = rng.integers(-2, 3, size=w.shape).astype(np.int8)
        model.buffers[w.buffer].data = np.frombuffer(q.tobytes(), dtype=np.uint8).copy()
        w.quantization.scale = [2.0**-5] * n
        qb = rng.integers(-20, 21, size=b.shape).astype(np.int32)
        model.buffers[b.buffer].data = np.frombuffer(qb.tobytes(), dtype=np.uint8).copy()
        b.quantization.scale = [2.0**-11] * n
        op.builtinOptions.fusedActivationFunction = 0

    return edit


TIE_LAYERS = {
    "CONV_2D": (lambda: L.Conv2D(6, 3, padding="same"), (6, 6, 3)),
    "DEPTHWISE_CONV_2D": (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (6, 6, 3)),
    "FULLY_CONNECTED": (lambda: L.Dense(16), (12,)),
}


@pytest.mark.parametrize("kind", sorted(TIE_LAYERS))
def test_requantization_ties(tmp_path, kind):
    make, in_shape = TIE_LAYERS[kind]
    src = _convert(tmp_path, [make()], in_shape, seed=11)
    path = rewrite_tflite(src, tmp_path / "ties.tflite", _tie_scales(kind, seed=12))
    _only_op(path, kind)
    assert_bit_exact(path, samples=40, kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- rejection and MACs


def test_shuffled_weights_rejected(tmp_path):
    from tinyq.compiler.pipeline import compile_tflite

    def edit(model):
        _, op = _fc_op(model)
        op.builtinOptions.weightsFormat = 1  # SHUFFLED4x16INT8

    src = _convert(tmp_path, [L.Dense(4)], (8,), seed=1)
    path = rewrite_tflite(src, tmp_path / "shuffled.tflite", edit)
    with pytest.raises(UnsupportedModel, match=r"operator 0 \(FULLY_CONNECTED\).*weights format"):
        compile_tflite(path)


def test_conv_without_bias_rejected(tmp_path):
    """TFLite's own Prepare refuses a quantized CONV_2D without bias; tinyq says so too."""
    from tinyq.compiler.pipeline import compile_tflite

    def edit(model):
        o = model.subgraphs[0].operators[0]
        o.inputs = [int(o.inputs[0]), int(o.inputs[1])]

    src = _convert(tmp_path, [L.Conv2D(3, 3, use_bias=False)], (5, 5, 2), seed=4)
    path = rewrite_tflite(src, tmp_path / "nobias.tflite", edit)
    with pytest.raises(UnsupportedModel, match=r"operator 0 \(CONV_2D\).*no bias"):
        compile_tflite(path)


def test_macs(tmp_path):
    from tinyq.ops import REGISTRY

    layers = [L.Conv2D(4, 3, padding="same"), L.DepthwiseConv2D(3, depth_multiplier=2), L.Flatten(), L.Dense(5)]
    g = import_model(_convert(tmp_path, layers, (6, 6, 3), seed=2))
    macs = {op.kind: REGISTRY[op.kind].macs(g, op) for op in g.ops if op.kind in REGISTRY}
    assert macs["CONV_2D"] == 6 * 6 * 4 * 3 * 3 * 3
    assert macs["DEPTHWISE_CONV_2D"] == 4 * 4 * 8 * 3 * 3
    assert macs["FULLY_CONNECTED"] == 5 * 4 * 4 * 8
