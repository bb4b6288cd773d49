"""SVDF on int8 (int16 time weights and state, TFLite's integer SVDF) and float32: generated C against
TFLite's reference interpreter, bit for bit, over a sequence of inferences.

The models are hand-built with the flatbuffer schema (the converter emits no SVDF): random shapes of the
sizes keyword-spotting models use (batch 1-2, input 10-40, units 4-64, rank 1-2, memory 4-10) and random
weights and scales, seeded. The state is a variable tensor both sides keep across inferences: verify runs
its samples one after another on one interpreter and one build, so every sample after the first checks
the state the previous ones left (a kernel that reset or mis-shifted it would differ from the second
sample on); one run resets every few inferences, and a stack of three SVDFs keeps three states side by side.
float32 is bit-exact too (its sums in the interpreter's order), on the host and on a Cortex-M4F.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import BadInput, UnsupportedModel

from .helpers import Net, options, ref_interpreter

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")


def svdf_layer(net: Net, rng: np.random.Generator, x: int, units: int, rank: int, memory: int, bias: bool = True,
               fused: int = 1, state: str = "int16") -> int:
    """An SVDF reading tensor x [batch, input_size] of `net`, random weights (and, for int8, scales); returns its
    output [batch, units]. An int8 layer keeps `state` (int16; int8 is refused)."""
    batch, input_size = net.tensors[x].shape
    filters = units * rank
    if net.dtype == "int8":
        # Scales that keep the int16 activations and the int8 outputs mostly in range (spread by a random
        # factor, so some saturate): the spread of each sum estimated from uniform weights and inputs.
        xq = (net.tensors[x].quantization.scale[0], net.tensors[x].quantization.zeroPoint[0])
        wf_s, wt_s = float(np.float32(10 ** rng.uniform(-3, -1))), float(np.float32(10 ** rng.uniform(-5, -3)))
        act_std = np.sqrt(input_size) * 74 * wf_s * 74 * xq[0]
        top = np.iinfo(state).max
        sq = (float(np.float32(4 * act_std / top * 2 ** rng.uniform(-1, 1))), 0)
        out_std = np.sqrt(rank * memory) * top * 0.577 * wt_s * act_std
        yq = (float(np.float32(3 * out_std / 127 * 2 ** rng.uniform(-1, 1))), int(rng.integers(-100, 100)))
        wf = net.const(rng.integers(-127, 128, (filters, input_size)), "int8", (wf_s, 0))
        wt = net.const(rng.integers(-top, top + 1, (filters, memory)), state, (wt_s, 0))
        bias_s = float(np.float32(sq[0] * wt_s))
        b = net.const(np.round(rng.normal(0, out_std / 2, units) / bias_s), "int32", (bias_s, 0)) if bias else -1
        state_t = net.tensor((batch, memory * filters), state, q=sq)
        y = net.tensor((batch, units), "int8", q=yq)
    else:
        wf = net.const(rng.normal(0, 1 / np.sqrt(input_size), (filters, input_size)).astype(np.float32), "float32")
        wt = net.const(rng.normal(0, 1 / np.sqrt(memory), (filters, memory)).astype(np.float32), "float32")
        b = net.const(rng.normal(0, 0.5, (units,)).astype(np.float32), "float32") if bias else -1
        state_t = net.tensor((batch, memory * filters), "float32")
        y = net.tensor((batch, units), "float32")
    net.tensors[state_t].isVariable = True
    net.add_op("SVDF", [x, wf, wt, b, state_t], [y], options("SVDFOptionsT", rank=rank, fusedActivationFunction=fused))
    return y


def svdf_net(rng: np.random.Generator, dtype: str, batch: int, input_size: int, units: int, rank: int, memory: int,
             bias: bool = True, fused: int = 1, state: str = "int16") -> Net:
    """One SVDF: graph input x [batch, input_size] -> output [batch, units]."""
    xq = (float(np.float32(10 ** rng.uniform(-2.5, -0.5))), int(rng.integers(-100, 100))) if dtype == "int8" else None
    net = Net(dtype, quant={"int8": xq, "float32": None})
    x = net.input((batch, input_size))
    net.outputs.append(svdf_layer(net, rng, x, units, rank, memory, bias, fused, state))
    return net


# (batch, input_size, units, rank, memory, bias): TFLM's keyword model is 1 x 40 input, rank 1-2, memory 8-10
CASES = [
    (1, 40, 32, 1, 10, True),
    (1, 10, 4, 2, 4, True),
    (1, 24, 64, 1, 8, False),
    (2, 16, 8, 2, 6, True),
    (1, 33, 5, 2, 10, True),
    (1, 12, 16, 1, 4, True),
]


@pytest.mark.parametrize("dtype,kernels", [("int8", "ref"), ("int8", "fast"), ("float32", "fast")])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_sweep(tmp_path, dtype, kernels, case):
    """int8 with the reference kernel and its fast twin (tq_svdf_fast_s8)."""
    rng = np.random.default_rng(100 + case)
    net = svdf_net(rng, dtype, *CASES[case], fused=1 if dtype == "int8" else case % 4)
    r = verify_tflite(net.write(tmp_path / "svdf.tflite"), samples=12, kernels=kernels)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_stacked(tmp_path, dtype):
    """Three SVDF layers in a row, as in keyword-spotting models: three states side by side in the state
    buffer, the activations between them in the arena."""
    rng = np.random.default_rng(300)
    net = svdf_net(rng, dtype, 1, 40, 32, 1, 10)
    y = svdf_layer(net, rng, net.outputs.pop(), 16, 2, 8, fused=1)
    net.outputs.append(svdf_layer(net, rng, y, 6, 1, 4, fused=1))
    r = verify_tflite(net.write(tmp_path / "svdf3.tflite"), samples=12)
    assert r.stateful and r.bit_exact and r.max_abs_diff == 0 and r.layers == 3, r.summary()


def test_sequences_with_resets(tmp_path):
    """Reset every 4 inferences: the state back to zeros, on both sides."""
    net = svdf_net(np.random.default_rng(7), "int8", *CASES[3])
    r = verify_tflite(net.write(tmp_path / "svdf.tflite"), samples=12, reset_every=4)
    assert r.stateful and r.bit_exact and r.reset_every == 4, r.summary()


def test_the_state_matters():
    """The same input twice gives different outputs: the sweep's sequences check the state, not only one step."""
    net = svdf_net(np.random.default_rng(8), "int8", *CASES[1])
    it = ref_interpreter(net.bytes())
    x = np.random.default_rng(0).integers(-128, 128, (1, CASES[1][1])).astype(np.int8)
    out = []
    for _ in range(2):
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        out.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    assert not np.array_equal(out[0], out[1])


def _refused(tmp_path, net, *words: str) -> None:
    with pytest.raises(UnsupportedModel) as e:
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_refusals(tmp_path):
    rng = np.random.default_rng(9)
    # TFLite's integer SVDF fails at Eval without RELU
    _refused(tmp_path, svdf_net(rng, "int8", 1, 10, 4, 1, 4, fused=0), "RELU only")
    net = svdf_net(rng, "int8", 1, 10, 4, 1, 4)
    net.tensors[net.ops[0].inputs[4]].isVariable = False  # read, never written: refused at import
    with pytest.raises(BadInput, match="which no operator writes"):
        import_model(net.write(tmp_path / "bad.tflite"))
    net = svdf_net(rng, "int8", 1, 10, 4, 1, 4)
    net.tensors[net.ops[0].inputs[4]].shape = [1, 15]
    _refused(tmp_path, net, "expected [1, 16]")
    # int8 time weights and state: the interpreter reads them as int16 (it corrupts its own heap), nothing to match
    _refused(tmp_path, svdf_net(rng, "int8", 1, 10, 4, 1, 4, state="int8"), "weights_time", "int16 time weights")
    # int16 activations: no reference kernel
    net = svdf_net(rng, "int8", 1, 10, 4, 1, 4)
    for i in (net.inputs[0], net.outputs[0]):
        net.tensors[i].type = schema.TensorType.INT16
        net.tensors[i].quantization.zeroPoint = [0]
    _refused(tmp_path, net, "SVDF", "float32 or int8 inputs only")


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_qemu_m4(tmp_path, dtype):
    """On a Cortex-M4F: bit-exact over a sequence (float32 too: the same sums in the same order, contraction off)."""
    net = svdf_net(np.random.default_rng(11), dtype, *CASES[4], fused=1)
    r = verify_on_board(net.write(tmp_path / "svdf.tflite"), "qemu-m4", samples=6)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()
