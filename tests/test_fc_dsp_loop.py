"""FULLY_CONNECTED's DSP loop (firmware/kernels/conv/tq_fc_dsp.S) and the layout it reads.

Weights are stored as (w1 + 128, w0) pairs, the bytes of odd indices past the depth 0, the bias less
the loop's constant; the loop sums 256 times the dot product in chunks of 256 of depth. Its operands
are made once a call in scratch (fc_prep 1, where plan_memory finds the scratch fits the arena) or
in the loop (fc_prep 0), where the input's sums come from tq_fc_sums_dsp (halfword lanes, chunks of
256 words). Checked bit for bit: on the host (the portable C reads the same layout), and on qemu-m4
with both loops forced, over depths not a multiple of 4, several chunks, per-tensor weights with zero
points, a guarded layer, and weights and inputs at -128 / 127 in the pattern that takes a chunk's
sum nearest its int32 bound (over it, were the chunks twice as long) and the input sums' lanes to
-32768 and 32512.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.sweep import fc_row
from tinyq.checks.synth import rows_model
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops import conv

from .helpers import assert_bit_exact, rewrite_tflite

ROWS = [fc_row(1, 3), fc_row(3, 5, "per_tensor", 3), fc_row(13, 7), fc_row(35, 8, "per_tensor", -5),
        fc_row(250, 33), fc_row(257, 4, "per_tensor"), fc_row(513, 6), fc_row(641, 13, "per_tensor", 5),
        fc_row(1029, 6), fc_row(1031, 3, "per_tensor", -7)]  # input sums over two chunks of 256 words
EXTREME = ("fc_257_4_pt_i8", "fc_513_6_pc_i8")  # weights rewritten to -128 / 127


def _extreme(m):
    """Weights of the EXTREME layers at -128 and 127, alternating along the depth (in opposite phase
    on alternate rows), the output scale widened so that the sums do not all clamp."""
    sg = m.subgraphs[0]
    for op in sg.operators:
        w, out = sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        name = out.name.decode() if isinstance(out.name, bytes) else out.name
        if name not in EXTREME:
            continue
        units, depth = (int(d) for d in w.shape)
        q = np.where((np.arange(depth)[None, :] + np.arange(units)[:, None]) % 2 == 0, -128, 127).astype(np.int8)
        m.buffers[w.buffer].data = np.frombuffer(q.tobytes(), dtype=np.uint8).copy()
        x_scale = float(sg.tensors[op.inputs[0]].quantization.scale[0])
        w_scale = float(np.max(w.quantization.scale))
        out.quantization.scale = [float(np.float32(x_scale * w_scale * 255 * 128 * 260 / 127))]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcdsp")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=3))
    return rewrite_tflite(src, d / "fc_dsp.tflite", _extreme)


def _force(monkeypatch, prep: bool):
    """Lower every int8 FULLY_CONNECTED with (prep) or without its scratch twin, whatever the arena."""
    lower = conv._lower_fc_fast

    def forced(g, op, *a):
        call = lower(g, op, *a)
        if call is not None and call.alt is not None:
            alt, words = call.alt
            call.alt = None
            if prep:
                g.tensor(call.outputs[1]).shape = (words,)
                alt.outputs = list(call.outputs)
                return alt
        return call

    monkeypatch.setattr(conv, "_lower_fc_fast", forced)


def _fc_params(path):
    return [op.call.params for op in compile_tflite(path, Target()).ops if op.call.func == "tq_fully_connected_fast_s8"]


def test_layout_and_host_bit_exact(model):
    params = _fc_params(model)
    assert len(params) == len(ROWS) and all(p["split"] == 1 for p in params)
    assert {p["guarded"] for p in params} >= {0, 1}  # a guarded layer among them
    assert {p["w_offset"] for p in params} >= {-3, 5, 0}
    assert_bit_exact(model, samples=8)


def test_helium_layout_unsplit(model):
    mve = Target.for_extensions(("mve",))
    assert {op.call.params["split"] for op in compile_tflite(model, mve).ops} == {0}


@pytest.mark.parametrize("prep", [True, False], ids=["prep", "inline"])
def test_dsp_loop_bit_exact_on_qemu_m4(model, prep, monkeypatch, tmp_path):
    _force(monkeypatch, prep)
    res = build(model, get_board("qemu-m4"), tmp_path / "b")
    calls = [op.call for op in res.graph.ops if op.call.func == "tq_fully_connected_fast_s8"]
    assert {c.params["fc_prep"] for c in calls} == {int(prep)}
    # Inputs 127, -128, ... and -128, 127, ...: with the weights above, -65,153 a pair of depth in
    # the loop's units for some rows; then random ones.
    rng = np.random.default_rng(1)
    arrays = []
    for i in res.graph.inputs:
        n = int(res.graph.tensor(i).shape[-1])
        alt = np.where(np.arange(n) % 2 == 0, 127, -128).astype(np.int8)
        arrays.append(np.stack([alt, -1 - alt, *rng.integers(-128, 128, (2, n), dtype=np.int8)]))
    np.savez(tmp_path / "x.npz", *arrays)
    run = run_on_device(res.out_dir, runs=4, inputs=tmp_path / "x.npz", built=res)
    assert run.bit_exact, run.first_mismatch


def test_scratch_twin_taken_only_where_it_fits(model):
    g = compile_tflite(model, Target())
    fc = [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8"]
    for call in fc:
        scratch = g.tensor(call.outputs[1])
        assert scratch.nbytes == (2 * call.params["k"] if call.params["fc_prep"] else 0)
