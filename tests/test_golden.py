"""Golden generated C: the tree `tinyq generate` writes for tests/golden/small.tflite (conv with stride
and padding, depthwise, residual add, max pool, dense, softmax), --kernels fast and ref, compared byte
for byte with tests/golden/small-fast/ and tests/golden/small-ref/.

A change to the generated C (codegen, a kernel file copied into the tree, tinyq's version in the
header) fails here on purpose. If the change is intended, regenerate the trees and commit them:

    .venv/bin/python tests/golden/regenerate.py
"""

from __future__ import annotations

import pytest

from .golden.regenerate import GOLDEN, KERNELS, NAME, generate_tree

HINT = "run `.venv/bin/python tests/golden/regenerate.py` if the change is intended"


def _files(d) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _first_difference(got: bytes, want: bytes) -> str:
    g, w = got.decode(errors="replace").splitlines(), want.decode(errors="replace").splitlines()
    for i, (a, b) in enumerate(zip(g, w), 1):
        if a != b:
            return f"line {i}:\n    golden:    {b!r}\n    generated: {a!r}"
    n = min(len(g), len(w)) + 1
    if len(g) != len(w):
        return f"line {n}: the golden file has {len(w)} lines, the generated one {len(g)}"
    return "same lines, different bytes (line endings or a final newline)"


@pytest.mark.parametrize("kernels", KERNELS)
def test_generated_c_matches_golden(tmp_path, kernels):
    want_dir = GOLDEN / f"{NAME}-{kernels}"
    want = _files(want_dir)
    assert want, f"{want_dir} is empty or missing: {HINT}"
    generate_tree(tmp_path / f"{NAME}-{kernels}", kernels)
    got = _files(tmp_path / f"{NAME}-{kernels}")
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, (
        f"--kernels {kernels}: golden files no longer generated: {missing}; generated files not in the golden tree: {extra}; {HINT}")
    differ = [f"{want_dir.name}/{n} differs at {_first_difference(got[n], want[n])}" for n in sorted(want) if got[n] != want[n]]
    assert not differ, "\n".join(differ) + f"\n{HINT}"
