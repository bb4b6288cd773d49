"""The choice of patch-based stages (tinyq.compiler.patch) for a RAM budget.

With no need (the plain plan fits the budget) no patching at all, and the generated code is the plain
one. Else, over the stages of one chain through the plain plan's peak (patch.chains) and P in BANDS
whose floor (patch.ram_floor: X + Y + a band tensor) fits, the plan with the fewest extra MACs (the halo
rows computed again) whose RAM, arena + I/O as TFLM counts it (build.json's ram_tflm), fits:
candidates are compiled cheapest first, at most MAX_TRIALS of them. None fits: BadInput naming the
smallest plan found, its peak layer and the bytes over. One stage per model. Deterministic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from tinyq.compiler.passes import PIPELINE, buffers, compile_graph, io_outside_arena
from tinyq.compiler.patch import Stage, chains, extra_macs, ram_floor, window
from tinyq.compiler.patch import macs as layer_macs
from tinyq.errors import BadInput
from tinyq.ir import Graph

BANDS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48)  # P tried (at most Y's rows)
MAX_TRIALS = 64  # plans compiled at most (cheapest first) before giving up
FLOOR_TRIALS = 8  # then, to say how close it came, plans of the smallest floors (ram_floor)


def ram(g: Graph) -> int:
    """RAM for inference as TFLM counts it: the arena (inputs and outputs in it) plus I/O kept elsewhere."""
    return g.arena_size + io_outside_arena(g)


@dataclass(frozen=True)
class Plan:
    """`choose`'s answer: the stages (none: the plain plan), RAM before and after, the MACs."""

    stages: tuple[Stage, ...]
    ram_before: int
    ram_after: int
    macs: int  # of the plain model
    extra_macs: int

    def to_json(self) -> list[dict]:
        return [{"layers": list(s.layers), "bands": s.bands, "ram_before": self.ram_before, "ram_after": self.ram_after,
                 "extra_macs": self.extra_macs,
                 "extra_macs_pct": round(100.0 * self.extra_macs / self.macs, 2) if self.macs else 0.0}
                for s in self.stages]


def _prefix(fresh: Callable[[], Graph], target) -> Graph:
    """A fresh graph through the passes before `patch` (the graph the stages are found in)."""
    g = fresh()
    g.target = target
    for name, fn in PIPELINE:
        if name == "patch":
            break
        g = fn(g)
    return g


def _live(g: Graph) -> list[int]:
    """Bytes of arena buffers live at each schedule position of a compiled graph."""
    live = [0] * max(len(g.ops), 1)
    for b in buffers(g):
        for pos in range(b.first, b.last + 1):
            live[pos] += b.size
    return live


def _peak_layer(g: Graph) -> str:
    live = _live(g)
    pos = live.index(max(live))
    op = g.ops[pos] if g.ops else None
    return f"layer {op.name or op.index} ({op.kind})" if op is not None else "no layer"


def choose(fresh: Callable[[], Graph], target, budget: int, label: str | None = None) -> Plan:
    """The cheapest plan (fewest extra MACs) whose RAM fits `budget` bytes: the plain one if it fits,
    else one patched stage covering the plain plan's peak; BadInput naming the peak layer and the bytes
    over if none does (`label` names the budget there; default the --ram-budget option). `fresh`
    makes a new imported graph (each trial compiles one)."""
    plain = compile_graph(fresh(), target)
    before = ram(plain)
    g0 = _prefix(fresh, target)
    macs = sum(layer_macs(g0, op) for op in g0.ops)
    if before <= budget:
        return Plan((), before, before, macs, 0)
    live = _live(plain)
    hot = {plain.ops[pos].index for pos, v in enumerate(live) if v == max(live)}
    candidates, floors = [], []
    for chain in chains(g0):
        idx = [op.index for op in chain]
        for s in range(len(chain)):
            for e in range(s + 1, len(chain)):
                if not hot <= set(idx[s:e + 1]):
                    continue
                h = window(g0, chain[e]).h_out
                for p in BANDS:  # only plans that may fit are compiled (cheapest first)
                    if p <= h:
                        floor = ram_floor(g0, chain[s:e + 1], p)
                        key = (extra_macs(g0, chain[s:e + 1], p), e - s, p, s, tuple(idx[s:e + 1]))
                        if floor <= budget:
                            candidates.append(key)
                        else:
                            floors.append((floor, key))
    best: tuple[int, Graph] | None = None

    def trial(layers: tuple[int, ...], p: int) -> tuple[int, Graph]:
        g = compile_graph(fresh(), dataclasses.replace(target, patches=(Stage(layers, p),)))
        return ram(g), g

    for extra, _, p, _, layers in sorted(candidates)[:MAX_TRIALS]:
        r, g = trial(layers, p)
        if r <= budget:
            return Plan((Stage(layers, p),), before, r, macs, extra)
        if best is None or r < best[0]:
            best = (r, g)
    # None fits: for the message, the smallest plans by their floors too
    for _, (_, _, p, _, layers) in sorted(floors)[:FLOOR_TRIALS]:
        r, g = trial(layers, p)
        if best is None or r < best[0]:
            best = (r, g)
    r, g = best if best is not None else (before, plain)
    how = (f"the smallest patched plan found needs {r:,} B" if best is not None
           else "no stage of spatial layers runs through its peak")
    raise BadInput(f"{label or f'--ram-budget {budget:,} B'}: the plain plan needs {before:,} B and {how}, {r - budget:,} B over, "
                   f"its peak at {_peak_layer(g)}: raise the budget or shrink the model's early layers")


def choose_for_file(path, target, budget: int, label: str | None = None) -> Plan:
    """`choose` for a .tflite file."""
    from pathlib import Path

    from tinyq.compiler.importer import import_model

    return choose(lambda: import_model(Path(path)), target, budget, label)
