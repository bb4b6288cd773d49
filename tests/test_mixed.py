"""`tinyq convert --mixed`: int16 activations for the layers with the worst int8 error, int4 weights where
they cost little (tinyq.quant.mixed, litert-quantizer per-layer recipes).

The model has one layer made hard to quantize to int8 on purpose: in `spiky` (Dense 64, ReLU) unit 0 fires
on about 3% of the inputs, 1000 times larger than the other units, so the int8 step its range sets crushes
the other 63 units to a few levels; the layers before and after it quantize well. The plan must give
`spiky` int16 activations first; the written model must run in the reference interpreter and compile
bit-exact (`tinyq verify` on the host), and the plan and model must come out the same twice.
"""

import json

import numpy as np
import pytest

from .helpers import tinyq_main

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_CALIB = 48


def _samples(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 16), dtype=np.float32)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("mixed")
    keras.utils.set_random_seed(3)
    inp = keras.Input((16,), batch_size=1, name="feat")
    x = keras.layers.Dense(32, activation="relu", name="d1")(inp)
    x = keras.layers.Dense(64, activation="relu", name="spiky")(x)
    x = keras.layers.Dense(16, activation="relu", name="head")(x)
    out = keras.layers.Dense(10, name="out")(x)
    model = keras.Model(inp, out)
    calib = _samples(N_CALIB, 0)
    # Unit 0 of `spiky`: its pre-activation shifted so it fires on the top 3% of the calibration inputs, x1000.
    pre = keras.Model(inp, model.get_layer("d1").output).predict(calib, verbose=0) @ model.get_layer("spiky").get_weights()[0]
    w, b = model.get_layer("spiky").get_weights()
    b[0] = -np.quantile(pre[:, 0], 0.97)
    w[:, 0] *= 1000.0
    b[0] *= 1000.0
    model.get_layer("spiky").set_weights([w, b])
    model.save(d / "m.keras")
    np.save(d / "calib.npy", calib)
    ex = _samples(200, 1)
    np.savez(d / "eval.npz", x=ex, y=model.predict(ex, verbose=0).argmax(axis=1))  # labels: the float model's
    return d


def _plan(work, **kw):
    from tinyq.quant import convert as cv
    from tinyq.quant import mixed

    lm = cv.load_model(work / "m.keras")
    samples = cv.load_calibration(work / "calib.npy", lm.inputs)
    return mixed.plan_mixed(lm, samples, work / "calib.npy", **kw)


def _layer(plan, name):
    (L,) = [L for L in plan.layers if f"/{name}" in L.tensor.split(";")[0] or L.tensor.startswith(name)]
    return L


def _ops(data: bytes) -> list[tuple[str, list[str], list[str]]]:
    from tinyq.compiler.importer import op_names, schema, type_names

    m = schema.ModelT.InitFromPackedBuf(data, 0)
    sg, kinds, types = m.subgraphs[0], op_names(), type_names()
    return [(kinds[m.operatorCodes[o.opcodeIndex].builtinCode], [types[sg.tensors[i].type] for i in o.inputs if i >= 0],
             [types[sg.tensors[i].type] for i in o.outputs]) for o in sg.operators]


def test_worst_layer_gets_int16_and_plan_is_deterministic(work):
    a = _plan(work)
    spiky = _layer(a, "spiky")
    assert spiky.flagged and spiky.activations == "int16", a.to_json()
    assert spiky.why[0].startswith("int16 activations #1"), spiky.why
    # It is the layer that loses the most at int8, by far.
    losses = sorted((L.loss_int8_db or 0.0, L.tensor) for L in a.layers)
    assert losses[-1][1] == spiky.tensor and losses[-1][0] >= 2 * losses[-2][0] and losses[-1][0] >= 12.0, losses
    # `head` reads it, so it takes int16 too (else `spiky`'s output would be requantized to int8 before use).
    assert _layer(a, "head").activations == "int16" and _layer(a, "head").why == ["int16 activations #1: reads spiky_1/MatMul"]
    assert _layer(a, "d1").activations == "int8" and not _layer(a, "d1").flagged
    assert [L.op for L in a.layers if L.activations == "int16"] == ["FULLY_CONNECTED"] * 2
    # litert-quantizer wrote the int16 pair between int8 layers, with QUANTIZE int8 -> int16 and int16 -> int8.
    ops = _ops(a.model)
    assert [k for k, _, _ in ops] == ["FULLY_CONNECTED", "QUANTIZE", "FULLY_CONNECTED", "FULLY_CONNECTED", "QUANTIZE",
                                      "FULLY_CONNECTED"], ops
    assert ops[1][1:] == (["int8"], ["int16"]) and ops[4][1:] == (["int16"], ["int8"]), ops
    assert ops[2] == ("FULLY_CONNECTED", ["int16", "int8", "int64"], ["int16"]), ops
    b = _plan(work)
    assert json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)
    assert a.model == b.model


def test_cli_writes_a_model_that_verifies_bit_exact(work, capsys):
    out = work / "mixed.tflite"
    assert tinyq_main("convert", work / "m.keras", "-c", work / "calib.npy", "--mixed", "-o", out) == 0
    text = capsys.readouterr().out
    row = next(ln for ln in text.splitlines() if "spiky" in ln)  # the table's row of `spiky`: int16 activations
    assert "int16" in row and "int16 activations: 2 layer(s)" in text and f"wrote {out}" in text, text
    from tinyq.quant.convert import run_int8

    xs = [_samples(8, 7)]
    y = run_int8(out.read_bytes(), xs)  # the reference interpreter runs it
    assert y.shape == (8, 10) and np.isfinite(y).all()
    assert tinyq_main("verify", out, "-n", "40") == 0
    assert "bit-exact" in capsys.readouterr().out


def test_int4_weights_on_the_grid_with_metadata(work, capsys):
    """int4 forced (any SQNR allowed): the int8 tensors hold the INT4 model's values, the reference gives the
    same outputs for both, the metadata names them, and tinyq verifies the model bit-exact."""
    from tinyq.quant import convert as cv
    from tinyq.quant import mixed

    plan = _plan(work, int4_min_db=-100.0)
    assert plan.int4 and _layer(plan, "spiky").weights == "int8"  # int16 layers keep int8 weights
    lm = cv.load_model(work / "m.keras")
    samples = cv.load_calibration(work / "calib.npy", lm.inputs)
    cal = mixed.calibrate(cv.convert_model(lm, None, mode="float"), samples)
    packed = mixed.quantize(cal, int16=plan.int16, int4=plan.int4)
    assert "int4" in {t for _, ins, _ in _ops(packed) for t in ins}
    assert mixed.int4_as_int8(packed) == plan.model
    xs = [_samples(30, 9)]
    assert np.array_equal(cv.run_int8(packed, xs), cv.run_int8(plan.model, xs))

    from tinyq.compiler.importer import schema

    m = schema.ModelT.InitFromPackedBuf(plan.model, 0)
    (meta,) = [md for md in m.metadata if md.name == b"tinyq.weights"]
    entry = json.loads(bytes(m.buffers[meta.buffer].data))
    assert entry["version"] == 1 and entry["tensors"], entry
    sg = m.subgraphs[0]
    for name, spec in entry["tensors"].items():
        assert spec == {"bits": 4, "codebook": "layer"}
        (t,) = [t for t in sg.tensors if t.name.decode() == name]
        values = np.asarray(m.buffers[t.buffer].data, np.uint8).view(np.int8)
        assert values.size == np.prod(t.shape) and values.min() >= -8 and values.max() <= 7
    path = work / "mixed4.tflite"
    path.write_bytes(plan.model)
    assert tinyq_main("verify", path, "-n", "30") == 0


def test_eval_stops_when_accuracy_recovers_json(work, capsys):
    rc = tinyq_main("convert", work / "m.keras", "-c", work / "calib.npy", "--mixed", "--eval", work / "eval.npz",
                    "--no-int4", "--json")
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["task"] == "classification" and r["float_quality"] == 1.0 and r["output"] is None
    assert r["int4"] == [] and r["steps"][0]["int16"] == []
    assert r["int16"] and "spiky" in r["int16"][0]
    assert r["mixed_quality"] > r["int8_quality"]  # 91.5% against 84% (float 100%: the labels are its own)
    # Each step adds layers; it stops at the first within the tolerance (or when the candidates run out).
    for a, b in zip(r["steps"], r["steps"][1:]):
        assert set(a["int16"]) < set(b["int16"]) and b["int16"][: len(a["int16"])] == a["int16"]
    assert all(s["quality"] < r["float_quality"] - r["tolerance"] for s in r["steps"][:-1])


@pytest.mark.parametrize("args,words", [
    (("--mixed",), ("--calib is missing",)),
    (("--mixed", "-c", "CAL", "--mode", "int16x8"), ("--mixed", "drop --mode int16x8")),
    (("--mixed", "-c", "CAL", "--float-io"), ("drop --float-io",)),
    (("--mixed", "-c", "CAL", "--tolerance", "2"), ("--tolerance 2",)),
    (("--mixed", "-c", "CAL", "--max-int16", "-1"), ("--max-int16 -1",)),
    (("-c", "CAL"), ("-o is missing",)),
])
def test_bad_options_one_line(work, capsys, args, words):
    args = [str(work / "calib.npy") if a == "CAL" else a for a in args]
    assert tinyq_main("convert", work / "m.keras", *args) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and all(w in err[0] for w in words), err


def test_int16_group_follows_readers_through_reshapes():
    """A flagged tensor goes int16 with its producer and every reader, found through reshapes; a reader with no
    int16 form in --mixed keeps the tensor int8, naming that reader."""
    from tinyq.quant.mixed import _GOp, _int16_group

    g = [_GOp("CONV_2D", ["x", "w1"], ["a"]), _GOp("MAX_POOL_2D", ["a"], ["p"]), _GOp("RESHAPE", ["a", "s"], ["r"]),
         _GOp("FULLY_CONNECTED", ["r", "w2"], ["y"]), _GOp("CONCATENATION", ["y", "p"], ["c"])]
    assert _int16_group(g, "a") == (["a", "p", "r", "y"], None)
    assert _int16_group(g, "c") == (["c"], None)  # a graph output: its producer alone
    ops, why = _int16_group(g, "y")
    assert ops == [] and why == "its reader c (CONCATENATION) stays int8 in --mixed"
