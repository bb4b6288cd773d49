"""The shape sweep (`tinyq bench --sweep`): its rows, the synthetic layers it writes, a tiny sweep on qemu-m4,
and bench's limits for CI (--max-instructions / --max-arena / --max-code)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyq.checks.sweep import (
    ACTIVATION_LIMIT,
    RowResult,
    SweepResult,
    activation_bytes,
    add_row,
    conv_row,
    dw_row,
    fc_row,
    load_sweep_baseline,
    markdown,
    pool_row,
    rows_json,
    summary,
    sweep_rows,
)
from tinyq.checks.synth import rows_model
from tinyq.errors import BadInput

from .conftest import run_tinyq
from .helpers import (
    assert_bit_exact,
    assert_one_line_failure,
    ref_interpreter,
    tinyq_main,
)

# --------------------------------------------------------------------------- rows


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "default"])
def test_rows_unique_within_limits_and_covering_the_axes(quick):
    rows = sweep_rows(quick)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(activation_bytes(r) <= ACTIVATION_LIMIT for r in rows)
    assert {r["op"] for r in rows} == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD"}
    assert {r["dtype"] for r in rows} == {"int8", "int16"}
    assert {r["weights"] for r in rows} >= {"per_channel", "per_tensor"}
    assert any(r["weight_zero_point"] for r in rows)
    assert {r["depth_multiplier"] for r in rows if r["op"] == "DEPTHWISE_CONV_2D"} == {1, 2}
    assert {tuple(r["stride"]) for r in rows if r["op"] == "CONV_2D"} == {(1, 1), (2, 2)}
    assert {r["padding"] for r in rows if r["op"] == "CONV_2D"} == {"same", "valid"}
    assert any(r["in"][2] % 4 and r["in"][2] % 2 for r in rows)  # odd channel counts
    if quick:
        assert 15 <= len(rows) <= 30
    else:
        maps = {r["in"][0] for r in rows if r["op"] != "FULLY_CONNECTED"}
        chans = {c for r in rows if r["op"] != "FULLY_CONNECTED" for c in (r["in"][2], r["out"][2])}
        assert min(maps) == 1 and max(maps) == 96 and min(chans) == 1 and max(chans) == 512
        assert {tuple(r["kernel"]) for r in rows if r["op"] == "DEPTHWISE_CONV_2D"} >= {(3, 3), (5, 5)}
    assert json.loads(rows_json(quick))["rows"] == rows


def test_row_shapes_and_macs():
    r = conv_row(25, 17, 33, 3, 2, "same")
    assert r["id"] == "conv_k3_s2_same_25x25x17_33_pc_i8"
    assert r["out"] == [13, 13, 33] and r["macs"] == 13 * 13 * 33 * 9 * 17
    r = conv_row(25, 17, 33, 3, 2, "valid", "per_tensor", "int16")
    assert r["out"] == [12, 12, 33] and r["macs"] == 12 * 12 * 33 * 9 * 17 and r["id"].endswith("_pt_i16")
    r = dw_row((25, 5), 64, 2, 3, 1, "same")
    assert r["out"] == [25, 5, 128] and r["macs"] == 25 * 5 * 128 * 9
    r = fc_row(640, 128, "per_tensor", 5)
    assert r["id"] == "fc_640_128_ptz5_i8" and r["macs"] == 640 * 128 and r["weight_zero_point"] == 5
    r = pool_row("AVERAGE_POOL_2D", 13, 17, 3, 2, "same")
    assert r["out"] == [7, 7, 17] and r["macs"] == 7 * 7 * 17 * 9
    r = pool_row("MAX_POOL_2D", 6, 64, "global", 1, "valid")
    assert r["kernel"] == [6, 6] and r["out"] == [1, 1, 64] and r["macs"] == 36 * 64
    r = add_row(12, 17, "int16")
    assert r["macs"] == 12 * 12 * 17 and activation_bytes(r) == 3 * 12 * 12 * 17 * 2


# --------------------------------------------------------------------------- the synthetic layers

LAYERS = [
    conv_row(9, 17, 6, 3, 2, "same", "per_tensor"),
    conv_row(5, 8, 16, 1, 1, "same", "per_channel", "int16"),
    dw_row(7, 3, 2, 3, 1, "valid"),
    dw_row(8, 5, 1, 5, 2, "same", "per_channel", "int16"),
    fc_row(35, 9, "per_tensor", 5),
    fc_row(20, 7, "per_channel", 0, "int16"),
    pool_row("AVERAGE_POOL_2D", 7, 5, 3, 2, "same"),
    pool_row("MAX_POOL_2D", 6, 3, 2, 2, "valid", "int16"),
    add_row(4, 5),
    add_row(3, 6, "int16"),
]


@pytest.mark.parametrize("row", LAYERS, ids=[r["id"] for r in LAYERS])
def test_layer_runs_in_the_reference_and_is_bit_exact(tmp_path, row):
    path = tmp_path / "m.tflite"
    path.write_bytes(rows_model([row]))
    it = ref_interpreter(path)
    rng = np.random.default_rng(1)
    for d in it.get_input_details():
        info = np.iinfo(d["dtype"])
        it.set_tensor(d["index"], rng.integers(info.min, info.max + 1, d["shape"]).astype(d["dtype"]))
    it.invoke()
    (out,) = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    assert list(out.shape[1:]) == ([row["out"][2]] if row["op"] == "FULLY_CONNECTED" else row["out"])
    info = np.iinfo(out.dtype)
    assert np.mean((out == info.min) | (out == info.max)) < 0.5, "outputs saturated: the output scale is off"
    assert_bit_exact(path, samples=4)


def test_rows_side_by_side(tmp_path):
    """Several layers in one model, each writing its own output (named after its row), layers of one input
    shape reading one model input; a row's layer is the same whichever model it is in."""
    from tinyq.compiler.importer import import_model

    rows = [LAYERS[0], LAYERS[2], LAYERS[4], conv_row(9, 17, 4, 1, 1, "same")]  # the last reads LAYERS[0]'s input
    path = tmp_path / "group.tflite"
    path.write_bytes(rows_model(rows))
    it = ref_interpreter(path)
    assert [d["name"] for d in it.get_output_details()] == [r["id"] for r in rows]
    assert len(it.get_input_details()) == 3
    assert_bit_exact(path, samples=4)
    alone = tmp_path / "alone.tflite"
    alone.write_bytes(rows_model([rows[3]]))
    g, g1 = import_model(path), import_model(alone)
    for name in (f"{rows[3]['id']}.weights", f"{rows[3]['id']}.bias", rows[3]["id"]):
        a, b = (next(t for t in gr.tensors if t.name == name) for gr in (g, g1))
        assert a.quant == b.quant and (a.data is None or np.array_equal(a.data, b.data))
    with pytest.raises(ValueError, match="one activation type"):
        rows_model([LAYERS[0], LAYERS[1]])


def test_markdown_worst_first_and_summary():
    rows = [RowResult(fc_row(64, 10), instructions=1000, kernel="tq_a", bit_exact=True, baseline={"instructions": 4000, "function": "f1"}),
            RowResult(add_row(4, 5), instructions=900, kernel="tq_b", bit_exact=True, baseline={"instructions": 1000, "function": "f2"}),
            RowResult(add_row(4, 6), instructions=500, kernel="tq_c", bit_exact=True)]
    res = SweepResult(board="qemu-m4", cycle_unit="instructions", rows=rows)

    class B:
        name, description = "qemu-m4", "the board"

    md = markdown(res, B, "tinyq bench --sweep --board qemu-m4")
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| row")]
    assert [ln.split(" | ")[0][2:] for ln in table] == ["add_4x4x5_i8", "fc_64_10_pc_i8", "add_4x4x6_i8"]
    assert "`tinyq bench --sweep --board qemu-m4`" in md
    assert summary(res) == ("3 rows on qemu-m4, every output bit-exact; 2 with a CMSIS-NN figure, 1 over the goal "
                            "(0.5x CMSIS-NN for int8, 1.0x for int16); worst add_4x4x5_i8 at 0.90x (11.25 instructions per MAC)")
    # the goal by type and core: an int16 row at 0.9x holds it on a DSP core; on Helium 1.0x for every row
    res.rows[1].row = dict(res.rows[1].row, dtype="int16")
    assert res.over_goal() == [] and res.to_json()["over_goal"] == []
    res.rows[1].row = dict(res.rows[1].row, dtype="int8")
    assert [r.row["id"] for r in res.over_goal()] == ["add_4x4x5_i8"]
    helium = SweepResult(board="qemu-m55", cycle_unit="instructions", rows=rows, helium=True)
    assert helium.over_goal() == [] and "over the goal (1.0x CMSIS-NN (Helium))" in summary(helium)
    # a row the board cannot take is noted, not failed; one the compiler fails on is a failure, listed first
    res.rows += [RowResult(add_row(9, 9), error="build: the model does not fit", unfit=True),
                 RowResult(add_row(8, 8), error="build: NameError: x")]
    assert [r.row["id"] for r in res.failed] == ["add_8x8x8_i8"]
    assert summary(res).startswith("5 rows on qemu-m4, 1 failed (add_8x8x8_i8: build: NameError: x), 1 not measured (the board")
    table = [ln for ln in markdown(res, B, "c").splitlines() if ln.startswith("| ") and not ln.startswith("| row")]
    assert table[0].startswith("| add_9x9x9_i8 | 729 | build: the model does not fit |") and table[1].startswith("| add_8x8x8_i8 ")


def test_bad_sweep_baseline(tmp_path):
    from tinyq.boards import get_board

    f = tmp_path / "b.json"
    f.write_text(json.dumps({"core": "m7", "rows": {}, "models": {}}))
    with pytest.raises(BadInput, match="cortex-m7"):
        load_sweep_baseline(f, get_board("qemu-m4"))
    f.write_text("[1, 2]")
    with pytest.raises(BadInput, match="not a CMSIS-NN sweep baseline"):
        load_sweep_baseline(f)


# --------------------------------------------------------------------------- on qemu-m4

TINY = [conv_row(6, 5, 7, 3, 1, "same"), dw_row(6, 9, 1, 3, 2, "valid"), fc_row(24, 10, "per_tensor", 3)]


def test_tiny_sweep_on_qemu(tmp_path, monkeypatch, capsys):
    """Three rows in one firmware through the CLI: a count and a kernel per row, bit-exact, and the ratio to
    a CMSIS-NN baseline where it has the row."""
    import tinyq.cli.bench as cli

    monkeypatch.setattr(cli, "sweep_rows", lambda quick: [dict(r) for r in TINY])
    base = tmp_path / "cmsis_sweep_m4.json"
    base.write_text(json.dumps({"what": "test", "core": "m4", "models": {},
                                "rows": {TINY[2]["id"]: {"instructions": 2000, "function": "arm_fully_connected_s8"},
                                         TINY[1]["id"]: {"instructions": None, "note": "no such kernel"}}}))
    assert tinyq_main("bench", "--sweep", "--quick", "--board", "qemu-m4", "--baseline-sweep", base, "--json") == 0
    d = json.loads(capsys.readouterr().out)["sweep"]
    ids = [r["id"] for r in TINY]
    assert d["groups"] == 1 and [r["id"] for r in d["rows"]] == ids
    for r in d["rows"]:
        assert r["bit_exact"] is True and r["tinyq_kernel"].startswith("tq_") and r["kernel"] == dict(zip(ids, TINY))[r["id"]]["kernel"] and r["instructions"] > 0
        assert r["instructions_per_mac"] == round(r["instructions"] / r["macs"], 4)
    fc = d["rows"][2]
    assert fc["cmsis_instructions"] == 2000 and fc["ratio"] == round(fc["instructions"] / 2000, 4)
    assert d["rows"][1]["ratio"] is None and d["rows"][1]["cmsis_note"] == "no such kernel"
    assert d["command"] == f"tinyq bench --sweep --quick --board qemu-m4 --baseline-sweep {base}"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("gates") / "tiny.tflite"
    path.write_bytes(rows_model([fc_row(32, 8)]))
    return path


def test_limits_hold(tiny_model):
    r = run_tinyq("bench", tiny_model, "--board", "qemu-m4", "--runs", "1", "--max-instructions", 10**7,
                  "--max-arena", 10**6, "--max-code", 10**6, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["exceeded"] == [] and d["limits"] == {"--max-instructions": 10**7, "--max-arena": 10**6, "--max-code": 10**6}


def test_limit_exceeded(tiny_model):
    r = run_tinyq("bench", tiny_model, "--board", "qemu-m4", "--runs", "1", "--max-instructions", 10, "--max-code", 10**6, "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["exceeded"] == [ln.removeprefix("error: ") for ln in r.stderr.splitlines() if ln.strip()]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    n = int(lines[0].split(": ")[2].split(" ")[0].replace(",", ""))
    assert lines[0] == f"error: tiny: {n:,} instructions > --max-instructions 10" and n > 10


def test_bench_needs_something_to_bench():
    assert_one_line_failure(run_tinyq("bench", "--board", "qemu-m4"), "nothing to bench", "--sweep")
    assert_one_line_failure(run_tinyq("bench", "--board", "qemu-m4", "--sweep", "--max-code", "100"), "--sweep-models")
