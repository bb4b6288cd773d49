"""`tinyq analyze MODEL --float FLOAT --calib CALIB`: per-layer SQNR of the int8 tensors against the float ones.

The model has one layer made hard to quantize on purpose: `diff` takes differences of input pairs that
differ by less than the input's int8 step, then amplifies them, so its int8 output is mostly noise while
the input and the first layer are quantized well. It must be flagged as the layer that loses the most.
"""

import json
import math

import numpy as np
import pytest

from .helpers import ref_interpreter, tinyq_main

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_CALIB = 48


def _build(names=("mix", "diff", "head"), model_name=None):
    import keras

    inp = keras.Input((16,), name="feat")
    a = keras.layers.Dense(16, activation="relu", name=names[0])(inp)
    d = keras.layers.Dense(4, name=names[1])(inp)
    x = keras.layers.Concatenate(name="cat")([a, d])
    out = keras.layers.Dense(3, name=names[2])(x)
    return keras.Model(inp, out, **({"name": model_name} if model_name else {}))


def _calib(n, seed, high=1.0):
    """16 features in [0, high); features 8..15 pair up with 0..7, each within 0.001 of its partner."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, 8), dtype=np.float32) * np.float32(high)
    twin = base + rng.normal(0.0, 0.001, (n, 8)).astype(np.float32)
    return np.concatenate([base, twin], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import keras

    from tinyq.quant.convert import convert_keras

    d = tmp_path_factory.mktemp("qerr")
    keras.utils.set_random_seed(5)
    model = _build()
    w = np.zeros((16, 4), np.float32)
    for j in range(4):  # diff_j = 40 * (x_j - x_{j+8}): a difference below the input's int8 step, amplified
        w[j, j], w[j + 8, j] = 40.0, -40.0
    model.get_layer("diff").set_weights([w, np.zeros(4, np.float32)])
    model.save(d / "m.keras")
    calib = _calib(N_CALIB, 0)
    np.save(d / "calib.npy", calib)
    (d / "q.tflite").write_bytes(convert_keras(model, [calib]))
    (d / "f.tflite").write_bytes(convert_keras(model, None, mode="float"))
    inp = keras.Input((8,))
    (d / "small.tflite").write_bytes(convert_keras(keras.Model(inp, keras.layers.Dense(2)(inp)), None, mode="float"))
    np.save(d / "bad.npy", np.zeros((5, 4, 4), np.float32))
    return {"dir": d, "model": model, "calib": calib}


def _json(capsys, *args):
    capsys.readouterr()
    rc = tinyq_main("analyze", *args, "--json")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out)["quant_error"]


def _layer(qe, word):
    word = "Identity" if word == "head" else word  # the graph output keeps the signature's name
    hits = [L for L in qe["layers"] if word in L["tensor"]]
    assert len(hits) == 1, [L["tensor"] for L in qe["layers"]]
    return hits[0]


@pytest.fixture(scope="module")
def report(work):
    from tinyq.quant.error import quant_error

    d = work["dir"]
    return quant_error(d / "q.tflite", d / "m.keras", d / "calib.npy").to_json()


def test_flags_the_layer_that_loses_most(report):
    qe = report
    assert qe["unmatched"] == 0 and qe["calibration"]["samples"] == N_CALIB
    diff, mix, inp = _layer(qe, "diff"), _layer(qe, "mix"), qe["layers"][0]
    assert inp["op"] == "input" and inp["index"] is None and inp["match"] == "input"
    assert inp["sqnr_db"] > 40 and not inp["flagged"]
    assert mix["sqnr_db"] > 30 and not mix["flagged"]
    assert diff["sqnr_db"] < 10, diff
    assert diff["flagged"] and any(r.startswith("loss #1") for r in diff["reasons"]) and "below 20 dB" in diff["reasons"]
    assert diff["drop_db"] == pytest.approx(inp["sqnr_db"] - diff["sqnr_db"])
    assert max(L["drop_db"] or -1e9 for L in qe["layers"]) == diff["drop_db"]
    assert qe["flagged"][0] in (diff["tensor"], _layer(qe, "cat")["tensor"], _layer(qe, "head")["tensor"])
    assert diff["tensor"] in qe["flagged"] and mix["tensor"] not in qe["flagged"]
    assert [L["tensor"] for L in qe["layers"] if L["flagged"]] == sorted(qe["flagged"], key=lambda t: [L["tensor"] for L in qe["layers"]].index(t))


def test_sqnr_and_clipping_against_numpy(work, report):
    """Recompute every figure independently: Keras for the float tensors, the reference interpreter for int8."""
    import keras

    d, model, x = work["dir"], work["model"], work["calib"]
    it = ref_interpreter(d / "q.tflite", experimental_preserve_all_tensors=True)
    details = {t["name"]: t for t in it.get_tensor_details()}
    di = it.get_input_details()[0]
    s_in, z_in = di["quantization"]
    layers = {"diff": model.get_layer("diff").output, "mix": model.get_layer("mix").output, "head": model.output}
    floats = {k: keras.Model(model.input, v).predict(x, verbose=0).astype(np.float64) for k, v in layers.items()}
    floats["feat"] = x.astype(np.float64)
    ints = {k: [] for k in floats}
    names = {k: _layer(report, k)["tensor"] for k in floats}
    for s in range(len(x)):
        v = x[s : s + 1] / np.float32(s_in)
        it.set_tensor(di["index"], np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + z_in, -128, 127).astype(np.int8))
        it.invoke()
        for k in floats:
            ints[k].append(it.get_tensor(details[names[k]]["index"]).reshape(-1).copy())
    for k, f in floats.items():
        scale, zp = details[names[k]]["quantization"]
        deq = (np.stack(ints[k]).astype(np.float64) - zp) * scale
        f = f.reshape(deq.shape)
        want = 10 * math.log10(np.sum(f**2) / np.sum((f - deq) ** 2))
        L = _layer(report, k)
        assert L["sqnr_db"] == pytest.approx(want, abs=0.02), k
        assert L["scale"] == pytest.approx(scale, rel=1e-6) and L["zero_point"] == zp
        assert L["clipped"] == pytest.approx(float(np.mean((f / scale + zp > 127.5) | (f / scale + zp < -128.5))), abs=1e-9)


def test_clipped_share(work, tmp_path, capsys):
    """Calibrated on [0, 0.5), measured on [0, 1): about half the input values saturate."""
    from tinyq.quant.convert import convert_keras

    narrow = tmp_path / "narrow.tflite"
    narrow.write_bytes(convert_keras(work["model"], [_calib(N_CALIB, 1, high=0.5)]))
    wide = work["calib"]
    np.savez(tmp_path / "wide.npz", x=wide)
    qe = _json(capsys, narrow, "--float", work["dir"] / "f.tflite", "-c", tmp_path / "wide.npz")
    inp = qe["layers"][0]
    scale, zp = inp["scale"], inp["zero_point"]
    top = (127 - zp + 0.5) * scale
    assert inp["clipped"] == pytest.approx(float(np.mean(wide > top)), abs=1e-9)
    assert 0.3 < inp["clipped"] < 0.7
    assert inp["sqnr_db"] < 20 and inp["flagged"]


def test_json_schema_and_float_tflite_agrees(work, report, capsys):
    d = work["dir"]
    qe = _json(capsys, d / "q.tflite", "--float", d / "f.tflite", "-c", d / "calib.npy", "--calib-limit", "20")
    assert set(qe) == {"model", "float_model", "calibration", "threshold_db", "worst", "layers", "flagged", "unmatched"}
    assert qe["calibration"] == {"file": str(d / "calib.npy"), "samples": 20}
    assert set(qe["layers"][0]) == {
        "index", "op", "tensor", "float_tensor", "match", "shape", "dtype", "scale", "zero_point",
        "sqnr_db", "drop_db", "clipped", "flagged", "reasons", "note",
    }
    full = _json(capsys, d / "q.tflite", "--float", d / "f.tflite", "-c", d / "calib.npy")
    for a, b in zip(full["layers"], report["layers"]):  # float .tflite and .keras give the same figures
        assert a["tensor"] == b["tensor"] and a["float_tensor"] == b["float_tensor"]
        assert a["sqnr_db"] == pytest.approx(b["sqnr_db"], abs=1e-6)
    assert [L["op"] for L in qe["layers"]] == ["input", "FULLY_CONNECTED", "FULLY_CONNECTED", "CONCATENATION", "FULLY_CONNECTED"]


@pytest.mark.parametrize("model_name,names,how", [
    ("other", ("mix", "diff", "head"), "renamed"),  # same layers, another model scope
    (None, ("a", "b", "c"), "graph"),  # nothing in common but the graph
])
def test_matching_without_the_same_names(work, report, tmp_path, model_name, names, how):
    from tinyq.quant.convert import convert_keras
    from tinyq.quant.error import quant_error

    twin = _build(names, model_name)
    twin.set_weights(work["model"].get_weights())
    (tmp_path / "twin.tflite").write_bytes(convert_keras(twin, None, mode="float"))
    qe = quant_error(work["dir"] / "q.tflite", tmp_path / "twin.tflite", work["dir"] / "calib.npy").to_json()
    assert qe["unmatched"] == 0
    assert how in {L["match"] for L in qe["layers"]}
    for a, b in zip(qe["layers"], report["layers"]):
        assert a["sqnr_db"] == pytest.approx(b["sqnr_db"], abs=1e-6), (a, b)


def test_unmatched_layers_are_reported(work, tmp_path):
    """A float model of another architecture: what cannot be paired is said, not guessed."""
    import keras

    from tinyq.quant.convert import convert_keras
    from tinyq.quant.error import quant_error

    inp = keras.Input((16,), name="feat")
    other = keras.Model(inp, keras.layers.Dense(3, name="only")(keras.layers.Dense(5, name="hidden")(inp)))
    (tmp_path / "other.tflite").write_bytes(convert_keras(other, None, mode="float"))
    qe = quant_error(work["dir"] / "q.tflite", tmp_path / "other.tflite", work["dir"] / "calib.npy").to_json()
    missing = [L for L in qe["layers"] if L["match"] is None]
    assert qe["unmatched"] == len(missing) >= 3
    assert all(L["sqnr_db"] is None and L["note"] == "no float tensor matches" and not L["flagged"] for L in missing)


def test_table(work, capsys):
    d = work["dir"]
    capsys.readouterr()
    rc = tinyq_main("analyze", d / "q.tflite", "--float", d / "m.keras", "-c", d / "calib.npy")
    out = capsys.readouterr().out
    assert rc == 0
    assert "quantization error: q.tflite vs m.keras on 48 samples" in out
    assert "SQNR dB" in out and "loss #1" in out and "matched to the float model's tensors" in out
    flagged = next(ln for ln in out.splitlines() if ln.startswith("flagged"))
    assert "diff" in flagged and "mix" not in flagged


@pytest.mark.parametrize("args,words", [
    (["--float", "W/m.keras"], ["--float needs --calib"]),
    (["-c", "W/calib.npy"], ["--calib needs --float"]),
    (["--calib-limit", "3"], ["--calib-limit needs --calib"]),
    (["--float", "W/m.keras", "-c", "W/bad.npy"], ["calibration data has shape (5, 4, 4)", "(None, 16)"]),
    (["--float", "W/small.tflite", "-c", "W/calib.npy"], ["small.tflite has inputs [[1, 8]]", "converted from"]),
    (["--float", "W/q.tflite", "-c", "W/calib.npy"], ["int8 input", "not a float model"]),
    (["--float", "nope.keras", "-c", "W/calib.npy"], ["no such file"]),
])
def test_bad_input(work, tmp_path, capfd, args, words):
    args = [str(work["dir"] / a[2:]) if a.startswith("W/") else str(tmp_path / a) if "." in a else a for a in args]
    capfd.readouterr()
    rc = tinyq_main("analyze", work["dir"] / "q.tflite", *args)
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1, err
    for w in words:
        assert w in err[0], err[0]


def test_order_fallback_and_no_guessing():
    """Unit test of the matcher on hand-made graphs: an op the float model lacks (PAD) breaks the graph
    match, so the FULLY_CONNECTED after it pairs by kind and shape in order; ambiguous names are not used."""
    from tinyq.quant.error import _T, _Net, _Op, match_tensors

    def t(name, shape, dtype="int8", const=False):
        return _T(name=name, shape=shape, dtype=dtype, const=const, scale=0.1 if dtype == "int8" else None, zero_point=0)

    q = _Net(
        tensors=[t("in", (1, 4)), t("w", (4, 4), const=True), t("pad", (1, 4)), t("fc", (1, 4)), t("x", (1, 4)), t("x", (1, 4))],
        ops=[_Op("PAD", [0], [2]), _Op("FULLY_CONNECTED", [2, 1], [3]), _Op("RELU", [3], [4]), _Op("RELU", [4], [5])],
        inputs=[0], outputs=[5],
    )
    f32 = "float32"
    f = _Net(
        tensors=[t("in", (1, 4), f32), t("w", (4, 4), f32, True), t("dense", (1, 4), f32), t("x", (1, 4), f32), t("x", (1, 4), f32)],
        ops=[_Op("FULLY_CONNECTED", [0, 1], [2]), _Op("RELU", [2], [3]), _Op("RELU", [3], [4])],
        inputs=[0], outputs=[4],
    )
    rows = {q.tensors[r.tensor].name + str(r.tensor): (r.float_tensor, r.match) for r in match_tensors(q, f)}
    assert rows["in0"] == (0, "input")
    assert rows["pad2"] == (None, None)  # nothing of its kind in the float model
    assert rows["fc3"] == (2, "order")
    assert rows["x4"] == (3, "graph") and rows["x5"] == (4, "graph")  # 'x' twice: names are not trusted


def test_flag_rules():
    """Below the threshold: flagged. A big loss: flagged only near the threshold, the `worst` largest."""
    from tinyq.quant.error import LayerError, _flag

    def layer(name, sqnr, drop):
        return LayerError(index=0, op="CONV_2D", tensor=name, float_tensor=name, match="name", shape=[1], dtype="int8",
                          scale=0.1, zero_point=0, sqnr_db=sqnr, drop_db=drop, clipped=0.0)

    layers = [layer("healthy", 43.7, 12.9), layer("near", 28.0, 15.0), layer("nearer", 25.0, 13.0),
              layer("low", 12.0, 1.0), layer("small-loss", 22.0, 5.0), layer("third", 30.0, 12.5)]
    flagged = _flag(layers, threshold_db=20.0, worst=2)
    by = {L.tensor: L for L in layers}
    assert flagged == ["low", "nearer", "near"]  # lowest SQNR first
    assert by["near"].reasons == ["loss #1: 15.0 dB"] and by["nearer"].reasons == ["loss #2: 13.0 dB"]
    assert by["low"].reasons == ["below 20 dB"]
    assert not by["healthy"].flagged and not by["small-loss"].flagged and not by["third"].flagged  # third: past --worst 2


def test_float_io_model(work, report, tmp_path):
    """A --float-io model: its QUANTIZE output stands for the float input; the layers measure the same."""
    from tinyq.quant.convert import convert_keras
    from tinyq.quant.error import quant_error

    p = tmp_path / "fio.tflite"
    p.write_bytes(convert_keras(work["model"], [work["calib"]], float_io=True))
    qe = quant_error(p, work["dir"] / "m.keras", work["dir"] / "calib.npy").to_json()
    assert qe["unmatched"] == 0
    first = qe["layers"][0]
    assert first["op"] == "QUANTIZE" and first["match"] == "input"
    for word in ("feat", "mix", "diff", "cat"):
        a = next(L for L in qe["layers"] if L["op"] != "QUANTIZE" and word in L["tensor"]) if word != "feat" else first
        assert a["sqnr_db"] == pytest.approx(_layer(report, word)["sqnr_db"], abs=1e-6), word
