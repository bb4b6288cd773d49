"""`tinyq compare`: float32, int8, int16x8, mixed, int4, k-means and binary builds of one Keras model side by side,
measured on a board."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tinyq.boards import get_board
from tinyq.checks.compare import (
    DEFAULT_LIMIT,
    DEFAULT_MODES,
    VARIANTS,
    Comparison,
    compare,
    parse_modes,
)
from tinyq.cli import options
from tinyq.cli.options import CALIB, CALIB_LIMIT, JSON
from tinyq.cli.root import STATE, app, emit_json, err, out
from tinyq.errors import BadInput, CheckFailed


def _quality(c: Comparison, acc: float | None, rmse: float | None) -> str:
    if c.task == "classification":
        return "-" if acc is None else f"{100.0 * acc:.2f}%"
    return "-" if rmse is None else f"RMSE {rmse:.4g}"


def _check_text(r) -> str:
    if r.bit_exact:
        return "bit-exact"
    return f"{'within tol.' if r.passed else 'FAILED'} {r.max_abs_diff:.2g}"


def energy_caption(c: Comparison) -> str:
    """What the µJ column rests on, or why there is none."""
    if c.energy is None:
        return f" No energy column: {c.energy_note}."
    e = c.energy
    froms = sorted({r.energy_time_from for r in c.rows if r.energy_time_from})
    return (f" µJ per inference on {e['board']}: time ({' / '.join(froms) or '-'} at {e['clock_hz'] / 1e6:g} MHz) x "
            f"{e['run_current_ma']:g} mA x {e['supply_v']:g} V ({e['conditions']}; {e['source']}).")


def table(c: Comparison) -> Table:
    """The comparison as a rich table: one row per variant."""
    score = "top-1" if c.task == "classification" else "RMSE"
    source = "QEMU -icount" if c.cycle_unit == "instructions" else "the board's counter"
    energy = c.energy is not None
    t = Table(
        title=f"{c.model} on {c.board}: measured on the device, {c.samples} of {c.available} evaluation inputs",
        title_justify="left",
        caption=(f"flash = code + weights; RAM = arena + stack + other. {c.cycle_unit.capitalize()} per inference "
                 f"(median) from {source}; ms at {c.clock_hz / 1e6:g} MHz. {score}: of the device's outputs "
                 f"(the Keras model on the host: {_quality(c, c.keras_accuracy, c.keras_rmse)}). check: device "
                 "vs TFLite's reference interpreter (float32: max |diff| within the tolerance)." + energy_caption(c)),
        caption_justify="left",
    )
    names = ["variant", "flash B", "code B", "weights B", "RAM B", "arena B", c.cycle_unit, "ms", *(["µJ"] if energy else []), score, "check"]
    for name in names:
        t.add_column(name, justify="left" if name in ("variant", "check") else "right", no_wrap=True)
    for r in c.rows:
        uj = ([f"{r.energy_uj:.3g}" if r.energy_uj is not None else "-"] if energy else [])
        t.add_row(r.variant, f"{r.flash:,}", f"{r.code:,}", f"{r.weights:,}", f"{r.ram:,}", f"{r.arena:,}", f"{r.cycles:,}",
                  f"{r.latency_ms:.2f}", *uj, _quality(c, r.accuracy, r.rmse), _check_text(r))
    return t


def variant_lines(c: Comparison) -> list[str]:
    """Under the table: what each variant is, the weight tensors its build packed, and its conversion's notes."""
    lines = []
    for r in c.rows:
        said = [r.description] if r.description else []
        said += [f"packed in flash: {', '.join(r.packed)}"] if r.packed else []
        if said:
            lines.append(f"{r.variant}: {'; '.join(said)}")
        lines += [f"  {r.variant}: {n}" for n in r.notes]
    return lines


@app.command("compare")
def compare_cmd(
    model: Path = typer.Argument(..., help="Float model: a .keras file, a legacy .h5 file or a SavedModel directory.", show_default=False),
    calib: Optional[Path] = CALIB,
    eval_data: Optional[Path] = typer.Option(
        None, "--eval", help="An .npz with x and y (class ids, or float targets for regression): what the device is scored on."
    ),
    board: str = options.board("Board to run on (emulated boards need no hardware).", required=True),
    modes: str = typer.Option(
        ",".join(DEFAULT_MODES), "--modes",
        help=f"Which variants, comma-separated, of {', '.join(VARIANTS)}; or all (float32 needs a board with an FPU). "
             "mixed, int4, kmeans4, kmeans2 and binary are `tinyq convert`'s --mixed, --weight-bits 4, --palette 4, "
             "--palette 2 and --weight-bits 1 (after training), built with their weights packed.",
    ),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", "-n", help="Run only the first N evaluation inputs on the device."),
    calib_limit: Optional[int] = CALIB_LIMIT,
    keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the .tflite files and builds in this directory."),
    energy_for: Optional[str] = typer.Option(
        None, "--energy-for",
        help="The board (name or board file, same core) whose documented run current and supply voltage price an inference "
             "(µJ column). Default: the board's own figures, else the real board an emulated one stands for (its stands_for).",
        show_default=False,
    ),
    as_json: bool = JSON,
) -> None:
    """Build float32, int8 and int16x8 (and the other --modes) variants of a model and measure each on a board.

    Every variant is converted (int8 and int16x8 calibrated with -c), built, and run on the board over
    the serial protocol on the --eval inputs: flash and RAM from the linked firmware, cycles (instructions
    under QEMU) and latency at the board's clock from the device, accuracy (or RMSE) from the outputs
    the device sent back, each checked against TFLite's reference interpreter. Exit 1 if a variant's
    device outputs differ from the reference. Energy per inference (µJ) where the board file documents a
    run current: time per inference (measured cycles on hardware; on QEMU the cycle estimate for a
    Cortex-M4/M7 board, else instructions, at that board's clock) x run current x supply voltage.
    """
    if calib is None:
        raise BadInput("--calib is missing: give representative inputs (-c calib.npy) to calibrate the int8 and int16x8 variants")
    if eval_data is None:
        raise BadInput("--eval is missing: give the evaluation set as an .npz with x and y (--eval data.npz)")
    if not model.exists():
        raise BadInput(f"{model}: no such file or directory: give a .keras file, a .h5 file or a SavedModel directory")
    b = get_board(board)
    chosen = parse_modes(modes)
    show = not as_json and err.is_terminal
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=True, disable=not show)
    with bar:
        task = bar.add_task(f"loading {model.name}", total=None)
        res = compare(model, calib, eval_data, b, modes=chosen, limit=limit, calib_limit=calib_limit, work_dir=keep,
                      progress=lambda label, done, total: bar.update(task, description=label, completed=done, total=total),
                      quiet=not STATE.get("verbose", False), energy_for=energy_for)
    for v, why in res.skipped.items():
        err.print(f"{v}: skipped, {why}", markup=False)
    if as_json:
        emit_json(res.to_json())
    else:
        out.print(table(res))
        for line in variant_lines(res):
            out.print(line, markup=False, highlight=False)
    if res.failed:
        raise CheckFailed(f"device outputs differ from TFLite's reference for {', '.join(res.failed)} on {b.name}: "
                          f"run `tinyq profile` on that build (--keep DIR keeps it) for the first mismatch")
