"""Run a built firmware on a board (emulated or real) and measure it against the host reference.

`run_on_device` opens the build's device (tinyq.device: QEMU for an emulated board, else --port or the
board's USB port), loads inputs over the serial protocol, runs them, reads back cycles per inference, cycles per layer and the raw output,
and compares every output byte with TFLite's reference interpreter.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyq.boards import Board
from tinyq.build.firmware import BuildResult
from tinyq.build.manifest import MODEL_COPY, Manifest, resolve_board
from tinyq.build.manifest import load as load_manifest
from tinyq.checks.cycles import CycleEstimate, estimate_from, timing_for, traced_device
from tinyq.checks.inputs import attach_float_edges, load_inputs, make_inputs
from tinyq.checks.match import Tally, output_tolerance
from tinyq.checks.runners import DeviceRunner, ReferenceRunner, run_and_compare
from tinyq.compiler import compile_tflite
from tinyq.device import Dut, Retryable, open_device
from tinyq.device.protocol import WrongFirmware
from tinyq.errors import BadInput
from tinyq.ir import Graph


@dataclass
class DeviceRun:
    board: str
    cycle_unit: str
    cycle_source: str
    clock_hz: int
    samples: int = 0
    mismatches: int = 0
    first_mismatch: dict | None = None
    cycles: list[int] = field(default_factory=list)
    layer_cycles: list[list[int]] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)  # {"index", "op"} from the build manifest
    outputs: list[list[np.ndarray]] = field(default_factory=list)
    retries: int = 0  # inputs run again after a board reset, a timeout or a garbled reply
    tolerance: float | None = None  # float32 models (match.FLOAT_TOLERANCE); None: bit for bit
    differing: int = 0  # inputs with an output not bit-identical
    max_abs_diff: float = 0.0
    max_rel_diff: float = 0.0
    estimate: CycleEstimate | None = None  # estimated cycles of the last inference (--cycles / --cycles-for)

    @property
    def passed(self) -> bool:
        """Every output bit-exact, or within the tolerance for a float32 model."""
        return self.samples > 0 and self.mismatches == 0

    @property
    def bit_exact(self) -> bool:
        return self.passed and self.differing == 0

    @property
    def median_cycles(self) -> int:
        return int(statistics.median(self.cycles)) if self.cycles else 0

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.median_cycles / self.clock_hz

    def layer_table(self) -> list[dict]:
        rows = []
        for k, L in enumerate(self.layers):
            per = [run[k] for run in self.layer_cycles if k < len(run)]
            rows.append({"index": L["index"], "op": L["op"], "cycles": int(statistics.median(per)) if per else 0})
        return rows

    def to_json(self, sizes: dict | None = None) -> dict:
        d = {
            "board": self.board,
            "cycles": self.median_cycles,
            "cycle_source": self.cycle_source,
            "cycle_unit": self.cycle_unit,
            "clock_hz": self.clock_hz,
            "latency_ms": round(self.latency_ms, 4),
            "runs": len(self.cycles),
            "cycles_all": self.cycles,
            "layers": self.layer_table(),
            "bit_exact": self.bit_exact,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "differing": self.differing,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "samples": self.samples,
            "mismatches": self.mismatches,
            "first_mismatch": self.first_mismatch,
        }
        if self.retries:
            d["retries"] = self.retries
        if self.estimate is not None:
            d["estimate"] = self.estimate.to_json()
        if sizes is not None:
            d["sizes"] = sizes
        return d


# tq-info fields a build fixes. The cycle unit and the clock are the HAL's on the running board (an
# Arduino sketch counts micros() x F_CPU where its core has no DWT), so they are read, not checked.
IDENTITY = ("board", "input", "output", "layers", "arena")


def _describe(ident: dict[str, str | None], with_sha: bool) -> str:
    """`ident` as a short hash and its fields: the model's sha256 when the firmware reports it,
    else a hash of the fields (firmwares that do not report the model's hash)."""
    fields = {k: ident.get(k) for k in IDENTITY}
    if with_sha:
        tag = f"model {str(ident.get('sha'))[:12]}"
    else:
        tag = "signature " + hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:12]
    return (f"{tag}: {fields['board']}, input {fields['input']} B, output {fields['output']} B, "
            f"{fields['layers']} layers, arena {fields['arena']} B")


def check_firmware(dut: Dut, manifest: Manifest, build_dir: Path) -> dict[str, str]:
    """The board must run this build: tq-info's fields (and the model hash, where reported) agree.

    Returns tq-info's answer."""
    info = dut.info()
    want = manifest.identity()
    with_sha = "sha" in info  # a prefix of the model's sha256, where the firmware reports it
    other_model = with_sha and not (info["sha"] and want["sha"].startswith(info["sha"]))
    if other_model or any(info.get(k) != want[k] for k in IDENTITY):
        raise WrongFirmware(
            f"the board on {dut.port} runs another firmware ({_describe(info, with_sha)}) than {build_dir} "
            f"({_describe(want, with_sha)}): run `tinyq flash {build_dir}`"
        )
    return info


def counted_at(res: DeviceRun, info: dict[str, str], board: Board) -> None:
    """Cycles as the running firmware counts them: its unit, at the clock it runs (tq-info), so
    milliseconds are at the board's real clock; the board file's where the firmware does not say."""
    unit, clock = info.get("unit", board.cycle_unit), info.get("clock", "")
    res.clock_hz = int(clock) if clock.isdigit() and int(clock) > 0 else board.clock_hz
    if unit != board.cycle_unit:
        res.cycle_unit, res.cycle_source = unit, "firmware"


def run_on_device(build_dir: Path, board_name: str | None = None, port: str | None = None, runs: int = 5,
                  inputs: Path | None = None, seed: int = 0, edges: bool = False, progress=None,
                  timeout: float = 10.0, retries: int = 2, on_retry=None, built: BuildResult | None = None,
                  reset_every: int | None = None, cycles: bool = False, cycles_for: str | None = None) -> DeviceRun:
    """Run inputs through the firmware and through the reference interpreter; compare and count.

    An input whose run hit a board reset, a timeout or a garbled reply is loaded and run again, at
    most `retries` times (each reported to `on_retry(message)`); `timeout` bounds each reply.
    `built`: the build just made (its graph and board are used as they are: nothing compiled again).
    A model with state runs the inputs as a sequence (tq-reset before it, and every `reset_every` inputs).
    `cycles` / `cycles_for` (a board name): also estimate the last inference's cycles on that board (default
    the build's own), from what QEMU executed (tinyq.checks.cycles); an emulated build only.
    """
    build_dir = Path(build_dir)
    if built is not None:
        manifest, board, g = built.manifest, built.board, built.graph
    else:
        manifest = load_manifest(build_dir)
        board = resolve_board(manifest, board_name)
        g = compile_tflite(build_dir / MODEL_COPY)
    batch = _batch(g, inputs, runs, seed, edges)
    reference = ReferenceRunner(build_dir / MODEL_COPY, g)
    res = DeviceRun(board=board.name, cycle_unit=board.cycle_unit, cycle_source=board.cycle_source,
                    clock_hz=board.clock_hz, layers=[{"index": L.index, "op": L.op} for L in manifest.layers],
                    tolerance=output_tolerance(g))
    tally = Tally(res.tolerance)

    def note(e: Retryable, k: int) -> None:
        if on_retry is not None:
            on_retry(f"input {tally.samples + 1} of {len(batch)}: {e.problem}; running it again ({k} of {retries})")

    def each(n: int, got: list[np.ndarray], _mismatch) -> None:
        res.cycles.append(device.last.cycles)
        res.layer_cycles.append(device.last.layers)
        res.outputs.append(got)
        if progress is not None:
            progress(n + 1, len(batch))

    timing = timing_for(board, cycles_for) if cycles or cycles_for else None
    if timing is not None and port is not None:
        raise BadInput(f"--port {port}: cycles are estimated from QEMU's execution of the build: drop --port")
    with tempfile.TemporaryDirectory(prefix="tinyq-trace-") as tmp:
        trace = Path(tmp) / "trace.txt"
        opened = traced_device(build_dir, board, timing, trace, timeout) if timing else open_device(build_dir, board, port, timeout=timeout)
        with opened as dut:
            counted_at(res, check_firmware(dut, manifest, build_dir), board)
            device = DeviceRunner(dut, manifest, retries, note)
            run_and_compare(device, reference, batch, tally, each, stateful=manifest.state_bytes > 0, reset_every=reset_every)
        if timing is not None:
            res.estimate = estimate_from(trace, build_dir, timing, manifest)
    res.retries = device.retries
    res.samples, res.mismatches, res.differing = tally.samples, tally.mismatches, tally.differing
    res.max_abs_diff, res.max_rel_diff = tally.max_abs_diff, tally.max_rel_diff
    res.first_mismatch = tally.first.to_json() if tally.first is not None else None
    return res


def _batch(g: Graph, inputs: Path | None, runs: int, seed: int, edges: bool) -> list[list[np.ndarray]]:
    """The user's inputs, or `runs` random ones (after the edge inputs, with `edges`)."""
    attach_float_edges(g)
    if inputs is not None:
        return load_inputs(inputs, g)
    batch, n_edge = make_inputs(g, runs, seed)
    return batch if edges else batch[n_edge:]


def reference_exchange(build_dir: Path, candidates: int, seed: int) -> tuple[bytes, bytes]:
    """(input bytes, expected output bytes) of one inference for a scripted test (Renode's Robot test):
    of `tinyq profile`'s inputs (the edge inputs and the first `candidates` random ones, `seed`), the one
    whose reference output has the most distinct bytes (the first on ties): a saturated softmax would
    check little. Expected = TFLite's reference, in the protocol's output buffer."""
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    g = compile_tflite(build_dir / MODEL_COPY)
    attach_float_edges(g)
    batch, _ = make_inputs(g, candidates, seed)
    ref = ReferenceRunner(build_dir / MODEL_COPY, g)
    best: tuple[int, bytes, bytes] | None = None
    for x in batch:
        out = bytearray(manifest.output_bytes)
        for s, a in zip(manifest.outputs, ref.run(x)):
            out[s.offset : s.offset + s.bytes] = np.ascontiguousarray(a).reshape(-1).tobytes()
        distinct = len(set(out))
        if best is None or distinct > best[0]:
            best = (distinct, manifest.pack_inputs(x), bytes(out))
    return best[1], best[2]
