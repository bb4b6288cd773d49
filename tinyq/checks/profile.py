"""Run a built firmware on a board (emulated or real) and measure it against the host reference.

`open_device` starts QEMU for an emulated board (or opens --port), `run_on_device` loads inputs over
the serial protocol, runs them, reads back cycles per inference, cycles per layer and the raw output,
and compares every output byte with TFLite's reference interpreter.
"""

from __future__ import annotations

import hashlib
import statistics
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from tinyq.boards import Board
from tinyq.build.firmware import ELF, MODEL_COPY, load_manifest, resolve_board
from tinyq.compiler.pipeline import compile_tflite
from tinyq.device.protocol import DeviceError, Dut, Link, Retryable, WrongFirmware
from tinyq.device.qemu import Qemu
from tinyq.errors import BadInput
from tinyq.compiler.importer import NUMPY_DTYPES
from tinyq.checks.reference import Reference
from tinyq.checks.verify import _attach_float_edges, compare_output, load_inputs, make_inputs, output_tolerance


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
    tolerance: float | None = None  # float32 models (verify.FLOAT_TOLERANCE); None: bit for bit
    differing: int = 0  # inputs with an output not bit-identical
    max_abs_diff: float = 0.0
    max_rel_diff: float = 0.0

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
        if sizes is not None:
            d["sizes"] = sizes
        return d


@contextmanager
def open_device(build_dir: Path, board: Board, port: str | None = None, baud: int | None = None,
                timeout: float = 10.0) -> Iterator[Dut]:
    """A protocol client on the build's firmware: QEMU for an emulated board without --port.

    `timeout` bounds each reply (an inference gets INFER_TIMEOUT_FACTOR times as long).
    """
    qemu = None
    link = None
    fix = f"tinyq flash {build_dir}"
    try:
        if port is None and not board.emulated:
            port = console_port(board)
        if port is None:
            qemu = Qemu(Path(build_dir) / ELF, board).start()
            link = Link(qemu.url, baud or board.console["baud"])
            dut = Dut(link, timeout=timeout, fix=fix)
            dut.wait_boot()
        else:
            link = Link(port, baud or board.console["baud"])
            dut = Dut(link, timeout=timeout, fix=fix)
            dut.sync()
        yield dut
    finally:
        if link is not None:
            link.close()
        if qemu is not None:
            qemu.stop()


def console_port(board: Board) -> str:
    """The serial port of a plugged-in `board`, found by the USB ids its console enumerates with."""
    from tinyq.device.samba import find_ports

    if not board.usb_ids:
        raise BadInput(f"board {board.name}'s console is a UART on your own adapter: give its serial port with --port (e.g. /dev/ttyUSB0)")
    found = find_ports(board.usb_ids)
    if not found:
        raise BadInput(
            f"no {board.name} found on USB (looked for {', '.join(board.usb_ids)}): plug it in and flash it "
            f"(`tinyq flash BUILD`), or give its serial port with --port"
        )
    if len(found) > 1:
        raise BadInput(f"{len(found)} ports look like a {board.name} ({', '.join(found)}): choose one with --port")
    return found[0]


def pack_inputs(manifest: dict, arrays: list[np.ndarray]) -> bytes:
    buf = bytearray(manifest["input_bytes"])
    rows = [r for r in manifest["io"] if r["kind"] == "input"]
    for r, a in zip(rows, arrays):
        raw = np.ascontiguousarray(a, dtype=NUMPY_DTYPES[r["dtype"]]).tobytes()
        buf[r["offset"] : r["offset"] + r["bytes"]] = raw
    return bytes(buf)


def unpack_outputs(manifest: dict, data: bytes) -> list[np.ndarray]:
    if len(data) != manifest["output_bytes"]:
        raise DeviceError(f"the device sent {len(data)} output bytes, the build has {manifest['output_bytes']}: flash this build again")
    rows = [r for r in manifest["io"] if r["kind"] == "output"]
    return [
        np.frombuffer(data[r["offset"] : r["offset"] + r["bytes"]], dtype=NUMPY_DTYPES[r["dtype"]]).reshape(r["shape"])
        for r in rows
    ]


# tq-info fields a build fixes. The cycle unit and the clock are the HAL's on the running board (an
# Arduino sketch counts micros() x F_CPU where its core has no DWT), so they are read, not checked.
IDENTITY = ("board", "input", "output", "layers", "arena")


def build_identity(manifest: dict) -> dict[str, str]:
    """What `tq-info` answers on a board running this build (plus `sha`, the model's sha256)."""
    return {
        "board": manifest["board"], "input": str(manifest["input_bytes"]), "output": str(manifest["output_bytes"]),
        "layers": str(len(manifest["layers"])), "arena": str(manifest["arena_bytes"]), "sha": manifest["model"]["sha256"],
    }


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


def check_firmware(dut: Dut, manifest: dict, build_dir: Path) -> dict[str, str]:
    """The board must run this build: tq-info's fields (and the model hash, where reported) agree.

    Returns tq-info's answer."""
    info = dut.info()
    want = build_identity(manifest)
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
                  timeout: float = 10.0, retries: int = 2, on_retry=None) -> DeviceRun:
    """Run inputs through the firmware and through the reference interpreter; compare and count.

    An input whose run hit a board reset, a timeout or a garbled reply is loaded and run again, at
    most `retries` times (each reported to `on_retry(message)`); `timeout` bounds each reply.
    """
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    board = resolve_board(manifest, board_name)
    model = build_dir / MODEL_COPY
    g = compile_tflite(model)
    _attach_float_edges(g)
    if inputs is not None:
        batch = load_inputs(inputs, g)
    else:
        batch, n_edge = make_inputs(g, runs, seed)
        if not edges:
            batch = batch[n_edge:]
    ref = Reference(model)
    res = DeviceRun(board=board.name, cycle_unit=board.cycle_unit, cycle_source=board.cycle_source,
                    clock_hz=board.clock_hz, layers=manifest["layers"], tolerance=output_tolerance(g))
    with open_device(build_dir, board, port, timeout=timeout) as dut:
        counted_at(res, check_firmware(dut, manifest, build_dir), board)
        for n, x in enumerate(batch):

            def note(e: Retryable, k: int, n: int = n) -> None:
                if on_retry is not None:
                    on_retry(f"input {n + 1} of {len(batch)}: {e.problem}; running it again ({k} of {retries})")

            inf, again = dut.run(pack_inputs(manifest, x), manifest["output_bytes"], len(manifest["layers"]), retries, note)
            res.retries += again
            got = unpack_outputs(manifest, inf.output)
            want = ref.run(x, g.inputs, g.outputs)
            res.cycles.append(inf.cycles)
            res.layer_cycles.append(inf.layers)
            res.outputs.append(got)
            res.samples += 1
            compared = [compare_output(a, b, res.tolerance) for a, b in zip(got, want)]
            res.differing += int(not all(c.identical for c in compared))
            res.max_abs_diff = max([res.max_abs_diff] + [c.max_abs for c in compared])
            res.max_rel_diff = max([res.max_rel_diff] + [c.max_rel for c in compared])
            for k, c in enumerate(compared):
                if c.first_bad is not None:
                    j, a, b = c.first_bad, got[k].reshape(-1), np.asarray(want[k]).reshape(-1)
                    if res.first_mismatch is None:
                        res.first_mismatch = {"sample": n, "output": k, "index": j, "got": float(a[j]), "want": float(b[j])}
                    res.mismatches += 1
                    break
            if progress is not None:
                progress(n + 1, len(batch))
    return res
