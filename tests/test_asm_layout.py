"""The assembler kernels' view of their job structs, checked when the C compiles.

tq_gemm_dsp.S and tq_depthwise_dsp.S read tq_gemm_job (tq_gemm.h) and tq_dw_job (tq_conv_fast.h) at
fixed byte offsets, some several fields at once (LDM / LDRD) and the whole struct copied to the
stack. The offsets are named once, in tq_dsp_asm.h, which both the assembler and the C that calls it
include; in C it asserts each field's offset and size and each struct's size. Here: the headers, the
two .S files and the C files that include the header build cleanly for Cortex-M4 and on the host, and
a struct with a field inserted (or resized) no longer compiles, naming the field.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tinyq.build.host import host_cc

KERNELS = Path(__file__).resolve().parent.parent / "firmware" / "kernels"
INCLUDE = KERNELS / "include"
GCC = "arm-none-eabi-gcc"
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
# The firmware's C flags (tinyq/build/link.py) and the host build's (tinyq/build/host.py), with -Werror
# on both so that a warning from the checks fails too.
WARN = ["-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror"]  # as tests/test_generate.py
ASM = ["conv/tq_gemm_dsp.S", "conv/tq_depthwise_dsp.S"]
# The C files that call the assembler, which include tq_dsp_asm.h (and so run its checks).
CALLERS = ["conv/tq_conv_1x1_s8.c", "conv/tq_conv_im2col_s8.c", "conv/tq_conv_taps_s8.c", "conv/tq_depthwise_conv_fast_s8.c"]

PROBE = """\
#include "tq_dsp_asm.h"

int tq_asm_layout_probe(void);
int tq_asm_layout_probe(void)
{
    return TQ_GEMM_JOB_SIZE + TQ_DW_JOB_SIZE;
}
"""

needs_gcc = pytest.mark.skipif(shutil.which(GCC) is None, reason=f"{GCC} is missing (make setup installs it)")


def _compile(cc: list[str], src: Path, include: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*cc, "-I", str(include), "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                          capture_output=True, text=True)


def _probe(tmp_path: Path) -> Path:
    p = tmp_path / "probe.c"
    p.write_text(PROBE)
    return p


def _mutated_include(tmp_path: Path, header: str, old: str, new: str) -> Path:
    """A copy of the kernel headers with `old` replaced by `new` in `header` (`old` must occur once)."""
    inc = tmp_path / "include"
    shutil.copytree(INCLUDE, inc)
    text = (inc / header).read_text()
    assert text.count(old) == 1, f"{header} no longer holds {old!r}: update this test"
    (inc / header).write_text(text.replace(old, new))
    return inc


@needs_gcc
@pytest.mark.parametrize("src", ["probe", *ASM, *CALLERS])
def test_builds_cleanly_for_cortex_m4(src, tmp_path):
    path = _probe(tmp_path) if src == "probe" else KERNELS / src
    r = _compile([GCC, *M4, *WARN], path, INCLUDE, tmp_path)
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_builds_cleanly_on_the_host(tmp_path):
    # No DSP extension on the host: no job structs, no checks, but the header must still compile.
    for path in [_probe(tmp_path), *(KERNELS / c for c in CALLERS)]:
        r = _compile([host_cc(), *WARN], path, INCLUDE, tmp_path)
        assert r.returncode == 0 and not r.stderr, f"{path.name}: {r.stderr}"


@needs_gcc
def test_the_checks_are_live_on_cortex_m4(tmp_path):
    """The struct checks are compiled for the DSP extension, not skipped by the preprocessor."""
    r = subprocess.run([GCC, *M4, *WARN, "-I", str(INCLUDE), "-E", "-dD", str(_probe(tmp_path))], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("typedef char tq_asm_layout_") >= 2 * (12 + 10) + 2


MUTATIONS = {
    # A field inserted at the start of each struct: every field moves.
    "gemm-insert": ("tq_gemm.h", "typedef struct {\n    const int8_t *cols, *cols_end;",
                    "typedef struct {\n    int32_t inserted;\n    const int8_t *cols, *cols_end;",
                    "tq_asm_layout_tq_gemm_job_cols_is_not_at_TQ_GEMM_JOB_COLS_OFF"),
    "dw-insert": ("tq_conv_fast.h", "typedef struct {\n    const uintptr_t *tab;",
                  "typedef struct {\n    int32_t inserted;\n    const uintptr_t *tab;",
                  "tq_asm_layout_tq_dw_job_tab_is_not_at_TQ_DW_JOB_TAB_OFF"),
    # Two fields swapped: LDRD would read them the wrong way round.
    "gemm-swap": ("tq_gemm.h", "uint32_t lo4, hi4;\n    int32_t clamp;\n    int32_t *acc;",
                  "uint32_t hi4, lo4;\n    int32_t clamp;\n    int32_t *acc;", "tq_asm_layout_tq_gemm_job_lo4_is_not_at_TQ_GEMM_JOB_LO4_OFF"),
    # A field narrowed (the offsets after it unchanged by padding): LDR would read 2 bytes too many.
    "dw-narrow": ("tq_conv_fast.h", "    int32_t taps;\n    uintptr_t base;\n} tq_dw_job;",
                  "    int16_t taps;\n    uintptr_t base;\n} tq_dw_job;", "tq_asm_layout_tq_dw_job_taps_is_not_the_word_read_at_TQ_DW_JOB_TAPS_OFF"),
}


@needs_gcc
@pytest.mark.parametrize("case", list(MUTATIONS))
def test_a_changed_struct_fails_to_compile(case, tmp_path):
    header, old, new, message = MUTATIONS[case]
    inc = _mutated_include(tmp_path, header, old, new)
    probe = _probe(tmp_path)
    r = _compile([GCC, *M4, *WARN], probe, inc, tmp_path)
    assert r.returncode != 0, "the mutated struct compiled"
    assert "is negative" in r.stderr and message in r.stderr, r.stderr
    # So do the kernels that call the assembler with it.
    caller = "conv/tq_depthwise_conv_fast_s8.c" if header == "tq_conv_fast.h" else "conv/tq_conv_taps_s8.c"
    r = _compile([GCC, *M4, *WARN], KERNELS / caller, inc, tmp_path)
    assert r.returncode != 0 and message in r.stderr, r.stderr


@needs_gcc
def test_offsets_the_multiple_loads_read_together_stay_consecutive(tmp_path):
    """out0 and out1 go through one LDRD / STRD: offsets that split them stop the assembler too."""
    inc = _mutated_include(tmp_path, "tq_dsp_asm.h", "#define TQ_GEMM_JOB_OUT1_OFF 16\n", "#define TQ_GEMM_JOB_OUT1_OFF 20\n")
    r = _compile([GCC, *M4, *WARN], KERNELS / "conv/tq_gemm_dsp.S", inc, tmp_path)
    assert r.returncode != 0 and "loads and stores out0, out1 with LDRD / STRD" in r.stderr, r.stderr
