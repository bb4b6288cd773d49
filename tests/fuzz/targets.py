"""The fuzz targets: each runs one input through the code tinyq reads that file format with, and enforces
the contract every input must meet:

    a result, or a BadInput / UnsupportedModel (exit 2) whose message is one line.

Anything else (another exception, a multi-line message, an error of another class) raises `Finding`
(or propagates), which the fuzzer saves as a crashing input. Hangs and memory are bounded by the runner
(tests.fuzz.run: libFuzzer's -timeout and -rss_limit_mb, and RLIMIT_AS).

The .tflite target also checks, for a deterministic sample of the inputs that compile (`verify_every`),
that the generated C is bit-exact with TFLite's reference interpreter on the host, in a child process
(tests.fuzz.verify_one) so that a crash of the reference or of the generated C cannot take the fuzzer down
unnoticed: a mismatch or a crash of the generated C is a Finding; a model the reference interpreter itself
refuses or crashes on is counted (`stats`), not failed, since tinyq cannot make TFLite run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, TinyqError

REPO = Path(__file__).resolve().parents[2]
VERIFY_TIMEOUT = 120  # seconds for one sampled bit-exact check (gcc + the reference on a few inputs)


class Finding(AssertionError):
    """An input broke the contract: the fuzzer saves it (build/fuzz/<target>/crash-*)."""


# Counters each target keeps (the runner writes them to build/fuzz/<target>/stats.json).
stats: dict[str, int] = {"inputs": 0, "accepted": 0, "rejected": 0, "verified": 0, "reference_refused": 0,
                         "reference_crashed": 0}
_WORK = Path(tempfile.mkdtemp(prefix="tinyq-fuzz-"))


def _expected(e: BaseException) -> None:
    """Check a raised error is the contract's: BadInput (UnsupportedModel included) of one line."""
    if not isinstance(e, BadInput):
        raise Finding(f"{type(e).__name__} (exit {getattr(e, 'exit_code', 1)}) instead of BadInput: {e}") from e
    msg = str(e)
    if not msg.strip() or "\n" in msg:
        raise Finding(f"BadInput message is not one line: {msg!r}") from e
    stats["rejected"] += 1


def _file(data: bytes, name: str) -> Path:
    p = _WORK / name
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------- .tflite: import and compile


def tflite(data: bytes, verify_every: int = 0) -> None:
    """`tinyq generate`'s path: import, compile, render and write the C library to a temporary directory."""
    from tinyq.compiler.codegen import write
    from tinyq.compiler.pipeline import generate_library

    stats["inputs"] += 1
    path = _file(data, "model.tflite")
    try:
        gen = generate_library(path, name="model")
        write(gen, _WORK / "out")
    except TinyqError as e:
        _expected(e)
        return
    stats["accepted"] += 1
    if verify_every and zlib.crc32(data) % verify_every == 0:
        verify(path)


def verify(path: Path) -> None:
    """Bit-exact on the host, in a child (tests.fuzz.verify_one): a Finding on a mismatch or on a crash
    that is not the reference interpreter's. (The child's time is not this process's CPU time, which
    the runner holds to the hang limit.)"""
    stats["verified"] += 1
    _verify(path)


def _verify(path: Path) -> None:
    r = _child(["--verify", str(path)])
    if r is None:
        stats["verified"] -= 1
        return
    if r.returncode == 0:
        return
    if r.returncode == 3:  # the reference interpreter refuses the model (tinyq compiled it): kept to read
        stats["reference_refused"] += 1
        _keep(path, "reference-refused", r.stdout)
        return
    if r.returncode < 0:  # killed by a signal: the reference's or the generated C's?
        alone = _child(["--reference", str(path)])
        if alone is not None and alone.returncode < 0:
            stats["reference_crashed"] += 1
            _keep(path, "reference-crashed", r.stderr[-400:])
            return
        raise Finding(f"the generated C crashed (signal {-r.returncode}) on a model tinyq compiled: {r.stderr[-400:]}")
    raise Finding(f"not bit-exact or verify failed (exit {r.returncode}): {(r.stdout + r.stderr)[-600:]}")


KEEP_DIR: list[Path] = []  # set by the runner: where models the reference refused are kept (at most KEEP each)
KEEP = 50


def _keep(path: Path, what: str, why: str) -> None:
    if not KEEP_DIR:
        return
    d = KEEP_DIR[0] / what
    d.mkdir(parents=True, exist_ok=True)
    if len(list(d.glob("*.tflite"))) < KEEP:
        data = path.read_bytes()
        name = f"{zlib.crc32(data):08x}"
        (d / f"{name}.tflite").write_bytes(data)
        (d / f"{name}.txt").write_text(why.strip() + "\n")


def _child(args: list[str]):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        return subprocess.run([sys.executable, "-m", "tests.fuzz.verify_one", *args], capture_output=True, text=True,
                              timeout=VERIFY_TIMEOUT, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return None  # a slow reference on a huge mutated model: not a finding of tinyq's


# --------------------------------------------------------------------------- .npy / .npz: calibration, inputs, evaluation


def _npy_model():
    """A small two-input graph (int8, quantized) the inputs loader checks arrays against."""
    from tinyq.ir import Graph, Quant, Tensor

    t0 = Tensor(index=0, name="a", shape=(1, 4, 4, 3), dtype="int8", quant=Quant(scale=(0.05,), zero_point=(-3,)))
    t1 = Tensor(index=1, name="b", shape=(1, 8), dtype="int16", quant=None)
    return Graph(tensors=[t0, t1], ops=[], inputs=[0, 1], outputs=[0], name="model")


def arrays(data: bytes) -> None:
    """What `convert` (calibration, --eval) and `verify --inputs` do with a .npy/.npz, before any model
    loads: read_arrays, the early checks, and the inputs loader against a small graph."""
    import warnings

    from tinyq.checks.inputs import load_inputs
    from tinyq.fileio import read_arrays
    from tinyq.quant.convert import check_arrays_early

    stats["inputs"] += 1
    path = _file(data, "data.npz" if data[:2] == b"PK" else "data.npy")
    try:
        with warnings.catch_warnings():  # numpy's "invalid value encountered in cast": values silently wrong
            warnings.simplefilter("error", RuntimeWarning)
            got = read_arrays(path, "calibration")
            check_arrays_early(got, path, "calibration")
            load_inputs(path, _npy_model())
    except TinyqError as e:
        _expected(e)
        return
    stats["accepted"] += 1


# --------------------------------------------------------------------------- board files


def board(data: bytes) -> None:
    """A board file given to --board by path: load_board_file (the schema, then the fields)."""
    from tinyq.boards import load_board_file

    stats["inputs"] += 1
    path = _file(data, "fuzz-board.json")
    try:
        b = load_board_file(path)
        b.to_json()
        b.cycles_ratio()
        b.consoles
    except TinyqError as e:
        _expected(e)
        return
    stats["accepted"] += 1


# --------------------------------------------------------------------------- build.json


def manifest(data: bytes) -> None:
    """A build directory's build.json as profile, emulate and flash read it before they talk to a device:
    load, the board it names, the I/O sizes, tq-info's identity, packing an input and unpacking an output."""
    from tinyq.build import manifest as mf

    stats["inputs"] += 1
    d = _WORK / "build"
    d.mkdir(exist_ok=True)
    (d / mf.FILE).write_bytes(data)
    try:
        m = mf.load(d)
        mf.resolve_board(m, None)
        m.identity()
        x = [np.zeros(s.shape, dtype=s.numpy_dtype) for s in m.inputs]
        m.pack_inputs(x)
        m.unpack_outputs(bytes(m.output_bytes))
    except TinyqError as e:
        _expected(e)
        return
    stats["accepted"] += 1


# --------------------------------------------------------------------------- Keras files


def keras(data: bytes) -> None:
    """A .keras / .h5 file handed to `tinyq convert` (load_model: TensorFlow in this process)."""
    from tinyq.quant.convert import load_model

    stats["inputs"] += 1
    path = _file(data, "model.h5" if data[:8] == b"\x89HDF\r\n\x1a\n" else "model.keras")
    try:
        load_model(path)
    except TinyqError as e:
        _expected(e)
        return
    stats["accepted"] += 1


TARGETS = {"tflite": tflite, "arrays": arrays, "board": board, "manifest": manifest, "keras": keras}


def write_stats(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"target": target, **stats}, indent=1) + "\n")
