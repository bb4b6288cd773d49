"""`tinyq convert --mode dynamic|float16`: the files are written and run in the reference interpreter;
`tinyq build`, `generate` and `verify` decline them with one line saying why and what to run instead."""

import json

import numpy as np
import pytest

from .conftest import run_tinyq
from .helpers import assert_one_line_failure, ref_interpreter, tinyq_main

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("modes")
    keras.utils.set_random_seed(7)
    inp = keras.Input((8, 8, 1), name="img")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    # 144 x 64 weights: past the converter's 1024-value floor, so dynamic-range really quantizes them.
    x = keras.layers.Dense(64, activation="relu", name="fc")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    model.save(d / "m.keras")
    rng = np.random.default_rng(0)
    x = rng.random((24, 8, 8, 1), dtype=np.float32)
    np.save(d / "calib.npy", x)
    np.savez(d / "eval.npz", x=x, y=(x.reshape(24, -1)[:, :3] * 2).astype(np.float32))
    return {"dir": d, "model": model, "x": x}


def _run(path, x):
    it = ref_interpreter(path)
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    assert di["dtype"] == np.float32 and do["dtype"] == np.float32
    ys = []
    for s in range(len(x)):
        it.set_tensor(di["index"], x[s : s + 1])
        it.invoke()
        ys.append(it.get_tensor(do["index"])[0].copy())
    return np.stack(ys)


@pytest.mark.parametrize("mode,weight_type,tol", [("dynamic", "int8", 0.05), ("float16", "float16", 2e-3)])
def test_mode_writes_a_model_the_interpreter_runs(work, capsys, mode, weight_type, tol):
    d = work["dir"]
    out = d / f"{mode}.tflite"
    capsys.readouterr()
    rc = tinyq_main("convert", d / "m.keras", "--mode", mode, "-o", out, "--eval", d / "eval.npz", "--json")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    r = json.loads(cap.out)
    assert r["mode"] == mode and r["calibration"] is None and r["float_io"] is False
    assert r["tflite_bytes"] == out.stat().st_size
    assert weight_type in r["weights"] and r["inputs"][0]["dtype"] == "float32" and r["outputs"][0]["dtype"] == "float32"
    if mode == "float16":
        assert r["ops"]["DEQUANTIZE"] == r["weights"]["float16"] and "float32" not in r["weights"]
    else:
        assert r["weights"]["int8"] >= 1 and "DEQUANTIZE" not in r["ops"]
    yf = work["model"].predict(work["x"], verbose=0)
    yq = _run(out, work["x"])
    err = np.abs(yq - yf).max() / np.abs(yf).max()
    assert err < tol, err
    assert err > 0  # it is not the float model
    ev = r["eval"]
    assert ev["task"] == "regression" and ev["samples"] == 24
    assert ev["float_int8_rmse"] == pytest.approx(float(np.sqrt(np.mean((yq - yf) ** 2))), rel=1e-3, abs=1e-7)


def test_float16_is_half_the_float_size(work, capsys):
    d = work["dir"]
    sizes = {}
    for mode in ("float16", "dynamic"):
        capsys.readouterr()
        assert tinyq_main("convert", d / "m.keras", "--mode", mode, "-o", d / f"s-{mode}.tflite", "--json") == 0
        sizes[mode] = json.loads(capsys.readouterr().out)
    f16 = sizes["float16"]
    assert f16["tflite_bytes"] < 0.6 * f16["float_bytes"]
    assert sizes["dynamic"]["tflite_bytes"] < f16["tflite_bytes"]


def test_table_says_what_to_run(work, capsys):
    d = work["dir"]
    capsys.readouterr()
    assert tinyq_main("convert", d / "m.keras", "--mode", "dynamic", "-o", d / "t.tflite") == 0
    out = capsys.readouterr().out
    assert "dynamic-range .tflite" in out and "weight tensors" in out
    assert "`tinyq build` needs full int8" in out and "-c CALIB" in out


@pytest.fixture(scope="module")
def variants(work):
    from tinyq.quant.convert import convert_keras

    d = work["dir"]
    paths = {}
    for mode in ("dynamic", "float16"):
        paths[mode] = d / f"v-{mode}.tflite"
        paths[mode].write_bytes(convert_keras(work["model"], None, mode=mode))
    paths["int8"] = d / "v-int8.tflite"
    paths["int8"].write_bytes(convert_keras(work["model"], [work["x"]]))
    return paths


@pytest.mark.parametrize("mode,words", [
    ("dynamic", ["is a dynamic-range model (int8 weights, float activations)", "dequantize at run time",
                 "convert with `tinyq convert MODEL -c CALIB` (full int8)"]),
    ("float16", ["is a float16 model (float16 weights, DEQUANTIZE to float32 at run time)",
                 "convert with `tinyq convert MODEL -c CALIB` (full int8)"]),
])
def test_build_declines_with_one_line(variants, tmp_path, mode, words):
    out = tmp_path / "build"
    line = assert_one_line_failure(run_tinyq("build", variants[mode], "--board", "qemu-m4", "-o", out))
    assert line.startswith("error: ")  # build names its staged copy, model.tflite; generate/verify the file given
    for w in words:
        assert w in line, line
    assert not out.exists()


@pytest.mark.parametrize("verb", ["generate", "verify"])
def test_generate_and_verify_decline_too(variants, tmp_path, verb):
    args = [verb, variants["dynamic"]] + (["-o", tmp_path / "gen"] if verb == "generate" else [])
    assert assert_one_line_failure(run_tinyq(*args)).startswith("error: v-dynamic.tflite is a dynamic-range model")
    assert not (tmp_path / "gen").exists()


def test_mode_detection(variants):
    from tinyq.compiler.importer import import_model, quant_mode
    from tinyq.compiler.pipeline import compile_tflite
    from tinyq.errors import UnsupportedModel

    assert quant_mode(import_model(variants["int8"])) == "int8"
    assert compile_tflite(variants["int8"]).ops  # the full-int8 model still compiles
    with pytest.raises(UnsupportedModel, match="dynamic-range"):
        import_model(variants["dynamic"])
    with pytest.raises(UnsupportedModel, match="float16 model"):
        import_model(variants["float16"])


@pytest.mark.parametrize("args,words", [
    (["--mode", "dynamic", "-c", "W/calib.npy"], ["--mode dynamic does not calibrate", "drop --calib"]),
    (["--mode", "float16", "--calib-limit", "5"], ["--mode float16 does not calibrate"]),
    (["--mode", "float16", "--float-io"], ["drop --float-io"]),
    (["--mode", "int4"], ["--mode int4", "int8, int16x8, dynamic, float16"]),
    ([], ["--calib is missing"]),
])
def test_bad_mode_arguments(work, capfd, args, words):
    d = work["dir"]
    out = d / "never.tflite"
    args = [str(d / a[2:]) if a.startswith("W/") else a for a in args]
    capfd.readouterr()
    rc = tinyq_main("convert", d / "m.keras", "-o", out, *args)
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1, err
    for w in words:
        assert w in err[0], err[0]
    assert not out.exists()
