"""Per-layer figures of a compiled model: shapes, MACs, weights and activation bytes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tinyq.checks.reference import tflm_arena_bytes
from tinyq.compiler.pipeline import compile_tflite
from tinyq.ir import Graph
from tinyq.ops import lowering_for


@dataclass
class LayerInfo:
    index: int
    op: str
    inputs: list[list[int]]
    output: list[int]
    macs: int
    weight_bytes: int
    activation_bytes: int  # bytes of the non-constant inputs and outputs this layer touches


@dataclass
class Analysis:
    model: str
    sha256: str
    layers: list[LayerInfo]
    macs: int
    weight_bytes: int
    arena_bytes: int
    arena_lower_bound: int
    aliased_ops: int
    tflm_arena_bytes: int | None

    def to_json(self) -> dict:
        return asdict(self)


def analyze(path: Path, tflm: bool = True) -> Analysis:
    path = Path(path)
    from tinyq.compiler.importer import import_model

    n_ops_before = len(import_model(path).ops)
    g = compile_tflite(path)
    layers = []
    for op in g.ops:
        call = op.call
        ins = [i for i in call.inputs if i >= 0]
        const_in = {i for i in ins if g.tensor(i).is_const}
        weights = sorted(const_in | _param_refs(call.params))
        layers.append(
            LayerInfo(
                index=op.index,
                op=op.kind,
                inputs=[list(g.tensor(i).shape) for i in op.inputs if i >= 0 and not g.tensor(i).is_const],
                output=list(g.tensor(op.outputs[0]).shape),
                macs=int(lowering_for(g, op).macs(g, op)),  # type: ignore[union-attr]
                weight_bytes=sum(g.tensor(i).nbytes for i in weights) + sum(a.values.nbytes for a in call.arrays),
                activation_bytes=sum(g.tensor(i).nbytes for i in ins if i not in const_in)
                + sum(g.tensor(o).nbytes for o in call.outputs),
            )
        )
    return Analysis(
        model=str(path),
        sha256=g.source_sha256,
        layers=layers,
        macs=sum(x.macs for x in layers),
        weight_bytes=sum(x.weight_bytes for x in layers),
        arena_bytes=g.arena_size,
        arena_lower_bound=g.arena_lower_bound,
        aliased_ops=n_ops_before - len(g.ops),
        tflm_arena_bytes=tflm_arena_bytes(path) if tflm else None,
    )


def total_macs(g: Graph) -> int:
    """Multiply-accumulates of one inference of a compiled graph (the lowerings count them)."""
    return sum(int(lowering_for(g, op).macs(g, op)) for op in g.ops)  # type: ignore[union-attr]


def _param_refs(params) -> set[int]:
    from tinyq.compiler.codegen import _collect_refs

    acc: set[int] = set()
    _collect_refs(params, acc)
    return acc
