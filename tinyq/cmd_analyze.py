"""`tinyq analyze`: per-layer shapes, MACs and memory."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from .analyze import analyze
from .cli import app, emit_json, out
from .options import JSON, MODEL_TFLITE


def _shape(s: list[int]) -> str:
    return "x".join(str(d) for d in s) if s else "scalar"


@app.command("analyze")
def analyze_cmd(model: Path = MODEL_TFLITE, as_json: bool = JSON) -> None:
    """Per-layer table: op, shapes, MACs, weight bytes, activation bytes; arena beside TFLM's.

    Reshapes are free (aliases of their input) and do not appear as layers.
    """
    a = analyze(model)
    if as_json:
        emit_json(a.to_json())
        return
    t = Table(title=f"{Path(model).name}  ({len(a.layers)} layers, {a.aliased_ops} reshapes aliased)")
    for col, just in [("#", "right"), ("op", "left"), ("input", "left"), ("output", "left"), ("MACs", "right"), ("weights B", "right"), ("activations B", "right")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for L in a.layers:
        t.add_row(str(L.index), L.op, ", ".join(_shape(s) for s in L.inputs), _shape(L.output), f"{L.macs:,}", f"{L.weight_bytes:,}", f"{L.activation_bytes:,}")
    t.add_section()
    t.add_row("", "total", "", "", f"{a.macs:,}", f"{a.weight_bytes:,}", "")
    out.print(t)
    tflm = f"{a.tflm_arena_bytes:,} B" if a.tflm_arena_bytes is not None else "n/a"
    out.print(f"arena: {a.arena_bytes:,} B (lower bound {a.arena_lower_bound:,} B)   TFLM arena: {tflm}")
