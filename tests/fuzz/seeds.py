"""The seed corpora, written reproducibly (nothing binary is committed): `python -m tests.fuzz.seeds TARGET DIR`.

- tflite: every shared model (../shared/models beside the checkout, or TINYQ_SHARED_MODELS), build/sweep_models if present,
  each quick sweep row as a one-layer model (tinyq.checks.synth: conv, depthwise, fully connected, pooling,
  add; int8 and int16) and a few one-operator models of other families written with the same writer;
- arrays: .npy and .npz files as `convert` and `verify --inputs` take them (float, int8, x/y, per input);
- board: every board file (renamed to the file the target writes);
- manifest: the build.json of a real `tinyq build` (qemu-m4, and an Arduino export) of a small model;
- keras: two small Keras models saved as .keras and .h5 (TensorFlow: only for the keras target).

`small=True` (the in-suite run) keeps the tflite seeds small: the one-layer models and the KWS model.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TINYQ_SHARED_MODELS", REPO.parent / "shared" / "models"))


def _write(out: Path, name: str, data: bytes) -> None:
    (out / name).write_bytes(data)


def tflite(out: Path, small: bool = False) -> None:
    from tinyq.checks.sweep import sweep_rows
    from tinyq.checks.synth import one_op_model, rows_model, tensor_spec

    models = sorted(SHARED.glob("*.tflite"))
    if small:
        models = [p for p in models if p.stat().st_size < 60_000]
    else:
        models += sorted((REPO / "build" / "sweep_models").glob("*.tflite"))
    for p in models:
        _write(out, p.name, p.read_bytes())
    rows = sweep_rows(quick=True)
    for r in rows:
        _write(out, f"row_{r['id']}.tflite", rows_model([r], seed=1))
    int8 = [r for r in rows if r["dtype"] == "int8"][:4]
    _write(out, "rows_int8.tflite", rows_model(int8, seed=2))
    q = (0.05, -3)
    x = tensor_spec((1, 4, 4, 8), "int8", q, name="x")
    y = tensor_spec((1, 4, 4, 8), "int8", q, name="y")
    for kind in ("LOGISTIC", "TANH", "RELU", "QUANTIZE"):
        out_q = (1 / 256, -128) if kind == "LOGISTIC" else (1 / 128, 0) if kind == "TANH" else q
        _write(out, f"op_{kind.lower()}.tflite", one_op_model(kind, [x], [tensor_spec((1, 4, 4, 8), "int8", out_q)]))
    _write(out, "op_reshape.tflite", one_op_model("RESHAPE", [x, tensor_spec((2,), "int32", data=np.array([1, 128], np.int32))],
                                                  [tensor_spec((1, 128), "int8", q)]))
    _write(out, "op_mul.tflite", one_op_model("MUL", [x, y], [tensor_spec((1, 4, 4, 8), "int8", (0.1, 2))]))
    _write(out, "op_softmax.tflite", one_op_model("SOFTMAX", [tensor_spec((1, 10), "int8", q)],
                                                  [tensor_spec((1, 10), "int8", (1 / 256, -128))]))


def arrays(out: Path, small: bool = False) -> None:
    rng = np.random.default_rng(0)

    def npy(a) -> bytes:
        b = io.BytesIO()
        np.save(b, a)
        return b.getvalue()

    def npz(**kw) -> bytes:
        b = io.BytesIO()
        np.savez(b, **kw)
        return b.getvalue()

    a = rng.normal(size=(3, 4, 4, 3)).astype(np.float32)
    b = rng.normal(size=(3, 8)).astype(np.float32)
    _write(out, "calib.npy", npy(a))
    _write(out, "int8.npy", npy(rng.integers(-128, 128, (2, 1, 4, 4, 3)).astype(np.int8)))
    _write(out, "two.npz", npz(a=a, b=np.round(b * 100)))
    _write(out, "eval.npz", npz(x=a, y=np.arange(3)))
    _write(out, "compressed.npz", (lambda buf: (np.savez_compressed(buf, a=a, b=b), buf.getvalue())[1])(io.BytesIO()))


def board(out: Path, small: bool = False) -> None:
    from tinyq.boards import board_files

    for p in board_files():
        d = json.loads(p.read_text())
        d["name"] = "fuzz-board"  # the file the target writes
        _write(out, p.name, json.dumps(d, indent=1).encode())


def manifest(out: Path, small: bool = False) -> None:
    from tinyq.build.manifest import FILE

    model = _small_model()
    with tempfile.TemporaryDirectory(prefix="tinyq-fuzz-seeds-") as tmp:
        from tinyq.cli.root import main

        for k, args in enumerate([["build", model, "--board", "qemu-m4", "-o", f"{tmp}/b0"],
                                  ["export", model, "--arduino", "-o", f"{tmp}/b1"]]):
            if main([str(a) for a in args]) == 0 and (Path(tmp) / f"b{k}" / FILE).exists():
                _write(out, f"build{k}.json", (Path(tmp) / f"b{k}" / FILE).read_bytes())
    if not any(out.iterdir()):
        raise SystemExit("no build.json seed could be made: check `tinyq build` works")


def _small_model() -> Path:
    from tinyq.checks.sweep import sweep_rows
    from tinyq.checks.synth import rows_model

    p = Path(tempfile.mkdtemp(prefix="tinyq-fuzz-model-")) / "seed.tflite"
    p.write_bytes(rows_model([r for r in sweep_rows(quick=True) if r["dtype"] == "int8"][:3], seed=3))
    return p


def keras(out: Path, small: bool = False) -> None:
    import keras as k

    inp = k.Input((8, 8, 1))
    m = k.Model(inp, k.layers.Dense(3)(k.layers.Flatten()(k.layers.Conv2D(2, 3)(inp))))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("conv.keras", "conv.h5"):
            m.save(f"{tmp}/{name}")
            _write(out, name, Path(f"{tmp}/{name}").read_bytes())


SEEDS = {"tflite": tflite, "arrays": arrays, "board": board, "manifest": manifest, "keras": keras}


def make(target: str, out: Path, small: bool = False) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    SEEDS[target](out, small)
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in SEEDS:
        raise SystemExit(f"usage: python -m tests.fuzz.seeds {{{','.join(SEEDS)}}} DIR [--small]")
    d = make(sys.argv[1], Path(sys.argv[2]), small=sys.argv[3:] == ["--small"])
    print(f"{len(list(d.iterdir()))} seeds in {d}")
