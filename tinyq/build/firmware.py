"""`tinyq build`: a model and a board -> firmware (ELF, BIN, HEX, map) with a size report.

The build directory is self-contained: the generated sources (src/), the linker script, the firmware
images, the model it was built from (model.tflite) and build.json, the manifest that `tinyq profile`
and `tinyq emulate` read. It is written atomically: all of it, or nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyq import __version__
from tinyq.boards import Board, get_board
from tinyq.compiler.codegen import _env, write as write_library
from tinyq.compiler.pipeline import generate_library
from tinyq.errors import BadInput, CheckFailed, ToolMissing
from tinyq.fileio import staged_dir
from tinyq.resources import FIRMWARE
from tinyq.compiler.target import target_for

ELF = "firmware.elf"
MANIFEST = "build.json"
MODEL_COPY = "model.tflite"
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
MLPERF_MODELS = ("unspecified", "kws01", "ic01", "vww01", "ad01")


@dataclass
class Sizes:
    """Bytes of flash and RAM, as the linker placed them."""

    code: int  # flash minus weights: vectors, code, constants of the runtime, .data image
    weights: int  # the model's weights, biases and requantization tables
    flash: int
    flash_limit: int
    arena: int
    stack: int
    ram_other: int  # .data + .bss minus the arena (protocol buffers, input/output, statics)
    ram: int
    ram_limit: int

    @property
    def fits(self) -> bool:
        return self.flash <= self.flash_limit and self.ram <= self.ram_limit

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class BuildResult:
    out_dir: Path
    board: Board
    sizes: Sizes
    manifest: dict

    @property
    def elf(self) -> Path:
        return self.out_dir / ELF


def arm_gcc() -> str:
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        raise ToolMissing("arm-none-eabi-gcc not found: install it (`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`) or run `make setup`")
    return gcc


def _firmware_sources(board: Board) -> list[Path]:
    """The static firmware files this board links: startup (and boot2), soc bring-up, its console and
    counter drivers, protocol. A console driver's directory hal/console_<driver>/, if there is one,
    adds its .c/.h files (copied flat into src/)."""
    hal = FIRMWARE / "hal"
    driver = board.console["driver"]
    files = [
        FIRMWARE / "main.c",
        FIRMWARE / "startup" / "tq_startup.c",
        hal / "tq_hal.h",
        hal / f"console_{driver}.c",
        hal / f"cycles_{board.cycle_counter['driver']}.c",
        FIRMWARE / "protocol" / "tq_protocol.h",
        FIRMWARE / "protocol" / "tq_protocol.c",
    ]
    if board.soc:
        files.append(hal / f"soc_{board.soc['family']}.c")
    if board.boot2:
        files.append(FIRMWARE / "startup" / f"boot2_{board.boot2['source']}.S")
    if (hal / f"console_{driver}").is_dir():
        files += sorted(p for p in (hal / f"console_{driver}").iterdir() if p.suffix in (".c", ".h"))
    for f in files:
        if not f.exists():
            other = [c for c in board.consoles if c != board.console_name]
            hint = f" or pick another console (--console {' / '.join(other)})" if other and f.name.startswith("console_") else ""
            raise CheckFailed(f"firmware file firmware/{f.relative_to(FIRMWARE)} named by board {board.name} is missing: "
                              f"add it to firmware/{hint}")
    names = [f.name for f in files]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise RuntimeError(f"firmware files of board {board.name} share the names {', '.join(clash)}: rename them")
    return files


def _macro_value(v) -> str:
    """A board param as a C constant: 123u, 0x40008000u."""
    return f"{v}u" if isinstance(v, int) else f"{int(v, 16):#010x}u"


def _macros(params: dict | None) -> list[tuple[str, str]]:
    return [(k, _macro_value(v)) for k, v in sorted((params or {}).items())]


def _vector_align(board: Board) -> int:
    """VTOR needs the table aligned to its size rounded up to a power of two (at least 128 bytes)."""
    size = 4 * (16 + board.irqs)
    return max(128, 1 << (size - 1).bit_length())


def crc32_msb(data: bytes) -> int:
    """CRC-32, polynomial 0x04C11DB7, MSB first (no reflection), init 0xFFFFFFFF, no final xor."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _seal_boot2(elf: Path, board: Board) -> int:
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


def _check_fpu(g, board: Board) -> None:
    """A float32 model builds only for a core with an FPU (the board file's `fpu`)."""
    from tinyq.boards import all_boards
    from tinyq.compiler.importer import quant_mode

    if board.fpu is None and quant_mode(g) == "float":
        with_fpu = sorted(b.name for b in all_boards().values() if b.fpu is not None)
        raise BadInput(f"this is a float32 model and {board.name} has no FPU: build it for a board with one "
                       f"({', '.join(with_fpu)}), or convert it to int8 with `tinyq convert MODEL -c CALIB`")


def _io_layout(g) -> list[dict]:
    """Inputs then outputs, each at an offset (aligned to its element size) in one byte buffer."""
    rows = []
    for kind, ids in (("input", g.inputs), ("output", g.outputs)):
        offset = 0
        for k, i in enumerate(ids):
            t = g.tensor(i)
            item = np.dtype(t.dtype).itemsize
            offset = (offset + item - 1) // item * item
            q = t.quant
            rows.append({
                "kind": kind, "index": k, "tensor": i, "name": t.name, "dtype": t.dtype, "shape": list(t.shape),
                "offset": offset, "bytes": t.nbytes,
                "scale": float(np.float32(q.scale[0])) if q else None, "zero_point": int(q.zero_point[0]) if q else None,
            })
            offset += t.nbytes
    return rows


def _buffer_bytes(rows: list[dict], kind: str) -> int:
    return max((r["offset"] + r["bytes"] for r in rows if r["kind"] == kind), default=0)


def build(model: Path, board: Board, out_dir: Path, name: str = "model", mlperf_model: str = "unspecified",
          command: str | None = None, tflite_bytes: bytes | None = None,
          kernels: str = "fast", wide: bool = False, console: str | None = None) -> BuildResult:
    """Generate, compile and link `model` (a .tflite, or its bytes) for `board` into `out_dir`.

    `console` picks one of the board's consoles (`Board.consoles`); None keeps the one `board` has.
    """
    board = board.with_console(console)
    if mlperf_model not in MLPERF_MODELS:
        raise BadInput(f"--mlperf-model {mlperf_model}: choose one of {', '.join(MLPERF_MODELS)}")
    if tflite_bytes is None:
        model = Path(model)
        if model.is_dir():
            raise BadInput(f"{model} is a directory: give a .tflite file (or a Keras model with --calib)")
        if not model.is_file():
            raise BadInput(f"{model}: no such file: give a .tflite model (from `tinyq convert`)")
    gcc = arm_gcc()
    out_dir = Path(out_dir)
    command = command or f"tinyq build {model} --board {board.name} -o {out_dir}" + (f" --console {board.console_name}" if console else "")
    with staged_dir(out_dir) as stage:
        tflite = stage / MODEL_COPY
        tflite.write_bytes(tflite_bytes if tflite_bytes is not None else Path(model).read_bytes())
        gen = generate_library(tflite, name=name, command=command, target=target_for(kernels, board.extensions, wide))
        g = gen.graph
        _check_fpu(g, board)
        src = stage / "src"
        write_library(gen, src)
        for f in _firmware_sources(board):
            shutil.copyfile(f, src / f.name)
        layout = _io_layout(g)
        first_out = next(r for r in layout if r["kind"] == "output")
        header = [f"Generated by tinyq {__version__} for board {board.name}", f"model sha256: {g.source_sha256}", f"command: {command}"]
        env = _env()
        num, den = board.cycles_ratio()
        ctx = {
            "header_lines": header, "board": board, "name": name, "NAME": name.upper(),
            "console_base": int(board.console["base"], 16), "cycles_num": num, "cycles_den": den,
            "console_params": _macros(board.console.get("params")), "soc_params": _macros((board.soc or {}).get("params")),
            "vector_align": _vector_align(board), "boot2_bytes": int(board.boot2["bytes"]) if board.boot2 else 0,
            "flash_origin": board.flash.origin, "flash_length": board.flash.length,
            "ram_origin": board.ram.origin, "ram_length": board.ram.length, "stack_bytes": board.stack_bytes,
            "input_bytes": _buffer_bytes(layout, "input"), "output_bytes": _buffer_bytes(layout, "output"),
            "layers": len(g.ops), "mlperf_model": mlperf_model, "sha": g.source_sha256,
            "io": [dict(r, output=r["kind"] == "output", ctype={"int8": "int8_t", "int16": "int16_t", "float32": "float"}[r["dtype"]]) for r in layout],
            "results": {
                "count": int(np.prod(first_out["shape"])) if first_out["shape"] else 1,
                "float": first_out["dtype"] == "float32",
                "scale": f"{first_out['scale'] or 0.0!r}f",
                "zero_point": first_out["zero_point"] or 0,
            },
        }
        (src / "tq_board.h").write_text(env.get_template("tq_board.h.j2").render(ctx))
        (src / "tq_fw_model.c").write_text(env.get_template("fw_model.c.j2").render(ctx))
        (stage / "link.ld").write_text(env.get_template("link.ld.j2").render(ctx))

        cflags = [*board.cflags, *COMMON_CFLAGS]
        runtime = {f.name for f in _firmware_sources(board)} | {"tq_fw_model.c"}
        sources = sorted(p.name for p in src.iterdir() if p.suffix in (".c", ".S"))
        objects = []
        r = subprocess.CompletedProcess([], 0, "", "")
        for group, opt in ((sorted(set(sources) - runtime), OPT_MODEL), (sorted(set(sources) & runtime), OPT_RUNTIME)):
            r = subprocess.run([gcc, *cflags, opt, "-I", ".", "-c", *group], cwd=src, capture_output=True, text=True)
            if r.returncode != 0:
                break
            objects += [n.rsplit(".", 1)[0] + ".o" for n in group]
        link = [gcc, *cflags, *objects, "-T", "../link.ld", *LDFLAGS, "-Wl,-Map=../firmware.map", "-o", f"../{ELF}", "-lm"]
        if r.returncode == 0:
            r = subprocess.run(link, cwd=src, capture_output=True, text=True)
        if r.returncode != 0:
            over = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", r.stderr)
            if over:
                sizes = _oversize_report(stage, src, link, ctx, env, board, g)
                raise BadInput(_too_big_message(board, sizes))
            lines = r.stderr.splitlines()
            first = next((ln for ln in lines if ": error:" in ln or "undefined reference" in ln),
                         next((ln for ln in lines if "error" in ln), r.stderr.strip()[-400:]))
            raise CheckFailed(f"the firmware does not build for {board.name}: {first} (run with -v for the compiler output)", detail=r.stderr)
        for o in objects:
            (src / o).unlink()  # src/ keeps sources only
        boot2_crc = _seal_boot2(stage / ELF, board) if board.boot2 else None
        objcopy = gcc.replace("gcc", "objcopy")
        for fmt, ext in (("binary", "bin"), ("ihex", "hex")):
            subprocess.run([objcopy, "-O", fmt, str(stage / ELF), str(stage / f"firmware.{ext}")], check=True)
        sizes = elf_sizes(stage / ELF, board, arena_bytes=g.arena_size)
        manifest = {
            "tinyq": __version__,
            "board": board.name,
            "console": {"name": board.console_name, "driver": board.console["driver"], "baud": board.console["baud"]},
            "boot2_crc": f"{boot2_crc:#010x}" if boot2_crc is not None else None,
            "model": {"name": name, "source": str(model), "sha256": hashlib.sha256(tflite.read_bytes()).hexdigest(), "file": MODEL_COPY},
            "mlperf_model": mlperf_model,
            "io": layout,
            "input_bytes": ctx["input_bytes"],
            "output_bytes": ctx["output_bytes"],
            "layers": [{"index": op.index, "op": op.kind} for op in g.ops],
            "arena_bytes": g.arena_size,
            "arena_lower_bound": g.arena_lower_bound,
            "sizes": sizes.to_json(),
            "kernels": kernels,
            "wide_weights": gen.graph.target.wide,
            "cycle_unit": board.cycle_unit,
            "cycle_source": board.cycle_source,
            "compile": " ".join(link),
            "command": command,
            "warnings": [ln for ln in r.stderr.splitlines() if "warning" in ln],
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return BuildResult(out_dir=out_dir, board=board, sizes=sizes, manifest=manifest)


def elf_sizes(elf: Path, board: Board, arena_bytes: int) -> Sizes:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        sec = {s.name: s for s in e.iter_sections()}

        def size(n: str) -> int:
            return int(sec[n]["sh_size"]) if n in sec else 0

        flash = sum(size(n) for n in (".tq_boot2", ".tq_vectors", ".text", ".ARM.exidx", ".rodata", ".tq_weights", ".data"))
        weights = size(".tq_weights")
        stack = size(".tq_stack")
        data_bss = size(".data") + size(".bss")
    return Sizes(
        code=flash - weights, weights=weights, flash=flash, flash_limit=board.flash.length,
        arena=arena_bytes, stack=stack, ram_other=data_bss - arena_bytes, ram=data_bss + stack, ram_limit=board.ram.length,
    )


def _oversize_report(stage: Path, src: Path, link: list[str], ctx: dict, env, board: Board, g) -> Sizes:
    """Relink with the board's regions stretched, only to measure what the model needs."""
    big = dict(ctx, flash_length=0xFFFFFFFF - board.flash.origin, ram_length=0xFFFFFFFF - board.ram.origin)
    (stage / "link-measure.ld").write_text(env.get_template("link.ld.j2").render(big))
    cmd = [a if a != "../link.ld" else "../link-measure.ld" for a in link]
    cmd = [a for a in cmd if not a.startswith("-Wl,-Map=")]
    cmd[cmd.index(f"../{ELF}")] = "../measure.elf"
    r = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if r.returncode != 0:
        raise CheckFailed(f"the firmware does not link for {board.name} even with unlimited memory: {r.stderr.strip()[-300:]}")
    return elf_sizes(stage / "measure.elf", board, arena_bytes=g.arena_size)


def _too_big_message(board: Board, s: Sizes) -> str:
    parts = []
    if s.flash > s.flash_limit:
        parts.append(f"flash needs {s.flash:,} B (weights {s.weights:,} + code {s.code:,}) but {board.name} has {s.flash_limit:,} B")
    if s.ram > s.ram_limit:
        parts.append(f"RAM needs {s.ram:,} B (arena {s.arena:,} + stack {s.stack:,} + other {s.ram_other:,}) but {board.name} has {s.ram_limit:,} B")
    return "the model does not fit: " + "; ".join(parts) + ": pick a board with more memory or a smaller model"


def load_manifest(build_dir: Path) -> dict:
    build_dir = Path(build_dir)
    p = build_dir / MANIFEST
    if not build_dir.exists():
        raise BadInput(f"{build_dir}: no such build directory: run `tinyq build MODEL --board B -o {build_dir}` first")
    if not p.exists():
        raise BadInput(f"{build_dir} is not a tinyq build (no {MANIFEST}): run `tinyq build MODEL --board B -o {build_dir}`")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        raise BadInput(f"{p} is corrupt: rebuild with `tinyq build`") from None


def resolve_board(manifest: dict, board_name: str | None) -> Board:
    """The build's board; --board (a name or a board file) must be the one it was built for."""
    if board_name is None:
        return get_board(manifest["board"])
    b = get_board(board_name)
    if b.name != manifest["board"]:
        raise BadInput(f"this build is for {manifest['board']}, not {b.name}: rebuild with `tinyq build MODEL --board {board_name}`")
    return b
