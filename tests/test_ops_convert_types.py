"""Type conversions: QUANTIZE between integer types (int8, uint8, int16, int32), DEQUANTIZE from uint8,
and CAST between int8, uint8, int16, int32, float32 and bool; int32 and bool tensors as graph inputs,
outputs and arena activations. Each model is written as a flatbuffer (TensorFlow's converter rarely
emits these ops) and checked bit for bit against TFLite's reference interpreter on every input value
of the 8- and 16-bit types and a dense int32 sample, on the host and, for a few, on qemu-m4."""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.compiler import generate_library
from tinyq.compiler.importer import import_model
from tinyq.errors import BadInput, UnsupportedModel

from .helpers import (
    assert_bit_exact,
    one_op_model,
    operator_code,
    pack_model,
    schema_tensor,
    tensor_spec,
)

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

RNG = np.random.default_rng(23)
INT32 = np.iinfo(np.int32)


def every_value(dtype: str) -> np.ndarray:
    """Every value of an 8- or 16-bit type; for int32 a dense sample: the extremes, values around 0 and
    +-2^k, and 2^16 uniform draws over the whole range."""
    if dtype == "bool":
        return np.array([0, 1] * 8, np.bool_)
    if dtype != "int32":
        info = np.iinfo(dtype)
        return np.arange(int(info.min), int(info.max) + 1).astype(dtype)
    powers = np.array([s * (2**k) + d for k in range(31) for s in (1, -1) for d in (-1, 0, 1)], np.int64)
    special = np.array([INT32.min, INT32.min + 1, INT32.max, INT32.max - 1, *range(-300, 301)], np.int64)
    dense = RNG.integers(INT32.min, INT32.max, size=2**16, endpoint=True)
    return np.clip(np.concatenate([special, powers, dense]), INT32.min, INT32.max).astype(np.int32)


def save_inputs(tmp_path, values: np.ndarray, name: str = "inputs.npy"):
    """One sample holding `values` (the model's input shape is (1, values.size))."""
    path = tmp_path / name
    np.save(path, values.reshape(1, 1, -1))
    return path


def convert_model(tmp_path, kind: str, src, dst, name: str = "m"):
    """One QUANTIZE / DEQUANTIZE / CAST op over `n` elements; src / dst are (dtype, scale, zero_point),
    scale None for no quantization; returns the path."""
    (sd, ss, sz, n), (dd, ds, dz) = src, dst
    spec_in = tensor_spec((1, n), sd, None if ss is None else (ss, sz), name="x")
    spec_out = tensor_spec((1, n), dd, None if ds is None else (ds, dz), name="y")
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(one_op_model(kind, [spec_in], [spec_out]))
    return path


def graph_model(tensors, ops, outputs) -> bytes:
    """A .tflite of several builtin ops: `tensors` are tensor_spec()s, `ops` (kind, [inputs], [outputs]) by
    tensor position, run in order; the graph's inputs are the tensors without data no op writes."""
    m = schema.ModelT()
    m.version = 3
    m.buffers = [schema.BufferT()]
    m.description = "tinyq conversion test"
    ts = [schema_tensor(m, spec["shape"], spec["dtype"], spec["q"], spec["data"], spec["name"] or f"t{k}")
          for k, spec in enumerate(tensors)]
    kinds = sorted({kind for kind, _, _ in ops})
    codes = [operator_code(kind) for kind in kinds]
    sg = schema.SubGraphT()
    sg.tensors = ts
    sg.operators = []
    for kind, ins, outs in ops:
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = kinds.index(kind), list(ins), list(outs)
        if kind == "GATHER":
            o.builtinOptionsType, o.builtinOptions = schema.BuiltinOptions.GatherOptions, schema.GatherOptionsT()
        sg.operators.append(o)
    written = {i for _, _, outs in ops for i in outs}
    sg.inputs = [k for k, spec in enumerate(tensors) if spec["data"] is None and k not in written]
    sg.outputs = list(outputs)
    m.subgraphs, m.operatorCodes = [sg], codes
    return pack_model(m)


def refused(path) -> str:
    """The one-line reason tinyq gives for not compiling `path`."""
    with pytest.raises(UnsupportedModel) as e:
        generate_library(path, name="tq_model")
    return str(e.value)


# --------------------------------------------------------------------------- QUANTIZE between integer types

# (input type, output type, input scale, output scale, input zero point, output zero point)
REQUANTIZE = [
    ("int8", "int16", 0.05, 0.0004, 3, 0),  # ratio 125: a left shift
    ("int8", "int16", 0.0173, 0.0173, -128, 11),  # equal scales, non-zero int16 zero point
    ("int8", "int16", 1.3e-4, 2.9e-2, 127, -5),  # ratio < 1: rounding ties
    ("int8", "int16", 1.0, 2.0**-30, -7, 0),  # ratio 2^30: everything saturates
    ("int8", "int8", 0.05, 0.13, 3, -20),
    ("int8", "uint8", 0.02, 0.02, 0, 128),  # the reference's xor-0x80 fast path
    ("int8", "uint8", 0.02, 0.031, -3, 100),
    ("uint8", "int8", 0.02, 0.02, 128, 0),
    ("uint8", "int8", 0.7, 0.011, 200, -1),
    ("uint8", "uint8", 0.1, 0.3, 7, 250),
    ("uint8", "int16", 0.004, 0.00013, 128, 0),
    ("int16", "int8", 3.0e-4, 0.04, 0, -3),
    ("int16", "int8", 2.2e-5, 1.1e-5, 17, 0),  # ratio 2, non-zero int16 input zero point
    ("int16", "int8", 1.0e-4, 1.0e5, 0, 9),  # ratio 1e-9: every output is the zero point
    ("int16", "int16", 3.0e-4, 7.1e-4, 0, 0),
    ("int16", "int16", 1.0e-3, 1.0e-4, 0, 0),
    ("int16", "int32", 3.05e-5, 1.0e-9, 0, 0),  # ratio 30500
    ("int16", "int32", 1.0e-3, 7.0e-3, 0, 12345),
    ("int16", "int32", 2.0**-10, 2.0**-10, -4, -(2**31)),  # identity shifted, wraps below INT32_MIN
    ("int16", "int32", 1.0, 2.0**-20, 0, 2**31 - 10),  # a left shift of 21: int32 wrap-around, as TFLite's
    ("int16", "int32", 1.5, 2.0**-30, 3, 0),  # shift 31, the largest TFLite defines
]


@pytest.mark.parametrize(("src", "dst", "s_in", "s_out", "z_in", "z_out"), REQUANTIZE,
                         ids=[f"{a}-{b}-{i}" for i, (a, b, *_) in enumerate(REQUANTIZE)])
def test_requantize_every_value(tmp_path, src, dst, s_in, s_out, z_in, z_out):
    x = every_value(src)
    path = convert_model(tmp_path, "QUANTIZE", (src, s_in, z_in, x.size), (dst, s_out, z_out))
    assert_bit_exact(path, inputs=save_inputs(tmp_path, x), kernels=("ref",))


# int32 -> int8 / int16 on the dense int32 sample: in - in_zp wraps for large zero points, as TFLite's does.
FROM_INT32 = [
    ("int16", 1.0e-6, 1.0e-3, -5, 0),  # ratio 1e-3
    ("int16", 1.0e-9, 3.05e-5, 0, 0),  # an int32 accumulator rescaled to int16
    ("int16", 2.0**-20, 2.0**-20, 0, 0),  # equal scales: plain saturation
    ("int16", 0.5, 3.0e-3, 1000, 0),  # ratio > 1
    ("int16", 1.0, 1.0, INT32.max, 3),  # in - in_zp wraps
    ("int8", 1.0e-5, 0.7, -(2**31) + 5, 3),
    ("int8", 1.0e-7, 0.0173, 77, -128),
    ("int8", 2.0**29, 1.0, 0, 0),  # shift 30
]


@pytest.mark.parametrize(("dst", "s_in", "s_out", "z_in", "z_out"), FROM_INT32,
                         ids=[f"int32-{d}-{i}" for i, (d, *_) in enumerate(FROM_INT32)])
def test_requantize_from_int32(tmp_path, dst, s_in, s_out, z_in, z_out):
    x = every_value("int32")
    path = convert_model(tmp_path, "QUANTIZE", ("int32", s_in, z_in, x.size), (dst, s_out, z_out))
    assert_bit_exact(path, inputs=save_inputs(tmp_path, x), kernels=("ref",))
    assert_bit_exact(path, samples=20, kernels=("ref",))  # make_inputs: int32 edges and uniform draws


def test_quantize_float_to_uint8_and_dequantize_uint8(tmp_path):
    """float32 -> uint8, and float32 -> int16 with a non-zero zero point (TFLite's Prepare allows it);
    uint8 -> float32 at small, large and extreme scales."""
    vals = np.concatenate([(np.arange(-300, 300) + 0.5) * np.float32(0.021), RNG.normal(size=500) * 3,
                           [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30]]).astype(np.float32)
    path = convert_model(tmp_path, "QUANTIZE", ("float32", None, 0, vals.size), ("uint8", 0.021, 77), name="fu8")
    assert_bit_exact(path, inputs=save_inputs(tmp_path, vals), kernels=("ref",))
    wide = np.concatenate([vals, (np.arange(-33000, 33000, 7) + 0.5) * np.float32(0.021)]).astype(np.float32)
    path = convert_model(tmp_path, "QUANTIZE", ("float32", None, 0, wide.size), ("int16", 0.021, -300), name="f16")
    assert_bit_exact(path, inputs=save_inputs(tmp_path, wide, "wide.npy"), kernels=("ref",))
    x = every_value("uint8")
    for scale, zp in ((0.021, 77), (3.3e-9, 255), (7.1e30, 0)):
        path = convert_model(tmp_path, "DEQUANTIZE", ("uint8", scale, zp, x.size), ("float32", None, 0), name="u8f")
        assert_bit_exact(path, inputs=save_inputs(tmp_path, x), kernels=("ref",))


def chain_16_32_16(tmp_path, n: int = 2**16):
    """int16 -> QUANTIZE int32 -> QUANTIZE int16 (TFLM's "QUANTIZE from int16 to int32 and back") and an
    int8 -> int16 -> int32 -> int16 -> int8 chain beside it, sharing one graph: two int32 activations in the arena."""
    t = [
        tensor_spec((1, n), "int16", (3.05e-4, 0), name="x16"),
        tensor_spec((1, n), "int32", (1.0e-7, 5), name="a32"),
        tensor_spec((1, n), "int16", (2.5e-4, 0), name="y16"),
        tensor_spec((1, 256), "int8", (0.031, -9), name="x8"),
        tensor_spec((1, 256), "int16", (2.0e-4, 0), name="b16"),
        tensor_spec((1, 256), "int32", (3.0e-7, -77), name="b32"),
        tensor_spec((1, 256), "int16", (3.1e-4, 0), name="c16"),
        tensor_spec((1, 256), "int8", (0.05, 4), name="y8"),
    ]
    ops = [("QUANTIZE", [0], [1]), ("QUANTIZE", [1], [2]), ("QUANTIZE", [3], [4]), ("QUANTIZE", [4], [5]),
           ("QUANTIZE", [5], [6]), ("QUANTIZE", [6], [7])]
    path = tmp_path / "chain.tflite"
    path.write_bytes(graph_model(t, ops, [2, 7]))
    return path


def test_chain_int16_int32_int16(tmp_path):
    path = chain_16_32_16(tmp_path)
    g = generate_library(path, name="tq_model").graph
    assert [op.call.func for op in g.ops] == ["tq_requantize_s16_s32", "tq_requantize_s32_s16", "tq_requantize_s8_s16",
                                              "tq_requantize_s16_s32", "tq_requantize_s32_s16", "tq_requantize_s16_s8"]
    assert g.arena_size >= 4 * 2**16  # the int32 activation lives in the arena
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, every_value("int16").reshape(1, 1, -1), np.arange(-128, 128, dtype=np.int8).reshape(1, 1, -1))
    assert_bit_exact(path, inputs=inputs, kernels=("ref",))
    assert_bit_exact(path, samples=10, kernels=("ref",))


def test_refusals(tmp_path):
    """What TFLite's Prepare rejects, or leaves undefined, tinyq refuses by name."""
    def one(kind, src, dst):
        return refused(convert_model(tmp_path, kind, (*src, 8), dst, name="bad"))

    assert "int8 -> int32" in one("QUANTIZE", ("int8", 0.1, 0), ("int32", 0.1, 0))
    assert "int32 -> int32" in one("QUANTIZE", ("int32", 0.1, 0), ("int32", 0.2, 0))
    assert "int16 -> uint8" in one("QUANTIZE", ("int16", 0.1, 0), ("uint8", 0.2, 0))
    assert "no int32 kernel" in one("DEQUANTIZE", ("int32", 0.1, 0), ("float32", None, 0))
    assert "2^31 or more" in one("QUANTIZE", ("int32", 1.0, 0), ("int16", 2.0**-31, 0))
    assert "requires 0" in one("QUANTIZE", ("int16", 0.1, 3), ("int16", 0.2, 0))
    assert "requires 0" in one("DEQUANTIZE", ("int16", 0.1, 3), ("float32", None, 0))
    # A zero point outside its type is refused at import, before any operator sees it.
    with pytest.raises(BadInput, match="outside int8's range"):
        import_model(convert_model(tmp_path, "DEQUANTIZE", ("int8", 0.1, 2**25, 8), ("float32", None, 0), name="bad"))
    assert "converts between" in one("CAST", ("int64", None, 0), ("int32", None, 0))


# --------------------------------------------------------------------------- CAST

CAST_TYPES = ("int8", "uint8", "int16", "int32", "float32", "bool")


def cast_values(dtype: str) -> np.ndarray:
    """Boundary values of each cast from `dtype`: all 8- and 16-bit values; for int32 the dense sample
    with the float rounding ties; for float32 truncation, saturation and NaN cases."""
    if dtype == "int32":
        ties = np.array([2**24 + 1, 2**24 + 3, -(2**24) - 1, 2**25 + 2, 2**25 + 6, 2**31 - 65, 2**31 - 64, 2**31 - 63,
                         -(2**31) + 64, -(2**31) + 65, 16777217, 33554435], np.int64).astype(np.int32)
        return np.concatenate([every_value("int32"), ties])
    if dtype != "float32":
        return every_value(dtype)
    limits = [0.0, 0.5, 0.99999994, 1.0, 1.5, 2.5, 126.99, 127.0, 127.5, 127.99, 128.0, 128.5, 129.0, 254.99, 255.0,
              255.5, 256.0, 32766.5, 32767.0, 32767.5, 32768.0, 32768.5, 65535.0, 65536.0, 2147483520.0,
              2147483648.0, 2147483904.0, 3.0e9, 1e30, 3.4028235e38, np.inf, 1e-45, 1.1754944e-38]
    lim = np.array(limits, np.float32)
    with np.errstate(over="ignore"):  # the float above FLT_MAX is inf
        signed = np.concatenate([lim, -lim, np.nextafter(lim, np.float32(np.inf)), np.nextafter(lim, np.float32(-np.inf))])
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FC12345], np.uint32).view(np.float32)  # quiet, negative, signalling
    spread = np.concatenate([RNG.normal(size=500) * 100, RNG.normal(size=500) * 40000, RNG.normal(size=200) * 3e9])
    return np.concatenate([signed, nans, spread.astype(np.float32)]).astype(np.float32)


@pytest.mark.parametrize("src", CAST_TYPES)
def test_cast_every_pair(tmp_path, src):
    x = cast_values(src)
    inputs = save_inputs(tmp_path, x)
    for dst in CAST_TYPES:
        path = convert_model(tmp_path, "CAST", (src, None, 0, x.size), (dst, None, 0), name=f"cast_{src}_{dst}")
        r = assert_bit_exact(path, inputs=inputs, kernels=("ref",))
        assert r.max_abs_diff == 0, r.summary()


def test_cast_ignores_quantization_and_random_inputs(tmp_path):
    """cast.cc converts the stored values whatever the quantization; make_inputs' edges and draws for each
    input type (bool: 0 and 1; int32: the whole range)."""
    path = convert_model(tmp_path, "CAST", ("int8", 0.1, 3, 64), ("int16", 0.2, 0))
    assert_bit_exact(path, samples=5, kernels=("ref",))
    for src, dst in (("bool", "int32"), ("int32", "bool"), ("int32", "float32"), ("uint8", "bool")):
        assert_bit_exact(convert_model(tmp_path, "CAST", (src, None, 0, 64), (dst, None, 0), name=f"r_{src}_{dst}"),
                         samples=5, kernels=("ref",))


def bool_chain(tmp_path, n: int = 256):
    """int8 -> CAST bool -> CAST float32 and bool -> CAST int16: a bool activation in the arena."""
    t = [tensor_spec((1, n), "int8", name="x"), tensor_spec((1, n), "bool", name="b"),
         tensor_spec((1, n), "float32", name="f"), tensor_spec((1, n), "int16", name="h")]
    path = tmp_path / "bools.tflite"
    path.write_bytes(graph_model(t, [("CAST", [0], [1]), ("CAST", [1], [2]), ("CAST", [1], [3])], [2, 3]))
    return path


def test_bool_activation(tmp_path):
    path = bool_chain(tmp_path)
    assert_bit_exact(path, inputs=save_inputs(tmp_path, every_value("int8")), kernels=("ref",))


def embedding(tmp_path, n: int = 6, vocab: int = 20, dim: int = 8):
    """An embedding lookup as TensorFlow writes Keras 2's Embedding: float32 ids -> CAST int32 -> GATHER
    from a constant int8 table (Keras 3 adds LESS / ADD / SELECT for negative ids, see the report)."""
    table = RNG.integers(-128, 128, size=(vocab, dim)).astype(np.int8)
    t = [tensor_spec((1, n), "float32", name="ids"), tensor_spec((1, n), "int32", name="idx"),
         tensor_spec((vocab, dim), "int8", (0.01, 3), data=table, name="table"),
         tensor_spec((1, n, dim), "int8", (0.01, 3), name="emb")]
    path = tmp_path / "embedding.tflite"
    path.write_bytes(graph_model(t, [("CAST", [0], [1]), ("GATHER", [2, 1], [3])], [3]))
    return path


def embedding_ids(samples: int, n: int = 6, vocab: int = 20) -> np.ndarray:
    """Valid ids as floats: integers, fractions (truncated toward zero), -0.0 and values just below 0."""
    ids = RNG.integers(0, vocab, size=(samples, 1, n)).astype(np.float32)
    ids += RNG.choice(np.array([0.0, 0.25, 0.5, 0.999], np.float32), size=ids.shape)
    ids[0, 0, :4] = [-0.0, -0.5, np.float32(vocab) - np.float32(0.001), 0.0]
    return ids.astype(np.float32)


def test_cast_then_gather(tmp_path):
    path = embedding(tmp_path)
    g = generate_library(path, name="tq_model").graph
    assert [op.call.func for op in g.ops] == ["tq_cast", "tq_gather"]
    inputs = tmp_path / "ids.npy"
    np.save(inputs, embedding_ids(40))
    assert_bit_exact(path, inputs=inputs, kernels=("ref",))


# --------------------------------------------------------------------------- on a Cortex-M4F


@pytest.mark.parametrize("model", ["chain", "cast_f32_s32", "cast_s32_f32", "embedding"])
def test_qemu_m4(tmp_path, model):
    """Small versions on the board (the serial line carries a few kilobytes quickly): the FPU's conversions
    and the int32 wrap-around in Thumb-2 code."""
    from tinyq.checks.verify import verify_on_board

    if model == "chain":
        path = chain_16_32_16(tmp_path, n=512)
        inputs = tmp_path / "inputs.npz"
        x16 = np.concatenate([every_value("int16")[::128], [-32768, 32767]])[:512].astype(np.int16)
        np.savez(inputs, x16.reshape(1, 1, -1), np.arange(-128, 128, dtype=np.int8).reshape(1, 1, -1))
    elif model == "embedding":
        path = embedding(tmp_path)
        inputs = tmp_path / "ids.npy"
        np.save(inputs, embedding_ids(4))
    else:
        src, dst = ("float32", "int32") if model == "cast_f32_s32" else ("int32", "float32")
        x = cast_values(src)
        x = np.concatenate([x[:300], x[-50:]]) if src == "float32" else np.concatenate([x[:700], x[-12:]])
        path = convert_model(tmp_path, "CAST", (src, None, 0, x.size), (dst, None, 0), name=model)
        inputs = save_inputs(tmp_path, x)
    r = verify_on_board(path, "qemu-m4", inputs=inputs)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()
