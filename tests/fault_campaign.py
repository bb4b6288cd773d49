"""A campaign of `tinyq profile` runs on the real firmware under QEMU behind the fault-injecting proxy
(fault_proxy.py): seeded random flips, drops and duplicates in both directions, each run's figures
compared with a clean run's. RELIABILITY.md gives its figures.

    .venv/bin/python -m tests.fault_campaign BUILD_DIR [--seeds 20] [--runs 4] [--scale 1] [--no-crc]

BUILD_DIR: a build for qemu-m4 (`tinyq build MODEL --board qemu-m4 -o BUILD_DIR`). `--scale` multiplies
the fault rates; `--no-crc` makes the host skip its checksum test (the check stripped, not done) to
count the wrong figures it stops. Prints one line a seed and a summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tinyq.boards import get_board
from tinyq.checks.profile import run_on_device
from tinyq.device.protocol import Dut
from tinyq.device.qemu import Qemu
from tinyq.errors import DeviceError

from .fault_proxy import FaultProxy, Rates

# An input is ~1.1 KB up and ~0.3 KB down: about one attempt in three meets a fault.
UP = Rates(flip=1e-4, drop=1e-4, dup=1e-4)
DOWN = Rates(flip=3e-4, drop=1e-4, dup=1e-4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", type=Path)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--no-crc", action="store_true")
    a = ap.parse_args()
    if a.no_crc:
        Dut._checked = lambda self, what, cmd, lines: lines[:-1] if lines and lines[-1].startswith("m-tq-crc-") else lines
    board = get_board("qemu-m4")
    tick = 10**9 // (int(board.cycle_counter["tick_hz"]) << int(board.emulator["icount_shift"]))
    up = Rates(UP.flip * a.scale, UP.drop * a.scale, UP.dup * a.scale)
    down = Rates(DOWN.flip * a.scale, DOWN.drop * a.scale, DOWN.dup * a.scale)
    tally = {"right": 0, "failed": 0, "mismatch": 0, "wrong": 0, "faults": 0, "retries": 0}
    t0 = time.monotonic()
    with Qemu(a.build / "firmware.elf", board) as qemu, FaultProxy(qemu.url) as proxy:
        clean = run_on_device(a.build, port=proxy.url, runs=a.runs, timeout=a.timeout)
        for seed in range(a.seeds):
            proxy.configure(rates={"up": up, "down": down}, seed=seed)
            try:
                res = run_on_device(a.build, port=proxy.url, runs=a.runs, timeout=a.timeout, retries=4)
            except DeviceError as e:  # one line, never a figure
                outcome, retries = f"failed: {str(e)[:150]}", 0
                tally["failed"] += 1
            else:
                right = all(abs(x - y) <= tick for x, y in zip(res.cycles, clean.cycles)) and all(
                    abs(x - y) <= tick for r, c in zip(res.layer_cycles, clean.layer_cycles) for x, y in zip(r, c))
                kind = "mismatch" if not res.bit_exact else "right" if right else "wrong"
                outcome, retries = {"right": "right figures", "mismatch": "outputs differ (profile fails: a wrong output)",
                                    "wrong": f"WRONG FIGURES reported valid {res.cycles}"}[kind], res.retries
                tally[kind] += 1
            tally["faults"] += len(proxy.log)
            tally["retries"] += retries
            print(f"seed {seed}: {len(proxy.log)} bytes damaged, {retries} retries: {outcome}", flush=True)
            proxy.configure()
    print(f"{a.seeds} runs of {a.runs} inputs, rates x{a.scale:g}{' (no CRC check)' if a.no_crc else ''}: "
          f"{tally['right']} right, {tally['failed']} failed with one line, {tally['mismatch']} outputs differ, "
          f"{tally['wrong']} wrong figures reported valid; "
          f"{tally['faults']} bytes damaged, {tally['retries']} retries, {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
