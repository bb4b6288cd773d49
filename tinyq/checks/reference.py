"""The references tinyq is held to: TFLite's reference interpreter and TFLM's arena."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from tinyq.errors import CheckFailed

log = logging.getLogger(__name__)


class Reference:
    """ai_edge_litert with the reference kernels (OpResolverType.BUILTIN_REF), all tensors kept."""

    def __init__(self, path: Path):
        from ai_edge_litert import interpreter as lrt

        try:
            self.it = lrt.Interpreter(
                model_path=str(path),
                experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF,
                experimental_preserve_all_tensors=True,
                num_threads=1,
            )
            self.it.allocate_tensors()
        except (ValueError, RuntimeError) as e:  # an op the reference kernels lack (ELU), a Prepare that refuses
            log.debug("the reference interpreter refused %s", path, exc_info=True)
            why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise CheckFailed(f"{path}: TFLite's reference interpreter (BUILTIN_REF) cannot run this model ({why[:200]}), "
                              "so there is nothing to check tinyq's outputs against: `tinyq build` still compiles it") from None
        self.inputs = self.it.get_input_details()
        self.outputs = self.it.get_output_details()
        # Keep the graph's order (details are sorted by tensor index, not by position).
        self._in_order = {d["index"]: d for d in self.inputs}
        self._out_order = {d["index"]: d for d in self.outputs}
        self.tensor_count = len(self.it.get_tensor_details())

    def run(self, inputs: list[np.ndarray], input_indices: list[int], output_indices: list[int]) -> list[np.ndarray]:
        for x, i in zip(inputs, input_indices):
            d = self._in_order[i]
            self.it.set_tensor(i, np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
        self.it.invoke()
        return [self.it.get_tensor(i).copy() for i in output_indices]

    def tensor(self, index: int) -> np.ndarray:
        return self.it.get_tensor(index)


def tflm_arena_bytes(path: Path) -> int | None:
    """TFLM's arena for the model, from the tflite-micro package's host interpreter (None if unavailable)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        log.debug("tflite-micro is not installed: no TFLM arena figure", exc_info=True)
        return None
    # print_allocations() writes from C++ straight to fd 1 or fd 2 (it changed between releases):
    # capture both through a temporary file.
    import sys

    with tempfile.TemporaryFile(mode="w+b") as cap:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(cap.fileno(), 1)
            os.dup2(cap.fileno(), 2)
            try:
                it = runtime.Interpreter.from_file(str(path))
                it.print_allocations()
            except Exception:  # TFLM refuses the model (an op it lacks, say): the figure is "n/a", not an error
                log.debug("TFLM's interpreter could not allocate %s", path, exc_info=True)
                return None
            finally:
                import ctypes

                ctypes.CDLL(None).fflush(None)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        cap.seek(0)
        text = cap.read().decode("utf-8", "replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return int(m.group(1)) if m else None
