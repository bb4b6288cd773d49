"""A fault-injecting serial proxy: it sits between the host and an emulator's TCP serial port (QEMU's
`-serial tcp:...`) and damages the bytes on the way, in either direction, as a bad cable would.

`FaultProxy(upstream)` listens on 127.0.0.1 (`url`, what `tinyq profile --port` opens) and forwards
every byte between its client and `upstream` (socket://HOST:PORT) in a thread. Faults, in the
direction "up" (host to board) or "down" (board to host):

- `Rule(direction, after, nth, offset, action, count, mask)`: after the `nth` time the bytes `after`
  went by, skip `offset` bytes, then `action` the next `count` bytes: "flip" (XOR with `mask`), "hex"
  (a hex digit becomes another one: '0' -> '1', any other -> '0'; the line stays well formed, so only
  a checksum can tell), "drop", "dup" (sent twice) or "stop" (nothing more goes that way: a board that
  stops answering, until `resume()`).
- `Rates(flip, drop, dup)` with `seed`: each byte is flipped (one random bit), dropped or duplicated
  with that probability, from a seeded generator, so a run is repeatable.

Every damaged byte is logged (`log`: direction, offset in that direction's stream, action). The
upstream is connected at start and read only while a client is connected, so an emulator started
with `wait=on` keeps its boot banner until the host is there; a client that closes (the host opens
the port again) is replaced by the next one that connects. `reconnect(upstream)` switches to another
emulator (the first one killed and a new one started: a board that lost power).
"""

from __future__ import annotations

import random
import select
import socket
import threading
from dataclasses import dataclass, field
from typing import Self

DIRECTIONS = ("up", "down")
ACTIONS = ("flip", "hex", "drop", "dup", "stop")
HEX = b"0123456789abcdefABCDEF"


@dataclass
class Rule:
    direction: str
    after: bytes
    nth: int = 1
    offset: int = 0
    action: str = "flip"
    count: int = 1
    mask: int = 0x01
    seen: int = 0  # times `after` went by
    left: int = field(default=-1)  # bytes until the action starts (-1: not armed), then...
    doing: int = 0  # ...bytes still to act on

    def __post_init__(self):
        assert self.direction in DIRECTIONS and self.action in ACTIONS and self.after, self


@dataclass
class Rates:
    flip: float = 0.0
    drop: float = 0.0
    dup: float = 0.0


def _hostport(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    return host, int(port)


class FaultProxy:
    def __init__(self, upstream: str, rules: list[Rule] = (), rates: dict[str, Rates] | None = None, seed: int = 0):
        self.upstream = upstream
        self._lock = threading.Lock()
        self.configure(rules, rates, seed)
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind(("127.0.0.1", 0))
        self._listen.listen(1)
        self.url = f"socket://127.0.0.1:{self._listen.getsockname()[1]}"
        self._board: socket.socket | None = None
        self._host: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def configure(self, rules: list[Rule] = (), rates: dict[str, Rates] | None = None, seed: int = 0) -> None:
        """New faults from now on (the log and the byte counts start again)."""
        with self._lock:
            self.rules = list(rules)
            self.rates = dict(rates or {})
            self._rng = random.Random(seed)
            self._window = {d: b"" for d in DIRECTIONS}
            self._pos = {d: 0 for d in DIRECTIONS}
            self._stopped = set()
            self.log: list[tuple[str, int, str]] = []

    def resume(self) -> None:
        with self._lock:
            self._stopped.clear()
            self.rules = [r for r in self.rules if r.action != "stop"]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._board = socket.create_connection(_hostport(self.upstream), timeout=10)
        self._thread.start()
        return self

    def reconnect(self, upstream: str) -> None:
        """Forward to another emulator from now on (the old connection is dropped)."""
        with self._lock:
            old, self.upstream = self._board, upstream
            self._board = socket.create_connection(_hostport(upstream), timeout=10)
        old.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for s in (self._host, self._board, self._listen):
            if s is not None:
                s.close()

    # ------------------------------------------------------------------ forwarding

    def _serve(self) -> None:
        while not self._stop.is_set():
            board = self._board
            watch = [self._listen] + ([self._host, board] if self._host is not None else [])
            try:
                ready, _, _ = select.select(watch, [], [], 0.02)
            except (OSError, ValueError):  # a socket closed under us (reconnect, close)
                continue
            for s in ready:
                if s is self._listen:
                    conn, _ = self._listen.accept()
                    if self._host is not None:
                        self._host.close()
                    self._host = conn
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if s is self._host and not data:  # the host closed the port: wait for the next one
                    self._host.close()
                    self._host = None
                    break
                if not data:
                    continue  # the emulator went away: a reconnect brings the next one
                direction = "up" if s is self._host else "down"
                out = self._damage(direction, data)
                target = self._board if direction == "up" else self._host
                try:
                    if out and target is not None:
                        target.sendall(out)
                except OSError:
                    pass

    def _damage(self, direction: str, data: bytes) -> bytes:
        with self._lock:
            out = bytearray()
            rate = self.rates.get(direction)
            for b in data:
                pos = self._pos[direction]
                self._pos[direction] += 1
                action, mask = self._ruled(direction, b)
                if action is None and rate is not None:
                    x = self._rng.random()
                    if x < rate.flip:
                        action, mask = "flip", 1 << self._rng.randrange(8)
                    elif x < rate.flip + rate.drop:
                        action = "drop"
                    elif x < rate.flip + rate.drop + rate.dup:
                        action = "dup"
                if direction in self._stopped:
                    continue
                if action is not None:
                    self.log.append((direction, pos, action))
                if action == "stop":
                    self._stopped.add(direction)
                elif action == "flip":
                    out.append(b ^ mask)
                elif action == "hex":
                    out.append(ord("1") if b == ord("0") else ord("0") if b in HEX else b ^ mask)
                elif action == "dup":
                    out += bytes([b, b])
                elif action != "drop":
                    out.append(b)
            return bytes(out)

    def _ruled(self, direction: str, b: int) -> tuple[str | None, int]:
        """What the rules do to byte `b` (the action and the flip mask), and each rule's count moved on."""
        action, mask = None, 0
        self._window[direction] = (self._window[direction] + bytes([b]))[-64:]
        for r in self.rules:
            if r.direction != direction:
                continue
            if r.doing:  # acting on `count` bytes
                action, mask, r.doing = r.action, r.mask, r.doing - 1
            elif r.left == 0:  # the first of them
                action, mask, r.left, r.doing = r.action, r.mask, -1, r.count - 1
            elif r.left > 0:  # skipping `offset` bytes
                r.left -= 1
            elif self._window[direction].endswith(r.after):  # idle: the trigger went by
                r.seen += 1
                if r.seen == r.nth:
                    r.left = r.offset
        return action, mask
