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
PACK_WEIGHTS = typer.Option(
    "auto", "--pack-weights",
    help="Weights stored as packed low-bit indices (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED). auto: the model's INT4 tensors "
         "and those its tinyq.weights metadata names; off: none (plain int8); 4, 2, 1: also every weight tensor with at most "
         "2^N distinct values per layer or per output channel. Same bits either way; less flash.",
)
CONSOLE = typer.Option(
    None, "--console",
    help="Which of the board's consoles the firmware serves the protocol on: `default` or a name from its console_options (`tinyq boards --json` lists them).",
)
RAM_BUDGET = typer.Option(
    None, "--ram-budget", min=1,
    help="RAM for inference in bytes (arena + input + output, as TFLM counts it: build.json's ram_tflm). A plan over it runs "
         "its early high-resolution layers band by band (patch-based: their full maps never exist; the overlapping rows are "
         "computed again, which costs instructions); the cheapest plan that fits is taken, and reported. Default: the board's RAM.",
    show_default=False,
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
         "(the input is loaded again first). 0: fail at the first fault. A model with state is never retried (its state would "
         "run ahead or be lost).",
)


# --------------------------------------------------------------------------- options several verbs share
# Each flag's spelling, short form and type are defined here, once; a verb may word its help for what
# the option means there (a build's board must match it; a bench needs one).

BOARD_HELP = "Board name (`tinyq boards` lists them) or a board .json file."


def board(help: str = BOARD_HELP, required: bool = False):
    """--board / -b: a board name or a board file."""
    return typer.Option(... if required else None, "--board", "-b", help=help, show_default=False)


BOARD_OF_BUILD = board("Board (defaults to the build's; must match it).")


def runs(default: int, help: str):
    """--runs / -n: inferences on a device (random inputs unless --inputs)."""
    return typer.Option(default, "--runs", "-n", min=1, help=help)


SAMPLES = typer.Option(100, "--samples", "-n", min=0, help="Random inputs to try (plus 3 edge inputs: all min, all max, all zero point).")
SEED = typer.Option(0, "--seed", help="Seed of the random inputs.")
SEQUENCE_LENGTH = typer.Option(
    None, "--sequence-length", min=1,
    help="A model with state (an RNN, a streaming model's variables): reset it every N inputs. Default: the inputs "
         "run as one sequence, reset once before the first. Ignored for a model without state.",
)


def output(help: str, required: bool = False):
    """--output / -o: where a verb writes."""
    return typer.Option(... if required else None, "--output", "-o", help=help, show_default=False)


def name(help: str, default: str | None = "model"):
    """--name / -n: the generated library's C prefix."""
    return typer.Option(default, "--name", "-n", help=help)


PORT_HELP = ("Serial port of a running board (a device path or socket://HOST:PORT). Without it, a USB board is found by "
             "its USB ids and an emulated one runs in QEMU.")


def port(help: str = PORT_HELP):
    """--port / -p: a board's serial port."""
    return typer.Option(None, "--port", "-p", help=help, show_default=False)


VERBOSE = typer.Option(False, "--verbose", "-v", help="Show tracebacks, tool output and debug notes on errors.")


def inputs(help: str):
    """--inputs: the user's own inputs (.npy / .npz) instead of random ones."""
    return typer.Option(None, "--inputs", help=help, show_default=False)


BUILD_DIR = typer.Argument(..., help="A build directory from `tinyq build`.", show_default=False)

CYCLES = typer.Option(
    False, "--cycles",
    help="Also estimate cycles and milliseconds on the build's own board from what QEMU executed (an emulated build): "
         "the executed instruction mix weighted by the core's timings plus flash wait states (see --cycles-for).",
)
CYCLES_FOR = typer.Option(
    None, "--cycles-for",
    help="Estimate cycles and milliseconds on this board instead (same core as the build: e.g. a Cortex-M4 board for a "
         "qemu Cortex-M4 build), at its clock and with its flash wait states and caches (the board file's `timing`).",
    show_default=False,
)
