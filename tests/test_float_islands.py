"""Float islands (tinyq/compiler/islands.py): where TensorFlow's converter leaves an elementwise op in float
between integer tensors (DEQUANTIZE -> NEG / ELU / SIN ... -> QUANTIZE), tinyq compiles the island to a table
filled by TFLite's interpreter on every input value (256 entries from int8, 65,536 from int16).

Keras models (converted once per module, int8 and int16x8 where they convert): NEG (keras.ops.negative), a
SIN -> SQUARE chain, ELU, LayerNormalization, MultiHeadAttention (sequence 8, width 16, 2 heads) and a
transformer block of both, each compiled and bit-exact on the host over seeded random inputs; two on qemu-m4.
Hand-written islands (the schema module): several ops in one island (scalar constants, a comparison and a
SELECT on bool values, a product of two values of the island), int8 -> int16 and int16 -> int8 tables, and
the float sets that are not islands (a non-elementwise op, a constant that differs per element, two integer
sources), refused in one line.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from .conftest import run_tinyq
from .helpers import (
    Net,
    assert_bit_exact,
    assert_one_line_failure,
    options,
    randomize_weights,
    tinyq_main,
    write_tflite,
)

L = keras.layers
SEQ, WIDTH = 8, 16


def _dense_around(f):
    def build():
        inp = keras.Input((SEQ, WIDTH))
        return keras.Model(inp, L.Dense(WIDTH)(f(L.Dense(WIDTH)(inp))))

    return build


def _lambda(f):
    return _dense_around(lambda x: L.Lambda(f)(x))


def _layer_norm():
    inp = keras.Input((SEQ, WIDTH))
    return keras.Model(inp, L.Dense(8)(L.LayerNormalization()(L.Dense(WIDTH)(inp))))


def _mha():
    inp = keras.Input((SEQ, WIDTH))
    return keras.Model(inp, L.MultiHeadAttention(num_heads=2, key_dim=WIDTH // 2)(inp, inp))


def _transformer():
    inp = keras.Input((SEQ, WIDTH))
    x = L.LayerNormalization()(inp + L.MultiHeadAttention(num_heads=2, key_dim=WIDTH // 2)(inp, inp))
    h = L.Dense(WIDTH, activation="gelu")(L.Dense(2 * WIDTH, activation="relu")(x))
    return keras.Model(inp, L.LayerNormalization()(x + h))


# name -> (builder, modes, the float ops the converter leaves in the int8 model's islands)
CASES = {
    "neg": (_lambda(lambda t: keras.ops.negative(t)), ("int8", "int16x8"), ["NEG"]),
    "sin_square": (_lambda(lambda t: keras.ops.square(keras.ops.sin(t))), ("int8", "int16x8"), ["SIN", "SQUARE"]),
    "elu": (_dense_around(lambda x: L.ELU()(x)), ("int8", "int16x8"), ["ELU"]),
    "layer_norm": (_layer_norm, ("int8",), ["NEG"]),
    "mha": (_mha, ("int8", "int16x8"), []),
    "transformer": (_transformer, ("int8",), ["NEG"]),
}
PARAMS = [pytest.param(name, mode, id=f"{name}-{mode}") for name, (_, modes, _) in CASES.items() for mode in modes]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each case converted by tinyq's converter once per mode: the .tflite path."""
    root = tmp_path_factory.mktemp("islands")
    cache = {}

    def get(name: str, mode: str):
        if (name, mode) not in cache:
            build = CASES[name][0]
            rng = np.random.default_rng(sum(map(ord, name)))
            keras.utils.set_random_seed(5)
            model = build()
            randomize_weights(model, rng, gain=1.2, bias_std=0.3)
            calib = [rng.uniform(-2.0, 2.0, size=(16, SEQ, WIDTH)).astype(np.float32)]
            cache[name, mode] = write_tflite(root, f"{name}_{mode}", model, calib, mode=mode)
        return cache[name, mode]

    return get


def _compiled(path):
    from tinyq.compiler import compile_tflite

    return compile_tflite(path)


def _matches_builtin_interpreter(path, samples: int) -> None:
    """The host build against TFLite's builtin kernels on the whole model (for ELU, which BUILTIN_REF lacks;
    `tinyq verify` runs its island as the table instead): every output identical."""
    from ai_edge_litert import interpreter as lrt

    from tinyq.build.host import HostModel
    from tinyq.checks.inputs import make_inputs
    from tinyq.compiler import target_for
    from tinyq.compiler.pipeline import generate_library

    gen = generate_library(path, name="tq_model", target=target_for("ref"))
    it = lrt.Interpreter(model_path=str(path), experimental_op_resolver_type=lrt.OpResolverType.BUILTIN, num_threads=1)
    it.allocate_tensors()
    batch, _ = make_inputs(gen.graph, samples, seed=3)
    host = HostModel(gen, "tq_model")
    try:
        for n, xs in enumerate(batch):
            for i, x in zip(gen.graph.inputs, xs):
                it.set_tensor(i, x.reshape(gen.graph.tensor(i).shape))
            it.invoke()
            got = host.run(xs)[0]
            for k, o in enumerate(gen.graph.outputs):
                want = it.get_tensor(o).reshape(-1)
                diff = np.flatnonzero(got[k].reshape(-1) != want)
                assert diff.size == 0, f"input {n}, output {k}[{diff[0]}]: got {got[k].reshape(-1)[diff[0]]}, want {want[diff[0]]}"
    finally:
        host.close()


@pytest.mark.parametrize("name,mode", PARAMS)
def test_keras_model_bit_exact(converted, name, mode):
    from tinyq.quant.convert import float_island_lines

    path = converted(name, mode)
    kinds = CASES[name][2]
    lines = float_island_lines(path.read_bytes())
    assert all(" -> ".join(kinds) in ln for ln in lines) and bool(lines) == bool(kinds), lines
    g = _compiled(path)
    assert all(t.dtype != "float32" for op in g.ops for i in op.call.inputs + op.call.outputs if i >= 0 for t in [g.tensor(i)])
    islands = [op for op in g.ops if op.kind == "FLOAT_ISLAND"]
    assert len(islands) == len(lines)
    entries = 256 if mode == "int8" else 65536
    assert all(g.tensor(op.inputs[1]).size == entries for op in islands)
    if "ELU" in kinds:
        _matches_builtin_interpreter(path, samples=40)
        assert any("BUILTIN kernels: BUILTIN_REF has no ELU" in n for n in g.notes), g.notes
    # verify's reference runs ELU islands as their tables (checks/reference.py), the rest on BUILTIN_REF
    assert_bit_exact(path, samples=40, kernels=("ref", "fast"))


def test_convert_reports_the_islands(converted, tmp_path, capsys):
    """`tinyq convert` lists the islands `tinyq build` compiles to tables (text and --json); generate calls the table."""
    import json

    r = run_tinyq("generate", converted("sin_square", "int8"), "-o", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert "tq_lut_s8(" in (tmp_path / "c" / "model.c").read_text()
    keras_file = tmp_path / "m.keras"
    CASES["elu"][0]().save(keras_file)  # builtin layers only: a .keras file without Lambda code
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).uniform(-2, 2, (8, SEQ, WIDTH)).astype(np.float32))
    args = ("convert", keras_file, "-c", tmp_path / "calib.npy", "-o", tmp_path / "m.tflite")
    capsys.readouterr()
    assert tinyq_main(*args, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["float_islands"]) == 1 and "DEQUANTIZE -> ELU -> QUANTIZE" in report["float_islands"][0]
    assert tinyq_main(*args) == 0
    assert "float island, compiled to a table by `tinyq build`: ops 1, 2, 3 (DEQUANTIZE -> ELU -> QUANTIZE)" in capsys.readouterr().out


@pytest.mark.slow
def test_qemu_m4(converted, tmp_path):
    """The int8 transformer block (an int8 table) and the int16 NEG model (a 65,536-entry table) on a Cortex-M4."""
    from tinyq.checks.verify import verify_on_board

    for name, mode in (("transformer", "int8"), ("neg", "int16x8")):
        r = verify_on_board(converted(name, mode), "qemu-m4", samples=3)
        assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- hand-written islands


class IslandNet(Net):
    """A net whose float tensors are unquantized: `op` appends an op writing a new tensor."""

    def __init__(self, dtype: str = "int8"):
        super().__init__(dtype, quant={"int8": (0.047, -5), "int16": (0.0011, 0), "float32": None, "bool": None},
                         quant_of_tensor_type=True)

    def op(self, kind: str, ins, shape, dtype: str, opts=None, q="net") -> int:
        out = self.tensor(shape, dtype, q)
        self.add_op(kind, ins, [out], opts)
        return out

    def scalar(self, value: float, shape=()) -> int:
        return self.const(np.full(shape, value, dtype=np.float32), dtype="float32")


SHAPE = (2, 5, 6)


def _chain_net(src: str = "int8", exits=("int8",)) -> Net:
    """x -> DEQUANTIZE -> MUL 1.7 -> TANH -> ADD -0.2 -> (SIN, and x * SIN(...)) -> QUANTIZE per exit;
    GREATER(0.1) chooses between them (SELECT on bool values); a constant of the island's shape holds one value."""
    net = IslandNet(src)
    x = net.input(SHAPE)
    f = net.op("DEQUANTIZE", [x], SHAPE, "float32")
    a = net.op("MUL", [f, net.scalar(1.7)], SHAPE, "float32", options("MulOptionsT"))
    a = net.op("TANH", [a], SHAPE, "float32")
    a = net.op("ADD", [a, net.scalar(-0.2, SHAPE)], SHAPE, "float32", options("AddOptionsT"))
    s = net.op("SIN", [a], SHAPE, "float32")
    p = net.op("MUL", [f, s], SHAPE, "float32", options("MulOptionsT"))
    cond = net.op("GREATER", [a, net.scalar(0.1, (1, 1, 6))], SHAPE, "bool")
    y = net.op("SELECT_V2", [cond, s, p], SHAPE, "float32")
    for dt in exits:
        net.outputs.append(net.op("QUANTIZE", [y], SHAPE, dt, q=(0.013, -20) if dt == "int8" else (0.00009, 0)))
    return net


@pytest.mark.parametrize("src,exits", [("int8", ("int8",)), ("int8", ("int8", "int16")), ("int16", ("int16", "int8"))],
                         ids=["s8", "s8-to-s8-and-s16", "s16-to-s16-and-s8"])
def test_hand_written_island(tmp_path, src, exits):
    path = _chain_net(src, exits).write(tmp_path / "chain.tflite")
    g = _compiled(path)
    assert [op.kind for op in g.ops] == ["FLOAT_ISLAND"] * len(exits)
    funcs = [op.call.func for op in g.ops]
    want = {("int8", "int8"): "tq_lut_s8", ("int8", "int16"): "tq_table_s8_s16",
            ("int16", "int16"): "tq_table_s16", ("int16", "int8"): "tq_table_s16_s8"}
    assert funcs == [want[src, e] for e in exits]
    assert_bit_exact(path, samples=20, kernels=("ref",))


def _refused_net(case: str) -> Net:
    net = IslandNet("int8")
    x = net.input(SHAPE)
    f = net.op("DEQUANTIZE", [x], SHAPE, "float32")
    if case == "not elementwise":
        y = net.op("CUMSUM", [net.op("SIN", [f], SHAPE, "float32"), net.const(2)], SHAPE, "float32", options("CumsumOptionsT"))
    elif case == "a constant per element":
        y = net.op("MUL", [f, net.const(np.linspace(0.5, 1.5, 6, dtype=np.float32), dtype="float32")], SHAPE, "float32",
                   options("MulOptionsT"))
    else:  # two integer sources
        z = net.op("DEQUANTIZE", [net.input(SHAPE)], SHAPE, "float32")
        y = net.op("ADD", [net.op("SIN", [f], SHAPE, "float32"), z], SHAPE, "float32", options("AddOptionsT"))
    net.outputs.append(net.op("QUANTIZE", [y], SHAPE, "int8"))
    return net


@pytest.mark.parametrize("case,why", [
    ("not elementwise", "op 2 (CUMSUM) computes in float32 (TensorFlow has no int8 kernel for CUMSUM, SIN), and not in a "
     "float island tinyq compiles to a table (op 2 (CUMSUM) is not elementwise)"),
    ("a constant per element", "takes a constant that is not one value repeated"),
    ("two integer sources", "it reads 2 integer tensors"),
])
def test_what_is_not_an_island_is_refused(case, why):
    from tinyq.errors import UnsupportedModel
    from tinyq.quant.convert import check_full_integer

    data = _refused_net(case).bytes()
    with pytest.raises(UnsupportedModel) as e:
        check_full_integer(data, origin="m.tflite")
    line = str(e.value)
    assert "\n" not in line and "computes in float32" in line and why in line, line


def test_non_elementwise_island_is_one_line_from_the_cli(tmp_path):
    """CUMSUM (no float32 kernel) between DEQUANTIZE and QUANTIZE: no island, no float model either."""
    path = _refused_net("not elementwise").write(tmp_path / "cumsum.tflite")
    r = run_tinyq("generate", path, "-o", tmp_path / "c")
    assert_one_line_failure(r, "operator 2 (CUMSUM) computes in float32 between integer tensors", "is not elementwise",
                            "no float32 kernel (CUMSUM")
