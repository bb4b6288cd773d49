"""Benchmarks: build each model for a board, run it, and set the figures beside a TFLM baseline.

Instructions come from the emulated core's counter under QEMU -icount (cycles on hardware); bytes
from the linked ELF. The arena holds the model's inputs and outputs, as TFLM's does; "RAM (TFLM
count)" is the arena plus any input or output kept outside it, the figure to set beside TFLM's arena.
A baseline file is one of ../shared/baseline/tflm_*.json: TFLM's reference
kernels (variant "ref") and TFLM + CMSIS-NN (variant "cmsis") measured on the same QEMU machine.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyq.boards import Board
from tinyq.build.firmware import build
from tinyq.checks.analyze import total_macs
from tinyq.checks.cycles import estimate_build
from tinyq.checks.profile import run_on_device
from tinyq.errors import BadInput


@dataclass
class Tflm:
    variant: str
    instructions: int
    arena_bytes: int
    code_bytes: int  # text minus the model flatbuffer and the input tensor


@dataclass
class BenchRow:
    model: str
    board: str
    macs: int
    instructions: int
    cycle_unit: str
    bit_exact: bool
    passed: bool  # bit-exact, or a float model within the reference's tolerance (see profile.DeviceRun)
    runs: int
    arena_bytes: int
    arena_lower_bound: int
    ram_tflm: int  # arena + inputs + outputs, as TFLM counts its arena (tinyq's arena holds the I/O)
    code_bytes: int
    weight_bytes: int
    tflm: dict[str, Tflm]
    layers: list[dict]
    estimate: dict | None = None  # estimated cycles on a real board (checks.cycles), when asked for

    @property
    def check(self) -> str:
        """The output check as the tables show it."""
        return "yes" if self.bit_exact else "within tolerance (float)" if self.passed else "NO"

    @property
    def per_mac(self) -> float:
        return self.instructions / self.macs if self.macs else 0.0

    def ratios(self) -> dict[str, float]:
        r = {}
        for v, t in self.tflm.items():
            r[f"instructions_vs_tflm_{v}"] = self.instructions / t.instructions
        if "cmsis" in self.tflm:
            t = self.tflm["cmsis"]
            r["arena_vs_tflm"] = self.arena_bytes / t.arena_bytes
            r["ram_tflm_vs_tflm"] = self.ram_tflm / t.arena_bytes
            r["code_vs_tflm_cmsis"] = self.code_bytes / t.code_bytes
        return r

    def to_json(self) -> dict:
        d = asdict(self)
        d["instructions_per_mac"] = round(self.per_mac, 4)
        d["ratios"] = {k: round(v, 4) for k, v in self.ratios().items()}
        return d


def load_baseline(path: Path) -> dict[str, dict[str, Tflm]]:
    """model stem -> variant -> figures."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        out: dict[str, dict[str, Tflm]] = {}
        for r in data["results"]:
            code = int(r["text"]) - int(r["model_bytes"])
            out.setdefault(r["model"], {})[r["variant"]] = Tflm(r["variant"], int(r["instructions"]), int(r["arena_bytes"]), code)
        return out
    except FileNotFoundError:
        raise BadInput(f"{path}: no such baseline file: give one of ../shared/baseline/tflm_*.json") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadInput(f"{path} is not a TFLM baseline (a JSON object with results[] of model, variant, instructions, ...)") from None


def bench_model(model: Path, board: Board, runs: int = 3, baseline: dict[str, dict[str, Tflm]] | None = None,
                kernels: str = "fast", wide: bool = False, cycles_for: str | None = None, cycles: bool = False,
                pack_weights: str = "auto") -> BenchRow:
    """Build, run and measure one model; with `cycles` (or a `cycles_for` board) also estimate its cycles
    and milliseconds on that board (default: the build's own) from what QEMU executed."""
    model = Path(model)
    with tempfile.TemporaryDirectory(prefix="tinyq-bench-") as tmp:
        res = build(model, board, Path(tmp) / "build", command=f"tinyq bench {model} --board {board.name}", kernels=kernels, wide=wide,
                    pack_weights=pack_weights)
        run = run_on_device(res.out_dir, runs=runs, built=res)
        est = estimate_build(res.out_dir, cycles_for=cycles_for).to_json() if (cycles or cycles_for) else None
    macs = total_macs(res.graph)
    return BenchRow(
        model=model.stem, board=board.name, macs=macs, instructions=run.median_cycles, cycle_unit=run.cycle_unit,
        bit_exact=run.bit_exact, passed=run.passed, runs=len(run.cycles), arena_bytes=res.manifest.arena_bytes,
        arena_lower_bound=res.manifest.arena_lower_bound, ram_tflm=res.manifest.ram_tflm, code_bytes=res.sizes.code, weight_bytes=res.sizes.weights,
        tflm=(baseline or {}).get(model.stem, {}), layers=run.layer_table(), estimate=est,
    )


def markdown(rows: list[BenchRow], board: Board, command: str) -> str:
    unit = rows[0].cycle_unit if rows else "instructions"
    variant = " (`--kernels ref`)" if "--kernels ref" in command else " (`--wide-weights`)" if "--wide-weights" in command else ""
    lines = [f"### {board.name}{variant}: {board.description}", "", f"`{command}`", ""]
    has_tflm = any(r.tflm for r in rows)
    head = (f"| model | MACs | tinyq {unit} | per MAC | bit-exact | arena B (lower bound) | RAM (TFLM count) B |"
            + (" / TFLM arena |" if has_tflm else "") + " code B | weights B |")
    if has_tflm:
        head += " TFLM ref | TFLM + CMSIS-NN | tinyq / CMSIS-NN | TFLM arena B | TFLM code B |"
    est = next((r.estimate for r in rows if r.estimate), None)
    if est:
        head += f" est. cycles on {est['board']} | ms at {est['clock_hz'] / 1e6:g} MHz |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        row = (f"| {r.model} | {r.macs:,} | {r.instructions:,} | {r.per_mac:.2f} | {r.check} | "
               f"{r.arena_bytes:,} ({r.arena_lower_bound:,}) | {r.ram_tflm:,} |")
        if has_tflm:
            cm = r.tflm.get("cmsis")
            row += f" {r.ram_tflm / cm.arena_bytes:.2f} |" if cm else " - |"
        row += f" {r.code_bytes:,} | {r.weight_bytes:,} |"
        if has_tflm:
            ref, cm = r.tflm.get("ref"), r.tflm.get("cmsis")
            row += (f" {ref.instructions:,} |" if ref else " - |") + (f" {cm.instructions:,} |" if cm else " - |")
            row += f" {r.instructions / cm.instructions:.2f} |" if cm else " - |"
            row += (f" {cm.arena_bytes:,} | {cm.code_bytes:,} |" if cm else " - | - |")
        if est:
            row += f" {r.estimate['cycles']:,} | {r.estimate['ms']:.2f} |" if r.estimate else " - | - |"
        lines.append(row)
    return "\n".join(lines) + "\n"
