"""The one comparison: does an output equal the reference's? Every check (verify on the host or a
board, profile, bench, compare, the Renode script) decides through `compare_output` and `Tally`.

Integer models must match bit for bit. A float32 model must match within FLOAT_TOLERANCE: its kernels
sum in the reference kernels' order, so on the host the outputs are usually identical, but the boards'
C library (newlib) rounds expf / tanhf differently from glibc's by an ulp or so (SOFTMAX, LOGISTIC,
TANH), and an error may grow through the layers after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyq.compiler import quant_mode
from tinyq.ir import Graph

# A float32 model's output element passes when |got - want| <= FLOAT_TOLERANCE * max(1, |want|). Measured
# (tests/test_float_models.py): 0 on the host, at most ~1e-7 on qemu-m4 (newlib's expf), so 1e-5
# leaves room for deeper models while any wrong index, weight or activation is far outside it.
FLOAT_TOLERANCE = 1e-5


def output_tolerance(g: Graph) -> float | None:
    """FLOAT_TOLERANCE for a model that computes in float32; None (bit for bit) for integer models,
    float-io ones included (their QUANTIZE / DEQUANTIZE edges are exact)."""
    return FLOAT_TOLERANCE if quant_mode(g) == "float" else None


def tolerance_text(tolerance: float) -> str:
    return f"|diff| <= {tolerance:g} x max(1, |ref|)"


@dataclass
class Compared:
    """One output against the reference: identical bits, the first element out of tolerance (None:
    all within; without a tolerance, the first that differs) and the largest differences."""

    identical: bool
    first_bad: int | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0  # largest |got - want| / |want| over the elements with want != 0


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b.astype(a.dtype)
    if a.dtype.kind == "f":
        return a.view(np.uint32 if a.itemsize == 4 else np.uint64) == b.view(np.uint32 if b.itemsize == 4 else np.uint64)
    return a == b


def compare_output(got: np.ndarray, want: np.ndarray, tolerance: float | None) -> Compared:
    a = np.asarray(got).reshape(-1)
    b = np.asarray(want).reshape(-1).astype(a.dtype)
    if a.tobytes() == b.tobytes():
        return Compared(True)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(np.isnan(a64) & np.isnan(b64), 0.0, np.abs(a64 - b64))
        diff = np.where(a64 == b64, 0.0, diff)  # equal infinities
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN against a number
        rel = np.where(b64 != 0, diff / np.abs(b64), 0.0)
    if tolerance is None:
        bad = ~_same(a, b)
    else:
        bad = ~(diff <= tolerance * np.fmax(1.0, np.abs(b64)))  # fmax: a NaN wanted, and got, is no difference
    first = int(np.flatnonzero(bad)[0]) if bad.any() else None
    return Compared(False, first, float(diff.max()), float(rel.max()))


@dataclass
class Mismatch:
    """The first output element out of tolerance: which input, which output, where, both values."""

    sample: int
    output: int
    index: int
    got: float
    want: float

    def to_json(self) -> dict:
        return {"sample": self.sample, "output": self.output, "index": self.index, "got": self.got, "want": self.want}


class Verdict:
    """The verdict of a run against the reference, from its counts `mismatches` (inputs out of tolerance)
    and `differing` (inputs not bit-identical); shared by Tally and the checks' results."""

    mismatches: int
    differing: int

    @property
    def passed(self) -> bool:
        """Every input bit-exact, or within the tolerance for a float32 model."""
        return self.mismatches == 0

    @property
    def bit_exact(self) -> bool:
        return self.mismatches == 0 and self.differing == 0


@dataclass
class Tally(Verdict):
    """Outputs of many inputs against the reference: `add` one input's outputs at a time."""

    tolerance: float | None  # None: bit for bit
    samples: int = 0
    mismatches: int = 0  # inputs with an output out of tolerance
    differing: int = 0  # inputs with an output not bit-identical (within the tolerance or not)
    max_abs_diff: float = 0.0
    max_rel_diff: float = 0.0
    first: Mismatch | None = None

    def add(self, got: list[np.ndarray], want: list[np.ndarray]) -> Mismatch | None:
        """Compare one input's outputs; returns its first mismatch (None if it passed)."""
        n = self.samples
        self.samples += 1
        found = None
        compared = [compare_output(a, b, self.tolerance) for a, b in zip(got, want)]
        self.differing += int(not all(c.identical for c in compared))
        for c in compared:
            self.max_abs_diff = max(self.max_abs_diff, c.max_abs)
            self.max_rel_diff = max(self.max_rel_diff, c.max_rel)
        for k, c in enumerate(compared):
            if c.first_bad is not None:
                j = c.first_bad
                a, b = np.asarray(got[k]).reshape(-1), np.asarray(want[k]).reshape(-1)
                found = Mismatch(sample=n, output=k, index=j, got=float(a[j]), want=float(b[j]))
                break
        if found is not None:
            self.mismatches += 1
            if self.first is None:
                self.first = found
        return found
