"""FULLY_CONNECTED's DSP loop (firmware/kernels/conv/tq_fc_dsp.S) and the layout it reads.

Per 4 of depth the weights are stored as (w3 + 128, w2, w1 + 128, w0), the bytes past the depth 0, the
bias less the loop's constant; the loop sums 256 times the dot product (plus 128 times the odd inputs,
taken off at run time) in chunks of 256 of depth, from the input word made into Z = x ^ 0xFF80007F and
P = UXTB16 Z. The operands are made once a call in scratch (fc_prep 1, where plan_memory finds the
scratch fits the arena), in place in the input where it dies with the layers reading it (fc_prep 2 for
the first of them, 3 for the later ones: the input's sums from its Z words) or in the loop (fc_prep 0),
where the input's sums come from tq_fc_sums_dsp (halfword lanes, chunks of 256 words). Checked bit for
bit: on the host (the portable C reads the same layout), and on qemu-m4 with each way forced (and the
in-place one on qemu-m33), over depths not a multiple of 4 or 8, several chunks, an input read by two
layers, per-tensor weights with zero points, a guarded layer, and weights and inputs at -128 / 127 in the
pattern that takes a chunk's sum nearest its int32 bound and the input sums' lanes to their bounds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.sweep import fc_row
from tinyq.checks.synth import rows_model
from tinyq.compiler import passes
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops import conv

from .helpers import assert_bit_exact, rewrite_tflite

ROWS = [fc_row(1, 3), fc_row(3, 5, "per_tensor", 3), fc_row(13, 7), fc_row(35, 8, "per_tensor", -5),
        fc_row(250, 33), fc_row(257, 4, "per_tensor"), fc_row(513, 6), fc_row(641, 13, "per_tensor", 5),
        fc_row(1029, 6), fc_row(1031, 3, "per_tensor", -7),  # input sums over two chunks of 256 words
        fc_row(250, 9, "per_tensor", 2), fc_row(1029, 5, "per_tensor"),  # inputs read by two layers
        fc_row(24, 5), fc_row(29, 6, "per_tensor", 1), fc_row(45, 7), fc_row(55, 4)]  # in place: 3, 4, 6, 7 steps of 8
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


@pytest.fixture(scope="module", autouse=True)
def _narrow():
    """The int8 layouts on every row (no int16 weights by default: tests/test_fc_wide.py has those) and the
    smaller proof budget under which a row of ROWS stays guarded (the guarded loop tested)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(conv, "FC_WIDE_QUADS", 0)
    mp.setattr(conv, "FC_CHECK_BUDGET", 1 << 25)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcdsp")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=3))
    return rewrite_tflite(src, d / "fc_dsp.tflite", _extreme)


def _force(monkeypatch, way: str):
    """Lower every int8 FULLY_CONNECTED with its scratch twin ("prep") or without, whatever the arena;
    without, in place where the input allows ("flip") or never ("inline")."""
    lower = conv._lower_fc_fast

    def forced(g, op, *a):
        call = lower(g, op, *a)
        if call is not None and call.alt is not None:
            alt, words = call.alt
            call.alt = None
            if way == "prep":
                g.tensor(call.outputs[1]).shape = (words,)
                alt.outputs = list(call.outputs)
                return alt
        return call

    monkeypatch.setattr(conv, "_lower_fc_fast", forced)
    if way in ("inline", "prep"):  # (_fc_flip would make prep layers in place)
        monkeypatch.setattr(passes, "_fc_flip", lambda g: None)


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


WAYS = {"prep": {1}, "flip": {2, 3}, "inline": {0}}


@pytest.mark.parametrize("way,board", [("prep", "qemu-m4"), ("flip", "qemu-m4"), ("inline", "qemu-m4"), ("flip", "qemu-m33")])
def test_dsp_loop_bit_exact_on_qemu(model, way, board, monkeypatch, tmp_path):
    _force(monkeypatch, way)
    res = build(model, get_board(board), tmp_path / "b")
    calls = [op.call for op in res.graph.ops if op.call.func == "tq_fully_connected_fast_s8"]
    ways = {c.params["fc_prep"] for c in calls}  # (in place: not on rows of an odd count of words up to 16)
    assert ways == WAYS[way] or (way == "flip" and ways == {0, 2, 3})
    # Inputs 127, -128, ... and -128, 127, ...: with the weights above, the largest sums a chunk
    # of the loop can reach for some rows; then random ones.
    rng = np.random.default_rng(1)
    arrays = []
    for i in res.graph.inputs:
        n = int(res.graph.tensor(i).shape[-1])
        alt = np.where(np.arange(n) % 2 == 0, 127, -128).astype(np.int8)
        arrays.append(np.stack([alt, -1 - alt, *rng.integers(-128, 128, (2, n), dtype=np.int8)]))
    np.savez(tmp_path / "x.npz", *arrays)
    run = run_on_device(res.out_dir, runs=4, inputs=tmp_path / "x.npz", built=res)
    assert run.bit_exact, run.first_mismatch


def test_in_place_operands_only_where_the_input_dies(model):
    """fc_prep 2 on the first reader of an input that dies with its readers, 3 on the later ones; never
    with --keep-input (the input must survive) nor off the DSP cores; the plan then says the input
    does not survive an inference."""
    g = compile_tflite(model, Target.for_extensions(("dsp",)))
    fc = [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8"]
    by_input: dict = {}
    for call in fc:
        assert call.params["k"] % 8 == 0 or (call.params["fc_prep"] < 2 and call.params["k"] <= 64)
        by_input.setdefault(g.base(call.inputs[0]).index, []).append(call.params["fc_prep"])
    shared = [ways for ways in by_input.values() if len(ways) > 1]
    assert any(ways[-1] == 3 for ways in shared)  # an input read by two layers, made once
    for ways in by_input.values():  # the in-place readers: the last ones, the first of them making it
        first = ways.index(2) if 2 in ways else len(ways)
        assert ways[first + 1:] == [3] * (len(ways) - first - 1) and 3 not in ways[:first]
    assert any(2 in ways for ways in by_input.values()) and not passes.input_kept(g)
    kept = compile_tflite(model, dataclasses.replace(Target.for_extensions(("dsp",)), keep_input=True))
    assert {op.call.params["fc_prep"] for op in kept.ops if op.call.func == "tq_fully_connected_fast_s8"} <= {0, 1}
    assert {op.call.params["fc_prep"] for op in compile_tflite(model, Target()).ops
            if op.call.func == "tq_fully_connected_fast_s8"} <= {0, 1}


def test_scratch_twin_taken_only_where_it_fits(model):
    g = compile_tflite(model, Target())
    fc = [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8"]
    for call in fc:
        scratch = g.tensor(call.outputs[1])
        assert scratch.nbytes == (2 * call.params["k"] if call.params["fc_prep"] == 1 else 0)


def test_in_place_operands_over_batches_and_a_dying_activation(tmp_path, monkeypatch):
    """Batches of rows (3 x 24, then 3 x 32: word-aligned rows) made into operands in place: the model's
    input, then the first layer's output, which dies with the second; bit-exact on qemu-m4."""
    import keras

    from .helpers import randomize_weights, write_tflite

    rng = np.random.default_rng(5)
    inp = keras.Input((3, 24))
    model = keras.Model(inp, keras.layers.Dense(7)(keras.layers.Dense(32, activation="relu")(inp)))
    randomize_weights(model, rng)
    path = write_tflite(tmp_path, "batched", model, [rng.uniform(-1.0, 3.0, size=(16, 3, 24)).astype(np.float32)])
    _force(monkeypatch, "flip")
    res = build(path, get_board("qemu-m4"), tmp_path / "b")
    calls = [op.call for op in res.graph.ops if op.call.func == "tq_fully_connected_fast_s8"]
    assert [(c.params["batches"], c.params["fc_prep"]) for c in calls] == [(3, 2), (3, 2)]
    run = run_on_device(res.out_dir, runs=4, built=res)
    assert run.bit_exact, run.first_mismatch
