"""QUANTIZE / DEQUANTIZE: generated C against TFLite's reference interpreter, bit for bit,
float outputs included (compared as raw float32 bits by tinyq.checks.match)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.compiler.importer import import_model

from .helpers import (
    assert_bit_exact,
    one_op_model,
    tensor_spec,
    tf_convert,
    write_tflite,
)

keras = pytest.importorskip("keras")
schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

RNG = np.random.default_rng(11)


def quant_model(path, kind, src, dst, shape=(1, 4, 6, 5)):
    """One QUANTIZE or DEQUANTIZE op; src/dst are (dtype, scale, zero_point), scale None for float."""
    spec = [tensor_spec(shape, dtype, None if scale is None else (scale, zp)) for dtype, scale, zp in (src, dst)]
    path.write_bytes(one_op_model(kind, spec[:1], spec[1:]))
    return path


def tricky_floats(scale: float, n: int, lim: int) -> np.ndarray:
    """Values at and next to rounding ties of x / scale, integers, huge values, inf, NaN, -0."""
    s = np.float32(scale)
    k = RNG.integers(-lim, lim, size=n).astype(np.float32)
    half = np.float32(0.5)
    ties = np.concatenate([(k + half) * s, (k - half) * s])
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))])
    special = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e30, -1e30, 3.4e38, -3.4e38, 1e-45, -1e-45, 5e9, -5e9,
         2.0**31, -(2.0**31)],
        np.float32,
    )
    return np.concatenate([ties, near, k * s, RNG.normal(size=n).astype(np.float32) * s * lim, special]).astype(np.float32)


def _save_inputs(tmp_path, values: np.ndarray, shape) -> object:
    per = int(np.prod(shape))
    n = -(-values.size // per)
    buf = np.zeros(n * per, np.float32)
    buf[: values.size] = values
    path = tmp_path / "inputs.npy"
    np.save(path, buf.reshape((n, *shape[1:])))
    return path


# --------------------------------------------------------------------------- Keras --float-io models


def test_float_io_pad(tmp_path):
    a = keras.Input((6, 5, 3))
    m = keras.Model(a, keras.layers.ZeroPadding2D(((1, 2), (0, 3)))(a))
    path = write_tflite(tmp_path, "padf", m, [RNG.normal(size=(16, 6, 5, 3)).astype(np.float32)], float_io=True)
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["QUANTIZE", "PAD", "DEQUANTIZE"]
    assert g.tensor(g.inputs[0]).dtype == "float32" and g.tensor(g.outputs[0]).dtype == "float32"
    assert_bit_exact(path)
    q = g.tensor(g.ops[0].outputs[0]).quant
    assert_bit_exact(path, inputs=_save_inputs(tmp_path, tricky_floats(q.s, 400, 200), g.tensor(g.inputs[0]).shape))


def test_float_io_permute_flatten_positive_zero_point(tmp_path):
    """Mostly-negative calibration gives a positive zero point (out-of-range inputs then saturate low)."""
    a = keras.Input((4, 6, 2))
    m = keras.Model(a, keras.layers.Flatten()(keras.layers.Permute((2, 1, 3))(a)))
    calib = (RNG.uniform(-3.0, 0.4, size=(16, 4, 6, 2))).astype(np.float32)
    path = write_tflite(tmp_path, "permf", m, [calib], float_io=True)
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["QUANTIZE", "TRANSPOSE", "RESHAPE", "DEQUANTIZE"]
    q = g.tensor(g.ops[0].outputs[0]).quant
    assert q.zp > 0
    assert_bit_exact(path)
    assert_bit_exact(path, inputs=_save_inputs(tmp_path, tricky_floats(q.s, 300, 200), g.tensor(g.inputs[0]).shape))


def test_float_io_int16_activations(tmp_path):
    """16x8 conversion: QUANTIZE float32 -> int16 at the input, DEQUANTIZE int16 -> float32 at the output."""
    a = keras.Input((6, 5, 3))
    m = keras.Model(a, keras.layers.Reshape((30, 3))(a))
    x = RNG.normal(size=(16, 6, 5, 3)).astype(np.float32)
    path = tmp_path / "s16.tflite"
    path.write_bytes(tf_convert(m, x, ops_set="EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"))
    g = import_model(path)
    assert [op.kind for op in g.ops] == ["QUANTIZE", "RESHAPE", "DEQUANTIZE"]
    q = g.tensor(g.ops[0].outputs[0]).quant
    assert g.tensor(g.ops[0].outputs[0]).dtype == "int16"
    assert_bit_exact(path, inputs=_save_inputs(tmp_path, tricky_floats(q.s, 400, 30000), g.tensor(g.inputs[0]).shape))


# --------------------------------------------------------------------------- single-op models


@pytest.mark.parametrize(
    "dst",
    [("int8", 0.0173, -7), ("int8", 3.0e-5, 100), ("int8", 250.0, -128), ("int16", 0.0021, 0), ("int16", 1.7e-6, 0)],
)
def test_quantize_float(tmp_path, dst):
    path = quant_model(tmp_path / "q.tflite", "QUANTIZE", ("float32", None, 0), dst)
    lim = 200 if dst[0] == "int8" else 33000
    assert_bit_exact(path, inputs=_save_inputs(tmp_path, tricky_floats(dst[1], 300, lim), (1, 4, 6, 5)))


@pytest.mark.parametrize(
    "src,dst",
    [
        (("int8", 0.05, 3), ("int8", 0.13, -20)),  # ratio < 1
        (("int8", 0.5, -128), ("int8", 0.011, 0)),  # ratio > 1: positive shift, saturation
        (("int8", 0.02, 5), ("int8", 0.02, -9)),  # equal scales, zero point shift only
        (("int8", 1.0e-4, 0), ("int8", 2.0, 1)),  # tiny ratio
        (("int16", 0.0003, 0), ("int8", 0.04, -3)),
        (("int16", 0.0003, 0), ("int16", 0.00071, 0)),
        (("int16", 0.001, 0), ("int16", 0.0001, 0)),
    ],
)
def test_requantize(tmp_path, src, dst):
    path = quant_model(tmp_path / "rq.tflite", "QUANTIZE", src, dst)
    assert_bit_exact(path, samples=10)


@pytest.mark.parametrize(
    "src", [("int8", 0.0173, -7), ("int8", 3.3e-9, 127), ("int8", 7.1e30, -128), ("int16", 0.00021, 0), ("int16", 3.0e34, 0)]
)
def test_dequantize(tmp_path, src):
    path = quant_model(tmp_path / "dq.tflite", "DEQUANTIZE", src, ("float32", None, 0))
    assert_bit_exact(path, samples=10)
