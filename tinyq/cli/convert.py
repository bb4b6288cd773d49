"""`tinyq convert`: Keras/SavedModel + calibration samples -> full-integer int8 .tflite (or, with --mode,
the dynamic-range and float16 variants, which `tinyq build` explains and declines)."""

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tinyq.cli import options
from tinyq.cli.options import CALIB, CALIB_LIMIT, JSON
from tinyq.cli.root import STATE, app, emit_json, out
from tinyq.errors import BadInput
from tinyq.fileio import write_bytes
from tinyq.quant import convert as cv


def _kib(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100.0 * v:.2f}%"


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
        disable=not enabled or not out.is_terminal,  # off a terminal rich would only print a blank line
    )
    with bar:
        yield bar


_MODE_LABEL = {"int8": "int8 .tflite", "int16x8": "int16x8 .tflite", "dynamic": "dynamic-range .tflite", "float16": "float16 .tflite"}


def _check_mode(mode: str, calib: Optional[Path], calib_limit: Optional[int], float_io: bool) -> None:
    if mode not in cv.MODES:
        raise BadInput(f"--mode {mode}: give one of {', '.join(cv.MODES)}")
    if mode in cv.CALIBRATED and calib is None:
        what = "a full-int8 model" if mode == "int8" else "an int16x8 model (int16 activation ranges come from them)"
        raise BadInput(f"--calib is missing: give representative inputs (-c calib.npy) for {what}")
    if mode not in cv.CALIBRATED and (calib is not None or calib_limit is not None):
        raise BadInput(f"--mode {mode} does not calibrate: drop --calib and --calib-limit (they are for --mode int8 and int16x8)")
    if mode not in cv.CALIBRATED and float_io:
        raise BadInput(f"--mode {mode} keeps float inputs and outputs already: drop --float-io (it is for --mode int8 and int16x8)")


def _check_paths(model: Path, calib: Optional[Path], output: Path, eval_data: Optional[Path]) -> None:
    if not model.exists():
        raise BadInput(f"{model}: no such file or directory: give a .keras file, a .h5 file or a SavedModel directory")
    if calib is not None and not calib.exists():
        raise BadInput(f"{calib}: no such file: give the calibration samples as .npy or .npz (-c calib.npy)")
    if eval_data is not None and not eval_data.exists():
        raise BadInput(f"{eval_data}: no such file: give the evaluation set as an .npz with x and y (--eval data.npz)")
    if output.is_dir():
        raise BadInput(f"{output} is a directory: give the output file name, e.g. -o {output / 'model.tflite'}")
    if output.resolve() in (model.resolve(), *([calib.resolve()] if calib is not None else [])):
        raise BadInput(f"{output} would overwrite an input file: choose another output name")


def _edge_text(e: cv.EdgeInfo) -> str:
    shape = "x".join(str(d) for d in e.shape)
    q = f", scale {e.scale:.6g}, zero point {e.zero_point}" if e.scale is not None else ""
    return f"{e.name} {e.dtype}[{shape}]{q}"


def _convert(model: Path, calib, calib_arrays, eval_data, eval_arrays, mode: str, float_io: bool, quiet: bool, show: bool):
    """Load the Keras model, calibrate and convert it, and evaluate both where --eval asks (progress bars
    on stderr): (the loaded model, calibration samples used, the .tflite bytes, the evaluation or None)."""
    with _progress(show) as bar:
        loading = bar.add_task(f"loading {model.name}", total=None)
        lm = cv.load_model(model, quiet=quiet)
        samples = cv.load_calibration(calib, lm.inputs, arrays=calib_arrays) if calib is not None else None
        ev = cv.load_eval(eval_data, lm, arrays=eval_arrays) if eval_arrays is not None else None
        n = int(samples[0].shape[0]) if samples is not None else 0
        bar.update(loading, total=1, completed=1, visible=False)
        task = bar.add_task("calibrating" if n else "converting", total=n or None)
        data = cv.convert_model(lm, samples, float_io=float_io, progress=lambda k: bar.advance(task, k), quiet=quiet, mode=mode)
        bar.update(task, completed=n, total=n)
        result = None
        if ev is not None:
            m = int(ev.x[0].shape[0])
            etask = bar.add_task("evaluating", total=2 * m)
            with cv.quiet_stderr(quiet):
                result = cv.evaluate(lm, data, ev, progress=lambda k: bar.advance(etask, k))
    return lm, n, data, result


def _table(model: Path, output: Path, lm, mode: str, calib, n: int, summary, data: bytes, result) -> Table:
    """The conversion as a two-column table: model, mode, calibration, edges, ops, sizes, accuracy."""
    t = Table(title=f"tinyq convert: {model.name} -> {output.name}", show_header=False, title_justify="left")
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row("model", f"{model} ({lm.format})")
    t.add_row("mode", mode)
    if calib is not None:
        t.add_row("calibration", f"{n} samples from {calib}")
    for e in summary.inputs:
        t.add_row("input", _edge_text(e))
    for e in summary.outputs:
        t.add_row("output", _edge_text(e))
    rnn = cv.recurrent_layers(lm)
    if rnn:
        t.add_row("recurrent layers", ", ".join(r.text() for r in rnn) + ": unrolled over their time steps (no WHILE loop)"
                  + ("" if all(r.saved_unrolled for r in rnn) else " by tinyq, same weights"))
    t.add_row("ops", ", ".join(f"{k} x{v}" for k, v in sorted(summary.ops.items())))
    t.add_row("weight tensors", ", ".join(f"{k} x{v}" for k, v in summary.weights.items()) or "none")
    t.add_row("float parameters", _kib(lm.param_bytes))
    ratio = f" ({lm.param_bytes / len(data):.2f}x smaller)" if lm.param_bytes > len(data) else ""
    t.add_row(_MODE_LABEL[mode], _kib(len(data)) + ratio)
    if result is not None:
        if result.task == "classification":
            t.add_row("float accuracy", f"{_pct(result.float_accuracy)} on {result.samples} samples (float model)")
            t.add_row(f"{mode} accuracy", f"{_pct(result.int8_accuracy)} (TFLite reference kernels)")
            t.add_row("top-1 agreement", _pct(result.agreement))
        else:
            t.add_row("float RMSE", f"{result.float_rmse:.6g} on {result.samples} samples (float model)")
            t.add_row(f"{mode} RMSE", f"{result.int8_rmse:.6g} (TFLite reference kernels)")
            t.add_row(f"float vs {mode} RMSE", f"{result.float_int8_rmse:.6g}")
    return t


@app.command("convert")
def convert_cmd(
    model: Path = typer.Argument(..., help="Float model: a .keras file, a legacy .h5 file or a SavedModel directory."),
    calib: Optional[Path] = CALIB,
    output: Path = options.output("Where to write the .tflite model.", required=True),
    calib_limit: Optional[int] = CALIB_LIMIT,
    mode: str = typer.Option(
        "int8", "--mode",
        help="int8: full-integer, for `tinyq build` (needs --calib). int16x8: int16 activations, int8 weights, "
        "also for `tinyq build` (needs --calib; the whole model: TensorFlow's 16x8 quantizer cannot keep some layers "
        "int8, so there is no mixed int8/int16 mode). dynamic: int8 weights, float activations. "
        "float16: float16 weights. The last two are for comparison only: `tinyq build` declines them.",
    ),
    float_io: bool = typer.Option(False, "--float-io", help="Keep float32 model input/output (QUANTIZE/DEQUANTIZE at the edges)."),
    eval_data: Optional[Path] = typer.Option(
        None, "--eval", help="An .npz with x and y: compare float (Keras) and int8 (TFLite reference) accuracy, or RMSE."
    ),
    json_out: bool = JSON,
) -> None:
    """Quantize a float Keras model to a full-integer int8 .tflite (per-channel weights, batch 1).

    --mode int16x8 quantizes activations to int16 instead (weights int8, biases int64): finer activations
    where int8 loses accuracy, at twice the activation memory; `tinyq build` compiles it bit-exact.

    --mode dynamic and --mode float16 write TensorFlow's other two variants, to compare size and accuracy
    (--eval); they dequantize weights at run time in float, so `tinyq build` declines them.
    """
    quiet = not STATE.get("verbose", False)
    if calib_limit is not None and calib_limit < 1:
        raise BadInput(f"--calib-limit {calib_limit}: give a positive number of samples")
    _check_mode(mode, calib, calib_limit, float_io)
    _check_paths(model, calib, output, eval_data)

    # Cheap checks first: the files are read and checked before TensorFlow starts.
    calib_arrays = cv.read_calibration_arrays(calib, calib_limit) if calib is not None else None
    eval_arrays = cv.read_arrays(eval_data, "evaluation") if eval_data is not None else None
    if eval_arrays is not None:
        cv.check_arrays_early({k: v for k, v in eval_arrays.items() if k != "y"}, eval_data, "evaluation")

    lm, n, data, result = _convert(model, calib, calib_arrays, eval_data, eval_arrays, mode, float_io, quiet, show=not json_out)
    write_bytes(output, data)
    summary = cv.summarize_tflite(data)
    islands = cv.float_island_lines(data) if mode in cv.CALIBRATED else []
    report = {
        "model": str(model),
        "format": lm.format,
        "mode": mode,
        "output": str(output),
        "float_io": float_io,
        "calibration": {"file": str(calib), "samples": n} if calib is not None else None,
        "weights": summary.weights,
        "float_bytes": lm.param_bytes,
        "tflite_bytes": len(data),
        "inputs": [e.to_json() for e in summary.inputs],
        "outputs": [e.to_json() for e in summary.outputs],
        "ops": dict(sorted(summary.ops.items())),
        "recurrent": [r.to_json() for r in cv.recurrent_layers(lm)],
        "float_islands": islands,  # DEQUANTIZE -> float ops -> QUANTIZE, compiled to tables by `tinyq build`
        "eval": result.to_json() if result is not None else None,
    }
    if json_out:
        emit_json(report)
        return

    out.print(_table(model, output, lm, mode, calib, n, summary, data, result))
    out.print(f"wrote {output} ({len(data):,} bytes)")
    for line in islands:
        out.print(f"float island, compiled to a table by `tinyq build`: {line}")
    if mode not in cv.CALIBRATED:
        note = (" (no weight tensor reached the converter's 1024-value floor: it is a plain float model)"
                if mode == "dynamic" and "int8" not in summary.weights else "")
        out.print(f"{mode} models are for comparison: `tinyq build` needs full int8 (`tinyq convert {model} -c CALIB`){note}")
