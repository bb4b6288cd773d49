"""README's operator table is the registry's (tinyq/ops/table.py), refusals are declared, not missing, and
the kernel columns (DSP, MVE) are derived from the kernels each lowering calls and from their C."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyq.ops import KERNELS, REGISTRY, VARIANTS
from tinyq.ops.table import (
    BEGIN,
    END,
    _lowering,
    _other,
    _positive,
    isa_paths,
    kernel_isa,
    kernels_of,
    markdown,
    rows,
)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ALL_DTYPES = ("int8", "int16", "float32", "int32", "bool")


def test_readme_holds_the_registrys_table():
    text = README.read_text()
    assert BEGIN in text and END in text, "README.md lost the operator table's markers"
    block = text[text.index(BEGIN) : text.index(END) + len(END) + 1]
    assert block == markdown(), "README.md's operator table is stale: run `.venv/bin/python -m tinyq.ops.table --update README.md`"


def test_every_registered_lowering_is_in_the_table():
    listed = {kind for kind, _ in rows()}
    registered = set(REGISTRY) | {k for table in VARIANTS.values() for k in table}
    assert listed == registered
    cells = dict(rows())
    assert cells["CONV_2D"] == {"int8": "yes + DSP + MVE", "int16": "yes + DSP + MVE", "float32": "yes"}
    assert cells["SUM"]["int8"] == "refused" and cells["SUM"]["float32"] == "yes"
    assert cells["MAX_POOL_2D"]["int8"] == "yes + DSP + MVE" and cells["FULLY_CONNECTED"]["int8"] == "yes + DSP + MVE"
    assert cells["AVERAGE_POOL_2D"]["int16"] == "yes + DSP + MVE" and cells["SQRT"]["int8"] == "yes"
    assert cells["ADD"]["int8"] == "yes + DSP + MVE" and _other("ADD") == "int32" and _other("LOGICAL_AND") == "bool"


def test_every_lowering_reaches_a_kernel_and_every_kernel_a_lowering():
    """The derivation sees every lowering's calls: one that reaches no kernel, or a kernel no lowering
    reaches, means tinyq/ops/table.py no longer reads some way a lowering names its kernel."""
    reached = set()
    for kind, _ in rows():
        for dtype in ALL_DTYPES:
            lw = _lowering(kind, dtype)
            if lw is None or lw.refused:
                continue
            found = kernels_of(kind, dtype)
            assert found, f"no kernel found for {kind} ({dtype})"
            reached |= found
    assert reached == set(KERNELS), f"kernels no lowering reaches: {sorted(set(KERNELS) - reached)}"


def test_the_kernels_of_a_lowering_follow_its_kind_and_type():
    assert kernels_of("MAX_POOL_2D", "int8") == {"tq_maxpool_s8", "tq_maxpool_fast_s8"}
    assert kernels_of("ADD", "int32") == {"tq_add_s32"}
    assert kernels_of("FULLY_CONNECTED", "int8") == {"tq_fully_connected_s8", "tq_fully_connected_fast_s8",
                                                     "tq_fully_connected_packed_s8"}  # packed weights: tinyq.ops.packed
    assert "tq_conv_s8" in kernels_of("CONV_2D", "int8") and "tq_conv_taps_s8" in kernels_of("CONV_2D", "int8")


@pytest.mark.parametrize(("condition", "isas"), [
    ("defined(TQ_GEMM_DSP)", {"DSP"}),
    ("defined(TQ_GEMM_MVE)", {"MVE"}),
    ("!defined(TQ_GEMM_DSP) && !defined(TQ_GEMM_MVE)", set()),
    ("defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1))", {"DSP"}),
    ("defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT", set()),  # SSAT is in every Armv7-M core
])
def test_conditions_select_isas(condition, isas):
    assert _positive(condition) == isas


def test_kernel_isa_paths_come_from_their_c():
    assert kernel_isa("tq_depthwise_conv_fast_s8") == {"DSP", "MVE"}  # its own #if TQ_GEMM_MVE / TQ_GEMM_DSP
    assert kernel_isa("tq_conv_1x1_s8") == {"DSP", "MVE"}  # through tq_gemm_pair -> tq_gemm_pair_loop -> tq_dot_2x2
    assert kernel_isa("tq_maxpool_fast_s8") == {"DSP", "MVE"}  # TQ_SIMD32 and TQ_GEMM_MVE
    assert kernel_isa("tq_conv_s8") == set() and kernel_isa("tq_add_fast_s8") == {"DSP", "MVE"}  # __ARM_FEATURE_DSP / _MVE
    assert isa_paths("AVERAGE_POOL_2D", "int16") == ("DSP", "MVE") and isa_paths("SQRT", "int8") == ()


DSP_MNEMONICS = re.compile(r"\t(smlad|smladx|sxtah|sxtab|uxtah|uxtab|smlald|smlsd|sxtb16|sxtab16|uxtb16|smmlar?|sadd16|ssub16|uadd8|usub8|sel|qadd8|qsub8|qadd16|"
                           r"ssat16|usat16|smla[bt][bt]|smul[bt][bt]|smuad|shadd8|pkhbt|pkhtb)\b")
MVE_MNEMONICS = re.compile(r"\t(vmladava?|vmlava?|vldr[bhw]|vstr[bhw]|vaddva?|vdup|vqrdmulh|vshl)\.")
CORES = {"DSP": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "MVE": ["-mcpu=cortex-m55", "-mfloat-abi=hard"]}


@pytest.mark.parametrize("func", sorted(k for k in KERNELS if kernel_isa(k)))
def test_claimed_isa_paths_are_in_the_compiled_kernel(func, tmp_path):
    """What the table says a kernel has, its object code for that core holds (vectorizing off, so the
    instructions are the ones the C and assembler ask for)."""
    gcc, objdump = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-objdump")
    assert gcc and objdump, "arm-none-eabi-gcc is missing: see README's requirements"
    kernels = ROOT / "firmware" / "kernels"
    dirs = sorted({f"-I{(kernels / s).parent}" for s in KERNELS[func].sources} | {f"-I{kernels / 'include'}"})
    for isa in kernel_isa(func):
        text = ""
        for src in (s for s in KERNELS[func].sources if s.endswith((".c", ".S"))):
            obj = tmp_path / f"{isa}-{Path(src).stem}.o"
            subprocess.run([gcc, *CORES[isa], "-mthumb", "-O2", "-fno-tree-vectorize", "-std=c99", *dirs, "-c",
                            str(kernels / src), "-o", str(obj)], check=True, capture_output=True)
            text += subprocess.run([objdump, "-d", "-m", "armv8.1-m.main" if isa == "MVE" else "armv7e-m", str(obj)],
                                   check=True, capture_output=True, text=True).stdout
        pattern = DSP_MNEMONICS if isa == "DSP" else MVE_MNEMONICS
        assert pattern.search(text), f"{func}: the table says {isa}, but its {CORES[isa][0]} object has no {isa} instruction"
