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


# Files the reference interpreter refuses for a reason that does not change the arithmetic run on a
# normalized copy, and the Reference says so (`notes`), so a report can show what the reference ran:
# - BUILTIN_REF registers some ops only up to an older version than the converter writes (TILE up to v2
#   while the converter writes v3 for int8/int16; DEPTH_TO_SPACE v1 vs v2): the same kernel code runs the
#   newer files, only the registration is missing; the op version is lowered one step at a time;
# - single-scale tensors whose quantized_dimension is outside their rank (TFLM's person-detection model):
#   with one scale the axis means nothing; it is read as 0.
_NO_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
MAX_LOWERED = 8


class Reference:
    """ai_edge_litert with the reference kernels (OpResolverType.BUILTIN_REF), all tensors kept."""

    def __init__(self, path: Path):
        self.notes: list[str] = []
        self._data = Path(path).read_bytes()  # the interpreter reads the model from these bytes: keep them
        for _ in range(MAX_LOWERED + 1):
            try:
                self.it = _interpreter(self._data)
                break
            except (ValueError, RuntimeError) as e:  # an op the reference kernels lack (ELU), a Prepare that refuses
                m = _NO_OP.search(str(e))
                fixed = None
                if len(self.notes) < MAX_LOWERED:
                    if m is not None and int(m.group(2)) > 1:
                        op, version = m.group(1), int(m.group(2))
                        self._data = _lower_op_version(self._data, op, version)
                        fixed = f"{op} v{version} run as v{version - 1} (BUILTIN_REF does not register v{version})"
                    elif "quantized_dimension must be in range" in str(e):
                        self._data, n = _normalize_quantized_dimension(self._data)
                        fixed = f"{n} single-scale tensors' quantized_dimension (out of range) read as 0" if n else None
                if fixed is None:
                    log.debug("the reference interpreter refused %s", path, exc_info=True)
                    why = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
                    raise CheckFailed(f"{path}: TFLite's reference interpreter (BUILTIN_REF) cannot run this model ({why[:200]}), "
                                      "so there is nothing to check tinyq's outputs against: `tinyq build` still compiles it") from None
                self.notes.append(fixed)
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


def _interpreter(data: bytes):
    from ai_edge_litert import interpreter as lrt

    it = lrt.Interpreter(
        model_content=data,
        experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    it.allocate_tensors()
    return it


def _lower_op_version(data: bytes, op: str, version: int) -> bytes:
    """The model with every operator code `op` at `version` set to `version - 1`."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    for code in model.operatorCodes or []:
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if names.get(builtin) == op and int(code.version) == version:
            code.version = version - 1
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _normalize_quantized_dimension(data: bytes) -> tuple[bytes, int]:
    """The model with quantized_dimension 0 on every tensor quantized with one scale whose quantized_dimension
    is outside its rank (old converters wrote 3 on tensors of any rank; one scale makes the axis meaningless,
    and the interpreter refuses the file). Returns the bytes and how many tensors changed."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    n = 0
    for sg in model.subgraphs or []:
        for t in sg.tensors or []:
            q = t.quantization
            rank = len(t.shape) if t.shape is not None else 0
            if q is not None and q.scale is not None and len(q.scale) <= 1 and not 0 <= int(q.quantizedDimension) < max(rank, 1):
                q.quantizedDimension = 0
                n += 1
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), n


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
