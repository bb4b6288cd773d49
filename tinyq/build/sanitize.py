"""The generated C on the host under AddressSanitizer and UndefinedBehaviorSanitizer (issue 17, item 4).

`SanitizedHost` compiles a generated library with `templates/host_sanitize.c.j2` into a program built
with -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all, and keeps it running:
`run(inputs)` sends one inference over its stdin and reads the outputs from its stdout, `reset()` calls
NAME_reset(), so a model's state lives on from one run to the next as on a device. It offers what
`HostModel` offers the runners (tinyq.checks.runners: `host_runner(..., sanitize=True)`), but no layer
trace. The first sanitizer report ends the program: `run` raises CheckFailed naming it (the whole
report is in `log`).

What it finds: reads and writes outside the arena, outside a weight or table array and past the end of
an input or output buffer (each is a heap block of exactly its size), signed overflow, shifts out of
range, misaligned pointers, float-to-int casts out of range. Not: a kernel that writes into another
tensor inside the arena (one array to the sanitizer); that is the planner's check and the bit-exact
comparison's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyq.build.host import host_cc
from tinyq.compiler.codegen import Generated, template_env
from tinyq.errors import CheckFailed
from tinyq.ir import NUMPY_DTYPES

SANITIZE = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
C_FLAGS = ["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-ffp-contract=off", *SANITIZE]
# halt_on_error: the first report ends the program; leaks are checked when it exits (close()).
ENV = {"ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1",
       "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


class SanitizedHost:
    """A generated model as a sanitized host program, serving inferences until `close`."""

    def __init__(self, gen: Generated, name: str, workdir: Path | None = None):
        self.gen, self.name = gen, name
        g = gen.graph
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tinyq-sanitize-")
            workdir = Path(self._tmp.name)
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.inputs = [g.tensor(i) for i in g.inputs]
        self.outputs = [g.tensor(i) for i in g.outputs]
        for fname, text in gen.files.items():
            (workdir / fname).write_text(text)
        main = template_env().get_template("host_sanitize.c.j2").render(
            name=name, header_lines=["tinyq sanitized host program"],
            inputs=[t.nbytes for t in self.inputs], outputs=[t.nbytes for t in self.outputs])
        (workdir / "tq_host_sanitize.c").write_text(main)
        sources = sorted(p.name for p in workdir.glob("*.c"))
        self.exe = workdir / f"{name}_sanitized"
        cmd = [host_cc(), *C_FLAGS, "-I", ".", "-o", self.exe.name, *sources, "-lm"]
        r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if r.returncode != 0:
            first = next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr.strip()[:300])
            raise CheckFailed(f"the generated C does not compile with {cmd[0]} and the sanitizers: {first}")
        self.reported = False  # a finding was raised: close() does not raise it again
        self.log_path = workdir / "sanitizer.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.exe)], cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env={**os.environ, **ENV})

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _finding(self, what: str) -> CheckFailed:
        self.reported = True
        self.proc.wait(timeout=30)
        lines = self.log.splitlines()
        first = next((ln for ln in lines if "runtime error" in ln or "ERROR: AddressSanitizer" in ln or "ERROR: Leak" in ln),
                     next((ln for ln in lines if ln.strip()), f"exit status {self.proc.returncode}"))
        return CheckFailed(f"{self.name} under the sanitizers, {what}: {first.strip()} (report: {self.log_path})")

    def _read(self, n: int, what: str) -> bytes:
        data = self.proc.stdout.read(n) if n else b""
        if len(data) != n:
            raise self._finding(what)
        return data

    def run(self, inputs: list[np.ndarray], trace: bool = False) -> tuple[list[np.ndarray], dict[int, bytes]]:
        if trace:
            raise CheckFailed("the sanitized host program has no layer trace: run without the sanitizers to locate a divergence")
        ins = [np.ascontiguousarray(x, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape) for x, t in zip(inputs, self.inputs)]
        try:
            self.proc.stdin.write(b"r" + b"".join(x.tobytes() for x in ins))
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._finding("before an inference") from None
        status = int(np.frombuffer(self._read(4, "in an inference"), np.int32)[0])
        outs = [np.frombuffer(self._read(t.nbytes, "in an inference"), NUMPY_DTYPES[t.dtype]).reshape(t.shape).copy()
                for t in self.outputs]
        if status != 0:
            raise CheckFailed(f"{self.name}_invoke returned status {status} (sanitized host program)")
        return outs, {}

    def reset(self) -> None:
        try:
            self.proc.stdin.write(b"s")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._finding("before a reset") from None
        status = int(np.frombuffer(self._read(4, "in a reset"), np.int32)[0])
        if status != 0:
            raise CheckFailed(f"{self.name}_reset returned status {status}")

    def close(self) -> None:
        """End the program; a leak or a late report found at its exit raises CheckFailed."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self._log.close()
        code = self.proc.returncode
        if code != 0 and not self.reported:
            raise self._finding(f"at exit (status {code})")
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> SanitizedHost:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:  # already failing: end the program, keep the report
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
