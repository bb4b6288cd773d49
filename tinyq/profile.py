"""Run a built firmware on a board (emulated or real) and measure it against the host reference.

`open_device` starts QEMU for an emulated board (or opens --port), `run_on_device` loads inputs over
the serial protocol, runs them, reads back cycles per inference, cycles per layer and the raw output,
and compares every output byte with TFLite's reference interpreter.
"""

from __future__ import annotations

import statistics
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .boards import Board
from .build import ELF, MODEL_COPY, load_manifest, resolve_board
from .compiler import compile_tflite
from .device import Dut, DeviceError, Link
from .emulator import Qemu
from .errors import BadInput
from .importer import NUMPY_DTYPES
from .reference import Reference
from .verify import _attach_float_edges, load_inputs, make_inputs


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

    @property
    def bit_exact(self) -> bool:
        return self.samples > 0 and self.mismatches == 0

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
            "samples": self.samples,
            "mismatches": self.mismatches,
            "first_mismatch": self.first_mismatch,
        }
        if sizes is not None:
            d["sizes"] = sizes
        return d


@contextmanager
def open_device(build_dir: Path, board: Board, port: str | None = None, baud: int | None = None) -> Iterator[Dut]:
    """A protocol client on the build's firmware: QEMU for an emulated board without --port."""
    qemu = None
    link = None
    try:
        if port is None and not board.emulated:
            port = console_port(board)
        if port is None:
            qemu = Qemu(Path(build_dir) / ELF, board).start()
            link = Link(qemu.url, baud or board.console["baud"])
            dut = Dut(link)
            dut.wait_boot()
        else:
            link = Link(port, baud or board.console["baud"])
            dut = Dut(link)
            dut.sync()
        yield dut
    finally:
        if link is not None:
            link.close()
        if qemu is not None:
            qemu.stop()


def console_port(board: Board) -> str:
    """The serial port of a plugged-in `board`, found by the USB ids its console enumerates with."""
    from .samba import find_ports

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


def check_firmware(dut: Dut, manifest: dict) -> None:
    info = dut.info()
    want = {"input": str(manifest["input_bytes"]), "output": str(manifest["output_bytes"]), "layers": str(len(manifest["layers"]))}
    got = {k: info.get(k) for k in want}
    if got != want or info.get("board") != manifest["board"]:
        raise DeviceError(
            f"the device runs another firmware (board {info.get('board')}, input {got['input']} B, output {got['output']} B): "
            "flash this build first (`tinyq flash`)"
        )


def run_on_device(build_dir: Path, board_name: str | None = None, port: str | None = None, runs: int = 5,
                  inputs: Path | None = None, seed: int = 0, edges: bool = False, progress=None) -> DeviceRun:
    """Run inputs through the firmware and through the reference interpreter; compare and count."""
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
                    clock_hz=board.clock_hz, layers=manifest["layers"])
    with open_device(build_dir, board, port) as dut:
        check_firmware(dut, manifest)
        for n, x in enumerate(batch):
            dut.load(pack_inputs(manifest, x))
            inf = dut.infer()
            got = unpack_outputs(manifest, inf.output)
            want = ref.run(x, g.inputs, g.outputs)
            res.cycles.append(inf.cycles)
            res.layer_cycles.append(inf.layers)
            res.outputs.append(got)
            res.samples += 1
            for k, (a, b) in enumerate(zip(got, want)):
                a = a.reshape(-1)
                b = np.asarray(b).reshape(-1).astype(a.dtype)
                if a.tobytes() != b.tobytes():
                    j = int(np.flatnonzero(a.view(np.uint8) != b.view(np.uint8))[0]) // a.itemsize
                    if res.first_mismatch is None:
                        res.first_mismatch = {"sample": n, "output": k, "index": j, "got": float(a[j]), "want": float(b[j])}
                    res.mismatches += 1
                    break
            if progress is not None:
                progress(n + 1, len(batch))
    return res
