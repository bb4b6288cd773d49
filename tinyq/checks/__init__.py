"""Checks: run a model and hold it to TFLite's reference interpreter.

Everything runs through one core: runners (the reference, the host-compiled C, a device, each with
`run(inputs) -> outputs`), inputs (random, edge and user inputs), match (the one comparison: bit for
bit, or within FLOAT_TOLERANCE for float32 models). On top: verify (host or emulated board), profile
(cycles on a device), bench (figures beside TFLM), compare (float32 / int8 / int16x8 variants),
analyze (per-layer MACs and memory).

Public: `verify_tflite`, `verify_on_board`, `run_on_device`, `bench_model`, `compare`, `analyze`,
`compare_output`, `Tally`, `FLOAT_TOLERANCE`.
"""

from tinyq.checks.analyze import analyze
from tinyq.checks.bench import bench_model
from tinyq.checks.compare import compare
from tinyq.checks.match import FLOAT_TOLERANCE, Tally, compare_output
from tinyq.checks.profile import run_on_device
from tinyq.checks.verify import verify_on_board, verify_tflite

__all__ = ["FLOAT_TOLERANCE", "Tally", "analyze", "bench_model", "compare", "compare_output", "run_on_device",
           "verify_on_board", "verify_tflite"]
