"""Constant folding (tinyq.compiler.fold): shape arithmetic evaluated at generation time."""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.compiler.fold import fold_constants
from tinyq.compiler.importer import import_model
from tinyq.ir import Graph, Op, Quant, Tensor

from .helpers import assert_bit_exact, op_kinds, tf_convert

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

Q = Quant((0.05,), (-3,))


class _B:
    """Tiny IR builder: activations, constants and ops in execution order."""

    def __init__(self):
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []

    def act(self, shape, dtype="int8", quant=Q):
        self.tensors.append(Tensor(len(self.tensors), f"a{len(self.tensors)}", tuple(shape), dtype, quant))
        return len(self.tensors) - 1

    def const(self, values, dtype="int32", quant=None):
        data = np.array(values, dtype=dtype)
        self.tensors.append(Tensor(len(self.tensors), f"c{len(self.tensors)}", data.shape, dtype, quant, data=data))
        return len(self.tensors) - 1

    def op(self, kind, ins, outs, options=None):
        self.ops.append(Op(len(self.ops), kind, list(ins), list(outs), options))
        return self.ops[-1]

    def graph(self, inputs, outputs):
        return Graph(tensors=self.tensors, ops=self.ops, inputs=inputs, outputs=outputs)


def _opts(cls, **kw):
    o = getattr(schema, cls)()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def test_dynamic_batch_reshape_chain():
    """SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (a converter's dynamic-batch Flatten) folds to a constant shape."""
    b = _B()
    x = b.act((1, 5, 6, 3))
    shp = b.act((4,), "int32", None)
    b.op("SHAPE", [x], [shp], _opts("ShapeOptionsT", outType=schema.TensorType.INT32))
    batch = b.act((), "int32", None)
    b.op("STRIDED_SLICE", [shp, b.const([0]), b.const([1]), b.const([1])], [batch], _opts("StridedSliceOptionsT", shrinkAxisMask=1))
    target = b.act((2,), "int32", None)
    b.op("PACK", [batch, b.const(-1)], [target], _opts("PackOptionsT", valuesCount=2, axis=0))
    y = b.act((1, 90))
    b.op("RESHAPE", [x, target], [y])
    g = fold_constants(b.graph([x], [y]))
    assert [op.kind for op in g.ops] == ["RESHAPE"]
    np.testing.assert_array_equal(g.tensor(shp).data, [1, 5, 6, 3])
    assert g.tensor(batch).data.shape == () and g.tensor(batch).data == 1
    np.testing.assert_array_equal(g.tensor(target).data, [1, -1])
    assert g.tensor(target).data.dtype == np.int32
    assert g.tensor(y).shape == (1, 90) and not g.tensor(y).is_const


def test_reshape_output_shape_resolved():
    """A RESHAPE whose folded target disagrees with the file's placeholder shape takes the folded one."""
    b = _B()
    x = b.act((1, 4, 6))
    shp = b.act((3,), "int32", None)
    b.op("SHAPE", [x], [shp])
    target = b.act((3,), "int32", None)
    b.op("MUL", [shp, b.const([1, 2, 1])], [target], _opts("MulOptionsT"))
    half = b.act((3,), "int32", None)
    b.op("FLOOR_DIV", [target, b.const([1, 1, 2])], [half], None)
    y = b.act((1, 1, 24))  # placeholder the converter could not resolve
    b.op("RESHAPE", [x, half], [y])
    g = fold_constants(b.graph([x], [y]))
    assert [op.kind for op in g.ops] == ["RESHAPE"]
    np.testing.assert_array_equal(g.tensor(half).data, [1, 8, 3])
    assert g.tensor(y).shape == (1, 8, 3)


def test_int_ops_and_data_movement():
    b = _B()
    x = b.act((2, 3, 4), "int8")
    shp = b.act((3,), "int32", None)
    b.op("SHAPE", [x], [shp])
    g1 = b.act((2,), "int32", None)
    b.op("GATHER", [shp, b.const([2, 0])], [g1], _opts("GatherOptionsT", axis=0))
    cat = b.act((4,), "int32", None)
    b.op("CONCATENATION", [g1, b.const([7, 8])], [cat], _opts("ConcatenationOptionsT", axis=0))
    prod = b.act((), "int32", None)
    b.op("REDUCE_PROD", [cat, b.const([0])], [prod], _opts("ReducerOptionsT", keepDims=False))
    c64 = b.act((4,), "int64", None)
    b.op("CAST", [cat], [c64], None)
    sl = b.act((2,), "int64", None)
    b.op("SLICE", [c64, b.const([1]), b.const([-1])], [sl], None)  # size -1: to the end -> 3 values
    ex = b.act((1, 4), "int32", None)
    b.op("EXPAND_DIMS", [cat, b.const(0)], [ex], None)
    tr = b.act((4, 1), "int32", None)
    b.op("TRANSPOSE", [ex, b.const([1, 0])], [tr], None)
    sq = b.act((4,), "int32", None)
    b.op("SQUEEZE", [tr], [sq], _opts("SqueezeOptionsT", squeezeDims=[1]))
    rng = b.act((3,), "int32", None)
    b.op("RANGE", [b.const(0), b.const(6), b.const(2)], [rng], None)
    su = b.act((), "int32", None)
    b.op("SUM", [rng, b.const([0])], [su], _opts("ReducerOptionsT"))
    out = b.act((2, 3, 4), "int8")
    b.op("RESHAPE", [x, b.const([2, 3, 4])], [out])
    g = fold_constants(b.graph([x], [out]))
    assert [op.kind for op in g.ops] == ["RESHAPE"]
    np.testing.assert_array_equal(g.tensor(g1).data, [4, 2])
    np.testing.assert_array_equal(g.tensor(cat).data, [4, 2, 7, 8])
    assert int(g.tensor(prod).data) == 4 * 2 * 7 * 8
    assert g.tensor(c64).data.dtype == np.int64
    np.testing.assert_array_equal(g.tensor(sl).data, [2, 7, 8])
    np.testing.assert_array_equal(g.tensor(sq).data, [4, 2, 7, 8])
    np.testing.assert_array_equal(g.tensor(rng).data, [0, 2, 4])
    assert int(g.tensor(su).data) == 6


def test_strided_slice_masks():
    b = _B()
    src = b.const(np.arange(24).reshape(4, 6))
    out = b.act((2, 2), "int32", None)
    b.op("STRIDED_SLICE", [src, b.const([1, -1]), b.const([0, 0]), b.const([2, -2])], [out],
         _opts("StridedSliceOptionsT", endMask=1))
    out2 = b.act((3,), "int32", None)
    b.op("STRIDED_SLICE", [src, b.const([2, 1]), b.const([1, 3]), b.const([1, 1])], [out2],
         _opts("StridedSliceOptionsT", shrinkAxisMask=1, offset=True))
    keep = b.act((4, 6), "int32", None)
    g = fold_constants(b.graph([], [keep]))
    x = np.arange(24).reshape(4, 6)
    np.testing.assert_array_equal(g.tensor(out).data, x[1::2, -1:0:-2])
    np.testing.assert_array_equal(g.tensor(out2).data, x[2, 1:4])


def test_what_is_not_folded():
    b = _B()
    x = b.act((1, 4), "int8")
    # float arithmetic on constants: left alone (TFLite float semantics are not reproduced here)
    f = b.act((2,), "float32", None)
    b.op("ADD", [b.const([1.0, 2.0], "float32"), b.const([0.5, 0.5], "float32")], [f], _opts("AddOptionsT"))
    # quantized constants concatenated with different quantizations: that would rescale
    c = b.act((4,), "int8", Q)
    b.op("CONCATENATION", [b.const([1, 2], "int8", Q), b.const([3, 4], "int8", Quant((0.1,), (0,)))], [c],
         _opts("ConcatenationOptionsT", axis=0))
    # fused activation on int arithmetic: left alone
    r = b.act((2,), "int32", None)
    b.op("ADD", [b.const([1, -2]), b.const([1, 1])], [r], _opts("AddOptionsT", fusedActivationFunction=1))
    # out-of-range gather index (TFLite would fail): left alone
    gi = b.act((1,), "int32", None)
    b.op("GATHER", [b.const([1, 2]), b.const([5])], [gi], _opts("GatherOptionsT"))
    # an op producing a graph output keeps its kernel
    o = b.act((1, 4), "int8")
    b.op("RESHAPE", [b.const([[1, 2, 3, 4]], "int8", Q), b.const([1, 4])], [o])
    # data-dependent op
    y = b.act((1, 4), "int8")
    b.op("RESHAPE", [x, b.const([1, 4])], [y])
    g = fold_constants(b.graph([x], [o, y]))
    assert [op.kind for op in g.ops] == ["ADD", "CONCATENATION", "ADD", "GATHER", "RESHAPE", "RESHAPE"]
    assert not any(g.tensor(t).is_const for t in (f, c, r, gi, o, y))


def test_wraparound_like_int32():
    b = _B()
    out = b.act((1,), "int32", None)
    b.op("MUL", [b.const([2**30]), b.const([4])], [out], _opts("MulOptionsT"))
    keep = b.act((1,), "int8")
    g = fold_constants(b.graph([], [keep]))
    assert int(g.tensor(out).data[0]) == 0


@pytest.mark.parametrize("layer", ["flatten", "reshape"])
def test_dynamic_batch_model_end_to_end(tmp_path, layer):
    keras = pytest.importorskip("keras")
    a = keras.Input((6, 5, 3))
    x = keras.layers.Permute((2, 1, 3))(a)
    x = keras.layers.Flatten()(x) if layer == "flatten" else keras.layers.Reshape((10, 9))(x)
    calib = np.random.default_rng(5).normal(size=(16, 6, 5, 3)).astype(np.float32)
    path = tmp_path / f"dyn_{layer}.tflite"
    path.write_bytes(tf_convert(keras.Model(a, x), calib, batch=None, int8_io=True))  # run-time shape arithmetic
    kinds = op_kinds(path)
    assert "SHAPE" in kinds and "PACK" in kinds  # the converter left the shape arithmetic in
    g = fold_constants(import_model(path))
    assert [op.kind for op in g.ops] == ["TRANSPOSE", "RESHAPE"]
    assert_bit_exact(path)
