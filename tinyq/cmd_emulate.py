"""`tinyq emulate`: run a build in QEMU and hand its serial port to any tool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from .build import ELF, load_manifest, resolve_board
from .cli import app, out
from .emulator import Qemu
from .errors import BadInput, CheckFailed


@app.command("emulate")
def emulate_cmd(
    build_dir: Path = typer.Argument(..., help="A build directory from `tinyq build`.", show_default=False),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Board (defaults to the build's)."),
    serial: str = typer.Option("pty", "--serial", help="Where the UART goes: pty (a /dev/pts path) or tcp:PORT (socket://127.0.0.1:PORT)."),
) -> None:
    """Run the firmware in QEMU (-icount: deterministic instruction counts) until Ctrl-C.

    Prints the serial port; connect with `python -m serial.tools.miniterm PORT`, screen, the MLPerf
    Tiny runner or `tinyq profile BUILD --port PORT`. With tcp:PORT the firmware starts when the
    first client connects, so the boot lines are not lost.
    """
    manifest = load_manifest(build_dir)
    b = resolve_board(manifest, board)
    if serial != "pty" and not (serial.startswith("tcp:") and serial[4:].isdigit()):
        raise BadInput(f"--serial {serial}: give pty or tcp:PORT (e.g. tcp:4321)")
    q = Qemu(Path(build_dir) / ELF, b, serial=serial).start()
    try:
        out.print(f"{b.name}: QEMU {b.emulator['machine']} running {build_dir}/{ELF}")
        out.print(f"serial port: {q.url}")
        out.print("Ctrl-C stops it", style="dim")
        while q.alive():
            time.sleep(0.2)
        raise CheckFailed(f"QEMU stopped on its own: {' | '.join(q.log[-3:]) or 'no output'}")
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        q.stop()
