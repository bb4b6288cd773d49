"""`tinyq emulate`: run a build in QEMU (or Renode) and hand its serial port to any tool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from tinyq.build.manifest import ELF, resolve_board
from tinyq.build.manifest import load as load_manifest
from tinyq.cli import options
from tinyq.cli.root import app, out
from tinyq.device.qemu import Qemu, free_port
from tinyq.errors import BadInput, CheckFailed

ENGINES = ("qemu", "renode")


@app.command("emulate")
def emulate_cmd(
    build_dir: Path = options.BUILD_DIR,
    board: Optional[str] = options.BOARD_OF_BUILD,
    serial: Optional[str] = typer.Option(None, "--serial", help="Where the UART goes: pty (a /dev/pts path, QEMU only) or tcp:PORT (socket://127.0.0.1:PORT). Default: pty under QEMU, a free TCP port under Renode."),
    engine: str = typer.Option("qemu", "--engine", help="qemu (the qemu-* boards) or renode (boards with a renode field: nano33 built with --console uart, disco-f746)."),
    write_only: bool = typer.Option(False, "--write-only", help="Renode: write BUILD/renode/<board>.resc and .robot and stop (to run them where Renode is installed)."),
    test: bool = typer.Option(False, "--test", help="Renode: run the Robot test (boot, tq-info, one inference bit-exact with the reference) with renode-test instead of serving the console."),
) -> None:
    """Run the firmware in QEMU (-icount: deterministic instruction counts) or Renode until Ctrl-C.

    Prints the serial port; connect with `python -m serial.tools.miniterm PORT`, screen, the MLPerf
    Tiny runner or `tinyq profile BUILD --port PORT`. With tcp:PORT under QEMU the firmware starts when
    the first client connects, so the boot lines are not lost. With --engine renode the Renode script
    and Robot test are written to BUILD/renode/ first; without renode on PATH the command says where
    they are and how to install Renode.
    """
    if engine not in ENGINES:
        raise BadInput(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
    manifest = load_manifest(build_dir)
    b = resolve_board(manifest, board)
    if serial is not None and serial != "pty" and not (serial.startswith("tcp:") and serial[4:].isdigit()):
        raise BadInput(f"--serial {serial}: give pty or tcp:PORT (e.g. tcp:4321)")
    if engine == "renode":
        _renode(build_dir, b, board, serial, write_only, test)
        return
    if write_only or test:
        raise BadInput("--write-only and --test are for --engine renode: add it, or drop them")
    q = Qemu(Path(build_dir) / ELF, b, serial=serial or "pty").start()
    _serve(q, "QEMU", f"{b.name}: QEMU {b.emulator['machine']} running {build_dir}/{ELF}")


def _serve(proc, engine: str, banner: str) -> None:
    """Print where the console is and keep the emulator running until Ctrl-C."""
    try:
        out.print(banner)
        out.print(f"serial port: {proc.url}")
        out.print("Ctrl-C stops it", style="dim")
        while proc.alive():
            time.sleep(0.2)
        raise CheckFailed(f"{engine} stopped on its own: {' | '.join(proc.log[-3:]) or 'no output'}")
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        proc.stop()


def _renode(build_dir: Path, b, board_opt: Optional[str], serial: Optional[str], write_only: bool, test: bool) -> None:
    from tinyq.device import renode

    if write_only and test:
        raise BadInput("--write-only and --test exclude each other: pick one")
    if serial == "pty":
        raise BadInput("--serial pty: Renode's console here is a TCP socket: give tcp:PORT, or leave --serial out")
    regen = f"tinyq emulate {build_dir} --engine renode --write-only" + (f" --board {board_opt}" if board_opt else "")
    from tinyq.checks.profile import reference_exchange

    exchange = reference_exchange(Path(build_dir), renode.CANDIDATES, renode.SEED)
    scripts = renode.write_scripts(Path(build_dir), b, exchange, command=regen)
    out.print(f"{b.name}: Renode script {scripts.resc}, Robot test {scripts.robot}")
    if write_only:
        out.print(f"run them with `renode-test {scripts.robot}` where Renode is installed", style="dim")
        return
    if test:
        run = renode.run_test(scripts)
        if not run.passed:
            raise CheckFailed(f"the Robot test failed (renode-test exit {run.returncode}): {renode.failure_summary(run)}; "
                              f"logs in {scripts.results}/")
        out.print(f"Robot test passed: boot, tq-info and one inference bit-exact with the reference (logs in {scripts.results}/)")
        return
    port = int(serial[4:]) if serial else free_port()
    r = renode.RenodeProcess(scripts, port).start()
    _serve(r, "renode", f"{b.name}: Renode {b.renode['platform']} running {build_dir}/{ELF}")
