"""ADD (int8) on the DSP cores: tq_add_dsp.S's loop (SaturatingRoundingDoublingHighMul as SMMULR of the
doubled operand, RoundingDivideByPOT's constant and sign correction as SMMLAR's accumulator, then a
shift; the larger-scale input's rescale (multiplier 1/2) an exact shift, the inputs swapped where it
is the second, both equal as mb 2^31 - 1, eb 1; SSAT or a clamp), the C loops where its constants
would not fit (scales far apart), on the computed path and on the tabulated one (1024 elements and
more); bit-exact against the reference interpreter on qemu-m4 over random scales, zero points and
fused activations, one element to 1024.
(A rescale's rounding tie moves the sum by 2^-19 of an output step or so: the outputs cannot show
it; the rounding is TFLite's by construction, as tq_requantize_rs's.)
"""

from __future__ import annotations

import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.sweep import add_row
from tinyq.checks.synth import rows_model

from .helpers import requantize

ROWS = [add_row((1, 1), 3), add_row((1, 1), 17), add_row((3, 5), 13), add_row((8, 16), 8)]  # 1024: tabulated
# tq_add_dsp.S: one element, odd counts, either clamp (activation or none); scales far apart fall back to C
ROWS += [add_row((1, 1), c) for c in (1, 2, 5, 7, 9, 33)] + [add_row((2, 3), c) for c in (1, 3, 4, 6, 11, 64)]


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    d = tmp_path_factory.mktemp("adddsp")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=2))
    return d, src


@pytest.mark.parametrize("seed, same", [(11, False), (13, True)], ids=["random", "equal"])
def test_add_bit_exact_on_qemu_m4(rows, seed, same, tmp_path):
    d, src = rows
    model = requantize(src, d / f"add_{seed}.tflite", seed, same=same)
    res = build(model, get_board("qemu-m4"), tmp_path / "b")
    ops = [op for op in res.graph.ops if op.call.func == "tq_add_fast_s8"]
    fast = [op.call for op in ops]
    assert {c.params["t1"] != 0 for c in fast} == {True, False}  # tabulated and computed
    dsp = [c.params["k"] for c in fast if c.params["k"][9] > 0]
    assert {(k[7], k[8]) == (-128, 127) for k in dsp} == {True, False}  # both clamps of the DSP loop
    if same:  # both inputs of one scale: multipliers 1/2, no shift; the DSP loop takes in2 as mb 2^31 - 1, eb 1
        assert all(c.params["add"]["in1_shift"] == c.params["add"]["in2_shift"] == 0 for c in fast)
        assert len(dsp) == len(fast) and all(k[2:4] == [2**31 - 1, 1] for k in dsp)
    else:
        # the larger scale's input first (the inputs swapped where it was the second), rescale 1/2
        assert {op.call.inputs != op.inputs[:2] for op in ops} == {True, False}
        assert all(c.params["add"]["in1_mult"] == 2**30 and c.params["add"]["in1_shift"] == 0 for c in fast)
        assert 0 < len(dsp) < len(fast)  # scales far apart: the C loop
    run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
    assert run.bit_exact, run.first_mismatch
