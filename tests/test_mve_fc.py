"""FULLY_CONNECTED's Helium path (tq_fc_mve in firmware/kernels/conv/tq_fully_connected_fast_s8.c) on qemu-m55.

Four rows a pass in a tail-predicated loop, the four sums requantized at once (VMULH / VMUL and the
carry of the rounding constant's low word), a guarded layer's lanes near a rounding boundary sent to
the scalar exact path, and a layer without a fixed-point form (guarded 2) requantized by tq_fc_round.
One firmware sweeps depths 1 to 700 (odd, below, at and past a vector of 16), 1 to 300 outputs (a
last partial quad), per-tensor weights with zero points (the input's sum) and per-channel ones, a
layer of three batches; the
output scales of three layers are rewritten so that the effective scale lies in [1/4, 1/2) (shift 0:
the rounding constant's low word is 2^31), at 0.7 (no fixed-point form) and in a guarded range.
Inputs at -128 / 127 alternately, then random ones, bit for bit against TFLite's reference.
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

from .helpers import rewrite_tflite

ROWS = [fc_row(1, 1), fc_row(3, 5, "per_tensor", 3), fc_row(15, 4), fc_row(16, 7, "per_tensor", -5), fc_row(17, 300),
        fc_row(35, 33, "per_tensor", 5), fc_row(64, 8), fc_row(127, 13, "per_tensor", -1), fc_row(250, 33),
        fc_row(257, 6, "per_tensor"), fc_row(513, 2), fc_row(700, 9, "per_tensor", 7), fc_row(33, 17, "per_tensor"),
        fc_row(48, 11, "per_tensor", 2)]
# Effective scale (input scale * weight scale / output scale, the largest channel's) to set per layer.
SCALES = {"fc_33_17_pt_i8": 0.3, "fc_48_11_ptz2_i8": 0.7, "fc_15_4_pc_i8": 0.3}
BATCHED = "fc_35_33_ptz5_i8"  # its input and output made 3 rows
HELIUM = Target.for_extensions(("dsp", "mve"))


def _edit(m):
    sg = m.subgraphs[0]
    for op in sg.operators:
        w, out = sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        name = out.name.decode() if isinstance(out.name, bytes) else out.name
        if name == BATCHED:
            for t in (sg.tensors[op.inputs[0]], out):
                t.shape = [3, int(t.shape[-1])]
                t.shapeSignature = None
        if name in SCALES:
            x_scale = float(sg.tensors[op.inputs[0]].quantization.scale[0])
            w_scale = float(np.max(w.quantization.scale))
            out.quantization.scale = [float(np.float32(x_scale * w_scale / SCALES[name]))]


@pytest.fixture(scope="module", autouse=True)
def _budget():
    """The proof budget under which a layer here stays guarded (the guarded Helium path tested)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(conv, "FC_CHECK_BUDGET", 1 << 25)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("mvefc")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=5))
    return rewrite_tflite(src, d / "mve_fc.tflite", _edit)


def test_layers_cover_the_requantization_forms(model):
    calls = [op.call for op in compile_tflite(model, HELIUM).ops if op.call.func == "tq_fully_connected_fast_s8"]
    assert len(calls) == len(ROWS) and {c.params["group"] for c in calls} == {16}
    assert {c.params["guarded"] for c in calls} == {0, 1, 2}
    assert {c.params["w_offset"] for c in calls} >= {0, -3, 5, 1, -7}
    assert sorted(c.params["batches"] for c in calls)[-2:] == [1, 3]
    quant = [next(a.values for a in c.arrays if a.name == "quant").reshape(-1, 4) for c in calls]
    rows = np.concatenate([q[:c.params["out_depth"]] for q, c in zip(quant, calls) if c.params["guarded"] != 2])
    assert ((rows[:, 1] & 0xFF) == 0).any() and ((rows[:, 1] & 0xFF) > 0).any()  # shifts t 0 and above
    assert (rows[:, 2] != 0).any() and (rows[:, 2] == 0).any()  # rounding constants with and without a low word


def test_bit_exact_on_qemu_m55(model, tmp_path):
    res = build(model, get_board("qemu-m55"), tmp_path / "b")
    assert "dlstp.8" in (res.out_dir / "src" / "tq_fully_connected_fast_s8.c").read_text()
    rng = np.random.default_rng(2)
    arrays = []
    for i in res.graph.inputs:
        shape = tuple(res.graph.tensor(i).shape)
        alt = np.broadcast_to(np.where(np.arange(shape[-1]) % 2 == 0, 127, -128), shape).astype(np.int8)
        arrays.append(np.stack([alt, -1 - alt, *rng.integers(-128, 128, (3, *shape), dtype=np.int8)]))
    np.savez(tmp_path / "x.npz", *arrays)
    run = run_on_device(res.out_dir, runs=5, inputs=tmp_path / "x.npz", built=res)
    assert run.bit_exact, run.first_mismatch
