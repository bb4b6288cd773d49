"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 with int16 cell state (TFLite's integer 8x8->16 LSTM): generated C
against TFLite's reference interpreter, bit for bit, over a sequence of inferences.

The models are hand-built with the flatbuffer schema, as TensorFlow's quantizer lays them out: int8
weights per gate, int32 biases, int16 peephole and layer-norm coefficients, an int8 output state and an
int16 cell state with a power-of-two scale (both variable tensors), and five intermediate tensors that
carry the gates' and the hidden state's quantization. Shapes like TFLM's test models (time 1-10, input
2-16, units 2-16, batch 1-2, time-major or not), random weights and scales (seeded), and each of the
variants the quantizer can emit: plain, CIFG, peephole, layer norm, projection, cell and projection clips.
The state persists: verify runs its samples one after another, so each sample after the first starts from
the state the previous ones left. (tinyq's converter unrolls Keras LSTMs into FULLY_CONNECTED and friends,
and TensorFlow's own converter does not fuse Keras 3 LSTMs: the fused op comes from other tools' files, such
as TFLM's models, which these stand in for.) float32 LSTMs run the same variants within tinyq's float
tolerance.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.errors import BadInput

from .helpers import Net, options, ref_interpreter

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

GATES = ("input", "forget", "cell", "output")


def lstm_net(rng: np.random.Generator, batch: int, time: int, n_input: int, n_cell: int, **kw) -> Net:
    """One integer LSTM: graph input x -> output (see lstm_layer)."""
    f = np.float32
    xq = (float(f(4 / 255 * 2 ** rng.uniform(-1, 1))), int(rng.integers(-20, 20)))
    sq = (float(f(2 / 255 * 2 ** rng.uniform(-0.5, 0.5))), int(rng.integers(-10, 10)))
    net = Net("int8", quant={"int8": xq})
    x = net.input((time, batch, n_input) if kw.get("time_major") else (batch, time, n_input), q=xq)
    net.outputs.append(lstm_layer(net, rng, x, sq, n_cell, **kw))
    return net


def lstm_layer(net: Net, rng: np.random.Generator, x: int, sq: tuple, n_cell: int, n_output: int | None = None,
               time_major: bool = False, cifg: bool = False, peephole: bool = False, layer_norm: bool = False,
               cell_clip: float = 0.0, proj_clip: float = 0.0, cell_scale: int = -11, hidden_zp: int | None = None,
               proj_bias: bool = True, peephole_scale: float | None = None, ln_ties: bool = False) -> int:
    """An integer LSTM reading tensor x of `net` ([batch, time, input], or [time, batch, input] time-major), its
    output state and output quantized `sq`; returns the output. n_output differs from n_cell with a projection."""
    projection = n_output is not None
    n_output = n_output if projection else n_cell
    f = np.float32
    xq = (net.tensors[x].quantization.scale[0], net.tensors[x].quantization.zeroPoint[0])
    shape_x = tuple(net.tensors[x].shape)
    time, batch = (shape_x[0], shape_x[1]) if time_major else (shape_x[1], shape_x[0])
    n_input = shape_x[2]
    ins = [x] + [-1] * 23

    def weights(rows: int, cols: int, real_in: float) -> int:
        w = rng.normal(0, 1.5 / np.sqrt(cols) / real_in, (rows, cols))
        s = float(f(np.abs(w).max() / 127))
        return net.const(np.clip(np.round(w / s), -127, 127), "int8", (s, 0))

    gate_scale = 2.0 ** -12
    for k, gate in enumerate(GATES):
        if gate == "input" and cifg:
            continue
        ins[1 + k] = weights(n_cell, n_input, 1.0)
        ins[5 + k] = weights(n_cell, n_output, 1.0)
        bias_s = float(f(xq[0] * 0.01))
        ins[12 + k] = net.const(np.round(rng.normal(0, 0.5, n_cell) / bias_s * (2 if gate == "forget" else 1)), "int32",
                                (bias_s, 0))
        if peephole and gate != "cell":
            # peephole_scale: a coarse scale and small weights, so the product's requantization shifts by a
            # bit or two and lands on rounding ties often
            ps = float(f(peephole_scale or 2 ** rng.uniform(-12, -9)))
            top = 20 if peephole_scale else 2000
            ins[9 + ("input", "forget", "output").index(gate)] = net.const(rng.integers(-top, top, n_cell), "int16", (ps, 0))
        if layer_norm:
            ls = float(f(2 ** rng.uniform(-14, -11)))
            coeff = rng.integers(1000, 8000, n_cell)
            if ln_ties:
                # coefficients multiple of 1024 and biases 512 past one: every weighted value lands on a
                # tie of the layer norm's division by 1024
                coeff = np.round(coeff / 1024) * 1024
                net.m.buffers[net.tensors[ins[12 + k]].buffer].data = (
                    (np.frombuffer(bytes(net.m.buffers[net.tensors[ins[12 + k]].buffer].data), np.int32) // 1024 * 1024 + 512)
                    .astype(np.int32).view(np.uint8).tolist())
            ins[20 + k] = net.const(coeff, "int16", (ls, 0))
    if projection:
        ins[16] = weights(n_output, n_cell, 1.0)
        if proj_bias:
            ins[17] = net.const(rng.integers(-500, 500, n_output), "int32", (1e-4, 0))
    ins[18] = net.tensor((batch, n_output), "int8", q=sq)
    ins[19] = net.tensor((batch, n_cell), "int16", q=(2.0 ** cell_scale, 0))
    net.tensors[ins[18]].isVariable = True
    net.tensors[ins[19]].isVariable = True
    if not layer_norm:
        ins = ins[:20]
    shape_y = (time, batch, n_output) if time_major else (batch, time, n_output)
    y = net.tensor(shape_y, "int8", q=sq)
    # the intermediates: four gate outputs (their scales matter with layer norm) and the hidden state
    mids = [net.tensor((0,), "int16", q=(float(f(gate_scale * 2 ** rng.uniform(-2, 2))), 0)) for _ in range(4)]
    hq = (float(f(2 ** rng.uniform(-8, -7))), int(rng.integers(-10, 10)) if hidden_zp is None else hidden_zp)
    # Without a projection the quantizer gives the hidden state the output state's quantization; a hidden_zp of
    # its own tells the two zero points apart.
    mids.append(net.tensor((0,), "int8", q=hq if projection or hidden_zp is not None else sq))
    net.add_op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], options(
        "UnidirectionalSequenceLSTMOptionsT", fusedActivationFunction=4, cellClip=cell_clip, projClip=proj_clip,
        timeMajor=time_major, asymmetricQuantizeInputs=False))
    net.ops[-1].intermediates = mids
    return y


CASES = {
    "plain": dict(batch=1, time=5, n_input=8, n_cell=6),
    "batch2": dict(batch=2, time=3, n_input=4, n_cell=4),
    "time_major": dict(batch=2, time=4, n_input=5, n_cell=3, time_major=True),
    "cifg": dict(batch=1, time=6, n_input=10, n_cell=8, cifg=True),
    "peephole": dict(batch=1, time=4, n_input=6, n_cell=5, peephole=True),
    "peephole_cifg": dict(batch=2, time=3, n_input=3, n_cell=7, peephole=True, cifg=True),
    "layer_norm": dict(batch=1, time=5, n_input=7, n_cell=8, layer_norm=True),
    "layer_norm_cifg": dict(batch=1, time=4, n_input=9, n_cell=16, layer_norm=True, cifg=True, cell_scale=-10),
    "projection": dict(batch=1, time=4, n_input=6, n_cell=12, n_output=5, proj_clip=0.5),
    "projection_layer_norm": dict(batch=2, time=3, n_input=4, n_cell=8, n_output=3, layer_norm=True, time_major=True),
    "projection_peephole": dict(batch=1, time=5, n_input=5, n_cell=6, n_output=6, peephole=True),
    "projection_no_bias": dict(batch=2, time=2, n_input=3, n_cell=4, n_output=7, proj_bias=False),
    "hidden_zp": dict(batch=1, time=4, n_input=6, n_cell=6, hidden_zp=-9),
    "clips": dict(batch=1, time=10, n_input=16, n_cell=16, cell_clip=1.5, cell_scale=-12),
    "cell_scale_15": dict(batch=1, time=3, n_input=2, n_cell=2, cell_scale=-15),
    "cell_scale_9": dict(batch=1, time=6, n_input=12, n_cell=10, cell_scale=-9, cell_clip=0.5),
    # Rounding ties on purpose: the interpreter's peephole product rounds them one way in each row's blocks of 16
    # cells and the other way past them; its layer norm (portable code) rounds all alike.
    "peephole_ties": dict(batch=1, time=10, n_input=4, n_cell=20, peephole=True, peephole_scale=0.15),
    "peephole_ties_cifg": dict(batch=2, time=8, n_input=3, n_cell=12, peephole=True, cifg=True, peephole_scale=0.1),
    "layer_norm_ties": dict(batch=1, time=6, n_input=5, n_cell=24, layer_norm=True, ln_ties=True),
}


def float_lstm_net(rng: np.random.Generator, batch: int, time: int, n_input: int, n_cell: int, n_output: int | None = None,
                   time_major: bool = False, cifg: bool = False, peephole: bool = False, layer_norm: bool = False,
                   cell_clip: float = 0.0, proj_clip: float = 0.0, activation: int = 4, proj_bias: bool = True,
                   **_) -> Net:
    """One float32 LSTM, as lstm_net lays it out (no quantization, no intermediates; the integer-only
    arguments, cell_scale and hidden_zp, are ignored)."""
    projection = n_output is not None
    n_output = n_output if projection else n_cell
    net = Net("float32")
    x = net.input((time, batch, n_input) if time_major else (batch, time, n_input))
    ins = [x] + [-1] * 23

    def const(*shape, std=1.0):
        return net.const(rng.normal(0, std, shape).astype(np.float32), "float32")

    for k, gate in enumerate(GATES):
        if gate == "input" and cifg:
            continue
        ins[1 + k] = const(n_cell, n_input, std=1.5 / np.sqrt(n_input))
        ins[5 + k] = const(n_cell, n_output, std=1.5 / np.sqrt(n_output))
        ins[12 + k] = const(n_cell, std=0.5)
        if peephole and gate != "cell":
            ins[9 + ("input", "forget", "output").index(gate)] = const(n_cell, std=0.3)
        if layer_norm:
            ins[20 + k] = net.const(rng.uniform(0.5, 1.5, n_cell).astype(np.float32), "float32")
    if projection:
        ins[16] = const(n_output, n_cell, std=1 / np.sqrt(n_cell))
        if proj_bias:
            ins[17] = const(n_output, std=0.2)
    ins[18] = net.tensor((batch, n_output), "float32")
    ins[19] = net.tensor((batch, n_cell), "float32")
    net.tensors[ins[18]].isVariable = True
    net.tensors[ins[19]].isVariable = True
    if not layer_norm:
        ins = ins[:20]
    y = net.tensor((time, batch, n_output) if time_major else (batch, time, n_output), "float32")
    net.add_op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], options(
        "UnidirectionalSequenceLSTMOptionsT", fusedActivationFunction=activation, cellClip=cell_clip,
        projClip=proj_clip, timeMajor=time_major, asymmetricQuantizeInputs=False))
    net.outputs.append(y)
    return net


@pytest.mark.parametrize("case", sorted(CASES))
def test_sweep_float(tmp_path, case):
    """float32: within tinyq's float tolerance (the interpreter's float LSTM multiplies through its GEMM
    library, whose summation order is not a plain loop's, and has its own sigmoid and tanh; differences are
    around 1e-7)."""
    net = float_lstm_net(np.random.default_rng(sorted(CASES).index(case)), **CASES[case])
    r = verify_tflite(net.write(tmp_path / "lstm_f32.tflite"), samples=12)
    assert r.passed, r.summary()


@pytest.mark.parametrize("activation", [1, 2, 3])
def test_float_cell_activations(tmp_path, activation):
    """The float LSTM's cell activation is the fused one (RELU, RELU_N1_TO_1, RELU6 besides TANH)."""
    net = float_lstm_net(np.random.default_rng(40 + activation), **CASES["peephole_cifg"], activation=activation)
    r = verify_tflite(net.write(tmp_path / "lstm_f32.tflite"), samples=8)
    assert r.passed, r.summary()


def case_net(case: str, **kw) -> Net:
    return lstm_net(np.random.default_rng(sorted(CASES).index(case)), **{**CASES[case], **kw})


@pytest.mark.parametrize("kernels", ["ref", "fast"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sweep(tmp_path, case, kernels):
    """Every variant bit for bit over a sequence of 15 inferences (3 edge inputs, 12 random) without a reset,
    with the reference kernel and its fast twin (tq_lstm_fast_s8: the products as dot products)."""
    r = verify_tflite(case_net(case).write(tmp_path / "lstm.tflite"), samples=12, kernels=kernels)
    assert r.stateful and r.bit_exact and r.max_abs_diff == 0, r.summary()


def random_case(rng: np.random.Generator) -> dict:
    """Shapes and flags drawn at random (every combination the quantizer can emit)."""
    n_cell = int(rng.integers(2, 17))
    kw = dict(batch=int(rng.integers(1, 3)), time=int(rng.integers(1, 11)), n_input=int(rng.integers(2, 17)),
              n_cell=n_cell, time_major=bool(rng.integers(2)), cifg=bool(rng.integers(2)),
              peephole=bool(rng.integers(2)), layer_norm=bool(rng.integers(2)), cell_scale=int(rng.integers(-15, -8)))
    if rng.integers(2):
        kw["n_output"] = n_cell if kw["peephole"] else int(rng.integers(2, 17))
        kw["proj_bias"] = bool(rng.integers(2))
        kw["proj_clip"] = float(rng.choice([0.0, 0.3, 0.8]))
    kw["cell_clip"] = float(rng.choice([0.0, 0.5, 2.0]))
    return kw


@pytest.mark.parametrize("seed", range(16))
def test_random_variants(tmp_path, seed):
    rng = np.random.default_rng(1000 + seed)
    kw = random_case(rng)
    r = verify_tflite(lstm_net(rng, **kw).write(tmp_path / "lstm.tflite"), samples=6)
    assert r.bit_exact and r.max_abs_diff == 0, f"{kw}: {r.summary()}"


def test_stacked(tmp_path):
    """Two LSTMs in a row (the second with layer norm and a projection): four states side by side in the state
    buffer, the sequence between the layers in the arena."""
    rng = np.random.default_rng(77)
    net = lstm_net(rng, batch=1, time=6, n_input=5, n_cell=8, peephole=True)
    sq = (float(np.float32(2 / 255)), 3)
    net.outputs.append(lstm_layer(net, rng, net.outputs.pop(), sq, 10, n_output=4, layer_norm=True))
    r = verify_tflite(net.write(tmp_path / "lstm2.tflite"), samples=12)
    assert r.stateful and r.bit_exact and r.max_abs_diff == 0 and r.layers == 2, r.summary()


def test_sequences_with_resets(tmp_path):
    """Reset every 3 inferences (the state back to 0 and the output state's zero point, as TFLite resets)."""
    r = verify_tflite(case_net("projection_layer_norm").write(tmp_path / "lstm.tflite"), samples=12, reset_every=3)
    assert r.bit_exact and r.reset_every == 3, r.summary()


def _reference_steps(net: Net, steps: int = 3) -> list[np.ndarray]:
    """The interpreter's outputs for the same input `steps` times in a row."""
    it = ref_interpreter(net.bytes())
    d = it.get_input_details()[0]
    x = np.random.default_rng(5).integers(-128, 128, d["shape"]).astype(d["dtype"])
    out = []
    for _ in range(steps):
        it.set_tensor(d["index"], x)
        it.invoke()
        out.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return out


def test_the_sweep_exercises_state_and_clips():
    """The sweep's checks are not vacuous: the state changes the outputs of a repeated input, and the clip cases'
    clips bind (the interpreter's outputs differ from those of the same model without clips)."""
    steps = _reference_steps(case_net("plain"))
    assert not np.array_equal(steps[0], steps[1])
    for case, off in (("clips", dict(cell_clip=0.0)), ("projection", dict(proj_clip=0.0)),
                      ("cell_scale_9", dict(cell_clip=0.0))):
        assert not np.array_equal(np.concatenate(_reference_steps(case_net(case))),
                                  np.concatenate(_reference_steps(case_net(case, **off)))), case


# --------------------------------------------------------------------------- refused variants, one line each


def _refused(tmp_path, net: Net, *words: str) -> str:
    from tinyq.compiler.importer import import_model
    from tinyq.compiler.passes import compile_graph
    from tinyq.errors import UnsupportedModel

    with pytest.raises(UnsupportedModel) as e:
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    return msg


def test_refuses_what_the_reference_cannot_run(tmp_path):
    net = case_net("plain")
    net.ops[0].intermediates = net.ops[0].intermediates[:4]
    _refused(tmp_path, net, "4 intermediate tensors", "needs 5")
    net = case_net("plain")
    net.tensors[net.ops[0].inputs[19]].quantization.scale = [2.0 ** -11 * 1.1]
    _refused(tmp_path, net, "not a power of two")
    net = case_net("plain", cell_scale=-8)
    _refused(tmp_path, net, "2^-8", "2^-15 .. 2^-9")
    net = case_net("projection", peephole=True)
    _refused(tmp_path, net, "peephole", "5 outputs from 12 cells")
    net = case_net("plain")
    net.tensors[net.ops[0].inputs[18]].isVariable = False  # read, never written: refused at import
    with pytest.raises(BadInput, match="reads tensor 13 't13', which no operator writes"):
        import_model(net.write(tmp_path / "bad.tflite"))


def test_refuses_16x8(tmp_path):
    """TFLite's LSTM has no int16-activation path: the op is refused by name, and the operator table says so."""
    from tinyq.ops import VARIANTS

    net = case_net("plain")
    for i in (net.ops[0].inputs[0], net.outputs[0]):
        net.tensors[i].type = schema.TensorType.INT16
        net.tensors[i].quantization.zeroPoint = [0]
    _refused(tmp_path, net, "UNIDIRECTIONAL_SEQUENCE_LSTM", "no 16x8 path")
    assert VARIANTS["int16"]["UNIDIRECTIONAL_SEQUENCE_LSTM"].refused


def test_refuses_float_without_cell_activation(tmp_path):
    """With NONE TFLite's float LSTM reads a buffer it never wrote: no result to match."""
    _refused(tmp_path, float_lstm_net(np.random.default_rng(0), **CASES["plain"], activation=0), "NONE", "never")


# --------------------------------------------------------------------------- on a Cortex-M4 (QEMU)


def test_qemu_m4(tmp_path):
    """The integer LSTM with layer norm, peephole (on rounding ties, past a block of 16 cells) and a projection on
    the core: bit-exact over a sequence."""
    net = case_net("peephole_ties", layer_norm=True, n_output=20)
    r = verify_on_board(net.write(tmp_path / "lstm.tflite"), "qemu-m4", samples=6)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()


def test_qemu_m4_float(tmp_path):
    """float32 on the M4F's FPU: within tinyq's float tolerance (newlib's expf and tanhf are not glibc's)."""
    net = float_lstm_net(np.random.default_rng(3), **CASES["cifg"])
    r = verify_on_board(net.write(tmp_path / "lstm_f32.tflite"), "qemu-m4", samples=4)
    assert r.passed, r.summary()


def test_fast_activations_equal_the_reference_on_every_input(tmp_path):
    """tq_lstm_fast_s8's branch-free sigmoid and tanh against tq_lstm_s8's on all 65536 int16 inputs (tanh with
    0..6 integer bits), compiled together on the host (tests/lstm_activations_harness.c)."""
    from tinyq.build.host import host_cc

    root = Path(__file__).resolve().parent.parent
    kernels = root / "firmware" / "kernels"
    exe = tmp_path / "harness"
    r = subprocess.run([host_cc(), "-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{kernels / 'include'}",
                        f"-I{kernels / 'recurrent'}", str(root / "tests" / "lstm_activations_harness.c"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("differing: 0"), r.stdout


def fast_twins_net() -> Net:
    """An integer LSTM beside an SVDF, a BATCH_MATMUL (RHS gathered into rows: no adj_y) and a TRANSPOSE_CONV,
    odd sizes where a twin pairs rows: the four int8 ops whose fast twins (tq_*_fast_s8) carry the products."""
    from .test_ops_svdf import svdf_layer

    f = np.float32
    rng = np.random.default_rng(21)
    net = lstm_net(rng, batch=1, time=3, n_input=7, n_cell=9, layer_norm=True, n_output=5)
    net.outputs.append(svdf_layer(net, rng, net.input((1, 21)), 5, 2, 4))
    a, b = net.input((2, 5, 19), q=(float(f(0.03)), -2)), net.input((2, 19, 3), q=(float(f(0.04)), 7))
    y = net.tensor((2, 5, 3), "int8", q=(float(f(0.03 * 0.04 * 19**0.5 * 74 * 74 / 50)), -3))  # sums' spread: 50 steps
    net.add_op("BATCH_MATMUL", [a, b], [y], options("BatchMatMulOptionsT"))
    net.outputs.append(y)
    x = net.input((1, 3, 4, 5))
    w = net.const(rng.integers(-127, 128, (3, 3, 3, 5)), "int8", (float(f(0.011)), 0))
    bias = net.const(rng.integers(-500, 500, (3,)), "int32", (float(f(net.tensors[x].quantization.scale[0] * f(0.011))), 0))
    y = net.tensor((1, 6, 8, 3), "int8", q=(float(f(0.02 * 0.011 * 8 * 127 / 4)), 5))
    net.add_op("TRANSPOSE_CONV", [net.const(np.array([1, 6, 8, 3], np.int32)), w, x, bias], [y],
               options("TransposeConvOptionsT", padding=0, strideH=2, strideW=2))
    net.outputs.append(y)
    return net


def test_fast_twins_are_what_each_kernel_set_calls(tmp_path):
    from tinyq.compiler import compile_tflite, target_for

    path = fast_twins_net().write(tmp_path / "twins.tflite")
    names = ("tq_lstm{}_s8", "tq_svdf{}_s8", "tq_batch_matmul{}_s8", "tq_transpose_conv{}_s8")
    for kernels, infix in (("fast", "_fast"), ("ref", "")):
        funcs = {op.call.func for op in compile_tflite(path, target_for(kernels)).ops}
        assert funcs == {n.format(infix) for n in names}, (kernels, funcs)


@pytest.mark.parametrize("board", ["qemu-m3", "qemu-m4", "qemu-m55", pytest.param("qemu-m0", marks=pytest.mark.slow)])
def test_fast_twins_on_qemu(tmp_path, board):
    """The four fast twins on each ISA path of tq_dot_fast.h: portable C (M3; ARMv6-M on the M0), SMLAD (M4), Helium (M55)."""
    path = fast_twins_net().write(tmp_path / "twins.tflite")
    assert verify_tflite(path, samples=4, kernels="ref").bit_exact
    r = verify_on_board(path, board, samples=6)
    assert r.bit_exact and r.max_abs_diff == 0 and r.layers == 4, r.summary()
