"""What the CMSIS-NN baseline (tinyq.checks.baseline, tinyq.checks.baseline_tflm) builds and runs with:
the source trees given by path, CMSIS-NN's objects cached per core, tinyq's startup, console and counter
and linker script around a harness, and the firmware under QEMU with its UART on stdin/stdout."""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tinyq.boards import Board, all_boards
from tinyq.build.firmware import _macros, _vector_align
from tinyq.compiler import template_env
from tinyq.device.qemu import Qemu
from tinyq.errors import BadInput, CheckFailed
from tinyq.resources import FIRMWARE

# As the TFLM baselines in ../shared/baseline were built: -O3, hard float, the board's -mcpu.
CFLAGS = ["-O3", "-ffunction-sections", "-fdata-sections", "-fno-common"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"]
# Cores whose board RAM is too small for the sweep's largest rows: the pool goes to memory the QEMU
# machine has beyond the board file's RAM region (address, bytes, what it is).
EXTRA_POOL = {"m55": (0x70000000, 4 << 20, "mps3-an547's DDR, secure alias")}

# Environment variable -> what it names (the source trees; only the ones a command needs are required).
TREES = {
    "CMSIS_NN": "CMSIS-NN (Include/, Source/)",
    "CMSIS": "CMSIS 6 core headers (the directory holding cmsis_compiler.h: CMSIS/Core/Include)",
    "TFLM": "tflite-micro (tensorflow/lite/micro/)",
    "FLATBUFFERS": "flatbuffers (include/flatbuffers/)",
    "GEMMLOWP": "gemmlowp (fixedpoint/)",
    "RUY": "ruy (ruy/profiler/)",
}


# --------------------------------------------------------------------------- source trees


@dataclass
class Trees:
    paths: dict[str, Path] = field(default_factory=dict)

    def require(self, *names: str) -> None:
        """BadInput (one line) naming every tree that is not set or not a directory."""
        missing = [n for n in names if n not in self.paths]
        if missing:
            raise BadInput(f"no {', '.join(missing)} source tree given: set {' '.join(f'{n}=PATH' for n in missing)} "
                           f"(environment or make variable) or pass --{missing[0].lower().replace('_', '-')} PATH")
        for n in names:
            if not self.paths[n].is_dir():
                raise BadInput(f"{n}={self.paths[n]}: no such directory: give the path to {TREES[n]}")

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


def trees_from(args: argparse.Namespace, env: dict[str, str]) -> Trees:
    paths = {}
    for n in TREES:
        v = getattr(args, n.lower(), None) or env.get(n, "")
        if v:
            paths[n] = Path(v).expanduser()
    return Trees(paths)


# --------------------------------------------------------------------------- building


def emulated_cores() -> dict[str, Board]:
    """Short core name ("m4", from the board's "cortex-m4") -> the emulated board of that core (board
    data, not names: the first by name where several emulate one core)."""
    cores: dict[str, Board] = {}
    for name, b in sorted(all_boards().items()):
        if b.emulated:
            cores.setdefault(b.core.removeprefix("cortex-"), b)
    return cores


def board_for(core: str) -> Board:
    cores = emulated_cores()
    if core not in cores:
        raise BadInput(f"--cores {core}: choose from {', '.join(sorted(cores))}")
    return cores[core]


def board_context(board: Board, header: list[str]) -> dict:
    """What templates/tq_board.h.j2 and link.ld.j2 read, as tinyq.build.firmware fills it."""
    num, den = board.cycles_ratio()
    return {
        "header_lines": header, "board": board, "console_base": int(board.console["base"], 16),
        "cycles_num": num, "cycles_den": den, "console_params": _macros(board.console.get("params")),
        "soc_params": _macros((board.soc or {}).get("params")), "vector_align": _vector_align(board),
        "boot2_bytes": 0, "flash_origin": board.flash.origin, "flash_length": board.flash.length,
        "ram_origin": board.ram.origin, "ram_length": board.ram.length, "stack_bytes": board.stack_bytes,
    }


def runtime_sources(board: Board) -> list[Path]:
    hal = FIRMWARE / "hal"
    return [FIRMWARE / "startup" / "tq_startup.c", hal / f"console_{board.console['driver']}.c",
            hal / f"cycles_{board.cycle_counter['driver']}.c"]


def cmsis_nn_sources(trees: Trees) -> list[Path]:
    """CMSIS-NN's integer kernels (the float16/float32 ones and the Python bindings left out)."""
    src = trees["CMSIS_NN"] / "Source"
    files = sorted(p for p in src.rglob("*.c") if not p.stem.endswith(("_f16", "_f32", "_flt")))
    if not files:
        raise BadInput(f"CMSIS_NN={trees['CMSIS_NN']}: no Source/**/*.c: give the CMSIS-NN tree's top directory")
    return files


def run_tool(cmd: list[str], cwd: Path | None = None, what: str = "") -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        lines = r.stderr.splitlines()
        first = next((ln for ln in lines if "undefined reference" in ln or "overflowed" in ln or ": error:" in ln),
                     next((ln for ln in lines if "error" in ln), r.stderr.strip()[-300:]))
        raise CheckFailed(f"{what or cmd[0]} failed: {first}", detail=r.stderr)


def compile_cached(gcc: str, sources: list[Path], flags: list[str], obj_dir: Path, jobs: int = 2) -> list[Path]:
    """Compile each source to obj_dir/<hash of path and flags>.o unless that object exists already."""
    obj_dir.mkdir(parents=True, exist_ok=True)
    todo, objects = [], []
    for s in sources:
        key = hashlib.sha256((str(s.resolve()) + "\0" + " ".join(flags) + "\0" + str(s.stat().st_mtime_ns)).encode()).hexdigest()[:16]
        o = obj_dir / f"{s.stem}-{key}.o"
        objects.append(o)
        if not o.exists():
            todo.append((s, o))

    def one(item: tuple[Path, Path]) -> None:
        s, o = item
        run_tool([gcc, *flags, "-c", str(s), "-o", str(o) + ".tmp"], what=f"compiling {s.name}")
        os.replace(str(o) + ".tmp", o)

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, todo))
    return objects


def cmsis_flags(board: Board, trees: Trees) -> list[str]:
    return [*board.cflags, *CFLAGS, "-I", str(trees["CMSIS_NN"] / "Include"), "-I", str(trees["CMSIS"])]


def cmsis_nn_library(gcc: str, board: Board, trees: Trees, cache: Path) -> Path:
    """libcmsis-nn.a for the board's core, from cached objects."""
    objects = compile_cached(gcc, cmsis_nn_sources(trees), cmsis_flags(board, trees), cache / "obj" / board.name / "cmsis-nn")
    lib = cache / "obj" / board.name / "libcmsis-nn.a"
    stamp = hashlib.sha256("\n".join(o.name for o in objects).encode()).hexdigest()
    stamp_file = lib.with_suffix(".stamp")
    if not (lib.exists() and stamp_file.exists() and stamp_file.read_text() == stamp):
        lib.unlink(missing_ok=True)
        run_tool([gcc.replace("gcc", "ar"), "rcs", str(lib), *map(str, objects)], what="archiving CMSIS-NN")
        stamp_file.write_text(stamp)
    return lib


def weights_elsewhere(script: str, origin: int, length: int) -> str:
    """The linker script with .tq_weights in a region EXTRA at `origin` instead of FLASH (a model larger
    than the board file's flash, on a QEMU machine with more memory: EXTRA_POOL)."""
    script = script.replace("MEMORY\n{\n", f"MEMORY\n{{\n    EXTRA (rx)  : ORIGIN = {origin:#010x}, LENGTH = {length}\n", 1)
    at = script.index(".tq_weights :")
    end = script.index("} > FLASH", at)
    return script[:end] + "} > EXTRA" + script[end + len("} > FLASH"):]


def link_firmware(gcc: str, board: Board, work: Path, main_src: Path, extra_flags: list[str], libs: list[Path],
                  header: list[str], cxx: bool = False, weights_region: tuple[int, int] | None = None) -> Path:
    """tinyq's startup, console and counter + main_src + libs -> work/firmware.elf (.tq_weights in
    `weights_region` (origin, length) when given)."""
    env = template_env()
    ctx = board_context(board, header)
    (work / "tq_board.h").write_text(env.get_template("tq_board.h.j2").render(ctx))
    script = env.get_template("link.ld.j2").render(ctx)
    (work / "link.ld").write_text(weights_elsewhere(script, *weights_region) if weights_region else script)
    inc = ["-I", str(work), "-I", str(FIRMWARE / "hal")]
    objs = compile_cached(gcc, runtime_sources(board), [*board.cflags, "-Os", "-ffunction-sections", *inc], work / "obj")
    compiler = gcc.replace("gcc", "g++") if cxx else gcc
    main_obj = work / "obj" / (main_src.stem + ".o")
    run_tool([compiler, *board.cflags, *CFLAGS, *inc, *extra_flags, "-c", str(main_src), "-o", str(main_obj)],
         what=f"compiling {main_src.name}")
    elf = work / "firmware.elf"
    run_tool([compiler, *board.cflags, *map(str, objs), str(main_obj), *map(str, libs), "-T", str(work / "link.ld"),
          *LDFLAGS, *(["--specs=nosys.specs", "-Wl,--defsym=end=__tq_bss_end"] if cxx else []), f"-Wl,-Map={work / 'firmware.map'}", "-o", str(elf), "-lm"],
         what=f"linking for {board.name}")
    return elf


class Console:
    """A firmware under QEMU with its UART on stdin/stdout (-serial stdio)."""

    def __init__(self, elf: Path, board: Board):
        cmd = Qemu(elf, board).command("stdio")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def send(self, text: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def line(self, timeout: float) -> str | None:
        """The next line, or None when QEMU exited or nothing came within `timeout` seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
