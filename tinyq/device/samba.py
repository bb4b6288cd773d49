"""The Arduino nRF52840 bootloader's SAM-BA protocol (Nano 33 BLE / BLE Sense), over pyserial.

This is what bossac 1.9.1-arduino2 speaks to the board, reimplemented from the protocol's semantics
(arduino/BOSSA branch nrf, src/Samba.cpp) so flashing needs no Arduino tool:

    N#                       binary mode                      -> "\\n\\r"
    V#                       version, "... [Arduino:IKXYZ]"   -> text, "\\n\\r"   (IKXYZ: the extensions)
    I#                       chip                             -> "nRF52840-QIAA\\n\\r"
    X<addr>#                 erase from addr to the end        -> "X\\n\\r"
    S<addr>,<size>#  + data  raw bytes into the RAM buffer     (no reply)
    Y<src>,0#                the buffer to copy from           -> "Y\\n\\r"
    Y<dst>,<size>#           copy the buffer into flash        -> "Y\\n\\r"
    Z<addr>,<size>#          CRC-16 of flash                   -> "Z<crc>#\\n\\r"
    R<addr>,<size>#          read flash                        -> <size> raw bytes
    K#                       reset into the application        (no reply)

Addresses and sizes are 8 upper-case hex digits. Over USB, the command and its data must not share a
packet (the bootloader misreads them), so the port is drained between them.

Addresses are the bootloader's: it owns flash 0x0-0xFFFF and writes SAM-BA address `a` at
0x10000 + a (zephyr#33523: passing bossac --offset 0x10000 lands an image at 0x20000). tinyq's board
files give the physical load address (0x10000); `program` converts.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

from tinyq.device.protocol import DeviceError
from tinyq.errors import BadInput, CheckFailed

log = logging.getLogger(__name__)

APP_BASE = 0x10000  # physical address of SAM-BA address 0 (the bootloader's size)
PAGE = 4096  # nRF52840 flash page; one buffer load and one copy per page, as bossac does
BUFFER = 0x34  # the RAM buffer offset bossac uses on this bootloader (user area 0 + its 0x34-byte applet)
CHIP = "nRF52840"  # what `I#` must start with
EXTENSIONS = "XYZ"  # erase, buffer copy and CRC: without them this bootloader cannot be flashed
BAUD = 921600  # bossac's USB rate (CDC ignores it, but 1200 would reset the board)
TIMEOUT = 2.0  # seconds for an ordinary reply
ERASE_TIMEOUT = 30.0  # erasing up to 960 KB, page by page
OPEN_TIMEOUT = 3.0  # a freshly enumerated port may refuse opening for a moment (udev permissions)
WAIT_TIMEOUT = 10.0  # for the bootloader's port after the 1200-baud touch
SETTLE = 1.5  # if the app's port has not gone away by then, it is taken as the bootloader's already

Progress = Callable[[int, int], None]


class SambaError(DeviceError):
    """The bootloader is silent or answers outside the protocol (exit 1: the run failed)."""


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0, MSB first), the CRC the bootloader's `Z#` returns."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


# ---------------------------------------------------------------- finding ports


def comports() -> list:
    """The serial ports the OS lists (pyserial); tests replace this."""
    from serial.tools import list_ports

    return list(list_ports.comports())


def usb_id(port) -> str | None:
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    return None if vid is None or pid is None else f"{vid:04X}:{pid:04X}"


def find_ports(ids: list[str] | tuple[str, ...]) -> list[str]:
    """Device paths of the ports whose USB VID:PID is one of `ids`, in the OS's order."""
    want = {i.upper() for i in ids}
    return [p.device for p in comports() if usb_id(p) in want] if want else []


def touch_1200(port: str) -> None:
    """Open the application's port at 1200 baud with DTR low and close it: the Arduino core's request
    to reboot into the bootloader (mbed core: GPREGRET=0xB0, then reset)."""
    import serial

    s = serial.Serial()
    s.port = port
    s.baudrate = 1200
    s.dtr = False  # applied on open (a pty has no modem lines: pyserial ignores that there)
    try:
        s.open()
    except (serial.SerialException, OSError, ValueError) as e:
        reason = str(e).split(":")[-1].strip() or type(e).__name__
        raise BadInput(f"cannot open {port} ({reason}): check the board is plugged in and give its port with --port") from None
    time.sleep(0.05)
    s.close()


def wait_for_bootloader(app_port: str, boot_ids: list[str], timeout: float | None = None, settle: float | None = None) -> str:
    """The bootloader's port after a touch on `app_port`.

    A port with one of `boot_ids` wins. Otherwise the board re-enumerates under the same name: the
    path goes away and comes back. If it never goes away within `settle` seconds, the board was in its
    bootloader already (or ignored the touch; the handshake then says so) and the same path is used.
    """
    timeout = WAIT_TIMEOUT if timeout is None else timeout
    settle = SETTLE if settle is None else settle
    t0 = time.monotonic()
    vanished = False
    while True:
        found = find_ports(boot_ids)
        if found:
            return found[0]
        exists = os.path.exists(app_port)
        elapsed = time.monotonic() - t0
        if not exists:
            vanished = True
        elif vanished:
            return app_port
        elif elapsed >= settle:
            return app_port
        if elapsed > timeout:
            raise SambaError(
                f"the bootloader's port did not appear within {timeout:g} s of the 1200-baud touch on {app_port}: "
                "double-tap the board's reset button and pass the port it shows with --port"
            )
        time.sleep(0.05)


# ---------------------------------------------------------------- the protocol


class Samba:
    """A SAM-BA session on an open port; every reply is checked, every wait bounded."""

    def __init__(self, port: str, timeout: float | None = None, erase_timeout: float | None = None, open_timeout: float | None = None):
        import serial

        self.port = port
        self.timeout = TIMEOUT if timeout is None else timeout
        self.erase_timeout = ERASE_TIMEOUT if erase_timeout is None else erase_timeout
        deadline = time.monotonic() + (OPEN_TIMEOUT if open_timeout is None else open_timeout)
        while True:
            try:
                self.ser = serial.Serial(port, BAUD, timeout=0.05, write_timeout=max(self.timeout, 5.0))
                break
            except (serial.SerialException, OSError, ValueError) as e:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                reason = str(e).split(":")[-1].strip() or type(e).__name__
                raise BadInput(f"cannot open {port} ({reason}): check the board is plugged in and give its port with --port") from None

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # closing a port that already went away: nothing left to release
            log.debug("closing the bootloader's port", exc_info=True)

    def __enter__(self) -> "Samba":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- wire

    def _send(self, cmd: str) -> None:
        import serial

        try:
            self.ser.write(cmd.encode("ascii"))
            self.ser.flush()
        except (serial.SerialTimeoutException, serial.SerialException, OSError) as e:
            raise SambaError(f"writing `{cmd}` to {self.port} failed ({e}): replug the board and flash again") from None

    def _silent(self, what: str, timeout: float, got: bytes = b"") -> SambaError:
        seen = f" (got {got[:24]!r})" if got else ""
        return SambaError(
            f"no answer to `{what}` from the bootloader on {self.port} within {timeout:g} s{seen}: "
            "double-tap the board's reset button (the LED pulses) and flash again"
        )

    def _read_exact(self, n: int, what: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise self._silent(what, timeout, bytes(buf))
            buf += self.ser.read(n - len(buf))
        return bytes(buf)

    def _read_line(self, what: str, timeout: float) -> str:
        """Text up to its line end ("\\n\\r"), printable characters only."""
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while not buf.endswith(b"\n\r"):
            if (b"\n" in buf or b"\r" in buf) and not self.ser.in_waiting:
                time.sleep(0.02)  # a lone terminator: give its partner a moment, then take the line
                if not self.ser.in_waiting:
                    break
            if time.monotonic() > deadline:
                if buf:
                    break
                raise self._silent(what, timeout)
            buf += self.ser.read(max(1, self.ser.in_waiting))
        text = buf.decode("latin-1")
        end = next((i for i, c in enumerate(text) if not c.isprintable()), len(text))
        return text[:end]

    def _expect_ack(self, cmd: str, letter: str, timeout: float) -> None:
        self._send(cmd)
        got = self._read_exact(3, cmd, timeout)
        if got[:1] != letter.encode():
            raise SambaError(f"the bootloader on {self.port} answered `{cmd}` with {got!r}, not {letter!r}: reset the board and flash again")

    # -- commands

    def binary_mode(self) -> None:
        self.ser.reset_input_buffer()
        self._send("N#")
        self._read_exact(2, "N#", self.timeout)

    def version(self) -> str:
        return self._read_line_after("V#")

    def identify(self) -> str:
        return self._read_line_after("I#")

    def _read_line_after(self, cmd: str) -> str:
        self._send(cmd)
        return self._read_line(cmd, self.timeout)

    def erase(self, addr: int) -> None:
        self._expect_ack(f"X{addr:08X}#", "X", self.erase_timeout)

    def load_buffer(self, buf_addr: int, data: bytes) -> None:
        import serial

        self._send(f"S{buf_addr:08X},{len(data):08X}#")  # drained: the data goes in packets of its own
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialTimeoutException, serial.SerialException, OSError) as e:
            raise SambaError(f"sending {len(data)} bytes to {self.port} failed ({e}): replug the board and flash again") from None

    def copy_buffer(self, buf_addr: int, dst: int, size: int) -> None:
        self._expect_ack(f"Y{buf_addr:08X},0#", "Y", self.timeout)
        self._expect_ack(f"Y{dst:08X},{size:08X}#", "Y", self.erase_timeout)

    def checksum(self, addr: int, size: int) -> int:
        cmd = f"Z{addr:08X},{size:08X}#"
        self._send(cmd)
        got = self._read_exact(12, cmd, self.erase_timeout)
        text = got.decode("latin-1")
        try:
            if text[0] != "Z" or text[9] != "#":
                raise ValueError
            return int(text[1:9], 16)
        except (ValueError, IndexError):
            raise SambaError(f"the bootloader on {self.port} answered `{cmd}` with {got!r}: reset the board and flash again") from None

    def read(self, addr: int, size: int) -> bytes:
        cmd = f"R{addr:08X},{size:08X}#"
        self._send(cmd)
        return self._read_exact(size, cmd, self.timeout + size / 50_000)

    def reset(self) -> None:
        self._send("K#")


def handshake(s: Samba, chip: str = CHIP) -> tuple[str, str]:
    """Binary mode, then check the bootloader's extensions and the chip: (version, chip id)."""
    s.binary_mode()
    ver = s.version()
    ext = ver.split("[Arduino:", 1)[1].split("]", 1)[0] if "[Arduino:" in ver else ""
    missing = [c for c in EXTENSIONS if c not in ext]
    if missing:
        raise SambaError(
            f"{s.port} does not answer as the Arduino SAM-BA bootloader (version {ver[:40]!r}, lacking {''.join(missing)}): "
            "double-tap the board's reset button to enter it, and check --port"
        )
    ident = s.identify()
    if not ident.startswith(chip):
        raise BadInput(f"the bootloader on {s.port} is on a {ident or 'chip that does not say'}, not an {chip}: check --board and --port")
    return ver, ident


def program(s: Samba, image: bytes, address: int, progress: Progress | None = None, chip: str = CHIP) -> bool:
    """Erase, write page by page, check every page's CRC, reset. Returns True (verified) or raises.

    `address` is the physical load address; the image is padded with 0xFF (erased flash) to whole
    pages, as bossac writes them.
    """
    if address < APP_BASE:
        raise BadInput(f"flasher.address {address:#x} is inside the bootloader (0x0-{APP_BASE - 1:#x}): set it to {APP_BASE:#x} in the board file")
    if not image:
        raise BadInput("the firmware image is empty: rebuild it with `tinyq build`")
    base = address - APP_BASE
    handshake(s, chip)
    total = len(image)
    padded = image + b"\xff" * (-len(image) % PAGE)
    s.erase(base)
    for off in range(0, len(padded), PAGE):
        page = padded[off : off + PAGE]
        s.load_buffer(BUFFER, page)
        s.copy_buffer(BUFFER, base + off, len(page))
        want, got = crc16(page), s.checksum(base + off, len(page))
        if want != got:
            raise CheckFailed(
                f"verify failed at {address + off:#010x}: the board's flash has CRC {got:#06x}, the image {want:#06x}: "
                "flash again; if it fails twice, double-tap reset and retry"
            )
        if progress is not None:
            progress(min(off + PAGE, total), total)
    s.reset()
    return True
