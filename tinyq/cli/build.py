"""`tinyq build`: model + board -> firmware images and a size report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tinyq.boards import get_board
from tinyq.build.firmware import MLPERF_MODELS, build
from tinyq.build.manifest import Sizes
from tinyq.cli import options
from tinyq.cli.options import CONSOLE, JSON, KERNELS, RAM_BUDGET, WIDE
from tinyq.cli.root import STATE, app, emit_json, out
from tinyq.errors import BadInput


def _pct(n: int, limit: int) -> str:
    return f"{100.0 * n / limit:.1f}%" if limit else "-"


def size_table(title: str, s: Sizes, wide: bool = False, ram_tflm: int | None = None) -> Table:
    t = Table(title=title, title_justify="left")
    for col, just in [("memory", "left"), ("part", "left"), ("bytes", "right"), ("of board", "right")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    t.add_row("flash", "code (runtime, kernels, protocol)", f"{s.code:,}", _pct(s.code, s.flash_limit))
    label = "weights (int16 rows: --wide-weights)" if wide else "weights (model constants)"
    t.add_row("", label, f"{s.weights:,}", _pct(s.weights, s.flash_limit))
    t.add_row("", "[bold]total[/]", f"[bold]{s.flash:,}[/]", f"{_pct(s.flash, s.flash_limit)} of {s.flash_limit:,}")
    t.add_section()
    t.add_row("RAM", "arena (activations, input, output)", f"{s.arena:,}", _pct(s.arena, s.ram_limit))
    if ram_tflm is not None:
        t.add_row("", "  as TFLM counts it (arena + I/O)", f"{ram_tflm:,}", _pct(ram_tflm, s.ram_limit))
    if s.state:
        t.add_row("", "state (kept across inferences)", f"{s.state:,}", _pct(s.state, s.ram_limit))
    t.add_row("", "stack", f"{s.stack:,}", _pct(s.stack, s.ram_limit))
    t.add_row("", "other (runtime)", f"{s.ram_other:,}", _pct(s.ram_other, s.ram_limit))
    t.add_row("", "[bold]total[/]", f"[bold]{s.ram:,}[/]", f"{_pct(s.ram, s.ram_limit)} of {s.ram_limit:,}")
    return t


def model_bytes(model: Path, calib: Optional[Path], calib_limit: Optional[int]) -> tuple[bytes | None, str]:
    """A .tflite is used as is; a Keras model (with --calib) is converted first."""
    if not model.exists():
        raise BadInput(f"{model}: no such file or directory: give a .tflite, or a Keras model with --calib")
    if model.suffix == ".tflite":
        if calib is not None:
            raise BadInput(f"{model} is already a .tflite: drop --calib (it is for Keras models)")
        return None, "tflite"
    if calib is None:
        raise BadInput(f"{model} is not a .tflite: give calibration samples with --calib to convert it first (or run `tinyq convert`)")
    from tinyq.quant.convert import convert_file

    return convert_file(model, calib, calib_limit, quiet=not STATE.get("verbose", False)), "keras"


@app.command("build")
def build_cmd(
    model: Path = typer.Argument(..., help="A full-int8 .tflite, or a Keras model (.keras/.h5/SavedModel) with --calib.", show_default=False),
    board: str = options.board(required=True),
    output: Optional[Path] = options.output("Build directory [default: build/MODEL-BOARD]."),
    calib: Optional[Path] = typer.Option(None, "--calib", "-c", help="Calibration samples (.npy/.npz) to convert a Keras model first."),
    calib_limit: Optional[int] = typer.Option(None, "--calib-limit", help="Use only the first N calibration samples."),
    name: str = options.name("C prefix of the generated library."),
    mlperf_model: str = typer.Option("unspecified", "--mlperf-model", help=f"What `profile%` answers the MLPerf Tiny runner: {', '.join(MLPERF_MODELS)}."),
    kernels: str = KERNELS,
    wide: bool = WIDE,
    console: Optional[str] = CONSOLE,
    keep_input: bool = typer.Option(False, "--keep-input", help="Keep the input in the arena for the whole inference (its bytes never reused), so one load runs many times; implied by --mlperf-model."),
    ram_budget: Optional[int] = RAM_BUDGET,
    pack_weights: str = options.PACK_WEIGHTS,
    as_json: bool = JSON,
) -> None:
    """Build firmware for a board: ELF, BIN, HEX, map file, the generated sources and a size report.

    The firmware serves the MLPerf Tiny serial protocol (plus tinyq's own commands); run it with
    `tinyq emulate` or measure it with `tinyq profile BUILD`. A model that does not fit the board's
    flash or RAM fails with the numbers; where only the RAM is short (or over --ram-budget), its early
    layers run band by band if that fits.
    """
    b = get_board(board).with_console(console)
    out_dir = output or Path("build") / f"{model.stem}-{b.name}"
    data, kind = model_bytes(model, calib, calib_limit)
    argv = ["tinyq", *sys.argv[1:]] if sys.argv and sys.argv[0].endswith("tinyq") else ["tinyq", "build", str(model), "--board", board, "-o", str(out_dir)]
    command = " ".join(shlex.quote(a) for a in argv if a not in ("--json", "-v", "--verbose"))
    res = build(model, b, out_dir, name=name, mlperf_model=mlperf_model, command=command, tflite_bytes=data, kernels=kernels, wide=wide,
                keep_input=keep_input, ram_budget=ram_budget, pack_weights=pack_weights)
    if as_json:
        emit_json({"board": b.name, "console": b.console_name, "output": str(out_dir), "model": str(model), "converted": kind == "keras",
                   "files": sorted(p.name for p in out_dir.iterdir()), "sizes": res.sizes.to_json(),
                   "arena_bytes": res.manifest.arena_bytes, "arena_lower_bound": res.manifest.arena_lower_bound,
                   "ram_tflm": res.manifest.ram_tflm, "keep_input": res.manifest.keep_input,
                   "patches": list(res.manifest.patches)})
        return
    on = f", console {b.console_name}: {b.console['driver']}" if b.console_options else ""
    out.print(size_table(f"tinyq build: {model.name} for {b.name} ({b.core}, {b.clock_hz / 1e6:g} MHz{on})", res.sizes,
                         wide=res.manifest.wide_weights, ram_tflm=res.manifest.ram_tflm))
    for p in res.manifest.patches:
        out.print(f"patch-based: layers {', '.join(map(str, p['layers']))} run in {p['bands']} bands of rows: RAM (arena + I/O) "
                  f"{p['ram_before']:,} -> {p['ram_after']:,} B, {p['extra_macs']:,} MACs computed again (+{p['extra_macs_pct']:g}%)")
    out.print(f"wrote {out_dir}/firmware.elf, .bin, .hex, .map, src/ and build.json")
    run = f"tinyq profile {out_dir}" if b.emulated else f"tinyq flash {out_dir} --board {b.name}, then tinyq profile {out_dir}"
    out.print(f"next: {run}")
