"""What the generated code is for: which kernels to use and the layouts they read.

The fast kernels (default) are specialized at generation time (matrix-product convolutions with
the input offset folded into the bias, weights padded to the inner loop's width); `ref` keeps
TFLite's reference loops everywhere. Both give the same bits. The layout width comes from the
board's extensions: Helium (MVE) reads 16 bytes at a time, the DSP extension and plain C 4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

KERNEL_SETS = ("fast", "ref")


@dataclass(frozen=True)
class Target:
    kernels: str = "fast"
    k_align: int = 4
    # Flash for speed: convolution weights stored as int16 (twice the bytes) so the DSP loop skips
    # their sign extension. Only where the layout is the DSP one (k_align 4); off by default.
    wide: bool = False
    # The DSP extension without Helium (Cortex-M4, M7, M33): the int8 convolutions' weights are stored
    # split for its loop (tinyq/ops/conv.py's _gemm, firmware/kernels/conv/tq_gemm_dsp.S).
    dsp: bool = False
    # Memory plan: the model's inputs stay live for the whole inference (their bytes never reused), so
    # the same input can run again without being loaded again (`tinyq build --keep-input`).
    keep_input: bool = False
    # Stages of spatial layers run band by band (tinyq.compiler.patch.Stage), chosen for a RAM budget
    # (`tinyq build --ram-budget`); empty: none.
    patches: tuple = ()
    # The board's flash in bytes (0: not known), which bounds flash-for-speed defaults such as the
    # int16 weights of small fully connected layers (tinyq/ops/conv.py's _fc_widen).
    flash: int = 0
    # Which weight tensors are stored packed (tinyq.compiler.packing): "auto" (INT4 tensors and those the
    # model's tinyq.weights metadata names), "off" (none: plain int8), "4" / "2" / "1" (also every one
    # with at most 2^b distinct values per layer or channel). `tinyq build --pack-weights`.
    pack_weights: str = "auto"

    @classmethod
    def for_extensions(cls, extensions, kernels: str = "fast", wide: bool = False) -> "Target":
        mve = "mve" in extensions
        return cls(kernels=kernels, k_align=16 if mve else 4, wide=wide and not mve, dsp="dsp" in extensions and not mve)


HOST = Target()


PACK_MODES = ("auto", "off", "4", "2", "1")  # --pack-weights (tinyq.compiler.packing)


def target_for(kernels: str, extensions=(), wide: bool = False, pack_weights: str = "auto") -> Target:
    """The target for a --kernels choice (checked), a core's extensions, --wide-weights and --pack-weights (checked)."""
    from tinyq.errors import BadInput

    if kernels not in KERNEL_SETS:
        raise BadInput(f"--kernels {kernels}: choose one of {', '.join(KERNEL_SETS)}")
    if pack_weights not in PACK_MODES:
        raise BadInput(f"--pack-weights {pack_weights}: choose one of {', '.join(PACK_MODES)}")
    return dataclasses.replace(Target.for_extensions(extensions, kernels, wide), pack_weights=pack_weights)
