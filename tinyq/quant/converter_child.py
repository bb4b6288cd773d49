"""Run TensorFlow's converter in a worker process, so a crash in it is one clear line, never a dead tinyq.

TensorFlow's converter and calibrator are C++; some graphs (a recurrent layer's WHILE loop, say) make
them dereference null and the whole process dies with SIGSEGV. tinyq therefore converts in a worker
process (`serve`, in a new Python), started on the first conversion and kept for the
next ones (TensorFlow is imported once per tinyq process, ~3 s, overlapping the parent's tracing). The
parent sends a job (the frozen GraphDef, its input and output tensor names, the mode, the calibration
samples) and the worker runs `run_job` on it: the converter calls tinyq made in process before, with
byte-identical output. A worker that dies is reported as `ConverterCrashed` (its signal) and
replaced on the next conversion; an error the converter raises comes back as `ConverterFailed`.

Why not os.fork(): a child forked after TensorFlow has run anything inherits thread pools without
their threads (only the forking thread survives a fork), and the converter's constant folding waits on
them forever (seen: MLIR's TF constant folding -> Eigen ThreadPoolDevice::parallelFor).

Messages on the pipes: a tag byte and a payload size (<cQ), then the payload. Parent -> worker: b"j" a
pickled job. Worker -> parent: b"p" progress (calibration samples done, <Q), then b"d" the .tflite bytes
or b"e" the error text. The worker's stdout carries only these (TensorFlow's own prints to stdout are
sent to stderr); its stderr is tinyq's, silenced per job unless -v.

Test hook: with the environment variable TINYQ_TEST_CONVERTER_SIGNAL set to a signal name (SIGSEGV,
SIGABRT) when a conversion starts, the worker sends itself that signal before converting: what
tests/test_convert_recurrent.py uses to check the crash path deterministically.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable

Tick = Callable[[int], None]  # called with the number of calibration samples just processed

TEST_SIGNAL_ENV = "TINYQ_TEST_CONVERTER_SIGNAL"

_HEAD = struct.Struct("<cQ")


class ConverterFailed(Exception):
    """The converter raised an error in the worker: its text (`reason`)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ConverterCrashed(Exception):
    """The worker died on signal `signum` (or exited with `code`) before answering."""

    def __init__(self, signum: int | None, code: int | None = None):
        self.signum, self.code = signum, code
        super().__init__(self.describe())

    def describe(self) -> str:
        """"signal 11, segmentation fault" / "exit code 3"."""
        if self.signum is None:
            return f"exit code {self.code}"
        text = signal.strsignal(self.signum) or signal.Signals(self.signum).name
        return f"signal {self.signum}, {text[0].lower() + text[1:]}"


# ----------------------------------------------------------------------------- the parent side

_worker: subprocess.Popen | None = None
_owner = 0  # the process that started _worker


def start() -> None:
    """Start the worker now (it imports TensorFlow while the caller traces its model), unless it runs."""
    global _worker, _owner
    if _worker is not None and _worker.poll() is None and _owner == os.getpid():
        return
    if _owner != os.getpid():  # a fork of the process that started the worker: not ours to talk to
        _worker = None
    _owner = os.getpid()
    root = str(Path(__file__).resolve().parent.parent.parent)  # the directory holding the tinyq package
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _worker = subprocess.Popen([sys.executable, "-c", "from tinyq.quant.converter_child import serve; serve()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def _stop(kill: bool = False) -> None:
    global _worker
    w, _worker = _worker, None
    if w is None or _owner != os.getpid():
        return
    try:
        if kill:
            w.kill()
        else:
            w.stdin.close()
        w.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        w.kill()
        w.wait()
    for pipe in (w.stdin, w.stdout):
        with contextlib.suppress(OSError):
            pipe.close()


atexit.register(_stop)


def convert(job: dict[str, Any], progress: Tick | None = None, quiet: bool = True) -> bytes:
    """Run `job` (see run_job) in the worker; returns the .tflite bytes. Raises ConverterFailed
    or ConverterCrashed (the worker is then gone; the next call starts another)."""
    start()
    w = _worker
    assert w is not None and w.stdin is not None and w.stdout is not None
    job = dict(job, quiet=quiet, test_signal=os.environ.get(TEST_SIGNAL_ENV, ""))
    done = ended = False
    try:
        try:
            _send(w.stdin, b"j", pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            pass  # it died before reading: its status says why
        while True:
            msg = _receive(w.stdout)
            if msg is None:
                ended = True
                break
            tag, payload = msg
            if tag == b"p":
                if progress:
                    progress(struct.unpack("<Q", payload)[0])
            elif tag == b"d":
                done = True
                return payload
            else:
                done = True
                raise ConverterFailed(payload.decode("utf-8", "replace"))
    finally:
        if not done:  # it died (its pipe ended), or the caller was interrupted (Ctrl-C): not reused
            _stop(kill=not (ended and _exited(w)))
    code = w.returncode
    if code is not None and code < 0:
        raise ConverterCrashed(-code)
    raise ConverterCrashed(None, code)


def _exited(w: subprocess.Popen) -> bool:
    """The worker, whose pipe has ended, has exited (within 5 s)."""
    try:
        w.wait(timeout=5)
        return True
    except subprocess.TimeoutExpired:
        return False


def _send(stream: BinaryIO, tag: bytes, payload: bytes) -> None:
    stream.write(_HEAD.pack(tag, len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    tag, size = _HEAD.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return tag, payload


# ----------------------------------------------------------------------------- the worker side


def run_job(job: dict[str, Any], tick: Tick) -> bytes:
    """TensorFlow's converter on a job of tinyq.quant.convert.convert_model: the frozen GraphDef as a
    concrete function again, the converter set up for the mode (int8 / int16x8 full-integer from the
    calibration samples, fed one at a time, `tick` after each; dynamic; float16; float). The same calls
    as converting the traced function in process, and the same bytes."""
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(job["graph_def"])
    graph = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(gd, name=""), [])
    function = graph.prune([graph.graph.get_tensor_by_name(n) for n in job["inputs"]],
                           [graph.graph.get_tensor_by_name(n) for n in job["outputs"]])
    mode, calib = job["mode"], job["calib"]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if mode != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if calib is not None:  # int8, int16x8
        n = int(calib[0].shape[0])

        def representative():
            for i in range(n):
                yield [a[i : i + 1] for a in calib]
                tick(1)

        converter.representative_dataset = representative
        if job.get("per_tensor_weights"):  # one weight scale a tensor (a per-layer palette: one int8 value a centroid)
            converter._experimental_disable_per_channel = True
        if mode == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        else:  # one activation type for the whole model: the 16x8 quantizer has no per-layer choice
            # TFLITE_BUILTINS: an op without a 16x8 kernel stays float between DEQUANTIZE and QUANTIZE (a float
            # island, compiled to a table where check_full_integer accepts it; refused by it otherwise).
            converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]
        if not job["float_io"]:
            converter.inference_input_type = tf.int8 if mode == "int8" else tf.int16
            converter.inference_output_type = converter.inference_input_type
    return bytes(converter.convert())


def reason(e: BaseException) -> str:
    """The converter's error in one line: its first "error: ..." (MLIR's diagnostics), else its first line."""
    text = str(e)
    for line in text.splitlines():
        m = re.search(r"error:\s*(.*)", line)
        if m and m.group(1).strip():
            return m.group(1).strip()[:200]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:200] or type(e).__name__


def serve() -> None:
    """The worker: answer jobs until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # TensorFlow prints to stdout ("fully_quantize: ..."): keep the protocol's pipe clean
    err = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TensorFlow's import logs
    import tensorflow  # noqa: F401  (now, with its import logs silenced)
    while True:
        msg = _receive(inp)
        if msg is None:
            return
        job = pickle.loads(msg[1])
        os.dup2(devnull if job["quiet"] else err, 2)
        os.dup2(2, 1)
        if job["test_signal"]:
            os.kill(os.getpid(), getattr(signal, job["test_signal"].upper()))
        try:
            data = run_job(job, lambda n: _send(out, b"p", struct.pack("<Q", int(n))))
        except Exception as e:  # the converter's error, as text, to the parent
            _send(out, b"e", reason(e).encode("utf-8", "replace"))
            continue
        _send(out, b"d", data)
