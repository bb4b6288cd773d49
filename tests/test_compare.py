"""`tinyq compare`: float32, int8 and int16x8 builds of one Keras model measured on qemu-m4.

A small digits CNN (the demo's, trained for a few epochs) is compared on a couple of dozen test
images; every figure must come from the build and the device, and the device's accuracy must equal
what TFLite's interpreter gives on the same inputs with the same .tflite files (computed here on
its own, with the test's own quantization of the inputs).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.checks.compare import compare
from tinyq.errors import BadInput

from .conftest import ROOT, run_tinyq
from .helpers import ref_interpreter

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

EVAL = 24  # test images run on the device per variant
CALIB = 100


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The demo's digits CNN after 4 epochs (about 95% on the test set), calibration and test files."""
    from tinyq.quant.datasets import digits_dataset, train_digits_cnn

    d = tmp_path_factory.mktemp("compare")
    x_train, _, x_test, y_test = digits_dataset()
    train_digits_cnn(epochs=4).save(d / "digits.keras")
    np.save(d / "calib.npy", x_train[:CALIB])
    np.savez(d / "test.npz", x=x_test[:40], y=y_test[:40])
    return d


def _interpreter_outputs(tflite, x: np.ndarray) -> np.ndarray:
    """TFLite's reference kernels on float inputs `x`, quantizing them for an integer input; outputs as floats."""
    it = ref_interpreter(tflite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    ys = []
    for s in x:
        v = s[None].astype(np.float32)
        if i["dtype"] != np.float32:
            scale, zp = i["quantization"]
            q = v / np.float32(scale)
            q = np.sign(q) * np.floor(np.abs(q) + np.float32(0.5)) + zp
            info = np.iinfo(i["dtype"])
            v = np.clip(q, info.min, info.max).astype(i["dtype"])
        it.set_tensor(i["index"], v)
        it.invoke()
        y = it.get_tensor(o["index"]).astype(np.float64).reshape(-1)
        if o["dtype"] != np.float32:
            scale, zp = o["quantization"]
            y = (y - zp) * scale
        ys.append(y)
    return np.stack(ys)


def test_compare_digits_on_qemu_m4(digits, tmp_path):
    keep = tmp_path / "keep"
    r = run_tinyq("compare", digits / "digits.keras", "-c", digits / "calib.npy", "--eval", digits / "test.npz",
                  "--board", "qemu-m4", "--limit", EVAL, "--keep", keep, "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    assert {"model", "board", "clock_hz", "cycle_unit", "task", "samples", "available", "keras_accuracy", "variants", "skipped"} <= set(c)
    assert (c["board"], c["task"], c["samples"], c["available"], c["cycle_unit"]) == ("qemu-m4", "classification", EVAL, 40, "instructions")
    assert c["skipped"] == {}
    rows = {v["variant"]: v for v in c["variants"]}
    assert list(rows) == ["float32", "int8", "int16x8"]
    y = np.load(digits / "test.npz")["y"][:EVAL]
    x = np.load(digits / "test.npz")["x"][:EVAL]
    for name, v in rows.items():
        # measured: sizes from the linked firmware, cycles from the device, every input run there
        assert v["cycles"] > 0 and v["samples"] == EVAL, v
        assert v["code"] > 0 and v["weights"] > 0 and v["flash"] == v["code"] + v["weights"]
        assert v["arena"] > 0 and v["ram"] == v["arena"] + v["stack"] + v["ram_other"]
        assert v["latency_ms"] == pytest.approx(1000.0 * v["cycles"] / c["clock_hz"], abs=1e-3)
        assert v["passed"], v
        # the device's accuracy is the interpreter's on the same .tflite and inputs
        tfl = keep / f"digits_{name}.tflite"
        assert tfl.stat().st_size == v["tflite_bytes"]
        ref = _interpreter_outputs(tfl, x)
        assert v["accuracy"] == pytest.approx(float(np.mean(ref.argmax(axis=1) == y)))
        assert v["rmse"] is None
    assert rows["int8"]["bit_exact"] and rows["int16x8"]["bit_exact"]
    assert not rows["float32"]["bit_exact"] or rows["float32"]["max_abs_diff"] == 0
    assert rows["int8"]["flash"] < rows["float32"]["flash"]
    # int8 weights: a quarter of float32's, plus the requantization tables (16 B a fully connected row)
    assert rows["int8"]["weights"] * 5 < rows["float32"]["weights"] * 2
    assert rows["int8"]["arena"] < rows["int16x8"]["arena"] < rows["float32"]["arena"]  # 1, 2 and 4 bytes a value
    assert rows["int8"]["cycles"] < rows["float32"]["cycles"]
    keras_pred = np.argmax(np.asarray(keras.saving.load_model(digits / "digits.keras")(x)), axis=1)
    assert c["keras_accuracy"] == pytest.approx(float(np.mean(keras_pred == y)))
    assert c["keras_accuracy"] > 0.8  # the model trained


def test_demo_compare_step_prints_the_table(digits, capfd):
    from tinyq.demo import compare_step

    compare_step(digits / "digits.keras", digits / "calib.npy", digits / "test.npz", limit=4)
    got = capfd.readouterr().out
    assert "$ tinyq compare" in got and "--board qemu-m4 --limit 4" in got
    assert "digits.keras on qemu-m4: measured on the device, 4 of 40 evaluation inputs" in got
    lines = {ln.split()[1]: ln for ln in got.splitlines() if ln.startswith("│")}
    assert set(lines) == {"float32", "int8", "int16x8"}, got
    assert "bit-exact" in lines["int8"] and "bit-exact" in lines["int16x8"]
    assert "within tol." in lines["float32"] or "bit-exact" in lines["float32"]
    assert "instructions" in got and "ms" in got and "top-1" in got


def test_regression_rmse_from_the_device(tmp_path):
    """Float targets: RMSE of the dequantized int8 outputs, as the interpreter's outputs give it; no FPU: float32 skipped."""
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    x = rng.uniform(-1, 1, size=(60, 6)).astype(np.float32)
    y = np.stack([x[:, :3].sum(axis=1), x[:, 3] - x[:, 4]], axis=1).astype(np.float32)
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    m.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    m.fit(x, y, epochs=30, verbose=0)
    m.save(tmp_path / "reg.keras")
    np.save(tmp_path / "calib.npy", x[:40])
    np.savez(tmp_path / "eval.npz", x=x[40:], y=y[40:])
    c = compare(tmp_path / "reg.keras", tmp_path / "calib.npy", tmp_path / "eval.npz", get_board("qemu-m3"),
                modes=["float32", "int8"], limit=12, work_dir=tmp_path / "keep")
    assert c.task == "regression" and c.samples == 12 and c.available == 20
    assert "float32" in c.skipped and "no FPU" in c.skipped["float32"]
    [row] = c.rows
    assert row.variant == "int8" and row.bit_exact and row.accuracy is None and row.cycles > 0
    ref = _interpreter_outputs(tmp_path / "keep" / "reg_int8.tflite", x[40:52])
    assert row.rmse == pytest.approx(float(np.sqrt(np.mean((ref - y[40:52]) ** 2))))
    assert c.keras_rmse == pytest.approx(float(np.sqrt(np.mean((np.asarray(m(x[40:52])) - y[40:52]) ** 2))), rel=1e-5)


@pytest.mark.parametrize("args, words", [
    (["--eval", "test.npz"], "--calib is missing"),
    (["-c", "calib.npy"], "--eval is missing"),
    (["-c", "calib.npy", "--eval", "few_labels.npz"], "y has shape (5,) but x has 40 samples"),
    (["-c", "calib.npy", "--eval", "flat.npz"], "give an array of shape (40, 8, 8, 1)"),
    (["-c", "calib.npy", "--eval", "test.npz", "--modes", "int3"], "--modes int3"),
    (["-c", "calib.npy", "--eval", "test.npz", "--modes", "int8,kmeans3"], "--modes int8,kmeans3"),
    (["-c", "calib.npy", "--eval", "test.npz", "--limit", "0"], "--limit 0"),
])
def test_bad_input_one_line_exit_2(digits, args, words):
    t = np.load(digits / "test.npz")
    np.savez(digits / "few_labels.npz", x=t["x"], y=t["y"][:5])
    np.savez(digits / "flat.npz", x=t["x"].reshape(len(t["x"]), 64), y=t["y"])
    r = run_tinyq("compare", "digits.keras", *args, "--board", "qemu-m4", cwd=digits)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    assert r.stdout == ""


# ------------------------------------------------------------------ the low-bit variants (issue 18, item 5)

LOWBIT = ["int8", "mixed", "int4", "kmeans4", "kmeans2", "binary"]
LOWBIT_EVAL = 6


def test_lowbit_variants_bit_exact_on_qemu_m4(digits, tmp_path):
    """mixed, int4, kmeans4, kmeans2 and binary beside int8: each the .tflite `tinyq convert` writes, built with
    its weights packed, bit-exact on the device; the packed rows store fewer weight bytes than int8."""
    from tinyq.quant.weightfile import read_metadata

    keep = tmp_path / "keep"
    r = run_tinyq("compare", digits / "digits.keras", "-c", digits / "calib.npy", "--calib-limit", 40, "--eval",
                  digits / "test.npz", "--board", "qemu-m4", "--limit", LOWBIT_EVAL, "--keep", keep, "--json",
                  "--modes", ",".join(reversed(LOWBIT)))
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    rows = {v["variant"]: v for v in c["variants"]}
    assert list(rows) == LOWBIT  # the table's order, whatever --modes' order
    y = np.load(digits / "test.npz")["y"][:LOWBIT_EVAL]
    x = np.load(digits / "test.npz")["x"][:LOWBIT_EVAL]
    for name, v in rows.items():
        assert v["bit_exact"] and v["passed"] and v["samples"] == LOWBIT_EVAL and v["cycles"] > 0, v
        assert v["flash"] == v["code"] + v["weights"] and v["description"]
        tfl = keep / f"digits_{name}.tflite"
        assert tfl.stat().st_size == v["tflite_bytes"]
        ref = _interpreter_outputs(tfl, x)
        assert v["accuracy"] == pytest.approx(float(np.mean(ref.argmax(axis=1) == y)))
    int8 = rows["int8"]
    assert int8["packed"] == [] and int8["notes"] == []
    # int4: INT4 tensors in the file (no metadata needed), packed two a byte as the build's linear codebook
    assert rows["int4"]["packed"] and all(p.startswith("4-bit linear") for p in rows["int4"]["packed"]), rows["int4"]
    # palettes: int8 tensors named in the metadata, packed as indices into a per-layer codebook
    for name, bits in (("kmeans4", 4), ("kmeans2", 2)):
        meta = read_metadata((keep / f"digits_{name}.tflite").read_bytes())
        assert meta and {e["bits"] for e in meta["tensors"].values()} == {bits}
        assert any(p.startswith(f"{bits}-bit ") for p in rows[name]["packed"]), rows[name]
    assert any(p.startswith("1-bit ") for p in rows["binary"]["packed"]), rows["binary"]
    assert rows["mixed"]["notes"] and rows["mixed"]["notes"][0].startswith("plan: int16 activations on ")
    for name in ("int4", "kmeans4", "kmeans2", "binary"):
        assert rows[name]["weights"] < int8["weights"], (name, rows[name]["weights"], int8["weights"])
    assert rows["kmeans2"]["weights"] < rows["kmeans4"]["weights"]
    assert rows["binary"]["weights"] <= rows["kmeans2"]["weights"]


def test_variant_lines_name_the_packing_and_the_notes():
    from tinyq.checks.compare import Comparison
    from tinyq.cli.compare import variant_lines

    r = _row("int4", 1000)
    r.description, r.packed, r.notes = "--weight-bits 4", ["4-bit linear x3"], ["a fallback"]
    c = Comparison(model="m.keras", board="qemu-m4", clock_hz=25_000_000, cycle_unit="instructions",
                   task="classification", samples=4, available=4, rows=[_row("int8", 900), r])
    assert variant_lines(c) == ["int4: --weight-bits 4; packed in flash: 4-bit linear x3", "  int4: a fallback"]
    d = c.to_json()["variants"][1]
    assert (d["packed"], d["notes"], d["description"]) == (["4-bit linear x3"], ["a fallback"], "--weight-bits 4")


# ------------------------------------------------------------------ the variant table and the energy column

def _row(variant, cycles, energy_uj=None, time_from=None):
    from tinyq.checks.compare import VariantRow

    return VariantRow(variant=variant, flash=1000, code=600, weights=400, ram=900, arena=500, stack=300, ram_other=100,
                      cycles=cycles, cycle_unit="instructions", latency_ms=cycles / 25e3, samples=4, accuracy=0.75,
                      rmse=None, bit_exact=True, passed=True, max_abs_diff=0.0, tflite_bytes=2000,
                      energy_uj=energy_uj, energy_cycles=None if energy_uj is None else 2 * cycles, energy_time_from=time_from)


def test_table_with_energy_names_the_board_the_time_and_the_document():
    from rich.console import Console

    from tinyq.checks.compare import Comparison
    from tinyq.cli.compare import table

    c = Comparison(model="m.keras", board="qemu-m4", clock_hz=25_000_000, cycle_unit="instructions", task="classification",
                   samples=4, available=4, keras_accuracy=0.75,
                   rows=[_row("int8", 1000, 0.25, "cycle estimate"), _row("int16x8", 2000, 0.5, "cycle estimate")],
                   energy={"board": "some-board", "core": "cortex-m4", "clock_hz": 120_000_000, "run_current_ma": 12.0,
                           "supply_v": 3.3, "conditions": "run mode, flash", "source": "DS0000 Rev 1, Table 1"})
    con = Console(width=250, record=True)
    con.print(table(c))
    text = " ".join(con.export_text().split())
    assert "µJ" in text and "0.25" in text and "0.5" in text
    assert "µJ per inference on some-board: time (cycle estimate at 120 MHz) x 12 mA x 3.3 V" in text
    assert "DS0000 Rev 1, Table 1" in text
    c.energy, c.energy_note = None, "nucleo-l4r5zi has no documented run current (its board file has no energy entry)"
    c.rows = [_row("int8", 1000)]
    con = Console(width=250, record=True)
    con.print(table(c))
    text = " ".join(con.export_text().split())
    assert "µJ" not in text and "No energy column: nucleo-l4r5zi has no documented run current" in text
    assert c.to_json()["energy"] is None and "no documented run current" in c.to_json()["energy_note"]


def test_a_new_variant_is_one_row_of_the_table(monkeypatch):
    from tinyq.checks.compare import DEFAULT_MODES, VARIANT_TABLE, Variant, parse_modes

    assert list(VARIANT_TABLE) == ["float32", "int8", "int16x8", "mixed", "int4", "kmeans4", "kmeans2", "binary"]
    assert DEFAULT_MODES == ("float32", "int8", "int16x8")
    assert parse_modes("all") == list(VARIANT_TABLE)
    assert parse_modes("binary, kmeans2,int8") == ["int8", "kmeans2", "binary"]  # the table's order
    assert "PTQ" in VARIANT_TABLE["binary"].description and "QAT" in VARIANT_TABLE["binary"].description
    row = Variant(convert=lambda sources: (b"", []), calibrated=True)
    monkeypatch.setitem(VARIANT_TABLE, "int3", row)
    assert parse_modes("int3,int8") == ["int8", "int3"]
    with pytest.raises(BadInput, match="int8, int16x8, mixed, int4, kmeans4, kmeans2, binary, int3 \\(or all\\)"):
        parse_modes("int5")
    with pytest.raises(BadInput, match="--modes all,int8"):
        parse_modes("all,int8")


def test_energy_on_real_hardware_is_measured_cycles(tmp_path):
    from tinyq.checks.compare import energy_of

    d = json.loads((ROOT / "boards" / "nucleo-l4r5zi.json").read_text())
    d["name"] = "nucleo-e"
    d["energy"] = {"run_current_ma": 10.0, "at_hz": 120_000_000, "supply_v": 3.0, "conditions": "test data", "source": "test"}
    (tmp_path / "nucleo-e.json").write_text(json.dumps(d))
    b = get_board(str(tmp_path / "nucleo-e.json"))
    uj, cycles, source = energy_of(b, b, tmp_path, 1_200_000)  # 10 ms at 120 MHz
    assert (cycles, source) == (1_200_000, "measured cycles")
    assert uj == pytest.approx(0.010 * 0.010 * 3.0 * 1e6)  # 10 ms x 10 mA x 3 V = 300 uJ
