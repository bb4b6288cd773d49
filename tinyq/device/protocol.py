"""Talking to a tinyq firmware over a serial port (a board's UART, a QEMU socket or pty).

`Link` moves lines over pyserial; `Dut` speaks the protocol of firmware/protocol/tq_protocol.h:
commands end with '%', replies are lines that end with "m-ready", errors are "e-[...]" lines.

Real serial lines misbehave, so the client is defensive. Bytes that are not protocol lines (noise
while a board powers up, a debug print, a glitch) are skipped, at most `MAX_NOISE` lines a reply; a
line whose start was hit by a glitch is recovered from its last "m-"/"e-". A board that resets prints
its boot banner again and forgets the loaded input: that shows as `BoardReset`. Every reply to a
tq- command ends with a CRC-32 of its bytes (for `tq-infer`, of the input it ran on and its bytes),
so a byte flipped, dropped or duplicated on the way, either way, is a `BadReply`, never a figure; a
firmware error that only a command damaged on its way can cause ("Unknown command" naming another
word, an invalid hex digit) is one too. Faults after which the same input can simply be loaded and
run again are `Retryable`; `Dut.run` does that, at most `retries` times an input, after
`Dut.resync` has brought the board back to a known state (`info` and `reset` retry the same way).
Everything else is one line naming the port, what came (escaped, shortened) and what to do.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from tinyq.errors import BadInput
from tinyq.errors import DeviceError as _DeviceFailure

log = logging.getLogger(__name__)

INFER_TIMEOUT_FACTOR = 12  # an inference may take this many times the reply timeout (10 s -> 120 s)
MAX_NOISE = 32  # non-protocol lines skipped in one reply before the line is called garbage
NOISE_QUIET = 1.0  # noise then this long without a protocol line: the port does not speak tinyq
MAX_LINE = 1 << 16  # bytes without a newline before they are taken as one (garbage) line
OUT_CHUNK = 4096  # output bytes per m-tq-out line (TQ_OUT_CHUNK in firmware/protocol/tq_protocol.h)
SHOWN = 40  # bytes of an offending line quoted in a message
BANNER = ("m-timestamp-mode-performance", "m-init-done")  # what only a (re)starting firmware prints


class DeviceError(_DeviceFailure):
    """The device is silent, sends garbage or answers outside the protocol (exit 1: the run failed)."""


class NoDevice(BadInput):
    """The port given on the command line does not exist (exit 2: the user fixes the command line)."""


class Retryable(DeviceError):
    """A fault after which loading the input again and rerunning it is safe.

    The message is `problem: fix`; a retry is noted with the problem alone."""

    fix = "check the board's cable and power"

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix or type(self).fix
        super().__init__(f"{problem}: {self.fix}")

    def again(self, more: str) -> Retryable:
        """The same fault with `more` said about it."""
        return type(self)(f"{self.problem} {more}", self.fix)


class NoReply(Retryable):
    """No m-ready within the timeout."""


class Garbage(Retryable):
    """Only bytes outside the protocol came back."""


class BadReply(Retryable):
    """A reply whose lines are protocol lines but malformed (a glitch inside a line)."""

    fix = "a glitch on the line: check the cable, or reset the board"


class BoardReset(Retryable):
    """The board restarted: its boot banner came back, or it no longer holds the loaded input."""

    fix = "check its power supply and cable"


class PortLost(Retryable):
    """The port went away (a USB console re-enumerates when its board resets)."""

    fix = "the board reset or was unplugged: check its cable and power"


class Refused(DeviceError):
    """The firmware answered a command with an e-[...] line."""


class WrongFirmware(DeviceError):
    """The board runs a firmware other than the build's."""


def shown(data: bytes | str, limit: int = SHOWN) -> str:
    """`data` quoted for a one-line message: escaped, at most `limit` bytes."""
    raw = data.encode("latin-1", "replace") if isinstance(data, str) else bytes(data)
    text = raw[:limit].decode("latin-1").encode("unicode_escape").decode("ascii").replace("'", "\\'")
    more = f"... (+{len(raw) - limit} bytes)" if len(raw) > limit else ""
    return f"'{text}'{more}"


def _port_error(e: BaseException) -> str:
    text = str(e)
    if "disconnected" in text:  # pyserial's "device reports readiness to read but returned no data (...)"
        return "disconnected"
    return text.split(":")[-1].strip(" )'") or type(e).__name__


def _io_errors() -> tuple[type[BaseException], ...]:
    """What pyserial raises when the port goes away mid-session (termios.error is no OSError)."""
    import serial

    try:
        import termios

        return (serial.SerialException, OSError, termios.error)
    except ImportError:  # pragma: no cover - Windows
        return (serial.SerialException, OSError)


def _socket_waiting(ser) -> int:
    """Bytes waiting on a socket:// port (an emulator's console), whose pyserial `in_waiting` says only 0
    or 1: the kernel's count (FIONREAD), so a reply is read in one call rather than a byte a call
    (about twice as fast on QEMU). 0 for any other port, or where the count cannot be had."""
    sock = getattr(ser, "_socket", None)
    if sock is None:
        return 0
    try:
        import array
        import fcntl
        import termios

        n = array.array("i", [0])
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, n)
        return int(n[0])
    except (ImportError, OSError, ValueError):  # pragma: no cover - Windows, or a socket just closed
        return 0


class Link:
    """A line-oriented serial connection (pyserial: a device path or a URL such as socket://host:port)."""

    def __init__(self, port: str, baud: int = 115200, connect_timeout: float = 10.0):
        self.port = port
        self.baud = baud
        self.ser = None
        self._buf = b""
        self._open(connect_timeout, retry_any=False)

    def _open(self, timeout: float, retry_any: bool) -> None:
        import serial

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05)
                return
            except (serial.SerialException, OSError, ValueError) as e:
                if (retry_any or self.port.startswith("socket://")) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if retry_any:
                    raise PortLost(
                        f"{self.port} went away and did not come back within {timeout:g} s ({_port_error(e)})",
                        "check the board's USB cable and power, then run tinyq profile again",
                    ) from None
                raise NoDevice(
                    f"cannot open {self.port} ({_port_error(e)}): check the board is plugged in and give its port with --port"
                ) from None

    def reopen(self, timeout: float) -> None:
        """Open the port again after it went away (a USB console that re-enumerated on reset)."""
        self.close()
        self._buf = b""
        self._open(timeout, retry_any=True)

    def _lost(self, e: BaseException, doing: str) -> PortLost:
        return PortLost(f"{self.port} went away while {doing} ({_port_error(e)})")

    def write(self, text: str) -> None:
        try:
            self.ser.write(text.encode("ascii"))
            self.ser.flush()
        except _io_errors() as e:
            raise self._lost(e, "writing") from None

    def _fill(self) -> bool:
        """Read what is there (waiting up to the port's 50 ms timeout); True if anything came."""
        try:
            got = self.ser.read(max(1, self.ser.in_waiting, _socket_waiting(self.ser)))
        except _io_errors() as e:
            raise self._lost(e, "reading") from None
        self._buf += got
        return bool(got)

    def readline_bytes(self, timeout: float) -> bytes | None:
        """One raw line without its LF (at most MAX_LINE bytes), or None when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf and len(self._buf) < MAX_LINE:
            if deadline - time.monotonic() <= 0:
                return None
            self._fill()
        cut = self._buf.find(b"\n")
        if cut < 0:
            line, self._buf = self._buf[:MAX_LINE], self._buf[MAX_LINE:]
        else:
            line, self._buf = self._buf[:cut], self._buf[cut + 1 :]
        return line

    def readline(self, timeout: float) -> str | None:
        """One line without its CR/LF/NUL (bytes as latin-1), or None when `timeout` seconds pass first."""
        line = self.readline_bytes(timeout)
        return None if line is None else line.decode("latin-1").strip("\r\0")

    def drain(self, quiet: float, limit: float) -> bytes:
        """Read and drop bytes until none came for `quiet` seconds (at most `limit` seconds); returns them."""
        dropped = self._buf
        self._buf = b""
        end = time.monotonic() + limit
        calm = time.monotonic() + quiet
        while time.monotonic() < min(calm, end):
            if self._fill():
                dropped += self._buf
                self._buf = b""
                calm = time.monotonic() + quiet
        return dropped

    def close(self) -> None:
        try:
            if self.ser is not None:
                self.ser.close()
        except Exception:  # closing a port that already went away: nothing left to release
            log.debug("closing %s", self.port, exc_info=True)


@dataclass
class Inference:
    cycles: int
    layers: list[int]
    output: bytes


_PROTOCOL = re.compile(r"[me]-[\x20-\x7e]*")
_UNPRINTABLE = re.compile(rb"[^\x20-\x7e]")
_FIELDS = {  # reply lines tinyq reads: the text in group 1
    "m-tq-cycles": re.compile(r"m-tq-cycles-(\d+)"),
    "m-tq-layers": re.compile(r"m-tq-layers-\[([\d,]*)\]"),
    "m-tq-out": re.compile(r"m-tq-out-\[(.*)\]"),
    "m-tq-info": re.compile(r"m-tq-info-\[(.*)\]"),
}
_INPUT_LOST = re.compile(r"e-\[(Input db has \d+ bytes|db: no load in progress)")
_CRC = re.compile(r"m-tq-crc-(\d+)")  # the last line of a tq- reply (firmware/protocol/tq_protocol.h)
# Firmware errors a well-formed command never gets: the command was damaged on its way to the board.
_DAMAGED = re.compile(r"e-\[(Invalid hex digit|Insufficent number of hex digits|db: \d+ bytes past the|Command too long"
                      r"|Empty command|Too many words|Command 'db|Usage: infer|Inference (iterations|warmup))")
_UNKNOWN = re.compile(r"e-\[Unknown command: (.*)\]")
_DB_LOAD = re.compile(r"e-\[db load (-?\d+) exceeds")


def protocol_line(raw: bytes, free_text: bool = False) -> str | None:
    """The protocol line in `raw` (CR/NUL stripped), or None for noise.

    A line is protocol when it is printable and starts with "m-" or "e-". When a glitch hit its
    start, what follows the last unprintable byte is kept if it is a protocol line. `free_text`
    accepts any printable line (the answer to `help` is free text, as in the EEMBC firmware).
    """
    raw = raw.strip(b"\r\0")
    bad = list(_UNPRINTABLE.finditer(raw))
    tail = raw[bad[-1].end() :] if bad else raw
    text = tail.decode("ascii")
    if _PROTOCOL.fullmatch(text) or (free_text and not bad):
        return text
    return None


def lines_are_help(lines: list[str]) -> bool:
    """`help` answers in free text (as the EEMBC firmware does); everything else is m-/e- lines."""
    return bool(lines) and lines[0].startswith("ULPMark")


class Dut:
    """The protocol client: one command at a time, each answered up to its m-ready.

    `timeout` bounds every reply, `infer_timeout` an inference's (INFER_TIMEOUT_FACTOR times
    `timeout` unless given); `fix` is the command a message tells the user to run to put the
    right firmware on the board.
    """

    def __init__(self, link: Link, timeout: float = 10.0, infer_timeout: float | None = None, fix: str = "tinyq flash BUILD"):
        self.link = link
        self.timeout = timeout
        self.infer_timeout = infer_timeout if infer_timeout is not None else INFER_TIMEOUT_FACTOR * timeout
        self.fix = fix
        self.sent = bytearray()  # the `db` bytes sent since the last `db load` (what a tq-infer's CRC starts with)
        self._expected = 0

    @property
    def port(self) -> str:
        return self.link.port

    # ---------------------------------------------------------------- framing

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

    def _until_ready(self, what: str, timeout: float, patient: bool = False) -> list[str]:
        """The lines of one reply up to its m-ready, noise skipped; raises on silence, garbage or a reset.

        Noise followed by NOISE_QUIET seconds of silence ends the wait early: the port does not speak
        the protocol, or a glitch ate the end of the reply. `patient` (a long inference) waits the
        whole timeout after noise that came before the reply started.
        """
        lines: list[str] = []
        noise: list[bytes] = []
        restarted = False
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while True:
            now = time.monotonic()
            wait = deadline - now
            if noise and (lines or not patient):
                wait = min(wait, last + min(NOISE_QUIET, timeout) - now)
            raw = self.link.readline_bytes(max(0.0, wait))
            if raw is None:
                if noise and lines:
                    raise BadReply(f"the answer to {what} from {self.port} was cut by garbage {shown(noise[-1])}")
                if noise:
                    raise Garbage(
                        f"garbage on the wire from {self.port} after {what}: {shown(noise[0])}"
                        f"{f' and {len(noise) - 1} more lines' if len(noise) > 1 else ''}, no protocol reply",
                        self._garbage_fix(),
                    )
                got = f" (got: {shown(' | '.join(lines[-3:]), 80)})" if lines else " (nothing came back)"
                raise NoReply(
                    f"no answer to {what} within {timeout:g} s from {self.port}{got}",
                    f"is the board running tinyq firmware? press its reset button or run `{self.fix}`",
                )
            last = time.monotonic()
            if not raw.strip(b"\r\0"):
                continue
            line = protocol_line(raw, free_text=lines_are_help(lines) or raw.startswith(b"ULPMark"))
            if line is None:
                noise.append(raw.rstrip(b"\r"))
                if len(noise) > MAX_NOISE:
                    raise Garbage(
                        f"garbage on the wire from {self.port} after {what}: {len(noise)} lines that are not tinyq "
                        f"protocol, the first {shown(noise[0])}",
                        self._garbage_fix(),
                    )
                continue
            if line in BANNER:
                restarted = True
            if line == "m-ready":
                if restarted:
                    raise BoardReset(f"the board on {self.port} restarted during {what} (its boot banner came instead of a reply)")
                return lines
            if lines and _CRC.fullmatch(lines[-1]) and not restarted:  # a checksum ends a reply: m-ready must follow
                raise BadReply(f"the answer to {what} from {self.port} went on after its checksum line with {shown(line, 80)}")
            lines.append(line)

    def _garbage_fix(self) -> str:
        return f"check the baud rate ({self.link.baud}) and that the board runs tinyq firmware (`{self.fix}`)"

    def command(self, cmd: str, timeout: float | None = None, allow_error: bool = False) -> list[str]:
        """Send `cmd`, return its reply's lines (a tq- reply checked against its CRC, which is dropped).

        An e-[...] line raises (unless `allow_error`): BoardReset when the board forgot its input;
        Refused when the firmware does not know the command (another firmware) or, in a reply whose
        CRC holds, refuses it; else BadReply: the command or the error line was damaged on the wire
        (no other error answers the commands the host sends, and one without a CRC may be damaged itself).
        """
        what = f"'{cmd if len(cmd) <= 24 else cmd[:20] + '...'}'"
        self._track(cmd)
        self.link.write(cmd + "%")
        wait = self.timeout if timeout is None else timeout
        lines = self._until_ready(what, wait, patient=wait > self.timeout)
        errors = [ln for ln in lines if ln.startswith("e-")]
        refuse = Refused(
            f"the device on {self.port} refused {what}: {shown(errors[0], 80)}: it may run another firmware: run `{self.fix}`"
        ) if errors else None
        if errors and not allow_error and _refusal(cmd, errors[0]):  # e.g. tq-info on a firmware without tinyq's commands
            raise refuse
        checked = cmd.startswith("tq-")
        if checked:
            lines = self._checked(what, cmd, lines)
        if errors and not allow_error:
            if _INPUT_LOST.match(errors[0]):
                raise BoardReset(f"the board on {self.port} lost the loaded input ({errors[0]} after {what}): it restarted")
            if _damaged(errors[0]) or not checked:
                raise BadReply(f"the device on {self.port} answered {what} with {shown(errors[0], 80)}: "
                               "the command or the answer was damaged on the wire")
            raise refuse
        return lines

    def _track(self, cmd: str) -> None:
        """Keep the `db` bytes as the firmware stores them: from `db load N` on, at most N."""
        words = cmd.split()
        if words[:2] == ["db", "load"] and len(words) == 3 and words[2].isdigit():
            self.sent, self._expected = bytearray(), int(words[2])
        elif len(words) == 2 and words[0] == "db" and words[1] != "print":
            try:
                self.sent += bytes.fromhex(words[1])[: max(0, self._expected - len(self.sent))]
            except ValueError:
                pass

    def _checked(self, what: str, cmd: str, lines: list[str]) -> list[str]:
        """A tq- reply's lines without its m-tq-crc line, which must hold the CRC-32 of the lines before
        it (each with CR LF); a tq-infer that ran (its m-tq-cycles line) starts that CRC with the input
        it ran on, which must be the bytes sent. BadReply when they differ."""
        m = _CRC.fullmatch(lines[-1]) if lines else None
        if m is None:
            raise BadReply(
                f"the answer to {what} from {self.port} came without its checksum line (m-tq-crc): "
                f"{shown(' | '.join(lines[-3:]), 80)}",
                f"a glitch on the line, or the board runs a tinyq firmware older than this host: run `{self.fix}`",
            )
        body = "".join(ln + "\r\n" for ln in lines[:-1]).encode("latin-1")
        ran = cmd == "tq-infer" and any(ln.startswith("m-tq-cycles-") for ln in lines)
        want = zlib.crc32(body, zlib.crc32(bytes(self.sent))) if ran else zlib.crc32(body)
        if int(m.group(1)) != want:
            changed = "the input sent or the reply" if ran else "the reply"
            raise BadReply(f"the answer to {what} from {self.port} fails its checksum (CRC-32 {want} of what came, "
                           f"the board says {m.group(1)}): a byte of {changed} changed on the wire")
        return lines[:-1]

    def sync(self) -> None:
        """Bring a device that may be mid-session to a known state: ask its name."""
        self.resync(quiet=0.1)

    def resync(self, quiet: float = 0.3, attempts: int = 2) -> None:
        """After a fault (or on connecting): end any command the board holds half received (its '%'
        lost on the wire), let the board finish talking, then see it answer `name`.

        Replies still in flight are dropped with the noise. A board that is still booting may swallow
        the `name`, and on a bad line the `name` or its answer may be damaged: each sends it again, at
        most `attempts` times in all; the last fault is raised.
        """
        for attempt in range(attempts):
            self.link.write("%")
            self.link.drain(quiet=min(quiet, self.timeout), limit=self.timeout)
            self.link.write("name%")
            try:
                for _ in range(4):  # a stale reply may still come before the one to this `name`
                    if any(ln.startswith("m-name-dut-") for ln in self._until_ready("'name'", self.timeout)):
                        return
            except (BoardReset, NoReply, Garbage, BadReply):
                if attempt + 1 == attempts:
                    raise
                continue
            raise DeviceError(f"the device on {self.port} does not answer 'name' like a tinyq firmware: run `{self.fix}`")

    def recover(self, fault: Retryable) -> None:
        """Back to a known state after `fault`: the port opened again if it went away, then resync.

        A USB console goes away when its board resets, sometimes a moment after the reset showed:
        then the resync meets PortLost and the port is opened again once more.
        """
        if isinstance(fault, PortLost):
            self.link.reopen(self.timeout)
        try:
            self.resync()
        except PortLost:
            self.link.reopen(self.timeout)
            self.resync()

    # ---------------------------------------------------------------- the commands tinyq uses

    def info(self, retries: int = 2) -> dict[str, str]:
        """`tq-info` as a dict; asked again after a Retryable fault, at most `retries` times."""
        line = _one(self._again(lambda: self.command("tq-info"), retries), "m-tq-info", "tq-info", self.port)
        try:
            return dict(kv.split("=", 1) for kv in line.split(","))
        except ValueError:
            raise BadReply(f"garbled answer to 'tq-info' from {self.port}: {shown(line, 80)}") from None

    def reset(self, retries: int = 2) -> None:
        """`tq-reset`: the model's state (kept from one inference to the next) back to its start; sent
        again after a Retryable fault (twice is the same as once), at most `retries` times."""
        if "m-tq-reset-done" not in self._again(lambda: self.command("tq-reset"), retries):
            raise BadReply(f"the device on {self.port} did not answer 'tq-reset' with m-tq-reset-done")

    def _again(self, ask: Callable[[], list[str]], retries: int) -> list[str]:
        """`ask()`, and after a Retryable fault recover and ask again, at most `retries` times."""
        for n in range(retries + 1):
            try:
                return ask()
            except Retryable as e:
                if n == retries:
                    raise
                self._recover_from(e)
        raise AssertionError("unreachable")  # pragma: no cover

    def _recover_from(self, fault: Retryable) -> None:
        """`recover`; a board still silent or raving after it raises `fault`, said so (the first fault
        is the one to report), a port that did not come back its own PortLost."""
        try:
            self.recover(fault)
        except PortLost:
            raise
        except DeviceError:
            raise fault.again("(and no answer to 'name' after it)") from None

    def load(self, data: bytes, chunk: int = 240) -> None:
        """`db load N` then `db HEX` lines of `chunk` bytes (the MLPerf Tiny runner sends 31)."""
        if f"m-[Expecting {len(data)} bytes]" not in self.command(f"db load {len(data)}"):
            raise BadReply(f"the device on {self.port} did not answer 'db load {len(data)}' with m-[Expecting {len(data)} bytes]")
        done = False
        for i in range(0, len(data), chunk):
            lines = self.command("db " + data[i : i + chunk].hex())
            done = done or "m-load-done" in lines
        if not done:
            raise BadReply(f"the device on {self.port} did not confirm the {len(data)}-byte load with m-load-done")

    def infer(self, output_bytes: int | None = None, layers: int | None = None) -> Inference:
        """One `tq-infer`; with `output_bytes`/`layers` given, a reply of another size is a garbled one."""
        lines = self.command("tq-infer", timeout=self.infer_timeout)
        cycles = int(_one(lines, "m-tq-cycles", "tq-infer", self.port))
        layers_text = _one(lines, "m-tq-layers", "tq-infer", self.port)
        hex_text = _joined(lines, "m-tq-out", "tq-infer", self.port)
        try:
            out = bytes.fromhex(hex_text)
        except ValueError:
            out = None
        if out is None or (output_bytes is not None and len(out) != output_bytes):
            raise BadReply(
                f"garbled output from {self.port}: {shown('m-tq-out-[' + hex_text + ']')} is not "
                f"{output_bytes if output_bytes is not None else 'whole'} bytes of hex"
            )
        per_layer = [int(x) for x in layers_text.split(",") if x]
        if layers is not None and per_layer and len(per_layer) != layers:
            raise BadReply(f"garbled layer cycles from {self.port}: {len(per_layer)} values for {layers} layers")
        return Inference(cycles=cycles, layers=per_layer, output=out)

    def run(self, data: bytes, output_bytes: int | None = None, layers: int | None = None, retries: int = 0,
            on_retry: Callable[[Retryable, int], None] | None = None) -> tuple[Inference, int]:
        """Load `data` and run it; after a Retryable fault resync and do both again, at most `retries` times.

        Returns the inference and how many retries it took. `on_retry(error, n)` is told of each.
        """
        for n in range(retries + 1):
            try:
                self.load(data)
                return self.infer(output_bytes, layers), n
            except Retryable as e:
                if n == retries:
                    if retries:
                        raise e.again(f"(gave up after {retries} retr{'y' if retries == 1 else 'ies'}; --retries allows more)") from None
                    raise
                if on_retry is not None:
                    on_retry(e, n + 1)
                self._recover_from(e)
        raise AssertionError("unreachable")  # pragma: no cover


def _refusal(cmd: str, error: str) -> bool:
    """True when `error` is the firmware refusing `cmd` as sent: it names the very command, or size, sent."""
    unknown, load = _UNKNOWN.fullmatch(error), _DB_LOAD.match(error)
    return bool(unknown and unknown.group(1) == cmd.split(" ")[0]) or bool(load and cmd == f"db load {load.group(1)}")


def _damaged(error: str) -> bool:
    """True when firmware error line `error` answers only a command damaged on the wire, once the refusals
    (`_refusal`: the very command or size sent named) are told apart: another word, another size."""
    return bool(_DAMAGED.match(error) or _UNKNOWN.fullmatch(error) or _DB_LOAD.match(error))


def _joined(lines: list[str], label: str, what: str, port: str) -> str:
    """The groups of every `label` line in a reply, in order, joined: the firmware sends a large output as
    several m-tq-out lines (TQ_OUT_CHUNK bytes each), so no line outgrows MAX_LINE."""
    parts = [m.group(1) for ln in lines if (m := _FIELDS[label].fullmatch(ln))]
    return "".join(parts) if parts else _one(lines, label, what, port)


def _one(lines: list[str], label: str, what: str, port: str) -> str:
    """The group of the `label` line (a key of _FIELDS) in a reply; BadReply if none is well formed."""
    for ln in lines:
        m = _FIELDS[label].fullmatch(ln)
        if m:
            return m.group(1)
    raise BadReply(
        f"garbled answer to '{what}' from {port}: no {label} line in {shown(' | '.join(lines[:4]), 80)}"
    )
