"""`tinyq convert`: formats (.keras, legacy .h5, SavedModel), calibration files, --float-io, --json,
--eval, bad input (one line, exit 2, nothing written) and the digits demo model on real data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers import ref_interpreter, tinyq_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent

# Keras' own saving code trips numpy 2's __array__(copy=) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _run_sub(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "tinyq", *map(str, args)], capture_output=True, text=True, env=env)


def _ops(path):
    from tinyq.quant.convert import summarize_tflite

    return summarize_tflite(Path(path).read_bytes())


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A small image classifier saved in every format, calibration and evaluation files."""
    import keras

    d = tmp_path_factory.mktemp("convert")
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1), name="img")
    x = keras.layers.Conv2D(6, 3, activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.save(d / "m.keras")
    model.save(d / "m.h5")  # Keras 3 writes the legacy (Keras 2) HDF5 format for .h5
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            model.export(str(d / "sm"))
        finally:
            sys.stdout = stdout
    rng = np.random.default_rng(0)
    calib = rng.random((40, 8, 8, 1), dtype=np.float32)
    np.save(d / "calib.npy", calib)
    np.savez(d / "calib_x.npz", x=calib)
    np.savez(d / "calib_name.npz", img=calib)
    xe = rng.random((30, 8, 8, 1), dtype=np.float32)
    np.savez(d / "eval.npz", x=xe, y=rng.integers(0, 4, 30))
    return {"dir": d, "model": model, "calib": calib, "xe": xe}


def _convert_json(capsys, *args):
    capsys.readouterr()
    rc = tinyq_main("convert", *args, "--json")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out)


# ----------------------------------------------------------------------------- formats


def test_keras_file_npy_calib_table(work, capsys):
    d = work["dir"]
    rc = tinyq_main("convert", d / "m.keras", "-c", d / "calib.npy", "-o", d / "k.tflite")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "float parameters" in cap.out and "int8 .tflite" in cap.out and "wrote" in cap.out
    s = _ops(d / "k.tflite")
    assert s.inputs[0].dtype == "int8" and s.outputs[0].dtype == "int8"
    assert list(s.inputs[0].shape) == [1, 8, 8, 1]
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(s.ops)
    assert not {"SHAPE", "STRIDED_SLICE", "PACK", "QUANTIZE", "DEQUANTIZE"} & set(s.ops)
    # per-channel weights
    from tinyq.compiler.importer import import_model

    g = import_model(d / "k.tflite")
    conv = next(op for op in g.ops if op.kind == "CONV_2D")
    assert g.tensor(conv.inputs[1]).quant.per_channel


def test_legacy_h5(work, capsys):
    import h5py

    d = work["dir"]
    with h5py.File(d / "m.h5", "r") as f:  # a real legacy Keras HDF5 model, not a .keras zip
        assert "model_config" in f.attrs
    r = _convert_json(capsys, d / "m.h5", "-c", d / "calib.npy", "-o", d / "h.tflite")
    assert r["format"] == "h5"
    assert r["float_bytes"] == work["model"].count_params() * 4
    s = _ops(d / "h.tflite")
    assert s.inputs[0].dtype == "int8" and list(s.outputs[0].shape) == [1, 4]
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(s.ops)


def test_savedmodel_dir(work, capsys):
    d = work["dir"]
    r = _convert_json(capsys, d / "sm", "-c", d / "calib_x.npz", "-o", d / "s.tflite")
    assert r["format"] == "savedmodel"
    assert r["float_bytes"] == sum(int(np.prod(w.shape)) * 4 for w in work["model"].weights)
    s = _ops(d / "s.tflite")
    assert s.inputs[0].dtype == "int8" and list(s.inputs[0].shape) == [1, 8, 8, 1]
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(s.ops)
    # Same float model, same calibration: the SavedModel route quantizes like the Keras route.
    tinyq_main("convert", d / "m.keras", "-c", d / "calib.npy", "-o", d / "k2.tflite")
    it_s, it_k = ref_interpreter(d / "s.tflite"), ref_interpreter(d / "k2.tflite")
    x = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    outs = []
    for it in (it_s, it_k):
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_npz_calib_by_name_and_limit(work, capsys):
    d = work["dir"]
    r = _convert_json(capsys, d / "m.keras", "-c", d / "calib_name.npz", "-o", d / "n.tflite", "--calib-limit", "7")
    assert r["calibration"] == {"file": str(d / "calib_name.npz"), "samples": 7}
    r = _convert_json(capsys, d / "m.keras", "-c", d / "calib_x.npz", "-o", d / "n.tflite")
    assert r["calibration"]["samples"] == 40


def test_multi_input_npz_by_name_and_order(tmp_path, capsys):
    import keras

    a, b = keras.Input((5,), name="a"), keras.Input((3,), name="b")
    y = keras.layers.Dense(2)(keras.layers.Concatenate()([keras.layers.Dense(4)(a), b]))
    keras.Model([a, b], y).save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    xa, xb = rng.random((12, 5), dtype=np.float32), rng.random((12, 3), dtype=np.float32)
    np.savez(tmp_path / "byname.npz", b=xb, a=xa)
    np.savez(tmp_path / "byorder.npz", xa, xb)
    for f in ("byname.npz", "byorder.npz"):
        r = _convert_json(capsys, tmp_path / "two.keras", "-c", tmp_path / f, "-o", tmp_path / "two.tflite")
        assert [list(i["shape"]) for i in r["inputs"]] == [[1, 5], [1, 3]]
    np.save(tmp_path / "one.npy", xa)
    rc = tinyq_main("convert", tmp_path / "two.keras", "-c", tmp_path / "one.npy", "-o", tmp_path / "x.tflite")
    assert rc == 2 and "2 inputs" in capsys.readouterr().err


def test_float_io(work, capsys):
    d = work["dir"]
    r = _convert_json(capsys, d / "m.keras", "-c", d / "calib.npy", "-o", d / "f.tflite", "--float-io")
    assert r["float_io"] is True
    assert r["ops"]["QUANTIZE"] >= 1 and r["ops"]["DEQUANTIZE"] >= 1
    it = ref_interpreter(d / "f.tflite")
    assert it.get_input_details()[0]["dtype"] == np.float32
    assert it.get_output_details()[0]["dtype"] == np.float32
    s = _ops(d / "f.tflite")
    assert s.inputs[0].dtype == "float32" and s.outputs[0].dtype == "float32"


def test_json_keys(work, capsys):
    d = work["dir"]
    r = _convert_json(capsys, d / "m.keras", "-c", d / "calib.npy", "-o", d / "j.tflite")
    assert set(r) == {
        "model", "format", "mode", "output", "float_io", "calibration", "float_bytes", "tflite_bytes",
        "inputs", "outputs", "ops", "weights", "eval", "float_islands", "recurrent", "weight_bits", "palette",
        "packed_weights",
    }
    assert r["weight_bits"] == 8 and r["palette"] is None and r["packed_weights"] == {}  # plain int8: no metadata
    assert r["recurrent"] == []  # no recurrent layer to unroll
    assert r["float_islands"] == []  # an all-integer model: no DEQUANTIZE -> float ops -> QUANTIZE island
    assert r["mode"] == "int8" and r["weights"] == {"int8": 3}  # conv, depthwise and dense kernels
    assert r["tflite_bytes"] == (d / "j.tflite").stat().st_size
    assert r["float_bytes"] == work["model"].count_params() * 4
    assert r["eval"] is None
    assert set(r["inputs"][0]) == {"name", "shape", "dtype", "scale", "zero_point"}
    assert r["inputs"][0]["dtype"] == "int8" and r["inputs"][0]["zero_point"] is not None


def test_eval_classification_numbers(work, capsys):
    d = work["dir"]
    r = _convert_json(capsys, d / "m.keras", "-c", d / "calib.npy", "-o", d / "e.tflite", "--eval", d / "eval.npz")
    ev = r["eval"]
    assert ev["task"] == "classification" and ev["samples"] == 30
    # Recompute independently: Keras for float, the reference interpreter for int8.
    xe, y = work["xe"], np.load(d / "eval.npz")["y"]
    pf = work["model"].predict(xe, verbose=0).argmax(axis=1)
    it = ref_interpreter(d / "e.tflite")
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = di["quantization"]
    pq = []
    for i in range(len(xe)):
        v = xe[i : i + 1] / np.float32(scale)
        q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zp, -128, 127).astype(np.int8)
        it.set_tensor(di["index"], q)
        it.invoke()
        pq.append(int(it.get_tensor(do["index"]).argmax()))
    pq = np.array(pq)
    assert ev["float_accuracy"] == pytest.approx(np.mean(pf == y), abs=1e-12)
    assert ev["int8_accuracy"] == pytest.approx(np.mean(pq == y), abs=1e-12)
    assert ev["agreement"] == pytest.approx(np.mean(pf == pq), abs=1e-12)
    # The table shows them too.
    rc = tinyq_main("convert", d / "m.keras", "-c", d / "calib.npy", "-o", d / "e.tflite", "--eval", d / "eval.npz")
    out = capsys.readouterr().out
    assert rc == 0 and "int8 accuracy" in out and "top-1 agreement" in out


def test_eval_regression_rmse(tmp_path, capsys):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,), name="feat")
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(inp)))
    model.save(tmp_path / "reg.keras")
    rng = np.random.default_rng(2)
    x = rng.random((25, 4), dtype=np.float32)
    y = (x.sum(axis=1) * 0.5).astype(np.float32)
    np.save(tmp_path / "c.npy", x)
    np.savez(tmp_path / "ev.npz", x=x, y=y)
    r = _convert_json(capsys, tmp_path / "reg.keras", "-c", tmp_path / "c.npy", "-o", tmp_path / "r.tflite",
                      "--eval", tmp_path / "ev.npz")
    ev = r["eval"]
    assert set(ev) == {"task", "samples", "float_rmse", "int8_rmse", "float_int8_rmse"}
    assert ev["task"] == "regression" and ev["samples"] == 25
    yf = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    assert ev["float_rmse"] == pytest.approx(float(np.sqrt(np.mean((yf - y) ** 2))), rel=1e-5)
    it = ref_interpreter(tmp_path / "r.tflite")
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = di["quantization"], do["quantization"]
    yq = []
    for i in range(len(x)):
        v = x[i : i + 1] / np.float32(si)
        it.set_tensor(di["index"], np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zi, -128, 127).astype(np.int8))
        it.invoke()
        yq.append((float(it.get_tensor(do["index"])[0, 0]) - zo) * so)
    yq = np.array(yq)
    assert ev["int8_rmse"] == pytest.approx(float(np.sqrt(np.mean((yq - y) ** 2))), rel=1e-9)
    assert ev["float_int8_rmse"] == pytest.approx(float(np.sqrt(np.mean((yq - yf) ** 2))), rel=1e-5)


def test_not_full_integer_is_rejected():
    import keras

    from tinyq.errors import UnsupportedModel
    from tinyq.quant.convert import convert_keras

    # POW has no int8 kernel and reads two integer tensors: not a float island tinyq could tabulate
    # (SIN of one tensor would be: tests/test_float_islands.py).
    inp = keras.Input((6,))
    a, b = keras.layers.Dense(6)(inp), keras.layers.Dense(6)(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.power(keras.ops.abs(t[0]) + 1.0, t[1]))([a, b])
    model = keras.Model(inp, keras.layers.Dense(3)(x))
    with pytest.raises(UnsupportedModel, match=r"\(POW\) computes in float32.*reads 2 integer tensors"):
        convert_keras(model, [np.random.default_rng(0).random((8, 6), dtype=np.float32)])


# ----------------------------------------------------------------------------- bad input


def _bad_files(d: Path, work_dir: Path) -> None:
    keras_bytes = (work_dir / "m.keras").read_bytes()
    (d / "trunc.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    h5_bytes = (work_dir / "m.h5").read_bytes()
    (d / "trunc.h5").write_bytes(h5_bytes[: len(h5_bytes) // 3])
    (d / "text.keras").write_text("this is not a model\n")
    work_model = work_dir / "m.keras"
    import keras

    keras.models.load_model(work_model).save_weights(d / "w.weights.h5")
    (d / "weights.h5").write_bytes((d / "w.weights.h5").read_bytes())
    (d / "notsaved").mkdir()
    (d / "notsaved" / "readme.txt").write_text("x")
    rng = np.random.default_rng(0)
    np.save(d / "shape.npy", rng.random((10, 8, 8), dtype=np.float32))
    (d / "calib.csv").write_text("1,2,3\n")
    np.save(d / "empty.npy", np.zeros((0, 8, 8, 1), np.float32))
    nan = rng.random((10, 8, 8, 1), dtype=np.float32)
    nan[4, 2, 2, 0] = np.nan
    np.save(d / "nan.npy", nan)
    good = (work_dir / "calib.npy").read_bytes()
    (d / "trunc.npy").write_bytes(good[: len(good) // 2])
    np.savez(d / "nox.npz", a=rng.random((5, 8, 8, 1)), b=rng.random((5, 8, 8, 1)))


BAD_CASES = [
    # (id, model, calib, words expected in the one error line)
    ("missing-model", "nope.keras", "W/calib.npy", ["no such file"]),
    ("missing-calib", "W/m.keras", "nope.npy", ["no such file", "calibration"]),
    ("truncated-keras", "trunc.keras", "W/calib.npy", ["trunc.keras", "truncated"]),
    ("truncated-h5", "trunc.h5", "W/calib.npy", ["trunc.h5", "truncated"]),
    ("not-a-model-text", "text.keras", "W/calib.npy", ["not a keras model"]),
    ("not-a-model-weights", "weights.h5", "W/calib.npy", ["no model", "model.save"]),
    ("not-a-savedmodel", "notsaved", "W/calib.npy", ["not a savedmodel"]),
    ("not-a-model-npy", "W/calib.npy", "W/calib.npy", ["unknown model format"]),
    ("calib-shape", "W/m.keras", "shape.npy", ["calibration data has shape (10, 8, 8) but the model input is (None, 8, 8, 1)"]),
    ("calib-not-npy", "W/m.keras", "calib.csv", ["not a .npy or .npz"]),
    ("calib-truncated", "W/m.keras", "trunc.npy", ["corrupt or truncated"]),
    ("calib-empty", "W/m.keras", "empty.npy", ["empty"]),
    ("calib-nan", "W/m.keras", "nan.npy", ["nan", "sample 4"]),
    ("calib-npz-names", "W/m.keras", "nox.npz", ["'x'", "img"]),
]


@pytest.fixture(scope="module")
def bad_dir(work, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    _bad_files(d, work["dir"])
    return d


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input(case, work, bad_dir, capfd):
    _, model, calib, words = case

    def p(s):
        return work["dir"] / s[2:] if s.startswith("W/") else bad_dir / s

    out = bad_dir / f"out-{case[0]}.tflite"
    capfd.readouterr()
    rc = tinyq_main("convert", p(model), "-c", p(calib), "-o", out)
    cap = capfd.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert rc == 2, cap.err
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    assert not out.exists()
    assert not [f for f in bad_dir.iterdir() if f.name.startswith(f".{out.name}")]  # no temp file either


def test_bad_input_subprocess(work, bad_dir):
    """As a user sees it: exit 2, exactly one line on stderr, no traceback, no file (model loads first)."""
    out = bad_dir / "sub.tflite"
    r = _run_sub("convert", work["dir"] / "m.keras", "-c", bad_dir / "shape.npy", "-o", out)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: calibration data has shape (10, 8, 8)"), r.stderr
    assert "x.reshape(10, 8, 8, 1)" in r.stderr
    assert r.stdout == "" and not out.exists()


def test_success_subprocess_is_quiet(work, tmp_path):
    """TensorFlow's C++ logging does not reach stderr during conversion; -v lets it through."""
    out = tmp_path / "q.tflite"
    r = _run_sub("convert", work["dir"] / "m.h5", "-c", work["dir"] / "calib.npy", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert json.loads(r.stdout)["tflite_bytes"] == out.stat().st_size


# ----------------------------------------------------------------------------- real data


def test_digits_cnn_int8_matches_float(tmp_path, capsys):
    from tinyq.quant.datasets import digits_dataset, train_digits_cnn

    x_train, y_train, x_test, y_test = digits_dataset()
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert len(x_train) + len(x_test) == 1797 and set(np.unique(y_test)) == set(range(10))
    model = train_digits_cnn()
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Conv2D", "DepthwiseConv2D", "MaxPooling2D", "Dense", "Softmax"} <= kinds
    model.save(tmp_path / "digits.keras")
    np.save(tmp_path / "calib.npy", x_train[:300])
    np.savez(tmp_path / "test.npz", x=x_test, y=y_test)
    r = _convert_json(capsys, tmp_path / "digits.keras", "-c", tmp_path / "calib.npy", "-o", tmp_path / "digits.tflite",
                      "--eval", tmp_path / "test.npz")
    ev = r["eval"]
    assert ev["task"] == "classification" and ev["samples"] == len(x_test)
    assert ev["float_accuracy"] >= 0.95, ev
    assert abs(ev["int8_accuracy"] - ev["float_accuracy"]) <= 0.01, ev
    assert ev["agreement"] >= 0.97, ev
    assert r["tflite_bytes"] < r["float_bytes"] + 8000
