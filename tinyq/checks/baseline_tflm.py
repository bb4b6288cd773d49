"""TFLM + CMSIS-NN around whole models, for tinyq.checks.baseline's `models` command.

TFLM's makefiles download their dependencies while they parse, so the compiler is driven from here: a
file list (TFLM's core, its reference kernels with the cmsis_nn/ files of the same name put in their
place, the TFLite pieces it uses, CMSIS-NN) and TFLM's flags for a Cortex-M build (-O3,
TF_LITE_STATIC_MEMORY, TF_LITE_STRIP_ERROR_STRINGS, CMSIS_NN, KERNELS_OPTIMIZED_FOR_SPEED). The objects
are cached per core. Each model is linked in flash from its .tflite (objcopy, section .tq_weights, so the
code figure is flash minus the model) with a harness (templates/baseline_tflm.cc.j2) that times Invoke().
"""

from __future__ import annotations

import time
from pathlib import Path

from tinyq import __version__
from tinyq.build.link import arm_gcc, elf_sizes
from tinyq.checks.baseline_build import (
    CFLAGS,
    EXTRA_POOL,
    Console,
    Trees,
    board_for,
    cmsis_nn_library,
    compile_cached,
    link_firmware,
    run_tool,
)
from tinyq.compiler import template_env
from tinyq.errors import BadInput, CheckFailed

# TFLite builtin operator -> (MicroMutableOpResolver method (the generic registration), TFLM kernel file).
RESOLVER = {
    "ADD": ("AddAdd", "add"), "AVERAGE_POOL_2D": ("AddAveragePool2D", "pooling"),
    "CONCATENATION": ("AddConcatenation", "concatenation"), "CONV_2D": ("AddConv2D", "conv"),
    "DEPTHWISE_CONV_2D": ("AddDepthwiseConv2D", "depthwise_conv"), "DEQUANTIZE": ("AddDequantize", "dequantize"),
    "FULLY_CONNECTED": ("AddFullyConnected", "fully_connected"), "HARD_SWISH": ("AddHardSwish", "hard_swish"),
    "LOGISTIC": ("AddLogistic", "logistic"), "MAX_POOL_2D": ("AddMaxPool2D", "pooling"), "MEAN": ("AddMean", "reduce"),
    "MUL": ("AddMul", "mul"), "PAD": ("AddPad", "pad"), "QUANTIZE": ("AddQuantize", "quantize"),
    "RELU": ("AddRelu", "activations"), "RELU6": ("AddRelu6", "activations"), "RESHAPE": ("AddReshape", "reshape"),
    "SOFTMAX": ("AddSoftmax", "softmax"), "SQUEEZE": ("AddSqueeze", "squeeze"), "SUB": ("AddSub", "sub"),
    "TANH": ("AddTanh", "tanh"), "TRANSPOSE": ("AddTranspose", "transpose"),
    "STRIDED_SLICE": ("AddStridedSlice", "strided_slice"),
}
KERNEL_HELPERS = ("kernel_util", "micro_tensor_utils")  # kernels/ files every kernel uses
TFLM_FLAGS = [
    "-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables", "-fmessage-length=0", "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_STRIP_ERROR_STRINGS", "-DTF_LITE_MCU_DEBUG_LOG", "-DTF_LITE_DISABLE_X86_NEON", "-DCMSIS_NN",
    "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DFLATBUFFERS_LOCALE_INDEPENDENT=0", "-DARM_NN_ENABLE_F16=0",
    "-DARM_NN_ENABLE_F32=0", "-Wno-psabi",
]
# The port (debug_log, micro_time, system_setup) is the harness's; the rest is test or host tooling.
PORT = {"debug_log.cc", "micro_time.cc", "system_setup.cc"}
ARENA_BYTES = {"m55": 384 * 1024}  # the board's RAM is 512 KB; the others have 4 MB
DEFAULT_ARENA = 1024 * 1024
MODEL_TIMEOUT = 600.0


def _not_test(p: Path) -> bool:
    return not (p.stem.endswith("_test") or p.stem.startswith("test_") or "_test_" in p.stem
                or p.stem in ("kernel_runner", "fake_micro_context", "mock_micro_graph"))


def tflm_sources(trees: Trees, kernels: set[str]) -> list[Path]:
    """TFLM's library sources for a CMSIS-NN build (cmsis_nn/X.cc replaces kernels/X.cc), with the kernel
    files `kernels` (stems: "conv" takes conv.cc and conv_common.cc) and the helpers they share."""
    root = trees["TFLM"]
    micro = root / "tensorflow" / "lite" / "micro"
    if not (micro / "micro_interpreter.cc").is_file():
        raise BadInput(f"TFLM={root}: no tensorflow/lite/micro/micro_interpreter.cc: give the tflite-micro tree's top directory")
    files = [p for p in sorted(micro.glob("*.cc")) if _not_test(p) and p.name not in PORT]
    for sub in ("arena_allocator", "memory_planner", "tflite_bridge"):
        files += [p for p in sorted((micro / sub).glob("*.cc")) if _not_test(p)]
    cmsis = {p.name: p for p in (micro / "kernels" / "cmsis_nn").glob("*.cc")}
    wanted = {*kernels, *(f"{k}_common" for k in kernels), *KERNEL_HELPERS}
    files += [cmsis.get(p.name, p) for p in sorted((micro / "kernels").glob("*.cc")) if p.stem in wanted]
    lite = root / "tensorflow" / "lite"
    files += sorted((lite / "kernels" / "internal").glob("*.cc")) + [lite / "kernels" / "kernel_util.cc"]
    files += sorted((lite / "core" / "api").glob("*.cc")) + sorted((lite / "core" / "c").glob("*.cc"))
    mlir = root / "tensorflow" / "compiler" / "mlir" / "lite"
    files += sorted((mlir / "core" / "api").glob("*.cc")) + sorted((mlir / "schema").glob("*.cc"))
    return [p for p in files if _not_test(p)]


def include_flags(trees: Trees) -> list[str]:
    inc = [trees["TFLM"], trees["FLATBUFFERS"] / "include", trees["GEMMLOWP"], trees["RUY"],
           trees["CMSIS_NN"], trees["CMSIS_NN"] / "Include", trees["CMSIS"]]
    return [a for p in inc for a in ("-I", str(p))]


def tflm_library(gcc: str, board, trees: Trees, cache: Path, kernels: set[str]) -> Path:
    gxx = gcc.replace("gcc", "g++")
    flags = [*board.cflags, *CFLAGS, *TFLM_FLAGS, *include_flags(trees)]
    objects = compile_cached(gxx, tflm_sources(trees, kernels), flags, cache / "obj" / board.name / "tflm")
    lib = cache / "obj" / board.name / "libtflm.a"
    lib.unlink(missing_ok=True)
    run_tool([gcc.replace("gcc", "ar"), "rcs", str(lib), *map(str, objects)], what="archiving TFLM")
    return lib


def model_ops(model: Path) -> list[str]:
    """The model's builtin operators (BadInput for one the harness does not know)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model.read_bytes(), 0))
    ops = sorted({names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes})
    unknown = [o for o in ops if o not in RESOLVER]
    if unknown:
        raise BadInput(f"{model}: operators {', '.join(unknown)} have no resolver entry in tinyq.checks.baseline_tflm.RESOLVER: add them")
    return ops


def model_object(gcc: str, model: Path, work: Path) -> tuple[Path, str]:
    """The .tflite as an object in section .tq_weights (16-byte aligned) and its start symbol."""
    local = work / "model.tflite"
    local.write_bytes(model.read_bytes())
    obj = work / "obj" / "model.o"
    obj.parent.mkdir(parents=True, exist_ok=True)
    run_tool([gcc.replace("gcc", "objcopy"), "-I", "binary", "-O", "elf32-littlearm", "-B", "arm",
          "--rename-section", ".data=.tq_weights,alloc,load,readonly,data,contents",
          "--set-section-alignment", ".tq_weights=16", "model.tflite", str(obj)], cwd=work, what="objcopy of the model")
    return obj, "_binary_model_tflite_start"


def run_model(elf: Path, board) -> tuple[int, int]:
    con = Console(elf, board)
    try:
        deadline = time.monotonic() + MODEL_TIMEOUT
        while time.monotonic() < deadline:
            line = con.line(MODEL_TIMEOUT)
            if line is None:
                break
            parts = line.split()
            if parts[:1] == ["MODEL"] and len(parts) == 4:
                if parts[3] != "ok":
                    raise CheckFailed(f"TFLM failed ({parts[3]}) on {board.name}")
                return int(parts[1]), int(parts[2])
        raise CheckFailed(f"the TFLM firmware for {board.name} did not answer within {MODEL_TIMEOUT:.0f} s")
    finally:
        con.close()


def baseline_models(models: list[Path], core: str, trees: Trees, out: Path, log=print) -> tuple[dict, str]:
    """{model stem: {instructions, arena_bytes, code_bytes}} for one core, and the "what" text."""
    board = board_for(core)
    gcc = arm_gcc()
    out = out.resolve()
    t0 = time.monotonic()
    ops = {m: model_ops(m) for m in models}
    kernels = {RESOLVER[o][1] for v in ops.values() for o in v}
    libs = [tflm_library(gcc, board, trees, out, kernels), cmsis_nn_library(gcc, board, trees, out)]
    log(f"  {core}: TFLM and CMSIS-NN ready in {time.monotonic() - t0:.0f} s")
    arena = ARENA_BYTES.get(core, DEFAULT_ARENA)
    results = {}
    for model in models:
        work = out / "work" / core / f"tflm_{model.stem}"
        work.mkdir(parents=True, exist_ok=True)
        header = [f"Generated by tinyq {__version__} (tinyq.checks.baseline_tflm) for board {board.name}",
                  f"model: {model.name}"]
        obj, symbol = model_object(gcc, model, work)
        src = work / "bl_tflm.cc"
        src.write_text(template_env().get_template("baseline_tflm.cc.j2").render(
            header_lines=header, model_symbol=symbol, arena_bytes=arena,
            ops=sorted({RESOLVER[o][0] for o in ops[model]})))
        try:
            extra = EXTRA_POOL.get(core)
            elf = link_firmware(gcc, board, work, src, [*TFLM_FLAGS, *include_flags(trees)], [obj, *libs], header,
                                cxx=True, weights_region=extra[:2] if extra else None)
        except CheckFailed as e:
            if "overflowed" in (e.detail or ""):
                results[model.stem] = {"instructions": None, "arena_bytes": None, "code_bytes": None,
                                       "note": f"does not fit {board.name}'s memory"}
                continue
            raise
        t1 = time.monotonic()
        instructions, arena_used = run_model(elf, board)
        sizes = elf_sizes(elf, board, arena_bytes=0)
        results[model.stem] = {"instructions": instructions, "arena_bytes": arena_used, "code_bytes": sizes.code,
                               "model_bytes": sizes.weights}
        log(f"  {core} {model.stem}: {instructions:,} instructions, arena {arena_used:,} B, code {sizes.code:,} B "
            f"({time.monotonic() - t1:.0f} s in QEMU)")
    what = (f"TFLM ({trees['TFLM']}) with CMSIS-NN ({trees['CMSIS_NN']}) kernels, built with arm-none-eabi-g++ -O3 "
            f"-mfloat-abi=hard and the board's -mcpu, {' '.join(TFLM_FLAGS[7:12])}, MicroMutableOpResolver with "
            "the model's operators (generic registrations), linked with tinyq's startup and console, run on "
            "qemu-system-arm -icount shift=0. instructions = SysTick ticks x (1e9 / tick rate) around "
            "MicroInterpreter::Invoke(); arena_bytes = arena_used_bytes(); code_bytes = flash minus the model "
            "(startup, console, harness, TFLM, kernels, libc pieces).")
    return results, what
