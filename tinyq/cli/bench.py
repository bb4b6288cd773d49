"""`tinyq bench`: instructions, bytes and ratios to TFLM for models on a board; the shape sweep (--sweep); limits for CI."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

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
from tinyq.checks.bench import Tflm, bench_model, load_baseline, markdown
from tinyq.checks.sweep import (
    SweepResult,
    load_sweep_baseline,
    run_sweep,
    summary,
    sweep_rows,
    worst_first,
)
from tinyq.checks.sweep import markdown as sweep_markdown
from tinyq.cli import options
from tinyq.cli.options import CYCLES, CYCLES_FOR, JSON, KERNELS, WIDE
from tinyq.cli.root import app, emit_json, err, out
from tinyq.errors import BadInput, CheckFailed, TinyqError


@app.command("bench")
def bench_cmd(
    models: Optional[List[Path]] = typer.Argument(None, help="Full-int8 .tflite models (none needed with --sweep or --sweep-models).", show_default=False),
    board: str = options.board("Board to run on (emulated boards need no hardware).", required=True),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="A TFLM baseline JSON (../shared/baseline/tflm_cortex_m4.json) to compare with."),
    runs: int = options.runs(3, "Inferences per model (random inputs); the median counts."),
    md: bool = typer.Option(False, "--markdown", help="Print a Markdown section (what BENCHMARKS.md is made of)."),
    kernels: str = KERNELS,
    wide: bool = WIDE,
    pack_weights: str = options.PACK_WEIGHTS,
    as_json: bool = JSON,
    sweep: bool = typer.Option(False, "--sweep", help="Measure the shape sweep: single layers (convolutions, depthwise, fully connected, pooling, ADD; int8 and int16) over a grid of shapes, each layer's instructions, per MAC and kernel, built many to a firmware and checked bit-exact (`python -m tinyq.checks.sweep --rows` lists the rows)."),
    quick: bool = typer.Option(False, "--quick", help="With --sweep: the quick grid (about 20 rows, a minute)."),
    baseline_sweep: Optional[Path] = typer.Option(None, "--baseline-sweep", help="A CMSIS-NN baseline of the sweep's rows and models (cmsis_sweep_<core>.json): its instructions and the ratio beside each row and composite model."),
    sweep_models: bool = typer.Option(False, "--sweep-models", help="Bench the composite models too: MobileNet v1 0.25 and v2 0.35 at 96x96, a DS-CNN, the fully connected autoencoder, ResNet-8, converted once (TensorFlow) from seeded random weights and cached in --models-dir."),
    models_dir: Path = typer.Option(Path("build/sweep_models"), "--models-dir", help="Where --sweep-models keeps the converted .tflite files."),
    max_instructions: Optional[int] = typer.Option(None, "--max-instructions", min=1, metavar="N", help="Fail (exit 1) if a model takes more than N instructions (cycles on hardware) per inference."),
    max_arena: Optional[int] = typer.Option(None, "--max-arena", min=1, metavar="B", help="Fail (exit 1) if a model's arena is larger than B bytes (the arena column)."),
    max_code: Optional[int] = typer.Option(None, "--max-code", min=1, metavar="B", help="Fail (exit 1) if a model's code (all flash but the weights) is larger than B bytes."),
    cycles: bool = CYCLES,
    cycles_for: Optional[str] = CYCLES_FOR,
) -> None:
    """Benchmark models on a board: instructions (or cycles), per MAC, arena, code and weight bytes.

    Each model is built, run on the board (QEMU with -icount for emulated boards) and checked
    bit-exact; with --baseline the TFLM figures and the ratios stand beside it.

    --sweep measures single layers over a grid of shapes (one input per firmware; the table worst row first).

    --cycles-for nucleo-l4r5zi (a board of the build's core) adds estimated cycles and milliseconds on that
    board at its clock and flash wait states, from what QEMU executed (see `tinyq profile --cycles-for`).

    Limits for CI: exit 1 with one line per model and limit exceeded ("kws: 3,883,840 instructions > --max-instructions 3,000,000"), 0 when every limit holds:

    tinyq bench model.tflite --board qemu-m4 --max-instructions 3000000 --max-arena 16384 --max-code 16384
    """
    b = get_board(board)
    models = list(models or [])
    if not models and not sweep and not sweep_models:
        raise BadInput("nothing to bench: give one or more .tflite models, or --sweep / --sweep-models")
    if quick and not sweep:
        raise BadInput("--quick picks the sweep's quick grid: give it with --sweep")
    limits = {"--max-instructions": max_instructions, "--max-arena": max_arena, "--max-code": max_code}
    if any(v is not None for v in limits.values()) and not models and not sweep_models:
        raise BadInput("--max-instructions, --max-arena and --max-code hold models: give .tflite models or --sweep-models")
    base = load_baseline(baseline) if baseline is not None else None
    sweep_base = load_sweep_baseline(baseline_sweep, b) if baseline_sweep is not None else None
    if sweep_base is not None:  # its composite models' figures stand where a TFLM baseline has none
        base = base or {}
        for stem, f in sweep_base["models"].items():
            if all(f.get(k) for k in ("instructions", "arena_bytes", "code_bytes")):
                base.setdefault(stem, {}).setdefault("cmsis", Tflm("cmsis", int(f["instructions"]), int(f["arena_bytes"]),
                                                                    int(f["code_bytes"])))
    if sweep_models:
        from tinyq.checks.sweep_models import model_paths

        models += model_paths(models_dir, progress=lambda n: err.print(f"converting {n} with TensorFlow (once: kept in {models_dir}) ..."))
    rows = []
    unbuilt, failing = [], []  # composite models not measured (the board cannot take them: noted) and the failing ones
    for m in models:
        if not as_json and not md:
            err.print(f"benchmarking {m.name} on {b.name} ...")
        try:
            rows.append(bench_model(m, b, runs=runs, baseline=base, kernels=kernels, wide=wide, cycles=cycles, cycles_for=cycles_for,
                                    pack_weights=pack_weights))
        except TinyqError as e:
            if not (sweep_models and m.parent == models_dir):
                raise
            unbuilt.append(f"{m.stem}: {e}")
            if not isinstance(e, BadInput):  # too big for the board is a fact about the board, anything else a failure
                failing.append(unbuilt[-1])
    variant = (f" --kernels {kernels}" if kernels != "fast" else "") + (" --wide-weights" if wide else "")
    given = [m for m in models if not sweep_models or m.parent != models_dir]
    command = ("tinyq bench " + " ".join(shlex.quote(str(m)) for m in given) + (" --sweep-models" if sweep_models else "")
               + (f" --models-dir {models_dir}" if sweep_models and models_dir != Path("build/sweep_models") else "")
               + f" --board {b.name}" + (f" --baseline {baseline}" if baseline else "")
               + (f" --baseline-sweep {baseline_sweep}" if baseline_sweep and sweep_models else "") + f" --runs {runs}" + variant
               + (f" --cycles-for {cycles_for}" if cycles_for else " --cycles" if cycles else ""))
    command = command.replace("tinyq bench  ", "tinyq bench ")
    swept = _sweep(b, quick, sweep_base, kernels, wide, show=err.is_terminal) if sweep else None
    sweep_command = (f"tinyq bench --sweep{' --quick' if quick else ''} --board {b.name}"
                     + (f" --baseline-sweep {baseline_sweep}" if baseline_sweep else "") + variant)
    exceeded = [line for r in rows for line in _exceeded(r, limits)]
    if as_json:
        d = {"board": b.name}
        if rows or unbuilt:
            d.update(command=command, models=[r.to_json() for r in rows], not_measured=unbuilt)
        if swept is not None:
            d["sweep"] = dict(swept.to_json(), command=sweep_command, summary=summary(swept))
        if any(v is not None for v in limits.values()):
            d["limits"] = {k: v for k, v in limits.items() if v is not None}
            d["exceeded"] = exceeded
        emit_json(d)
    elif md:
        models_md = markdown(rows, b, command) + "".join(f"\nNot measured: {u}\n" for u in unbuilt)
        if sweep_models and not given:
            models_md = models_md.replace(f"### {b.name}", f"### Composite models on {b.name}", 1)
        texts = [models_md] if rows or unbuilt else []
        texts += [sweep_markdown(swept, b, sweep_command)] if swept else []
        out.print("\n".join(texts), markup=False, end="")
    else:
        if swept is not None:
            _print_sweep(swept)
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
            row("RAM (TFLM count) bytes", r.ram_tflm, cm.arena_bytes if cm else None)
            t.add_row("arena lower bound", f"{r.arena_lower_bound:,}", *(["", ""] if cm else []))
            row("code bytes", r.code_bytes, cm.code_bytes if cm else None)
            t.add_row("weight bytes", f"{r.weight_bytes:,}", *(["", ""] if cm else []))
            if r.estimate:
                e = r.estimate
                t.add_row(f"est. cycles on {e['board']}", f"{e['cycles']:,}", *(["", ""] if cm else []))
                t.add_row(f"est. ms at {e['clock_hz'] / 1e6:g} MHz", f"{e['ms']:.2f}", *(["", ""] if cm else []))
            t.add_row("bit-exact", r.check, *(["", ""] if cm else []))
            out.print(t)
    problems = []  # one line each
    bad = [r.model for r in rows if not r.passed]
    if bad:
        problems.append(f"not bit-exact on {b.name}: {', '.join(bad)}: run `tinyq profile` on a build of it for the first mismatch")
    if failing:
        problems.append(f"not measured on {b.name}: {'; '.join(failing)}")
    if swept is not None and swept.failed:
        f = swept.failed[0]
        problems.append(f"sweep on {b.name}: {len(swept.failed)} of {len(swept.rows)} rows failed, first {f.row['id']}: "
                        f"{f.error or 'not bit-exact'}")
    if problems or exceeded:
        raise CheckFailed("\n".join(problems + exceeded))


def _exceeded(r, limits: dict) -> list[str]:
    """One line per limit `r` (a BenchRow) exceeds."""
    figures = {"--max-instructions": (r.instructions, r.cycle_unit), "--max-arena": (r.arena_bytes, "arena bytes"),
               "--max-code": (r.code_bytes, "code bytes")}
    return [f"{r.model}: {figures[k][0]:,} {figures[k][1]} > {k} {v:,}"
            for k, v in limits.items() if v is not None and figures[k][0] > v]


def _sweep(b, quick: bool, base: dict | None, kernels: str, wide: bool, show: bool) -> SweepResult:
    """The sweep's rows measured on `b`, with a progress bar over the firmwares on a terminal."""
    rows = sweep_rows(quick)
    with Progress(TextColumn("sweep {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not show) as bar:
        task = bar.add_task(f"({len(rows)} rows) on {b.name}", total=None)
        return run_sweep(rows, b, base, kernels=kernels, wide=wide,
                         progress=lambda done, total, _g: bar.update(task, completed=done, total=total))


def _print_sweep(res: SweepResult) -> None:
    t = Table(title=f"shape sweep on {res.board}, worst first", show_header=True, title_justify="left")
    has_base = any(r.baseline is not None for r in res.rows)
    for name in ("row", "MACs", res.cycle_unit, "per MAC", "kernel") + (("CMSIS-NN", "ratio") if has_base else ()):
        t.add_column(name, justify="left" if name in ("row", "kernel") else "right", no_wrap=True)
    for r in worst_first(res.rows):
        cells = [r.row["id"], f"{r.row['macs']:,}", f"{r.instructions:,}" if r.instructions is not None else (r.error or "-"),
                 f"{r.per_mac:.2f}" if r.per_mac is not None else "-", r.kernel or "-"]
        if has_base:
            theirs = (r.baseline or {}).get("instructions")
            cells += [f"{theirs:,}" if theirs else "-", f"{r.ratio:.2f}" if r.ratio is not None else "-"]
        t.add_row(*cells)
    out.print(t)
    out.print(summary(res), markup=False, highlight=False)
