"""Command-line options shared by several verbs, defined once (STYLE rule 12)."""

from pathlib import Path

import typer

from tinyq.device.protocol import INFER_TIMEOUT_FACTOR

JSON = typer.Option(False, "--json", help="Print one JSON object on stdout instead of tables.")
WIDE = typer.Option(
    False, "--wide-weights",
    help="Flash for speed: store convolution weights as int16 (about twice their flash) so Cortex-M4/M7/M33 skip a sign extension per pair of MACs. Same bits.",
)
KERNELS = typer.Option(
    "fast", "--kernels",
    help="fast: kernels specialized at generation time (SIMD on DSP/Helium cores); ref: TFLite's reference loops. Same bits either way.",
)
CONSOLE = typer.Option(
    None, "--console",
    help="Which of the board's consoles the firmware serves the protocol on: `default` or a name from its console_options (`tinyq boards --json` lists them).",
)
MODEL_TFLITE = typer.Argument(..., help="A full-int8 .tflite model (from `tinyq convert`).", show_default=False)


def model_arg(help_text: str = "A full-int8 .tflite model (from `tinyq convert`).") -> Path:
    return typer.Argument(..., help=help_text, show_default=False)


CALIB = typer.Option(
    None, "--calib", "-c",
    help="Calibration inputs: .npy (samples first) or .npz (one array per input, by name or order, or key 'x').",
)
CALIB_LIMIT = typer.Option(None, "--calib-limit", help="Use only the first N calibration samples.")
TIMEOUT = typer.Option(
    10.0, "--timeout", min=0.01,
    help=f"Seconds to wait for each reply from the board; an inference may take {INFER_TIMEOUT_FACTOR} times as long.",
)
RETRIES = typer.Option(
    2, "--retries", min=0,
    help="Run an input again, at most this many times, after the board reset, went silent or sent a garbled reply "
         "(the input is loaded again first). 0: fail at the first fault.",
)
