"""The cross toolchain: compile and link a rendered firmware tree with arm-none-eabi-gcc, write the
BIN and HEX images, seal an RP2040 boot2 block, and measure what the linker placed."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinyq.boards import Board
from tinyq.build.manifest import ELF, Sizes
from tinyq.errors import CheckFailed, ToolMissing

# Flags every firmware is built with; the target flags come from the board file.
COMMON_CFLAGS = [
    "-std=c99", "-g", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections",
    "-ffp-contract=off", "-DTQ_TRACE", "-DTQ_WEIGHTS_SECTION",
]
# The model and its kernels are built for speed; the runtime around them (startup, console, counter,
# protocol) runs outside the measured inference and is built for size.
OPT_MODEL = "-O2"
OPT_RUNTIME = "-Os"
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"]
FLASH_SECTIONS = (".tq_boot2", ".tq_vectors", ".text", ".ARM.exidx", ".rodata", ".tq_weights", ".data")


def arm_gcc() -> str:
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        raise ToolMissing("arm-none-eabi-gcc not found: install it (`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`) or run `make setup`")
    return gcc


@dataclass
class Linked:
    """A linked firmware: the link command and the compiler's warnings."""

    command: list[str]
    warnings: list[str]


class Overflow(Exception):
    """The linker placed more than the board's flash or RAM holds (measured by `measure_oversize`)."""


def compile_and_link(gcc: str, src: Path, board: Board, runtime: set[str], link_script: str = "../link.ld",
                     elf: str = ELF) -> Linked:
    """Compile src/*.c and *.S (the model and kernels at OPT_MODEL, the `runtime` files at OPT_RUNTIME)
    and link them into ../`elf`; objects are removed afterwards so src/ keeps sources only.
    Raises Overflow when a memory region overflows, CheckFailed on any other compiler error."""
    cflags = [*board.cflags, *COMMON_CFLAGS]
    sources = sorted(p.name for p in src.iterdir() if p.suffix in (".c", ".S"))
    objects: list[str] = []
    r = subprocess.CompletedProcess([], 0, "", "")
    for group, opt in ((sorted(set(sources) - runtime), OPT_MODEL), (sorted(set(sources) & runtime), OPT_RUNTIME)):
        r = subprocess.run([gcc, *cflags, opt, "-I", ".", "-c", *group], cwd=src, capture_output=True, text=True)
        if r.returncode != 0:
            break
        objects += [n.rsplit(".", 1)[0] + ".o" for n in group]
    link = [gcc, *cflags, *objects, "-T", link_script, *LDFLAGS, "-Wl,-Map=../firmware.map", "-o", f"../{elf}", "-lm"]
    if r.returncode == 0:
        r = subprocess.run(link, cwd=src, capture_output=True, text=True)
    if r.returncode != 0:
        if re.search(r"region `(\w+)' overflowed by (\d+) bytes", r.stderr):
            raise Overflow(link)
        lines = r.stderr.splitlines()
        first = next((ln for ln in lines if ": error:" in ln or "undefined reference" in ln),
                     next((ln for ln in lines if "error" in ln), r.stderr.strip()[-400:]))
        raise CheckFailed(f"the firmware does not build for {board.name}: {first} (run with -v for the compiler output)", detail=r.stderr)
    for o in objects:
        (src / o).unlink()
    return Linked(command=link, warnings=[ln for ln in r.stderr.splitlines() if "warning" in ln])


def measure_oversize(src: Path, link: list[str], measure_script: str, board: Board) -> Path:
    """Relink with a script whose regions are stretched, only to measure what the model needs."""
    cmd = [a if a != "../link.ld" else f"../{measure_script}" for a in link]
    cmd = [a for a in cmd if not a.startswith("-Wl,-Map=")]
    cmd[cmd.index(f"../{ELF}")] = "../measure.elf"
    r = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if r.returncode != 0:
        raise CheckFailed(f"the firmware does not link for {board.name} even with unlimited memory: {r.stderr.strip()[-300:]}")
    return src.parent / "measure.elf"


def write_images(gcc: str, elf: Path) -> None:
    """firmware.bin and firmware.hex beside the ELF."""
    objcopy = gcc.replace("gcc", "objcopy")
    for fmt, ext in (("binary", "bin"), ("ihex", "hex")):
        subprocess.run([objcopy, "-O", fmt, str(elf), str(elf.with_suffix(f".{ext}"))], check=True)


def crc32_msb(data: bytes) -> int:
    """CRC-32, polynomial 0x04C11DB7, MSB first (no reflection), init 0xFFFFFFFF, no final xor."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def seal_boot2(elf: Path, board: Board) -> int:
    """Write the boot2 block's checksum (its last 4 bytes, little-endian) into the ELF; returns it."""
    from elftools.elf.elffile import ELFFile

    n = int(board.boot2["bytes"])
    with open(elf, "r+b") as f:
        sec = ELFFile(f).get_section_by_name(".tq_boot2")
        if sec is None or int(sec["sh_size"]) != n or int(sec["sh_addr"]) != board.flash.origin:
            raise CheckFailed(f"the firmware for {board.name} has no {n}-byte .tq_boot2 at the start of flash: check templates/link.ld.j2")
        offset = int(sec["sh_offset"])
        f.seek(offset)
        crc = crc32_msb(f.read(n - 4))
        f.seek(offset + n - 4)
        f.write(crc.to_bytes(4, "little"))
    return crc


def elf_sizes(elf: Path, board: Board, arena_bytes: int) -> Sizes:
    """Flash and RAM by section, as the linker placed them (pyelftools)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        sec = {s.name: s for s in ELFFile(f).iter_sections()}

        def size(n: str) -> int:
            return int(sec[n]["sh_size"]) if n in sec else 0

        flash = sum(size(n) for n in FLASH_SECTIONS)
        weights = size(".tq_weights")
        stack = size(".tq_stack")
        data_bss = size(".data") + size(".bss")
    return Sizes(
        code=flash - weights, weights=weights, flash=flash, flash_limit=board.flash.length,
        arena=arena_bytes, stack=stack, ram_other=data_bss - arena_bytes, ram=data_bss + stack, ram_limit=board.ram.length,
    )


def too_big_message(board: Board, s: Sizes) -> str:
    parts = []
    if s.flash > s.flash_limit:
        parts.append(f"flash needs {s.flash:,} B (weights {s.weights:,} + code {s.code:,}) but {board.name} has {s.flash_limit:,} B")
    if s.ram > s.ram_limit:
        parts.append(f"RAM needs {s.ram:,} B (arena {s.arena:,} + stack {s.stack:,} + other {s.ram_other:,}) but {board.name} has {s.ram_limit:,} B")
    return "the model does not fit: " + "; ".join(parts) + ": pick a board with more memory or a smaller model"
