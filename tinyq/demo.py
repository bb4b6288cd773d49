"""`make demo`: the main job end to end, as a user types it.

Trains the digits CNN (scikit-learn's bundled 8x8 digits, a few seconds on a CPU), then runs the
`tinyq` commands a user would, printing each one before it runs: convert with a calibration set and
an accuracy check, verify bit-exact on the host, analyze, build firmware for the emulated Cortex-M4,
profile it in QEMU over the serial protocol and run the whole test set on it, checking every output
against TFLite's reference kernels, and compare the float32, int8 and int16x8 builds of the model
on the same board (flash, RAM, instructions, milliseconds and accuracy, all measured).

Everything lands in out/demo/ (or the directory given as the first argument).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CALIB_SAMPLES = 300
BOARD = "qemu-m4"
COMPARE_LIMIT = 200  # test images each variant runs on the device in the comparison


def _tinyq() -> list[str]:
    exe = Path(sys.executable).with_name("tinyq")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tinyq"]


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def run(*args, capture_json: bool = False) -> dict | None:
    """Run one tinyq command the way a user does; stop the demo on failure."""
    words = [_rel(a) if isinstance(a, Path) else str(a) for a in args]
    print(f"\n$ tinyq {' '.join(shlex.quote(w) for w in words)}", flush=True)
    cmd = _tinyq() + words + (["--json"] if capture_json else [])
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture_json else None, text=True)
    if r.returncode != 0:
        print(f"demo: `tinyq {words[0]}` failed with exit code {r.returncode}", file=sys.stderr)
        sys.exit(r.returncode)
    return json.loads(r.stdout) if capture_json else None


def compare_step(model: Path, calib: Path, test: Path, board: str = BOARD, limit: int = COMPARE_LIMIT) -> None:
    """The float32 / int8 / int16x8 table: each variant built and measured on `board` (`tinyq compare`)."""
    run("compare", model, "-c", calib, "--eval", test, "--board", board, "--limit", limit)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    work = Path(argv[0]) if argv else Path("out/demo")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    from tinyq.quant.datasets import digits_dataset, train_digits_cnn

    print("training the digits CNN (scikit-learn digits, 1437 train / 360 test images) ...", flush=True)
    x_train, _, x_test, y_test = digits_dataset()
    model = train_digits_cnn()
    model.save(work / "digits.keras")
    np.save(work / "calib.npy", x_train[:CALIB_SAMPLES])
    np.savez(work / "test.npz", x=x_test, y=y_test)
    print(f"saved {_rel(work / 'digits.keras')}, {CALIB_SAMPLES} calibration samples and the test set")

    tflite = work / "digits.tflite"
    conv = run("convert", work / "digits.keras", "-c", work / "calib.npy", "-o", tflite, "--eval", work / "test.npz", capture_json=True)
    ev = conv.get("eval") or {}
    print(f"float accuracy {100 * ev['float_accuracy']:.2f}%   int8 accuracy {100 * ev['int8_accuracy']:.2f}%   "
          f"top-1 agreement {100 * ev['agreement']:.2f}%")
    run("analyze", tflite)
    ver = run("verify", tflite, capture_json=True)
    print(f"host C vs TFLite reference: {'bit-exact' if ver['bit_exact'] else 'MISMATCH'} over {ver['samples']} inputs; "
          f"arena {ver['arena_bytes']:,} B vs TFLM {ver['tflm_arena_bytes']:,} B")
    gen = run("generate", tflite, "-o", work / "c", "--name", "digits", capture_json=True)

    build_dir = work / f"build-{BOARD}"
    built = run("build", tflite, "--board", BOARD, "-o", build_dir, "--name", "digits", capture_json=True)
    run("profile", build_dir, "--runs", "5")
    dev = run("profile", build_dir, "--inputs", work / "test.npz", capture_json=True)
    sizes = built["sizes"]
    compare_step(work / "digits.keras", work / "calib.npy", work / "test.npz")

    print("\nsummary")
    print(f"  accuracy      float {100 * ev['float_accuracy']:.2f}%   int8 (reference) {100 * ev['int8_accuracy']:.2f}%   "
          f"on {BOARD} {100 * dev['accuracy']:.2f}%   ({len(y_test)} test images)")
    print(f"  bit-exact     host C: {ver['bit_exact']} ({ver['samples']} inputs)   "
          f"{BOARD}: {dev['bit_exact']} ({dev['samples']} inputs, device vs TFLite reference kernels)")
    print(f"  speed         {dev['cycles']:,} instructions per inference on {BOARD} (QEMU -icount); "
          f"{dev['latency_ms']:.2f} ms at {dev['clock_hz'] / 1e6:g} MHz")
    print(f"  flash         {sizes['flash']:,} B = code {sizes['code']:,} + weights {sizes['weights']:,} "
          f"(the C library alone: {gen['weight_bytes']:,} B of weights)")
    print(f"  RAM           {sizes['ram']:,} B = arena {sizes['arena']:,} + stack {sizes['stack']:,} + other {sizes['ram_other']:,}   "
          f"(TFLM's arena: {ver['tflm_arena_bytes']:,} B)")
    print(f"  time          {time.monotonic() - t0:.0f} s")
    ok = ver["bit_exact"] and dev["bit_exact"]
    print("\nthe device matched the host bit for bit" if ok else "\nMISMATCH between the device and the host reference")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
