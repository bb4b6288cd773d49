"""AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (int8): bit-exact against TFLite's reference kernels."""

from __future__ import annotations

import pytest

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY
from tinyq.ops.pool import out_size, pad_before

from .helpers import assert_bit_exact, convert_uniform, op_kinds, requantize

keras = pytest.importorskip("keras")
L = keras.layers


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize(
    "shape, pool, strides, padding",
    [
        ((8, 8, 4), (2, 2), (2, 2), "valid"),
        ((7, 9, 3), (3, 3), (1, 1), "same"),
        ((9, 7, 2), (3, 2), (2, 1), "same"),  # non-square window and strides
        ((10, 11, 3), (3, 3), (2, 2), "valid"),
        ((6, 13, 5), (2, 3), (1, 2), "valid"),
        ((5, 5, 2), (4, 4), (3, 3), "same"),  # edge windows with few valid elements
    ],
)
def test_pooling(tmp_path, shape, pool, strides, padding):
    x = keras.Input(shape)
    avg = L.AveragePooling2D(pool, strides=strides, padding=padding)(x)
    mx = L.MaxPooling2D(pool, strides=strides, padding=padding)(x)
    path = convert_uniform(keras.Model(x, [avg, mx]), [shape], tmp_path, "pool")
    assert sorted(op_kinds(path)) == ["AVERAGE_POOL_2D", "MAX_POOL_2D"]
    assert_bit_exact(path)


def test_pooling_fused_activation_and_any_quantization(tmp_path):
    x = keras.Input((9, 8, 3))
    avg = L.AveragePooling2D((3, 3), strides=2, padding="same")(x)
    mx = L.MaxPooling2D((2, 3), strides=(1, 2), padding="valid")(x)
    base = convert_uniform(keras.Model(x, [avg, mx]), [(9, 8, 3)], tmp_path, "pool_act")
    for seed in range(3):
        assert_bit_exact(requantize(base, tmp_path / f"pool_act{seed}.tflite", seed))


def test_padding_arithmetic():
    # TFLite's ComputeOutSize / ComputePaddingWithOffset (dilation 1).
    assert out_size(0, 7, 3, 2) == 4 and pad_before(2, 7, 3, 4) == 1
    assert out_size(0, 8, 2, 2) == 4 and pad_before(2, 8, 2, 4) == 0
    assert out_size(0, 5, 4, 3) == 2 and pad_before(3, 5, 4, 2) == 1
    assert out_size(1, 10, 3, 2) == 4 and out_size(1, 5, 5, 1) == 1


def _pool_graph(out_shape):
    from ai_edge_litert import schema_py_generated as schema

    q = Quant(scale=(0.5,), zero_point=(0,))
    o = schema.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = 1, 1, 1, 2, 2
    ts = [Tensor(0, "x", (1, 4, 4, 2), "int8", q), Tensor(1, "y", out_shape, "int8", q)]
    return Graph(tensors=ts, ops=[Op(0, "MAX_POOL_2D", [0], [1], o)], inputs=[0], outputs=[1])


def test_pool_rejects_wrong_output_shape():
    g = _pool_graph((1, 3, 3, 2))
    REGISTRY["MAX_POOL_2D"].check(g, g.ops[0])
    g = _pool_graph((1, 4, 4, 2))
    with pytest.raises(UnsupportedModel, match="pooled shape"):
        REGISTRY["MAX_POOL_2D"].check(g, g.ops[0])


# --------------------------------------------------------------------------- MEAN


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(tmp_path, keepdims):
    x = keras.Input((6, 7, 5))
    path = convert_uniform(keras.Model(x, L.GlobalAveragePooling2D(keepdims=keepdims)(x)), [(6, 7, 5)], tmp_path, "gap")
    assert op_kinds(path) == ["MEAN"]
    assert_bit_exact(path)


def test_mean_other_axes(tmp_path):
    x = keras.Input((5, 6, 7))
    ops = keras.ops
    outs = [
        ops.mean(x, axis=-1),
        ops.mean(x, axis=1, keepdims=True),
        ops.mean(x, axis=(1, 3), keepdims=True),
        ops.mean(x, axis=(1, 2, 3)),
    ]
    path = convert_uniform(keras.Model(x, outs), [(5, 6, 7)], tmp_path, "mean_axes")
    assert op_kinds(path).count("MEAN") == 4
    assert_bit_exact(path)


def test_mean_any_quantization(tmp_path):
    # TFLite's reference MEAN takes one integer path whether or not input and output share
    # quantization: check random rescales (above and below 1) and identical parameters.
    x = keras.Input((12, 10, 3))
    outs = [L.GlobalAveragePooling2D()(x), L.GlobalAveragePooling2D(keepdims=True)(x), keras.ops.mean(x, axis=2)]
    base = convert_uniform(keras.Model(x, outs), [(12, 10, 3)], tmp_path, "mean_q")
    for seed in range(3):
        assert_bit_exact(requantize(base, tmp_path / f"mean_q{seed}.tflite", seed))
        assert_bit_exact(requantize(base, tmp_path / f"mean_same{seed}.tflite", seed, same=True))
