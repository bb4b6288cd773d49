"""FULLY_CONNECTED with int16 weights on DSP cores (tq_fc_wide_dsp in firmware/kernels/conv/tq_fc_dsp.S),
the per-layer chunks of the int8 loops and their reads past the input row.

Layers of at most FC_WIDE_QUADS quads of rows store their weights as int16 by default on DSP cores
(w + w_offset, per quad and 4 of depth each row's (w0, w2, w1, w3): SXTB16 of the input, SMLAD; the last
depth % 4 bytes in a tail word, so nothing past the row is read), while that costs at most
FC_WIDE_EXTRA_MAX bytes more flash and 1 / FC_WIDE_FLASH_SHARE of the board's; with --wide-weights every
layer. After an earlier layer made the shared input into Z words in place they read those (UXTB16 for
the even lanes, w0 and w3 negated, the bias less the constant). Checked: the layouts' algebra in numpy,
the rule and its caps, the int8 loops' chunk lengths against the exact extremes of their sums, the arena
grown for the int8 loops' reads past a row, and bit for bit on qemu-m4 and qemu-m33 over depths 1 .. 1031
(odd, not multiples of 4), 1 .. 8 outputs (partial quads), per-tensor zero points, fused activations,
a guarded layer, batches, raw and Z-form inputs, and --wide-weights on 33-output layers.
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
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target
from tinyq.ops import conv

from .helpers import rewrite_tflite

DSP = Target.for_extensions(("dsp",))
# Rows read by a narrow maker first (the wide ones after it read Z words) and alone (raw input).
ROWS = [fc_row(64, 33), fc_row(64, 8), fc_row(64, 3, "per_tensor", -4),  # one input: maker, then two wide readers
        fc_row(1, 1), fc_row(3, 5, "per_tensor", 3), fc_row(13, 7), fc_row(35, 8, "per_tensor", -5),
        fc_row(250, 6), fc_row(1031, 4, "per_tensor", 7), fc_row(257, 2)]


def _wide_calls(g):
    return [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8" and op.call.params.get("wide")]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcwide")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=5))
    return rewrite_tflite(src, d / "fc_wide.tflite", _activations)


def _activations(m):
    """Fused NONE, RELU, RELU6 in turn, and activation zero points moved (scales kept)."""
    sg = m.subgraphs[0]
    for n, op in enumerate(sg.operators):
        op.builtinOptions.fusedActivationFunction = (0, 1, 3)[n % 3]
        for i in (op.inputs[0], op.outputs[0]):
            q = sg.tensors[i].quantization
            q.zeroPoint = [(int(q.zeroPoint[0]) + 37 * (n + 1) + 128) % 256 - 128]


def _smlad_lanes(x: np.ndarray, z_form: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per 4 of depth the lanes of tq_fc_wide_dsp's two operand words from the input bytes x: SXTB16 of
    the word and of it rotated by 8; with z_form of the word the maker leaves (x ^ 0xFF80007F), UXTB16
    for the even lanes."""
    u = x.view(np.uint8).reshape(-1, 4)
    if z_form:
        u = u ^ np.array([0x7F, 0x00, 0x80, 0xFF], np.uint8)
    signed = u.view(np.int8).astype(np.int64)
    even = u[:, [0, 2]].astype(np.int64) if z_form else signed[:, [0, 2]]
    return even, signed[:, [1, 3]]


@pytest.mark.parametrize("z_form", [False, True])
def test_stream_and_bias_give_the_dot_product(z_form):
    """The int16 stream (and, for Z words, conv.fc_wide_on_operands' change of it and of the bias) summed as
    the SMLAD lanes do equals bias + sum (w + w_offset)(x + in_offset) for every row, padding included."""
    rng = np.random.default_rng(3)
    units, depth, w_off, in_off = 7, 23, -3, 5
    rows = rng.integers(-128, 128, (units, depth)).astype(np.int8)
    rows[0, :4] = -128  # negated in the Z form: 128 fits int16
    k = 24
    padded = np.zeros((8, k), np.int8)
    padded[:units, :depth] = rows
    b = rng.integers(-1000, 1000, units)
    folded = np.zeros(8, np.int64)
    folded[:units] = b + in_off * (rows.astype(np.int64) + w_off).sum(axis=1)
    stream = conv._fc_wide_stream(padded, depth, units, w_off)
    call = conv.KERNELS["tq_fully_connected_fast_s8"].call(
        params={"k": k, "fc_prep": 0}, inputs=[0], outputs=[1, -1],
        arrays=[conv.ConstArray("w16", "int16_t", stream), conv.ConstArray("bias", "int32_t", folded.astype(np.int32))])
    if z_form:
        conv.fc_wide_on_operands(call)
        assert call.params["fc_prep"] == 3
    arrays = {a.name: a.values.astype(np.int64) for a in call.arrays}
    w = arrays["w16"].reshape(2, k // 4, 4, 4)  # [quad][4 of depth][row][(w0, w2, w1, w3)]
    x = rng.integers(-128, 128, k).astype(np.int8)
    x[depth:] = rng.integers(-128, 128, k - depth)  # whatever lies past the row adds nothing
    even, odd = _smlad_lanes(x, z_form)
    sums = arrays["bias"].copy()
    for q in range(2):
        for r in range(4):
            sums[4 * q + r] += (w[q, :, r, :2] * even).sum() + (w[q, :, r, 2:] * odd).sum()
    want = b + ((rows.astype(np.int64) + w_off) * (x[:depth].astype(np.int64) + in_off)).sum(axis=1)
    assert np.array_equal(sums[:units], want)


def test_the_rule_and_its_caps():
    """int16 weights on DSP cores for layers of at most two quads within the flash caps, every layer with
    --wide-weights; never on plain C or Helium cores."""
    g = lambda target: type("G", (), {"target": target})()  # noqa: E731
    assert conv._fc_widen(g(DSP), 1024, 8) and conv._fc_widen(g(DSP), 2048, 8)  # 8 KB, 16 KB more
    assert not conv._fc_widen(g(DSP), 2049, 8) and not conv._fc_widen(g(DSP), 64, 9)
    assert not conv._fc_widen(g(dataclasses.replace(DSP, flash=64 * 1024)), 1024, 8)  # over 1/16 of 64 KB
    assert conv._fc_widen(g(dataclasses.replace(DSP, flash=64 * 1024)), 512, 8)
    assert conv._fc_widen(g(dataclasses.replace(DSP, wide=True)), 4096, 256)
    assert not conv._fc_widen(g(Target()), 64, 8) and not conv._fc_widen(g(Target.for_extensions(("mve",))), 64, 8)


def test_widened_layers_and_their_flash(model):
    g = compile_tflite(model, DSP)
    fc = [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8"]
    wide = _wide_calls(g)
    assert len(wide) == len(ROWS) - 1 and fc[0].params["wide"] == 0  # all but the 33-output maker
    assert fc[0].params["fc_prep"] == 2 and [c.params["fc_prep"] for c in fc[1:3]] == [3, 3]  # Z-form readers
    assert {c.params["fc_prep"] for c in fc[3:]} == {0}
    for c in wide:
        arrays = {a.name: a for a in c.arrays}
        assert c.params["weights"] == 0 and "w" not in arrays and c.params["split"] == 0
        assert arrays["w16"].ctype == "int16_t" and arrays["w16"].values.size == 4 * (-(-c.params["out_depth"] // 4)) * c.params["k"]
    assert not _wide_calls(compile_tflite(model, Target()))


def _stored_extremes(stored: np.ndarray, lg: int) -> int:
    """The largest |D| a run of 2^(lg - 2) words of the int8 layout can reach (the input chosen per byte)."""
    u3, w2 = stored[:, 0::4].view(np.uint8).astype(np.int64), stored[:, 1::4].astype(np.int64)
    u1, w0 = stored[:, 2::4].view(np.uint8).astype(np.int64), stored[:, 3::4].astype(np.int64)
    x = np.arange(-128, 128)[:, None, None]
    hi = (w2 * (x + 128)).max(0) + (-w0 * (127 - x)).max(0) + (u1 * x).max(0) + (u3 * (1 + x)).max(0)
    lo = (w2 * (x + 128)).min(0) + (-w0 * (127 - x)).min(0) + (u1 * x).min(0) + (u3 * (1 + x)).min(0)
    n = min(1 << (lg - 2), hi.shape[1])
    win = lambda a: np.lib.stride_tricks.sliding_window_view(a, n, axis=1).sum(-1)  # noqa: E731
    return int(max(win(hi).max(), -win(lo).min()))


@pytest.mark.parametrize("seed,mag", [(0, 128), (1, 40), (2, 8)])
def test_chunks_keep_the_sums_in_int32(seed, mag):
    """params chunk_lg: every run of a chunk's words keeps 256 D within int32 for any input, and a chunk
    twice as long would not (unless it already covers the row)."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(-mag, mag, (8, 2048)).astype(np.int8)
    lg = conv._fc_chunk_lg(stored)
    assert _stored_extremes(stored, lg) < 2**23
    assert lg == conv.FC_CHUNK_LG_MAX or (1 << (lg - 2)) >= 512 or _stored_extremes(stored, lg + 1) >= 2**23
    worst = np.tile(np.array([-1, 127, -1, -128], np.int8), (4, 512))  # u3 255, w2 127, u1 255, w0 -128
    assert conv._fc_chunk_lg(worst) == 8 and _stored_extremes(worst, 8) < 2**23 <= _stored_extremes(worst, 9)


def test_arena_holds_the_int8_loops_reads_past_a_row(tmp_path):
    """A layer whose input ends the arena and whose k passes its depth: the arena grows to k."""
    path = tmp_path / "one.tflite"
    path.write_bytes(rows_model([fc_row(1029, 33)], seed=1))
    g = compile_tflite(path, DSP)
    (c,) = [op.call for op in g.ops if op.call.func == "tq_fully_connected_fast_s8"]
    base = g.base(c.inputs[0])
    assert c.params["k"] == 1032 and g.arena_size >= base.offset + 1032


def _inputs(res, path):
    rng = np.random.default_rng(1)
    arrays = []
    for i in res.graph.inputs:
        n = int(res.graph.tensor(i).shape[-1])
        alt = np.where(np.arange(n) % 2 == 0, 127, -128).astype(np.int8)
        arrays.append(np.stack([alt, -1 - alt, *rng.integers(-128, 128, (2, n), dtype=np.int8)]))
    np.savez(path, *arrays)
    return path


@pytest.mark.parametrize("board,guarded", [("qemu-m4", False), ("qemu-m33", True)])
def test_wide_bit_exact_on_qemu(model, board, guarded, monkeypatch, tmp_path):
    """Raw and Z-form inputs, partial quads, zero points, activations; on qemu-m33 every layer guarded
    (proof budget 0: the sums requantized by tq_fc_out)."""
    if guarded:
        monkeypatch.setattr(conv, "FC_CHECK_BUDGET", 0)
    res = build(model, get_board(board), tmp_path / "b")
    wide = _wide_calls(res.graph)
    assert len(wide) == len(ROWS) - 1 and {c.params["fc_prep"] for c in wide} == {0, 3}
    assert not guarded or all(c.params["guarded"] in (1, 2) for c in wide)
    run = run_on_device(res.out_dir, runs=4, inputs=_inputs(res, tmp_path / "x.npz"), built=res)
    assert run.bit_exact, run.first_mismatch


def test_wide_weights_option_and_batches_on_qemu(tmp_path):
    """--wide-weights: 33- and 13-output layers too (the last quad partial); batches of 3 rows of 35 (the
    tail word per row), a fused ReLU; bit-exact on qemu-m4."""
    import keras

    from .helpers import randomize_weights, write_tflite

    rng = np.random.default_rng(7)
    inp = keras.Input((3, 35))
    model = keras.Model(inp, keras.layers.Dense(13)(keras.layers.Dense(33, activation="relu")(inp)))
    randomize_weights(model, rng)
    path = write_tflite(tmp_path, "batched", model, [rng.uniform(-1.0, 3.0, size=(16, 3, 35)).astype(np.float32)])
    res = build(path, get_board("qemu-m4"), tmp_path / "b", wide=True)
    assert [(c.params["batches"], c.params["out_depth"]) for c in _wide_calls(res.graph)] == [(3, 33), (3, 13)]
    run = run_on_device(res.out_dir, runs=4, built=res)
    assert run.bit_exact, run.first_mismatch
