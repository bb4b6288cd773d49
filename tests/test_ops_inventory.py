"""The kernel tables of tinyq/ops (each family module's KERNELS) against firmware/kernels.

Every file a table names exists, every kernel file is named by a table, each kernel's function and
params struct are declared by its header, and the files a call ships hold every header they include:
an orphaned, misspelled or undeclared kernel fails here rather than in some model's C build.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyq import ops
from tinyq.ops.base import Kernel
from tinyq.resources import KERNELS as KERNEL_DIR

TABLES = {family.__name__.rsplit(".", 1)[-1]: family.KERNELS for family in ops.FAMILIES}
ALL = [(family, kernel) for family, table in TABLES.items() for kernel in table.values()]
IDS = [kernel.func for _, kernel in ALL]
COMMON = "include/tq_common.h"  # shipped with every model by codegen
FEATURES = "include/tq_features.h"  # too (tq_common.h includes it), with the generated tq_config.h
GENERATED = {"tq_config.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def _named() -> set[str]:
    """Every file some table names, relative to firmware/kernels."""
    return {f"include/{k.header}" for _, k in ALL} | {s for _, k in ALL for s in k.sources}


def _shipped(kernel: Kernel) -> set[str]:
    """What generated code holds for one call of `kernel`."""
    return {COMMON, FEATURES, f"include/{kernel.header}", *kernel.sources}


def test_every_family_has_a_table():
    assert set(TABLES) == {"activation", "conv", "elementwise", "pool", "quantize", "recurrent", "resize", "shape", "variables"}
    for family, table in TABLES.items():
        assert table, f"{family} declares no kernels"
        for name, kernel in table.items():
            assert isinstance(kernel, Kernel) and kernel.func == name, (family, name)
    assert len(ops.KERNELS) == len(ALL)  # no kernel in two families


@pytest.mark.parametrize(("family", "kernel"), ALL, ids=IDS)
def test_named_files_exist(family, kernel):
    assert (KERNEL_DIR / "include" / kernel.header).is_file(), f"{kernel.func}: header {kernel.header} is not in firmware/kernels/include"
    assert len(set(kernel.sources)) == len(kernel.sources), f"{kernel.func} names a file twice"
    for src in kernel.sources:
        assert (KERNEL_DIR / src).is_file(), f"{kernel.func}: {src} is not in firmware/kernels"
    # Its own file, in its family's directory: tq_conv_s8 -> conv/tq_conv_s8.c.
    assert f"{family}/{kernel.func}.c" in kernel.sources, f"{kernel.func} does not ship {family}/{kernel.func}.c"


def test_every_kernel_file_is_named():
    files = sorted(p for pattern in ("*/tq_*.c", "*/tq_*.S") for p in KERNEL_DIR.glob(pattern))
    assert files, f"no kernels found in {KERNEL_DIR}"
    orphans = [p.relative_to(KERNEL_DIR).as_posix() for p in files if p.relative_to(KERNEL_DIR).as_posix() not in _named()]
    assert not orphans, f"kernel files no table in tinyq/ops names: {orphans}"


def test_every_kernel_header_is_named():
    headers = [p.relative_to(KERNEL_DIR).as_posix() for p in sorted((KERNEL_DIR / "include").glob("tq_*.h"))]
    orphans = [h for h in headers if h not in (COMMON, FEATURES) and h not in _named()]
    assert not orphans, f"kernel headers no table in tinyq/ops names: {orphans}"


@pytest.mark.parametrize(("family", "kernel"), ALL, ids=IDS)
def test_kernel_is_declared_by_its_headers(family, kernel):
    """What codegen checks for the kernels a model calls (check_declared), for every kernel."""
    text = "\n".join((KERNEL_DIR / f).read_text() for f in sorted(_shipped(kernel)) if f.endswith(".h"))
    for ident in (kernel.func, kernel.params_type):
        assert re.search(rf"\b{re.escape(ident)}\b", text), f"{ident} is declared by none of {sorted(_shipped(kernel))}"


@pytest.mark.parametrize(("family", "kernel"), ALL, ids=IDS)
def test_shipped_files_include_only_shipped_headers(family, kernel):
    """Generated code puts every file in one directory: a quoted include must name a shipped file
    (a header, or the .c a _wide twin builds on)."""
    shipped = _shipped(kernel)
    names = {Path(f).name for f in shipped} | GENERATED
    for f in sorted(shipped):
        for name in INCLUDE.findall((KERNEL_DIR / f).read_text()):
            assert name in names, f"{kernel.func}: {f} includes {name}, which the call does not ship"


def test_lowerings_call_kernels_from_the_tables():
    """KernelCalls are made by Kernel.call only, so every kernel a lowering calls is in a table."""
    package = Path(ops.__file__).parent
    for path in sorted(package.glob("*.py")):
        if path.name != "base.py":
            assert "KernelCall(" not in path.read_text(), f"{path.name} builds a KernelCall by hand; add its kernel to KERNELS"
