"""Keras recurrent layers through `tinyq convert`: LSTM (also stacked), GRU (reset_after both ways, also
backwards), SimpleRNN (last output and sequences), Bidirectional(LSTM) and Bidirectional(GRU) are traced
unrolled over their time steps (no WHILE loop), converted to int8 and int16x8 and checked bit-exact on the
host (one on qemu-m4), close to the Keras float model; the report names the layers; TensorFlow's converter
runs in a separate process, so its crash (a real one on a WHILE loop, and the test hook's SIGSEGV) is one line;
a float SPLIT left by the quantizer is moved back to int8 (quant.convert.integer_splits)."""

import json
import os

import numpy as np
import pytest

from tinyq.errors import UnsupportedModel

from .helpers import (
    Net,
    assert_bit_exact,
    op_kinds,
    options,
    ref_interpreter,
    tinyq_main,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

STEPS, FEATURES = 6, 4


def _layers(L, name):
    """The recurrent layers of case `name` (keras.layers as `L`), all built with unroll=False (the default)."""
    return {
        "lstm": [L.LSTM(8)],
        "lstm_stacked": [L.LSTM(8, return_sequences=True), L.LSTM(6)],
        "gru": [L.GRU(8)],  # reset_after=True, Keras' default
        "gru_v1_backwards": [L.GRU(8, reset_after=False, go_backwards=True)],
        "rnn": [L.SimpleRNN(8)],
        "rnn_sequences": [L.SimpleRNN(8, return_sequences=True)],
        "bilstm": [L.Bidirectional(L.LSTM(6))],
        "bigru": [L.Bidirectional(L.GRU(6, return_sequences=True))],
    }[name]


CASES = ("lstm", "lstm_stacked", "gru", "gru_v1_backwards", "rnn", "rnn_sequences", "bilstm", "bigru")
INT16_CASES = ("lstm_stacked", "gru", "rnn_sequences", "bigru")


def _model(name, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((STEPS, FEATURES), name="seq")
    x = inp
    for layer in _layers(keras.layers, name):
        x = layer(x)
    return keras.Model(inp, keras.layers.Dense(3)(x))  # Dense per step on a sequence output


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every case converted once, on demand: (keras model, calibration, path) by (case, mode)."""
    from tinyq.quant.convert import convert_keras

    d = tmp_path_factory.mktemp("recurrent")
    calib = np.random.default_rng(1).normal(size=(24, STEPS, FEATURES)).astype(np.float32)
    cache = {}

    def get(name, mode="int8"):
        if (name, mode) not in cache:
            model = _model(name)
            path = d / f"{name}_{mode}.tflite"
            path.write_bytes(convert_keras(model, [calib], mode=mode))
            cache[name, mode] = (model, calib, path)
        return cache[name, mode]

    return get


@pytest.mark.parametrize("name", CASES)
def test_int8_unrolled_bit_exact_close_to_keras(built, name):
    from tinyq.quant.convert import run_int8

    model, calib, path = built(name)
    kinds = set(op_kinds(path))
    assert "WHILE" not in kinds and {"UNPACK", "FULLY_CONNECTED"} <= kinds, kinds
    assert all(layer.unroll is False for layer in _rnn(model)), "the model's unroll flags are restored"
    assert_bit_exact(path, samples=8)
    # Same weights, same math: the int8 model tracks the float Keras model within int8 rounding.
    yf = np.asarray(model(calib[:12]), dtype=np.float64).reshape(12, -1)
    yq = run_int8(path.read_bytes(), [calib[:12]])
    err = float(np.sqrt(np.mean((yq - yf) ** 2)))
    assert err < 0.05 * float(np.abs(yf).max()), (err, float(np.abs(yf).max()))


@pytest.mark.parametrize("name", INT16_CASES)
def test_int16x8_bit_exact(built, name):
    _, _, path = built(name, "int16x8")
    assert "WHILE" not in op_kinds(path)
    assert_bit_exact(path, samples=8)


def test_qemu_m4(built):
    """Bidirectional(GRU) with sequences (GRU cells, the backward sequence flipped by REVERSE_V2) on a Cortex-M4 under QEMU."""
    from tinyq.checks.verify import verify_on_board

    _, _, path = built("bigru")
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def _rnn(model):
    import keras

    return [la for la in model._flatten_layers(include_self=False, recursive=True) if isinstance(la, keras.layers.RNN)]


def test_cli_report_names_unrolled_layers(tmp_path, capsys):
    """`tinyq convert` says which path it took: the table row and --json's "recurrent"."""
    import keras

    inp = keras.Input((STEPS, FEATURES))
    x = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True), name="both_ways")(inp)
    x = keras.layers.SimpleRNN(3, unroll=True, name="last")(x)
    keras.Model(inp, x).save(tmp_path / "m.keras")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).normal(size=(8, STEPS, FEATURES)).astype(np.float32))
    rc = tinyq_main("convert", tmp_path / "m.keras", "-c", tmp_path / "calib.npy", "-o", tmp_path / "m.tflite", "--json")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert json.loads(cap.out)["recurrent"] == [
        {"layer": "both_ways", "kind": "Bidirectional(GRU)", "steps": STEPS, "path": "unrolled by tinyq"},
        {"layer": "last", "kind": "SimpleRNN", "steps": STEPS, "path": "unrolled as saved"},
    ]
    rc = tinyq_main("convert", tmp_path / "m.keras", "-c", tmp_path / "calib.npy", "-o", tmp_path / "m2.tflite")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    row = " ".join(cap.out.split())
    assert f"both_ways (Bidirectional(GRU), {STEPS} steps), last (SimpleRNN, {STEPS} steps): unrolled" in row, cap.out


def test_unknown_sequence_length_is_refused():
    import keras

    from tinyq.quant.convert import convert_keras

    inp = keras.Input((None, FEATURES))
    model = keras.Model(inp, keras.layers.LSTM(4, name="lstm_x")(inp))
    with pytest.raises(UnsupportedModel, match=r"sequence of unknown length, and recurrent layer lstm_x .*fixed sequence length"):
        convert_keras(model, [np.zeros((2, STEPS, FEATURES), np.float32)])


def test_converter_crash_on_a_while_loop(monkeypatch):
    """Without the unrolling, TensorFlow's calibrator dies on the LSTM's WHILE loop (SIGSEGV in TF 2.21):
    the child's death is one UnsupportedModel naming the signal and the loop's layer."""
    import contextlib

    from tinyq.quant import convert as cv

    monkeypatch.setattr(cv, "unrolled", lambda model: contextlib.nullcontext())
    model = _model("lstm")
    with pytest.raises(UnsupportedModel) as e:
        cv.convert_keras(model, [np.random.default_rng(0).normal(size=(4, STEPS, FEATURES)).astype(np.float32)])
    text = str(e.value)
    assert "TensorFlow's converter crashed (signal" in text and "WHILE loop in" in text and "lstm" in text, text
    assert "unroll=True" in text, text


def test_converter_crash_hook_is_one_line(tmp_path, capsys, monkeypatch):
    """The test hook (TINYQ_TEST_CONVERTER_SIGNAL) kills the child with SIGSEGV: exit 2, one line, nothing written."""
    import keras

    from tinyq.quant.converter_child import TEST_SIGNAL_ENV

    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(tmp_path / "d.keras")
    np.save(tmp_path / "c.npy", np.ones((2, 4), np.float32))
    monkeypatch.setenv(TEST_SIGNAL_ENV, "SIGSEGV")
    capsys.readouterr()
    rc = tinyq_main("convert", tmp_path / "d.keras", "-c", tmp_path / "c.npy", "-o", tmp_path / "d.tflite")
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "TensorFlow's converter crashed (signal 11, segmentation fault) while converting it" in lines[0], lines[0]
    assert not (tmp_path / "d.tflite").exists()
    monkeypatch.delenv(TEST_SIGNAL_ENV)  # the next conversion starts a new converter process
    assert tinyq_main("convert", tmp_path / "d.keras", "-c", tmp_path / "c.npy", "-o", tmp_path / "d.tflite") == 0


def _float_split_net():
    """int8 x -> DEQUANTIZE -> float SPLIT in 3 -> QUANTIZE of parts 0 and 2 (part 1 unused, as the zero
    initial state leaves an unrolled LSTM's forget gate), as TensorFlow's quantizer sometimes leaves it."""
    net = Net("int8")
    x = net.input((1, 12), q=(0.04, 5))
    f = net.tensor((1, 12), "float32", q=None)
    net.add_op("DEQUANTIZE", [x], [f])
    parts = [net.tensor((1, 4), "float32", q=None) for _ in range(3)]
    net.add_op("SPLIT", [net.const(1), f], parts, options("SplitOptionsT", numSplits=3))
    for p, q in ((parts[0], (0.013, -7)), (parts[2], (0.09, 3))):
        y = net.tensor((1, 4), "int8", q=q)
        net.add_op("QUANTIZE", [p], [y])
        net.outputs.append(y)
    return net.bytes()


def test_float_split_moved_to_int8(tmp_path):
    from tinyq.compiler.importer import schema, type_names
    from tinyq.quant.convert import check_full_integer, integer_splits

    data = _float_split_net()
    fixed = integer_splits(data)
    model = schema.ModelT.InitFromPackedBuf(fixed, 0)
    sg = model.subgraphs[0]
    used = {int(i) for o in sg.operators for i in [*o.inputs, *o.outputs]}
    assert len(sg.operators) == 3 and all(type_names()[sg.tensors[i].type] != "float32" for i in used if i >= 0)
    check_full_integer(fixed)
    assert integer_splits(fixed) is fixed  # nothing left to move
    # The same values up to one requantization rounding step, over every int8 input value.
    a, b = ref_interpreter(data), ref_interpreter(fixed)
    for start in range(-128, 128, 12):
        x = np.clip(np.arange(start, start + 12), -128, 127).astype(np.int8).reshape(1, 12)
        outs = []
        for it in (a, b):
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
            outs.append([it.get_tensor(d["index"]).astype(int) for d in it.get_output_details()])
        for u, v in zip(*outs):
            assert np.abs(u - v).max() <= 1
    path = tmp_path / "split.tflite"
    path.write_bytes(fixed)
    assert_bit_exact(path, samples=6, kernels=("ref", "fast"))
