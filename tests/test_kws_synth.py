"""Keyword spotting on data made offline: espeak-ng's keywords with noise, MFCCs, a DS-CNN, `tinyq compare`.

The data set is synthesized here (tinyq.quant.kws, a small spec so it takes seconds), the DS-CNN is
trained on it, and `tinyq compare` builds its int8 and int16x8 variants for qemu-m4 and runs the
held-out utterances there. The energy column is priced with a board file written by this test
(nucleo-l4r5zi with a run current that is test data, not a datasheet figure: the shipped board files
carry only documented figures), so its arithmetic and the cycle estimate it rests on are checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.checks.cycles import estimate_build
from tinyq.quant import kws

from .conftest import ROOT, run_tinyq

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.skipif(kws.shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system)"),
]

SPEC = kws.Spec(voices=kws.VOICES[:4], speeds=(130, 170), pitches=(35, 65))
TEST_UA_PER_MHZ = 100.0  # test data for the energy arithmetic, not a datasheet figure
TEST_SUPPLY_V = 3.0


@pytest.fixture(scope="module")
def kws_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("kws")
    data = kws.make_kws(SPEC)
    paths = kws.write_kws(data, d)
    model = kws.train_ds_cnn(data, epochs=40)
    model.save(d / "kws.keras")
    np.save(d / "calib.npy", data.x_train[:100])
    return d, data, paths, kws.accuracy(model, data.x_eval, data.y_eval)


def test_the_data_set_is_balanced_split_by_utterance_and_trainable(kws_model):
    _, data, paths, acc = kws_model
    n = len(kws.CLASSES)
    assert data.x_train.shape[1:] == (49, 10, 1) and data.x_train.dtype == np.float32
    assert np.bincount(data.y_train, minlength=n).tolist() == [len(data.y_train) // n] * n
    assert np.bincount(data.y_eval, minlength=n).tolist() == [len(data.y_eval) // n] * n
    with np.load(paths["eval"]) as z:
        assert sorted(z.files) == ["x", "y"]  # what `tinyq compare --eval` reads, nothing else
        assert np.array_equal(z["x"], data.x_eval)
    meta = json.loads(paths["meta"].read_text())
    assert meta["classes"] == list(kws.CLASSES) and len(meta["mean"]) == 10
    # standardized with the training set's statistics
    assert np.allclose(data.x_train.reshape(-1, 10).mean(axis=0), 0, atol=1e-3)
    print(f"\nKWS DS-CNN (Keras, host): {100 * acc:.2f}% on {len(data.y_eval)} held-out utterances, {n} classes")
    assert acc > 0.6  # chance is 1/12


def test_same_spec_same_bytes(tmp_path):
    tiny = kws.Spec(voices=("en-us",), speeds=(150,), pitches=(40, 60), eval_every=2, train_copies=1, seed=5)
    a = kws.write_kws(kws.make_kws(tiny), tmp_path / "a")
    b = kws.write_kws(kws.make_kws(tiny), tmp_path / "b")
    for k in ("train", "eval", "meta"):
        assert a[k].read_bytes() == b[k].read_bytes(), k
    other = kws.write_kws(kws.make_kws(kws.Spec(voices=("en-us",), speeds=(150,), pitches=(40, 60), eval_every=2,
                                                train_copies=1, seed=6)), tmp_path / "c")
    assert other["train"].read_bytes() != a["train"].read_bytes()  # the seed matters


def test_mfcc_of_a_tone_and_of_silence():
    t = np.arange(kws.RATE) / kws.RATE
    tone = kws.mfcc(0.5 * np.sin(2 * np.pi * 1000 * t))
    quiet = kws.mfcc(np.zeros(kws.RATE))
    assert tone.shape == (49, 10) and np.allclose(tone, tone[0], atol=1e-6)  # stationary: every frame alike
    assert np.allclose(quiet, quiet[0]) and quiet[0, 0] < tone[0, 0] - 20  # log energy well below the tone's
    assert np.allclose(quiet[0, 1:], 0, atol=1e-9) and np.abs(tone[0, 1:]).max() > 1  # flat spectrum: only c0


def test_wav_reader_refuses_what_is_not_pcm():
    from tinyq.errors import CheckFailed

    with pytest.raises(CheckFailed, match="did not write a WAV"):
        kws.wav_samples(b"not a wav" * 10, "test")


def _energy_board(tmp_path):
    d = json.loads((ROOT / "boards" / "nucleo-l4r5zi.json").read_text())
    d["name"] = "nucleo-test-energy"
    d["energy"] = {"run_current_ua_per_mhz": TEST_UA_PER_MHZ, "supply_v": TEST_SUPPLY_V,
                   "conditions": "test data", "source": "tests/test_kws_synth.py"}
    p = tmp_path / "nucleo-test-energy.json"
    p.write_text(json.dumps(d))
    return p


def test_compare_kws_on_qemu_m4_with_energy(kws_model, tmp_path):
    d, data, paths, keras_acc = kws_model
    eb = _energy_board(tmp_path)
    keep = tmp_path / "keep"
    r = run_tinyq("compare", d / "kws.keras", "-c", d / "calib.npy", "--eval", paths["eval"], "--board", "qemu-m4",
                  "--modes", "int8,int16x8", "--keep", keep, "--energy-for", eb, "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    n = len(data.y_eval)
    assert (c["board"], c["samples"], c["task"]) == ("qemu-m4", n, "classification")
    e = c["energy"]
    assert e["board"] == "nucleo-test-energy" and e["clock_hz"] == 120_000_000 and e["supply_v"] == TEST_SUPPLY_V
    assert e["run_current_ma"] == pytest.approx(TEST_UA_PER_MHZ * 120 / 1000)
    rows = {v["variant"]: v for v in c["variants"]}
    assert list(rows) == ["int8", "int16x8"]
    print(f"\nKWS on qemu-m4 ({n} held-out utterances; Keras on the host {100 * keras_acc:.2f}%):")
    for name, v in rows.items():
        assert v["bit_exact"] and v["passed"], v
        assert v["energy_time_from"] == "cycle estimate"
        # the energy's cycles are the estimate for the nucleo's M4 at 120 MHz and 5 wait states ...
        est = estimate_build(keep / f"build-{name}", cycles_for=get_board(str(eb)))
        assert v["energy_cycles"] == est.cycles and est.cycles > v["cycles"] * 0.9  # the M4 takes >= 1 cycle an instruction, nearly
        # ... priced at its clock, run current and supply
        want = est.cycles / 120e6 * (TEST_UA_PER_MHZ * 1e-6 * 120) * TEST_SUPPLY_V * 1e6
        assert v["energy_uj"] == pytest.approx(want, rel=1e-5)
        print(f"  {name}: {v['accuracy'] * 100:.2f}% top-1, {v['cycles']:,} instructions, {v['energy_cycles']:,} estimated cycles, "
              f"{v['energy_uj']:.3g} uJ (test figures), flash {v['flash']:,} B, RAM {v['ram']:,} B")
        assert v["accuracy"] > 0.5
    assert rows["int8"]["energy_uj"] < rows["int16x8"]["energy_uj"]

