"""Code size: a model of the MLPerf Tiny operator set fits 16 KB of flash (issue 16), because the
kernels' variant code a model does not use is not compiled in.

codegen writes tq_config.h beside the kernels: one TQ_CFG_* flag per variant (the general
requantization, int16 weights, the fully connected kernel's guarded rounding), 1 only where some
layer's params need it; without the header (a kernel compiled alone) every variant is there
(firmware/kernels/include/tq_features.h). On a core without an FPU the protocol prints reals with
integer steps that give the float computation's digits, so no soft-float code is linked.
test_fast_requant.py builds and runs models that need the general requantization on qemu-m4 (int8 and
int16 weights), qemu-m55 and qemu-m3: their builds carry the variant, bit-exact.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.compiler.codegen import features
from tinyq.device.plugin import window_of

from .conftest import ROOT, shared_model

CODE_LIMIT = 16 * 1024
FLAGS = ["TQ_CFG_REQUANT_GEN", "TQ_CFG_FC_GUARD", "TQ_CFG_FC_PREP", "TQ_CFG_FC_INLINE", "TQ_CFG_FC_FLIP", "TQ_CFG_FC_ROW1", "TQ_CFG_FC_WIDE",
         "TQ_CFG_WIDE",
         "TQ_CFG_DW_REST", "TQ_CFG_DW_PAD", "TQ_CFG_DW_WIDE", "TQ_CFG_POOL_NARROW", "TQ_CFG_GEMM_CHUNKS", "TQ_CFG_GEMM_REST",
         "TQ_CFG_IM2COL_GATHER"]
NONE = dict.fromkeys(FLAGS, 0)
KERNELS = ROOT / "firmware" / "kernels"


def _config(path) -> dict[str, int]:
    return {m: int(v) for m, v in re.findall(r"#define (TQ_CFG_\w+) (\d)", path.read_text())}


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m3", "qemu-m0"])
def test_kws_code_fits_16_kb(board, tmp_path):
    """The default build of the MLPerf Tiny keyword-spotting model (CONV_2D, DEPTHWISE_CONV_2D,
    AVERAGE_POOL_2D, FULLY_CONNECTED, SOFTMAX): everything in flash but the weights, as `tinyq build`
    and `tinyq bench` report it, at or under 16,384 bytes; none of the variants compiled in. The
    runtime is one link-time-optimized unit (and on qemu-m0 and qemu-m3, cores without DSP or Helium,
    the model and kernels too: tinyq/build/link.py), yet tq_fw_invoke stays a function called from
    one place, which bounds what the cycle estimate measures."""
    r = build(shared_model("kws_ref_model.tflite"), get_board(board), tmp_path / "b")
    assert r.sizes.code <= CODE_LIMIT, f"{board}: code {r.sizes.code} B > {CODE_LIMIT} B"
    assert _config(tmp_path / "b" / "src" / "tq_config.h") == dict(NONE, TQ_CFG_FC_PREP=1, TQ_CFG_IM2COL_GATHER=1)
    syms = subprocess.run(["arm-none-eabi-nm", str(r.elf)], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"\b(tq_gemm_pairs\w*_gen\w*|tq_dw_pixel_gen\w*|tq_gemm_store_gen|__aeabi_f\w+)\b", syms)
    window = window_of(r.elf)
    assert window.start < window.stop


def _graph(*params):
    return SimpleNamespace(ops=[SimpleNamespace(call=SimpleNamespace(params=p)) for p in params])


def test_features_follow_the_params():
    """Each flag is 1 exactly when some layer's params (nested ones included) need its variant."""
    none = NONE
    flags = lambda g: {f["macro"]: f["value"] for f in features(g)}  # noqa: E731
    assert flags(_graph({"gemm": {"requant": 0, "weights16": 0}}, {"guarded": 0, "act_min": -128})) == none
    assert flags(_graph({"x": 1}, {"gemm": {"requant": 1, "weights16": 0}})) == dict(none, TQ_CFG_REQUANT_GEN=1)
    assert flags(_graph({"requant": 1})) == dict(none, TQ_CFG_REQUANT_GEN=1)
    assert flags(_graph({"guarded": 1})) == dict(none, TQ_CFG_FC_GUARD=1)
    assert flags(_graph({"gemm": {"weights16": "w16"}})) == dict(none, TQ_CFG_WIDE=1)
    dw = {"in": {"c": 8}, "paired": 1, "weights16": "w16"}  # a fast depthwise layer's: its own flag
    assert flags(_graph(dw)) == dict(none, TQ_CFG_DW_WIDE=1)
    assert flags(_graph({"narrow": 1})) == dict(none, TQ_CFG_POOL_NARROW=1)
    assert flags(_graph({"gemm": {"chunked": 1}})) == dict(none, TQ_CFG_GEMM_CHUNKS=1)
    # the rows tq_gemm_pairs_dsp leaves: an odd last row, or every row with the general requantization
    assert flags(_graph({"gemm": {"out_c": 8, "mm_pairs": 4}})) == none
    assert flags(_graph({"gemm": {"out_c": 7, "mm_pairs": 3}})) == dict(none, TQ_CFG_GEMM_REST=1)
    assert flags(_graph({"gemm": {"out_c": 8, "mm_pairs": 0, "requant": 1}})) == dict(none, TQ_CFG_GEMM_REST=1, TQ_CFG_REQUANT_GEN=1)
    assert flags(_graph({"fc_prep": 1})) == dict(none, TQ_CFG_FC_PREP=1)
    assert flags(_graph({"fc_prep": 0})) == dict(none, TQ_CFG_FC_INLINE=1)
    assert flags(_graph({"fc_prep": 0, "wide": "w16"})) == dict(none, TQ_CFG_FC_WIDE=1)
    assert flags(_graph({"fc_prep": 2})) == flags(_graph({"fc_prep": 3})) == dict(none, TQ_CFG_FC_FLIP=1)
    assert flags(_graph({"split": 1, "out_depth": 33})) == dict(none, TQ_CFG_FC_ROW1=1)
    assert flags(_graph({"split": 1, "out_depth": 34})) == flags(_graph({"split": 0, "out_depth": 33})) == none
    assert flags(_graph({"pad_copy": 1})) == dict(none, TQ_CFG_DW_PAD=1)
    assert flags(_graph({"pad_copy": 0})) == none
    assert flags(_graph({"gather": 1})) == dict(none, TQ_CFG_IM2COL_GATHER=1)
    assert flags(_graph({"gather": 0})) == none
    assert flags(_graph({"paired": 1, "in": {"c": 6}})) == dict(none, TQ_CFG_DW_REST=1)
    assert flags(_graph({"paired": 0, "in": {"c": 3}})) == dict(none, TQ_CFG_DW_REST=1)
    assert flags(_graph({"paired": 1, "in": {"c": 8}})) == none
    assert [f["macro"] for f in features(_graph())] == FLAGS


def _asm_symbols(tmp_path, config: str | None) -> set[str]:
    gcc = shutil.which("arm-none-eabi-gcc")
    assert gcc, "arm-none-eabi-gcc is missing: `apt-get install gcc-arm-none-eabi`"
    work = tmp_path / ("cfg" if config is not None else "alone")
    work.mkdir()
    if config is not None:
        (work / "tq_config.h").write_text(config)
    obj = work / "gemm.o"
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-I", str(work), "-I", str(KERNELS / "include"), "-c",
                    str(KERNELS / "conv" / "tq_gemm_dsp.S"), "-o", str(obj)], check=True, capture_output=True, text=True)
    out = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True).stdout
    return {ln.split()[-1] for ln in out.splitlines() if " T " in ln}


def test_kernels_compiled_alone_have_every_variant(tmp_path):
    """Without tq_config.h every entry point is assembled; a config's 0 leaves the variant out."""
    alone = _asm_symbols(tmp_path, None)
    assert {"tq_gemm_pairs_dsp", "tq_gemm_pairs_gen_dsp", "tq_gemm_pairs_wide_dsp", "tq_gemm_pairs_acc_gen_wide_dsp"} <= alone
    lean = _asm_symbols(tmp_path, "#define TQ_CFG_REQUANT_GEN 0\n#define TQ_CFG_WIDE 0\n")
    assert "tq_gemm_pairs_dsp" in lean and "tq_gemm_columns_dsp" in lean
    assert not {s for s in lean if "_gen" in s or "_wide" in s}


def test_integer_reals_print_the_float_digits(tmp_path):
    """The protocol's float-free printing of float32 outputs and dequantized integers (the path of
    cores without an FPU, compiled here on the host) gives the float computation's digits on
    300,000 pseudo-random cases, ties and ulp neighbours of thousandths' halves among them."""
    gcc = shutil.which("gcc")
    assert gcc, "the host gcc is missing: `apt-get install gcc`"
    fw = ROOT / "firmware"
    (tmp_path / "tq_board.h").write_text("/* the harness's board: nothing */\n")
    exe = tmp_path / "harness"
    subprocess.run([gcc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1", "-ffp-contract=off",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=all", f"-I{tmp_path}", f"-I{fw / 'protocol'}",
                    f"-I{fw / 'hal'}", str(ROOT / "tests" / "code_size_fixed3_harness.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    r = subprocess.run([str(exe), "150000"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.endswith("mismatches 0 of 300000\n"), r.stdout[-2000:] + r.stderr[-2000:]
