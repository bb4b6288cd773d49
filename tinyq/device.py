"""Talking to a tinyq firmware over a serial port (a board's UART, a QEMU socket or pty).

`Link` moves lines over pyserial; `Dut` speaks the protocol of firmware/protocol/tq_protocol.h:
commands end with '%', replies are lines that end with "m-ready", errors are "e-[...]" lines.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from .errors import BadInput


class DeviceError(BadInput):
    """The device is silent, sends garbage or answers outside the protocol (exit 2, like bad input)."""


class NoDevice(BadInput):
    """Nothing to talk to at the given port (exit 2)."""


class Link:
    """A line-oriented serial connection (pyserial: a device path or a URL such as socket://host:port)."""

    def __init__(self, port: str, baud: int = 115200, connect_timeout: float = 10.0):
        import serial

        self.port = port
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
                break
            except (serial.SerialException, OSError, ValueError) as e:
                if port.startswith("socket://") and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                reason = str(e).split(":")[-1].strip() or type(e).__name__
                raise NoDevice(f"cannot open {port} ({reason}): check the board is plugged in and give its port with --port") from None
        self._buf = b""

    def write(self, text: str) -> None:
        self.ser.write(text.encode("ascii"))
        self.ser.flush()

    def readline(self, timeout: float) -> str | None:
        """One line without its CR/LF, or None when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._buf += self.ser.read(max(1, self.ser.in_waiting))  # waits up to the port's 50 ms timeout
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return line.decode("ascii").strip("\r\0")
        except UnicodeDecodeError:
            raise DeviceError(
                f"garbage on the wire from {self.port}: {line[:40]!r}: check the port and the baud rate, or reset the board"
            ) from None

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:
            pass


@dataclass
class Inference:
    cycles: int
    layers: list[int]
    output: bytes


_LINE = re.compile(r"^[me]-")


class Dut:
    """The protocol client: one command at a time, each answered up to its m-ready."""

    def __init__(self, link: Link, timeout: float = 10.0, infer_timeout: float = 120.0):
        self.link = link
        self.timeout = timeout
        self.infer_timeout = infer_timeout

    def wait_boot(self, timeout: float = 10.0, quiet: float = 0.5) -> None:
        """Wait for a freshly started firmware's boot banner to end, then make sure it answers.

        The port may open mid-banner (pyserial's socket:// discards what arrived before open()
        returned), so banner lines are not checked: the banner ends at its m-ready, or when the line
        is quiet; then `name` confirms the firmware serves.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.link.readline(min(quiet, max(0.0, deadline - time.monotonic())))
            if line is None or line == "m-ready":
                break
        self.sync()

    def sync(self) -> None:
        """Bring a device that may be mid-session to a known state: ask its name."""
        self.command("name")

    def _until_ready(self, what: str, timeout: float) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            line = self.link.readline(max(0.0, left))
            if line is None:
                got = f" (got: {' | '.join(lines[-3:])})" if lines else " (nothing came back)"
                raise DeviceError(f"no answer to {what} within {timeout:.0f} s from {self.link.port}{got}: check the port, the firmware and the board's power")
            if not line:
                continue
            if not _LINE.match(line) and not (line.startswith("ULPMark") or lines_are_help(lines)):
                raise DeviceError(
                    f"garbage on the wire from {self.link.port} after {what}: {line[:60]!r}: check the baud rate and that the board runs a tinyq firmware"
                )
            if line == "m-ready":
                return lines
            lines.append(line)

    def command(self, cmd: str, timeout: float | None = None, allow_error: bool = False) -> list[str]:
        self.link.write(cmd + "%")
        lines = self._until_ready(f"'{cmd}'", self.timeout if timeout is None else timeout)
        errors = [ln for ln in lines if ln.startswith("e-")]
        if errors and not allow_error:
            raise DeviceError(f"the device refused '{cmd[:40]}': {errors[0]}")
        return lines

    # ---------------------------------------------------------------- the commands tinyq uses

    def info(self) -> dict[str, str]:
        line = _one(self.command("tq-info"), r"^m-tq-info-\[(.*)\]$", "tq-info")
        return dict(kv.split("=", 1) for kv in line.split(","))

    def load(self, data: bytes, chunk: int = 240) -> None:
        """`db load N` then `db HEX` lines of `chunk` bytes (the MLPerf Tiny runner sends 31)."""
        self.command(f"db load {len(data)}")
        done = False
        for i in range(0, len(data), chunk):
            lines = self.command("db " + data[i : i + chunk].hex())
            done = done or "m-load-done" in lines
        if not done:
            raise DeviceError(f"the device did not confirm the {len(data)}-byte load with m-load-done")

    def infer(self) -> Inference:
        lines = self.command("tq-infer", timeout=self.infer_timeout)
        cycles = int(_one(lines, r"^m-tq-cycles-(\d+)$", "tq-infer"))
        layers_text = _one(lines, r"^m-tq-layers-\[([\d,]*)\]$", "tq-infer")
        out = bytes.fromhex(_one(lines, r"^m-tq-out-\[([0-9a-f]*)\]$", "tq-infer"))
        return Inference(cycles=cycles, layers=[int(x) for x in layers_text.split(",") if x], output=out)


def lines_are_help(lines: list[str]) -> bool:
    """`help` answers in free text (as the EEMBC firmware does); everything else is m-/e- lines."""
    return bool(lines) and lines[0].startswith("ULPMark")


def _one(lines: list[str], pattern: str, what: str) -> str:
    for ln in lines:
        m = re.match(pattern, ln)
        if m:
            return m.group(1)
    raise DeviceError(f"the answer to '{what}' lacks a line like {pattern!r} (got: {' | '.join(lines[:4])})")
