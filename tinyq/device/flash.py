"""Programming a build onto real hardware: the board file's `flasher` names the tools to try.

`flasher` (boards/schema.json) holds:
    tools          tools tried in turn: "samba", "bossac", "openocd", "st-flash", "uf2"
    image          the build file to program: "bin", "elf", "hex" or "uf2" (a tool that cannot take
                   it uses its own: st-flash, bossac and samba program the .bin, uf2 the .bin as UF2)
    address        physical load address of the image (the .bin's first byte)
    openocd_config openocd -f scripts, in order
    touch_1200     reboot the board into its bootloader with a 1200-baud touch first
    bootloader_usb_ids, uf2_family, uf2_volume
and the board's `usb_ids` find its console port when --port is not given.

The first tool on the list that is installed is used (samba and uf2 are built in), or --tool.
Everything the tool needs comes from those fields; nothing here knows a board's name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from tinyq.boards import Board
from tinyq.build.manifest import ELF, resolve_board
from tinyq.build.manifest import load as load_manifest
from tinyq.device import samba as sb
from tinyq.device import uf2
from tinyq.errors import BadInput, CheckFailed, ToolMissing

TOOLS = ("samba", "bossac", "openocd", "st-flash", "uf2")
BUILTIN = ("samba", "uf2")  # written in Python here: always available
# Image formats each tool can program, preferred first.
ACCEPTS = {"openocd": ("elf", "hex", "bin"), "st-flash": ("bin", "hex"), "bossac": ("bin",), "samba": ("bin",), "uf2": ("bin",)}
INSTALL = {
    "openocd": "install it with `apt-get install openocd`",
    "st-flash": "install it with `apt-get install stlink-tools`",
    "bossac": "install Arduino's bossac 1.9.1-arduino2 (Debian's bossa-cli lacks the nRF52840)",
}
VERIFIES = {"openocd": True, "st-flash": True, "bossac": False}  # `verify`; st-flash reads back; bossac only with -v
TOOL_TIMEOUT = 300.0  # seconds for an external flasher

Progress = Callable[[int, int], None]


class FlashFailed(CheckFailed):
    """The flasher ran and failed (exit 1)."""


@dataclass
class FlashResult:
    board: str
    tool: str
    port: str | None
    bytes: int
    address: int
    verified: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["address"] = f"{self.address:#010x}"
        d["seconds"] = round(self.seconds, 3)
        return d


def nothing_to_flash(board: Board, build_dir: Path) -> BadInput:
    if board.emulated:
        return BadInput(f"{board.name} is emulated: nothing to flash; run `tinyq profile {build_dir}` (it starts QEMU)")
    return BadInput(f"{board.name} has no flasher: add a \"flasher\" entry to {board.path.name} (see boards/schema.json)")


def available(tool: str) -> bool:
    return tool in BUILTIN or shutil.which(tool) is not None


def pick_tool(board: Board, tool: str | None) -> str:
    tools = list(board.flasher["tools"])
    if tool is not None:
        if tool not in TOOLS:
            raise BadInput(f"unknown flasher '{tool}': choose one of {', '.join(tools)}")
        if tool not in tools:
            raise BadInput(f"{board.name} cannot be flashed with {tool}: use one of {', '.join(tools)}")
        if not available(tool):
            raise ToolMissing(_missing(tool, [t for t in tools if t != tool]))
        return tool
    for t in tools:
        if available(t):
            return t
    raise ToolMissing(_missing(tools[0], tools[1:]))


def _missing(tool: str, others: list[str]) -> str:
    alt = f" or pass --tool {' / '.join(others)}" if others else ""
    return f"{tool} not found: {INSTALL.get(tool, 'install it')}{alt}"


def image_for(tool: str, flasher: dict) -> str:
    kind = flasher.get("image", "bin")
    fmts = ACCEPTS[tool]
    return kind if kind in fmts else fmts[0]


def image_path(build_dir: Path, fmt: str) -> Path:
    p = Path(build_dir) / (ELF if fmt == "elf" else f"firmware.{fmt}")
    if not p.is_file():
        raise BadInput(f"{build_dir} has no {p.name}: rebuild with `tinyq build MODEL --board B -o {build_dir}`")
    return p


def last_meaningful(text: str) -> str:
    """The line of a tool's output that says why it failed: its last error line, else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
    return (errors or lines or ["no output"])[-1]


def run_tool(argv: list[str]) -> None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except FileNotFoundError:
        raise ToolMissing(_missing(argv[0], [])) from None
    except subprocess.TimeoutExpired:
        raise FlashFailed(f"{argv[0]} did not finish within {TOOL_TIMEOUT:g} s: unplug and replug the board, then flash again") from None
    if r.returncode != 0:
        why = last_meaningful(r.stderr) if r.stderr.strip() else last_meaningful(r.stdout)
        raise FlashFailed(
            f"{argv[0]} failed (exit {r.returncode}): {why} (run with -v for its output)",
            detail=f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}",
        )


# ---------------------------------------------------------------- command lines


def _tcl_word(path: str) -> str:
    return path if re.fullmatch(r"[\w./:+-]+", path) else "{" + path + "}"


def openocd_argv(flasher: dict, image: Path, fmt: str, address: int) -> list[str]:
    cfgs = flasher.get("openocd_config") or []
    if not cfgs:
        raise BadInput("the board's flasher lists openocd but has no openocd_config: add its -f scripts to the board file")
    where = f" {address:#010x}" if fmt == "bin" else ""  # a .bin has no addresses of its own
    argv = ["openocd"]
    for c in cfgs:
        argv += ["-f", c]
    return argv + ["-c", f"program {_tcl_word(str(image))}{where} verify reset exit"]


def stflash_argv(image: Path, fmt: str, address: int) -> list[str]:
    if fmt == "hex":
        return ["st-flash", "--reset", "--format", "ihex", "write", str(image)]
    return ["st-flash", "--reset", "write", str(image), f"{address:#010x}"]


def bossac_argv(port: str, image: Path, address: int) -> list[str]:
    # bossac addresses the Arduino bootloader's space (0 = APP_BASE); --offset only off the default.
    off = address - sb.APP_BASE
    if off < 0:
        raise BadInput(f"flasher.address {address:#x} is inside the bootloader (0x0-{sb.APP_BASE - 1:#x}): set it to {sb.APP_BASE:#x} in the board file")
    return ["bossac", "-d", f"--port={port}", "-U", "-i", "-e", "-w", *([f"--offset={off:#x}"] if off else []), str(image), "-R"]


# ---------------------------------------------------------------- the flow


def serial_port(board: Board, port: str | None) -> str:
    """The port to talk to the bootloader on: after a 1200-baud touch when the board asks for one."""
    f = board.flasher
    boot_ids = list(f.get("bootloader_usb_ids") or [])
    if port is None:
        boot = sb.find_ports(boot_ids)
        if boot:
            return boot[0]  # in its bootloader already (double-tapped reset)
        app_ids = list(board.usb_ids)
        app = sb.find_ports(app_ids)
        if not app:
            looked = ", ".join(app_ids + boot_ids) or "no USB ids in the board file"
            raise BadInput(f"no {board.name} found on USB (looked for {looked}): plug it in, or give its serial port with --port")
        port = app[0]
    elif port in sb.find_ports(boot_ids):
        return port
    if f.get("touch_1200"):
        sb.touch_1200(port)
        return sb.wait_for_bootloader(port, boot_ids)
    return port


def flash(build_dir: Path, board_name: str | None = None, port: str | None = None, tool: str | None = None,
          progress: Progress | None = None) -> FlashResult:
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    board = resolve_board(manifest, board_name)
    f = board.flasher
    if f is None:
        raise nothing_to_flash(board, build_dir)
    t = pick_tool(board, tool)
    fmt = image_for(t, f)
    image = image_path(build_dir, fmt)
    address = int(f["address"], 16)
    binary = build_dir / "firmware.bin"
    nbytes = (binary if binary.is_file() else image).stat().st_size
    t0 = time.monotonic()
    used_port: str | None = None
    verified = VERIFIES.get(t, False)
    if t == "samba":
        used_port = serial_port(board, port)
        with sb.Samba(used_port) as s:
            verified = sb.program(s, image.read_bytes(), address, progress)
    elif t == "uf2":
        if "uf2_family" not in f:
            raise BadInput(f"{board.name}'s flasher lists uf2 but has no uf2_family: add it to {board.path.name}")
        blob = uf2.bin_to_uf2(image.read_bytes(), address, int(f["uf2_family"], 16))
        (build_dir / "firmware.uf2").write_bytes(blob)
        drive = uf2.find_volume(f.get("uf2_volume", "RPI-RP2"), port)
        used_port = str(drive)
        uf2.copy_to_volume(blob, drive)
        verified = False  # the drive programs what it receives; nothing reads it back
        if progress is not None:
            progress(nbytes, nbytes)
    elif t == "bossac":
        used_port = serial_port(board, port)
        run_tool(bossac_argv(used_port, image, address))
    elif t == "openocd":
        run_tool(openocd_argv(f, image, fmt, address))
    else:
        run_tool(stflash_argv(image, fmt, address))
    return FlashResult(board=board.name, tool=t, port=used_port, bytes=nbytes, address=address,
                       verified=verified, seconds=time.monotonic() - t0)
