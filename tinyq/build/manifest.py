"""build.json: what a build directory holds, written and read here and nowhere else.

A build directory (`tinyq build`, or `tinyq export --arduino`) is self-contained: the firmware images,
the generated sources, the model it was built from (model.tflite) and build.json, the manifest that
`tinyq profile`, `flash`, `emulate` and `bench` read. The manifest is a typed dataclass with a schema
version: a build.json from another version, or one that lost a field, is refused with one line that
says to rebuild, instead of failing later on a missing key.

The input and output layout (`IoSlot`) is also what the serial protocol carries: inputs, then outputs,
each at an offset aligned to its element size in one byte stream (the firmware puts each slot's bytes
in that tensor inside the model's arena); `pack_inputs` and `unpack_outputs` convert between that
stream and numpy arrays.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyq.boards import Board, get_board
from tinyq.errors import BadInput, DeviceError
from tinyq.fileio import write_text
from tinyq.ir import NUMPY_DTYPES, Graph

FILE = "build.json"
MODEL_COPY = "model.tflite"
ELF = "firmware.elf"
# Raised whenever a field is added, removed or changes meaning; a build.json of another version is refused.
# 2: state_bytes and sizes.state (the state buffer of a model that keeps state across inferences).
# 3: the arena holds the model's inputs and outputs; ram_tflm (arena + I/O as TFLM counts it) and
#    keep_input (the plan keeps the inputs for the whole inference).
# 4: patches (stages run band by band for a RAM budget, tinyq.compiler.patch); a band's layer `op`
#    reads "<layer>/band<b> KIND".
VERSION = 4


@dataclass(frozen=True)
class IoSlot:
    """One model input or output in the protocol's byte stream."""

    kind: str  # "input" | "output"
    index: int  # position among the model's inputs (outputs)
    tensor: int  # tensor index in the model
    name: str
    dtype: str  # "int8", "int16", "float32"
    shape: tuple[int, ...]
    offset: int  # bytes from the start of the input (output) stream
    bytes: int
    scale: float | None
    zero_point: int | None

    @property
    def numpy_dtype(self) -> type:
        return NUMPY_DTYPES[self.dtype]


def io_layout(g: Graph) -> list[IoSlot]:
    """Inputs then outputs, each at an offset (aligned to its element size) in one byte buffer."""
    rows = []
    for kind, ids in (("input", g.inputs), ("output", g.outputs)):
        offset = 0
        for k, i in enumerate(ids):
            t = g.tensor(i)
            item = np.dtype(t.dtype).itemsize
            offset = (offset + item - 1) // item * item
            q = t.quant
            rows.append(IoSlot(
                kind=kind, index=k, tensor=i, name=t.name, dtype=t.dtype, shape=tuple(t.shape), offset=offset,
                bytes=t.nbytes, scale=float(np.float32(q.scale[0])) if q else None,
                zero_point=int(q.zero_point[0]) if q else None,
            ))
            offset += t.nbytes
    return rows


def buffer_bytes(slots: list[IoSlot], kind: str) -> int:
    return max((s.offset + s.bytes for s in slots if s.kind == kind), default=0)


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the C prefix of the generated library
    source: str  # the path the model was built from
    sha256: str  # of model.tflite in the build directory
    file: str = MODEL_COPY


@dataclass(frozen=True)
class ConsoleInfo:
    name: str
    driver: str
    baud: int


@dataclass(frozen=True)
class Layer:
    index: int
    op: str


@dataclass(frozen=True)
class Sizes:
    """Bytes of flash and RAM, as the linker placed them."""

    code: int  # flash minus weights: vectors, code, constants of the runtime, .data image
    weights: int  # the model's weights, biases and requantization tables
    flash: int
    flash_limit: int
    arena: int
    stack: int
    ram_other: int  # .data + .bss minus the arena and the state (the protocol's command line, statics)
    ram: int
    ram_limit: int
    state: int = 0  # the model's state buffer (variable tensors kept across inferences), in .bss

    @property
    def fits(self) -> bool:
        return self.flash <= self.flash_limit and self.ram <= self.ram_limit

    def to_json(self) -> dict:
        return asdict(self)


# Fields one kind of build has and the other leaves out of its build.json.
ONLY_FOR = {
    "firmware": ("cycle_source", "wide_weights", "boot2_crc", "compile", "warnings"),
    "arduino": ("library", "weight_bytes", "kernel_sources", "files"),
}


@dataclass(frozen=True)
class Manifest:
    """A build directory's build.json. `kind` is "firmware" (`tinyq build`) or "arduino" (`tinyq export`)."""

    kind: str
    tinyq: str  # the version that built it
    board: str
    console: ConsoleInfo
    model: ModelInfo
    mlperf_model: str
    io: tuple[IoSlot, ...]
    layers: tuple[Layer, ...]
    arena_bytes: int
    arena_lower_bound: int
    kernels: str
    cycle_unit: str
    command: str
    sizes: Sizes | None  # None for an Arduino export: the IDE links it
    # firmware builds
    cycle_source: str | None = None
    wide_weights: bool = False
    boot2_crc: str | None = None
    compile: str | None = None  # the link command
    warnings: tuple[str, ...] = ()
    # Arduino exports
    library: str | None = None
    weight_bytes: int | None = None
    kernel_sources: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    # Bytes of state the model keeps from one inference to the next (NAME_STATE_SIZE); 0: none. A
    # model with state is run as a sequence, after a `tq-reset`.
    state_bytes: int = 0
    # RAM for inference as TFLM counts its arena (activations + inputs + outputs): the arena, which holds
    # the inputs and outputs, plus any of them kept outside it.
    ram_tflm: int = 0
    # The plan keeps the inputs for the whole inference (one load runs many times); False: every
    # inference needs its input loaded again (the device runners do).
    keep_input: bool = False
    # Stages of spatial layers run band by band to fit a RAM budget (`tinyq build --ram-budget`, or a
    # board's RAM): per stage its layers, bands, RAM (as ram_tflm) before and after, and the MACs the
    # bands compute again (extra_macs, extra_macs_pct of the model's); empty: none.
    patches: tuple[dict, ...] = ()
    version: int = VERSION

    @property
    def inputs(self) -> list[IoSlot]:
        return [s for s in self.io if s.kind == "input"]

    @property
    def outputs(self) -> list[IoSlot]:
        return [s for s in self.io if s.kind == "output"]

    @property
    def input_bytes(self) -> int:
        return buffer_bytes(list(self.io), "input")

    @property
    def output_bytes(self) -> int:
        return buffer_bytes(list(self.io), "output")

    def pack_inputs(self, arrays: list[np.ndarray]) -> bytes:
        """The protocol's input buffer for one sample (one array per model input)."""
        buf = bytearray(self.input_bytes)
        for s, a in zip(self.inputs, arrays):
            buf[s.offset : s.offset + s.bytes] = np.ascontiguousarray(a, dtype=s.numpy_dtype).tobytes()
        return bytes(buf)

    def unpack_outputs(self, data: bytes) -> list[np.ndarray]:
        """The model's outputs from the protocol's output buffer."""
        if len(data) != self.output_bytes:
            raise DeviceError(f"the device sent {len(data)} output bytes, the build has {self.output_bytes}: flash this build again")
        return [np.frombuffer(data[s.offset : s.offset + s.bytes], dtype=s.numpy_dtype).reshape(s.shape) for s in self.outputs]

    def identity(self) -> dict[str, str]:
        """What `tq-info` answers on a board running this build (plus `sha`, the model's sha256)."""
        return {"board": self.board, "input": str(self.input_bytes), "output": str(self.output_bytes),
                "layers": str(len(self.layers)), "arena": str(self.arena_bytes), "sha": self.model.sha256}

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ONLY_FOR["arduino" if self.kind == "firmware" else "firmware"]:
            d.pop(k)
        d["manifest_version"] = d.pop("version")
        d["input_bytes"], d["output_bytes"] = self.input_bytes, self.output_bytes
        return d

    def write(self, build_dir: Path) -> Path:
        p = Path(build_dir) / FILE
        write_text(p, json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        return p

    @classmethod
    def from_json(cls, d: dict) -> "Manifest":
        """Raises KeyError/TypeError/ValueError on a malformed document (load() turns them into one line)."""
        d = dict(d)
        version = d.pop("manifest_version", None)
        if version != VERSION:
            raise ValueError(f"manifest version {version}, this tinyq reads {VERSION}"
                             + (" (since 3 the arena holds the model's input and output)" if version in (1, 2) else ""))
        d.pop("input_bytes", None)
        d.pop("output_bytes", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown fields {', '.join(unknown)}")
        d["console"] = ConsoleInfo(**d["console"])
        d["model"] = ModelInfo(**d["model"])
        d["io"] = tuple(IoSlot(**dict(s, shape=tuple(s["shape"]))) for s in d["io"])
        d["layers"] = tuple(Layer(**L) for L in d["layers"])
        d["sizes"] = Sizes(**d["sizes"]) if d.get("sizes") is not None else None
        for k in ("warnings", "kernel_sources", "files", "patches"):
            if k in d:
                d[k] = tuple(d[k])
        m = cls(**d, version=VERSION)
        _check_fields(m)
        return m


# What a field's annotation accepts from JSON (nested dataclasses are walked by _check_fields).
_JSON_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float), "dict": (dict,)}


def _check_fields(obj, where: str = "") -> None:
    """Every field of the manifest (and of its parts) holds a value of its annotated type, and each I/O
    slot is consistent (a known type, a shape of whole dimensions, its bytes): raises TypeError/ValueError,
    which load() turns into one line, so no reader meets a wrong type later."""
    for f in dataclasses.fields(obj):
        v, at = getattr(obj, f.name), f"{where}{f.name}"
        if dataclasses.is_dataclass(v):
            _check_fields(v, at + "/")
            continue
        ann = str(f.type).replace(" ", "")
        if v is None and ann.endswith("|None"):
            continue
        base = ann.removesuffix("|None")
        if base.startswith("tuple["):
            item = base[len("tuple["):].split(",")[0]
            for k, x in enumerate(v):
                if dataclasses.is_dataclass(x):
                    _check_fields(x, f"{at}/{k}/")
                elif item in _JSON_TYPES and (not isinstance(x, _JSON_TYPES[item]) or (item != "bool" and isinstance(x, bool))):
                    raise TypeError(f"{at}/{k} is {x!r}, not {item}")
            continue
        want = _JSON_TYPES.get(base)
        if want is not None and (not isinstance(v, want) or (base != "bool" and isinstance(v, bool))):
            raise TypeError(f"{at} is {v!r}, not {base}")
    if isinstance(obj, Manifest):
        for kind in ("input", "output"):
            offset = 0
            for k, sl in enumerate(x for x in obj.io if x.kind == kind):
                item = np.dtype(sl.numpy_dtype).itemsize
                offset = (offset + item - 1) // item * item
                if (sl.index, sl.offset) != (k, offset):
                    raise ValueError(f"{kind} {k} is slot {sl.index} at byte {sl.offset}, not at {offset} as the protocol packs it")
                offset += sl.bytes
    if isinstance(obj, IoSlot):
        if obj.kind not in ("input", "output") or obj.dtype not in NUMPY_DTYPES or obj.offset < 0:
            raise ValueError(f"{where}: kind {obj.kind!r}, dtype {obj.dtype!r}, offset {obj.offset} is not an I/O slot")
        if any(d < 0 for d in obj.shape) or obj.bytes != math.prod(obj.shape) * np.dtype(obj.numpy_dtype).itemsize:
            raise ValueError(f"{where}: shape {list(obj.shape)} of {obj.dtype} is not {obj.bytes} bytes")


def resolve_board(manifest: Manifest, board_name: str | None) -> Board:
    """The build's board; --board (a name or a board file) must be the one it was built for."""
    if board_name is None:
        return _fits(manifest, get_board(manifest.board))
    b = get_board(board_name)
    if b.name != manifest.board:
        raise BadInput(f"this build is for {manifest.board}, not {b.name}: rebuild with `tinyq build MODEL --board {board_name}`")
    return _fits(manifest, b)


def _fits(manifest: Manifest, b: Board) -> Board:
    """A build whose inputs and outputs could not be in the board's RAM is not one tinyq made for it."""
    if manifest.input_bytes + manifest.output_bytes > b.ram.length:
        raise BadInput(f"this build's inputs and outputs ({manifest.input_bytes} + {manifest.output_bytes} bytes) exceed "
                       f"{b.name}'s RAM ({b.ram.length} bytes): its build.json is corrupt, rebuild it")
    return b


def load(build_dir: Path) -> Manifest:
    """The manifest of a build directory, or one line saying how to make one."""
    build_dir = Path(build_dir)
    p = build_dir / FILE
    rebuild = f"`tinyq build MODEL --board B -o {build_dir}`"
    if not build_dir.exists():
        raise BadInput(f"{build_dir}: no such build directory: run {rebuild} first")
    if not p.exists():
        raise BadInput(f"{build_dir} is not a tinyq build (no {FILE}): run {rebuild}")
    try:
        return Manifest.from_json(json.loads(p.read_text()))
    except json.JSONDecodeError:
        raise BadInput(f"{p} is corrupt: rebuild with {rebuild}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"{p} is not a build.json this tinyq reads ({type(e).__name__}: {e}): rebuild with {rebuild}") from None


__all__ = ["ELF", "FILE", "MODEL_COPY", "VERSION", "ConsoleInfo", "IoSlot", "Layer", "Manifest", "ModelInfo", "Sizes",
           "buffer_bytes", "io_layout", "load", "resolve_board"]
