"""Typed intermediate representation of a full-integer TFLite graph.

The importer (tinyq.compiler.importer) fills it from the flatbuffer; passes (tinyq.compiler.passes) transform it; the code
generator reads it. Nodes are dataclasses, never dicts (STYLE rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DType:
    """A tensor element type: its TFLite name, numpy type, C type and size."""

    name: str
    numpy: type
    c: str | None  # None: read (so a check can name it) but never compiled
    bytes: int


# The one table of element types; the dicts below are views of it.
DTYPES: dict[str, DType] = {d.name: d for d in (
    DType("int8", np.int8, "int8_t", 1),
    DType("uint8", np.uint8, "uint8_t", 1),
    DType("int16", np.int16, "int16_t", 2),
    DType("int32", np.int32, "int32_t", 4),
    DType("int64", np.int64, "int64_t", 8),
    DType("float32", np.float32, "float", 4),
    DType("float16", np.float16, None, 2),
    DType("bool", np.bool_, "uint8_t", 1),
)}
DTYPE_BYTES = {k: d.bytes for k, d in DTYPES.items()}
DTYPE_C = {k: d.c for k, d in DTYPES.items() if d.c is not None}
NUMPY_DTYPES = {k: d.numpy for k, d in DTYPES.items()}


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis`."""

    scale: tuple[float, ...]  # float32 values, held as Python floats (exact)
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (only for per-tensor quantization)."""
        assert len(self.scale) == 1, "per-channel tensor used as per-tensor"
        return self.scale[0]

    @property
    def zp(self) -> int:
        assert len(self.zero_point) >= 1
        return self.zero_point[0]


@dataclass(frozen=True)
class WeightPack:
    """How a constant weight tensor is stored packed in flash (tinyq.compiler.packing): `bits`-bit
    indices (1, 2 or 4), looked up in a codebook: "linear" (the index is the int4 value itself, two's
    complement: a TFLite INT4 tensor), "layer" (one table of 2^bits int8 values) or "channel" (one table
    per output channel). The tensor's `data` stays the int8 values (folding, requantization and verify
    read those); only the kernels read the packed form."""

    bits: int
    codebook: str  # "linear" | "layer" | "channel"
    source: str = ""  # why it is packed: "int4" (the file's type), "metadata", "option"


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # key of DTYPE_BYTES
    quant: Quant | None = None
    data: np.ndarray | None = None  # constant data (weights, biases), None for activations
    alias_of: int | None = None  # set by the aliasing pass: shares the storage of that tensor
    # A row-slice view (tinyq.compiler.patch): bytes from the start of `alias_of`'s storage where this
    # view begins. None: a plain view (offset 0), which the in-place passes may still rearrange; a
    # sliced view (even at 0) is left alone by them.
    alias_offset: int | None = None
    offset: int | None = None  # arena offset, set by the memory planner
    # TFLite variable tensor (is_variable): state an op reads and writes in place, kept across
    # inferences (an LSTM's or SVDF's state) until the model's state is reset.
    variable: bool = False
    # A variable's value after a reset: a resource variable's CALL_ONCE assignment (the importer makes
    # each resource variable a variable tensor); None: TFLite's ResetVariableTensor (int8: the zero
    # point, other types: 0).
    initial: np.ndarray | None = None
    # Constant weights stored packed (low-bit indices): set by the importer for an INT4 tensor and by
    # tinyq.compiler.packing for palettized int8 ones; None: plain int8 bytes.
    pack: WeightPack | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES[self.dtype]


@dataclass
class Op:
    index: int
    kind: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices; -1 marks an absent optional input
    outputs: list[int]
    options: Any = None  # the schema's typed options object (e.g. Conv2DOptionsT) or None
    # The operator's `intermediates` (tensor indices): quantization parameters the quantizer recorded
    # for values inside the op (an integer LSTM's gate outputs); they hold no data at run time.
    intermediates: list[int] = field(default_factory=list)
    # Filled by the lowering pass: the kernel call this op becomes (tinyq.ops.base.KernelCall).
    call: Any = None
    # A band of a patched stage (tinyq.compiler.patch): the rows of padding above its input slice,
    # which the window lowerings take instead of the one the options' padding gives (the output's
    # height is then its shape's), and its name, "<layer>/band<b>"; None / "" for every other op.
    pad_h: int | None = None
    name: str = ""
    band_of: int | None = None  # the layer (Op.index) a band op computes part of


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    name: str = "model"
    source_sha256: str = ""
    arena_size: int = 0
    # Lower bound of the arena: the largest set of activation bytes live at one time.
    arena_lower_bound: int = 0
    notes: list[str] = field(default_factory=list)
    # What the code is generated for (tinyq.compiler.target.Target); set by compile_graph.
    target: Any = None
    # The model's "tinyq.weights" metadata (tinyq.compiler.packing): weight tensor name -> (bits, codebook).
    weight_hints: dict[str, tuple[int, str]] = field(default_factory=dict)

    def tensor(self, i: int) -> Tensor:
        return self.tensors[i]

    def add_scratch(self, name: str, count: int, dtype: str = "int8") -> int:
        """A new activation tensor of `count` elements for a kernel's working memory; the planner
        gives it arena space."""
        t = Tensor(index=len(self.tensors), name=name, shape=(count,), dtype=dtype)
        self.tensors.append(t)
        return t.index

    def base(self, i: int) -> Tensor:
        """Follow aliases to the tensor that owns the storage."""
        t = self.tensors[i]
        while t.alias_of is not None:
            t = self.tensors[t.alias_of]
        return t

    def byte_offset(self, i: int) -> int:
        """Bytes from the start of the base's storage (g.base(i)) where tensor i begins: the sum of
        the row-slice offsets along its aliases."""
        t, off = self.tensors[i], 0
        while t.alias_of is not None:
            off += t.alias_offset or 0
            t = self.tensors[t.alias_of]
        return off

    def sliced(self, i: int) -> bool:
        """Whether tensor i is a row-slice view, or a view of one: the passes that make a kernel write
        over its input (in place, shifted) leave its readers and writers alone."""
        t = self.tensors[i]
        while t.alias_of is not None:
            if t.alias_offset is not None:
                return True
            t = self.tensors[t.alias_of]
        return False

    def producers(self) -> dict[int, Op]:
        return {o: op for op in self.ops for o in op.outputs}

    def consumers(self) -> dict[int, list[Op]]:
        out: dict[int, list[Op]] = {}
        for op in self.ops:
            for i in op.inputs:
                if i >= 0:
                    out.setdefault(i, []).append(op)
        return out
