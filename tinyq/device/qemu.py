"""QEMU as a board: start the firmware on an emulated Cortex-M and expose its UART as a port.

The serial port is a TCP socket (pyserial opens it as socket://127.0.0.1:PORT) or a pty; with
`-icount shift=N` every instruction advances virtual time by 2^N ns, so the firmware's SysTick counts
instructions deterministically.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from tinyq.boards import Board
from tinyq.errors import BadInput, CheckFailed, ToolMissing

QEMU = "qemu-system-arm"


def qemu_binary() -> str:
    exe = shutil.which(QEMU)
    if not exe:
        raise ToolMissing(f"{QEMU} not found: install it (`apt-get install qemu-system-arm`) or run `make setup`")
    return exe


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """An emulator running in the background, its output drained into `log` (Qemu, renode.RenodeProcess).

    Subclasses set `proc` (stdout a pipe) in their start() and `_stderr = []` in __init__."""

    STOP_TIMEOUT = 5.0  # seconds between terminate and kill

    proc: subprocess.Popen | None
    _stderr: list[str]

    def _start_draining(self) -> None:
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self._stderr.append(line.rstrip())

    @property
    def log(self) -> list[str]:
        return list(self._stderr)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc = None


class Qemu(EmulatorProcess):
    """One QEMU process running a firmware ELF; `url` is what pyserial opens."""

    def __init__(self, elf: Path, board: Board, serial: str = "tcp", extra_args: list[str] | None = None):
        if board.emulator is None:
            raise BadInput(f"board {board.name} is real hardware, not emulated: give --port, or pick a qemu-* board")
        elf = Path(elf)
        if not elf.exists():
            raise BadInput(f"{elf}: no such firmware: run `tinyq build` first")
        self.board = board
        self.elf = elf
        self.serial = serial
        self.extra_args = list(extra_args or [])  # e.g. -plugin (tinyq.device.plugin)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self._stderr: list[str] = []

    def command(self, serial_arg: str) -> list[str]:
        emu = self.board.emulator
        return [
            qemu_binary(), "-M", emu["machine"], "-display", "none", "-monitor", "none",
            "-icount", f"shift={int(emu['icount_shift'])}", "-serial", serial_arg, "-kernel", str(self.elf),
            *self.extra_args,
        ]

    PORT_TRIES = 4  # a port chosen here may be taken by another process before QEMU binds it

    def start(self) -> "Qemu":
        if self.serial == "pty":
            self._spawn(self.command("pty"))
            self.url = self._wait_for_pty()
            self._start_draining()
            return self
        fixed = self.serial.startswith("tcp:")
        for attempt in range(1 if fixed else self.PORT_TRIES):
            port = int(self.serial.split(":", 1)[1]) if fixed else free_port()
            # wait=on: the firmware starts only when a client connects, so no boot line is lost.
            self._spawn(self.command(f"tcp:127.0.0.1:{port},server=on,wait=on"))
            self.url = f"socket://127.0.0.1:{port}"
            self._start_draining()
            try:
                self._wait_listening(port)
                return self
            except CheckFailed:
                lost_race = not fixed and attempt + 1 < self.PORT_TRIES and any(
                    "in use" in line or "Failed to bind" in line for line in self._stderr)
                self.stop()
                if not lost_race:
                    raise
                self._stderr = []
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def _wait_for_pty(self, timeout: float = 10.0) -> str:
        assert self.proc and self.proc.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self._stderr.append(line.rstrip())
            m = re.search(r"(/dev/pts/\d+)", line)
            if m:
                return m.group(1)
        self.stop()
        raise CheckFailed(f"QEMU did not open a pty: {' | '.join(self._stderr[-3:]) or 'no output'}")

    def _wait_listening(self, port: int, timeout: float = 10.0) -> None:
        """Wait until this QEMU listens on the port (without connecting: the first connection starts the
        firmware). Another process's listener on the same port does not count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.05)
                raise CheckFailed(f"QEMU exited with code {self.proc.returncode}: {' | '.join(self._stderr[-3:]) or 'no output'}")
            if _is_listening(port, self.proc.pid):
                return
            time.sleep(0.02)
        self.stop()
        raise CheckFailed(f"QEMU did not open its serial port on 127.0.0.1:{port} within {timeout:.0f} s")

    def __enter__(self) -> "Qemu":
        # `with Qemu(...).start() as q` must not start a second emulator (the first would be left waiting)
        return self if self.alive() else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _is_listening(port: int, pid: int | None = None) -> bool:
    """True when something (process `pid`, if given) listens on 127.0.0.1:port, checked through /proc
    (no connection made)."""
    target = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            if len(parts) > 9 and parts[1].endswith(target) and parts[3] == "0A":  # 0A = LISTEN
                inodes.add(parts[9])
    if not inodes or pid is None:
        return bool(inodes)
    return bool(inodes & _socket_inodes(pid))


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process `pid` holds open ("socket:[N]" links in /proc/PID/fd)."""
    found = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found
