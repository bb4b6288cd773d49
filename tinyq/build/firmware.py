"""`tinyq build`: a model and a board -> firmware (ELF, BIN, HEX, map) with a size report.

`build` runs five stages, each a function of its own:

1. `compile_model`: the model (copied into the build as model.tflite) -> IR -> passes -> memory plan ->
   the generated C library (tinyq.compiler), for the board's core and --kernels / --wide-weights /
   --keep-input; over a --ram-budget (or, no budget given, when only the board's RAM is too small
   at the link), early layers run band by band (patch-based, tinyq.compiler.patch) where that fits;
2. `plan_firmware`: what the firmware is made of: the model's input/output layout in the protocol's
   byte streams, the board's startup, console, cycle counter and SoC files, and the template context;
3. `render`: src/ (generated library, firmware files, tq_board.h, tq_fw_model.c) and link.ld;
4. `link`: arm-none-eabi-gcc, the BIN/HEX images and the boot2 checksum (tinyq.build.link); a model
   too big for the board is relinked with stretched regions only to say by how much;
5. `report`: the sizes by section and build.json (tinyq.build.manifest).

The build directory is written atomically: all of it, or nothing.

Inputs and outputs live in the model's arena, and the firmware has no I/O buffers of its own: `db`
writes the input tensors there, m-tq-out reads the outputs there. By default the plan reuses an input's
bytes once its last reader ran, so every inference needs its input loaded again (the device runners
load before each `tq-infer`); `keep_input` (--keep-input) keeps the inputs for the whole inference, and
an MLPerf Tiny build (--mlperf-model) implies it, since that runner's `infer N W` runs one input N + W
times.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyq import __version__
from tinyq.boards import Board, all_boards
from tinyq.build import link as ld
from tinyq.build.manifest import (
    ELF,
    MODEL_COPY,
    ConsoleInfo,
    IoSlot,
    Layer,
    Manifest,
    ModelInfo,
    Sizes,
    buffer_bytes,
    io_layout,
)
from tinyq.compiler import (
    Generated,
    PatchPlan,
    choose_for_file,
    generate_library,
    io_outside_arena,
    quant_mode,
    state_size,
    target_for,
    template_env,
    write_library,
)
from tinyq.errors import BadInput, CheckFailed
from tinyq.fileio import staged_dir
from tinyq.ir import DTYPE_C, Graph
from tinyq.resources import FIRMWARE

MLPERF_MODELS = ("unspecified", "kws01", "ic01", "vww01", "ad01")


@dataclass
class BuildResult:
    out_dir: Path
    board: Board
    sizes: Sizes
    manifest: Manifest
    graph: Graph  # the compiled model, as the generated code has it
    patches: PatchPlan | None = None  # the patch-based plan, where a RAM budget asked for one

    @property
    def elf(self) -> Path:
        return self.out_dir / ELF


@dataclass
class FirmwarePlan:
    """Stage 2's answer: the files and the template context of one firmware."""

    board: Board
    layout: list[IoSlot]
    sources: list[Path]  # static firmware files, copied flat into src/
    context: dict  # for tq_board.h, tq_fw_model.c and link.ld


def build(model: Path, board: Board, out_dir: Path, name: str = "model", mlperf_model: str = "unspecified",
          command: str | None = None, tflite_bytes: bytes | None = None,
          kernels: str = "fast", wide: bool = False, console: str | None = None,
          keep_input: bool = False, ram_budget: int | None = None, pack_weights: str = "auto") -> BuildResult:
    """Generate, compile and link `model` (a .tflite, or its bytes) for `board` into `out_dir`.

    `console` picks one of the board's consoles (`Board.consoles`); None keeps the one `board` has.
    `keep_input`: the memory plan never reuses the input's bytes, so one load can run many times (an
    MLPerf Tiny build, `mlperf_model` other than "unspecified", always keeps it).
    `ram_budget`: RAM for inference (arena + I/O, as build.json's ram_tflm) the plan must fit, running
    early layers band by band where needed (BadInput if no plan fits); None: the board's RAM decides
    (patched only if the plain plan does not fit it).
    `pack_weights`: which weight tensors are stored packed (--pack-weights, tinyq.compiler.packing).
    """
    board = board.with_console(console)
    _check_arguments(model, mlperf_model, tflite_bytes)
    gcc = ld.arm_gcc()
    out_dir = Path(out_dir)
    command = command or f"tinyq build {model} --board {board.name} -o {out_dir}" + (f" --console {board.console_name}" if console else "")
    with staged_dir(out_dir) as stage:
        tflite = stage / MODEL_COPY
        tflite.write_bytes(tflite_bytes if tflite_bytes is not None else Path(model).read_bytes())
        keep_input = keep_input or mlperf_model != "unspecified"
        _check_budget(ram_budget)
        gen, patches = compile_model(tflite, board, name, command, kernels, wide, keep_input, ram_budget,
                                     pack_weights=pack_weights)
        plan = plan_firmware(gen, board, name, command, mlperf_model)
        render(stage, gen, plan)
        try:
            linked, boot2_crc = link(gcc, stage, plan, gen, ram_short=ram_budget is None)
        except RamShort as short:  # only the board's RAM is too small: run early layers in bands
            budget = ram_tflm(gen.graph) - short.bytes
            shutil.rmtree(stage / "src")
            for f in ("link-measure.ld", "measure.elf"):
                (stage / f).unlink(missing_ok=True)
            gen, patches = compile_model(tflite, board, name, command, kernels, wide, keep_input, budget,
                                         label=f"{board.name}'s RAM ({budget:,} B for inference)", pack_weights=pack_weights)
            plan = plan_firmware(gen, board, name, command, mlperf_model)
            render(stage, gen, plan)
            linked, boot2_crc = link(gcc, stage, plan, gen)
        sizes = ld.elf_sizes(stage / ELF, board, arena_bytes=gen.graph.arena_size)
        state = state_size(gen.graph)
        sizes = dataclasses.replace(sizes, state=state, ram_other=sizes.ram_other - state)
        manifest = report(gen, plan, tflite, model, name, mlperf_model, kernels, command, sizes, linked, boot2_crc, patches)
        manifest.write(stage)
    return BuildResult(out_dir=out_dir, board=board, sizes=sizes, manifest=manifest, graph=gen.graph, patches=patches)


def _check_budget(ram_budget: int | None) -> None:
    if ram_budget is not None and ram_budget < 1:
        raise BadInput(f"--ram-budget {ram_budget}: give the RAM for inference in bytes (arena + I/O, as build.json's ram_tflm)")


def _check_arguments(model: Path, mlperf_model: str, tflite_bytes: bytes | None) -> None:
    if mlperf_model not in MLPERF_MODELS:
        raise BadInput(f"--mlperf-model {mlperf_model}: choose one of {', '.join(MLPERF_MODELS)}")
    if tflite_bytes is None:
        model = Path(model)
        if model.is_dir():
            raise BadInput(f"{model} is a directory: give a .tflite file (or a Keras model with --calib)")
        if not model.is_file():
            raise BadInput(f"{model}: no such file: give a .tflite model (from `tinyq convert`)")


# --------------------------------------------------------------------------- 1. compile


def compile_model(tflite: Path, board: Board, name: str, command: str, kernels: str, wide: bool,
                  keep_input: bool = False, ram_budget: int | None = None, label: str | None = None,
                  pack_weights: str = "auto") -> tuple[Generated, PatchPlan | None]:
    """The generated C library for the board's core; a float32 model only for a core with an FPU.
    With a `ram_budget`, the cheapest plan that fits it (tinyq.compiler.patch), and that plan."""
    target = dataclasses.replace(target_for(kernels, board.extensions, wide, pack_weights), keep_input=keep_input,
                                 flash=board.flash.length)
    patches = None
    if ram_budget is not None:
        patches = choose_for_file(tflite, target, ram_budget, label)
        target = dataclasses.replace(target, patches=patches.stages)
    gen = generate_library(tflite, name=name, command=command, target=target)
    if board.fpu is None and quant_mode(gen.graph) == "float":
        with_fpu = sorted(b.name for b in all_boards().values() if b.fpu is not None)
        raise BadInput(f"this is a float32 model and {board.name} has no FPU: build it for a board with one "
                       f"({', '.join(with_fpu)}), or convert it to int8 with `tinyq convert MODEL -c CALIB`")
    return gen, patches


# --------------------------------------------------------------------------- 2. plan


def firmware_sources(board: Board) -> list[Path]:
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
        raise CheckFailed(f"firmware files of board {board.name} share the names {', '.join(clash)}: rename them in firmware/")
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


def io_context(layout: list[IoSlot]) -> list[dict]:
    """The layout as the templates read it: each slot's fields, whether it is an output, its C type."""
    return [dict(vars(s), shape=list(s.shape), output=s.kind == "output", ctype=DTYPE_C[s.dtype]) for s in layout]


def results_context(layout: list[IoSlot]) -> dict:
    """What `results%` prints: the first output's element count, type and quantization."""
    first = next(s for s in layout if s.kind == "output")
    return {
        "count": int(np.prod(first.shape)) if first.shape else 1,
        "dtype": first.dtype,  # templates/fw_model.c.j2: TQ_RESULTS_<DTYPE>
        "scale": f"{first.scale or 0.0!r}f",
        "zero_point": first.zero_point or 0,
    }


def plan_firmware(gen: Generated, board: Board, name: str, command: str, mlperf_model: str) -> FirmwarePlan:
    g = gen.graph
    layout = io_layout(g)
    num, den = board.cycles_ratio()
    ctx = {
        "header_lines": [f"Generated by tinyq {__version__} for board {board.name}", f"model sha256: {g.source_sha256}", f"command: {command}"],
        "board": board, "name": name, "NAME": name.upper(),
        "console_base": int(board.console["base"], 16), "cycles_num": num, "cycles_den": den,
        "console_params": _macros(board.console.get("params")), "soc_params": _macros((board.soc or {}).get("params")),
        "vector_align": _vector_align(board), "boot2_bytes": int(board.boot2["bytes"]) if board.boot2 else 0,
        "flash_origin": board.flash.origin, "flash_length": board.flash.length,
        "ram_origin": board.ram.origin, "ram_length": board.ram.length, "stack_bytes": board.stack_bytes,
        "input_bytes": buffer_bytes(layout, "input"), "output_bytes": buffer_bytes(layout, "output"),
        "layers": len(g.ops), "mlperf_model": mlperf_model, "sha": g.source_sha256,
        "io": io_context(layout),
        "results": results_context(layout),
    }
    return FirmwarePlan(board=board, layout=layout, sources=firmware_sources(board), context=ctx)


# --------------------------------------------------------------------------- 3. render


def render(stage: Path, gen: Generated, plan: FirmwarePlan) -> None:
    src = stage / "src"
    write_library(gen, src)
    for f in plan.sources:
        shutil.copyfile(f, src / f.name)
    env = template_env()
    (src / "tq_board.h").write_text(env.get_template("tq_board.h.j2").render(plan.context))
    (src / "tq_fw_model.c").write_text(env.get_template("fw_model.c.j2").render(plan.context))
    (stage / "link.ld").write_text(env.get_template("link.ld.j2").render(plan.context))


# --------------------------------------------------------------------------- 4. link


class RamShort(Exception):
    """Only the board's RAM is too small for the plain plan, by `bytes` (link's `ram_short`)."""

    def __init__(self, short: int):
        super().__init__(short)
        self.bytes = short


def link(gcc: str, stage: Path, plan: FirmwarePlan, gen: Generated, ram_short: bool = False) -> tuple[ld.Linked, int | None]:
    """Compile and link src/; BIN and HEX; the boot2 checksum where the board has one. `ram_short`: a
    plain plan whose only fault is the RAM raises RamShort (the build then tries bands)."""
    board = plan.board
    runtime = {f.name for f in plan.sources} | {"tq_fw_model.c"}
    try:
        linked = ld.compile_and_link(gcc, stage / "src", board, runtime)
    except ld.Overflow as e:
        # Only to say by how much: relink with the board's regions stretched and measure.
        big = dict(plan.context, flash_length=0xFFFFFFFF - board.flash.origin, ram_length=0xFFFFFFFF - board.ram.origin)
        (stage / "link-measure.ld").write_text(template_env().get_template("link.ld.j2").render(big))
        measured = ld.measure_oversize(stage / "src", e.args[0], "link-measure.ld", board)
        s = ld.elf_sizes(measured, board, arena_bytes=gen.graph.arena_size)
        if ram_short and not gen.graph.target.patches and s.flash <= s.flash_limit and s.arena > s.ram - s.ram_limit > 0:
            raise RamShort(s.ram - s.ram_limit) from None
        raise BadInput(ld.too_big_message(board, s)) from None
    boot2_crc = ld.seal_boot2(stage / ELF, board) if board.boot2 else None
    ld.write_images(gcc, stage / ELF)
    return linked, boot2_crc


# --------------------------------------------------------------------------- 5. report


def ram_tflm(g: Graph) -> int:
    """RAM for inference as TFLM counts its arena: activations, inputs and outputs. tinyq's arena holds
    the inputs and outputs, so this is the arena plus any of them kept elsewhere (in the state buffer)."""
    return g.arena_size + io_outside_arena(g)


def report(gen: Generated, plan: FirmwarePlan, tflite: Path, model: Path, name: str, mlperf_model: str, kernels: str,
           command: str, sizes: Sizes, linked: ld.Linked, boot2_crc: int | None, patches: PatchPlan | None = None) -> Manifest:
    board, g = plan.board, gen.graph
    return Manifest(
        kind="firmware",
        tinyq=__version__,
        board=board.name,
        console=ConsoleInfo(name=board.console_name, driver=board.console["driver"], baud=board.console["baud"]),
        boot2_crc=f"{boot2_crc:#010x}" if boot2_crc is not None else None,
        model=ModelInfo(name=name, source=str(model), sha256=hashlib.sha256(tflite.read_bytes()).hexdigest()),
        mlperf_model=mlperf_model,
        io=tuple(plan.layout),
        layers=tuple(Layer(index=op.index, op=(f"{op.name} " if op.name else "") + op.kind) for op in g.ops),
        arena_bytes=g.arena_size,
        arena_lower_bound=g.arena_lower_bound,
        ram_tflm=ram_tflm(g),
        keep_input=g.target.keep_input,
        patches=tuple(patches.to_json()) if patches is not None else (),
        state_bytes=state_size(g),
        sizes=sizes,
        kernels=kernels,
        wide_weights=g.target.wide,
        cycle_unit=board.cycle_unit,
        cycle_source=board.cycle_source,
        compile=" ".join(a for a in linked.command if not a.startswith(ld.PREFIX_MAPS)),
        command=command,
        warnings=tuple(linked.warnings),
    )
