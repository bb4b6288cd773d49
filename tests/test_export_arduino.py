"""`tinyq export --arduino`: the library zip's layout and determinism, and the library with its profile
sketch compiled against a tiny fake Arduino core (tests/arduino_core), run in QEMU on qemu-m4 and
profiled over its UART with `tinyq profile --port`, bit-exact against the TFLite reference."""

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tinyq.boards import get_board
from tinyq.checks.profile import run_on_device
from tinyq.device.qemu import Qemu

from .conftest import run_tinyq, shared_model
from .helpers import assert_one_line_failure

CORE = Path(__file__).resolve().parent / "arduino_core"
GCC = "arm-none-eabi-gcc"
GXX = "arm-none-eabi-g++"
# What the Arduino builder adds for an ARM core (the flags differ per core; these are the ones that matter).
ARDUINO_FLAGS = ["-Os", "-g", "-ffunction-sections", "-fdata-sections", "-DARDUINO=10819", "-Wall", "-Wextra"]
CXX_FLAGS = ["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"]
# The UART driver serves the fake core's Serial, so its HAL names make way for the library's.
UART_RENAMES = ["-Dtq_console_init=tq_core_uart_init", "-Dtq_putc=tq_core_uart_putc", "-Dtq_getc=tq_core_uart_getc"]


def _export(out, *extra):
    r = run_tinyq("export", shared_model("kws_ref_model.tflite"), "--arduino", "-o", out, *extra, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def qemu_export(tmp_path_factory):
    """kws exported for qemu-m4 (the board QEMU runs the sketch on), as the command writes it."""
    out = tmp_path_factory.mktemp("arduino") / "kws-qemu"
    return out, _export(out, "--board", "qemu-m4")


def _cc(args, cwd):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(map(str, args))}\n{r.stderr}"
    warnings = [ln for ln in r.stderr.splitlines() if "warning:" in ln]
    return warnings


def compile_sketch(library: Path, board_build: Path, work: Path) -> tuple[Path, list[str]]:
    """Build the example sketch as the Arduino builder would (every .c/.cpp under src/, the .ino as C++
    with Arduino.h first) on the fake core, linked with tinyq's startup and linker script for the
    board of `board_build` (a `tinyq build` directory). Returns the ELF and the library's warnings."""
    if not shutil.which(GXX):
        pytest.fail(f"{GXX} is missing: install gcc-arm-none-eabi (make setup)")
    board = get_board(json.loads((board_build / "build.json").read_text())["board"])
    cflags = [*board.cflags, *ARDUINO_FLAGS, f"-DF_CPU={board.clock_hz}L"]
    work.mkdir(parents=True)
    objects, warnings = [], []
    bsrc = board_build / "src"
    # The core: the fake Arduino runtime, tinyq's UART driver and startup for the board.
    _cc([GCC, *cflags, "-std=gnu11", *UART_RENAMES, "-I", bsrc, "-c", bsrc / f"console_{board.console['driver']}.c", "-o", work / "core_uart.o"], work)
    _cc([GCC, *cflags, "-std=gnu11", "-I", bsrc, "-c", bsrc / "tq_startup.c", "-o", work / "core_startup.o"], work)
    _cc([GXX, *cflags, *CXX_FLAGS, "-I", CORE, "-c", CORE / "core.cpp", "-o", work / "core_main.o"], work)
    objects += [work / "core_uart.o", work / "core_startup.o", work / "core_main.o"]
    # The library: what the builder compiles, recursively, with src/ and the core on the include path.
    src = library / "src"
    for f in sorted(p for p in src.rglob("*") if p.suffix in (".c", ".cpp", ".S")):
        o = work / f"lib_{f.stem}.o"
        cc = [GCC, *cflags, "-std=gnu11"] if f.suffix != ".cpp" else [GXX, *cflags, *CXX_FLAGS]
        warnings += _cc([*cc, "-I", src, "-I", CORE, "-c", f, "-o", o], work)
        objects.append(o)
    # The sketch: the .ino with the prelude the builder adds.
    ino = next((library / "examples").glob("*/*.ino"))
    sketch = work / f"{ino.stem}.ino.cpp"
    sketch.write_text(f'#include <Arduino.h>\n#line 1 "{ino.name}"\n' + ino.read_text())
    warnings += _cc([GXX, *cflags, *CXX_FLAGS, "-I", src, "-I", CORE, "-c", sketch, "-o", work / "sketch.o"], work)
    elf = work / "sketch.elf"
    _cc([GXX, *cflags, *map(str, objects), work / "sketch.o", "-T", board_build / "link.ld", "-nostartfiles", "--specs=nano.specs",
         "-Wl,--gc-sections", "-o", elf, "-lm"], work)
    return elf, warnings


def _properties(text: str) -> dict:
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


def test_zip_layout_and_library_properties(qemu_export, tmp_path):
    out, d = qemu_export
    name = d["name"]
    assert name == "kws_ref_model" and d["board"] == "qemu-m4" and d["layers"] == 12
    with zipfile.ZipFile(out / f"{name}.zip") as z:
        names = z.namelist()
        assert names == sorted(names) and all(n.startswith(f"{name}/") for n in names)
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        files = {n[len(name) + 1:]: z.read(n) for n in names if not n.endswith("/")}
        for n in names:  # every folder is listed before what it holds
            parent = n.rstrip("/").rsplit("/", 1)[0] + "/"
            assert n == f"{name}/" or names.index(parent) < names.index(n)
    # The zip holds exactly the unpacked library.
    on_disk = {str(p.relative_to(out / name)): p.read_bytes() for p in (out / name).rglob("*") if p.is_file()}
    assert files == on_disk
    assert f"examples/{name}_profile/{name}_profile.ino" in files
    props = _properties(files["library.properties"].decode())
    assert props["name"] == name and re.fullmatch(r"\d+\.\d+\.\d+", props["version"])
    assert props["category"] == "Data Processing" and props["architectures"] == "*" and props["includes"] == f"{name}.h"
    for key in ("author", "maintainer", "sentence", "paragraph"):
        assert props[key].strip(), key
    assert f"{name}_invoke" in props["paragraph"] and "12 layers" in props["sentence"]
    # The kernels are the ones the generated model calls: those `tinyq generate` writes, no more.
    r = run_tinyq("generate", shared_model("kws_ref_model.tflite"), "-o", tmp_path / "gen", "--name", name, "--json")
    generated = set(json.loads(r.stdout)["files"])
    src = {f[4:] for f in files if f.startswith("src/")}
    runtime = {"tq_board.h", "tq_hal.h", "tq_protocol.h", "tq_protocol.c", "tq_fw_model.c", "tq_arduino_hal.cpp", f"{name}.c.inc"}
    assert src == generated | runtime
    assert (out / "build.json").exists() and (out / "model.tflite").read_bytes() == shared_model("kws_ref_model.tflite").read_bytes()
    manifest = json.loads((out / "build.json").read_text())
    assert manifest["board"] == "qemu-m4" and manifest["input_bytes"] == 490 and manifest["output_bytes"] == 12
    assert manifest["sizes"] is None and len(manifest["layers"]) == 12


def test_export_is_byte_identical_on_rerun(tmp_path):
    out = tmp_path / "x"
    zips, trees = [], []
    for _ in range(2):
        d = _export(out)
        zips.append((out / f"{d['name']}.zip").read_bytes())
        trees.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert zips[0] == zips[1] and trees[0] == trees[1]
    assert d["board"] == "nano33"  # the default
    assert 'TQ_BOARD_NAME "nano33"' in (out / d["name"] / "src" / "tq_board.h").read_text()


def test_sketch_runs_in_qemu_and_profiles_bit_exact(qemu_export, kws_m4_build, tmp_path):
    out, d = qemu_export
    elf, warnings = compile_sketch(out / d["name"], kws_m4_build, tmp_path / "obj")
    # What export writes for Arduino compiles cleanly (the kernels are tinyq build's concern).
    ours = ("tq_arduino_hal.cpp", "tq_fw_model.c", f"{d['name']}.c:", "_profile.ino", "tq_protocol.c")
    assert not [w for w in warnings if any(o in w for o in ours)], warnings
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", elf], capture_output=True, text=True).stdout
    assert "smlad" in dis  # the DSP kernels are the ones compiled for a Cortex-M4
    with Qemu(elf, get_board("qemu-m4")) as qemu:
        # Profiled the way an Arduino user does it: the sketch's port given with --port.
        r = run_tinyq("profile", out, "--port", qemu.url, "--runs", "3", "--json")
        assert r.returncode == 0, r.stderr
        p = json.loads(r.stdout)
        assert p["bit_exact"] is True and p["samples"] == 3 and p["mismatches"] == 0
        assert [L["op"] for L in p["layers"]][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"] and len(p["layers"]) == 12
        # QEMU has no DWT counter, so the HAL counts micros() at F_CPU (25 MHz) in virtual time, and
        # reports the board's unit: -icount shift=0 runs 1000 instructions a microsecond.
        assert p["cycle_unit"] == "instructions" and p["cycle_source"] == "icount"
        assert all(c % 1000 == 0 for c in p["cycles_all"])
        # The same model as tinyq's own firmware runs it (-O2 there, -Os here): the same order of instructions.
        native = run_on_device(kws_m4_build, runs=1).median_cycles
        assert 0.8 < p["cycles"] / native < 2.5, (p["cycles"], native)
        # The table a user reads (no flash/RAM line: the Arduino IDE reports those).
        r = run_tinyq("profile", out, "--port", qemu.url, "--runs", "1")
        assert r.returncode == 0, r.stderr
        assert "instructions per inference" in r.stdout and "bit-exact: 1 inputs" in r.stdout and "flash:" not in r.stdout
        # The extreme inputs too (all -128, all 127, all the zero point), on the same running sketch.
        run = run_on_device(out, port=qemu.url, runs=2, edges=True)
        assert run.samples == 5 and run.bit_exact, run.first_mismatch
        for total, layers in zip(run.cycles, run.layer_cycles):
            assert len(layers) == 12 and sum(layers) <= total


def test_library_compiles_for_a_core_without_dsp(tmp_path):
    """architectures=*: the SIMD paths are behind #if, so a Cortex-M0+ compiles the same sources."""
    d = _export(tmp_path / "x")
    src = tmp_path / "x" / d["name"] / "src"
    flags = ["-mcpu=cortex-m0plus", "-mthumb", *ARDUINO_FLAGS, "-DF_CPU=48000000L", "-I", src, "-I", CORE]
    for f in sorted(p for p in src.iterdir() if p.suffix in (".c", ".cpp")):
        cc = [GCC, *flags, "-std=gnu11"] if f.suffix == ".c" else [GXX, *flags, *CXX_FLAGS]
        _cc([*cc, "-c", f, "-o", tmp_path / f"{f.stem}.o"], tmp_path)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", *sorted(map(str, tmp_path.glob("*.o")))], capture_output=True, text=True).stdout
    assert "smlad" not in dis and "sxtb16" not in dis


def test_bad_input(tmp_path):
    kws = shared_model("kws_ref_model.tflite")
    out = tmp_path / "x"
    assert_one_line_failure(run_tinyq("export", kws, "--arduino"), "-o DIR")
    assert_one_line_failure(run_tinyq("export", kws, "-o", out), "--arduino")
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    assert_one_line_failure(run_tinyq("export", text, "--arduino", "-o", out), "is not a .tflite", "tinyq convert")
    assert_one_line_failure(run_tinyq("export", tmp_path / "nope.tflite", "--arduino", "-o", out), "no such file")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    r = run_tinyq("export", junk, "--arduino", "-o", out)
    assert_one_line_failure(r, str(junk))
    assert_one_line_failure(run_tinyq("export", kws, "--arduino", "-o", out, "--name", "9-lives"), "--name", "C identifier")
    assert_one_line_failure(run_tinyq("export", kws, "--arduino", "-o", out, "--name", "tq_common"), "clashes", "tq_common.h")
    assert_one_line_failure(run_tinyq("export", kws, "--arduino", "-o", out, "--board", "nope"), "unknown board")
    assert not out.exists()


def test_export_table_output(tmp_path):
    """Without --json the command prints what it wrote and the library's figures (it once crashed at
    this last step, reading the manifest as a dict)."""
    out = tmp_path / "t"
    r = run_tinyq("export", shared_model("kws_ref_model.tflite"), "--arduino", "-o", out)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    m = json.loads((out / "build.json").read_text())
    assert f"{len(m['layers'])} layers" in text and "kernel files" in text and "next: upload" in text
