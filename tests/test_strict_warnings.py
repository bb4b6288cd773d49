"""The kernels and a whole firmware build compile without warnings under -Wall -Wextra -Wconversion
(tests/fuzz/strict_warnings.py) with arm-none-eabi-gcc and with clang for two cores; `make sanitize`
checks every board. Any warning in any file fails."""

from __future__ import annotations

import shutil

import pytest

from .fuzz.strict_warnings import check


@pytest.mark.parametrize("board,compiler", [("qemu-m4", "gcc"), ("qemu-m55", "clang")])
def test_no_warnings(tmp_path, board, compiler):
    if shutil.which("clang" if compiler == "clang" else "arm-none-eabi-gcc") is None:
        pytest.skip(f"{compiler} is missing: `make system` installs it")
    rep = check(board, compiler, tmp_path)
    assert rep.files > 150
    assert not rep.lines, "\n".join(rep.lines[:40])
