"""`tinyq analyze`: per-layer shapes, MACs and memory; with --float and --calib, per-layer quantization error."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tinyq.checks.analyze import analyze
from tinyq.cli.options import CALIB, CALIB_LIMIT, JSON, MODEL_TFLITE
from tinyq.cli.root import STATE, app, emit_json, out
from tinyq.errors import BadInput

FLOAT_MODEL = typer.Option(
    None, "--float",
    help="The float model MODEL was converted from (.keras, .h5, SavedModel or float .tflite): with --calib, "
    "per-layer SQNR of the int8 tensors against the float ones.",
)


def _shape(s: list[int]) -> str:
    return "x".join(str(d) for d in s) if s else "scalar"


@app.command("analyze")
def analyze_cmd(
    model: Path = MODEL_TFLITE,
    float_model: Optional[Path] = FLOAT_MODEL,
    calib: Optional[Path] = CALIB,
    calib_limit: Optional[int] = CALIB_LIMIT,
    threshold: float = typer.Option(20.0, "--sqnr-threshold", help="Flag layers whose SQNR is below this many dB."),
    worst: int = typer.Option(3, "--worst", help="Also flag the N layers that lose the most SQNR against their inputs (12 dB, two bits, or more) and end within 12 dB of the threshold."),
    as_json: bool = JSON,
) -> None:
    """Per-layer table: op, shapes, MACs, weight bytes, activation bytes; arena beside TFLM's.

    Reshapes are free (aliases of their input) and do not appear as layers. With --float and --calib, a
    second table gives each int8 tensor's signal-to-quantization-noise ratio against the float model on the
    calibration samples, the SQNR each layer loses against its inputs, its scale and the share of values
    clipped, and flags the layers that lose the most.
    """
    if (float_model is None) != (calib is None):
        given, missing = ("--float", "--calib CALIB") if calib is None else ("--calib", "--float FLOAT_MODEL")
        raise BadInput(f"{given} needs {missing} too: the quantization error is measured on calibration samples against the float model")
    if calib_limit is not None and calib is None:
        raise BadInput("--calib-limit needs --calib and --float: it limits the samples of the quantization-error table")
    if worst < 0:
        raise BadInput(f"--worst {worst}: give zero or a positive number of layers")
    a = analyze(model)
    qe = None
    if float_model is not None:
        from tinyq.cli.convert import _progress
        from tinyq.quant.error import quant_error

        with _progress(not as_json) as bar:
            task = bar.add_task("running float and int8 models", total=None)
            qe = quant_error(model, float_model, calib, calib_limit=calib_limit, threshold_db=threshold, worst=worst,
                             progress=lambda k: bar.advance(task, k), quiet=not STATE.get("verbose", False))
    if as_json:
        emit_json(dict(a.to_json(), **({"quant_error": qe.to_json()} if qe is not None else {})))
        return
    t = Table(title=f"{Path(model).name}  ({len(a.layers)} layers, {a.aliased_ops} reshapes aliased)")
    for col, just in [("#", "right"), ("op", "left"), ("input", "left"), ("output", "left"), ("MACs", "right"), ("weights B", "right"), ("activations B", "right")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for L in a.layers:
        t.add_row(str(L.index), L.op, ", ".join(_shape(s) for s in L.inputs), _shape(L.output), f"{L.macs:,}", f"{L.weight_bytes:,}", f"{L.activation_bytes:,}")
    t.add_section()
    t.add_row("", "total", "", "", f"{a.macs:,}", f"{a.weight_bytes:,}", "")
    out.print(t)
    tflm = f"{a.tflm_arena_bytes:,} B" if a.tflm_arena_bytes is not None else "n/a"
    out.print(f"arena: {a.arena_bytes:,} B (lower bound {a.arena_lower_bound:,} B)   TFLM arena: {tflm}")
    if qe is not None:
        _print_quant_error(qe)


def _db(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.1f}"


def _print_quant_error(qe) -> None:
    from tinyq.quant.error import short_name

    t = Table(title=f"quantization error: {Path(qe.model).name} vs {Path(qe.float_model).name} on {qe.calibration['samples']} samples")
    for col, just in [("#", "right"), ("op", "left"), ("tensor", "left"), ("shape", "left"), ("scale", "right"),
                      ("SQNR dB", "right"), ("loss dB", "right"), ("clipped", "right"), ("flag", "left")]:
        t.add_column(col, justify=just, no_wrap=col != "tensor")  # type: ignore[arg-type]
    for L in qe.layers:
        sqnr = L.note if L.sqnr_db is None else _db(L.sqnr_db)
        clip = "-" if L.clipped is None else f"{100.0 * L.clipped:.2f}%"
        flag = ("[bold red]! " + "; ".join(L.reasons) + "[/]") if L.flagged else ""
        t.add_row("in" if L.index is None else str(L.index), L.op, short_name(L.tensor), _shape(L.shape),
                  f"{L.scale:.4g}", sqnr, _db(L.drop_db), clip, flag)
    out.print(t)
    ways = {}
    for L in qe.layers:
        ways[L.match or "not matched"] = ways.get(L.match or "not matched", 0) + 1
    out.print("matched to the float model's tensors: " + ", ".join(f"{v} by {k}" if k != "not matched" else f"{v} not matched" for k, v in sorted(ways.items())))
    if qe.flagged:
        out.print(f"flagged ({len(qe.flagged)}): " + ", ".join(short_name(n) for n in qe.flagged))
    else:
        out.print(f"flagged: none (no layer below {qe.threshold_db:g} dB, none near it losing two bits, 12 dB, or more)")
