"""`tinyq bench`: instructions, bytes and ratios to TFLM for models on a board."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from tinyq.boards import get_board
from tinyq.checks.bench import bench_model, load_baseline, markdown
from tinyq.cli import options
from tinyq.cli.options import JSON, KERNELS, WIDE
from tinyq.cli.root import app, emit_json, err, out
from tinyq.errors import CheckFailed


@app.command("bench")
def bench_cmd(
    models: List[Path] = typer.Argument(..., help="One or more full-int8 .tflite models.", show_default=False),
    board: str = options.board("Board to run on (emulated boards need no hardware).", required=True),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="A TFLM baseline JSON (../shared/baseline/tflm_cortex_m4.json) to compare with."),
    runs: int = options.runs(3, "Inferences per model (random inputs); the median counts."),
    md: bool = typer.Option(False, "--markdown", help="Print a Markdown section (what BENCHMARKS.md is made of)."),
    kernels: str = KERNELS,
    wide: bool = WIDE,
    as_json: bool = JSON,
) -> None:
    """Benchmark models on a board: instructions (or cycles), per MAC, arena, code and weight bytes.

    Each model is built, run on the board (QEMU with -icount for emulated boards) and checked
    bit-exact; with --baseline the TFLM figures and the ratios stand beside it.
    """
    b = get_board(board)
    base = load_baseline(baseline) if baseline is not None else None
    rows = []
    for m in models:
        if not as_json and not md:
            err.print(f"benchmarking {m.name} on {b.name} ...")
        rows.append(bench_model(m, b, runs=runs, baseline=base, kernels=kernels, wide=wide))
    command = "tinyq bench " + " ".join(shlex.quote(str(m)) for m in models) + f" --board {b.name}" + (f" --baseline {baseline}" if baseline else "") + f" --runs {runs}"
    command += (f" --kernels {kernels}" if kernels != "fast" else "") + (" --wide-weights" if wide else "")
    if as_json:
        emit_json({"board": b.name, "command": command, "models": [r.to_json() for r in rows]})
    elif md:
        out.print(markdown(rows, b, command), markup=False, end="")
    else:
        for r in rows:
            t = Table(title=f"{r.model} on {b.name}", show_header=True, title_justify="left")
            t.add_column("figure", no_wrap=True)
            t.add_column("tinyq", justify="right", no_wrap=True)
            cm = r.tflm.get("cmsis")
            if cm:
                t.add_column("TFLM + CMSIS-NN", justify="right", no_wrap=True)
                t.add_column("ratio", justify="right", no_wrap=True)
            def row(name, mine, theirs=None):
                cells = [name, f"{mine:,}"]
                if cm:
                    cells += [f"{theirs:,}" if theirs is not None else "-", f"{mine / theirs:.2f}" if theirs else "-"]
                t.add_row(*cells)
            row(r.cycle_unit, r.instructions, cm.instructions if cm else None)
            t.add_row(f"{r.cycle_unit} per MAC", f"{r.per_mac:.2f}", *([f"{cm.instructions / r.macs:.2f}", "-"] if cm else []))
            row("arena bytes", r.arena_bytes, cm.arena_bytes if cm else None)
            t.add_row("arena lower bound", f"{r.arena_lower_bound:,}", *(["", ""] if cm else []))
            row("code bytes", r.code_bytes, cm.code_bytes if cm else None)
            t.add_row("weight bytes", f"{r.weight_bytes:,}", *(["", ""] if cm else []))
            t.add_row("bit-exact", r.check, *(["", ""] if cm else []))
            out.print(t)
    bad = [r.model for r in rows if not r.passed]
    if bad:
        raise CheckFailed(f"not bit-exact on {b.name}: {', '.join(bad)}: run `tinyq profile` on a build of it for the first mismatch")
