"""`tinyq profile`: cycles per inference and per layer on a board, outputs checked bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from tinyq.build.manifest import load as load_manifest
from tinyq.checks.inputs import load_labels
from tinyq.checks.match import tolerance_text
from tinyq.checks.profile import run_on_device
from tinyq.cli import options
from tinyq.cli.options import CYCLES, CYCLES_FOR, JSON, RETRIES, TIMEOUT
from tinyq.cli.root import app, emit_json, err, out
from tinyq.errors import BadInput, CheckFailed


@app.command("profile")
def profile_cmd(
    build_dir: Path = options.BUILD_DIR,
    board: Optional[str] = options.BOARD_OF_BUILD,
    port: Optional[str] = options.port(),
    runs: int = options.runs(5, "Inferences to run (random inputs); cycles are the median."),
    inputs: Optional[Path] = options.inputs(
        help="Run these inputs instead: .npy (N x input shape), .npz (one array per input), or an .npz with x and y "
             "(class ids): then the device's top-1 accuracy is reported too.",
    ),
    seed: int = options.SEED,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    cycles: bool = CYCLES,
    cycles_for: Optional[str] = CYCLES_FOR,
    as_json: bool = JSON,
) -> None:
    """Measure a build on its board and check the device's outputs against TFLite's reference.

    Loads each input over the serial protocol, runs one inference, and reads back the cycle count
    (instructions under QEMU -icount, DWT cycles on hardware), the cycles of every layer and the raw
    output, which must equal the reference interpreter's byte for byte. Exit 1 on any mismatch.

    On a real serial line: noise that is not the protocol is skipped; an input whose run met a board
    reset, silence or a garbled reply is loaded and run again (--retries, each noted on stderr and
    counted as `retries` in the JSON); anything else stops with one line naming the port, what came
    back and what to do. Exit 1 for a silent or wrong board (the run failed), 2 for a --port that does not exist.

    With --cycles or --cycles-for BOARD (an emulated build), a QEMU plugin records what the last inference
    executed and the estimated cycles of a real core stand beside the instructions, per layer and in total,
    with the milliseconds at that board's clock (`estimate` in the JSON). An estimate, not a measurement.
    """
    manifest = load_manifest(build_dir)
    show = not as_json and err.is_terminal
    with Progress(TextColumn("running on the device"), BarColumn(), MofNCompleteColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("run", total=None)
        res = run_on_device(build_dir, board, port, runs=runs, inputs=inputs, seed=seed,
                            progress=lambda d, t: bar.update(task, completed=d, total=t),
                            timeout=timeout, retries=retries, on_retry=lambda msg: err.print(f"retrying {msg}", markup=False),
                            cycles=cycles, cycles_for=cycles_for)
    sizes = manifest.sizes.to_json() if manifest.sizes is not None else None
    labels = load_labels(inputs) if inputs is not None else None
    accuracy = None
    if labels is not None:
        if len(labels) != res.samples:
            raise BadInput(f"{inputs}: y has {len(labels)} labels for {res.samples} inputs: give one class id per sample")
        pred = np.array([int(np.argmax(o[0].reshape(-1))) for o in res.outputs])
        accuracy = float(np.mean(pred == labels))
    if as_json:
        d = res.to_json(sizes)
        if accuracy is not None:
            d["accuracy"] = accuracy
        emit_json(d)
        if not res.passed:
            raise typer.Exit(1)
        return
    unit = res.cycle_unit
    est = res.estimate
    t = Table(title=f"{Path(manifest.model.source).name} on {res.board}: {unit} per layer (median of {len(res.cycles)} runs)", title_justify="left")
    cols = [("#", "right"), ("op", "left"), (unit, "right"), ("share", "right")]
    if est is not None:
        cols += [(f"est. cycles ({est.timing.board})", "right"), ("per instr.", "right")]
    for col, just in cols:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    total = max(res.median_cycles, 1)
    by_index = {L.index: L for L in est.layers} if est is not None else {}
    for L in res.layer_table():
        row = [str(L["index"]), L["op"], f"{L['cycles']:,}", f"{100.0 * L['cycles'] / total:.1f}%"]
        if est is not None:
            e = by_index.get(L["index"])
            row += [f"{e.cycles:,}", f"{e.cycles / max(e.instructions, 1):.2f}"] if e is not None else ["", ""]
        t.add_row(*row)
    t.add_section()
    last = [f"[bold]{est.cycles:,}[/]", f"{est.cpi:.2f}"] if est is not None else []
    t.add_row("", "[bold]inference[/]", f"[bold]{res.median_cycles:,}[/]", "", *last)
    out.print(t)
    out.print(f"{unit} per inference: {res.median_cycles:,} ({res.cycle_source}); latency at {res.clock_hz / 1e6:g} MHz: {res.latency_ms:.2f} ms")
    if est is not None:
        out.print(f"estimated {est.timing.core} cycles per inference: {est.cycles:,} ({est.cpi:.2f} per instruction, "
                  f"{est.flash_stall_cycles:,} of them flash wait states); {est.ms:.2f} ms on {est.timing.assumptions()}", markup=False)
    if sizes is not None:  # None for a `tinyq export --arduino` directory: the Arduino IDE links and sizes the sketch
        out.print(f"flash: {sizes['flash']:,} B (code {sizes['code']:,}, weights {sizes['weights']:,})   "
                  f"RAM: {sizes['ram']:,} B (arena {sizes['arena']:,}, "
                  + (f"state {sizes['state']:,}, " if sizes.get("state") else "")
                  + f"stack {sizes['stack']:,}, other {sizes['ram_other']:,})")
    if not res.passed:
        f = res.first_mismatch
        raise CheckFailed(
            f"device output differs from the TFLite reference on {res.mismatches} of {res.samples} inputs; first at input "
            f"{f['sample']}, output {f['output']}[{f['index']}]: got {f['got']:g}, want {f['want']:g}"
        )
    if accuracy is not None:
        out.print(f"top-1 accuracy on the device: {100 * accuracy:.2f}% ({res.samples} labelled inputs)")
    if res.retries:
        out.print(f"retries: {res.retries} (inputs run again after a reset, a timeout or a garbled reply)")
    if not res.bit_exact:  # a float32 model within its tolerance
        out.print(f"within tolerance ({tolerance_text(res.tolerance)}): {res.samples} inputs, {res.differing} not bit-identical; "
                  f"max |diff| {res.max_abs_diff:.3g}, max relative {res.max_rel_diff:.3g}")
        return
    out.print(f"bit-exact: {res.samples} inputs, device output identical to the TFLite reference")
