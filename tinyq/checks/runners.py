"""One way to run a model: the reference interpreter, the generated C on the host and a device all
offer `run(inputs) -> outputs` (one array per model input, one per output), and `run_and_compare`
holds any of them to the reference through the one comparison (tinyq.checks.match)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from tinyq.build.host import HostModel
from tinyq.build.manifest import Manifest
from tinyq.checks.match import Mismatch, Tally
from tinyq.checks.reference import Reference
from tinyq.device.protocol import Dut, Inference, Retryable
from tinyq.ir import Graph


class Runner(Protocol):
    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...


class ReferenceRunner:
    """TFLite's reference interpreter (BUILTIN_REF) on the model file, in the graph's input/output order."""

    def __init__(self, model: Path, g: Graph):
        self.ref = Reference(model)
        self.inputs, self.outputs = list(g.inputs), list(g.outputs)
        self.tensor_count = self.ref.tensor_count

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.ref.run(inputs, self.inputs, self.outputs)

    def tensor(self, index: int) -> np.ndarray:
        """A tensor of the last run (every tensor is kept, for locating a divergence)."""
        return self.ref.tensor(index)


class HostRunner:
    """The generated C library compiled with the host compiler (tinyq.build.host)."""

    def __init__(self, host: HostModel):
        self.host = host

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.host.run(inputs)[0]

    def trace(self, inputs: list[np.ndarray]) -> dict[int, bytes]:
        """Each layer's output bytes, by layer index."""
        return self.host.run(inputs, trace=True)[1]


class DeviceRunner:
    """A board (or an emulator) running a build, over the serial protocol. `last` holds the last
    inference (cycles, cycles per layer); `retries` counts inputs run again after a recoverable fault."""

    def __init__(self, dut: Dut, manifest: Manifest, retries: int = 0,
                 on_retry: Callable[[Retryable, int], None] | None = None):
        self.dut, self.manifest, self.max_retries, self.on_retry = dut, manifest, retries, on_retry
        self.last: Inference | None = None
        self.retries = 0

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        m = self.manifest
        inf, again = self.dut.run(m.pack_inputs(inputs), m.output_bytes, len(m.layers), self.max_retries, self.on_retry)
        self.retries += again
        self.last = inf
        return m.unpack_outputs(inf.output)


def run_and_compare(runner: Runner, reference: Runner, batch: Iterable[list[np.ndarray]], tally: Tally,
                    each: Callable[[int, list[np.ndarray], Mismatch | None], None] | None = None) -> Tally:
    """Run every input through `runner` and `reference` and add the outputs to `tally`; `each(n, outputs,
    mismatch)` is called after each input (progress, cycles, locating the first divergence)."""
    for n, x in enumerate(batch):
        got = runner.run(x)
        want = reference.run(x)
        found = tally.add(got, want)
        if each is not None:
            each(n, got, found)
    return tally
