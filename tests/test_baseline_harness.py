"""The CMSIS-NN baseline harness without the source trees (CI has none): a sweep row -> the parameters
and function of its CMSIS-NN call, the pool layout, and a clear refusal when a tree is missing."""

import subprocess
import sys

import pytest

from tinyq.checks import baseline as bl


def row(op, dtype="int8", inp=(12, 12, 16), out=(12, 12, 32), kernel=(3, 3), stride=(1, 1), padding="same",
        mult=None, weights="per_channel", wzp=0):
    return {"id": f"{op}_{dtype}", "op": op, "dtype": dtype, "in": list(inp), "out": list(out),
            "kernel": list(kernel) if kernel else None, "stride": list(stride) if stride else None,
            "padding": padding, "depth_multiplier": mult, "weights": weights, "weight_zero_point": wzp, "macs": 0}


@pytest.mark.parametrize("size, k, s, expect", [
    (12, 3, 1, (12, 1)), (12, 3, 2, (6, 0)), (13, 3, 2, (7, 1)), (96, 3, 2, (48, 0)), (5, 1, 1, (5, 0)),
    (7, 5, 1, (7, 2)), (6, 2, 2, (3, 0)), (1, 3, 1, (1, 1)),
])
def test_same_padding_is_tflites(size, k, s, expect):
    assert bl.same_padding(size, k, s) == expect


def test_conv_rows_pick_the_wrappers_function():
    c = bl.translate(row("CONV_2D", kernel=(1, 1)), "m4")
    assert (c["function"], c["pad_h"], c["pad_w"]) == ("arm_convolve_1x1_s8_fast", 0, 0)
    c = bl.translate(row("CONV_2D", kernel=(1, 1), stride=(2, 2), out=(6, 6, 32)), "m4")
    assert c["function"] == "arm_convolve_1x1_s8"
    c = bl.translate(row("CONV_2D", inp=(96, 96, 3), out=(48, 48, 8), stride=(2, 2)), "m55")
    assert (c["function"], c["pad_h"], c["pad_w"], c["in_offset"], c["out_offset"]) == ("arm_convolve_s8", 0, 0, 128, -128)
    c = bl.translate(row("CONV_2D", inp=(1, 49, 8), out=(1, 49, 8), kernel=(1, 3)), "m7")
    assert c["function"] == "arm_convolve_1_x_n_s8"
    c = bl.translate(row("CONV_2D", dtype="int16", weights="per_tensor"), "m4")
    assert (c["function"], c["in_offset"], c["per_channel"]) == ("arm_convolve_s16", 0, 0)


def test_depthwise_differs_between_dsp_and_mve():
    r = row("DEPTHWISE_CONV_2D", out=(12, 12, 16), mult=1)
    assert bl.translate(r, "m4")["function"] == "arm_depthwise_conv_3x3_s8"
    assert bl.translate(r, "m55")["function"] == "arm_depthwise_conv_s8_opt"
    r2 = row("DEPTHWISE_CONV_2D", out=(6, 6, 32), stride=(2, 2), mult=2)
    assert (bl.translate(r2, "m33")["function"], bl.translate(r2, "m33")["ch_mult"]) == ("arm_depthwise_conv_s8", 2)
    r1 = row("DEPTHWISE_CONV_2D", inp=(12, 12, 1), out=(12, 12, 8), mult=8)
    assert bl.translate(r1, "m55")["function"] == "arm_depthwise_conv_to_conv_s8"
    assert bl.translate(row("DEPTHWISE_CONV_2D", dtype="int16", out=(12, 12, 16), mult=1), "m4")["function"] == "arm_depthwise_conv_s16"


def test_rows_without_a_cmsis_nn_kernel_carry_a_note():
    for r in (row("FULLY_CONNECTED", dtype="int16", inp=(1, 1, 64), out=(1, 1, 8), kernel=None, stride=None, padding=None),
              row("CONV_2D", wzp=3), row("SOFTMAX")):
        c = bl.translate(r, "m4")
        assert c["kind"] is None and c["note"]
    fc = bl.translate(row("FULLY_CONNECTED", inp=(1, 1, 640), out=(1, 1, 128), kernel=None, stride=None, padding=None,
                          weights="per_tensor", wzp=3), "m4")
    assert (fc["function"], fc["w_offset"], fc["per_channel"]) == ("arm_fully_connected_s8", -3, 0)


def test_layout_is_aligned_and_holds_every_buffer():
    c = bl.translate(row("CONV_2D", dtype="int16", inp=(5, 5, 3), out=(5, 5, 7)), "m4")
    o = bl.layout(c)
    assert all(v % bl.ALIGN == 0 for v in o.values())
    assert o["o_filter"] - o["o_in"] >= 5 * 5 * 3 * 2  # int16 input
    assert o["o_mult"] - o["o_bias"] >= 7 * 8  # int64 biases
    assert o["o_scratch"] - o["o_out"] >= 5 * 5 * 7 * 2
    add = bl.layout(bl.translate(row("ADD", inp=(3, 3, 5), out=(3, 3, 5), kernel=None, stride=None, padding=None), "m4"))
    assert add["o_in2"] - add["o_in"] >= 45 and add["o_filter"] == add["o_out"]  # no weights


def test_a_missing_tree_is_refused_in_one_line():
    env = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "tinyq.checks.baseline", "rows", "--rows", "x.json", "--cores", "m4"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "CMSIS_NN=PATH" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tinyq.checks.baseline", "rows", "--cmsis-nn", "/nonexistent/nn",
                        "--cmsis", "/nonexistent/core", "--rows", "x.json"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "/nonexistent/nn: no such directory" in r.stderr
