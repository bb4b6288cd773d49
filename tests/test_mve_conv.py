"""The convolutions' Helium paths of four pixels at a time on qemu-m55, bit for bit against TFLite's reference.

tq_conv_1x1_s8, tq_conv_im2col_s8 and tq_conv_taps_s8 gather the columns of four output pixels
(tq_mve_row_quad's layout) and run each weight row against all four (tq_mve_gemm_quad,
tq_mve_acc_quad; a unit of one or two pixels in tq_mve_acc_duo's 2x2 blocks), the row's constants
scalars. One firmware sweeps what that specializes on: input channels 1 to 33 (columns of one and of
several 16-byte blocks, k padded past in.c), output channels 1 to 33 (an odd last row), maps whose
pixel count leaves 1, 2 or 3 pixels for the last unit (a lane predicate), 1x1 and 2x2 maps under a
3x3 or 5x5 window (rows wholly padding, windows wider than the map), windows across every border
(the zero-point runs left and right of a row), strides 1 and 2, SAME and VALID, two layers with
the general requantization (effective scale 0.7), two of two images (the pixel walk into the next
image). Depthwise layers of 8, 24 and 29 channels take tq_mve_dw8 (eight channels past the
sixteens), and windows across the border the tap table built four taps a step (tq_dw_edge_mve).
Inputs at -128 / 127 alternately, then random ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.sweep import conv_row, dw_row
from tinyq.checks.synth import rows_model
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import rewrite_tflite

ROWS = [
    conv_row(1, 3, 8, 1, 1, "same"),  # one pixel
    conv_row((3, 5), 3, 8, 1, 1, "same"),  # 15 pixels: 3 in the last unit
    conv_row((5, 7), 1, 1, 1, 2, "valid"),  # stride 2 over an odd map, one channel in and out
    conv_row((7, 6), 17, 33, 1, 1, "same"),  # two blocks of k, 33 rows; 42 pixels: 2 in the last unit
    conv_row((5, 5), 33, 5, 1, 1, "same"),  # three blocks of k, a tail of 1 channel
    conv_row(1, 3, 7, 3, 1, "same"),  # a 3x3 window over one pixel: only its centre inside
    conv_row(2, 1, 8, 5, 1, "same"),  # a 5x5 window over 2x2: rows wholly padding, both sides padded
    conv_row((3, 3), 8, 8, 3, 1, "same"),  # 9 pixels: 1 in the last unit
    conv_row((6, 6), 1, 9, 3, 1, "same"),  # k 9 (one block)
    conv_row((6, 5), 3, 16, 3, 2, "same"),  # stride 2, odd width
    conv_row((7, 7), 17, 3, 3, 2, "valid"),
    conv_row((5, 9), 5, 6, 5, 1, "same"),  # run 25: a row over two blocks
    conv_row((6, 6), 16, 16, 3, 1, "same"),
    conv_row((9, 7), 32, 33, 3, 1, "same"),  # tap by tap where the arena is tight: 33 rows
    conv_row((11, 10), 16, 32, 3, 2, "valid"),
    conv_row((5, 3), 16, 5, 3, 1, "same"),  # 15 pixels, width 3
    conv_row((3, 3), 48, 7, 3, 1, "same"),  # tap by tap, 9 pixels: the last one in 2x2 blocks
    conv_row((5, 2), 64, 9, 3, 1, "same"),  # 10 pixels: the last two in 2x2 blocks
    # Depthwise: eight channels a step after the sixteens (tq_mve_dw8), the tap table of a window
    # across the border built four taps a step (tq_dw_edge_mve: 9 and 25 taps, past the last tap too).
    dw_row((3, 3), 8, 1, 3, 1, "same"),
    dw_row((5, 4), 24, 1, 3, 2, "same"),
    dw_row((4, 6), 29, 1, 5, 1, "same"),  # 16 + 8 + 4 + 1 channels
    dw_row(1, 12, 1, 3, 1, "same"),  # one pixel: only the centre tap inside
    dw_row((6, 5), 3, 1, 3, 1, "valid"),
]
# Effective scale 0.7: the general requantization.
GENERAL = {"conv_k3_s1_same_6x6x1_9_pc_i8", "conv_k1_s1_same_7x6x17_33_pc_i8", "conv_k3_s1_same_3x3x48_7_pc_i8"}
BATCHED = {"conv_k3_s2_valid_7x7x17_3_pc_i8", "conv_k1_s2_valid_5x7x1_1_pc_i8"}  # inputs and outputs of two images
HELIUM = Target.for_extensions(("dsp", "mve"))


def _edit(m):
    sg = m.subgraphs[0]
    for op in sg.operators:
        x, w, out = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        name = out.name.decode() if isinstance(out.name, bytes) else out.name
        if name in BATCHED:
            for t in (x, out):
                t.shape = [2, *list(t.shape)[1:]]
                t.shapeSignature = None
        if name in GENERAL:
            x_scale = float(x.quantization.scale[0])
            out.quantization.scale = [float(np.float32(x_scale * float(np.max(w.quantization.scale)) / 0.7))]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("mveconv")
    src = d / "rows.tflite"
    src.write_bytes(rows_model(ROWS, seed=3))
    return rewrite_tflite(src, d / "mve_conv.tflite", _edit)


def test_layers_take_the_quad_kernels(model):
    g = compile_tflite(model, HELIUM)
    calls = {g.tensor(op.outputs[0]).name: op.call for op in g.ops}
    assert len(calls) == len(ROWS)
    funcs = {c.func for c in calls.values()}
    assert funcs == {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_taps_s8", "tq_depthwise_conv_fast_s8"}, funcs
    assert {calls[n].params["gemm"]["requant"] for n in GENERAL} == {1}
    gemms = [c.params["gemm"] for c in calls.values() if "gemm" in c.params]
    assert sum(m["requant"] for m in gemms) == len(GENERAL) and {m["group"] for m in gemms} == {16}
    assert {calls[n].params["in"]["n"] for n in BATCHED} == {2}


def test_bit_exact_on_qemu_m55(model, tmp_path):
    res = build(model, get_board("qemu-m55"), tmp_path / "b")
    rng = np.random.default_rng(4)
    arrays = []
    for i in res.graph.inputs:
        shape = tuple(res.graph.tensor(i).shape)
        alt = np.broadcast_to(np.where(np.arange(shape[-1]) % 2 == 0, 127, -128), shape).astype(np.int8)
        arrays.append(np.stack([alt, -1 - alt, *rng.integers(-128, 128, (2, *shape), dtype=np.int8)]))
    np.savez(tmp_path / "x.npz", *arrays)
    run = run_on_device(res.out_dir, runs=4, inputs=tmp_path / "x.npz", built=res)
    assert run.bit_exact, run.first_mismatch
