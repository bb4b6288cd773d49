"""Bit-exactness check: generated C (host compiler, or an emulated board) against TFLite's reference
interpreter, through the one run-and-compare core (tinyq.checks.runners, tinyq.checks.match)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyq.build.host import HostModel
from tinyq.checks.inputs import attach_float_edges, load_inputs, make_inputs
from tinyq.checks.match import (
    Mismatch,
    Tally,
    Verdict,
    compare_output,
    output_tolerance,
    tolerance_text,
)
from tinyq.checks.reference import tflm_arena_bytes
from tinyq.checks.runners import HostRunner, ReferenceRunner, run_and_compare
from tinyq.compiler import generate_library, state_size, target_for
from tinyq.errors import BadInput
from tinyq.ir import NUMPY_DTYPES, Graph


@dataclass
class Divergence:
    sample: int
    output: int
    index: int  # flat index of the first differing element
    got: float
    want: float
    layer: int | None = None  # first layer whose output differs
    layer_kind: str | None = None
    tensor: str | None = None


@dataclass
class VerifyResult(Verdict):
    model: str
    samples: int
    mismatches: int = 0
    max_abs_diff: float = 0.0
    arena_bytes: int = 0
    arena_lower_bound: int = 0
    tflm_arena_bytes: int | None = None
    first: Divergence | None = None
    edge_samples: int = 0
    layers: int = 0
    board: str | None = None  # None: the host; else the emulated board the C ran on
    tolerance: float | None = None  # float32 models: see FLOAT_TOLERANCE; None: bit for bit
    differing: int = 0  # inputs with an output not bit-identical (within the tolerance or not)
    max_rel_diff: float = 0.0
    reference_notes: list[str] = field(default_factory=list)  # what the reference ran differently (Reference.notes)
    # A model with state runs its inputs as one sequence (reset once before it) or, with reset_every,
    # as sequences of that many; None: a model without state, each input on its own.
    stateful: bool = False
    reset_every: int | None = None
    state_bytes: int = 0  # the state buffer beside the arena (TFLM keeps variable tensors in its arena)

    @classmethod
    def from_tally(cls, model: str, tally: Tally, g: Graph, edge_samples: int = 0,
                   layer: tuple[int, str, str] | None = None) -> "VerifyResult":
        first = None
        if tally.first is not None:
            f = tally.first
            first = Divergence(sample=f.sample, output=f.output, index=f.index, got=f.got, want=f.want)
            if layer is not None:
                first.layer, first.layer_kind, first.tensor = layer
        return cls(model=model, samples=tally.samples, mismatches=tally.mismatches, max_abs_diff=tally.max_abs_diff,
                   arena_bytes=g.arena_size, arena_lower_bound=g.arena_lower_bound, first=first, edge_samples=edge_samples,
                   layers=len(g.ops), tolerance=tally.tolerance, differing=tally.differing, max_rel_diff=tally.max_rel_diff)

    def to_json(self) -> dict:
        d = {
            "model": self.model,
            "bit_exact": self.bit_exact,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "differing": self.differing,
            "max_rel_diff": self.max_rel_diff,
            "samples": self.samples,
            "edge_samples": self.edge_samples,
            "mismatches": self.mismatches,
            "max_abs_diff": self.max_abs_diff,
            "arena_bytes": self.arena_bytes,
            "arena_lower_bound": self.arena_lower_bound,
            "tflm_arena_bytes": self.tflm_arena_bytes,
            "layers": self.layers,
            "board": self.board,
            "first_mismatch": None,
            "reference_notes": self.reference_notes,
            "stateful": {"steps": self.samples, "reset_every": self.reset_every} if self.stateful else None,
            "state_bytes": self.state_bytes,
        }
        if self.first is not None:
            f = self.first
            d["first_mismatch"] = {
                "sample": f.sample,
                "output": f.output,
                "index": f.index,
                "got": f.got,
                "want": f.want,
                "layer": f.layer,
                "op": f.layer_kind,
                "tensor": f.tensor,
            }
        return d

    def sequence_text(self) -> str:
        """How a model with state ran: "stateful: N steps, reset every K" (or reset once, before the first)."""
        every = f"reset every {self.reset_every}" if self.reset_every else "reset once before the first"
        return f"stateful: {self.samples} steps, {every}"

    def summary(self) -> str:
        where = f" on {self.board}" if self.board else ""
        within = f" (float32 model: {tolerance_text(self.tolerance)})" if self.tolerance is not None else ""
        if self.reference_notes:
            within += f" (reference: {'; '.join(self.reference_notes)})"
        if self.stateful:
            within += f"; {self.sequence_text()}"
        if self.bit_exact:
            return f"bit-exact{where}: {self.samples} inputs, every output identical{within}"
        if self.passed:
            return (f"within tolerance{where}: {self.samples} inputs, {self.differing} not bit-identical; max |diff| "
                    f"{self.max_abs_diff:.3g}, max relative {self.max_rel_diff:.3g}{within}")
        f = self.first
        layer = f"layer {f.layer} ({f.layer_kind}, tensor '{f.tensor}')" if f and f.layer is not None else "an unknown layer"
        verdict = f"NOT within tolerance{within}" if self.tolerance is not None else "NOT bit-exact"
        return (
            f"{verdict}{where}: {self.mismatches} of {self.samples} inputs differ (max |diff| {self.max_abs_diff:g}); "
            f"first at input {f.sample}, output {f.output}[{f.index}]: got {f.got:g}, want {f.want:g}; "
            f"first diverging: {layer}"
        )


def verify_tflite(
    path: Path,
    samples: int = 100,
    inputs: Path | None = None,
    seed: int = 0,
    tflm: bool = False,
    progress=None,
    kernels: str = "fast",
    wide: bool = False,
    reset_every: int | None = None,
    pack_weights: str = "auto",
) -> VerifyResult:
    """Generate C for `path`, run it on the host and compare with the reference interpreter.

    A model with state (state_size > 0) runs the inputs in order as one sequence, both sides reset
    before it, and again every `reset_every` inputs when given; every step's outputs are compared."""
    path = Path(path)
    _check_reset_every(reset_every)
    gen = generate_library(path, name="tq_model", target=target_for(kernels, wide=wide, pack_weights=pack_weights))
    g = gen.graph
    attach_float_edges(g)
    stateful = state_size(g) > 0
    host = HostRunner(HostModel(gen, "tq_model"), keep_trace=stateful)
    ref = ReferenceRunner(path, g)
    try:
        if inputs is not None:
            batch, n_edge = load_inputs(inputs, g), 0
        else:
            batch, n_edge = make_inputs(g, samples, seed)
        tally = Tally(output_tolerance(g))
        located: list[tuple[int, str, str] | None] = []

        def each(n: int, _got, found: Mismatch | None) -> None:
            if found is not None and found is tally.first:
                if stateful:  # running the input again would advance the state: use this step's trace
                    located.append(_first_diverging(host.last_trace, ref, g, tally.tolerance))
                else:
                    located.append(_locate(host, ref, g, batch[n], tally.tolerance))
            if progress is not None:
                progress(n + 1, len(batch))

        run_and_compare(host, ref, batch, tally, each, stateful=stateful, reset_every=reset_every)
        res = VerifyResult.from_tally(str(path), tally, g, edge_samples=n_edge, layer=located[0] if located else None)
        res.reference_notes = list(ref.ref.notes)
        res.stateful, res.reset_every, res.state_bytes = stateful, reset_every if stateful else None, state_size(g)
        if tflm:
            res.tflm_arena_bytes = tflm_arena_bytes(path)
        return res
    finally:
        host.host.close()


def _locate(host: HostRunner, ref: ReferenceRunner, g: Graph, x: list[np.ndarray], tolerance: float | None) -> tuple[int, str, str] | None:
    """Re-run one input with per-layer tracing: the first layer whose output differs (beyond the
    tolerance, for a float32 model), as (index, op, tensor name); None if no traced layer differs."""
    ref.run(x)
    return _first_diverging(host.trace(x), ref, g, tolerance)


def _check_reset_every(reset_every: int | None) -> None:
    if reset_every is not None and reset_every < 1:
        raise BadInput(f"--sequence-length {reset_every}: give a number of inputs >= 1 (or leave it out: one sequence)")


def _first_diverging(trace: dict[int, bytes], ref: ReferenceRunner, g: Graph, tolerance: float | None) -> tuple[int, str, str] | None:
    """The first traced layer whose output differs from the reference's tensor of the same run."""
    for op in g.ops:
        if op.index not in trace:
            continue
        t = g.tensor(op.call.outputs[0])
        if t.index >= ref.tensor_count:  # a tensor tinyq added (not in the model file)
            continue
        mine = np.frombuffer(trace[op.index], dtype=NUMPY_DTYPES[t.dtype])
        try:
            theirs = np.asarray(ref.tensor(t.index)).reshape(-1)
        except ValueError:  # the interpreter dropped this tensor (a fused or folded op's output)
            continue
        if mine.size != theirs.size or compare_output(mine, theirs, tolerance).first_bad is not None:
            return op.index, op.kind, t.name
    return None


def verify_on_board(path: Path, board_name: str, samples: int = 100, inputs: Path | None = None, seed: int = 0,
                    progress=None, kernels: str = "fast", wide: bool = False, reset_every: int | None = None,
                    pack_weights: str = "auto") -> VerifyResult:
    """Build `path` for an emulated board (once), run the inputs on the core and compare with the reference."""
    import tempfile

    from tinyq.boards import get_board
    from tinyq.build.firmware import build
    from tinyq.checks.profile import run_on_device

    _check_reset_every(reset_every)
    board = get_board(board_name)
    if not board.emulated:
        raise BadInput(
            f"board {board.name} is real hardware: build it (`tinyq build {path} --board {board.name}`), flash it, "
            "then `tinyq profile BUILD --port PORT` checks it bit for bit"
        )
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tinyq-verify-") as tmp:
        built = build(path, board, Path(tmp) / "build", command=f"tinyq verify {path} --board {board.name}", kernels=kernels, wide=wide,
                      pack_weights=pack_weights)
        run = run_on_device(built.out_dir, runs=samples, inputs=inputs, seed=seed, edges=True, progress=progress, built=built,
                            reset_every=reset_every)
    m = built.manifest
    res = VerifyResult(
        model=str(path), samples=run.samples, edge_samples=0 if inputs is not None else 3, mismatches=run.mismatches,
        arena_bytes=m.arena_bytes, arena_lower_bound=m.arena_lower_bound,
        layers=len(m.layers), tolerance=run.tolerance, differing=run.differing,
        max_abs_diff=run.max_abs_diff, max_rel_diff=run.max_rel_diff,
    )
    if run.first_mismatch is not None:
        f = run.first_mismatch
        res.first = Divergence(sample=f["sample"], output=f["output"], index=f["index"], got=f["got"], want=f["want"])
    res.board = board.name
    res.stateful, res.state_bytes = m.state_bytes > 0, m.state_bytes
    res.reset_every = reset_every if res.stateful else None
    res.tflm_arena_bytes = tflm_arena_bytes(path)
    return res
