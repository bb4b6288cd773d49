"""tinyq.quant.qat: quantization-aware training for Keras 3, and `tinyq convert` on the result.

The headline case: a ~1k-parameter CNN on scikit-learn's digits with 3-bit weights. Plain
post-training quantization to that grid (what the converter's per-channel max scaling gives)
loses more than PTQ_DROP of test accuracy; a few epochs of QAT from the float weights bring the
int8 model (TFLite reference kernels) back within QAT_WITHIN of the float model. The .tflite
`tinyq convert` writes from the saved QAT model is then checked bit-exact against tinyq's C.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Keras' own saving code trips numpy 2's __array__(copy=) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

keras = pytest.importorskip("keras")

from tinyq.errors import BadInput, UnsupportedModel
from tinyq.quant import qat
from tinyq.quant.convert import convert_keras, run_int8, summarize_tflite

BITS = 3
PTQ_DROP = 0.08  # post-training quantization to BITS-bit weights loses more than 8 points ...
QAT_WITHIN = 0.03  # ... QAT ends within 3 points of the float model (both int8, reference kernels)
QAT_EPOCHS = 15  # from the float weights, learning rate 2e-3 decaying to 0 (cosine)
CALIB = 300
L = keras.layers


def _accuracy(y, labels) -> float:
    return float(np.mean(np.asarray(y).reshape(len(labels), -1).argmax(axis=1) == labels))


def _tiny_cnn():
    """Two 3x3 conv + max-pool stages and a Dense head: 994 parameters."""
    inp = keras.Input((8, 8, 1), name="digit")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    return keras.Model(inp, L.Dense(10, name="logits")(x), name="tiny_cnn")


def _fit(model, x, y, lr, epochs: int, logits: bool = True):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    return model


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from tinyq.quant.datasets import digits_dataset

    x_train, y_train, x_test, y_test = digits_dataset()
    d = tmp_path_factory.mktemp("qat")
    np.save(d / "calib.npy", x_train[:CALIB])
    np.savez(d / "test.npz", x=x_test, y=y_test)
    return {"dir": d, "x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@pytest.fixture(scope="module")
def case(digits):
    """The float model, its PTQ and QAT versions and their int8 accuracies (TFLite reference kernels)."""
    xt, yt, xe, ye = digits["x_train"], digits["y_train"], digits["x_test"], digits["y_test"]
    calib = [xt[:CALIB]]
    keras.utils.set_random_seed(0)
    fp = _fit(_tiny_cnn(), xt, yt, lr=5e-3, epochs=30)
    acc = {"float": _accuracy(fp.predict(xe, verbose=0), ye)}
    acc["ptq 8-bit"] = _accuracy(run_int8(convert_keras(fp, calib), [xe]), ye)
    # PTQ to the BITS-bit grid: the QAT model before any training, stripped, is exactly that.
    ptq = qat.strip(qat.quantize_model(fp, weight_bits=BITS))
    acc[f"ptq {BITS}-bit"] = _accuracy(run_int8(convert_keras(ptq, calib), [xe]), ye)
    keras.utils.set_random_seed(1)
    steps = QAT_EPOCHS * -(-len(yt) // 64)
    q = _fit(qat.quantize_model(fp, weight_bits=BITS), xt, yt, lr=keras.optimizers.schedules.CosineDecay(2e-3, steps),
             epochs=QAT_EPOCHS)
    acc[f"qat {BITS}-bit (keras)"] = _accuracy(q.predict(xe, verbose=0), ye)
    path = digits["dir"] / "qat.keras"
    q.save(path)
    print("\n" + "   ".join(f"{k} {100 * v:.2f}%" for k, v in acc.items()) + f"   ({len(ye)} test images)")
    return {"float": fp, "qat": q, "path": path, "acc": acc}


@pytest.fixture(scope="module")
def converted(case, digits):
    """`tinyq convert qat.keras -c calib.npy -o qat.tflite --eval test.npz --json`, as a user runs it."""
    from tinyq.cli.root import main

    d = digits["dir"]
    args = ["convert", case["path"], "-c", d / "calib.npy", "-o", d / "qat.tflite", "--eval", d / "test.npz", "--json"]
    with _captured() as out:
        rc = main([str(a) for a in args])
    assert rc == 0
    return {"path": d / "qat.tflite", "report": json.loads(out.getvalue())}


@contextlib.contextmanager
def _captured():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


def test_qat_recovers_what_ptq_loses(case, converted, capsys):
    """The saved QAT model through `tinyq convert --eval`: int8 accuracy back within QAT_WITHIN of float."""
    acc = case["acc"]
    fl, ptq, qa = acc["float"], acc[f"ptq {BITS}-bit"], converted["report"]["eval"]["int8_accuracy"]
    with capsys.disabled():
        print(f"\nfloat {100 * fl:.2f}%  ptq {BITS}-bit {100 * ptq:.2f}%  qat {BITS}-bit int8 {100 * qa:.2f}%  "
              f"(ptq 8-bit {100 * acc['ptq 8-bit']:.2f}%)")
    assert fl > 0.9, f"the float model did not train: {fl:.4f}"
    assert ptq < fl - PTQ_DROP, f"PTQ {BITS}-bit {ptq:.4f} lost less than {PTQ_DROP} against float {fl:.4f}"
    assert qa > fl - QAT_WITHIN, f"QAT {BITS}-bit int8 {qa:.4f} is not within {QAT_WITHIN} of float {fl:.4f}"
    # The fake quantization mimics the converter: the QAT Keras model scores what the int8 model does.
    assert abs(acc[f"qat {BITS}-bit (keras)"] - qa) < 0.015


def test_qat_tflite_holds_the_grid_and_learned_ranges(case, converted):
    """Each kernel channel holds only the 2**BITS - 1 grid values (as int8); activation scales are QAT's ranges."""
    from tinyq.compiler.importer import import_model

    qmax = 2 ** (BITS - 1) - 1
    grid = {int(np.round(k * 127 / qmax)) for k in range(-qmax, qmax + 1)}  # the converter rescales max|w| to 127
    g = import_model(converted["path"])
    weighted = [op for op in g.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(weighted) == 3
    for op in weighted:
        w = g.tensor(op.inputs[1])
        assert w.quant.per_channel and w.dtype == "int8"
        flat = w.data.reshape(w.data.shape[0], -1).astype(int)  # TFLite: output channel first
        assert set(np.unique(flat)) <= grid, f"{op.kind}: values off the {BITS}-bit grid"
        assert (np.abs(flat).max(axis=1) == 127).all()
    ranges = qat.activation_ranges(case["qat"])
    assert set(ranges) == {"digit_aq", "conv1_aq", "conv2_aq", "logits_aq"}
    for op, name in zip(weighted, ("conv1_aq", "conv2_aq", "logits_aq")):
        lo, hi = ranges[name]
        assert g.tensor(op.outputs[0]).quant.scale[0] == pytest.approx((hi - min(lo, 0.0)) / 255, rel=1e-5), name


def test_qat_tflite_is_bit_exact(converted, digits):
    """tinyq's C (reference and fast kernels) matches TFLite's reference kernels on the whole test set."""
    from tinyq.checks.verify import verify_tflite

    for kernels in ("ref", "fast"):
        r = verify_tflite(converted["path"], inputs=digits["dir"] / "test.npz", kernels=kernels)
        assert r.samples == len(digits["y_test"])
        assert r.bit_exact, f"{kernels}: {r.summary()}"


def _bn_model():
    """Conv-BN-ReLU6, depthwise-BN-ReLU, residual Add+ReLU, GAP, Dense-BN, Dense(softmax): what gets folded and fused."""
    inp = keras.Input((10, 10, 3), name="img")
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(6.0, name="relu6")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.BatchNormalization(name="bn2")(y)
    y = L.Activation("relu", name="act")(y)
    x = L.Add(name="add")([x, y])
    x = L.ReLU(name="add_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(6, name="fc")(x)
    x = L.BatchNormalization(name="bn3")(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(x), name="bn_model")


def _trained_bn_model():
    keras.utils.set_random_seed(5)
    m = _bn_model()
    rng = np.random.default_rng(0)
    x = rng.random((64, 10, 10, 3), dtype=np.float32)
    _fit(m, x, rng.integers(0, 4, 64), lr=1e-2, epochs=2, logits=False)  # moves the BN statistics off their defaults
    return m, x


def test_bn_folded_activations_fused():
    m, x = _trained_bn_model()
    q = qat.quantize_model(m)
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert not any(k == "BatchNormalization" for k in kinds.values())
    assert kinds["c1"] == "QuantConv2D" and q.get_layer("c1").fold_bn
    assert kinds["dw"] == "QuantDepthwiseConv2D" and q.get_layer("dw").fold_bn
    assert kinds["fc"] == "QuantDense" and q.get_layer("fc").fold_bn
    assert not q.get_layer("out").fold_bn
    # one quantizer per tensor the int8 model quantizes: after the fused ReLU, not between conv and ReLU
    quantizers = sorted(n for n, k in kinds.items() if k == "ActivationQuantizer")
    assert quantizers == ["act_aq", "add_relu_aq", "bn3_aq", "gap_aq", "img_aq", "out_aq", "relu6_aq"]
    assert kinds["out_softmax"] == "Activation"  # the logits are quantized, then the softmax
    # before training, 8-bit weights: the stripped (folded) model computes what the float one does
    s = qat.strip(q)
    assert not any(isinstance(layer, L.BatchNormalization) for layer in s.layers)
    assert not qat.is_qat_model(s)
    want, got = m.predict(x, verbose=0), s.predict(x, verbose=0)
    assert np.abs(got - want).max() < 0.02
    data = convert_keras(q, [x])
    assert not {"MUL", "ADD_N", "RELU", "RELU6"} & set(summarize_tflite(data).ops)
    assert summarize_tflite(data).ops["ADD"] == 1  # the residual only: every BN went into a kernel


def test_demo_model_layers():
    """The demo's digits CNN: its three convs and Dense quantized, one quantizer per int8 tensor, Softmax kept."""
    from tinyq.quant.datasets import build_digits_cnn

    q = qat.quantize_model(build_digits_cnn(), weight_bits=4)
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert [kinds[n] for n in ("conv1", "dw2", "pw2", "logits", "probs")] == [
        "QuantConv2D", "QuantDepthwiseConv2D", "QuantConv2D", "QuantDense", "Softmax"]
    assert all(q.get_layer(n).weight_bits == 4 for n in ("conv1", "dw2", "pw2", "logits"))
    assert sorted(n for n, k in kinds.items() if k == "ActivationQuantizer") == [
        "conv1_aq", "digit_aq", "dw2_aq", "logits_aq", "pw2_aq"]
    assert q.name == "digits_cnn_qat" and qat.strip(q).name == "digits_cnn"


def test_sequential_train_save_convert(tmp_path):
    """A Sequential model: QAT with fit, the .keras reloads to the same outputs, converts and verifies."""
    from tinyq.checks.verify import verify_tflite
    from tinyq.quant.convert import convert_file

    keras.utils.set_random_seed(2)
    m = keras.Sequential([keras.Input((6, 6, 2), name="x"), L.Conv2D(4, 3, activation="relu", name="conv"),
                          L.AveragePooling2D(2), L.Flatten(), L.Dense(3, name="fc")], name="seq")
    rng = np.random.default_rng(1)
    x = rng.random((48, 6, 6, 2), dtype=np.float32)
    q = _fit(qat.quantize_model(m, weight_bits=4), x, rng.integers(0, 3, 48), lr=1e-2, epochs=2)
    ranges = qat.activation_ranges(q)
    assert set(ranges) == {"x_aq", "conv_aq", "fc_aq"}
    assert ranges["x_aq"][0] == 0.0 and 0.99 < ranges["x_aq"][1] <= 1.0  # the inputs are in [0, 1)
    q.save(tmp_path / "seq.keras")
    back = keras.models.load_model(tmp_path / "seq.keras")
    assert np.array_equal(back.predict(x, verbose=0), q.predict(x, verbose=0))
    np.save(tmp_path / "calib.npy", x)
    (tmp_path / "seq.tflite").write_bytes(convert_file(tmp_path / "seq.keras", tmp_path / "calib.npy"))
    r = verify_tflite(tmp_path / "seq.tflite", samples=20)
    assert r.bit_exact, r.summary()


def test_bad_input():
    m = _bn_model()
    with pytest.raises(BadInput, match="weight_bits=0: give a whole number of bits from 1 to 8"):
        qat.quantize_model(m, weight_bits=0)
    with pytest.raises(BadInput, match="weight_bits=9"):
        qat.quantize_model(m, weight_bits=9)
    with pytest.raises(BadInput, match="no tinyq.quant.qat layers"):
        qat.strip(m)
    with pytest.raises(BadInput, match="already holds tinyq.quant.qat layers"):
        qat.quantize_model(qat.quantize_model(m))

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(UnsupportedModel, match="subclassed"):
        qat.quantize_model(Sub())
    inp = keras.Input((4,))
    shared = L.Dense(4, name="shared")
    with pytest.raises(UnsupportedModel, match="'shared' is called more than once"):
        qat.quantize_model(keras.Model(inp, shared(shared(inp))))
    inner = keras.Sequential([keras.Input((4,)), L.Dense(2)], name="inner")
    with pytest.raises(UnsupportedModel, match="'inner' is a nested model"):
        qat.quantize_model(keras.Model(inp, inner(inp)))
