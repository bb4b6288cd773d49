"""The shape sweep: single layers over a grid of shapes, types and quantization schemes, measured per layer
on a board (`tinyq bench --sweep`), each beside CMSIS-NN's instructions for the same layer when a baseline
file is given.

Rows (`sweep_rows`): one layer each, a plain dict (the row spec another tool, the CMSIS-NN harness, reads
too): id, op, dtype, in, out, kernel, stride, padding, depth_multiplier, weights, weight_zero_point, macs.
They come from a grid (`DEFAULT_GRID`, or `QUICK_GRID` for trial runs): for each block, every combination of
its axes (maps, channel counts, window, stride, padding, depth multiplier, weight scheme, activation type),
leaving out rows whose activations (inputs + output) exceed 256 KB (the grid's io_limit, 32 KB, outside the
few large-map blocks: every byte crosses the board's serial line), whose weights exceed 256 KB, or whose
MACs exceed the grid's cap (the sweep's running time).

Measurement (`run_sweep`): rows of one type are packed into groups under the board's RAM and flash; each
group is one model (tinyq.checks.synth.rows_model: every layer writes its own model output; layers of one
input shape read one model input), built once (tinyq.build), run once in `tinyq profile`'s per-layer
measurement (outputs checked bit for bit against TFLite's reference interpreter), and each layer's count
read with the kernel the compiler chose for it (the lowered graph's KernelCall).

`python -m tinyq.checks.sweep --rows [--quick]` prints the rows as JSON.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tinyq.boards import Board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.checks.synth import out_size, rows_model
from tinyq.errors import BadInput, CheckFailed, TinyqError

ACTIVATION_LIMIT = 256 * 1024  # bytes of a row's inputs and output together
WEIGHT_LIMIT = 256 * 1024  # bytes of a row's int8 weights
ITEM_BYTES = {"int8": 1, "int16": 2}
SHORT = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dw", "FULLY_CONNECTED": "fc", "AVERAGE_POOL_2D": "avgpool",
         "MAX_POOL_2D": "maxpool", "ADD": "add"}
WEIGHT_TAG = {"per_channel": "pc", "per_tensor": "pt"}
DTYPE_TAG = {"int8": "i8", "int16": "i16"}


# --------------------------------------------------------------------------- rows


def _hw(m) -> tuple[int, int]:
    return (m, m) if isinstance(m, int) else (int(m[0]), int(m[1]))


def _map_tag(h: int, w: int, c: int) -> str:
    return f"{h}x{w}x{c}"


def conv_row(m, cin: int, cout: int, k: int, s: int, padding: str, weights: str = "per_channel", dtype: str = "int8") -> dict:
    h, w = _hw(m)
    oh, ow = out_size(h, k, s, padding), out_size(w, k, s, padding)
    return {"id": f"conv_k{k}_s{s}_{padding}_{_map_tag(h, w, cin)}_{cout}_{WEIGHT_TAG[weights]}_{DTYPE_TAG[dtype]}",
            "op": "CONV_2D", "dtype": dtype, "in": [h, w, cin], "out": [oh, ow, cout], "kernel": [k, k], "stride": [s, s],
            "padding": padding, "depth_multiplier": None, "weights": weights, "weight_zero_point": 0,
            "macs": oh * ow * cout * k * k * cin}


def dw_row(m, c: int, mult: int, k: int, s: int, padding: str, weights: str = "per_channel", dtype: str = "int8") -> dict:
    h, w = _hw(m)
    oh, ow = out_size(h, k, s, padding), out_size(w, k, s, padding)
    return {"id": f"dw_k{k}_m{mult}_s{s}_{padding}_{_map_tag(h, w, c)}_{WEIGHT_TAG[weights]}_{DTYPE_TAG[dtype]}",
            "op": "DEPTHWISE_CONV_2D", "dtype": dtype, "in": [h, w, c], "out": [oh, ow, c * mult], "kernel": [k, k],
            "stride": [s, s], "padding": padding, "depth_multiplier": mult, "weights": weights, "weight_zero_point": 0,
            "macs": oh * ow * c * mult * k * k}


def fc_row(k: int, n: int, weights: str = "per_channel", zero_point: int = 0, dtype: str = "int8") -> dict:
    tag = WEIGHT_TAG[weights] + (f"z{zero_point}".replace("-", "m") if zero_point else "")
    return {"id": f"fc_{k}_{n}_{tag}_{DTYPE_TAG[dtype]}", "op": "FULLY_CONNECTED", "dtype": dtype, "in": [1, 1, k],
            "out": [1, 1, n], "kernel": None, "stride": None, "padding": None, "depth_multiplier": None,
            "weights": weights, "weight_zero_point": zero_point, "macs": k * n}


def pool_row(op: str, m, c: int, k, s: int, padding: str, dtype: str = "int8") -> dict:
    """A pooling row; k == "global" is a window over the whole map (stride 1, valid)."""
    h, w = _hw(m)
    kh, kw = (h, w) if k == "global" else (k, k)
    oh, ow = out_size(h, kh, s, padding), out_size(w, kw, s, padding)
    ktag = "global" if k == "global" else f"k{k}_s{s}_{padding}"
    return {"id": f"{SHORT[op]}_{ktag}_{_map_tag(h, w, c)}_{DTYPE_TAG[dtype]}", "op": op, "dtype": dtype,
            "in": [h, w, c], "out": [oh, ow, c], "kernel": [kh, kw], "stride": [s, s], "padding": padding,
            "depth_multiplier": None, "weights": None, "weight_zero_point": None, "macs": oh * ow * c * kh * kw}


def add_row(m, c: int, dtype: str = "int8") -> dict:
    h, w = _hw(m)
    return {"id": f"add_{_map_tag(h, w, c)}_{DTYPE_TAG[dtype]}", "op": "ADD", "dtype": dtype, "in": [h, w, c],
            "out": [h, w, c], "kernel": None, "stride": None, "padding": None, "depth_multiplier": None,
            "weights": None, "weight_zero_point": None, "macs": h * w * c}


def activation_bytes(row: dict) -> int:
    """Bytes of the row's model inputs and output (ADD has two inputs)."""
    inputs = 2 if row["op"] == "ADD" else 1
    return (inputs * math.prod(row["in"]) + math.prod(row["out"])) * ITEM_BYTES[row["dtype"]]


def weight_bytes(row: dict) -> int:
    """Bytes of the row's int8 weights (biases and requantization tables aside)."""
    op = row["op"]
    if op == "CONV_2D":
        return row["out"][2] * row["kernel"][0] * row["kernel"][1] * row["in"][2]
    if op == "DEPTHWISE_CONV_2D":
        return row["out"][2] * row["kernel"][0] * row["kernel"][1]
    if op == "FULLY_CONNECTED":
        return row["in"][2] * row["out"][2]
    return 0


# A grid: blocks, each (row maker, its axes); every combination of a block's axes is a candidate row.
# Maps are square sizes or (H, W); channel axes are tuples (in, out) for convolutions.
@dataclass(frozen=True)
class Grid:
    blocks: tuple[tuple[str, dict], ...]
    mac_limit: int
    # Activation bytes of a row, unless its block says "limit" (at most ACTIVATION_LIMIT): every byte of a
    # row's inputs and output crosses the board's serial line, a few KB a second under QEMU -icount.
    io_limit: int = ACTIVATION_LIMIT


def _block_rows(kind: str, axes: dict) -> Iterable[dict]:
    names = [n for n in axes if n != "limit"]
    for values in itertools.product(*(axes[n] for n in names)):
        a = dict(zip(names, values))
        if kind == "conv":
            yield conv_row(a["map"], *a["channels"], a["k"], a["s"], a["padding"], a["weights"], a["dtype"])
        elif kind == "dw":
            yield dw_row(a["map"], a["c"], a["mult"], a["k"], a["s"], a["padding"], a["weights"], a["dtype"])
        elif kind == "fc":
            weights, zp = a["weights"]
            yield fc_row(a["k"], a["n"], weights, zp, a["dtype"])
        elif kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            yield pool_row(kind, a["map"], a["c"], a["window"][0], a["window"][1], a["window"][2], a["dtype"])
        elif kind == "add":
            yield add_row(a["map"], a["c"], a["dtype"])
        else:
            raise ValueError(f"unknown sweep block {kind}")


def _valid(row: dict) -> bool:
    """A layer TFLite can run: a non-empty output, a window inside the padded input."""
    return all(d > 0 for d in row["out"])


def grid_rows(grid: Grid) -> list[dict]:
    """The grid's rows, in block order, each once, within the activation, weight and MAC limits."""
    rows: dict[str, dict] = {}
    for kind, axes in grid.blocks:
        io_limit = min(axes.get("limit", grid.io_limit), ACTIVATION_LIMIT)
        for r in _block_rows(kind, axes):
            if (r["id"] not in rows and _valid(r) and activation_bytes(r) <= io_limit
                    and weight_bytes(r) <= WEIGHT_LIMIT and r["macs"] <= grid.mac_limit):
                rows[r["id"]] = r
    return list(rows.values())


I8, I16, PC, PT = ("int8",), ("int16",), ("per_channel",), ("per_tensor",)
SQUARE = (1, 3, 6, 12, 24, 48, 96)
POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")

C1 = ((3, 8), (8, 16), (17, 35), (24, 144), (32, 64), (64, 128), (96, 24), (128, 128), (250, 250), (512, 512))
C3 = ((1, 8), (3, 16), (8, 8), (16, 16), (17, 33), (32, 32), (64, 64), (128, 128), (256, 256))
C3_S2 = ((1, 8), (3, 16), (16, 32), (17, 33), (64, 128))
DW_C = (1, 3, 8, 17, 32, 64, 96, 128, 250, 256, 512)

# Large maps (48x48, 96x96) take the small channel counts only: their bytes go through the serial protocol.
BIG = ACTIVATION_LIMIT
DEFAULT_GRID = Grid(mac_limit=16_000_000, io_limit=32 * 1024, blocks=(
    # CONV_2D 1x1 (pointwise), stride 1: maps 1x1 to 96x96, channel counts 3 to 512 (odd ones, ones not a multiple of 4)
    ("conv", {"map": (1, 3, 6, 12, 24, (25, 5)), "k": (1,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8,
              "channels": C1}),
    ("conv", {"map": (48, 96), "k": (1,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8,
              "channels": C1[:3], "limit": BIG}),
    # 1x1 stride 2 (residual shortcuts)
    ("conv", {"map": (7, 16, 32), "k": (1,), "s": (2,), "padding": ("same",), "weights": PC, "dtype": I8,
              "channels": ((16, 32), (17, 35), (32, 64))}),
    # 3x3, stride 1, same; stride 2 and valid padding on even and odd maps
    ("conv", {"map": (3, 6, 12, 24), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8, "channels": C3}),
    ("conv", {"map": (48, 96), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8, "channels": C3[:3], "limit": BIG}),
    ("conv", {"map": (12, 25, 49), "k": (3,), "s": (2,), "padding": ("same", "valid"), "weights": PC, "dtype": I8,
              "channels": C3_S2}),
    ("conv", {"map": (96,), "k": (3,), "s": (2,), "padding": ("same",), "weights": PC, "dtype": I8, "channels": C3_S2[:2], "limit": BIG}),
    ("conv", {"map": (6, 25), "k": (3,), "s": (1,), "padding": ("valid",), "weights": PC, "dtype": I8,
              "channels": ((3, 16), (16, 16), (17, 33), (64, 64))}),
    # per-tensor weights (older converters)
    ("conv", {"map": (12, 24), "k": (1,), "s": (1,), "padding": ("same",), "weights": PT, "dtype": I8,
              "channels": ((17, 35), (64, 64))}),
    ("conv", {"map": (24,), "k": (3,), "s": (1, 2), "padding": ("same",), "weights": PT, "dtype": I8,
              "channels": ((3, 16), (16, 16))}),
    # DEPTHWISE_CONV_2D 3x3, multiplier 1, stride 1 and 2, same and valid
    ("dw", {"map": (3, 6, 12, 24, (25, 5)), "c": DW_C, "mult": (1,), "k": (3,), "s": (1,), "padding": ("same",),
            "weights": PC, "dtype": I8}),
    ("dw", {"map": (48, 96), "c": (1, 3, 8, 17), "mult": (1,), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC,
            "dtype": I8, "limit": BIG}),
    ("dw", {"map": (12, 25, 48), "c": (8, 17, 32, 64), "mult": (1,), "k": (3,), "s": (2,), "padding": ("same", "valid"),
            "weights": PC, "dtype": I8}),
    ("dw", {"map": (96,), "c": (3, 8), "mult": (1,), "k": (3,), "s": (2,), "padding": ("same",), "weights": PC, "dtype": I8, "limit": BIG}),
    ("dw", {"map": (6, 25), "c": (8, 17, 64), "mult": (1,), "k": (3,), "s": (1,), "padding": ("valid",), "weights": PC,
            "dtype": I8}),
    # multiplier 2; a larger window (5x5); per-tensor weights
    ("dw", {"map": (6, 24), "c": (1, 3, 8, 17, 32), "mult": (2,), "k": (3,), "s": (1, 2), "padding": ("same",),
            "weights": PC, "dtype": I8}),
    ("dw", {"map": (12, 24), "c": (8, 17, 64, 128), "mult": (1,), "k": (5,), "s": (1, 2), "padding": ("same",),
            "weights": PC, "dtype": I8}),
    ("dw", {"map": (24,), "c": (17, 64), "mult": (1,), "k": (3,), "s": (1,), "padding": ("same",), "weights": PT,
            "dtype": I8}),
    # FULLY_CONNECTED: per channel, per tensor, per tensor with a weight zero point
    ("fc", {"k": (16, 35, 64, 128, 250, 640, 1024), "n": (8, 33, 128, 256), "weights": (("per_channel", 0),),
            "dtype": I8}),
    ("fc", {"k": (64, 128, 640), "n": (8, 128), "weights": (("per_tensor", 0), ("per_tensor", 5)), "dtype": I8}),
    # pooling: 2x2 stride 2, 3x3 stride 2 (same and valid), global
    *((op, {"map": (12, 24, 48), "c": (1, 8, 17, 64), "window": ((2, 2, "valid"),), "dtype": I8}) for op in POOLS),
    *((op, {"map": (96,), "c": (1, 8), "window": ((2, 2, "valid"),), "dtype": I8, "limit": BIG}) for op in POOLS),
    *((op, {"map": (12, 25), "c": (8, 17, 64), "window": ((3, 2, "same"), (3, 2, "valid")), "dtype": I8})
      for op in POOLS),
    *((op, {"map": (3, 6, 12, 24), "c": (16, 17, 64, 256), "window": (("global", 1, "valid"),), "dtype": I8})
      for op in POOLS),
    # ADD
    ("add", {"map": (1, 3, 6, 12, 24), "c": (1, 3, 8, 17, 32, 64, 128, 256), "dtype": I8}),
    ("add", {"map": (48, 96), "c": (3, 8), "dtype": I8, "limit": BIG}),
    # int16 activations (16x8)
    ("conv", {"map": (6, 24), "k": (1,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I16,
              "channels": ((8, 16), (17, 35), (64, 64))}),
    ("conv", {"map": (6, 24), "k": (3,), "s": (1, 2), "padding": ("same",), "weights": PC, "dtype": I16,
              "channels": ((3, 16), (16, 16), (17, 33))}),
    ("conv", {"map": (49,), "k": (3,), "s": (2,), "padding": ("valid",), "weights": PC, "dtype": I16, "channels": ((3, 16),)}),
    ("dw", {"map": (6, 24), "c": (8, 17, 64), "mult": (1,), "k": (3,), "s": (1, 2), "padding": ("same",),
            "weights": PC, "dtype": I16}),
    ("dw", {"map": (12,), "c": (8,), "mult": (2,), "k": (3,), "s": (1,), "padding": ("same", "valid"),
            "weights": PC, "dtype": I16}),
    ("fc", {"k": (64, 640), "n": (10, 128), "weights": (("per_channel", 0), ("per_tensor", 0)), "dtype": I16}),
    *((op, {"map": (24,), "c": (17, 64), "window": ((2, 2, "valid"), ("global", 1, "valid")), "dtype": I16})
      for op in POOLS),
    ("add", {"map": (12, 24), "c": (17, 32), "dtype": I16}),
))

QUICK_GRID = Grid(mac_limit=400_000, blocks=(
    ("conv", {"map": (6, 12), "k": (1,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8,
              "channels": ((17, 35),)}),
    ("conv", {"map": (13,), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8,
              "channels": ((3, 8),)}),
    ("conv", {"map": (13,), "k": (3,), "s": (2,), "padding": ("valid",), "weights": PC, "dtype": I8,
              "channels": ((3, 8),)}),
    ("conv", {"map": (12,), "k": (1,), "s": (1,), "padding": ("same",), "weights": PT, "dtype": I8,
              "channels": ((17, 35),)}),
    ("dw", {"map": (12,), "c": (17,), "mult": (1,), "k": (3,), "s": (1, 2), "padding": ("same",), "weights": PC,
            "dtype": I8}),
    ("dw", {"map": (12,), "c": (3,), "mult": (2,), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I8}),
    ("dw", {"map": (12,), "c": (8,), "mult": (1,), "k": (5,), "s": (1,), "padding": ("valid",), "weights": PT, "dtype": I8}),
    ("fc", {"k": (64,), "n": (10,), "weights": (("per_channel", 0), ("per_tensor", 0), ("per_tensor", 5)), "dtype": I8}),
    *((op, {"map": (13,), "c": (17,), "window": ((2, 2, "valid"), ("global", 1, "valid")), "dtype": I8})
      for op in POOLS),
    ("add", {"map": (12,), "c": (17,), "dtype": I8}),
    ("conv", {"map": (6,), "k": (1, 3), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I16,
              "channels": ((8, 16),)}),
    ("dw", {"map": (12,), "c": (17,), "mult": (1,), "k": (3,), "s": (1,), "padding": ("same",), "weights": PC, "dtype": I16}),
    ("fc", {"k": (64,), "n": (10,), "weights": (("per_channel", 0),), "dtype": I16}),
    ("add", {"map": (12,), "c": (8,), "dtype": I16}),
    ("MAX_POOL_2D", {"map": (12,), "c": (8,), "window": ((2, 2, "valid"),), "dtype": I16}),
))


# --------------------------------------------------------------------------- measurement

MAX_GROUP_ROWS = 24  # layers per firmware: a failing group is small enough to read
MAX_GROUP_MACS = 48_000_000  # an inference stays well inside the protocol's timeout


@dataclass
class RowResult:
    row: dict
    instructions: int | None = None  # the layer's count (tinyq profile's per-layer figure)
    kernel: str | None = None  # the kernel function the compiler chose
    bit_exact: bool | None = None  # the group's outputs against the reference interpreter
    error: str | None = None  # why the row has no figure
    baseline: dict | None = None  # the CMSIS-NN baseline file's entry: instructions, function, note
    unfit: bool = False  # the board cannot take the row (its build said so: BadInput): noted, not a failure

    @property
    def per_mac(self) -> float | None:
        return self.instructions / self.row["macs"] if self.instructions is not None and self.row["macs"] else None

    @property
    def ratio(self) -> float | None:
        theirs = (self.baseline or {}).get("instructions")
        return self.instructions / theirs if self.instructions is not None and theirs else None

    def to_json(self) -> dict:
        d = dict(self.row)
        d.update(instructions=self.instructions, instructions_per_mac=_round(self.per_mac), tinyq_kernel=self.kernel,
                 bit_exact=self.bit_exact)  # "kernel" is the row's window
        if self.baseline is not None:
            d.update(cmsis_instructions=self.baseline.get("instructions"), cmsis_function=self.baseline.get("function"),
                     ratio=_round(self.ratio))
            if self.baseline.get("note"):
                d["cmsis_note"] = self.baseline["note"]
        if self.error:
            d["error"] = self.error
        return d


def _round(v: float | None) -> float | None:
    return round(v, 4) if v is not None else None


@dataclass
class SweepResult:
    board: str
    cycle_unit: str
    rows: list[RowResult] = field(default_factory=list)
    groups: int = 0  # firmwares built
    helium: bool = False  # the goal: 1.0x CMSIS-NN's MVE kernels; else 0.5x (int8) and 1.0x (int16) of its DSP ones

    def goal(self, r: RowResult) -> float:
        """The ratio to CMSIS-NN a row should stay at or under (issue 16's goal)."""
        return 1.0 if self.helium or r.row.get("dtype") == "int16" else 0.5

    def over_goal(self) -> list[RowResult]:
        return [r for r in self.rows if r.ratio is not None and r.ratio > self.goal(r)]

    @property
    def failed(self) -> list[RowResult]:
        """Rows not bit-exact, or without a figure for another reason than the board's size."""
        return [r for r in self.rows if (r.error and not r.unfit) or r.bit_exact is False]

    def to_json(self) -> dict:
        return {"board": self.board, "cycle_unit": self.cycle_unit, "groups": self.groups,
                "goal": self.goal_text(), "over_goal": [r.row["id"] for r in self.over_goal()],
                "rows": [r.to_json() for r in self.rows]}

    def goal_text(self) -> str:
        return "1.0x CMSIS-NN (Helium)" if self.helium else "0.5x CMSIS-NN for int8, 1.0x for int16"


def load_sweep_baseline(path: Path, board: Board | None = None) -> dict:
    """A CMSIS-NN baseline file of the row spec: {"what", "core", "rows": {id: {...}}, "models": {stem: {...}}}.
    With `board`, its core must be the board's."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rows, models = dict(data.get("rows") or {}), dict(data.get("models") or {})
        core = str(data["core"])
        for k, v in rows.items():
            if not isinstance(v, dict) or not (v.get("instructions") is None or int(v["instructions"]) > 0):
                raise ValueError(k)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such baseline file: give a CMSIS-NN sweep baseline (cmsis_sweep_<core>.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise BadInput(f"{path} is not a CMSIS-NN sweep baseline (a JSON object with core, rows{{id: {{instructions, "
                       f"function}}}} and models)") from None
    if board is not None and board.core != f"cortex-{core}":
        raise BadInput(f"{path} was measured on cortex-{core}, {board.name} is a {board.core}: give its cmsis_sweep_"
                       f"{board.core.removeprefix('cortex-')}.json")
    return {"core": core, "what": data.get("what", ""), "rows": rows, "models": models}


def _input_keys(row: dict) -> list[tuple]:
    """The model inputs a row's layer reads (rows with the same ones share them: synth.rows_model)."""
    return [(tuple(row["in"]), row["dtype"], which) for which in (("x", "y") if row["op"] == "ADD" else ("x",))]


def group_rows(rows: list[dict], board: Board) -> list[list[dict]]:
    """Rows packed into firmwares, one activation type each, rows of one input shape together (they share
    the model input): the inputs (each once) and outputs of a group within a third of the board's RAM, its
    weights within half its flash (a row over either is a group of its own), at most MAX_GROUP_ROWS layers
    and MAX_GROUP_MACS."""
    io_budget, weight_budget = board.ram.length // 3, board.flash.length // 2
    order = sorted(range(len(rows)), key=lambda k: (ITEM_BYTES[rows[k]["dtype"]], rows[k]["in"], k))
    groups: list[list[dict]] = []
    cur: list[dict] = []
    inputs: set = set()
    io = w = macs = 0
    for r in (rows[k] for k in order):
        new = [key for key in _input_keys(r) if key not in inputs]
        a = sum(math.prod(key[0]) * ITEM_BYTES[key[1]] for key in new) + math.prod(r["out"]) * ITEM_BYTES[r["dtype"]]
        b = weight_bytes(r)
        if cur and (cur[0]["dtype"] != r["dtype"] or io + a > io_budget or w + b > weight_budget
                    or macs + r["macs"] > MAX_GROUP_MACS or len(cur) == MAX_GROUP_ROWS):
            groups.append(cur)
            cur, inputs, io, w, macs = [], set(), 0, 0, 0
            a = activation_bytes(r)
        cur.append(r)
        inputs.update(_input_keys(r))
        io, w, macs = io + a, w + b, macs + r["macs"]
    if cur:
        groups.append(cur)
    return groups


def measure_group(rows: list[dict], board: Board, workdir: Path, kernels: str = "fast", wide: bool = False,
                  runs: int = 1, seed: int = 0) -> list[RowResult]:
    """Build `rows` as one model for `board`, run it once per input, and read each layer's count and kernel.
    A group that does not build is split in two and tried again; a single row that does not build carries
    the error."""
    model = workdir / f"group_{rows[0]['id']}.tflite"
    model.write_bytes(rows_model(rows, seed))
    try:
        res = build(model, board, workdir / "build", command=f"tinyq bench --sweep --board {board.name}",
                    kernels=kernels, wide=wide)
    except Exception as e:  # noqa: BLE001 - a row the compiler fails on is reported, the sweep goes on
        if len(rows) > 1:
            half = len(rows) // 2
            return (measure_group(rows[:half], board, workdir, kernels, wide, runs, seed)
                    + measure_group(rows[half:], board, workdir, kernels, wide, runs, seed))
        return [RowResult(rows[0], error=f"build: {e}" if isinstance(e, TinyqError) else f"build: {type(e).__name__}: {e}",
                          unfit=isinstance(e, BadInput))]
    try:
        run = run_on_device(res.out_dir, runs=runs, built=res)
    except TinyqError as e:
        return [RowResult(r, error=f"run: {e}") for r in rows]
    finally:
        shutil.rmtree(res.out_dir, ignore_errors=True)
    g = res.graph
    by_id = {r["id"]: RowResult(r, bit_exact=run.bit_exact) for r in rows}
    for op, layer in zip(g.ops, run.layer_table()):
        name = g.tensor(op.outputs[0]).name
        out = by_id.get(name)
        if out is None:
            raise CheckFailed(f"sweep group {rows[0]['id']}: layer {op.index} ({op.kind}) writes {name!r}, "
                              "which is no row's output: the compiler split or merged a sweep layer")
        out.instructions, out.kernel = (out.instructions or 0) + layer["cycles"], op.call.func
    if run.first_mismatch is not None:
        first = g.tensor(g.outputs[run.first_mismatch["output"]]).name
        for r in by_id.values():
            r.error = f"not bit-exact: first mismatch in {first} {run.first_mismatch}"
    return list(by_id.values())


def run_sweep(rows: list[dict], board: Board, baseline: dict | None = None, kernels: str = "fast", wide: bool = False,
              runs: int = 1, progress=None) -> SweepResult:
    """Measure every row on `board` (see the module's doc); `progress(done, total, group)` after each group."""
    out = SweepResult(board=board.name, cycle_unit=board.cycle_unit, helium="mve" in board.extensions)
    groups = group_rows(rows, board)
    results: dict[str, RowResult] = {}
    with tempfile.TemporaryDirectory(prefix="tinyq-sweep-") as tmp:
        for k, grp in enumerate(groups):
            for r in measure_group(grp, board, Path(tmp), kernels, wide, runs):
                results[r.row["id"]] = r
            if progress is not None:
                progress(k + 1, len(groups), grp)
    out.groups = len(groups)
    for r in rows:
        res = results[r["id"]]
        if baseline is not None and r["id"] in baseline["rows"]:
            res.baseline = baseline["rows"][r["id"]]
        out.rows.append(res)
    return out


def worst_first(rows: list[RowResult]) -> list[RowResult]:
    """Rows that failed, then by ratio to CMSIS-NN, then rows without one by instructions per MAC."""
    failed = [r for r in rows if r.error or r.instructions is None]
    ok = [r for r in rows if not (r.error or r.instructions is None)]
    return failed + sorted(ok, key=lambda r: (r.ratio is None, -(r.ratio or 0.0), -(r.per_mac or 0.0), r.row["id"]))


def summary(res: SweepResult) -> str:
    """One line: rows, how many over the goal, the worst row."""
    measured = [r for r in res.rows if r.instructions is not None]
    rated = [r for r in measured if r.ratio is not None]
    text = f"{len(res.rows)} rows on {res.board}"
    if res.failed:
        text += f", {len(res.failed)} failed ({res.failed[0].row['id']}: {res.failed[0].error or 'not bit-exact'})"
    else:
        text += ", every output bit-exact"
    unfit = [r for r in res.rows if r.unfit]
    if unfit:
        text += f", {len(unfit)} not measured (the board cannot take them)"
    if rated:
        over = res.over_goal()
        worst = max(rated, key=lambda r: r.ratio)
        text += (f"; {len(rated)} with a CMSIS-NN figure, {len(over)} over the goal ({res.goal_text()}); worst "
                 f"{worst.row['id']} at {worst.ratio:.2f}x ({worst.per_mac:.2f} {res.cycle_unit} per MAC)")
    elif measured:
        worst = max(measured, key=lambda r: r.per_mac or 0.0)
        text += f"; worst {worst.row['id']} at {worst.per_mac:.2f} {res.cycle_unit} per MAC"
    return text


def _cell(text: str, width: int = 120) -> str:
    """`text` as one Markdown table cell: one line, no bars, at most `width` characters."""
    text = " ".join(str(text).replace("|", "/").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def markdown(res: SweepResult, board: Board, command: str) -> str:
    """The sweep as a Markdown section: heading, command, summary, the table worst row first."""
    has_base = any(r.baseline is not None for r in res.rows)
    unit = res.cycle_unit
    lines = [f"### Shape sweep on {board.name}: {board.description}", "", f"`{command}`", "", summary(res) + ".", ""]
    head = f"| row | MACs | tinyq {unit} | per MAC | kernel |"
    if has_base:
        head += f" CMSIS-NN {unit} | CMSIS-NN function | tinyq / CMSIS-NN |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in worst_first(res.rows):
        if r.error or r.instructions is None:
            cells = f"| {r.row['id']} | {r.row['macs']:,} | {_cell(r.error or '-')} | - | - |"
        else:
            cells = f"| {r.row['id']} | {r.row['macs']:,} | {r.instructions:,} | {r.per_mac:.2f} | {r.kernel} |"
        if has_base:
            b = r.baseline or {}
            theirs = b.get("instructions")
            fn = _cell(b.get("function") or b.get("note") or "-")
            cells += f" {theirs:,} |" if theirs else " - |"
            cells += f" {fn} |" + (f" {r.ratio:.2f} |" if r.ratio is not None else " - |")
        lines.append(cells)
    return "\n".join(lines) + "\n"


def sweep_rows(quick: bool = False) -> list[dict]:
    """The sweep's rows (QUICK_GRID's with `quick`, else DEFAULT_GRID's), as row-spec dicts."""
    return grid_rows(QUICK_GRID if quick else DEFAULT_GRID)


def rows_json(quick: bool = False) -> str:
    return json.dumps({"grid": "quick" if quick else "default", "rows": sweep_rows(quick)}, indent=1)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Print the shape sweep's rows as JSON.")
    ap.add_argument("--rows", action="store_true", required=True, help="print the rows")
    ap.add_argument("--quick", action="store_true", help="the quick grid's rows (about 20)")
    print(rows_json(ap.parse_args().quick))
