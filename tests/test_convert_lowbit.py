"""`tinyq convert --weight-bits 1|2|4` and `--palette B`, and QAT models below 8 bits: INT4 weight tensors the
reference interpreter runs (laid out as litert-quantizer writes them), int8 weight tensors that really take at
most 2^B values per layer / channel as the "tinyq.weights" metadata says, deterministic k-means, the bad
combinations refused in one line."""

import json
import os

import numpy as np
import pytest

from .helpers import ref_interpreter, tinyq_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Keras' own saving code trips numpy 2's __array__(copy=) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _model(bn: bool = False):
    import keras

    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 8, 1), name="img")
    x = L.Conv2D(6, 3, activation=None if bn else "relu", name="conv")(inp)
    if bn:
        x = L.ReLU()(L.BatchNormalization(name="bn")(x))
    x = L.DepthwiseConv2D(3, activation="relu", name="dw")(x)
    x = L.Flatten()(x)
    out = L.Dense(4, activation="softmax", name="fc")(x)
    m = keras.Model(inp, out)
    if bn:
        rng = np.random.default_rng(2)
        m.get_layer("bn").set_weights([rng.random(6) + 0.5, rng.random(6) - 0.5, rng.random(6) - 0.5, rng.random(6) + 0.5])
    return m


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("lowbit")
    _model().save(d / "m.keras")
    _model(bn=True).save(d / "bn.keras")
    rng = np.random.default_rng(0)
    np.save(d / "calib.npy", rng.random((16, 8, 8, 1), dtype=np.float32))
    np.savez(d / "eval.npz", x=rng.random((20, 8, 8, 1), dtype=np.float32), y=rng.integers(0, 4, 20))
    return d


def _convert(capsys, d, out, *args):
    capsys.readouterr()
    rc = tinyq_main("convert", d / "m.keras", "-c", d / "calib.npy", "-o", d / out, "--eval", d / "eval.npz", *args, "--json")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out), cap.err


def _weights(path):
    from tinyq.quant import lowbit

    data = path.read_bytes() if hasattr(path, "read_bytes") else path
    return {w.kind: w for w in lowbit.weight_tensors(lowbit._model(data))}


def _check_metadata(data: bytes) -> dict:
    """The metadata's claims, checked against the int8 values themselves."""
    from tinyq.quant import lowbit

    meta = lowbit.read_metadata(data)
    assert meta is not None and meta["version"] == 1
    by_name = {w.name: w for w in lowbit.weight_tensors(lowbit._model(data))}
    for name, e in meta["tensors"].items():
        w = by_name[name]
        assert w.dtype == "int8"
        layer, channel = w.distinct()
        assert (layer if e["codebook"] == "layer" else channel) <= 2 ** e["bits"], (name, e, layer, channel)
    return meta["tensors"]


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from tinyq.quant.convert import quantize_input, summarize_tflite

    s = summarize_tflite(data)
    it = ref_interpreter(data)
    outs = []
    for i in range(len(x)):
        it.set_tensor(s.inputs[0].index, quantize_input(x[i : i + 1], s.inputs[0]))
        it.invoke()
        outs.append(it.get_tensor(s.outputs[0].index).copy())
    return np.concatenate(outs)


# ----------------------------------------------------------------------------- --weight-bits 4: INT4 tensors


def test_int4_model(work, capsys):
    """Every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weight tensor INT4, int8 edges, batch 1, smaller than
    int8, run by the reference with exactly the outputs of the same model with the int4 values stored as int8,
    byte-identical from one run to the next."""
    from tinyq.quant import lowbit

    d = work
    r8, _ = _convert(capsys, d, "m8.tflite")
    r4, err = _convert(capsys, d, "m4.tflite", "--weight-bits", "4")
    assert err.strip() == ""  # no fallback note: the reference runs INT4 filters of all three kinds
    assert r4["ops"] == r8["ops"] and r4["weights"] == {"int4": 3} and r4["weight_bits"] == 4
    assert r4["packed_weights"] == {}  # INT4 says it by its type: no metadata entry needed
    assert [e["dtype"] for e in r4["inputs"] + r4["outputs"]] == ["int8", "int8"]
    assert r4["inputs"][0]["shape"] == [1, 8, 8, 1]
    assert r4["tflite_bytes"] < r8["tflite_bytes"] - 60  # 54 + 54 + 216 weights halved, at least
    assert r4["eval"]["samples"] == 20 and r4["eval"]["int8_accuracy"] is not None
    data = (d / "m4.tflite").read_bytes()
    ws = _weights(data)
    assert set(ws) == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    for w in ws.values():
        assert w.dtype == "int4" and -7 <= w.values.min() and w.values.max() <= 7 and w.distinct()[0] <= 15
        assert np.abs(w.values).max() == 7  # the grid's scale is max|w| / 7: the largest weight is level 7
    x = np.load(d / "calib.npy")
    twin = lowbit.expand_int4(data)
    assert lowbit.weight_tensors(lowbit._model(twin))[0].dtype == "int8"
    assert np.array_equal(_run(data, x), _run(twin, x))
    # same input, same bytes
    _convert(capsys, d, "m4b.tflite", "--weight-bits", "4")
    assert (d / "m4b.tflite").read_bytes() == data


def test_int4_layout_is_litert_quantizers(work, tmp_path):
    """litert-quantizer's INT4 CONV_2D filter read with tinyq's unpacking (low nibble first) dequantizes to the
    float kernel within half a step: the byte layout tinyq writes is the one it writes. And pack/unpack are
    inverse, odd lengths included."""
    import keras
    from litert_quantizer import qtyping, quantizer
    from litert_quantizer.utils import tfl_interpreter_utils as tu

    from tinyq.quant import convert as cv
    from tinyq.quant import lowbit

    v = np.array([-8, 7, 0, -1, 3, -7, 5], np.int8)
    assert np.array_equal(lowbit.unpack_int4(lowbit.pack_int4(v), 7), v)
    assert lowbit.pack_int4(np.array([1, -2]))[0] == 0xE1  # first element in the low nibble

    m = keras.models.load_model(work / "m.keras")
    with cv.quiet_stderr():  # litert-quantizer reads the signature TensorFlow's Keras converter writes
        fl = bytes(cv._tf().lite.TFLiteConverter.from_keras_model(m).convert())
    (tmp_path / "f.tflite").write_bytes(fl)
    qt = quantizer.Quantizer(str(tmp_path / "f.tflite"))
    qt.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                         weight_num_bits=4)
    name = list(ref_interpreter(fl).get_signature_runner().get_input_details())[0]
    x = np.load(work / "calib.npy")
    res = qt.calibrate({tu.DEFAULT_SIGNATURE_KEY: [{name: x[i : i + 1]} for i in range(4)]})
    q4 = bytes(qt.quantize(res).quantized_model)
    model = lowbit._model(q4)
    conv = next(w for w in lowbit.weight_tensors(model) if w.kind == "CONV_2D")
    assert conv.dtype == "int4"
    scale = np.asarray(model.subgraphs[0].tensors[conv.index].quantization.scale, np.float64)
    got = conv.values.astype(np.float64) * scale.reshape(-1, 1, 1, 1)  # OHWI
    want = np.transpose(m.get_layer("conv").kernel.numpy(), (3, 0, 1, 2))
    assert np.all(np.abs(got - want) <= scale.reshape(-1, 1, 1, 1) / 2 + 1e-6)


# ----------------------------------------------------------------------------- 2 and 1 bits, palettes


@pytest.mark.parametrize("args,bits,codebook", [
    (("--weight-bits", "2"), 2, "layer"),
    (("--weight-bits", "1"), 1, "layer"),
    (("--palette", "4"), 4, "layer"),
    (("--palette", "2", "--palette-per-channel"), 2, "channel"),
])
def test_int8_with_metadata(work, capsys, args, bits, codebook):
    """int8 weight tensors named in the metadata with the bits and codebook asked for, which their values keep;
    the same input gives the same bytes (k-means is deterministic); accuracy reported."""
    d = work
    name = "_".join(args).replace("-", "") + ".tflite"
    r, err = _convert(capsys, d, name, *args)
    assert err.strip() == ""
    assert r["weights"] == {"int8": 3} and r["eval"]["int8_accuracy"] is not None
    data = (d / name).read_bytes()
    meta = _check_metadata(data)
    assert r["packed_weights"] == meta
    assert len(meta) == 3 and {(e["bits"], e["codebook"]) for e in meta.values()} == {(bits, codebook)}
    ws = _weights(data)
    if args[0] == "--weight-bits":  # the grid: levels round(k * 127 / q) in every channel
        q = 2 ** (bits - 1) - 1 if bits > 1 else 1
        for w in ws.values():
            assert set(np.unique(w.values)) <= {int(np.round(k * 127 / q)) for k in range(-q, q + 1)}
    _convert(capsys, d, "again_" + name, *args)
    assert (d / ("again_" + name)).read_bytes() == data


def test_palette_with_folded_batchnorm(work, capsys):
    """A BatchNormalization the converter folds into the conv scales each channel: the per-layer palette is found
    for the folded kernel, so after conversion the conv still takes at most 2^B int8 values in the whole tensor."""
    d = work
    capsys.readouterr()
    rc = tinyq_main("convert", d / "bn.keras", "-c", d / "calib.npy", "-o", d / "bn_p2.tflite", "--palette", "2")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert cap.err.strip() == ""  # no tensor fell back to a per-channel codebook
    assert "low-bit int8 weights" in cap.out and "3 tensors" in cap.out
    data = (d / "bn_p2.tflite").read_bytes()
    meta = _check_metadata(data)
    assert {w.kind: meta[w.name]["codebook"] for w in _weights(data).values()} == {
        "CONV_2D": "layer", "DEPTHWISE_CONV_2D": "layer", "FULLY_CONNECTED": "layer"}
    assert _weights(data)["CONV_2D"].distinct()[0] <= 4


def test_int4_fallback_when_reference_refuses(work, capsys, monkeypatch):
    """Where the reference interpreter cannot run the INT4 tensors, the model stays int8 on the 4-bit grid, named
    in the metadata, and one line on stderr says so."""
    from tinyq.quant import lowbit

    monkeypatch.setattr(lowbit, "reference_error", lambda data, xs: "filter type INT4 not supported")
    r, err = _convert(capsys, work, "fb.tflite", "--weight-bits", "4")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "filter type INT4 not supported" in lines[0] and "4-bit grid" in lines[0]
    assert r["weights"] == {"int8": 3}
    meta = _check_metadata((work / "fb.tflite").read_bytes())
    assert len(meta) == 3 and {(e["bits"], e["codebook"]) for e in meta.values()} == {(4, "layer")}


def test_kmeans_and_grids():
    """k-means: at most 2^B sorted centroids, each weight its nearest, the same bits every run; the grids."""
    from tinyq.quant import lowbit

    rng = np.random.default_rng(7)
    w = rng.normal(size=(3, 3, 4, 5)).astype(np.float32)
    for bits in (1, 2, 4):
        p = lowbit.palettize_kernel(w, (3,), bits, per_channel=False)
        assert len(np.unique(p)) <= 2**bits and np.array_equal(p, lowbit.palettize_kernel(w, (3,), bits, per_channel=False))
        pc = lowbit.palettize_kernel(w, (3,), bits, per_channel=True)
        assert all(len(np.unique(pc[..., c])) <= 2**bits for c in range(5))
        assert np.mean((pc - w) ** 2) <= np.mean((p - w) ** 2) + 1e-9  # per channel fits at least as well
    c = lowbit.kmeans_1d(np.array([0.0, 0.1, 0.2, 10.0, 10.1, 10.2]), 2)
    assert np.allclose(c, [0.1, 10.1])
    assert np.array_equal(lowbit.kmeans_1d(np.zeros(9), 4), [0.0])  # equal starts merge
    s4 = lowbit.snap_kernel(w, (3,), 4)
    for ch in range(5):
        col = w[..., ch]
        step = np.abs(col).max() / 7
        assert np.allclose(s4[..., ch] / step, np.round(s4[..., ch] / step), atol=1e-4)
        assert np.abs(s4[..., ch] - col).max() <= step / 2 + 1e-6
    s1 = lowbit.snap_kernel(w, (3,), 1)
    assert all(np.allclose(np.abs(s1[..., ch]), np.abs(w[..., ch]).mean()) for ch in range(5))
    dw = lowbit.snap_kernel(rng.normal(size=(3, 3, 2, 2)).astype(np.float32), (2, 3), 2)
    assert all(len(np.unique(np.abs(dw[:, :, i, j]))) <= 2 for i in range(2) for j in range(2))  # {0, s} per channel


# ----------------------------------------------------------------------------- QAT below 8 bits


@pytest.mark.parametrize("qat_bits,packed", [(1, 1), (2, 2), (3, 4), (4, 4)])
def test_qat_low_bits_metadata(qat_bits, packed, tmp_path, capsys):
    """A QAT model trained at 1-4 bits converts to int8 weight tensors that keep its grid, recorded in the
    metadata at the bits rounded up to 1, 2 or 4 (binary: exactly +-127); a 4-bit one with --weight-bits 4
    to INT4 tensors, and then no metadata entry is left."""
    import keras

    from tinyq.quant import qat
    from tinyq.quant.convert import convert_keras

    rng = np.random.default_rng(qat_bits)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    q = qat.quantize_model(_model(), weight_bits=qat_bits)
    q.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    q.fit(x, rng.integers(0, 4, 32), epochs=1, batch_size=16, verbose=0)
    data = convert_keras(q, [x[:8]])
    meta = _check_metadata(data)
    assert len(meta) == 3 and {(e["bits"], e["codebook"]) for e in meta.values()} == {(packed, "layer")}
    if qat_bits == 1:
        assert all(set(np.unique(w.values)) == {-127, 127} for w in _weights(data).values())
    assert ref_interpreter(data) is not None
    if qat_bits == 4:
        from tinyq.quant import lowbit

        q.save(tmp_path / "q4.keras")
        np.save(tmp_path / "calib.npy", x[:8])
        capsys.readouterr()
        rc = tinyq_main("convert", tmp_path / "q4.keras", "-c", tmp_path / "calib.npy", "-o", tmp_path / "q4.tflite",
                        "--weight-bits", "4", "--json")
        r = json.loads(capsys.readouterr().out)
        assert rc == 0 and r["weights"] == {"int4": 3} and r["packed_weights"] == {}
        assert lowbit.read_metadata((tmp_path / "q4.tflite").read_bytes()) is None


def test_binary_fake_quant():
    """weight_bits=1: {-s, +s} per channel with s = mean|w|, 0 going to +s; gradients pass straight through."""
    from tinyq.quant import qat

    w = np.array([[0.5, -2.0], [-1.5, 0.0], [0.0, 4.0]], np.float32)
    got = np.asarray(qat.fake_quant_weights(w, (1,), 1))
    s = np.abs(w).mean(axis=0)
    assert np.allclose(got, np.where(w >= 0, s, -s))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args,words", [
    (("--weight-bits", "3"), "--weight-bits 3: give 1, 2, 4 or 8"),
    (("--palette", "3"), "--palette 3: give 1, 2 or 4"),
    (("--palette", "2", "--weight-bits", "4"), "choose one"),
    (("--palette-per-channel",), "needs --palette"),
    (("--weight-bits", "4", "--mode", "int16x8"), "--mode int8 only"),
    (("--palette", "4", "--mixed"), "drop one"),
])
def test_bad_options(work, capfd, args, words):
    d = work
    capfd.readouterr()
    rc = tinyq_main("convert", d / "m.keras", "-c", d / "calib.npy", "-o", d / "bad.tflite", *args)
    cap = capfd.readouterr()
    assert rc == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], cap.err
    assert not (d / "bad.tflite").exists()


def test_savedmodel_refused(work, tmp_path, capfd):
    import keras

    m = keras.models.load_model(work / "m.keras")
    with open(os.devnull, "w") as sink:
        import contextlib

        with contextlib.redirect_stdout(sink):
            m.export(str(tmp_path / "sm"))
    capfd.readouterr()
    rc = tinyq_main("convert", tmp_path / "sm", "-c", work / "calib.npy", "-o", tmp_path / "x.tflite", "--weight-bits", "4")
    lines = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "give a .keras or .h5 model" in lines[0]
