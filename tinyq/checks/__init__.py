"""Checks: run a model and hold it to TFLite's reference interpreter.

Everything runs through one core: runners (the reference, the host-compiled C, a device, each with
`run(inputs) -> outputs`), inputs (random, edge and user inputs), match (the one comparison: bit for
bit, or within FLOAT_TOLERANCE for float32 models). On top: verify (host or emulated board), profile
(cycles on a device; with cycles, estimated cycles on a real core from QEMU's execution), bench (figures beside TFLM), sweep (single layers over a grid of shapes, written by synth), compare (float32 / int8 / int16x8 variants),
analyze (per-layer MACs and memory).

Public: `verify_tflite`, `verify_on_board`, `run_on_device`, `bench_model`, `compare`, `analyze`,
`compare_output`, `Tally`, `FLOAT_TOLERANCE`, `estimate_build`, `estimate_elf`, `CycleEstimate`. The sweep is `tinyq.checks.sweep` (not imported here,
so `python -m tinyq.checks.sweep --rows` runs it as a script cleanly).
"""

from tinyq.checks.analyze import analyze
from tinyq.checks.bench import bench_model
from tinyq.checks.compare import compare
from tinyq.checks.cycles import CycleEstimate, estimate_build, estimate_elf
from tinyq.checks.match import FLOAT_TOLERANCE, Tally, compare_output
from tinyq.checks.profile import run_on_device
from tinyq.checks.verify import verify_on_board, verify_tflite

__all__ = ["FLOAT_TOLERANCE", "CycleEstimate", "Tally", "analyze", "bench_model", "compare", "compare_output", "estimate_build",
           "estimate_elf", "run_on_device",
           "verify_on_board", "verify_tflite"]
