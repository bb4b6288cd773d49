"""Devices behind one interface (STYLE rule 11): a board that runs a build's firmware and speaks the
serial protocol, whether it is QEMU, Renode or a real board on a serial port.

`Device` launches (or connects), hands out the protocol client (`Dut`, tinyq.device.protocol) and
always closes: use it in a `with` block. `device_for` picks the adapter from the board data and the
command line: --port given -> `SerialDevice`; an emulated board -> `QemuDevice`; a real board without
--port -> `SerialDevice` on the port its USB ids enumerate as.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from tinyq.boards import Board
from tinyq.build.manifest import ELF
from tinyq.device.protocol import Dut, Link
from tinyq.device.qemu import Qemu
from tinyq.errors import BadInput


class Device(ABC):
    """A running board on the protocol. `timeout` bounds each reply (an inference gets
    INFER_TIMEOUT_FACTOR times as long); `fix` is what a message tells to do when the board misbehaves."""

    def __init__(self, board: Board, timeout: float = 10.0, fix: str = "tinyq flash BUILD"):
        self.board, self.timeout, self.fix = board, timeout, fix
        self.link: Link | None = None

    @abstractmethod
    def open(self) -> Dut:
        """Launch or connect; returns a client that is in sync with the firmware."""

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def __enter__(self) -> Dut:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()


class QemuDevice(Device):
    """The build's ELF in QEMU (-icount), its console on a local socket; the firmware starts when we connect."""

    def __init__(self, elf: Path, board: Board, baud: int | None = None, **kw):
        super().__init__(board, **kw)
        self.elf, self.baud = Path(elf), baud
        self.qemu: Qemu | None = None

    def open(self) -> Dut:
        self.qemu = Qemu(self.elf, self.board).start()
        self.link = Link(self.qemu.url, self.baud or self.board.console["baud"])
        dut = Dut(self.link, timeout=self.timeout, fix=self.fix)
        dut.wait_boot()
        return dut

    def close(self) -> None:
        super().close()
        if self.qemu is not None:
            self.qemu.stop()
            self.qemu = None


class SerialDevice(Device):
    """A running board on a serial port (a device path, or a URL such as socket://HOST:PORT for Renode)."""

    def __init__(self, port: str, board: Board, baud: int | None = None, **kw):
        super().__init__(board, **kw)
        self.port, self.baud = port, baud

    def open(self) -> Dut:
        self.link = Link(self.port, self.baud or self.board.console["baud"])
        dut = Dut(self.link, timeout=self.timeout, fix=self.fix)
        dut.sync()
        return dut


class RenodeDevice(SerialDevice):
    """The build in Renode (tinyq.device.renode), its console on a local TCP socket."""

    def __init__(self, process, board: Board, **kw):
        super().__init__(process.url, board, **kw)
        self.process = process

    def open(self) -> Dut:
        self.process.start()
        return super().open()

    def close(self) -> None:
        super().close()
        self.process.stop()


def console_port(board: Board) -> str:
    """The serial port of a plugged-in `board`, found by the USB ids its console enumerates with."""
    from tinyq.device.samba import find_ports

    if not board.usb_ids:
        raise BadInput(f"board {board.name}'s console is a UART on your own adapter: give its serial port with --port (e.g. /dev/ttyUSB0)")
    found = find_ports(board.usb_ids)
    if not found:
        raise BadInput(
            f"no {board.name} found on USB (looked for {', '.join(board.usb_ids)}): plug it in and flash it "
            f"(`tinyq flash BUILD`), or give its serial port with --port"
        )
    if len(found) > 1:
        raise BadInput(f"{len(found)} ports look like a {board.name} ({', '.join(found)}): choose one with --port")
    return found[0]


def device_for(build_dir: Path, board: Board, port: str | None = None, baud: int | None = None,
               timeout: float = 10.0) -> Device:
    """The adapter for a build: --port, else QEMU for an emulated board, else the board's USB port."""
    kw = {"timeout": timeout, "fix": f"tinyq flash {build_dir}"}
    if port is None and board.emulated:
        return QemuDevice(Path(build_dir) / ELF, board, baud, **kw)
    return SerialDevice(port or console_port(board), board, baud, **kw)


def open_device(build_dir: Path, board: Board, port: str | None = None, baud: int | None = None,
                timeout: float = 10.0) -> Device:
    """`with open_device(...) as dut:` a protocol client on the build's firmware, closed afterwards."""
    return device_for(build_dir, board, port, baud, timeout)
