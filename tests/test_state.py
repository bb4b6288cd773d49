"""State across inferences: variable tensors in the state buffer, resource variables (VAR_HANDLE,
READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE), the generated reset, the `tq-reset` protocol command and
`tinyq verify` over sequences.

The test model is a streaming one, as TensorFlow converts it: a tf.Module keeps the last four frames
of its input in a tf.Variable (a ring buffer, shifted each call inside a tf.function) and a dense layer
reads all four. Converted with resource variables enabled and the variable quantized to int8, it has
two subgraphs: the main one and the CALL_ONCE init subgraph that assigns the variable its initial
value (a ramp, not zeros, so a reset to zeros would show).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.host import HostModel
from tinyq.build.manifest import load as load_manifest
from tinyq.checks.match import Tally
from tinyq.checks.profile import run_on_device
from tinyq.checks.reference import Reference
from tinyq.checks.runners import (
    DeviceRunner,
    HostRunner,
    ReferenceRunner,
    run_and_compare,
)
from tinyq.checks.verify import verify_tflite
from tinyq.compiler import generate_library, import_model, state_size
from tinyq.compiler.codegen import _state
from tinyq.device import open_device
from tinyq.errors import CheckFailed, UnsupportedModel
from tinyq.ir import Quant, Tensor

from .fake_board import FakeBoard

FRAMES, WIDTH, UNITS = 4, 8, 6
INITIAL = np.linspace(-0.5, 0.5, FRAMES * WIDTH, dtype=np.float32).reshape(1, FRAMES, WIDTH)


def _streaming_tflite(quantize_variable: bool = True) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((FRAMES * WIDTH, UNITS)) * 0.3).astype(np.float32)

    class Stream(tf.Module):
        def __init__(self):
            super().__init__()
            self.frames = tf.Variable(INITIAL, trainable=False)

        @tf.function(input_signature=[tf.TensorSpec([1, WIDTH], tf.float32)])
        def __call__(self, x):
            new = tf.concat([self.frames[:, 1:, :], x[:, None, :]], axis=1)
            self.frames.assign(new)
            return tf.nn.relu(tf.matmul(tf.reshape(new, [1, FRAMES * WIDTH]), weights))

    module = Stream()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    conv.experimental_enable_resource_variables = True
    conv._experimental_variable_quantization = quantize_variable  # the ring buffer in int8 (else float32)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    calib = np.random.default_rng(1)

    def representative():
        for _ in range(40):
            yield [calib.uniform(-1, 1, (1, WIDTH)).astype(np.float32)]

    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    p = tmp_path_factory.mktemp("stream") / "stream.tflite"
    p.write_bytes(_streaming_tflite())
    return p


@pytest.fixture(scope="module")
def stream_build(stream, tmp_path_factory):
    from tinyq.build.firmware import build

    out = tmp_path_factory.mktemp("stream-m4") / "build"
    build(stream, get_board("qemu-m4"), out)
    return out


def _sequence(n: int, seed: int = 2) -> list[list[np.ndarray]]:
    """`n` inputs; the first three are the same frame, so only the state can tell their outputs apart."""
    rng = np.random.default_rng(seed)
    same = rng.integers(-128, 128, (1, WIDTH), dtype=np.int8)
    return [[same]] * 3 + [[rng.integers(-128, 128, (1, WIDTH), dtype=np.int8)] for _ in range(n - 3)]


def _reference_outputs(path, g, batch) -> list[np.ndarray]:
    """A fresh interpreter run over the sequence (no reset between the inputs)."""
    ref = Reference(path)
    return [ref.run(x, g.inputs, g.outputs)[0] for x in batch]


# ---------------------------------------------------------------- the importer and the generated C


def test_resource_variables_become_one_variable_tensor(stream):
    g = import_model(stream)
    kinds = [op.kind for op in g.ops]
    assert "CALL_ONCE" not in kinds and "VAR_HANDLE" not in kinds
    assert kinds.count("READ_VARIABLE") == 1 and kinds.count("ASSIGN_VARIABLE") == 1
    (var,) = [t for t in g.tensors if t.variable]
    assert var.dtype == "int8" and var.shape == (1, FRAMES, WIDTH) and var.initial is not None
    # The init subgraph's constant: the ramp, quantized with the variable's scale (so not all zero).
    want = np.clip(np.round(INITIAL / var.quant.s) + var.quant.zp, -128, 127)
    assert np.abs(var.initial.astype(int) - want).max() <= 1 and len(set(var.initial.ravel().tolist())) > 8


def test_state_buffer_is_outside_the_arena_and_documented(stream):
    gen = generate_library(stream, name="sm")
    g = gen.graph
    assert state_size(g) == FRAMES * WIDTH
    c, h = gen.files["sm.c"], gen.files["sm.h"]
    assert f"static uint8_t tq_state[{FRAMES * WIDTH}]" in c and "int sm_reset(void)\n{" in c
    assert "memcpy(tq_state + 0, S" in c  # the CALL_ONCE value, from flash
    assert f"#define SM_STATE_SIZE {FRAMES * WIDTH}" in h and "int sm_reset(void);" in h
    # READ_VARIABLE reads the state buffer, ASSIGN_VARIABLE writes it; the arena never holds it.
    read = next(op for op in g.ops if op.kind == "READ_VARIABLE")
    assert g.tensor(read.call.inputs[0]).variable and g.tensor(read.call.inputs[0]).offset == 0
    assert "tq_variable_copy(&L{}_params, (const int8_t *)(tq_state + 0)".format(read.index) in c


def test_reset_values_follow_tflite():
    """ResetVariableTensor: int8 state to its zero point, every other type to 0; resource variables to
    their CALL_ONCE value."""
    q = Quant(scale=(0.1,), zero_point=(-5,))
    int8 = _state(Tensor(0, "s8", (3,), "int8", quant=q, variable=True, offset=0))
    int16 = _state(Tensor(1, "s16", (3,), "int16", quant=Quant(scale=(0.1,), zero_point=(0,)), variable=True, offset=8))
    f32 = _state(Tensor(2, "f32", (3,), "float32", variable=True, offset=16))
    res = _state(Tensor(3, "r", (2,), "int8", quant=q, variable=True, offset=24, initial=np.array([7, -7], np.int8)))
    assert (int8["fill"], int16["fill"], f32["fill"]) == (-5, 0, 0)
    assert int8["initial"] is None and res["initial"].tolist() == [7, -7]


def test_a_model_without_state_keeps_its_c_and_gets_a_no_op_reset():
    from .golden.regenerate import MODEL

    gen = generate_library(MODEL, name="small")
    c, h = gen.files["small.c"], gen.files["small.h"]
    assert "tq_state" not in c and "_reset" not in c  # no state buffer, no reset
    assert "#define SMALL_STATE_SIZE 0" in h and "static inline int small_reset(void)" in h
    host = HostModel(gen, "small")
    try:
        host.reset()  # the harness exports the inline reset: callable, does nothing
    finally:
        host.close()
    res = verify_tflite(MODEL, samples=2)
    assert res.bit_exact and not res.stateful and res.to_json()["stateful"] is None and "stateful" not in res.summary()


# ---------------------------------------------------------------- the host: sequences and reset


def test_host_sequence_and_reset_are_bit_exact(stream):
    gen = generate_library(stream, name="sm")
    g = gen.graph
    batch = _sequence(12)
    want = _reference_outputs(stream, g, batch)
    host = HostModel(gen, "sm")
    try:
        first = [host.run(x)[0][0] for x in batch]
        host.reset()
        again = [host.run(x)[0][0] for x in batch]
    finally:
        host.close()
    assert all(np.array_equal(a, b) for a, b in zip(first, want))
    assert all(np.array_equal(a, b) for a, b in zip(again, first))  # after reset the outputs repeat exactly
    # The state matters: the same frame three times gives three different outputs (the ring fills up).
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])


def test_the_sequence_check_fails_when_the_reference_forgets_the_state(stream):
    """run_and_compare is only as good as its resets: a reference reset before every input (each run
    from the initial state) must disagree with the generated C that keeps its state."""
    gen = generate_library(stream, name="sm")
    g = gen.graph
    host = HostRunner(HostModel(gen, "sm"))
    ref = ReferenceRunner(stream, g)
    try:
        kept = run_and_compare(host, ref, _sequence(6), Tally(None), stateful=True)
        forgetful = run_and_compare(host, ref, _sequence(6), Tally(None), stateful=True, reset_every=1)
        host.reset()  # the host alone keeps its state: mismatches from the second input on
        forgot = Tally(None)
        for x in _sequence(6):
            ref.reset()
            forgot.add(host.run(x), ref.run(x))
    finally:
        host.host.close()
    assert kept.mismatches == 0 and forgetful.mismatches == 0 and forgot.mismatches >= 4


def test_verify_runs_a_sequence(stream):
    res = verify_tflite(stream, samples=9, reset_every=4)
    assert res.bit_exact and res.stateful and res.samples == 12
    assert res.to_json()["stateful"] == {"steps": 12, "reset_every": 4} and res.to_json()["state_bytes"] == FRAMES * WIDTH
    assert "stateful: 12 steps, reset every 4" in res.summary()


def test_a_float32_variable_in_an_int8_model(tmp_path):
    """Without variable quantization the converter keeps the ring buffer in float32 (QUANTIZE after the
    read, DEQUANTIZE before the assign): the float32 READ_VARIABLE / ASSIGN_VARIABLE copy it as bytes."""
    p = tmp_path / "float_state.tflite"
    p.write_bytes(_streaming_tflite(quantize_variable=False))
    g = import_model(p)
    (var,) = [t for t in g.tensors if t.variable]
    assert var.dtype == "float32" and np.array_equal(var.initial, INITIAL)
    res = verify_tflite(p, samples=9)
    assert res.bit_exact and res.stateful and res.state_bytes == 4 * FRAMES * WIDTH, res.summary()


def test_verify_cli_sequence_length(stream, capsys):
    from tinyq.cli.root import main

    assert main(["verify", str(stream), "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "stateful: 8 steps, reset once before the first" in out and f"+ state {FRAMES * WIDTH} B" in out
    assert main(["verify", str(stream), "-n", "5", "--sequence-length", "0"]) == 2
    capsys.readouterr()


# ---------------------------------------------------------------- several subgraphs


def _edit(data: bytes, fn) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(data, 0)
    fn(m, schema)
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _call_once(m, schema):
    main = m.subgraphs[0]
    k = next(i for i, o in enumerate(main.operators) if m.operatorCodes[o.opcodeIndex].builtinCode == schema.BuiltinOperator.CALL_ONCE)
    return main, k


def test_control_flow_and_unreached_subgraphs_are_refused_in_one_line(stream, tmp_path, capsys):
    from tinyq.cli.root import main

    def to_while(m, schema):
        sg, k = _call_once(m, schema)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.WHILE
        code.version = 1
        m.operatorCodes.append(code)
        opts = schema.WhileOptionsT()
        opts.condSubgraphIndex, opts.bodySubgraphIndex = 1, 1
        op = sg.operators[k]
        op.opcodeIndex, op.builtinOptionsType, op.builtinOptions = len(m.operatorCodes) - 1, schema.BuiltinOptions.WhileOptions, opts

    def drop_call_once(m, schema):
        sg, k = _call_once(m, schema)
        del sg.operators[k]

    for edit, words in ((to_while, ["control flow", "operator 0 (WHILE)", "WHILE/IF"]),
                        (drop_call_once, ["2 subgraphs", "subgraph 1", "not run by the first one"])):
        p = tmp_path / f"{edit.__name__}.tflite"
        p.write_bytes(_edit(stream.read_bytes(), edit))
        with pytest.raises(UnsupportedModel) as e:
            import_model(p)
        assert all(w in str(e.value) for w in words), str(e.value)
        assert main(["generate", str(p), "-o", str(tmp_path / "out")]) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and all(w in err[0] for w in words[:1]), err
        assert not (tmp_path / "out").exists()


def test_variables_tflite_refuses_are_refused(stream, tmp_path):
    """A read before any value (no CALL_ONCE), and a variable tensor with data: TFLite's interpreter
    fails on both (interpreter_builder: "a variable tensor with buffer. It's not supported now")."""

    def no_init(m, schema):
        sg, k = _call_once(m, schema)
        del sg.operators[k]
        del m.subgraphs[1]

    def variable_weights(m, schema):
        sg = m.subgraphs[0]
        next(t for t in sg.tensors if m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data) > 100).isVariable = True

    for edit, words in ((no_init, ["READ_VARIABLE", "before any value is assigned"]),
                        (variable_weights, ["variable tensor with data", "refuses too"])):
        p = tmp_path / f"{edit.__name__}.tflite"
        p.write_bytes(_edit(stream.read_bytes(), edit))
        with pytest.raises(UnsupportedModel) as e:
            import_model(p)
        assert all(w in str(e.value) for w in words), str(e.value)
        g = import_model(stream)
        with pytest.raises((CheckFailed, RuntimeError)):  # the reference refuses the file, or fails at its invoke
            Reference(p).run([np.zeros((1, WIDTH), np.int8)], g.inputs, g.outputs)


# ---------------------------------------------------------------- devices: QEMU and the fake board


def test_qemu_runs_the_sequence_and_answers_tq_reset(stream, stream_build):
    """The real firmware on qemu-m4: tq-reset answered m-tq-reset-done, the state kept between tq-infers,
    and after tq-reset the outputs repeat the first sequence, each bit-exact with the reference."""
    m = load_manifest(stream_build)
    assert m.state_bytes == FRAMES * WIDTH and m.sizes.state == FRAMES * WIDTH
    s = m.sizes  # the RAM report: the state apart from the arena and from the rest
    assert s.ram == s.arena + s.state + s.stack + s.ram_other and s.arena == m.arena_bytes
    g = import_model(stream)
    batch = _sequence(8)
    want = _reference_outputs(stream, g, batch)
    with open_device(stream_build, get_board("qemu-m4")) as dut:
        device = DeviceRunner(dut, m, retries=2)
        assert device.max_retries == 0  # a retried input would advance the state twice
        first = [device.run(x)[0] for x in batch]
        assert dut.command("tq-reset") == ["m-tq-reset-done"]
        again = [device.run(x)[0] for x in batch]
        device.reset()
        assert np.array_equal(device.run(batch[0])[0], first[0])
    assert all(np.array_equal(a, b) for a, b in zip(first, want))
    assert all(np.array_equal(a, b) for a, b in zip(again, first))


def test_qemu_profile_resets_every_n(stream_build):
    res = run_on_device(stream_build, runs=7, edges=True, reset_every=3)
    assert res.bit_exact and res.samples == 10


def test_fake_board_serves_tq_reset(stream_build):
    with FakeBoard(stream_build) as board:
        res = run_on_device(stream_build, port=board.port, runs=6, timeout=0.5, reset_every=4)
    assert res.bit_exact and res.samples == 6
    assert board.state_resets == 2 and board.commands.count("tq-reset") == 2
    assert board.commands.index("tq-reset") < board.commands.index("tq-infer")  # reset before the first input
