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
from tinyq.cli.root import STATE, app, emit_json, err, out
from tinyq.errors import BadInput
from tinyq.fileio import write_bytes
from tinyq.quant import convert as cv
from tinyq.quant import lowbit


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


def _check_paths(model: Path, calib: Optional[Path], output: Optional[Path], eval_data: Optional[Path]) -> None:
    if not model.exists():
        raise BadInput(f"{model}: no such file or directory: give a .keras file, a .h5 file or a SavedModel directory")
    if calib is not None and not calib.exists():
        raise BadInput(f"{calib}: no such file: give the calibration samples as .npy or .npz (-c calib.npy)")
    if eval_data is not None and not eval_data.exists():
        raise BadInput(f"{eval_data}: no such file: give the evaluation set as an .npz with x and y (--eval data.npz)")
    if output is None:  # --mixed without -o: the plan alone
        return
    if output.is_dir():
        raise BadInput(f"{output} is a directory: give the output file name, e.g. -o {output / 'model.tflite'}")
    if output.resolve() in (model.resolve(), *([calib.resolve()] if calib is not None else [])):
        raise BadInput(f"{output} would overwrite an input file: choose another output name")


def _edge_text(e: cv.EdgeInfo) -> str:
    shape = "x".join(str(d) for d in e.shape)
    q = f", scale {e.scale:.6g}, zero point {e.zero_point}" if e.scale is not None else ""
    return f"{e.name} {e.dtype}[{shape}]{q}"


def _check_weights(mode: str, weight_bits: int, palette: Optional[int], palette_per_channel: bool, mixed: bool) -> None:
    """One line for a low-bit / palette option tinyq cannot honour."""
    lowbit.check_bits(weight_bits, palette)
    if palette_per_channel and palette is None:
        raise BadInput("--palette-per-channel needs --palette B (the bits a centroid index takes: 1, 2 or 4)")
    if weight_bits != 8 or palette is not None:
        flag = f"--palette {palette}" if palette is not None else f"--weight-bits {weight_bits}"
        if mixed:
            raise BadInput(f"{flag} with --mixed: --mixed chooses each layer's weights itself; drop one")
        if mode != "int8":
            raise BadInput(f"{flag} with --mode {mode}: low-bit and palettized weights are written for --mode int8 only; drop one")


def _convert(model: Path, calib, calib_arrays, eval_data, eval_arrays, mode: str, float_io: bool, quiet: bool, show: bool,
             weights: Optional[dict] = None):
    """Load the Keras model, calibrate and convert it, and evaluate both where --eval asks (progress bars
    on stderr): (the loaded model, calibration samples used, the .tflite bytes, the evaluation or None, notes).
    `weights`: the low-bit options (tinyq.quant.lowbit.convert_lowbit's weight_bits, palette, palette_per_channel)."""
    with _progress(show) as bar:
        loading = bar.add_task(f"loading {model.name}", total=None)
        lm = cv.load_model(model, quiet=quiet)
        samples = cv.load_calibration(calib, lm.inputs, arrays=calib_arrays) if calib is not None else None
        ev = cv.load_eval(eval_data, lm, arrays=eval_arrays) if eval_arrays is not None else None
        n = int(samples[0].shape[0]) if samples is not None else 0
        bar.update(loading, total=1, completed=1, visible=False)
        task = bar.add_task("calibrating" if n else "converting", total=n or None)
        notes: list[str] = []
        if weights:
            data, notes = lowbit.convert_lowbit(lm, samples, float_io=float_io, progress=lambda k: bar.advance(task, k),
                                                quiet=quiet, **weights)
        else:
            data = cv.convert_model(lm, samples, float_io=float_io, progress=lambda k: bar.advance(task, k), quiet=quiet, mode=mode)
        bar.update(task, completed=n, total=n)
        result = None
        if ev is not None:
            m = int(ev.x[0].shape[0])
            etask = bar.add_task("evaluating", total=2 * m)
            with cv.quiet_stderr(quiet):
                result = cv.evaluate(lm, data, ev, progress=lambda k: bar.advance(etask, k))
    return lm, n, data, result, notes


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
    packed = (lowbit.read_metadata(data) or {}).get("tensors", {}) if mode == "int8" else {}
    if packed:
        kinds = sorted({f"{v['bits']}-bit, codebook per {v['codebook']}" for v in packed.values()})
        t.add_row("low-bit int8 weights", f"{len(packed)} tensor{'s' if len(packed) > 1 else ''} ({'; '.join(kinds)}): "
                  "named in the tinyq.weights metadata, packed by `tinyq build`")
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


# ----------------------------------------------------------------------------- --mixed


def _mixed(model: Path, calib: Optional[Path], output: Optional[Path], calib_limit: Optional[int], mode: str,
           float_io: bool, eval_data: Optional[Path], json_out: bool, quiet: bool, threshold: float, worst: int,
           max_int16: Optional[int], int4_min_db: Optional[float], tolerance: float) -> None:
    """`tinyq convert --mixed`: the plan as a table (or JSON), and with -o the model."""
    from tinyq.quant import mixed as mx

    if mode != "int8" or float_io:
        raise BadInput(f"--mixed chooses the types per layer: drop {'--mode ' + mode if mode != 'int8' else '--float-io'}")
    if calib is None:
        raise BadInput("--calib is missing: --mixed measures each layer's error on representative inputs (-c calib.npy)")
    mx.check_mixed_options(threshold, worst, max_int16, int4_min_db, tolerance)
    _check_paths(model, calib, output, eval_data)
    calib_arrays = cv.read_calibration_arrays(calib, calib_limit)
    eval_arrays = cv.read_arrays(eval_data, "evaluation") if eval_data is not None else None
    if eval_arrays is not None:
        cv.check_arrays_early({k: v for k, v in eval_arrays.items() if k != "y"}, eval_data, "evaluation")
    with _progress(not json_out) as bar:
        task = bar.add_task(f"loading {model.name}", total=None)
        lm = cv.load_model(model, quiet=quiet)
        samples = cv.load_calibration(calib, lm.inputs, arrays=calib_arrays)
        ev = cv.load_eval(eval_data, lm, arrays=eval_arrays) if eval_arrays is not None else None
        plan = mx.plan_mixed(lm, samples, calib, calib_limit=calib_limit, ev=ev, threshold_db=threshold, worst=worst,
                             max_int16=max_int16, int4_min_db=int4_min_db, tolerance=tolerance, quiet=quiet,
                             progress=lambda what: bar.update(task, description=what))
    if output is not None:
        write_bytes(output, plan.model)
    if json_out:
        emit_json(dict(plan.to_json(), model=str(model), output=str(output) if output is not None else None,
                       tflite_bytes=len(plan.model)))
        return
    out.print(_mixed_table(model, plan))
    for line in _mixed_lines(plan):
        out.print(line)
    if output is not None:
        out.print(f"wrote {output} ({len(plan.model):,} bytes)")
    else:
        out.print("plan only: give -o FILE to write the mixed model")


def _mixed_table(model: Path, plan) -> Table:
    from tinyq.quant.error import short_name

    t = Table(title=f"tinyq convert --mixed: {model.name} ({plan.calibration['samples']} calibration samples)", title_justify="left")
    for col, just in [("#", "right"), ("op", "left"), ("layer", "left"), ("SQNR int8 dB", "right"), ("loss dB", "right"),
                      ("activations", "left"), ("weights", "left"), ("SQNR int4 dB", "right"), ("why", "left")]:
        t.add_column(col, justify=just, no_wrap=col not in ("layer", "why"))  # type: ignore[arg-type]

    def db(v: Optional[float]) -> str:
        return "-" if v is None else f"{v:.1f}"

    for L in plan.layers:
        t.add_row(str(L.index), L.op, short_name(L.tensor), db(L.sqnr_int8_db), db(L.loss_int8_db), L.activations,
                  L.weights or "-", db(L.sqnr_int4_db), "; ".join(L.why))
    return t


def _mixed_lines(plan) -> list[str]:
    lines = [f"int16 activations: {len(plan.int16)} layer(s); int4 weights: {len(plan.int4)} layer(s) "
             f"(flagged: below {plan.threshold_db:g} dB, or among the {plan.worst} losing the most)"]
    if plan.task is not None:
        def q(v: float) -> str:
            return _pct(v) if plan.task == "classification" else f"RMSE {v:.6g}"

        lines.append(f"float {q(plan.float_quality)}, all int8 {q(plan.int8_quality)}, mixed {q(plan.mixed_quality)} "
                     f"(tolerance {plan.tolerance:g})")
        for k, s in enumerate(plan.steps):
            lines.append(f"  tried {k}: {len(s.int16)} int16, {len(s.int4)} int4 -> {q(s.quality)}")
    return lines


@app.command("convert")
def convert_cmd(
    model: Path = typer.Argument(..., help="Float model: a .keras file, a legacy .h5 file or a SavedModel directory."),
    calib: Optional[Path] = CALIB,
    output: Optional[Path] = options.output("Where to write the .tflite model (with --mixed optional: the plan alone is printed)."),
    calib_limit: Optional[int] = CALIB_LIMIT,
    mode: str = typer.Option(
        "int8", "--mode",
        help="int8: full-integer, for `tinyq build` (needs --calib). int16x8: int16 activations, int8 weights, "
        "also for `tinyq build` (needs --calib; the whole model: --mixed chooses int16 per layer). dynamic: int8 weights, float activations. "
        "float16: float16 weights. The last two are for comparison only: `tinyq build` declines them.",
    ),
    float_io: bool = typer.Option(False, "--float-io", help="Keep float32 model input/output (QUANTIZE/DEQUANTIZE at the edges)."),
    eval_data: Optional[Path] = typer.Option(
        None, "--eval", help="An .npz with x and y: compare float (Keras) and int8 (TFLite reference) accuracy, or RMSE."
    ),
    weight_bits: int = typer.Option(
        8, "--weight-bits",
        help="1, 2 or 4: snap each Conv2D / DepthwiseConv2D / Dense kernel to a symmetric per-channel grid of that many bits "
        "before conversion (binary {-s, +s} for 1); 4 writes TFLite INT4 weight tensors, 1 and 2 int8 ones named in the "
        "model's tinyq.weights metadata, which `tinyq build` packs. 8: plain int8 (--mode int8 only).",
    ),
    palette: Optional[int] = typer.Option(
        None, "--palette",
        help="1, 2 or 4: replace each Conv2D / DepthwiseConv2D / Dense kernel's weights by 2^B k-means centroids per layer "
        "(one weight scale a tensor) before conversion; recorded in the tinyq.weights metadata (--mode int8 only).",
    ),
    palette_per_channel: bool = typer.Option(
        False, "--palette-per-channel", help="With --palette: 2^B centroids per output channel instead of per layer."),
    json_out: bool = JSON,
    # --mixed and its choices (tinyq.quant.mixed)
    mixed: bool = typer.Option(
        False, "--mixed",
        help="Mixed precision per layer (litert-quantizer): int16 activations for the layers `tinyq analyze` flags, "
        "int4 weights where a layer keeps --int4-min-sqnr; prints the plan, writes the model with -o. Needs --calib.",
    ),
    sqnr_threshold: float = typer.Option(20.0, "--sqnr-threshold", help="--mixed: flag layers whose int8 SQNR is below this many dB."),
    worst: int = typer.Option(3, "--worst", help="--mixed: also flag the N layers that lose the most SQNR (as `tinyq analyze`)."),
    max_int16: Optional[int] = typer.Option(
        None, "--max-int16", help="--mixed: int16 for at most N flagged layers (each with the layers reading it)."),
    int4_min_sqnr: float = typer.Option(32.0, "--int4-min-sqnr", help="--mixed: int4 weights where the layer keeps this many dB of SQNR with them."),
    no_int4: bool = typer.Option(False, "--no-int4", help="--mixed: keep every weight int8."),
    tolerance: float = typer.Option(
        0.01, "--tolerance",
        help="--mixed with --eval: stop adding int16 layers once accuracy is within this fraction of float (0.01: one "
        "point; regression: RMSE within 1 + this times float's).",
    ),
) -> None:
    """Quantize a float Keras model to a full-integer int8 .tflite (per-channel weights, batch 1).

    --mixed chooses int16 activations (the layers with the worst int8 SQNR) and int4 weights per layer, from the
    calibration samples and, with --eval, the accuracy; it prints the plan and with -o writes the model.

    --mode int16x8 quantizes activations to int16 instead (weights int8, biases int64): finer activations
    where int8 loses accuracy, at twice the activation memory; `tinyq build` compiles it bit-exact.

    --mode dynamic and --mode float16 write TensorFlow's other two variants, to compare size and accuracy
    (--eval); they dequantize weights at run time in float, so `tinyq build` declines them.
    """
    quiet = not STATE.get("verbose", False)
    if calib_limit is not None and calib_limit < 1:
        raise BadInput(f"--calib-limit {calib_limit}: give a positive number of samples")
    _check_weights(mode, weight_bits, palette, palette_per_channel, mixed)
    if mixed:
        _mixed(model, calib, output, calib_limit, mode, float_io, eval_data, json_out, quiet, sqnr_threshold, worst,
               max_int16, None if no_int4 else int4_min_sqnr, tolerance)
        return
    if output is None:
        raise BadInput("-o is missing: give where to write the .tflite model (-o model.tflite)")
    _check_mode(mode, calib, calib_limit, float_io)
    _check_paths(model, calib, output, eval_data)

    # Cheap checks first: the files are read and checked before TensorFlow starts.
    calib_arrays = cv.read_calibration_arrays(calib, calib_limit) if calib is not None else None
    eval_arrays = cv.read_arrays(eval_data, "evaluation") if eval_data is not None else None
    if eval_arrays is not None:
        cv.check_arrays_early({k: v for k, v in eval_arrays.items() if k != "y"}, eval_data, "evaluation")

    weights = ({"weight_bits": weight_bits, "palette": palette, "palette_per_channel": palette_per_channel}
               if weight_bits != 8 or palette is not None else None)
    lm, n, data, result, notes = _convert(model, calib, calib_arrays, eval_data, eval_arrays, mode, float_io, quiet,
                                          show=not json_out, weights=weights)
    for note in notes:
        err.print(f"note: {note}", markup=False)
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
        "weight_bits": weight_bits,
        "palette": None if palette is None else {"bits": palette, "codebook": "channel" if palette_per_channel else "layer"},
        "packed_weights": (lowbit.read_metadata(data) or {}).get("tensors", {}) if mode == "int8" else {},
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
