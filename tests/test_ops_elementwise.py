"""ADD and MUL (int8, broadcasting): bit-exact against TFLite's reference kernels."""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY
from tinyq.ops.elementwise import broadcast_shape

from .helpers import (
    BOTH_KERNELS,
    assert_bit_exact,
    convert_uniform,
    op_kinds,
    requantize,
)

keras = pytest.importorskip("keras")
L = keras.layers


def test_add_branches_with_different_scales(tmp_path):
    # x * 2.5 has another scale than x; x + mean(x) broadcasts [1,4,4,8] + [1,1,1,8].
    x = keras.Input((4, 4, 8))
    a = L.Add()([x, L.Rescaling(2.5)(x)])
    b = L.Add()([x, L.GlobalAveragePooling2D(keepdims=True)(x)])
    path = convert_uniform(keras.Model(x, [a, b]), [(4, 4, 8)], tmp_path, "add_branches")
    assert op_kinds(path).count("ADD") == 2
    assert_bit_exact(path, kernels=BOTH_KERNELS)


def test_add_two_inputs_and_broadcast(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 8))
    c = keras.Input((4, 4, 1))
    outs = [L.Add()([x, y]), L.Add()([c, x]), L.ReLU()(L.Add()([x, y]))]
    path = convert_uniform(keras.Model([x, y, c], outs), [(4, 4, 8)] * 2 + [(4, 4, 1)], tmp_path, "add_inputs", seed=1)
    assert_bit_exact(path, kernels=BOTH_KERNELS)


def test_add_and_mul_constant_operand(tmp_path):
    x = keras.Input((3, 5, 6))
    k = np.linspace(-3.0, 3.0, 6).astype(np.float32)
    path = convert_uniform(keras.Model(x, [x + k, x * k]), [(3, 5, 6)], tmp_path, "const")
    assert sorted(op_kinds(path)) == ["ADD", "MUL"]
    assert_bit_exact(path, kernels=BOTH_KERNELS)


def test_multiply_and_broadcast(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 8))
    gate = keras.ops.mean(x, axis=-1, keepdims=True)  # [1,4,4,1]
    outs = [
        L.Multiply()([x, y]),
        L.Multiply()([x, gate]),
        L.Multiply()([x, L.GlobalAveragePooling2D(keepdims=True)(y)]),  # [1,1,1,8]
    ]
    path = convert_uniform(keras.Model([x, y], outs), [(4, 4, 8)] * 2, tmp_path, "mul")
    assert op_kinds(path).count("MUL") == 3
    assert_bit_exact(path, kernels=BOTH_KERNELS)


def test_add_mul_fused_activation_and_any_quantization(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 1))
    outs = [L.Add()([x, y]), L.Multiply()([x, y]), L.Add()([x, x * 0.5]), L.Multiply()([x, x])]
    base = convert_uniform(keras.Model([x, y], outs), [(4, 4, 8), (4, 4, 1)], tmp_path, "addmul_q")
    assert sorted(op_kinds(base)) == ["ADD", "ADD", "MUL", "MUL", "MUL"]  # x * 0.5: scalar operand
    for seed in range(4):
        assert_bit_exact(requantize(base, tmp_path / f"addmul_q{seed}.tflite", seed), kernels=BOTH_KERNELS)


# --------------------------------------------------------------------------- lowering details


def _binary_graph(kind, a_shape, b_shape, y_shape, out_scale=0.1):
    q = Quant(scale=(0.1,), zero_point=(3,))
    ts = [
        Tensor(0, "a", a_shape, "int8", q),
        Tensor(1, "b", b_shape, "int8", q),
        Tensor(2, "y", y_shape, "int8", Quant(scale=(out_scale,), zero_point=(-1,))),
    ]
    return Graph(tensors=ts, ops=[Op(0, kind, [0, 1], [2], None)], inputs=[0, 1], outputs=[2])


def test_broadcast_strides():
    g = _binary_graph("ADD", (1, 4, 4, 8), (8,), (1, 4, 4, 8))
    s = broadcast_shape(g, g.ops[0])
    assert s["broadcast"] == 1 and s["out"] == {"n": 1, "h": 4, "w": 4, "c": 8}
    assert s["in1_stride"] == {"n": 0, "h": 32, "w": 8, "c": 1}
    assert s["in2_stride"] == {"n": 0, "h": 0, "w": 0, "c": 1}
    g = _binary_graph("MUL", (1, 4, 4, 8), (1, 4, 4, 1), (1, 4, 4, 8))
    assert broadcast_shape(g, g.ops[0])["in2_stride"] == {"n": 0, "h": 4, "w": 1, "c": 0}
    g = _binary_graph("MUL", (2, 3), (2, 3), (2, 3))
    s = broadcast_shape(g, g.ops[0])
    assert s["broadcast"] == 0 and s["size"] == 6


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
def test_rejects_rank_above_four(kind):
    g = _binary_graph(kind, (1, 2, 2, 2, 2), (1, 2, 2, 2, 2), (1, 2, 2, 2, 2))
    with pytest.raises(UnsupportedModel, match="ranks up to 4"):
        REGISTRY[kind].check(g, g.ops[0])


def test_rejects_bad_broadcast():
    g = _binary_graph("ADD", (1, 4, 3), (1, 4, 2), (1, 4, 3))
    with pytest.raises(UnsupportedModel, match="do not broadcast"):
        REGISTRY["ADD"].check(g, g.ops[0])


def test_add_rejects_output_rescale_above_one():
    g = _binary_graph("ADD", (1, 4), (1, 4), (1, 4), out_scale=1e-9)
    with pytest.raises(UnsupportedModel, match="too small"):
        REGISTRY["ADD"].check(g, g.ops[0])
