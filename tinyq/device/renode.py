"""Renode as a second emulator for boards it models: a .resc machine script and a Robot test per build.

`write_scripts` writes `<build>/renode/<board>.resc` (the machine: the board's platform file, a DWT
counter, the ELF) and `<build>/renode/<board>.robot` (boot, `tq-info`, one inference whose output must
equal TFLite's reference interpreter), from templates/renode_*.j2, atomically and deterministically:
paths are relative ($ORIGIN in the .resc, ${CURDIR} in the .robot), so the directory can be copied to a
machine with Renode. `run_test` runs the Robot test with `renode-test`; `RenodeProcess` runs the machine
with its console on a TCP socket, which `tinyq profile --port socket://127.0.0.1:PORT` opens as with QEMU.

Renode facts relied on (renode/renode and renode/renode-infrastructure):
- platforms/cpus/nrf52840.repl: `uart0: UART.NRF52840_UART @ sysbus 0x40002000 { easyDMA: true }` (the UARTE
  the nano33's `uart` console drives; Peripherals/UART/NRF52840_UART.cs models STARTTX/ENDTX, STARTRX/ENDRX
  and RXD.PTR/MAXCNT); platforms/cpus/stm32f746.repl: `usart1: UART.STM32F7_USART @ sysbus 0x40011000`,
  `cpu: CPU.CortexM`, DWT only a Tag (reads 0), RCC ready bits that follow their enables (STM32F4_RCC.cs).
- Cores/Arm-M/CortexM.cs: without VectorTableOffset the initial SP/PC come from the lowest loaded section,
  so the .resc sets it to the image's vector table (0x10000 after the nano33's bootloader).
- `machine LoadPlatformDescriptionFromString "dwt: Miscellaneous.DWT @ sysbus 0xE0001000 ..."`: CYCCNT =
  virtual time x frequency, and one instruction is 1/PerformanceInMips us of virtual time.
- Robot keywords (RobotFrameworkEngine/UartKeywords.cs): Create Terminal Tester, Wait For Line On Uart
  (substring, or regex with treatAsRegex=true), Write Line To Uart (waitForEcho: the firmware does not echo).
- ServerSocketTerminal.cs: `emulation CreateServerSocketTerminal PORT "name" false` (false: a raw socket,
  no telnet negotiation bytes); Options.cs: `--disable-xwt`, `--console`, `-e` (may be given many times).
- tests/requirements.txt + `renode-test x.robot` is how upstream CI runs Robot suites.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tinyq import __version__
from tinyq.boards import Board, all_boards
from tinyq.build.manifest import ELF, Manifest
from tinyq.build.manifest import load as load_manifest
from tinyq.compiler import template_env
from tinyq.device.protocol import OUT_CHUNK
from tinyq.device.qemu import EmulatorProcess, _is_listening
from tinyq.errors import BadInput, CheckFailed, ToolMissing
from tinyq.fileio import write_text

RENODE = "renode"
RENODE_TEST = "renode-test"
SUBDIR = "renode"
INSTALL = ("install Renode (portable .tar.gz or .deb from builds.renode.io or github.com/renode/renode/releases; "
           "renode-test also needs `pip install -r tests/requirements.txt` from the Renode tree)")
DB_CHUNK = 240  # bytes per `db` line: 3 + 480 characters, under the firmware's 512-character commands
SEED = 0  # the Robot test's input is one of `tinyq profile`'s (make_inputs, seed 0) ...
CANDIDATES = 8  # ... its edge inputs or first 8 random ones (see tinyq.checks.profile.reference_exchange)
TIMEOUT_S = 60  # per Wait For Line On Uart


@dataclass(frozen=True)
class Scripts:
    """The files `write_scripts` made and what running them needs."""

    board: str
    uart: str  # sysbus.<uart>
    resc: Path
    robot: Path

    @property
    def results(self) -> Path:
        return self.resc.parent / "results"


def renode_boards() -> list[str]:
    return [n for n, b in all_boards().items() if b.renode]


def check_build(board: Board, manifest: Manifest) -> dict:
    """The board's renode field, once this build can run under it (the console Renode models)."""
    if not board.renode:
        have = renode_boards()
        raise BadInput(f"Renode has no model of board {board.name}: --engine renode takes a build for "
                       f"{' or '.join(have) if have else 'a board with a renode field'}; use --engine qemu for qemu-* boards")
    want = board.renode["console"]
    got = manifest.console.name
    if got != want:
        raise BadInput(f"this build's console is {got}, but Renode models {board.name}'s console {want} on "
                       f"sysbus.{board.renode['uart']}: rebuild with `tinyq build MODEL --board {board.name} --console {want}`")
    return board.renode


def _vector_table(board: Board) -> int:
    return board.flash.origin + (int(board.boot2["bytes"]) if board.boot2 else 0)


def write_scripts(build_dir: Path, board: Board, exchange: tuple[bytes, bytes], command: str | None = None) -> Scripts:
    """Write <build>/renode/<board>.resc and .robot; the same build gives the same bytes.

    `exchange`: (input bytes, expected output bytes) of the one inference the Robot test runs
    (tinyq.checks.profile.reference_exchange picks it and computes it with the reference)."""
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    rn = check_build(board, manifest)
    if not (build_dir / ELF).exists():
        raise BadInput(f"{build_dir / ELF}: no such firmware: run `tinyq build` again")
    data, expected = exchange
    out_dir = build_dir / SUBDIR
    resc = out_dir / f"{board.name}.resc"
    robot = out_dir / f"{board.name}.robot"
    command = command or "tinyq emulate BUILD --engine renode --write-only"
    dwt = board.cycle_counter["driver"] == "dwt"
    ctx = {
        "board": board.name,
        "platform": rn["platform"],
        "cpu": rn["cpu"],
        "uart": rn["uart"],
        "header_lines": [
            f"Generated by tinyq {__version__} for board {board.name}",
            f"model sha256: {manifest.model.sha256}",
            f"command: {command}",
        ],
        "resc_name": resc.name,
        "robot_name": robot.name,
        "elf": ELF,
        "vector_table": f"{_vector_table(board):#010x}",
        "mips": max(1, round(board.clock_hz / 1e6)),
        "dwt": dwt,
        "dwt_hz": int(board.cycle_counter["tick_hz"]),
        "seed": SEED,
        "candidates": CANDIDATES,
        "timeout": TIMEOUT_S,
        "input_bytes": len(data),
        "chunks": [data[i : i + DB_CHUNK].hex() for i in range(0, len(data), DB_CHUNK)],
        "info_prefix": (f"m-tq-info-[model={manifest.model.name},board={board.name},input={manifest.input_bytes},"
                        f"output={manifest.output_bytes},layers={len(manifest.layers)},"),
        "expected_out": [f"m-tq-out-[{expected[i : i + OUT_CHUNK].hex()}]" for i in range(0, max(1, len(expected)), OUT_CHUNK)],
    }
    env = template_env()
    write_text(resc, env.get_template("renode_resc.j2").render(ctx))
    write_text(robot, env.get_template("renode_robot.j2").render(ctx))
    return Scripts(board=board.name, uart=rn["uart"], resc=resc, robot=robot)


def _tool(name: str, scripts: Scripts) -> str:
    exe = shutil.which(name)
    if not exe:
        raise ToolMissing(f"{name} not found; the scripts are in {scripts.resc.parent}/ ({scripts.resc.name}, "
                          f"{scripts.robot.name}): {INSTALL}")
    return exe


@dataclass
class RobotRun:
    passed: bool
    returncode: int
    log: list[str]


def run_test(scripts: Scripts, timeout: float = 600.0) -> RobotRun:
    """`renode-test <board>.robot -r <renode>/results`: passed when it exits 0."""
    exe = _tool(RENODE_TEST, scripts)
    cmd = [exe, str(scripts.robot), "-r", str(scripts.results)]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
                           cwd=scripts.robot.parent)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"renode-test did not finish within {timeout:.0f} s: see {scripts.results}/ and rerun it by hand") from None
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    return RobotRun(passed=r.returncode == 0, returncode=r.returncode, log=lines)


def failure_summary(run: RobotRun) -> str:
    """The lines of a renode-test log that say what failed (or its last lines)."""
    bad = [ln.strip() for ln in run.log if re.search(r"FAIL|[Ee]rror|not found", ln)]
    return " | ".join((bad or run.log)[-3:]) or "no output"


class RenodeProcess(EmulatorProcess):
    """Renode running the .resc with the board's console on a raw TCP socket (`url` for pyserial)."""

    STOP_TIMEOUT = 10.0

    def __init__(self, scripts: Scripts, port: int):
        self.scripts = scripts
        self.port = port
        self.url = f"socket://127.0.0.1:{port}"
        self.proc = None
        self._stderr = []

    def command(self) -> list[str]:
        return [
            _tool(RENODE, self.scripts), "--console", "--disable-xwt",
            "-e", f"include @{self.scripts.resc}",
            "-e", f'emulation CreateServerSocketTerminal {self.port} "term" false',
            "-e", f"connector Connect sysbus.{self.scripts.uart} term",
            "-e", "start",
        ]

    def start(self, timeout: float = 60.0) -> "RenodeProcess":
        # stdin stays an open pipe: the --console monitor reads it and must not see end-of-file.
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._start_draining()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise CheckFailed(f"renode exited with code {self.proc.returncode}: {' | '.join(self.log[-3:]) or 'no output'}")
            if _is_listening(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise CheckFailed(f"renode did not open the console socket on 127.0.0.1:{self.port} within {timeout:.0f} s")
