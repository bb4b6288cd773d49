"""PAD / PADV2, CONCATENATION, TRANSPOSE, RESHAPE copies: generated C against TFLite's reference
interpreter, bit for bit (tinyq.checks.verify), on converted Keras models and on hand-built single-op
models that reach the kernels' corner cases (ranks 1..6, size-1 axes, large paddings)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinyq.compiler.importer import import_model
from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY
from tinyq.ops.shape import simplify_transpose

from .helpers import assert_bit_exact, one_op_model, op_kinds, tensor_spec, write_tflite

keras = pytest.importorskip("keras")
schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

RNG = np.random.default_rng(7)


def _calib(*shape, scale=1.0):
    return (scale * RNG.normal(size=(16, *shape))).astype(np.float32)


# --------------------------------------------------------------------------- hand-built models

def single_op_model(path, kind, inputs, out_shape, options=None, options_type=0, q=(0.05, -3)):
    """One-op .tflite: `inputs` is a list of (shape, dtype, const data or None); int8 tensors get quantization q."""
    ins = [tensor_spec(shape, dtype, q if dtype == "int8" else None, data) for shape, dtype, data in inputs]
    path.write_bytes(one_op_model(kind, ins, [tensor_spec(out_shape, "int8", q)], options, options_type))
    return path


# --------------------------------------------------------------------------- PAD


def test_zero_padding_asymmetric(tmp_path):
    a = keras.Input((6, 5, 3))
    m = keras.Model(a, keras.layers.ZeroPadding2D(((1, 2), (0, 3)))(a))
    path = write_tflite(tmp_path, "pad", m, [_calib(6, 5, 3)])
    assert op_kinds(path) == ["PAD"]
    assert_bit_exact(path)


def test_padv2_constant(tmp_path):
    a = keras.Input((6, 5, 3))
    pad = keras.layers.Lambda(lambda t: keras.ops.pad(t, ((0, 0), (1, 0), (2, 1), (0, 0)), constant_values=0.5))
    path = write_tflite(tmp_path, "padv2", keras.Model(a, pad(a)), [_calib(6, 5, 3)])
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["PADV2"]
    assert g.tensor(g.ops[0].inputs[2]).data.item() != g.tensor(g.ops[0].outputs[0]).quant.zp
    assert_bit_exact(path)


@pytest.mark.parametrize(
    "shape,pads",
    [
        ((7,), [(3, 0)]),
        ((2, 3, 1, 4), [(1, 0), (0, 2), (2, 2), (0, 1)]),
        ((2, 1, 3, 2, 5), [(0, 0), (1, 1), (0, 0), (2, 0), (0, 3)]),
        ((1, 4, 4, 8), [(0, 0), (0, 0), (0, 0), (5, 0)]),
    ],
)
def test_pad_ranks(tmp_path, shape, pads):
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    path = single_op_model(
        tmp_path / "p.tflite", "PAD", [(shape, "int8", None), ((len(shape), 2), "int32", np.array(pads, np.int32))], out,
        options=schema.PadOptionsT(), options_type=schema.BuiltinOptions.PadOptions,
    )
    assert_bit_exact(path, samples=5)


def test_pad_int64_paddings(tmp_path):
    pads = np.array([[0, 0], [2, 1], [0, 0]], np.int64)
    path = single_op_model(
        tmp_path / "p64.tflite", "PAD", [((1, 3, 4), "int8", None), ((3, 2), "int64", pads)], (1, 6, 4),
        options=schema.PadOptionsT(), options_type=schema.BuiltinOptions.PadOptions,
    )
    assert_bit_exact(path, samples=5)


# --------------------------------------------------------------------------- CONCATENATION


def test_concat_equal_scales_last_axis(tmp_path):
    a, b = keras.Input((6, 5, 3)), keras.Input((6, 5, 2))
    m = keras.Model([a, b], keras.layers.Concatenate(-1)([a, b]))
    path = write_tflite(tmp_path, "cat_last", m, [_calib(6, 5, 3), _calib(6, 5, 2, scale=3.0)])
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["CONCATENATION"]
    assert g.ops[0].options.axis in (-1, 3)
    assert_bit_exact(path)


def test_concat_equal_scales_axis1_three_inputs(tmp_path):
    a, b, c = keras.Input((2, 5, 3)), keras.Input((4, 5, 3)), keras.Input((1, 5, 3))
    m = keras.Model([a, b, c], keras.layers.Concatenate(1)([a, b, c]))
    path = write_tflite(tmp_path, "cat_ax1", m, [_calib(2, 5, 3), _calib(4, 5, 3), _calib(1, 5, 3)])
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["CONCATENATION"] and g.ops[0].options.axis == 1
    assert_bit_exact(path)


def test_concat_different_scales_requantizes(tmp_path):
    """`a` feeds two concatenations whose ranges differ: the converter inserts an int8->int8
    QUANTIZE (requantization) so every CONCATENATION sees equal scales."""
    a, b, c = keras.Input((4, 3)), keras.Input((4, 2)), keras.Input((4, 3))
    m = keras.Model([a, b, c], [keras.layers.Concatenate(-1)([a, b]), keras.layers.Concatenate(1)([a, c])])
    path = write_tflite(tmp_path, "cat_rq", m, [_calib(4, 3), _calib(4, 2, scale=5.0), _calib(4, 3, scale=0.2)])
    g = import_model(path)
    kinds = [op.kind for op in g.ops]
    assert kinds.count("CONCATENATION") == 2 and "QUANTIZE" in kinds
    rq = g.ops[kinds.index("QUANTIZE")]
    assert g.tensor(rq.inputs[0]).dtype == "int8" and g.tensor(rq.inputs[0]).quant != g.tensor(rq.outputs[0]).quant
    assert_bit_exact(path)


def _ir(tensors, op):
    return Graph(tensors=tensors, ops=[op], inputs=[0], outputs=[len(tensors) - 1])


def test_concat_rejects_rescaling_and_activation():
    opts = schema.ConcatenationOptionsT()
    opts.axis = -1
    q1, q2 = Quant((0.1,), (0,)), Quant((0.2,), (0,))
    ts = [Tensor(0, "a", (1, 2), "int8", q1), Tensor(1, "b", (1, 2), "int8", q2), Tensor(2, "o", (1, 4), "int8", q1)]
    op = Op(0, "CONCATENATION", [0, 1], [2], opts)
    with pytest.raises(UnsupportedModel, match="quantized differently"):
        REGISTRY["CONCATENATION"].check(_ir(ts, op), op)
    ts[1].quant = q1
    REGISTRY["CONCATENATION"].check(_ir(ts, op), op)
    opts.fusedActivationFunction = 1
    with pytest.raises(UnsupportedModel, match="RELU"):
        REGISTRY["CONCATENATION"].check(_ir(ts, op), op)


# --------------------------------------------------------------------------- TRANSPOSE


def test_permute(tmp_path):
    a = keras.Input((6, 5, 3))
    path = write_tflite(tmp_path, "perm", keras.Model(a, keras.layers.Permute((3, 1, 2))(a)), [_calib(6, 5, 3)])
    assert op_kinds(path) == ["TRANSPOSE"]
    assert_bit_exact(path)


def test_ops_transpose_5d(tmp_path):
    a = keras.Input((2, 3, 4, 5))
    t = keras.layers.Lambda(lambda x: keras.ops.transpose(x, (0, 3, 1, 4, 2)))
    path = write_tflite(tmp_path, "tr5", keras.Model(a, t(a)), [_calib(2, 3, 4, 5)])
    assert op_kinds(path) == ["TRANSPOSE"]
    assert_bit_exact(path)


@pytest.mark.parametrize(
    "shape,perm",
    [((5, 3), (1, 0)), ((2, 1, 3, 2, 2, 3), (5, 2, 0, 4, 1, 3)), ((3, 4, 1, 2), (2, 3, 0, 1)), ((2, 3, 4), (0, 1, 2))],
)
def test_transpose_ranks(tmp_path, shape, perm):
    out = tuple(shape[p] for p in perm)
    path = single_op_model(
        tmp_path / "t.tflite", "TRANSPOSE", [(shape, "int8", None), ((len(perm),), "int32", np.array(perm, np.int32))], out,
        options=schema.TransposeOptionsT(), options_type=schema.BuiltinOptions.TransposeOptions,
    )
    assert_bit_exact(path, samples=5)


def test_simplify_transpose_matches_numpy():
    rng = np.random.default_rng(3)
    for rank in range(1, 7):
        for perm in itertools.islice(itertools.permutations(range(rank)), 0, None, 7):
            shape = tuple(int(d) for d in rng.integers(1, 4, size=rank))
            x = np.arange(int(np.prod(shape))).reshape(shape)
            s, p = simplify_transpose(shape, list(perm))
            assert len(s) <= rank
            got = np.transpose(x.reshape(s if s else (1,)), p if p else [0]).reshape(-1)
            np.testing.assert_array_equal(got, np.transpose(x, perm).reshape(-1))


# --------------------------------------------------------------------------- RESHAPE


def test_permute_flatten(tmp_path):
    a = keras.Input((6, 5, 3))
    m = keras.Model(a, keras.layers.Flatten()(keras.layers.Permute((2, 1, 3))(a)))
    path = write_tflite(tmp_path, "flat", m, [_calib(6, 5, 3)])
    assert op_kinds(path) == ["TRANSPOSE", "RESHAPE"]
    assert_bit_exact(path)


def test_reshape_input_to_output_is_a_copy(tmp_path):
    """A reshape from the graph input straight to the graph output needs two buffers: tq_copy_s8."""
    from tinyq.compiler.pipeline import generate_library

    a = keras.Input((6, 5, 3))
    path = write_tflite(tmp_path, "resh", keras.Model(a, keras.layers.Reshape((30, 3))(a)), [_calib(6, 5, 3)])
    assert op_kinds(path) == ["RESHAPE"]
    assert "tq_copy_s8(&" in generate_library(path, name="m").files["m.c"]
    assert_bit_exact(path)
