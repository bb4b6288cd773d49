"""`tinyq boards`: the boards tinyq can build for, from boards/*.json."""

from __future__ import annotations

from rich.table import Table

from tinyq.boards import all_boards
from tinyq.cli.options import JSON
from tinyq.cli.root import app, emit_json, out


def _kib(n: int) -> str:
    return f"{n // 1024:,} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):g} MiB"


@app.command("boards")
def boards_cmd(as_json: bool = JSON) -> None:
    """List the boards: core, clock, memory, console, cycle counter and how they run.

    Each board is one file in boards/ checked against boards/schema.json; `--board NAME` in
    build, emulate, profile and verify takes the name, or the path of a board file of your own.
    """
    boards = all_boards()
    if as_json:
        emit_json([b.to_json() for b in boards.values()])
        return
    t = Table(title="boards", title_justify="left")
    for col, just in [("board", "left"), ("core", "left"), ("ext", "left"), ("clock", "right"), ("flash", "right"), ("RAM", "right"), ("counter", "left"), ("runs on", "left")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for b in boards.values():
        ext = "+".join(["fpu"] * bool(b.fpu) + list(b.extensions)) or "-"
        runs = f"QEMU {b.emulator['machine']}" if b.emulator else "hardware"
        t.add_row(b.name, b.core, ext, f"{b.clock_hz / 1e6:g} MHz", _kib(b.flash.length), _kib(b.ram.length), f"{b.cycle_counter['driver']} ({b.cycle_unit})", runs)
    out.print(t)
