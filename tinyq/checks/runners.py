"""One way to run a model: the reference interpreter, the generated C on the host and a device all
offer `run(inputs) -> outputs` (one array per model input, one per output) and `reset()` (the model's
state, kept from one run to the next, back to its start), and `run_and_compare` holds any of them to
the reference through the one comparison (tinyq.checks.match).

A model with state (variable tensors: an RNN's, a stream's past frames in a resource variable) is
checked over a sequence: both sides reset once, then the inputs run in order without a reset between
them (or with one every `reset_every` inputs), and every step's outputs are compared."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from tinyq.build.host import HostModel
from tinyq.build.manifest import Manifest
from tinyq.build.sanitize import SanitizedHost
from tinyq.checks.match import Mismatch, Tally
from tinyq.checks.reference import Reference
from tinyq.compiler import Generated
from tinyq.device.protocol import Dut, Inference, Retryable
from tinyq.errors import BadInput
from tinyq.ir import Graph


class Runner(Protocol):
    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...

    def reset(self) -> None: ...


class ReferenceRunner:
    """TFLite's reference interpreter (BUILTIN_REF) on the model file, in the graph's input/output order."""

    def __init__(self, model: Path, g: Graph):
        self.model = Path(model)
        self.ref = Reference(model)
        self.inputs, self.outputs = list(g.inputs), list(g.outputs)
        self.tensor_count = self.ref.tensor_count

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.ref.run(inputs, self.inputs, self.outputs)

    def tensor(self, index: int) -> np.ndarray:
        """A tensor of the last run (every tensor is kept, for locating a divergence)."""
        return self.ref.tensor(index)

    def reset(self) -> None:
        """The state of a freshly created interpreter, which is what the generated reset() restores.
        TFLite's reset_all_variables() is not that: it resets variable tensors only (resource variables
        keep their values, and CALL_ONCE does not run again), so the interpreter is created anew."""
        self.ref = Reference(self.model)


class HostRunner:
    """The generated C library compiled with the host compiler (tinyq.build.host)."""

    def __init__(self, host: HostModel | SanitizedHost, keep_trace: bool = False):
        self.host = host
        # Trace every run (`last_trace`): a stateful model cannot run an input again to locate a divergence.
        self.keep_trace = keep_trace
        self.last_trace: dict[int, bytes] = {}

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs, self.last_trace = self.host.run(inputs, trace=self.keep_trace)
        return outs

    def reset(self) -> None:
        self.host.reset()

    def trace(self, inputs: list[np.ndarray]) -> dict[int, bytes]:
        """Each layer's output bytes, by layer index."""
        return self.host.run(inputs, trace=True)[1]


def host_runner(gen: Generated, name: str = "tq_model", sanitize: bool = False, keep_trace: bool = False) -> HostRunner:
    """The generated C on the host; `sanitize`: as a program built with AddressSanitizer and UBSan
    (tinyq.build.sanitize: no layer trace; a sanitizer report is CheckFailed; close it with `.host.close()`)."""
    return HostRunner(SanitizedHost(gen, name) if sanitize else HostModel(gen, name), keep_trace=keep_trace and not sanitize)


class DeviceRunner:
    """A board (or an emulator) running a build, over the serial protocol. `last` holds the last
    inference (cycles, cycles per layer); `retries` counts inputs run again after a recoverable fault."""

    def __init__(self, dut: Dut, manifest: Manifest, retries: int = 0,
                 on_retry: Callable[[Retryable, int], None] | None = None):
        self.dut, self.manifest, self.max_retries, self.on_retry = dut, manifest, retries, on_retry
        if manifest.state_bytes:  # a retried input would run twice (or after the board lost its state)
            self.max_retries = 0
        self.last: Inference | None = None
        self.retries = 0

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        m = self.manifest
        inf, again = self.dut.run(m.pack_inputs(inputs), m.output_bytes, len(m.layers), self.max_retries, self.on_retry)
        self.retries += again
        self.last = inf
        return m.unpack_outputs(inf.output)

    def reset(self) -> None:
        self.dut.reset()


def run_and_compare(runner: Runner, reference: Runner, batch: Iterable[list[np.ndarray]], tally: Tally,
                    each: Callable[[int, list[np.ndarray], Mismatch | None], None] | None = None,
                    stateful: bool = False, reset_every: int | None = None) -> Tally:
    """Run every input through `runner` and `reference` and add the outputs to `tally`; `each(n, outputs,
    mismatch)` is called after each input (progress, cycles, locating the first divergence).

    `stateful`: the inputs are a sequence: both sides are reset before the first input and, with
    `reset_every`, before every reset_every-th one after it; nothing else resets them."""
    for n, x in enumerate(batch):
        if stateful and (n == 0 or (reset_every and n % reset_every == 0)):
            runner.reset()
            reference.reset()
        try:  # first: an input the model rejects is named by the reference's message
            want = reference.run(x)
        except BadInput as e:
            raise BadInput(f"input {n + 1}: {e}") from None
        got = runner.run(x)
        found = tally.add(got, want)
        if each is not None:
            each(n, got, found)
    return tally
