"""Unary math ops (EXP, LOG, SQRT, RSQRT, SQUARE, GELU, LOG_SOFTMAX) against TFLite's reference interpreter.

Three levels, cheapest first:
- the tables the lowerings build at generation time (int8: 256 entries; int16: 513, read through
  TFLite's interpolation) against the interpreter on every input value, over many input / output
  quantizations, edge scales included (EXP's float overflow, saturation, tiny and large scales);
- single-op models through the generated C on the host (verify_tflite with every int8 value, every
  int16 value, LOG_SOFTMAX rows of several lengths);
- Keras models (keras.ops.exp / log / sqrt / rsqrt / square / log_softmax, keras.activations.gelu)
  converted to int8, int16x8 and float32, on the host, and a few on qemu-m4.

The converter emits GELU as one GELU op (approximate False and True alike, in every mode; no
decomposition), and the softplus that feeds LOG a positive input as EXP, ADD, LOG. RSQRT is fed an
EXP: int16 LOG's table can give -1 just above log(1) (its midpoint correction), and TFLite's RSQRT
stops on a negative input. It leaves a quantized SQUARE in float32 and cannot quantize
SQRT or LOG_SOFTMAX to int16x8: those int16 kernels are checked on single-op models only.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinyq.checks.match import FLOAT_TOLERANCE
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler import compile_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel

from .helpers import op_kinds, ref_interpreter, single_op_model, write_tflite

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def gelu_options(approximate: bool):
    from ai_edge_litert import schema_py_generated as s

    o = s.GeluOptionsT()
    o.approximate = approximate
    return o, s.BuiltinOptions.GeluOptions


def _options(kind: str):
    """(kind in TFLite, its options) for a case name: GELU_APPROX is GELU with approximate = true."""
    if kind.startswith("GELU"):
        return "GELU", gelu_options(kind == "GELU_APPROX")
    return kind, (None, 0)


def _model(kind: str, shape, in_q, out_q, dtype: str = "INT8") -> bytes:
    op, opts = _options(kind)
    return single_op_model(op, shape, in_q, out_q, *opts, dtype=dtype)


def _reference(model: bytes, x: np.ndarray) -> np.ndarray:
    it = ref_interpreter(model)
    it.set_tensor(it.get_input_details()[0]["index"], x.reshape(it.get_input_details()[0]["shape"]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).reshape(-1)


def _call(tmp_path, model: bytes):
    """The one lowered call of a single-op model."""
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    return compile_graph(import_model(path)).ops[0].call


def lut_s16_lookup(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """TFLite's LUTLookup(int16_t, lut): entry 256 + (x >> 7), interpolated by the low 7 bits."""
    x = x.astype(np.int32)
    i = 256 + (x >> 7)
    base = table[i].astype(np.int32)
    slope = (table[i + 1].astype(np.int32) - base).astype(np.int16).astype(np.int32)
    return (base + ((slope * (x & 0x7F) + 64) >> 7)).astype(np.int16)


def _first_mismatch(got: np.ndarray, want: np.ndarray, x: np.ndarray) -> str:
    bad = np.nonzero(got != want)[0]
    return "" if bad.size == 0 else f"{bad.size} differ, first at input {int(x[bad[0]])}: got {int(got[bad[0]])}, want {int(want[bad[0]])}"


def _valid_inputs(kind: str, x: np.ndarray, zp: int) -> np.ndarray:
    """The inputs the interpreter accepts: SQRT and RSQRT stop with an error below the zero point."""
    return x[x >= zp] if kind in ("SQRT", "RSQRT") else x


# --------------------------------------------------------------------------- int8 tables, every input

TABLE_KINDS = ["EXP", "LOG", "GELU", "GELU_APPROX", "SQRT", "RSQRT"]

# (input scale, zero point), (output scale, zero point): edges first, then random ones per op.
EDGE_QUANT = [
    ((1.0 / 16, -128), (1.0 / 256, -128)),
    ((1e-6, 0), (1e-6, 0)),  # tiny scales: EXP and RSQRT saturate at 127
    ((10.0, 5), (100.0, -100)),  # EXP overflows float32 (inf): the interpreter's table saturates at 127
    ((0.5, 127), (0.002, 127)),  # one valid SQRT / RSQRT input (the zero point)
    ((0.0784313753247261, -1), (0.023529412224888802, -128)),
    ((3.0, -128), (0.25, 0)),
]


def _random_quant(seed: int, n: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        in_q = (float(np.float32(10 ** rng.uniform(-3.5, 0.7))), int(rng.integers(-128, 128)))
        out_q = (float(np.float32(10 ** rng.uniform(-3.5, 0.7))), int(rng.integers(-128, 128)))
        out.append((in_q, out_q))
    return out


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_int8_table_equals_interpreter(tmp_path, kind):
    """The generated 256-entry table against the interpreter on every int8 value, 6 edge and 24 random
    quantizations."""
    cases = EDGE_QUANT + _random_quant(TABLE_KINDS.index(kind), 24)
    for in_q, out_q in cases:
        model = _model(kind, (1, 256), in_q, out_q)
        call = _call(tmp_path, model)
        assert call.func == "tq_lut_s8"
        table = call.arrays[0].values
        x = _valid_inputs(kind, ALL_INT8, in_q[1])
        want = _reference(_model(kind, (1, x.size), in_q, out_q), x)
        got = table[x.view(np.uint8)]
        assert not _first_mismatch(got, want, x), f"{kind} in {in_q} out {out_q}: {_first_mismatch(got, want, x)}"


def test_exp_overflow_saturates(tmp_path):
    """Where expf overflows (or exceeds int32), the interpreter's table holds 127: the conversion to
    int32 saturates in its build, and tinyq's table does the same."""
    table = _call(tmp_path, _model("EXP", (1, 256), (10.0, 5), (100.0, -100))).arrays[0].values
    assert table[127] == 127 and table[(5 + 9) & 0xFF] == 127  # exp(1220) = inf; exp(90) = inf in float32


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_int8_every_input_on_host(tmp_path, kind):
    """The generated C on the host, every int8 value (the valid ones for SQRT / RSQRT), three quantizations."""
    for k, (in_q, out_q) in enumerate([EDGE_QUANT[0], EDGE_QUANT[4], _random_quant(50 + TABLE_KINDS.index(kind), 1)[0]]):
        x = _valid_inputs(kind, ALL_INT8, in_q[1])
        path = tmp_path / f"{kind}{k}.tflite"
        path.write_bytes(_model(kind, (1, x.size), in_q, out_q))
        data = tmp_path / f"{kind}{k}.npy"
        np.save(data, x.reshape(1, 1, -1))
        r = verify_tflite(path, samples=0, inputs=data)
        assert r.samples == 1 and r.bit_exact, f"{kind} in {in_q} out {out_q}: {r.summary()}"


def test_lowering_params(tmp_path):
    """Spot checks of generated values against hand-derived ones."""
    exp = _call(tmp_path, _model("EXP", (1, 4), (0.1, 0), (0.1, -128))).arrays[0].values
    assert exp[0] == -118 and exp[10] == round(np.e / 0.1) - 128  # exp(0) = 1 = 10 steps; exp(1) = 27.18 steps
    sqrt = _call(tmp_path, _model("SQRT", (1, 4), (0.25, 0), (0.5, 0))).arrays[0].values
    assert sqrt[16] == 4 and sqrt[15] == 3  # sqrt(16 * 0.25) / 0.5 = 4; sqrt(3.75) / 0.5 = 3.87 truncates to 3
    rsqrt = _call(tmp_path, _model("RSQRT", (1, 4), (0.25, 0), (1.0 / 64, 0))).arrays[0].values
    assert rsqrt[0] == 127 and rsqrt[4] == 64 and rsqrt[16] == 32  # 1 / sqrt(0): max; 1 / sqrt(1) = 64 steps
    p = _call(tmp_path, _model("LOG_SOFTMAX", (1, 10), (0.1, 0), (16.0 / 256, 127))).params
    # 0.1 * 2^26 = 6710886.4 = 0.8 * 2^23
    assert p["input_left_shift"] == 23 and p["diff_min"] == -((31 << 26) >> 23) and p["reverse_shift"] <= 0
    assert abs(p["input_multiplier"] / 2.0**31 * 2.0**23 - 0.1 * 2**26) < 1
    # The reverse multiplier is 2^(31 - 23) / input_multiplier: their product is 2^8.
    product = p["input_multiplier"] * p["reverse_multiplier"] * 2.0 ** (p["reverse_shift"] - 31)
    assert abs(product / 2**8 - 1) < 1e-8


# --------------------------------------------------------------------------- int16 tables, every input

LUT16_KINDS = ["EXP", "LOG", "RSQRT", "GELU", "GELU_APPROX"]
# (input scale, output scale), zero points 0: the converter's kind of scales, and edges.
QUANT16 = [
    (8.0 / 32767, 8.0 / 32767),
    (3.0 / 32768, 20.0 / 32768),
    (1e-5, 1e-4),
    (2.0**-10, 2.0**-12),
    (0.01, 0.5),  # EXP overflows float32 over most of the upper half: NaN entries (inf - inf) are 0
    (1e-7, 3e-6),
]


@pytest.mark.parametrize("kind", LUT16_KINDS)
def test_int16_table_equals_interpreter(tmp_path, kind):
    """The generated 513-entry table, read through TFLite's interpolation, against the interpreter on
    every int16 value (the non-negative ones for RSQRT), over the scales above and 4 random ones."""
    rng = np.random.default_rng(LUT16_KINDS.index(kind))
    cases = QUANT16 + [(float(np.float32(10 ** rng.uniform(-5, -1))), float(np.float32(10 ** rng.uniform(-5, -1)))) for _ in range(4)]
    for in_s, out_s in cases:
        call = _call(tmp_path, _model(kind, (1, 8), (in_s, 0), (out_s, 0), dtype="INT16"))
        assert call.func == "tq_lut_s16" and call.arrays[0].values.size == 513
        x = _valid_inputs(kind, ALL_INT16, 0)
        want = _reference(_model(kind, (1, x.size), (in_s, 0), (out_s, 0), dtype="INT16"), x)
        got = lut_s16_lookup(x, call.arrays[0].values)
        assert not _first_mismatch(got, want, x), f"{kind} in {in_s!r} out {out_s!r}: {_first_mismatch(got, want, x)}"


def test_int16_gelu_takes_zero_points(tmp_path):
    """GeluPrepare does not require symmetric int16: the table covers the range around the zero point."""
    for in_q, out_q in [((1e-3, 1000), (1e-3, 0)), ((5e-4, -20000), (2e-4, 300))]:
        for kind in ("GELU", "GELU_APPROX"):
            table = _call(tmp_path, _model(kind, (1, 8), in_q, out_q, dtype="INT16")).arrays[0].values
            want = _reference(_model(kind, (1, 65536), in_q, out_q, dtype="INT16"), ALL_INT16)
            got = lut_s16_lookup(ALL_INT16, table)
            assert not _first_mismatch(got, want, ALL_INT16), f"{kind} {in_q} {out_q}: {_first_mismatch(got, want, ALL_INT16)}"


@pytest.mark.parametrize("kind,in_s,out_s", [
    ("EXP", 3.0 / 32768, 20.0 / 32768),
    ("LOG", 8.0 / 32767, 4.0 / 32767),
    ("RSQRT", 1e-3, 1e-3),
    ("GELU", 4.0 / 32767, 4.0 / 32767),
    ("GELU_APPROX", 4.0 / 32767, 4.0 / 32767),
    ("SQRT", 8.0 / 32767, 3.0 / 32767),
    ("SQRT", 1e-5, 1e-3),
    ("SQRT", 0.5, 1.0 / 256),
])
def test_int16_every_input_on_host(tmp_path, kind, in_s, out_s):
    """The generated C on the host on every int16 value (non-negative for SQRT, RSQRT: TFLite stops below 0)."""
    x = _valid_inputs(kind, ALL_INT16, 0)
    path = tmp_path / "m.tflite"
    path.write_bytes(_model(kind, (1, x.size), (in_s, 0), (out_s, 0), dtype="INT16"))
    data = tmp_path / "x.npy"
    np.save(data, x.reshape(1, 1, -1))
    r = verify_tflite(path, samples=0, inputs=data)
    assert r.samples == 1 and r.bit_exact, f"{kind} in {in_s!r} out {out_s!r}: {r.summary()}"


# --------------------------------------------------------------------------- LOG_SOFTMAX


def log_softmax_rows(depth: int, n: int, seed: int) -> np.ndarray:
    """Rows with one maximum and the rest at every distance below it, flat rows, random rows, rows near their maximum."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(0, 256, 3):
        r = np.full(depth, 127 - d)
        r[(d * 7) % depth] = 127
        rows.append(r)
    rows += [np.full(depth, -128), np.full(depth, 127), np.full(depth, 0)]
    while len(rows) < n:
        if rng.random() < 0.5:
            rows.append(rng.integers(-128, 128, depth))
        else:
            rows.append(127 - rng.integers(0, int(rng.integers(1, 48)), depth) - int(rng.integers(0, 100)))
    return np.clip(np.array(rows[:n]), -128, 127).astype(np.int8)


LOG_SOFTMAX = [
    # input scale, zero point, depth
    (0.1, 3, 10),
    (0.14469251036643982, 14, 12),
    (0.0039, -3, 7),
    (0.0625, 0, 2),
    (0.9, -50, 37),  # large scale: diff_min cuts most of the row
    (3.7, 100, 5),
    (0.011, 64, 256),
    (0.05, -20, 1),
    (1e-4, 0, 1000),  # small scale: a long row's sum is large
]


@pytest.mark.parametrize("scale,zp,depth", LOG_SOFTMAX)
def test_log_softmax_rows(tmp_path, scale, zp, depth):
    rows = 120
    data = log_softmax_rows(depth, 2 * rows, seed=depth).reshape(2, rows, depth)
    path = tmp_path / "m.tflite"
    path.write_bytes(_model("LOG_SOFTMAX", (1, rows, depth), (scale, zp), (16.0 / 256, 127)))
    np.save(tmp_path / "x.npy", data)
    r = verify_tflite(path, samples=0, inputs=tmp_path / "x.npy")
    assert r.samples == 2 and r.bit_exact, f"scale {scale} depth {depth}: {r.summary()}"


def test_log_softmax_longest_row(tmp_path):
    """4095 elements, the most the Q12.19 sum of exponentials holds, 4000 of them at the maximum."""
    depth = 4095
    rng = np.random.default_rng(7)
    a = np.full(depth, -128)
    a[rng.permutation(depth)[:4000]] = 127
    data = np.stack([a, rng.integers(-128, 128, depth)]).astype(np.int8).reshape(1, 2, depth)
    path = tmp_path / "m.tflite"
    path.write_bytes(_model("LOG_SOFTMAX", (1, 2, depth), (1.0, 0), (16.0 / 256, 127)))
    np.save(tmp_path / "x.npy", data)
    r = verify_tflite(path, samples=0, inputs=tmp_path / "x.npy")
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kind,shape,in_q,out_q,dtype,words", [
    ("SQUARE", (1, 8), (0.1, 0), (0.1, 0), "INT8", "no int8 SQUARE kernel"),
    ("SQUARE", (1, 8), (0.1, 0), (0.1, 0), "INT16", "no int16 SQUARE kernel"),
    ("LOG_SOFTMAX", (1, 8), (0.1, 0), (1.0 / 32768, 0), "INT16", "no int16 LOG_SOFTMAX kernel"),
    ("LOG_SOFTMAX", (1, 8), (0.1, 0), (1.0 / 256, -128), "INT8", "TFLite requires 16/256 and 127"),
    ("LOG_SOFTMAX", (1, 5000), (0.1, 0), (16.0 / 256, 127), "INT8", "at most 4095"),
    ("LOG_SOFTMAX", (1, 8), (1e-9, 0), (16.0 / 256, 127), "INT8", "cannot be applied"),
    ("RSQRT", (1, 8), (1e-8, -128), (1e-6, 0), "INT8", "overflows int32"),
    ("SQRT", (1, 8), (1e4, -128), (1e-7, 0), "INT8", "beyond int32"),
    ("SQRT", (1, 8), (1e4, 0), (1e-7, 0), "INT16", "beyond int32"),
    ("EXP", (1, 8), (0.1, 3), (0.1, 0), "INT16", "zero point 3"),
])
def test_refusals(tmp_path, kind, shape, in_q, out_q, dtype, words):
    """What TFLite's reference cannot run, or runs through undefined int32 arithmetic, fails at generation."""
    with pytest.raises(UnsupportedModel, match=words):
        _call(tmp_path, _model(kind, shape, in_q, out_q, dtype=dtype))


# --------------------------------------------------------------------------- Keras models


def _keras_body(name: str):
    import keras
    from keras import layers, ops

    def positive(x):  # softplus: the converter writes it as EXP, ADD, LOG
        return layers.Dense(8, activation="softplus")(x)

    return {
        "exp": lambda x: layers.Lambda(ops.exp)(layers.Dense(8)(x)),
        "log": lambda x: layers.Lambda(ops.log)(positive(x)),
        "sqrt": lambda x: layers.Lambda(ops.sqrt)(layers.Dense(8, activation="relu")(x)),
        "rsqrt": lambda x: layers.Lambda(lambda t: ops.rsqrt(ops.exp(t)))(layers.Dense(8)(x)),
        "square": lambda x: layers.Lambda(ops.square)(layers.Dense(8)(x)),
        "gelu": lambda x: layers.Lambda(lambda t: keras.activations.gelu(t, approximate=False))(layers.Dense(8)(x)),
        "gelu_approx": lambda x: layers.Lambda(lambda t: keras.activations.gelu(t, approximate=True))(layers.Dense(8)(x)),
        "log_softmax": lambda x: layers.Lambda(lambda t: ops.log_softmax(t, axis=-1))(layers.Dense(8)(x)),
    }[name]


KERAS_KIND = {"exp": "EXP", "log": "LOG", "sqrt": "SQRT", "rsqrt": "RSQRT", "square": "SQUARE", "gelu": "GELU",
              "gelu_approx": "GELU", "log_softmax": "LOG_SOFTMAX"}
KERAS_CASES = [
    *[(n, "int8") for n in ("exp", "log", "sqrt", "rsqrt", "gelu", "gelu_approx", "log_softmax")],
    *[(n, "int16x8") for n in ("exp", "log", "rsqrt", "gelu", "gelu_approx")],
    *[(n, "float") for n in KERAS_KIND],
]


def _keras_model(tmp_path, name: str, mode: str):
    import keras

    keras.utils.set_random_seed(sorted(KERAS_KIND).index(name))
    inp = keras.Input((6,))
    model = keras.Model(inp, _keras_body(name)(inp))
    calib = np.random.default_rng(1).standard_normal((16, 6)).astype(np.float32) * 2.0
    return write_tflite(tmp_path, f"{name}_{mode}", model, [calib] if mode != "float" else None, mode=mode)


@pytest.mark.parametrize("name,mode", KERAS_CASES, ids=[f"{n}-{m}" for n, m in KERAS_CASES])
def test_keras_model(tmp_path, name, mode):
    path = _keras_model(tmp_path, name, mode)
    g = import_model(path)
    kind = KERAS_KIND[name]
    assert kind in [op.kind for op in g.ops], f"the converter did not emit {kind}: {op_kinds(path)}"
    gelu = [op for op in g.ops if op.kind == "GELU"]
    assert all(bool(op.options.approximate) == (name == "gelu_approx") for op in gelu)
    r = verify_tflite(path, samples=30)
    if mode == "float":
        assert r.tolerance == FLOAT_TOLERANCE and r.passed and r.max_abs_diff <= FLOAT_TOLERANCE, r.summary()
    else:
        assert r.bit_exact, r.summary()


def test_keras_square_float_island(tmp_path):
    """The converter leaves an int8 model's SQUARE in float32 (TFLite has no int8 SQUARE): tinyq compiles
    that DEQUANTIZE -> SQUARE -> QUANTIZE island to a table, bit-exact."""
    path = _keras_model(tmp_path, "square", "int8")
    assert "SQUARE" in op_kinds(path)
    g = compile_tflite(path)
    assert "FLOAT_ISLAND" in [op.kind for op in g.ops] and "SQUARE" not in [op.kind for op in g.ops]
    r = verify_tflite(path, samples=30)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- on qemu-m4


def _all_ops_keras(int16: bool):
    """One model holding every op its mode converts: GELU (both forms), EXP, LOG after a softplus,
    RSQRT after an EXP, and for int8 SQRT after a ReLU and a LOG_SOFTMAX at the end."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(3)
    x = keras.Input((6,))
    pos = layers.Dense(10, activation="softplus")(x)
    # Each GELU on a tensor of its own: the converter fuses erf / tanh forms into GELU only there.
    branches = [
        layers.Lambda(lambda t: keras.activations.gelu(t, approximate=False))(layers.Dense(10)(x)),
        layers.Lambda(lambda t: keras.activations.gelu(t, approximate=True))(layers.Dense(10)(x)),
        layers.Lambda(ops.exp)(layers.Dense(10)(x)),
        layers.Lambda(ops.log)(pos),
        layers.Lambda(lambda t: ops.rsqrt(ops.exp(t)))(layers.Dense(10)(x)),
    ]
    if not int16:
        branches.append(layers.Lambda(ops.sqrt)(layers.Dense(10, activation="relu")(x)))
    y = layers.Dense(12)(layers.Concatenate()(branches))
    if not int16:
        y = layers.Lambda(lambda t: ops.log_softmax(t, axis=-1))(y)
    return keras.Model(x, y)


@pytest.mark.parametrize("mode", ["int8", "int16x8", "float"])
def test_qemu_m4(tmp_path, mode):
    """Every op the mode converts, in one model, bit-exact on the Cortex-M4 (float32: within the
    tolerance, newlib's expf / logf / tanhf / erfcf against glibc's and Eigen's)."""
    calib = np.random.default_rng(2).standard_normal((16, 6)).astype(np.float32) * 2.0
    path = write_tflite(tmp_path, mode, _all_ops_keras(mode == "int16x8"), [calib] if mode != "float" else None, mode=mode)
    kinds = set(op_kinds(path))
    assert {"GELU", "EXP", "LOG", "RSQRT"} <= kinds and (mode == "int16x8" or {"SQRT", "LOG_SOFTMAX"} <= kinds), kinds
    assert verify_tflite(path, samples=10).passed
    r = verify_on_board(path, "qemu-m4", samples=5)
    assert r.passed, r.summary()
    if mode != "float":
        assert r.bit_exact, r.summary()


def test_int16_sqrt_on_qemu_m4(tmp_path):
    """tq_sqrt_s16's float32 arithmetic on the M4's FPU (VSQRT, VDIV) against the interpreter, 4096 inputs."""
    x = np.arange(0, 32768, 8, dtype=np.int16)
    path = tmp_path / "sqrt16.tflite"
    path.write_bytes(_model("SQRT", (1, x.size), (8.0 / 32767, 0), (3.0 / 32767, 0), dtype="INT16"))
    np.save(tmp_path / "x.npy", x.reshape(1, 1, -1))
    r = verify_on_board(path, "qemu-m4", inputs=tmp_path / "x.npy")
    assert r.samples == 1 and r.bit_exact, r.summary()
