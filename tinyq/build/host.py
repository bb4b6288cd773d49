"""Compile a generated library with the host C compiler and call it through ctypes."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyq.compiler.codegen import Generated, template_env
from tinyq.errors import CheckFailed, ToolMissing
from tinyq.ir import NUMPY_DTYPES

C_FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-fPIC", "-shared", "-DTQ_TRACE"]

_TRACE_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32)


def host_cc() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise ToolMissing("no host C compiler found: install gcc (`apt-get install gcc`) or set CC")


# What a nonzero status of the generated invoke means (tq_status in firmware/kernels/include/tq_common.h).
_STATUS_WHY = {
    -1: (" (TQ_ARG_ERROR: a kernel refused a value it got at run time, such as an index outside its axis or a "
         "shape input that differs from the shape the code was generated for): give inputs the model accepts"),
    -2: " (TQ_NO_IMPL: a kernel has no implementation for this case): report it with the model",
}


class HostModel:
    """A generated model compiled into a shared library, callable from Python. One library per model:
    its state (variable tensors) persists from one `run` to the next until `reset`."""

    def __init__(self, gen: Generated, name: str, workdir: Path | None = None):
        self.gen = gen
        self.name = name
        g = gen.graph
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tinyq-host-")
            workdir = Path(self._tmp.name)
        workdir.mkdir(parents=True, exist_ok=True)
        for fname, text in gen.files.items():
            (workdir / fname).write_text(text)
        harness = template_env().get_template("host_harness.c.j2").render(name=name, header_lines=["tinyq host harness"])
        (workdir / "tq_host_harness.c").write_text(harness)
        sources = sorted(str(p.name) for p in workdir.glob("*.c"))
        lib = workdir / f"lib{name}.so"
        cmd = [host_cc(), *C_FLAGS, "-I", ".", "-o", lib.name, *sources, "-lm"]
        r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if r.returncode != 0:
            first = next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr.strip()[:300])
            raise CheckFailed(f"the generated C does not compile with {cmd[0]}: {first} (run with -v, or `tinyq generate` and build it to see all)")
        self.compile_log = r.stderr
        self.lib = ctypes.CDLL(str(lib))
        self.fn = getattr(self.lib, f"{name}_invoke")
        self.fn.restype = ctypes.c_int
        # The pointer API: the inputs and outputs inside the arena, and the run that uses them in place.
        self._run = getattr(self.lib, f"{name}_run")
        self._run.restype = ctypes.c_int
        self._input, self._output = getattr(self.lib, f"{name}_input"), getattr(self.lib, f"{name}_output")
        self._input.restype = self._output.restype = ctypes.c_void_p
        self._input.argtypes = self._output.argtypes = [ctypes.c_int]
        self._reset = self.lib.tq_host_reset
        self._reset.restype = ctypes.c_int
        self.inputs = [g.tensor(i) for i in g.inputs]
        self.outputs = [g.tensor(i) for i in g.outputs]
        self._trace: dict[int, bytes] | None = None
        self._cb = _TRACE_FN(self._on_trace)
        self.lib.tq_host_set_trace(self._cb)

    def _on_trace(self, layer: int, data: int, nbytes: int) -> None:
        if self._trace is not None:
            self._trace[layer] = ctypes.string_at(data, nbytes)

    def run(self, inputs: list[np.ndarray], trace: bool = False) -> tuple[list[np.ndarray], dict[int, bytes]]:
        ins = [np.ascontiguousarray(x, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape) for x, t in zip(inputs, self.inputs)]
        outs = [np.zeros(t.shape, dtype=NUMPY_DTYPES[t.dtype]) for t in self.outputs]
        self._trace = {} if trace else None
        args = [x.ctypes.data_as(ctypes.c_void_p) for x in ins + outs]
        status = self.fn(*args)
        got = self._trace or {}
        self._trace = None
        if status != 0:
            raise CheckFailed(f"{self.name}_invoke returned status {status}{_STATUS_WHY.get(status, '')}")
        return outs, got

    def arena_pointers(self) -> tuple[list[int], list[int]]:
        """The addresses `NAME_input(i)` and `NAME_output(i)` give: each input's and output's place in the arena."""
        return ([self._input(k) for k in range(len(self.inputs))], [self._output(k) for k in range(len(self.outputs))])

    def run_in_arena(self, inputs: list[np.ndarray], through_invoke: bool = False) -> list[np.ndarray]:
        """One inference through the pointer API: the inputs written at `NAME_input(i)`, then `NAME_run()`
        (or `NAME_invoke` given the arena's own pointers, which copies nothing), the outputs read at
        `NAME_output(i)`."""
        ins, outs = self.arena_pointers()
        for x, t, addr in zip(inputs, self.inputs, ins):
            data = np.ascontiguousarray(x, dtype=NUMPY_DTYPES[t.dtype]).tobytes()
            ctypes.memmove(addr, data, len(data))
        status = self.fn(*[ctypes.c_void_p(a) for a in ins + outs]) if through_invoke else self._run()
        if status != 0:
            raise CheckFailed(f"{self.name}_run returned status {status}{_STATUS_WHY.get(status, '')}")
        return [np.frombuffer(ctypes.string_at(a, t.nbytes), dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape).copy()
                for t, a in zip(self.outputs, outs)]

    def reset(self) -> None:
        """`NAME_reset()`: the model's state (kept across `run` calls, as on a device) back to its start."""
        status = self._reset()
        if status != 0:
            raise CheckFailed(f"{self.name}_reset returned status {status}")

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
