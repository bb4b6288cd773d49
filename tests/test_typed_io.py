"""Models whose inputs and outputs are not all int8: int32 indices, bool masks, int16 and float32 values,
scalars (shape ()), several of each, through the generated API, the host harness and the serial
protocol (qemu-m4); Keras Embedding models (an int32 input); int32 ADD / SUB / MUL; the typed m-results
line; outputs larger than a protocol line; and uint8 models, refused in one line."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from .conftest import ROOT, run_tinyq
from .helpers import (
    BOTH_KERNELS,
    Net,
    assert_bit_exact,
    assert_one_line_failure,
    options,
)

INDEX_ROWS = 4  # rows of the GATHER table: the index input's valid range is [0, 4)


class BroadcastNet(Net):
    versions = {"BROADCAST_TO": 2}  # the version BUILTIN_REF runs


def mixed_model(path):
    """Six inputs (int8, int32 indices, bool, an int32 scalar, an int8 scalar, float32) and eleven outputs
    (int32 ARG_MAX first, int8, bool, int32, int16, float32, scalars among them); a scalar constant."""
    n = Net("int8")
    x = n.input([1, 6])
    idx = n.input([3], "int32", q=None)
    b = n.input([1, 6], "bool", q=None)
    s = n.input([], "int32", q=None)
    xs = n.input([], "int8")
    f = n.input([1, 6], "float32", q=None)
    am = n.tensor([1], "int32", q=None)
    n.add_op("ARG_MAX", [x, n.const(np.array([1], np.int32))], [am], options("ArgMaxOptionsT", outputType=2))
    table = n.const(np.arange(-12, 12, dtype=np.int8).reshape(INDEX_ROWS, 6), "int8", q=(0.05, -3))
    g = n.tensor([3, 6], "int8")
    n.add_op("GATHER", [table, idx], [g], options("GatherOptionsT", axis=0))
    neg = n.tensor([1, 6], "int8")
    n.add_op("NEG", [x], [neg])
    sel = n.tensor([1, 6], "int8")
    n.add_op("SELECT_V2", [b, x, neg], [sel])
    lt = n.tensor([3], "bool", q=None)
    n.add_op("LESS", [idx, s], [lt])
    nb = n.tensor([1, 6], "bool", q=None)
    n.add_op("LOGICAL_NOT", [b], [nb])
    total = n.tensor([3], "int32", q=None)
    n.add_op("ADD", [idx, s], [total], options("AddOptionsT"))
    ss = n.tensor([], "int32", q=None)
    n.add_op("ADD_N", [s, s, s], [ss])
    ge = n.tensor([], "bool", q=None)
    n.add_op("GREATER_EQUAL", [s, n.const(np.int32(2))], [ge])  # a scalar constant
    mx = n.tensor([1, 6], "int8")
    n.add_op("MAXIMUM", [x, xs], [mx])  # an int8 scalar broadcast
    q16 = n.tensor([1, 6], "int16", q=(0.002, 0))
    n.add_op("QUANTIZE", [x], [q16])
    fq = n.tensor([1, 6], "int8")
    n.add_op("QUANTIZE", [f], [fq])
    fd = n.tensor([1, 6], "float32", q=None)
    n.add_op("DEQUANTIZE", [fq], [fd])
    n.outputs = [am, g, sel, lt, nb, total, ss, ge, mx, q16, fd]
    return n.write(path)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return mixed_model(tmp_path_factory.mktemp("mixed") / "mixed.tflite")


# --------------------------------------------------------------------------- the host


@pytest.mark.parametrize("kernels", BOTH_KERNELS)
def test_mixed_types_and_scalars_bit_exact_on_the_host(mixed, kernels):
    assert_bit_exact(mixed, samples=20, kernels=(kernels,))


def test_generated_api_types_each_input_and_output(mixed, tmp_path):
    from tinyq.compiler import generate_library, write_library

    gen = generate_library(mixed, name="mixed")
    write_library(gen, tmp_path)
    h = (tmp_path / "mixed.h").read_text()
    want = ("int mixed_invoke(const int8_t *input0, const int32_t *input1, const uint8_t *input2, const int32_t *input3, "
            "const int8_t *input4, const float *input5, int32_t *output0, int8_t *output1, int8_t *output2, uint8_t *output3, "
            "uint8_t *output4, int32_t *output5, int32_t *output6, uint8_t *output7, int8_t *output8, int16_t *output9, "
            "float *output10);")
    assert want in h
    assert "#define MIXED_INPUT3_SIZE 1" in h and "#define MIXED_INPUT3_DIMS 0" in h  # the int32 scalar


def test_inputs_draw_valid_indices_and_small_plain_integers(mixed):
    from tinyq.checks.inputs import PLAIN_INT_RANGE, make_inputs, value_range
    from tinyq.compiler.pipeline import compile_tflite

    g = compile_tflite(mixed)
    t = [g.tensor(i) for i in g.inputs]
    assert value_range(g, t[1]) == (0, INDEX_ROWS - 1)  # GATHER's indices
    assert value_range(g, t[3]) == PLAIN_INT_RANGE  # a plain int32 scalar
    assert value_range(g, t[0]) == (-128, 127) and value_range(g, t[2]) == (0, 1)
    batch, edges = make_inputs(g, 50, seed=3)
    idx = np.stack([x[1] for x in batch])
    assert idx.min() == 0 and idx.max() == INDEX_ROWS - 1
    scalars = np.array([x[3] for x in batch])
    assert scalars.shape == (53,) and scalars.min() >= PLAIN_INT_RANGE[0] and scalars.max() <= PLAIN_INT_RANGE[1]
    assert {x[2].dtype for x in batch} == {np.dtype(bool)}


def test_an_input_the_model_rejects_names_the_input(mixed, tmp_path):
    arrays = [np.zeros((1, 1, 6), np.int8), np.array([[0, 4, 1]], np.int32), np.zeros((1, 1, 6), bool),  # index 4: out of range
              np.zeros(1, np.int32), np.zeros(1, np.int8), np.zeros((1, 1, 6), np.float32)]
    np.savez(tmp_path / "bad.npz", **{f"in{k}": a for k, a in enumerate(arrays)})
    r = run_tinyq("verify", mixed, "--inputs", tmp_path / "bad.npz")
    assert_one_line_failure(r, "input 1", "reference interpreter fails on this input", "indices within their axis")


# --------------------------------------------------------------------------- int32 ADD, SUB, MUL


def int32_arith_model(path, kind: str, fused: int, shapes):
    n = Net("int32", quant={"int32": None})
    a, b = n.input(shapes[0]), n.input(shapes[1])
    y = n.tensor(np.broadcast_shapes(*shapes))
    opts = {"ADD": "AddOptionsT", "SUB": "SubOptionsT", "MUL": "MulOptionsT"}[kind]
    n.add_op(kind, [a, b], [y], options(opts, fusedActivationFunction=fused))
    n.outputs = [y]
    return n.write(path)


@pytest.mark.parametrize("kind", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize(("fused", "shapes"), [(0, ([2, 3], [2, 3])), (1, ([2, 1, 3], [4, 1])), (3, ([5], [])), (2, ([1, 3], [2, 1]))])
def test_int32_arithmetic_bit_exact(tmp_path, kind, fused, shapes):
    path = int32_arith_model(tmp_path / f"{kind}.tflite", kind, fused, shapes)
    assert_bit_exact(path, samples=10, kernels=("ref",))
    # Extremes, where sums and products wrap as the reference's do.
    rng = np.random.default_rng(1)
    edge = np.array([-(2**31), 2**31 - 1, -1, 0, 1, 65536, -65537], np.int64)
    arrays = {f"in{k}": rng.choice(edge, size=(8, *s)).astype(np.int32) for k, s in enumerate(shapes)}
    np.savez(tmp_path / "edges.npz", **arrays)
    assert_bit_exact(path, inputs=tmp_path / "edges.npz", kernels=("ref",))


# --------------------------------------------------------------------------- Keras Embedding


@pytest.fixture(scope="module")
def embedding(tmp_path_factory):
    import keras

    from tinyq.quant.convert import convert_keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(inp)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(3)(x))
    calib = np.random.default_rng(0).integers(0, 10, (16, 5)).astype(np.int32)
    path = tmp_path_factory.mktemp("embedding") / "embedding.tflite"
    path.write_bytes(convert_keras(model, [calib]))
    return path


def test_embedding_converts_with_an_int32_input(embedding):
    from tinyq.compiler.importer import import_model

    g = import_model(embedding)
    assert [g.tensor(i).dtype for i in g.inputs] == ["int32"] and [g.tensor(i).dtype for i in g.outputs] == ["int8"]
    assert {"GATHER", "ADD"} <= {op.kind for op in g.ops}  # the converter's negative-index wrap: LESS, ADD, SELECT


def test_embedding_bit_exact_on_the_host(embedding, tmp_path):
    assert_bit_exact(embedding, samples=20, kernels=BOTH_KERNELS)
    # Negative indices (the converter wraps them: -1 is the last row) and the edges of the range.
    np.save(tmp_path / "idx.npy", np.array([[-10, -1, 0, 9, -5], [3, -3, 1, -7, 2]], np.int32))
    assert_bit_exact(embedding, inputs=tmp_path / "idx.npy", kernels=("ref",))


# --------------------------------------------------------------------------- uint8 models


def test_a_uint8_model_is_refused_in_one_line(tmp_path):
    n = Net("uint8", quant={"uint8": (0.05, 128)})
    x = n.input([1, 4, 4, 2])
    y = n.tensor([1, 4, 4, 2])
    n.add_op("ADD", [x, x], [y], options("AddOptionsT"))
    n.outputs = [y]
    path = n.write(tmp_path / "u8.tflite")
    for verb in ("verify", "generate"):
        args = (verb, path) if verb == "verify" else (verb, path, "-o", tmp_path / "out")
        r = run_tinyq(*args)
        assert_one_line_failure(r, "uint8 model", "tinyq convert")


# --------------------------------------------------------------------------- the protocol: m-results on the host

TYPES = {"int8": 0, "int16": 1, "int32": 2, "float32": 3, "bool": 4, "uint8": 5, "int64": 6}
RESULTS = [
    ("int8", 0.5, -2, np.array([-128, 0, 127, -2], np.int8), "-63.000,1.000,64.500,0.000"),
    ("int16", 0.25, 0, np.array([-32768, 1, 32767], np.int16), "-8192.000,0.250,8191.750"),
    ("int32", 0.0, 0, np.array([0, -5, 2**31 - 1, -(2**31)], np.int32), "0,-5,2147483647,-2147483648"),  # ARG_MAX's
    ("int32", 0.001, 10, np.array([1010, 10], np.int32), "1.000,0.000"),
    ("bool", 0.0, 0, np.array([0, 1, 0], np.uint8), "0,1,0"),
    ("float32", 0.0, 0, np.array([1.5, -0.25, 1000.125], np.float32), "1.500,-0.250,1000.125"),
    ("uint8", 0.5, 128, np.array([0, 128, 255], np.uint8), "-64.000,0.000,63.500"),
    ("int64", 0.0, 0, np.array([5, -7], np.int64), "5,-7"),
]


@pytest.mark.parametrize(("dtype", "scale", "zp", "values", "want"), RESULTS, ids=[f"{r[0]}-{i}" for i, r in enumerate(RESULTS)])
def test_results_print_each_element_type(tmp_path, dtype, scale, zp, values, want):
    gcc = shutil.which("gcc")
    assert gcc, "the host gcc is missing: `apt-get install gcc`"
    fw = ROOT / "firmware"
    (tmp_path / "tq_board.h").write_text("/* the harness's board: nothing */\n")
    exe = tmp_path / "harness"
    r = subprocess.run(
        [gcc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-g", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", f"-DRESULTS_COUNT={values.size}u", f"-DRESULTS_TYPE={TYPES[dtype]}",
         f"-DRESULTS_SCALE={scale!r}f", f"-DRESULTS_ZERO_POINT={zp}", f"-I{tmp_path}", f"-I{fw / 'protocol'}",
         f"-I{fw / 'hal'}", str(ROOT / "tests" / "protocol_results_harness.c"), str(fw / "protocol" / "tq_protocol.c"),
         "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe), values.tobytes().hex()], capture_output=True, text=True, check=True).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith("m-results-")]
    assert lines == [f"m-results-[{want}]"], out


def test_out_chunk_is_the_firmwares():
    from tinyq.device.protocol import OUT_CHUNK

    header = (ROOT / "firmware" / "protocol" / "tq_protocol.h").read_text()
    assert re.search(rf"#define TQ_OUT_CHUNK {OUT_CHUNK}u\b", header)


def test_output_lines_are_joined():
    from tinyq.device.protocol import _joined

    lines = ["m-tq-cycles-5", "m-tq-out-[0102]", "m-tq-out-[03]", "m-tq-out-[ff]"]
    assert _joined(lines, "m-tq-out", "tq-infer", "port") == "010203ff"


# --------------------------------------------------------------------------- qemu-m4


@pytest.fixture(scope="module")
def mixed_m4(mixed, tmp_path_factory):
    from tinyq.boards import get_board
    from tinyq.build.firmware import build

    return build(mixed, get_board("qemu-m4"), tmp_path_factory.mktemp("mixed-m4") / "build")


def test_mixed_types_bit_exact_on_qemu_m4(mixed_m4):
    from tinyq.checks.profile import run_on_device

    run = run_on_device(mixed_m4.out_dir, runs=5, edges=True, built=mixed_m4)
    assert run.samples == 8 and run.mismatches == 0 and run.differing == 0


def test_results_line_prints_the_int32_index_on_qemu_m4(mixed_m4, mixed):
    from tinyq.boards import get_board
    from tinyq.checks.inputs import make_inputs
    from tinyq.checks.reference import Reference
    from tinyq.device import open_device

    g = mixed_m4.graph
    sample = make_inputs(g, 1, seed=7)[0][-1]
    want = Reference(mixed).run(sample, list(g.inputs), [g.outputs[0]])[0].reshape(-1)
    with open_device(mixed_m4.out_dir, get_board("qemu-m4")) as dut:
        dut.load(mixed_m4.manifest.pack_inputs(sample))
        lines = dut.command("infer 1 0", timeout=60)
    results = [ln for ln in lines if ln.startswith("m-results-")]
    assert results == [f"m-results-[{int(want[0])}]"], lines


def test_output_larger_than_a_protocol_line_on_qemu_m4(tmp_path):
    """A 48 KiB int8 output: 96 KiB of hex, beyond the host's 64 KiB line, comes as 12 m-tq-out lines."""
    from tinyq.checks.verify import verify_on_board

    n = BroadcastNet("int8")
    x = n.input([1, 64])
    y = n.tensor([768, 64])
    n.add_op("BROADCAST_TO", [x, n.const(np.array([768, 64], np.int32))], [y])
    n.outputs = [y]
    path = n.write(tmp_path / "big.tflite")
    res = verify_on_board(path, "qemu-m4", samples=1)
    assert res.bit_exact and res.samples == 4, res.summary()
