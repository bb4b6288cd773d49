"""What a firmware executed under QEMU, instruction by instruction: tinyq's TCG plugin.

`firmware/qemu/tq_exec_plugin.c` is compiled once with the host gcc into a cache directory and loaded
with `-plugin`. It counts, inside one measured window (from the firmware's `tq_fw_invoke` to the
return from it), how often each translation block ran in each layer (the per-layer trace point
`tq_trace` ends a layer; what it runs is overhead), whether the branch ending each block was taken,
and, for a board with a flash accelerator, cache misses of instruction fetches and of data reads in
flash. `ExecTrace` is that window; tinyq.checks.cycles turns it into estimated cycles.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinyq.boards import Board
from tinyq.device.adapters import QemuDevice
from tinyq.device.protocol import Dut, Link
from tinyq.device.qemu import Qemu
from tinyq.errors import BadInput, CheckFailed, ToolMissing
from tinyq.resources import FIRMWARE

PLUGIN_SOURCE = FIRMWARE / "qemu" / "tq_exec_plugin.c"
HOST_CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-shared", "-fPIC"]  # tests add -Werror
START_SYMBOL, TRACE_SYMBOL = "tq_fw_invoke", "tq_trace"
OBJDUMP = "arm-none-eabi-objdump"


def cache_dir() -> Path:
    """Where compiled host helpers live: $TINYQ_CACHE, else $XDG_CACHE_HOME/tinyq, else ~/.cache/tinyq."""
    if os.environ.get("TINYQ_CACHE"):
        return Path(os.environ["TINYQ_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinyq"


def plugin_library() -> Path:
    """The compiled plugin, built on first use (named by the source's hash, written atomically)."""
    src = PLUGIN_SOURCE.read_bytes()
    tag = hashlib.sha256(src + " ".join(HOST_CFLAGS).encode()).hexdigest()[:16]
    lib = cache_dir() / "qemu-plugin" / f"tq_exec_plugin-{tag}.so"
    if lib.exists():
        return lib
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        raise ToolMissing("no host C compiler (gcc) to build tinyq's QEMU plugin: install it (`apt-get install gcc`)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tq_exec_plugin-", suffix=".so", dir=lib.parent)
    os.close(fd)
    try:
        r = subprocess.run([gcc, *HOST_CFLAGS, "-o", tmp, str(PLUGIN_SOURCE)], capture_output=True, text=True)
        if r.returncode != 0:
            first = (r.stderr.strip().splitlines() or ["no output"])[0]
            raise ToolMissing(f"the host gcc could not build {PLUGIN_SOURCE.name}: {first}")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


# ------------------------------------------------------------------------------- the ELF

@dataclass(frozen=True)
class Insn:
    addr: int
    size: int  # bytes: 2 or 4
    mnemonic: str  # lower case, with its condition and width suffixes (e.g. "ldr.w", "bne.n")
    operands: str


def objdump_binary() -> str:
    exe = shutil.which(OBJDUMP)
    if not exe:
        raise ToolMissing(f"{OBJDUMP} not found: install it (`apt-get install binutils-arm-none-eabi`)")
    return exe


_LINE = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{4}\s?){1,2})\s+(\S+)\s*(.*)$")


def disassemble(elf: Path) -> dict[int, Insn]:
    """Every instruction of the ELF's code, by address (arm-none-eabi-objdump -d)."""
    r = subprocess.run([objdump_binary(), "-d", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BadInput(f"{elf}: {OBJDUMP} could not read it: {r.stderr.strip()[:200]}")
    insns: dict[int, Insn] = {}
    for line in r.stdout.splitlines():
        m = _LINE.match(line)
        if not m or m.group(3).startswith("."):  # .word / .short: literal data
            continue
        raw = m.group(2).split()
        size = 2 * len(raw)
        ops = m.group(4).split("@")[0].split(";")[0].strip()
        insns[int(m.group(1), 16)] = Insn(int(m.group(1), 16), size, m.group(3).lower(), ops)
    return insns


def function_symbols(elf: Path) -> dict[str, tuple[int, int]]:
    """Function symbols: name -> (address without the Thumb bit, size)."""
    from elftools.elf.elffile import ELFFile

    out: dict[str, tuple[int, int]] = {}
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        if tab is None:
            raise BadInput(f"{elf}: no symbol table: rebuild it with `tinyq build` (stripped firmware cannot be traced)")
        for s in tab.iter_symbols():
            if s["st_info"]["type"] == "STT_FUNC":
                out[s.name] = (int(s["st_value"]) & ~1, int(s["st_size"]))
    return out


@dataclass(frozen=True)
class Window:
    """Where the measured window starts and stops, and the trace point's code (overhead)."""

    start: int
    stop: int
    pause: int | None
    skips: tuple[tuple[int, int], ...]


_CALL = re.compile(r"^bl?x?(?:\.w|\.n)?$")


def window_of(elf: Path, insns: dict[int, Insn] | None = None, start_symbol: str = START_SYMBOL,
              trace_symbol: str | None = TRACE_SYMBOL) -> Window:
    """The measured window of a firmware: `start_symbol`'s entry (tinyq's tq_fw_invoke) to the return
    from its one call; `trace_symbol` (tq_trace) and every function it calls (found in the disassembly)
    are the per-layer overhead."""
    syms = function_symbols(elf)
    if start_symbol not in syms:
        raise BadInput(f"{elf}: no function {start_symbol}: not a tinyq firmware (build it with `tinyq build`)")
    insns = insns if insns is not None else disassemble(elf)
    start = syms[start_symbol][0]
    calls = [i for i in insns.values() if i.mnemonic in ("bl", "blx") and _target(i) == start]
    if len(calls) != 1:
        raise CheckFailed(f"{elf}: {start_symbol} is called from {len(calls)} places, expected one: cannot place the measured window")
    stop = calls[0].addr + calls[0].size
    if trace_symbol is None or trace_symbol not in syms:
        return Window(start, stop, None, ())
    by_addr = {a: (n, size) for n, (a, size) in syms.items()}
    todo, seen, ranges = [syms[trace_symbol][0]], set(), []
    while todo:
        a = todo.pop()
        if a in seen or a not in by_addr:
            continue
        seen.add(a)
        size = max(by_addr[a][1], 2)
        ranges.append((a, a + size))
        for i in insns.values():
            if a <= i.addr < a + size and _CALL.match(i.mnemonic) and i.mnemonic.startswith("bl"):
                t = _target(i)
                if t is not None:
                    todo.append(t)
    return Window(start, stop, syms[trace_symbol][0], tuple(sorted(ranges)))


def _target(i: Insn) -> int | None:
    m = re.match(r"^([0-9a-f]+)\b", i.operands)
    return int(m.group(1), 16) if m else None


# ------------------------------------------------------------------------------- running

@dataclass(frozen=True)
class MemoryModel:
    """Flash and its accelerator as the plugin simulates them: caches of (lines, line bytes)."""

    flash: tuple[int, int] | None = None  # [lo, hi) of the running board's flash; None: no caches
    icache: tuple[int, int] | None = None
    dcache: tuple[int, int] | None = None


def plugin_args(out: Path, window: Window, memory: MemoryModel = MemoryModel()) -> str:
    """The -plugin argument: the library and its key=value settings."""
    parts = [str(plugin_library()), f"out={out}", f"start={window.start:x}", f"stop={window.stop:x}"]
    if window.pause is not None:
        parts.append(f"pause={window.pause:x}")
        parts += [f"skip={lo:x}:{hi:x}" for lo, hi in window.skips]
    if memory.flash is not None and (memory.icache or memory.dcache):
        parts.append(f"flash={memory.flash[0]:x}:{memory.flash[1]:x}")
        if memory.icache:
            parts.append(f"icache={memory.icache[0]}:{memory.icache[1]}")
        if memory.dcache:
            parts.append(f"dcache={memory.dcache[0]}:{memory.dcache[1]}")
    if any("," in p for p in parts):
        raise BadInput(f"{out}: QEMU cannot take a path with a comma as a plugin argument: use another directory")
    return ",".join(parts)


class TracedQemuDevice(QemuDevice):
    """QemuDevice with tinyq's plugin loaded: the last inference's execution lands in `out`."""

    def __init__(self, elf: Path, board: Board, out: Path, memory: MemoryModel = MemoryModel(), **kw):
        super().__init__(elf, board, **kw)
        self.out = Path(out)
        self.window = window_of(self.elf)
        self.memory = memory

    def open(self) -> Dut:
        if self.out.exists():
            self.out.unlink()
        self.qemu = Qemu(self.elf, self.board, extra_args=["-plugin", plugin_args(self.out, self.window, self.memory)]).start()
        self.link = Link(self.qemu.url, self.baud or self.board.console["baud"])
        dut = Dut(self.link, timeout=self.timeout, fix=self.fix)
        dut.wait_boot()
        return dut


def trace_run(elf: Path, board: Board, window: Window, out: Path, memory: MemoryModel = MemoryModel(),
              timeout: float = 600.0) -> None:
    """Run a firmware that needs no input (its console to nowhere) until the plugin has written the window's
    trace to `out`, then stop it. For firmware other than tinyq's (e.g. a TFLM harness)."""
    out = Path(out)
    if out.exists():
        out.unlink()
    q = Qemu(elf, board, extra_args=["-plugin", plugin_args(out, window, memory)])
    cmd = q.command("null")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not out.exists():
            if proc.poll() is not None:
                said = (proc.stdout.read() if proc.stdout else "").strip().splitlines()
                raise CheckFailed(f"QEMU exited ({proc.returncode}) before {elf.name} left its measured window: "
                                  f"{' | '.join(said[-2:]) or 'no output'}")
            if time.monotonic() > deadline:
                raise CheckFailed(f"{elf.name} did not leave its measured window within {timeout:.0f} s of QEMU")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ------------------------------------------------------------------------------- its output

@dataclass(frozen=True)
class Block:
    layer: int  # -1: the trace point's overhead
    vaddr: int
    n: int
    execs: int
    taken: int  # executions after which the next block was not the fall-through


@dataclass
class LayerMemory:
    flash_reads: int = 0
    dmisses: int = 0
    imisses: int = 0
    imisses_sequential: int = 0


@dataclass
class ExecTrace:
    """One measured window: blocks per layer and the flash model's counts per layer."""

    window: int
    layers: int
    blocks: list[Block] = field(default_factory=list)
    memory: dict[int, LayerMemory] = field(default_factory=dict)

    def instructions(self, layer: int | None = None, with_overhead: bool = False) -> int:
        return sum(b.n * b.execs for b in self.blocks
                   if (layer is None and (with_overhead or b.layer >= 0)) or b.layer == layer)


def read_trace(path: Path) -> ExecTrace:
    """The plugin's output file."""
    path = Path(path)
    if not path.exists():
        raise CheckFailed(f"the QEMU plugin wrote no trace to {path}: the firmware never returned from {START_SYMBOL}")
    lines = path.read_text().splitlines()
    head = lines[0].split() if lines else []
    if len(head) != 6 or head[:2] != ["tq-exec", "1"]:
        raise CheckFailed(f"{path}: not a trace of tinyq's QEMU plugin (first line {lines[:1]})")
    t = ExecTrace(window=int(head[3]), layers=int(head[5]))
    for ln in lines[1:]:
        w = ln.split()
        if w[0] == "tb":
            t.blocks.append(Block(int(w[1]), int(w[2], 16), int(w[3]), int(w[4]), int(w[5])))
        elif w[0] == "mem":
            t.memory[int(w[1])] = LayerMemory(*(int(x) for x in w[2:6]))
    return t
