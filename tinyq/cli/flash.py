"""`tinyq flash`: program a build onto its board with the board file's flasher."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from tinyq.cli import options
from tinyq.cli.options import JSON
from tinyq.cli.root import app, emit_json, err, out
from tinyq.device.flash import TOOLS, flash


@app.command("flash")
def flash_cmd(
    build_dir: Path = options.BUILD_DIR,
    board: Optional[str] = options.BOARD_OF_BUILD,
    port: Optional[str] = options.port(
        help="Serial port of the board (e.g. /dev/ttyACM0; found by its USB id when omitted), or the mount point of a UF2 drive. "
             "openocd and st-flash find their probe themselves.",
    ),
    tool: Optional[str] = typer.Option(None, "--tool", "-t", help=f"Flasher to use ({', '.join(TOOLS)}) instead of the first installed one the board lists."),
    as_json: bool = JSON,
) -> None:
    """Program a build's firmware onto its board.

    The board file's `flasher` lists the tools to try (SAM-BA over USB serial and UF2 copy are built
    in; openocd, st-flash and bossac are run), the image and its load address. Boards with a 1200-baud
    touch are rebooted into their bootloader first. Emulated boards need no flashing.
    """
    show = not as_json and err.is_terminal
    with Progress(TextColumn("flashing"), BarColumn(), DownloadColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("flash", total=None)
        res = flash(build_dir, board, port, tool, progress=lambda d, t: bar.update(task, completed=d, total=t))
    if as_json:
        emit_json(res.to_json())
        return
    where = f" via {res.port}" if res.port else ""
    check = "verified" if res.verified else "not read back"
    out.print(f"flashed {res.bytes:,} B at {res.address:#010x} on {res.board} with {res.tool}{where} in {res.seconds:.1f} s ({check})")
    out.print(f"next: tinyq profile {build_dir} --port PORT")
