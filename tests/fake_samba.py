"""A fake Arduino Nano 33 BLE on a pty, for `tinyq flash` tests without hardware.

`FakeNano` serves a pty in a thread. It starts as the application (it ignores what it is sent) and
watches the port's line settings: when the host opens it at 1200 baud (the touch) it "reboots": the
port's path goes away and a new pty comes up as the SAM-BA bootloader, either under the same name
(`reenumerate="same"`, as Linux often does) or as a second port with the bootloader's USB id
(`reenumerate="new"`; `ports()` plays serial.tools.list_ports.comports). The bootloader implements
the Arduino SAM-BA commands over a 1 MB bytearray "flash" whose first 64 KB are the bootloader's,
writing SAM-BA address `a` at 0x10000 + a. Flash copies AND into the flash like NOR cells do, so a
missing erase shows.

Faults: "silent" (the bootloader never answers), "bad_crc" (Z answers a wrong CRC), and `chip`
sets the `I#` answer. `touchable=False` is an application without the 1200-baud hook, and
`version` replaces the `V#` answer.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

FLASH_SIZE = 1 << 20
APP_BASE = 0x10000
RAM_SIZE = 0x10000
BOOTLOADER_FILL = 0xB0  # the bootloader's own bytes: must survive a flash
VERSION = b"Arduino Bootloader (SAM-BA extended) 2.0 [Arduino:IKXYZ]"
APP_ID = (0x2341, 0x805A)
BOOT_ID = (0x2341, 0x005A)


def crc16_ref(data: bytes) -> int:
    """CRC-16/XMODEM bit by bit (independent of tinyq's table)."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


@dataclass
class PortInfo:
    """What serial.tools.list_ports reports of a port (the fields tinyq reads)."""

    device: str
    vid: int | None
    pid: int | None


class _Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing (pyserial sets the same on open)
        self.path = os.ttyname(self.slave)

    def speed(self) -> int:
        return termios.tcgetattr(self.master)[4]  # a pty master reports its slave's settings

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class FakeNano:
    def __init__(self, workdir: Path, *, in_bootloader: bool = False, reenumerate: str = "same",
                 fault: str | None = None, chip: str = "nRF52840-QIAA", touchable: bool = True, version: bytes = VERSION):
        self.dir = Path(workdir)
        self.fault = fault
        self.chip = chip.encode()
        self.touchable = touchable
        self.version = version
        self.reenumerate = reenumerate
        self.flash = bytearray([0xFF]) * FLASH_SIZE
        self.flash[:APP_BASE] = bytes([BOOTLOADER_FILL]) * APP_BASE
        self.ram = bytearray(RAM_SIZE)
        self.commands: list[str] = []
        self.touched = False
        self.was_reset = False
        self.errors: list[str] = []
        self.app_link = self.dir / "ttyACM0"
        self.boot_link = self.app_link if reenumerate == "same" else self.dir / "ttyACM1"
        self._mode = "boot" if in_bootloader else "app"
        self._pty = _Pty()
        link = self.boot_link if in_bootloader else self.app_link
        link.symlink_to(self._pty.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._buf = bytearray()
        self._pending: tuple[int, int] | None = None  # S: (buffer address, bytes still to come)
        self._copy_src = 0

    # -- what the host sees

    @property
    def port(self) -> str:
        """The port a user would pass: the application's (or the bootloader's when started there)."""
        return str(self.boot_link if self._mode == "boot" and not self.app_link.exists() else self.app_link)

    def ports(self) -> list[PortInfo]:
        out = []
        if self.app_link.is_symlink() and self._mode == "app":
            out.append(PortInfo(str(self.app_link), *APP_ID))
        if self.boot_link.is_symlink() and self._mode == "boot":
            out.append(PortInfo(str(self.boot_link), *BOOT_ID))
        return out

    def app_image(self, n: int) -> bytes:
        return bytes(self.flash[APP_BASE : APP_BASE + n])

    # -- lifecycle

    def __enter__(self) -> "FakeNano":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pty.close()

    def _run(self):
        while not self._stop.is_set():
            if self._mode == "app" and self.touchable:
                if self._pty.speed() == termios.B1200:
                    self._reboot()
                    continue
            r, _, _ = select.select([self._pty.master], [], [], 0.01)
            if not r:
                continue
            try:
                data = os.read(self._pty.master, 65536)
            except OSError:
                continue
            if self._mode == "boot":
                self._feed(data)

    def _reboot(self):
        """USB re-enumeration: the app's node goes away, the bootloader's comes up 150 ms later."""
        self.touched = True
        self.app_link.unlink()
        self._pty.close()
        time.sleep(0.15)
        self._pty = _Pty()
        self.boot_link.symlink_to(self._pty.path)
        self._mode = "boot"

    # -- the bootloader

    def _reply(self, data: bytes):
        if self.fault == "silent":
            return
        os.write(self._pty.master, data)

    def _feed(self, data: bytes):
        self._buf += data
        while self._buf:
            if self._pending is not None:
                addr, left = self._pending
                take = bytes(self._buf[:left])
                del self._buf[: len(take)]
                self.ram[addr : addr + len(take)] = take
                left -= len(take)
                self._pending = (addr + len(take), left) if left else None
                continue
            end = self._buf.find(b"#")
            if end < 0:
                return
            cmd = self._buf[:end].decode("latin-1")
            del self._buf[: end + 1]
            self.commands.append(cmd + "#")
            self._command(cmd)

    def _args(self, cmd: str) -> list[int]:
        return [int(a, 16) for a in cmd[1:].split(",")] if len(cmd) > 1 else []

    def _command(self, cmd: str):
        c, args = cmd[:1], self._args(cmd)
        if c == "N":
            self._reply(b"\n\r")
        elif c == "V":
            self._reply(self.version + b"\n\r")
        elif c == "I":
            self._reply(self.chip + b"\n\r")
        elif c == "X":
            self.flash[APP_BASE + args[0] :] = b"\xff" * (FLASH_SIZE - APP_BASE - args[0])
            self._reply(b"X\n\r")
        elif c == "S":
            addr, size = args
            if addr + size > RAM_SIZE:
                self.errors.append(f"S past the buffer: {cmd}")
            self._pending = (addr, size)
        elif c == "Y":
            addr, size = args
            if size == 0:
                self._copy_src = addr
            else:
                dst = APP_BASE + addr
                for i in range(size):
                    self.flash[dst + i] &= self.ram[self._copy_src + i]
            self._reply(b"Y\n\r")
        elif c == "Z":
            addr, size = args
            crc = crc16_ref(bytes(self.flash[APP_BASE + addr : APP_BASE + addr + size]))
            if self.fault == "bad_crc":
                crc ^= 0x0100
            self._reply(b"Z%08X#\n\r" % crc)
        elif c == "R":
            addr, size = args
            self._reply(bytes(self.flash[APP_BASE + addr : APP_BASE + addr + size]))
        elif c == "K":
            self.was_reset = True
        else:
            self.errors.append(f"unknown command {cmd!r}")
