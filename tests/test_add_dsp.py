"""ADD (int8) on the DSP cores: tq_add_fast_s8's SMMULR requantization (SaturatingRoundingDoublingHighMul
as SMMULR of the doubled operand, RoundingDivideByPOT as an add, a sign correction and a shift), the
rescale of the larger-scale input (multiplier 1/2) as an exact shift, with either input the larger
one or both equal, on the computed path and on the tabulated one (1024 elements and more); bit-exact
against the reference interpreter on qemu-m4 over random scales, zero points and fused activations.
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
    fast = [op.call for op in res.graph.ops if op.call.func == "tq_add_fast_s8"]
    assert {c.params["t1"] != 0 for c in fast} == {True, False}  # tabulated and computed
    if same:  # both inputs of one scale: multipliers 1/2, no shift
        assert all(c.params["add"]["in1_shift"] == c.params["add"]["in2_shift"] == 0 for c in fast)
    else:
        sides = {(c.params["add"]["in1_shift"] == 0, c.params["add"]["in2_shift"] == 0) for c in fast}
        assert len(sides) == 2  # in1 the larger scale in some layers, in2 in others
    run = run_on_device(res.out_dir, runs=3, edges=True, built=res)
    assert run.bit_exact, run.first_mismatch
