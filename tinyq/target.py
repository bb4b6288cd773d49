"""What the generated code is for: which kernels to use and the layouts they read.

The fast kernels (default) are specialized at generation time (matrix-product convolutions with
the input offset folded into the bias, weights padded to the inner loop's width); `ref` keeps
TFLite's reference loops everywhere. Both give the same bits. The layout width comes from the
board's extensions: Helium (MVE) reads 16 bytes at a time, the DSP extension and plain C 4.
"""

from __future__ import annotations

from dataclasses import dataclass

KERNEL_SETS = ("fast", "ref")


@dataclass(frozen=True)
class Target:
    kernels: str = "fast"
    k_align: int = 4

    @classmethod
    def for_extensions(cls, extensions, kernels: str = "fast") -> "Target":
        return cls(kernels=kernels, k_align=16 if "mve" in extensions else 4)


HOST = Target()


def target_for(kernels: str, extensions=()) -> Target:
    """The target for a --kernels choice (checked) and a core's extensions."""
    if kernels not in KERNEL_SETS:
        from .errors import BadInput

        raise BadInput(f"--kernels {kernels}: choose one of {', '.join(KERNEL_SETS)}")
    return Target.for_extensions(extensions, kernels)
