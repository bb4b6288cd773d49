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
    "-ffp-contract=off", "-DTQ_TRACE", "-DTQ_WEIGHTS_SECTION", "-frandom-seed=tinyq", "-gno-record-gcc-switches",
]
# Builds run in a staging directory with a random name; mapped to "build" in the debug information
# and left out of the command build.json records, so the same input gives byte-identical files.
PREFIX_MAPS = ("-ffile-prefix-map=", "-fdebug-prefix-map=")  # (the second for the assembler's files)
# The model and its kernels are built for speed; the runtime around them (startup, console, counter,
# protocol) runs outside the measured inference and is built for size, as one unit: link-time
# optimization inlines and specialises the protocol's calls into the console, the counter and the
# model glue (about 440 B less code on every core).
OPT_MODEL = ["-O2"]
OPT_RUNTIME = ["-Os", "-flto"]
# Where a core has neither the DSP extension nor Helium the kernels are plain C (no inline assembler
# is compiled) and the model joins the link-time optimization: each kernel is specialised to the
# constant params of the layers that call it and the branches they never take go (kws on qemu-m0
# 18.0 KB -> 14.2 KB of code, 0.6% fewer instructions). Not yet on the other cores (it would take kws on
# qemu-m4 from 15.8 to 12.6 KB, ResNet-8 from 16.3 to 15.3 KB): an inline assembler loop whose in/out
# operands are not early clobber ("+r", not "+&r") and that reads an input after writing one may,
# once constants cross files, get that input in the same register when the two values are equal.
# Seen: Helium average pooling on ResNet-8 (rows == cols == 8) not bit-exact, fixed in
# firmware/kernels/pool/; the int16 depthwise DSP loop (tq_dw16_block4: co == 0 beside sums that
# start at 0) hangs on a 4-channel layer. Add "dsp" (then "mve") here once the kernels' loops are
# early clobber.
LTO_EXTENSIONS: frozenset[str] = frozenset()
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"]
FLASH_SECTIONS = (".tq_boot2", ".tq_vectors", ".text", ".ARM.exidx", ".rodata", ".tq_weights", ".data")


def model_opts(board: Board) -> list[str]:
    """The model group's optimization flags for `board` (see LTO_EXTENSIONS)."""
    return [*OPT_MODEL, "-flto"] if set(board.extensions) <= LTO_EXTENSIONS else OPT_MODEL


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
    """Compile src/*.c and *.S (the model and kernels with `model_opts`, the `runtime` files with
    OPT_RUNTIME) and link them into ../`elf` (link-time optimization keeps each function's level);
    objects are removed afterwards so src/ keeps sources only.
    Raises Overflow when a memory region overflows, CheckFailed on any other compiler error."""
    # The staging directory's random name kept out of the debug information and link-time symbols.
    stage = src.parent.resolve()
    cflags = [*board.cflags, *COMMON_CFLAGS, f"-ffile-prefix-map={stage}=build", f"-fdebug-prefix-map={stage}=build"]
    sources = sorted(p.name for p in src.iterdir() if p.suffix in (".c", ".S"))
    objects: list[str] = []
    r = subprocess.CompletedProcess([], 0, "", "")
    for group, opts in ((sorted(set(sources) - runtime), model_opts(board)), (sorted(set(sources) & runtime), OPT_RUNTIME)):
        r = subprocess.run([gcc, *cflags, *opts, "-I", ".", "-c", *group], cwd=src, capture_output=True, text=True)
        if r.returncode != 0:
            break
        objects += [n.rsplit(".", 1)[0] + ".o" for n in group]
    # -save-temps: the link-time units are named after the ELF instead of random temporary files, whose
    # names would otherwise reach the map file and the debug information (builds must be byte-identical).
    link = [gcc, *cflags, "-flto", "-save-temps", *objects, "-T", link_script, *LDFLAGS, "-Wl,-Map=../firmware.map",
            "-o", f"../{elf}", "-lm"]
    if r.returncode == 0:
        r = subprocess.run(link, cwd=src, capture_output=True, text=True)
        remove_link_temps(src)
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


def remove_link_temps(src: Path) -> None:
    """The files -save-temps leaves: NAME.elf.* beside the ELF, OBJECT.o.debug.temp.o in src/."""
    for f in [*src.parent.glob("*.elf.*"), *src.glob("*.temp.o")]:
        f.unlink()


def measure_oversize(src: Path, link: list[str], measure_script: str, board: Board) -> Path:
    """Relink with a script whose regions are stretched, only to measure what the model needs."""
    cmd = [a if a != "../link.ld" else f"../{measure_script}" for a in link]
    cmd = [a for a in cmd if not a.startswith("-Wl,-Map=")]
    cmd[cmd.index(f"../{ELF}")] = "../measure.elf"
    r = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    remove_link_temps(src)
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
