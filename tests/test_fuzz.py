"""The short, fixed-seed fuzz campaigns (`make fuzz` runs the long ones; RELIABILITY.md) and the inputs the
fuzzer found, replayed.

Each campaign runs one target of tests.fuzz.targets under atheris for a fixed number of inputs from a fixed
libFuzzer seed: every input must end in a result or a one-line BadInput, within 10 s and 2 GB. A finding
fails the test with the reproducer's path (replay it: `python -m tests.fuzz.run TARGET PATH`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyq.errors import BadInput

ROOT = Path(__file__).resolve().parent.parent
try:
    import atheris  # noqa: F401  (the campaigns run it in a child; fail here, never skip, when it is missing)
except ImportError:  # pragma: no cover
    raise ImportError("atheris is not installed: run `make venv` (pip install -e '.[dev]' installs the fuzz extra)") from None

# target: (libFuzzer runs, extra arguments). About 90 s of CPU in all.
CAMPAIGNS = {
    "tflite": (500, ["--small-seeds", "--verify-every", "40"]),
    "arrays": (1500, []),
    "board": (800, []),
    "manifest": (1500, []),
}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("target", list(CAMPAIGNS))
def test_fixed_seed_campaign(fuzz_dir, target):
    runs, extra = CAMPAIGNS[target]
    out = fuzz_dir / target
    cmd = [sys.executable, "-m", "tests.fuzz.run", target, "--out", str(out), *extra, f"-runs={runs}", "-seed=1"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    found = sorted(p for p in out.glob("*") if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    tail = "\n".join(r.stderr.splitlines()[-40:])
    assert not found, f"fuzz target {target} found {found[0]} (replay: python -m tests.fuzz.run {target} {found[0]}):\n{tail}"
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{tail}"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] >= runs, stats  # every run reached the target (the seeds are run too)
    assert stats["accepted"] > 0 and stats["rejected"] > 0, stats  # both sides of the contract were exercised
    if target == "tflite":
        assert stats["verified"] > 0, stats


# --------------------------------------------------------------------------- findings, replayed


def _model_with_options(tmp_path, kind: str, cls: str, **fields):
    """A one-operator int8 model of `kind` whose builtin options are a `cls` (another op's table)."""
    from tinyq.checks.synth import one_op_model, options, tensor_spec
    from tinyq.compiler.importer import schema

    x = tensor_spec((1, 4, 4, 3), "int8", (0.05, -3), name="x")
    ins = [x, tensor_spec((1, 4, 4, 3), "int8", (0.04, 5), name="y")]
    if kind == "CONV_2D":
        ins = [x, tensor_spec((2, 1, 1, 3), "int8", (0.02, 0), data=np.ones((2, 1, 1, 3), np.int8)),
               tensor_spec((2,), "int32", (0.001, 0), data=np.zeros(2, np.int32))]
    out = tensor_spec((1, 4, 4, 2 if kind == "CONV_2D" else 3), "int8", (0.1, 1), name="z")
    p = tmp_path / f"{kind}_{cls}.tflite"
    p.write_bytes(one_op_model(kind, ins, [out], options(cls, **fields), getattr(schema.BuiltinOptions, cls[:-1])))
    return p


def test_options_of_another_type_read_as_none_like_tflite(tmp_path):
    """Found by the tflite target: a CONV_2D holding AddOptions (an op with another op's options table)
    ended in AttributeError. TFLite reads such options as absent (its defaults), and so does tinyq now: an
    ADD holding Conv2DOptions with a fused RELU compiles without the RELU (tinyq used to apply it) and is
    bit-exact with the reference interpreter; a CONV_2D, which needs its own table, is one line."""
    from tests.helpers import assert_bit_exact
    from tinyq.compiler.pipeline import compile_tflite

    assert_bit_exact(_model_with_options(tmp_path, "ADD", "Conv2DOptionsT", fusedActivationFunction=1), samples=4)
    with pytest.raises(BadInput, match="has no builtin options") as e:
        compile_tflite(_model_with_options(tmp_path, "CONV_2D", "AddOptionsT"))
    assert "\n" not in str(e.value)


def test_a_board_file_that_is_not_utf8_is_one_line(tmp_path):
    """Found by the board target: a byte that is not UTF-8 ended in UnicodeDecodeError."""
    from tinyq.boards import load_board_file

    p = tmp_path / "b.json"
    p.write_bytes(b'{"name": "b\xd9"}')
    with pytest.raises(BadInput, match="not UTF-8"):
        load_board_file(p)


def _manifest_doc(tmp_path) -> dict:
    from tests.fuzz.seeds import manifest

    d = tmp_path / "seeds"
    d.mkdir()
    manifest(d, small=True)
    return json.loads((d / "build0.json").read_text())


@pytest.fixture(scope="module")
def manifest_doc(tmp_path_factory):
    return _manifest_doc(tmp_path_factory.mktemp("manifest"))


def _io(doc, **change):
    doc = json.loads(json.dumps(doc))
    doc["io"][0].update(change)
    return doc


@pytest.mark.parametrize("change, message", [
    ({"dtype": "int6"}, "dtype 'int6'"),  # KeyError in IoSlot.numpy_dtype
    ({"shape": [1, 2 ** 70]}, "is not"),  # OverflowError
    ({"offset": 2 ** 31}, "not at 0 as the protocol packs it"),  # a 2 GB input buffer: out of memory
    ({"name": 7}, "io/0/name is 7, not str"),
])
def test_a_corrupt_build_json_is_one_line(tmp_path, manifest_doc, change, message):
    """Found by the manifest target: fields of the wrong type or an impossible I/O layout reached
    profile's readers (KeyError, OverflowError, a 2 GB allocation)."""
    from tinyq.build import manifest as mf

    (tmp_path / mf.FILE).write_text(json.dumps(_io(manifest_doc, **change)))
    with pytest.raises(BadInput, match="is not a build.json this tinyq reads") as e:
        mf.load(tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_build_json_whose_io_exceeds_the_boards_ram_is_one_line(tmp_path, manifest_doc):
    from tinyq.build import manifest as mf

    doc = _io(manifest_doc, shape=[1, 2 ** 28], bytes=2 ** 28)
    for s in doc["io"][1:]:
        s["offset"] = s["offset"] + 2 ** 28 - manifest_doc["io"][0]["bytes"] if s["kind"] == "input" else s["offset"]
    (tmp_path / mf.FILE).write_text(json.dumps(doc))
    m = mf.load(tmp_path)
    with pytest.raises(BadInput, match="exceed qemu-m4's RAM"):
        mf.resolve_board(m, None)


def test_names_with_control_characters_stay_one_line(tmp_path):
    """Found by the tflite target: a tensor name holding a newline (and NULs) made the error naming it
    several lines; a custom code that is not UTF-8 would have been a UnicodeDecodeError."""
    from tinyq.checks.synth import one_op_model, options, tensor_spec
    from tinyq.compiler.importer import schema
    from tinyq.compiler.pipeline import compile_tflite

    x = tensor_spec((1, 4, 4, 8), "int16", (0.002, 103), name="x\ny\x00z")  # int16 needs zero point 0
    p = tmp_path / "names.tflite"
    p.write_bytes(one_op_model("ADD", [x, tensor_spec((1, 4, 4, 8), "int16", (0.002, 0))],
                               [tensor_spec((1, 4, 4, 8), "int16", (0.004, 0))],
                               options("AddOptionsT"), schema.BuiltinOptions.AddOptions))
    with pytest.raises(BadInput, match=r"x\\ny\\x00z") as e:
        compile_tflite(p)
    assert "\n" not in str(e.value)


def test_a_denormal_output_scale_under_relu6_is_one_line(tmp_path):
    """Found by the tflite target: an output scale of 1e-45 made 6.0 / scale infinite, and the RELU6 bound
    an OverflowError (TFLite's cast of it to int32 is undefined behaviour)."""
    from tinyq.checks.synth import one_op_model, options, tensor_spec
    from tinyq.compiler.importer import schema
    from tinyq.compiler.pipeline import compile_tflite

    ins = [tensor_spec((1, 4, 4, 3), "int8", (0.05, -3), name="x"),
           tensor_spec((2, 1, 1, 3), "int8", (0.02, 0), data=np.ones((2, 1, 1, 3), np.int8)),
           tensor_spec((2,), "int32", (0.001, 0), data=np.zeros(2, np.int32))]
    p = tmp_path / "denormal.tflite"
    p.write_bytes(one_op_model("CONV_2D", ins, [tensor_spec((1, 4, 4, 2), "int8", (1e-45, 0), name="y")],
                               options("Conv2DOptionsT", strideH=1, strideW=1, fusedActivationFunction=3),
                               schema.BuiltinOptions.Conv2DOptions))
    with pytest.raises(BadInput) as e:
        compile_tflite(p)
    assert "\n" not in str(e.value) and "'y'" in str(e.value)


def test_an_operator_without_outputs_is_one_line(tmp_path, kws):
    """Found by the tflite target: an operator with an empty output list reached the lowering lookup
    (IndexError in ops.base.activation_dtype)."""
    from tinyq.checks.synth import pack_model
    from tinyq.compiler.importer import import_model, read_model

    model, _ = read_model(kws)
    model.subgraphs[0].operators[2].outputs = np.array([], dtype=np.int32)
    p = tmp_path / "no_outputs.tflite"
    p.write_bytes(pack_model(model))
    with pytest.raises(BadInput, match=r"operator 2 \(\w+\) writes no tensor") as e:
        import_model(p)
    assert "\n" not in str(e.value)


def test_reading_a_tensor_nothing_writes_is_one_line(tmp_path, kws):
    """Found by the tflite target (a mutated MobileNet v2): an operator reading an activation no operator
    writes, not a model input nor a constant, reached codegen without a place in the arena (TypeError)."""
    from tinyq.checks.synth import pack_model
    from tinyq.compiler.importer import import_model, read_model

    model, _ = read_model(kws)
    sg = model.subgraphs[0]
    orphan = len(sg.tensors)
    sg.tensors.append(sg.tensors[int(sg.operators[1].outputs[0])])  # an activation-like tensor nobody writes
    sg.operators[2].inputs = np.array([orphan, *sg.operators[2].inputs[1:]], dtype=np.int32)
    p = tmp_path / "orphan.tflite"
    p.write_bytes(pack_model(model))
    with pytest.raises(BadInput, match=rf"operator 2 \(\w+\) reads tensor {orphan} .*which no operator writes") as e:
        import_model(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("arrays, message", [
    ({"a": np.full((1, 4, 4, 3), np.nan, np.float32), "b": np.zeros((1, 8))}, "NaN/inf values"),
    ({"a": np.zeros((1, 4, 4, 3), np.float32), "b": np.full((1, 8), np.inf)}, "NaN/inf values"),  # was a silent cast
    ({"a": np.zeros((1, 4, 4, 3), np.float32), "b": np.full((1, 8), 40000)}, "values in [40000, 40000]"),  # wrapped
    ({"a": np.full((1, 4, 4, 3), 300, np.int32), "b": np.zeros((1, 8))}, "int8 [-128, 127]"),  # wrapped
])
def test_inputs_that_would_be_cast_silently_are_one_line(tmp_path, arrays, message):
    """Found by the arrays target: `verify --inputs` cast NaN/inf and out-of-range values to the model's
    integer type without a word (numpy: "invalid value encountered in cast")."""
    from tests.fuzz.targets import _npy_model
    from tinyq.checks.inputs import load_inputs

    p = tmp_path / "x.npz"
    np.savez(p, **arrays)
    with pytest.raises(BadInput, match=re.escape(message)) as e:
        load_inputs(p, _npy_model())
    assert "\n" not in str(e.value)


def test_an_npz_member_that_is_not_npy_is_one_line(tmp_path):
    """Found by the arrays target: numpy hands an .npz member without .npy over as raw bytes, which
    reached the checks (AttributeError: 'bytes' object has no attribute 'dtype')."""
    import zipfile

    from tinyq.fileio import read_arrays

    p = tmp_path / "odd.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("y", b"not an array")
    with pytest.raises(BadInput, match="member 'y' is not a .npy array"):
        read_arrays(p, "calibration")


def test_a_buffer_index_out_of_range_is_one_line(tmp_path, kws):
    """Found by the tflite target's bit-exact sampling: a tensor naming a buffer past the end compiled (as a
    tensor without data) while TFLite's interpreter refuses the file ("specifies out of range buffer")."""
    from tinyq.checks.synth import pack_model
    from tinyq.compiler.importer import import_model, read_model

    model, _ = read_model(kws)
    model.subgraphs[0].tensors[3].buffer = len(model.buffers) + 2
    p = tmp_path / "buffer.tflite"
    p.write_bytes(pack_model(model))
    with pytest.raises(BadInput, match=rf"tensor 3 .* names buffer {len(model.buffers) + 2} of {len(model.buffers)}") as e:
        import_model(p)
    assert "\n" not in str(e.value)


def test_an_h5_file_hdf5_hangs_on_is_one_line(tmp_path, monkeypatch):
    """Found by the keras target: on a damaged .h5 (a mutation of a saved model) HDF5 never returned
    from reading an attribute, so `tinyq convert` hung. The attributes and datasets Keras reads are now
    read first in a child with a timeout. (The reproducer is a mutation of a TensorFlow-saved file, which
    is not byte-reproducible: a probe that does not return stands in for HDF5 here.)"""
    from tinyq.quant import convert

    p = tmp_path / "m.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setattr(convert, "_H5_PROBE", "import time; time.sleep(30)")
    monkeypatch.setattr(convert, "H5_TIMEOUT", 1)
    with pytest.raises(BadInput, match="HDF5 did not finish reading it in 1 s"):
        convert._check_h5(p)


def test_a_zero_point_outside_its_type_is_one_line(tmp_path, kws):
    """Found by the tflite target's bit-exact sampling: an int8 output with zero point 128 compiled, and the
    zero point wrapped to -128 where the kernel stores it, so the outputs differed from TFLite's (which
    computes with 128). TFLite's quantization spec keeps int8 zero points in [-128, 127]."""
    from tinyq.checks.synth import pack_model
    from tinyq.compiler.importer import import_model, read_model

    model, _ = read_model(kws)
    t = int(model.subgraphs[0].operators[1].outputs[0])
    model.subgraphs[0].tensors[t].quantization.zeroPoint = np.array([128], dtype=np.int64)
    p = tmp_path / "zp.tflite"
    p.write_bytes(pack_model(model))
    with pytest.raises(BadInput, match=rf"tensor {t} .* has zero point 128, outside int8's range \[-128, 127\]") as e:
        import_model(p)
    assert "\n" not in str(e.value)


def test_a_string_tensor_is_one_line(tmp_path):
    """Found by the tflite target: a tensor whose type became STRING reached the memory planner
    (KeyError: 'string' in ir.Tensor.nbytes); every tensor an operator uses needs a type tinyq knows."""
    from tinyq.checks.synth import one_op_model, tensor_spec
    from tinyq.compiler.importer import import_model

    p = tmp_path / "string.tflite"
    p.write_bytes(one_op_model("RELU", [tensor_spec((1, 4), "string", name="x")], [tensor_spec((1, 4), "int8", (0.05, 0))]))
    with pytest.raises(BadInput, match="tensor 0 'x' has type STRING, which tinyq does not support"):
        import_model(p)
