"""A fake tinyq board on a pty, for `tinyq profile` against a misbehaving serial line without hardware.

`FakeBoard(build_dir)` serves the firmware's serial protocol (firmware/protocol/tq_protocol.c) on a
pty in a thread: commands end with '%', CR/LF are ignored, every reply ends with "m-ready", errors
are "e-[...]" lines, and `tq-info`, `db load`/`db HEX`, `tq-infer`, `tq-out`, `tq-reset` and `name` answer
as the firmware does, a tq- reply ending with its m-tq-crc line (the CRC-32 of the reply, after the input
for a tq-infer that ran). Outputs are computed with TFLite's reference interpreter on the loaded bytes, so a
clean run is bit-exact; the interpreter keeps a model's state from one `tq-infer` to the next, as the
firmware does, and `tq-reset` (or a restart) starts it afresh; cycles are made up but fixed (layer k takes 1000 + 100 k, plus 50 around).

Faults are injected with `Fault(kind, on, nth, count)`: at the `nth` command named `on` (the first
word, or "db load" / "db" for a data line, "*" for any) and the `count - 1` after it (count 0: from
then on), the board does `kind`:

- "silent": swallows the command (no reply; the host times out)
- "noise": sends `data` (lines of garbage) before the reply
- "glitch": puts `data` in the middle of the reply's line number `line` (-1: its m-ready)
- "reset": restarts on the command: the boot banner again, the loaded input forgotten, no reply
- "reset_after": replies, then restarts (the host finds out at its next command)
- "replug": restarts and its port goes away and comes back (a USB console re-enumerating); with
  `delay`, the boot banner shows on the old port first and the port goes `delay` seconds later
- "bad_hex": a non-hex character in the m-tq-out line
- "flip": the output's first byte inverted, as valid hex, before the CRC (a wrong answer, not a garbled one)
- "wire": the cycle count's last digit changed after the CRC (a figure changed on the wire)
- "input": the first byte of a `db` line stored inverted, or `db load N` taken as N + 1 (bytes changed
  on their way to the board)
- "slow": every line of the reply `delay` seconds late
- "baud": the reply's bytes garbled as at a wrong baud rate

`info` overrides fields of the `tq-info` answer (a board running another model); `sha` adds the
model-hash field that firmwares may report; `crc=False` answers as a firmware from before the CRC.
"""

from __future__ import annotations

import json
import os
import select
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from tinyq.boards import get_board
from tinyq.checks.reference import Reference
from tinyq.ir import NUMPY_DTYPES

from .fake_samba import _Pty

BANNER = ["m-timestamp-mode-performance", "m-lap-us-0", "m-init-done", "m-ready"]
KINDS = ("silent", "noise", "glitch", "reset", "reset_after", "replug", "bad_hex", "flip", "wire", "input", "slow", "baud")


@dataclass
class Fault:
    kind: str
    on: str = "tq-infer"
    nth: int = 1
    count: int = 1
    data: bytes = b"\xff\xfe\x00\x93 noise \x01\r\n"
    delay: float = 0.0
    line: int = 0
    seen: int = 0  # commands named `on` so far

    def __post_init__(self):
        assert self.kind in KINDS, self.kind

    def fires(self, name: str) -> bool:
        if self.on not in ("*", name):
            return False
        self.seen += 1
        return self.seen >= self.nth and (self.count == 0 or self.seen < self.nth + self.count)


def command_name(words: list[str]) -> str:
    if words[:1] == ["db"] and len(words) > 1:
        return "db " + words[1] if words[1] in ("load", "print") else "db"
    return words[0] if words else ""


class FakeBoard:
    def __init__(self, build_dir: Path, faults: list[Fault] = (), info: dict | None = None, sha: str | None = None,
                 crc: bool = True):
        self.build_dir = Path(build_dir)
        self.manifest = json.loads((self.build_dir / "build.json").read_text())
        board = get_board(self.manifest["board"])
        m = self.manifest
        self.info = {
            "model": m["model"]["name"], "board": m["board"], "input": m["input_bytes"], "output": m["output_bytes"],
            "layers": len(m["layers"]), "arena": m["arena_bytes"], "unit": board.cycle_unit, "clock": board.clock_hz,
        }
        if sha is not None:
            self.info["sha"] = sha
        self.info.update(info or {})
        self.faults = list(faults)
        self.crc = crc
        self.ref = Reference(self.build_dir / m["model"]["file"])
        self.commands: list[str] = []
        self.resets = 0
        self.state_resets = 0  # tq-reset commands served
        self.inferences = 0
        self._forget()
        self._dir = Path(tempfile.mkdtemp(prefix="fake-board-"))
        self.link = self._dir / "ttyACM0"  # the port: a stable name, as udev gives a USB console
        self._plug()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> str:
        return str(self.link)

    # ------------------------------------------------------------------ lifecycle

    def _plug(self) -> None:
        """A new pty behind the port's name (after a replug, the old one is gone)."""
        self._pty = _Pty()
        if self.link.is_symlink():
            self.link.unlink()
        self.link.symlink_to(self._pty.path)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pty.close()
        if self.link.is_symlink():
            self.link.unlink()
        self._dir.rmdir()

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            master = self._pty.master
            r, _, _ = select.select([master], [], [], 0.01)
            if not r:
                continue
            try:
                buf += os.read(master, 4096)
            except OSError:
                continue
            while b"%" in buf:
                cmd, buf = buf.split(b"%", 1)
                text = cmd.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"").decode("latin-1")
                self.commands.append(text)
                buf = self._command(text, buf)

    # ------------------------------------------------------------------ the firmware

    def _forget(self) -> None:
        self.input = bytearray(self.manifest["input_bytes"])
        self.expected = 0
        self.loaded = 0
        self.output: bytes | None = None
        self.cycles = 0
        self.layer_cycles: list[int] = []

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._pty.master, data)
        except OSError:
            pass

    def _restart(self) -> None:
        self.resets += 1
        self._forget()
        self.ref = Reference(self.build_dir / self.manifest["model"]["file"])  # a restart loses the state
        self._write("".join(ln + "\r\n" for ln in BANNER).encode())

    def _command(self, text: str, pending: bytes) -> bytes:
        """Serve one command; returns what is left of the host's bytes (a replug loses them)."""
        words = text.split()
        active = [f for f in self.faults if f.fires(command_name(words))]
        kinds = {f.kind: f for f in active}
        if "silent" in kinds:
            return pending
        if "reset" in kinds:
            self._restart()
            return b""
        if "replug" in kinds:
            if kinds["replug"].delay:
                self._restart()
                time.sleep(kinds["replug"].delay)
            self._pty.close()
            time.sleep(0.1)
            self._plug()
            self._restart()
            return b""
        if "input" in kinds and len(words) == 2 and words[0] == "db" and len(words[1]) >= 2:
            words = ["db", f"{int(words[1][:2], 16) ^ 0xFF:02x}{words[1][2:]}"]
        elif "input" in kinds and words[:2] == ["db", "load"]:
            words = ["db", "load", str(int(words[2]) + 1)]
        ran = self.inferences
        lines = self._dispatch(words)
        if "flip" in kinds:
            lines = [self._flip(ln) for ln in lines]
        if self.crc and text.startswith("tq-"):  # the firmware's check: the command's first three characters
            data = b"".join((ln + "\r\n").encode() for ln in lines)
            first = zlib.crc32(self._stream()) if words == ["tq-infer"] and self.inferences > ran else 0
            lines.append(f"m-tq-crc-{zlib.crc32(data, first)}")
        lines.append("m-ready")
        if "bad_hex" in kinds:
            lines = [ln.replace("m-tq-out-[", "m-tq-out-[z", 1) for ln in lines]
        if "wire" in kinds:
            lines = [ln[:-1] + str((int(ln[-1]) + 1) % 10) if ln.startswith("m-tq-cycles-") else ln for ln in lines]
        data = [(ln + "\r\n").encode() for ln in lines]
        if "glitch" in kinds:
            k = kinds["glitch"].line
            data[k] = data[k][: len(data[k]) // 2] + kinds["glitch"].data + data[k][len(data[k]) // 2 :]
        if "baud" in kinds:
            data = [bytes((b * 7 + 0x81) & 0xFF | 0x80 for b in d[:-2]) + b"\r\n" for d in data]
        if "noise" in kinds:
            data.insert(0, kinds["noise"].data)
        for d in data:
            if "slow" in kinds:
                time.sleep(kinds["slow"].delay)
            self._write(d)
        if "reset_after" in kinds:
            time.sleep(0.02)
            self._restart()
        return pending

    def _stream(self) -> bytes:
        """The input stream as the firmware's CRC reads it: each input's bytes, the padding between them 0."""
        out = bytearray(len(self.input))
        for r in self.manifest["io"]:
            if r["kind"] == "input":
                out[r["offset"] : r["offset"] + r["bytes"]] = self.input[r["offset"] : r["offset"] + r["bytes"]]
        return bytes(out)

    @staticmethod
    def _flip(line: str) -> str:
        if not line.startswith("m-tq-out-[") or len(line) < 13:
            return line
        b = int(line[10:12], 16) ^ 0xFF
        return f"m-tq-out-[{b:02x}{line[12:]}"

    def _dispatch(self, w: list[str]) -> list[str]:
        if not w:
            return ["e-[Empty command]"]
        if w == ["name"]:
            return ["m-name-dut-[tinyq]"]
        if w == ["tq-info"]:
            return ["m-tq-info-[" + ",".join(f"{k}={v}" for k, v in self.info.items()) + "]"]
        if w[0] == "db":
            return self._db(w)
        if w == ["tq-infer"]:
            if self.loaded != self.manifest["input_bytes"]:
                return [f"e-[Input db has {self.loaded} bytes, expected {self.manifest['input_bytes']}]"]
            self._infer()
            return [f"m-tq-cycles-{self.cycles}", "m-tq-layers-[" + ",".join(map(str, self.layer_cycles)) + "]",
                    f"m-tq-out-[{self.output.hex()}]"]
        if w == ["tq-reset"]:
            self.ref = Reference(self.build_dir / self.manifest["model"]["file"])
            self.state_resets += 1
            return ["m-tq-reset-done"]
        if w == ["tq-out"]:
            return [f"m-tq-out-[{self.output.hex()}]"] if self.output is not None else ["e-[No results: run infer or tq-infer first]"]
        return [f"e-[Unknown command: {w[0]}]"]

    def _db(self, w: list[str]) -> list[str]:
        if len(w) == 3 and w[1] == "load":
            n = int(w[2])
            if not 0 < n <= self.manifest["input_bytes"]:
                return [f"e-[db load {n} exceeds the model input of {self.manifest['input_bytes']} bytes]"]
            self.expected, self.loaded = n, 0
            return [f"m-[Expecting {n} bytes]"]
        if len(w) != 2:
            return ["e-[Command 'db' takes one word of hex digits]"]
        if self.expected == 0 or self.loaded >= self.expected:
            return ["e-[db: no load in progress; send 'db load N' first]"]
        data = bytes.fromhex(w[1])[: self.expected - self.loaded]
        self.input[self.loaded : self.loaded + len(data)] = data
        self.loaded += len(data)
        return ["m-load-done"] if self.loaded == self.expected else []

    def _infer(self) -> None:
        rows = self.manifest["io"]
        xs = [np.frombuffer(bytes(self.input[r["offset"] : r["offset"] + r["bytes"]]), NUMPY_DTYPES[r["dtype"]]).reshape(r["shape"])
              for r in rows if r["kind"] == "input"]
        outs = [r for r in rows if r["kind"] == "output"]
        got = self.ref.run(xs, [r["tensor"] for r in rows if r["kind"] == "input"], [r["tensor"] for r in outs])
        out = bytearray(self.manifest["output_bytes"])
        for r, a in zip(outs, got):
            out[r["offset"] : r["offset"] + r["bytes"]] = np.ascontiguousarray(a, NUMPY_DTYPES[r["dtype"]]).tobytes()
        self.output = bytes(out)
        self.layer_cycles = [1000 + 100 * k for k in range(len(self.manifest["layers"]))]
        self.cycles = sum(self.layer_cycles) + 50
        self.inferences += 1
