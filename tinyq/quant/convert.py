"""Keras (.keras, .h5, SavedModel) + representative data -> full-integer int8 TFLite.

TensorFlow's own converter does the quantization (per-channel weights, int8 activations), in a
worker process (tinyq.quant.converter_child: its crash is one line); tinyq fixes the batch to 1 so no
dynamic-shape ops appear, traces recurrent layers unrolled, and checks what comes out.

Everything a user can get wrong (paths, formats, shapes, NaNs) is reported as one
`BadInput` line naming the problem and the fix, before TensorFlow does any work.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from tinyq.errors import BadInput, UnsupportedModel
from tinyq.fileio import read_arrays  # noqa: F401  (read_arrays: callers use cv.read_arrays)
from tinyq.fileio import read_head as _head
from tinyq.quant import converter_child
from tinyq.quant.converter_child import ConverterCrashed, ConverterFailed

log = logging.getLogger(__name__)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

Progress = Callable[[int], None]  # called with the number of samples just processed

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# ----------------------------------------------------------------------------- environment


def _tf():
    try:
        import tensorflow as tf  # noqa: WPS433 (heavy, imported on use)
    except ImportError:
        from tinyq.errors import ToolMissing

        raise ToolMissing("tensorflow is not installed: run `pip install 'tinyq[convert]'`") from None
    return tf


@contextlib.contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence TensorFlow's C++ logging (written straight to fd 2) and its Python warnings.

    Python-level stderr is silenced too, so absl/keras warnings do not leak; errors raised
    inside are reported by the caller after stderr is restored.
    """
    if not enabled:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    loggers = [logging.getLogger(n) for n in ("tensorflow", "absl", "keras", "h5py")]
    levels = [lg.level for lg in loggers]
    try:
        os.dup2(devnull, 2)
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


# ----------------------------------------------------------------------------- model loading


@dataclass
class TensorInfo:
    """A model input or output as Keras/TF sees it: batch dimension first (None)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"  # an input's element type: float32, or an integer one (int32 indices for an Embedding)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.shape[1:])  # type: ignore[arg-type]

    def shape_text(self) -> str:
        return _shape_text(self.shape)


@dataclass
class LoadedModel:
    """A float model from any of the supported formats, with a uniform interface."""

    path: Path
    format: str  # "keras" | "h5" | "savedmodel"
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    param_bytes: int  # bytes of the float parameters (all weights/variables)
    keras_model: Any = None
    signature: Any = None  # SavedModel: the serving ConcreteFunction
    input_keys: list[str] = field(default_factory=list)  # SavedModel: signature argument names
    output_keys: list[str] = field(default_factory=list)  # SavedModel: signature output names
    owner: Any = None  # SavedModel: the loaded object (keeps the signature's variables alive)
    qat_model: Any = None  # a tinyq.quant.qat model with its learned activation ranges: what int8 conversion converts
    qat_bits: int | None = None  # a QAT model's weight bits (the widest of its layers): below 8, convert records them

    def predict(self, xs: Sequence[np.ndarray], batch: int = 256, progress: Progress | None = None) -> list[np.ndarray]:
        """Float outputs for all samples (one array per model output)."""
        n = int(xs[0].shape[0])
        chunks: list[list[np.ndarray]] = []
        for start in range(0, n, batch):
            part = [np.asarray(x[start : start + batch], dtype=np.float32) for x in xs]
            chunks.append(self._call(part))
            if progress:
                progress(int(part[0].shape[0]))
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    def _call(self, part: list[np.ndarray]) -> list[np.ndarray]:
        if self.keras_model is not None:
            y = self.keras_model(part if len(part) > 1 else part[0], training=False)
            ys = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (list, tuple)) else [y]
            return [np.asarray(v, dtype=np.float32) for v in ys]
        tf = _tf()
        res = self.signature(**{k: tf.constant(v) for k, v in zip(self.input_keys, part)})
        return [np.asarray(res[k], dtype=np.float32) for k in self.output_keys]

    def frozen_function(self):
        """The model as a batch-1 ConcreteFunction with variables folded into constants."""
        tf = _tf()
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        specs = [tf.TensorSpec([1, *t.sample_shape], tf.as_dtype(t.dtype), name=_spec_name(t.name, i)) for i, t in enumerate(self.inputs)]
        if self.keras_model is not None:
            model = self.keras_model

            @tf.function(input_signature=specs)
            def serve(*args):
                return model(list(args) if len(args) > 1 else args[0], training=False)

        else:
            sig, keys, out_keys = self.signature, self.input_keys, self.output_keys

            @tf.function(input_signature=specs)
            def serve(*args):
                res = sig(**dict(zip(keys, args)))
                return [res[k] for k in out_keys] if len(out_keys) > 1 else res[out_keys[0]]

        with unrolled(self.keras_model):
            return convert_variables_to_constants_v2(serve.get_concrete_function())


def _spec_name(name: str, i: int) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name or "")
    if not clean or not re.match(r"[A-Za-z0-9.]", clean):
        clean = f"input_{i}"
    return clean


def _shape_text(shape: Sequence[int | None]) -> str:
    dims = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _first_line(e: BaseException) -> str:
    for line in str(e).splitlines():
        line = line.strip()
        if line:
            return line[:200]
    return type(e).__name__


def load_model(path: Path | str, quiet: bool = True) -> LoadedModel:
    """Load a .keras file, a legacy .h5 file or a SavedModel directory."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory: give a .keras file, a .h5 file or a SavedModel directory")
    if path.is_dir():
        if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
            raise BadInput(
                f"{path} is a directory but not a SavedModel (no saved_model.pb): "
                "give a SavedModel directory (model.export(dir)), a .keras or a .h5 file"
            )
        with quiet_stderr(quiet):
            return _load_savedmodel(path)
    suffix = path.suffix.lower()
    head = _head(path)
    if suffix == ".keras":
        if head[:4] != _ZIP_MAGIC or not zipfile.is_zipfile(path):
            raise BadInput(
                f"{path} is not a Keras model archive (corrupt, truncated or another kind of file): "
                f"re-save it with model.save('{path.name}')"
            )
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise BadInput(f"{path} is corrupt or truncated: re-save it with model.save('{path.name}')") from None
        if bad is not None:
            raise BadInput(f"{path} is corrupt ({bad} fails its checksum): re-save it with model.save('{path.name}')")
        if "config.json" not in names:
            raise BadInput(f"{path} is a zip archive but not a Keras model (no config.json): save the model with model.save('{path.name}')")
        return _load_keras(path, "keras", quiet)
    if suffix in (".h5", ".hdf5"):
        if head != _HDF5_MAGIC:
            raise BadInput(f"{path} is corrupt or not an HDF5 file: re-save it with model.save('{path.name}')")
        _check_h5(path)
        return _load_keras(path, "h5", quiet)
    if head[:4] == b"\x18\x00\x00\x00" or head[4:8] == b"TFL3":
        raise BadInput(f"{path} is already a TFLite model: use it directly with `tinyq verify` or `tinyq generate`")
    raise BadInput(
        f"{path}: unknown model format '{path.suffix or '(no extension)'}': "
        "give a .keras file, a legacy .h5 file or a SavedModel directory"
    )


# Reads, in a child process, every attribute and dataset Keras' legacy loader reads of an .h5 file: HDF5
# can hang in native code on a damaged one (found by fuzzing: reading an attribute never returned), which
# a child's timeout turns into one line. Prints 1 if the file holds a model config.
_H5_PROBE = """import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    for k in list(f.attrs):
        f.attrs[k]
    f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    print(int("model_config" in f.attrs))
"""
H5_TIMEOUT = 30  # seconds: a model's weights read once, in the child


def _check_h5(path: Path) -> None:
    import subprocess

    try:
        r = subprocess.run([sys.executable, "-c", _H5_PROBE, str(path)], capture_output=True, text=True, timeout=H5_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BadInput(f"{path} is corrupt: HDF5 did not finish reading it in {H5_TIMEOUT} s: "
                       f"re-save it with model.save('{path.name}')") from None
    if r.returncode != 0 or r.stdout.strip() not in ("0", "1"):
        raise BadInput(f"{path} is corrupt or truncated (HDF5 cannot open it): re-save it with model.save('{path.name}')")
    if r.stdout.strip() != "1":
        raise BadInput(
            f"{path} holds no model (weights only?): save the whole model with model.save('{path.name}'), not save_weights"
        )


def _load_keras(path: Path, fmt: str, quiet: bool) -> LoadedModel:
    with quiet_stderr(quiet):
        _tf()
        import keras

        from tinyq.quant import (
            qat,  # registers tinyq.quant.qat's layers, so a saved QAT model loads
        )

        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as e:
            msg = _first_line(e)
            if "custom" in msg.lower() or "could not locate" in msg.lower() or "unknown layer" in msg.lower():
                raise BadInput(
                    f"{path} uses a custom layer or function Keras cannot rebuild ({msg}): "
                    "register it with @keras.saving.register_keras_serializable and re-save"
                ) from None
            raise BadInput(f"{path} cannot be loaded as a Keras model ({msg}): re-save it with model.save('{path.name}')") from None
        qat_bits = qat.weight_bits_of(model)
        model, qat_model = qat.for_conversion(model)
        try:
            ins, outs = list(model.inputs), list(model.outputs)
        except Exception:  # a subclassed model never called: no symbolic inputs (refused below, by name)
            log.debug("%s: the model has no symbolic inputs", path, exc_info=True)
            ins, outs = [], []
        if not ins:
            raise BadInput(
                f"{path}: the model has no defined input shape: build it with keras.Input(shape=...) and re-save"
            )
        inputs = [TensorInfo(name=_kname(t, i, "input"), shape=_kshape(t), dtype=_kdtype(t)) for i, t in enumerate(ins)]
        outputs = [TensorInfo(name=_kname(t, i, "output"), shape=_kshape(t)) for i, t in enumerate(outs)]
        pbytes = sum(int(np.prod(w.shape)) * np.dtype(str(w.dtype).replace("tf.", "")).itemsize for w in model.weights)
    lm = LoadedModel(path=path, format=fmt, inputs=inputs, outputs=outputs, param_bytes=int(pbytes), keras_model=model,
                     qat_model=qat_model, qat_bits=qat_bits)
    _check_static(lm)
    return lm


def _kname(t, i: int, what: str) -> str:
    n = getattr(t, "name", None)
    if isinstance(n, str) and n:
        return n.split(":")[0]
    return f"{what}_{i}"


def _kdtype(t) -> str:
    """A Keras input's element type: an integer one (keras.Input(dtype="int32") before an Embedding) is kept, all
    else is float32 (the converter quantizes float inputs)."""
    name = str(getattr(t, "dtype", "float32")).replace("tf.", "")
    return name if name in ("int32", "int64") else "float32"


def _kshape(t) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in t.shape)


def _load_savedmodel(path: Path) -> LoadedModel:
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise BadInput(f"{path} is not a loadable SavedModel ({_first_line(e)}): re-export it with model.export('{path}')") from None
    sigs = dict(getattr(loaded, "signatures", {}) or {})
    if "serving_default" in sigs:
        sig = sigs["serving_default"]
    elif len(sigs) == 1:
        sig = next(iter(sigs.values()))
    else:
        raise BadInput(
            f"{path} has {'no signatures' if not sigs else 'no serving_default signature (it has ' + ', '.join(sorted(sigs)) + ')'}: "
            "export it with model.export(dir), which writes a serving_default signature"
        )
    args, kwargs = sig.structured_input_signature
    if args:
        raise BadInput(f"{path}: the serving signature takes positional arguments: re-export it with model.export(dir)")
    keys = list(kwargs)
    inputs = []
    for k in keys:
        spec = kwargs[k]
        if spec.dtype != tf.float32:
            raise UnsupportedModel(
                f"{path}: input '{k}' has type {spec.dtype.name}: tinyq quantizes float32 inputs; cast inside the model"
            )
        if spec.shape.rank is None:
            raise UnsupportedModel(f"{path}: input '{k}' has unknown rank: export the model with a fixed input shape")
        inputs.append(TensorInfo(name=k, shape=tuple(spec.shape.as_list())))
    outs = sig.structured_outputs
    if not isinstance(outs, dict):
        raise BadInput(f"{path}: the serving signature does not return a dict of outputs: re-export it with model.export(dir)")
    out_keys = sorted(outs)
    outputs = [TensorInfo(name=k, shape=tuple(outs[k].shape.as_list())) for k in out_keys]
    variables = list(getattr(loaded, "variables", None) or sig.variables)
    pbytes = sum(int(np.prod(v.shape)) * v.dtype.size for v in variables)
    lm = LoadedModel(
        path=path, format="savedmodel", inputs=inputs, outputs=outputs, param_bytes=int(pbytes),
        signature=sig, input_keys=keys, output_keys=out_keys, owner=loaded,
    )
    _check_static(lm)
    return lm


def _check_static(lm: LoadedModel) -> None:
    for t in lm.inputs:
        if len(t.shape) < 1:
            raise UnsupportedModel(f"{lm.path}: input '{t.name}' is a scalar: tinyq needs a batch dimension first")
        rnn = [layer.name for layer in _recurrent_tops(lm.keras_model)] if len(t.shape) > 1 and t.shape[1] is None else []
        if rnn:
            raise UnsupportedModel(
                f"{lm.path}: input '{t.name}' has shape {t.shape_text()}, a sequence of unknown length, and recurrent "
                f"layer{'s' if len(rnn) > 1 else ''} {', '.join(rnn)} must be unrolled over a fixed number of steps: "
                f"give the input a fixed sequence length (keras.Input(shape=(steps, {', '.join(str(d) for d in t.shape[2:])})))"
            )
        if any(d is None or d <= 0 for d in t.shape[1:]):
            raise UnsupportedModel(
                f"{lm.path}: input '{t.name}' has shape {t.shape_text()} with an unknown dimension after the batch: "
                "give the model a fixed input shape (keras.Input(shape=...))"
            )


# ----------------------------------------------------------------------------- recurrent layers
#
# A Keras LSTM, GRU or SimpleRNN (also inside Bidirectional) runs a symbolic while_loop over the time
# steps unless it is built with unroll=True; TensorFlow's converter turns that loop into a WHILE op over
# subgraphs, and its calibrator crashes on it (SIGSEGV in TF 2.21). With batch 1 and a fixed sequence
# length the trip count is static, so tinyq traces every recurrent layer with unroll=True instead: the
# same weights and the same math, one copy of the cell per step, all builtin int8 ops.


@dataclass
class RecurrentLayer:
    """A recurrent layer of a Keras model, as `tinyq convert` reports it."""

    name: str  # the layer's name in the model: "lstm", "bidirectional"
    kind: str  # "LSTM", "GRU", "SimpleRNN", "Bidirectional(LSTM)", "RNN(LSTMCell)"
    steps: int | None  # time steps it is unrolled over (None: not known from the model)
    saved_unrolled: bool  # built with unroll=True already (tinyq changed nothing)

    def text(self) -> str:
        return f"{self.name} ({self.kind}{f', {self.steps} steps' if self.steps else ''})"

    def to_json(self) -> dict:
        return {"layer": self.name, "kind": self.kind, "steps": self.steps,
                "path": "unrolled as saved" if self.saved_unrolled else "unrolled by tinyq"}


def _keras_layers(model) -> list:
    """Every layer of a Keras `model`, nested models and the two halves of a Bidirectional included."""
    if model is None or not hasattr(model, "_flatten_layers"):
        return []
    return list(model._flatten_layers(include_self=False, recursive=True))


def _rnn_layers(model) -> list:
    """Every keras.layers.RNN (LSTM, GRU, SimpleRNN, RNN(cell)) in `model`."""
    layers = _keras_layers(model)
    if not layers:
        return []
    import keras

    return [layer for layer in layers if isinstance(layer, keras.layers.RNN)]


def _recurrent_tops(model) -> list:
    """The recurrent layers as the model holds them: a Bidirectional once, not its two halves."""
    layers = _keras_layers(model)
    if not layers:
        return []
    import keras

    bidi = keras.layers.Bidirectional
    halves = {id(h) for b in layers if isinstance(b, bidi) for h in (b.forward_layer, b.backward_layer)}
    return [layer for layer in layers if isinstance(layer, (keras.layers.RNN, bidi)) and id(layer) not in halves]


def recurrent_layers(lm: LoadedModel) -> list[RecurrentLayer]:
    """The recurrent layers of a Keras model, which convert_model unrolls (none for a SavedModel)."""
    found = []
    for layer in _recurrent_tops(lm.keras_model):
        halves = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
        core = halves[0]
        kind = type(core).__name__ if type(core).__name__ != "RNN" else f"RNN({type(core.cell).__name__})"
        if core is not layer:
            kind = f"{type(layer).__name__}({kind})"
        try:
            steps = layer.input.shape[1]
        except (AttributeError, ValueError, IndexError, TypeError):  # never called on a symbolic input
            steps = None
        found.append(RecurrentLayer(name=layer.name, kind=kind, steps=int(steps) if steps else None,
                                    saved_unrolled=all(h.unroll for h in halves)))
    return found


@contextlib.contextmanager
def unrolled(model) -> Iterator[None]:
    """Every recurrent layer of `model` traced with unroll=True (Keras reads it at call time), restored after."""
    changed = [layer for layer in _rnn_layers(model) if not layer.unroll]
    try:
        for layer in changed:
            layer.unroll = True
        yield
    finally:
        for layer in changed:
            layer.unroll = False


def _while_loops(function) -> list[str]:
    """The layers (name scopes) of the WHILE loops in a concrete function: what the converter may crash on."""
    try:
        gd = function.graph.as_graph_def()
    except Exception:  # no graph to read: no hint
        log.debug("no graph to look for WHILE loops in", exc_info=True)
        return []
    nodes = list(gd.node) + [n for f in gd.library.function for n in f.node_def]
    names: list[str] = []
    for n in nodes:
        if n.op in ("While", "StatelessWhile", "LoopCond"):  # LoopCond: a loop frozen to v1 control flow
            m = re.match(r"(.*?)/while(/|$)", n.name)
            parts = (m.group(1) if m else n.name).split("/")
            scope = "/".join(p for p in parts if not p.endswith("PartitionedCall")) or n.name
            if scope not in names:
                names.append(scope)
    return names


# ----------------------------------------------------------------------------- array files


def _pick_inputs(arrays: dict[str, np.ndarray], inputs: list[TensorInfo], path: Path, what: str, extra: Iterable[str] = ()) -> list[np.ndarray]:
    """Match the arrays of a .npy/.npz file to the model inputs: by name, key 'x' or order."""
    names = [t.name for t in inputs]
    extra = set(extra)
    if "" in arrays:  # .npy
        if len(inputs) > 1:
            raise BadInput(
                f"{path} holds one array but the model has {len(inputs)} inputs ({', '.join(names)}): "
                f"give an .npz with one array per input, e.g. numpy.savez('{what}.npz', {names[0]}=a, {names[1]}=b)"
            )
        return [arrays[""]]
    keys = [k for k in arrays if k not in extra]
    if len(inputs) == 1:
        for k in ("x", names[0]):
            if k in arrays:
                return [arrays[k]]
        if len(keys) == 1:
            return [arrays[keys[0]]]
        raise BadInput(
            f"{path} holds arrays {', '.join(keys) or '(none)'} and none is named 'x' or '{names[0]}': "
            f"name the {what} samples 'x' (numpy.savez(file, x=samples))"
        )
    if all(n in arrays for n in names):
        return [arrays[n] for n in names]
    if len(keys) == len(inputs):
        return [arrays[k] for k in keys]
    raise BadInput(
        f"{path} holds arrays {', '.join(keys) or '(none)'} but the model has inputs {', '.join(names)}: "
        "name one array per input (numpy.savez(file, **{name: samples}))"
    )


def _check_samples(arrs: list[np.ndarray], inputs: list[TensorInfo], path: Path, what: str) -> list[np.ndarray]:
    out = []
    for a, t in zip(arrs, inputs):
        who = f"{what} data" if len(inputs) == 1 else f"{what} data for input '{t.name}'"
        if a.dtype.kind not in "biuf":
            raise BadInput(f"{path}: {who} has type {a.dtype}, not numbers: save a float32 array")
        want = (None, *t.sample_shape)
        if a.ndim != len(want) or tuple(a.shape[1:]) != t.sample_shape:
            n = a.shape[0] if a.ndim >= 1 else "N"
            fix = f"give an array of shape ({n}, {', '.join(str(d) for d in t.sample_shape)})"
            if a.ndim >= 1 and int(np.prod(a.shape[1:], dtype=np.int64)) == int(np.prod(t.sample_shape, dtype=np.int64)):
                fix += f", e.g. x.reshape({n}, {', '.join(str(d) for d in t.sample_shape)})"
            elif a.ndim == len(want) - 1 and tuple(a.shape) == t.sample_shape:
                fix = "add the sample dimension first, e.g. x[None]"
            raise BadInput(f"{who} has shape {_shape_text(a.shape)} but the model input is {t.shape_text()}: {fix} (samples first)")
        if a.shape[0] == 0:
            raise BadInput(f"{path}: {who} is empty (0 samples): give at least one sample (a few hundred recommended)")
        f = a.astype(np.float32)
        bad = ~np.isfinite(f)
        if bad.any():
            first = int(np.argwhere(bad.reshape(a.shape[0], -1).any(axis=1))[0, 0])
            raise BadInput(
                f"{path}: {who} has {int(bad.sum())} NaN/inf values (first in sample {first}): "
                "remove those samples or replace the values (numpy.nan_to_num)"
            )
        out.append(f)
    ns = {int(a.shape[0]) for a in out}
    if len(ns) > 1:
        raise BadInput(f"{path}: the {what} arrays have different sample counts {sorted(ns)}: give the same number of samples per input")
    return out


def load_calibration(path: Path | str, inputs: list[TensorInfo], limit: int | None = None,
                     arrays: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """Calibration samples, one float32 array per model input, samples first, checked against `inputs`."""
    path = Path(path)
    arrays = read_arrays(path, "calibration") if arrays is None else arrays
    picked = _pick_inputs(arrays, inputs, path, "calibration")
    if limit is not None:
        if limit < 1:
            raise BadInput(f"--calib-limit {limit}: give a positive number of samples")
        picked = [a[:limit] for a in picked]
    return _check_samples(picked, inputs, path, "calibration")


def read_calibration_arrays(path: Path | str, limit: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of a calibration file, cut to the first `limit` samples and checked before any model loads."""
    if limit is not None and limit < 1:
        raise BadInput(f"--calib-limit {limit}: give a positive number of samples")
    arrays = read_arrays(path, "calibration")
    if limit is not None:
        arrays = {k: v[:limit] if v.ndim else v for k, v in arrays.items()}
    check_arrays_early(arrays, path, "calibration")
    return arrays


def check_arrays_early(arrays: dict[str, np.ndarray], path: Path | str, what: str) -> None:
    """Model-independent checks (emptiness, numbers, NaN) so they fail before TensorFlow loads."""
    path = Path(path)
    for k, a in arrays.items():
        who = f"{what} data" if k in ("", "x") else f"{what} array '{k}'"
        if a.dtype.kind not in "biuf":
            raise BadInput(f"{path}: {who} has type {a.dtype}, not numbers: save a float32 array")
        if a.ndim == 0:
            raise BadInput(f"{path}: {who} is a single number, not samples: save an array with the samples first")
        if a.shape[0] == 0 or a.size == 0:
            raise BadInput(f"{path}: {who} is empty (shape {_shape_text(a.shape)}): give at least one sample (a few hundred recommended)")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = ~np.isfinite(a)
            first = int(np.argwhere(bad.reshape(a.shape[0], -1).any(axis=1))[0, 0])
            raise BadInput(
                f"{path}: {who} has {int(bad.sum())} NaN/inf values (first in sample {first}): "
                "remove those samples or replace the values (numpy.nan_to_num)"
            )


# ----------------------------------------------------------------------------- conversion


def convert_keras(model, calib: Sequence[np.ndarray] | None, float_io: bool = False, mode: str = "int8") -> bytes:
    """Convert an in-memory Keras model. `calib` (int8 only) holds one array per model input, samples first."""
    from tinyq.quant.qat import for_conversion, weight_bits_of

    inputs = [TensorInfo(name=_kname(t, i, "input"), shape=_kshape(t), dtype=_kdtype(t)) for i, t in enumerate(model.inputs)]
    outputs = [TensorInfo(name=_kname(t, i, "output"), shape=_kshape(t)) for i, t in enumerate(model.outputs)]
    qat_bits = weight_bits_of(model)
    model, qat_model = for_conversion(model)
    lm = LoadedModel(path=Path("the Keras model"), format="keras", inputs=inputs, outputs=outputs, param_bytes=0, keras_model=model,
                     qat_model=qat_model, qat_bits=qat_bits)
    _check_static(lm)
    samples = [np.asarray(c, dtype=np.float32) for c in calib] if calib is not None else None
    return convert_model(lm, samples, float_io=float_io, mode=mode)


MODES = ("int8", "int16x8", "dynamic", "float16")  # what `tinyq convert --mode` writes; "float" is for tinyq's own use
CALIBRATED = ("int8", "int16x8")  # the full-integer modes, which need calibration samples
_MODE_WORDS = {
    "int8": "quantize this model to int8",
    "int16x8": "quantize this model to int16 activations with int8 weights",
    "dynamic": "convert this model with dynamic-range quantization",
    "float16": "convert this model to float16",
    "float": "convert this model to a float .tflite",
}


def convert_model(lm: LoadedModel, calib: Sequence[np.ndarray] | None, float_io: bool = False,
                  progress: Progress | None = None, quiet: bool = True, mode: str = "int8",
                  per_tensor_weights: bool = False) -> bytes:
    """Convert a loaded model; returns the .tflite bytes.

    int8: full-integer quantization from `calib` (checked full-integer). int16x8: the same with int16
    activations and int8 weights (TFLite's 16x8 mode, int64 biases). dynamic: int8 weights, float
    activations. float16: float16 weights. float: no optimization (the float reference of `tinyq analyze`).
    `per_tensor_weights`: one weight scale a tensor instead of one a channel (a per-layer palette's).
    An int8 conversion of a QAT model trained with weight_bits below 8 records, in the "tinyq.weights"
    metadata (tinyq.quant.lowbit), each weight tensor that keeps at most 2^B values (B: the bits rounded up
    to 1, 2 or 4) per layer or per channel.
    """
    if mode not in (*MODES, "float"):
        raise BadInput(f"--mode {mode}: give one of {', '.join(MODES)}")
    if mode == "int8" and lm.qat_model is not None:
        lm = dataclasses.replace(lm, keras_model=lm.qat_model)
    converter_child.start()  # TensorFlow's converter runs there (it imports TensorFlow while we trace)
    with quiet_stderr(quiet):
        function = lm.frozen_function()
        job = {
            "graph_def": function.graph.as_graph_def().SerializeToString(),
            "inputs": [t.name for t in function.inputs],
            "outputs": [t.name for t in function.outputs],
            "mode": mode,
            "float_io": float_io,
            "per_tensor_weights": per_tensor_weights,
            "calib": [np.asarray(a, dtype=t.dtype) for a, t in zip(calib, lm.inputs)] if mode in CALIBRATED else None,
        }
    try:
        data = converter_child.convert(job, progress, quiet)
    except ConverterFailed as e:
        fix = ("replace the layer with int8-friendly ones (Conv, Dense, pooling, ReLU, Softmax, ...)" if mode in CALIBRATED
               else "replace the layer with builtin Keras layers")
        loops = _while_loops(function)
        if loops:
            fix = f"it has WHILE loops ({', '.join(loops)}): {_UNROLL_FIX}"
        raise UnsupportedModel(f"{lm.path}: TensorFlow cannot {_MODE_WORDS[mode]} ({e.reason}): {fix}") from None
    except ConverterCrashed as e:
        raise UnsupportedModel(_crash_text(lm, e, _while_loops(function))) from None
    if mode in CALIBRATED:
        data = integer_splits(data)
        check_full_integer(data, float_io=float_io, origin=str(lm.path), edge_dtype="int8" if mode == "int8" else "int16")
    if mode == "int8" and lm.qat_bits is not None and lm.qat_bits < 8:
        from tinyq.quant import weightfile

        data = weightfile.with_metadata(data, weightfile.weight_codebooks(data, lm.qat_bits)[0])
    return data


_UNROLL_FIX = ("convert the Keras model (.keras or .h5), whose recurrent layers tinyq unrolls, or build its "
               "recurrent layers with unroll=True and re-export")


def _crash_text(lm: LoadedModel, e: ConverterCrashed, loops: list[str]) -> str:
    """The one line for a converter that died: what crashed, on which layers if known, the fix."""
    if loops:
        where = f" (WHILE loop{'s' if len(loops) > 1 else ''} in {', '.join(loops)}: a recurrent layer not unrolled)"
        fix = _UNROLL_FIX
    else:
        where = ""
        fix = ("find the layer it fails on (run with -v for TensorFlow's log), replace it with builtin layers, "
               "and report the model to tinyq")
    return f"{lm.path}: TensorFlow's converter crashed ({e.describe()}) while converting it{where}: {fix}"


# ----------------------------------------------------------------------------- the result


@dataclass
class EdgeInfo:
    """A graph input or output of the .tflite model."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


@dataclass
class TfliteSummary:
    ops: dict[str, int]
    inputs: list[EdgeInfo]
    outputs: list[EdgeInfo]
    weights: dict[str, int] = field(default_factory=dict)  # constant tensors read by ops, by type (shape constants aside)


def summarize_tflite(data: bytes) -> TfliteSummary:
    from tinyq.compiler.importer import op_names, schema, type_names

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    sg = model.subgraphs[0]
    kinds = op_names()
    types = type_names()
    ops: dict[str, int] = {}
    consts: set[int] = set()
    for o in sg.operators or []:
        code = model.operatorCodes[o.opcodeIndex]
        kind = kinds.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "?")
        ops[kind] = ops.get(kind, 0) + 1
        for i in o.inputs if o.inputs is not None else []:
            b = sg.tensors[i].buffer if i >= 0 else 0
            if 0 < b < len(model.buffers or []) and (model.buffers[b].data is not None or (model.buffers[b].offset or 0) > 1):
                consts.add(int(i))
    weights: dict[str, int] = {}
    for i in consts:
        t = types.get(sg.tensors[i].type, f"type{sg.tensors[i].type}")
        if t not in ("int32", "int64"):  # shapes, axes and int32 biases are not what a mode changes
            weights[t] = weights.get(t, 0) + 1

    def edge(i: int) -> EdgeInfo:
        t = sg.tensors[i]
        q = t.quantization
        has_q = q is not None and q.scale is not None and len(q.scale) > 0
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
        return EdgeInfo(
            index=int(i), name=name, shape=tuple(int(d) for d in (t.shape if t.shape is not None else [])),
            dtype=types.get(t.type, f"type{t.type}"),
            scale=float(q.scale[0]) if has_q else None,
            zero_point=int(q.zeroPoint[0]) if has_q and q.zeroPoint is not None and len(q.zeroPoint) else None,
        )

    return TfliteSummary(ops=ops, inputs=[edge(i) for i in sg.inputs], outputs=[edge(i) for i in sg.outputs],
                         weights=dict(sorted(weights.items())))


def _float_islands(data: bytes, origin: str = "the model"):
    """The graph of a .tflite and its float islands (tinyq.compiler.islands.find_islands)."""
    import tempfile

    from tinyq.compiler.importer import import_model
    from tinyq.compiler.islands import Found, find_islands

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{Path(origin).stem or 'model'}.tflite"
        path.write_bytes(data)
        try:
            g = import_model(path)
        except BadInput:  # a model the compiler refuses for another reason: no islands, the caller's refusal stands
            return Found(), None
    return find_islands(g), g


def float_island_lines(data: bytes) -> list[str]:
    """One line per float island of a converted model (DEQUANTIZE -> elementwise float ops -> QUANTIZE),
    each of which `tinyq build` compiles to a table; empty for a model without float tensors."""
    from tinyq.compiler.importer import schema, type_names

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if not any(type_names().get(t.type) == "float32" for sg in model.subgraphs or [] for t in sg.tensors or []):
        return []
    found, g = _float_islands(data)
    return [island.describe(g) for island in found.islands]


def integer_splits(data: bytes) -> bytes:
    """Move a float SPLIT (or SPLIT_V) between a DEQUANTIZE and QUANTIZEs back to the integer type.

    An unrolled LSTM or GRU starts from a zero state, so in its first step one gate (LSTM's forget gate,
    GRU's reset gate) multiplies zero and the converter folds it away: that SPLIT output has no
    consumer, hence no calibration statistics, and the quantizer sometimes (depending on the weights)
    leaves the whole SPLIT in float between DEQUANTIZE and QUANTIZE ops. The SPLIT only moves values,
    so it is split in the integer type instead, its outputs keeping the input's quantization, and the
    QUANTIZEs that follow requantize integer to integer (TFLite's Requantize: the same values up to the
    rounding of one fixed-point multiply). Returns `data` unchanged when there is no such SPLIT.
    """
    from tinyq.compiler.importer import op_names, schema, type_names

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if len(model.subgraphs or []) != 1:
        return data
    sg = model.subgraphs[0]
    names, types = op_names(), type_names()
    ops = list(sg.operators or [])

    def kind(o) -> str:
        code = model.operatorCodes[o.opcodeIndex]
        return names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "?")

    def dtype(i: int) -> str:
        return types.get(sg.tensors[i].type, "?")

    producer = {int(t): k for k, o in enumerate(ops) for t in (o.outputs if o.outputs is not None else [])}
    consumers: dict[int, list[int]] = {}
    for k, o in enumerate(ops):
        for i in o.inputs if o.inputs is not None else []:
            if int(i) >= 0:
                consumers.setdefault(int(i), []).append(k)
    edges = {int(i) for i in sg.inputs} | {int(i) for i in sg.outputs}

    def requantized(t: int, to: str) -> bool:  # a float output read only by QUANTIZEs to the type `to`
        return dtype(t) == "float32" and t not in edges and all(
            kind(ops[c]) == "QUANTIZE" and dtype(int(ops[c].outputs[0])) == to for c in consumers.get(t, []))

    dropped: set[int] = set()
    for k, o in enumerate(ops):
        if kind(o) not in ("SPLIT", "SPLIT_V"):
            continue
        pos = 1 if kind(o) == "SPLIT" else 0
        src = int(o.inputs[pos])
        if dtype(src) != "float32" or src in edges or src not in producer or consumers.get(src) != [k]:
            continue
        dq = ops[producer[src]]
        x = int(dq.inputs[0])
        q = sg.tensors[x].quantization
        if kind(dq) != "DEQUANTIZE" or dtype(x) not in ("int8", "int16") or q is None or q.scale is None or len(q.scale) != 1:
            continue
        outs = [int(t) for t in o.outputs]
        if not all(requantized(t, dtype(x)) for t in outs):
            continue
        ins = [int(i) for i in o.inputs]
        ins[pos] = x
        o.inputs = ins
        for t in outs:
            sg.tensors[t].type = sg.tensors[x].type
            sg.tensors[t].quantization = copy.deepcopy(q)
        dropped.add(producer[src])
    if not dropped:
        return data
    sg.operators = [o for k, o in enumerate(ops) if k not in dropped]
    import flatbuffers

    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def check_full_integer(data: bytes, float_io: bool = False, origin: str = "the model", edge_dtype: str = "int8") -> None:
    """Raise UnsupportedModel unless every op computes in integers (float only in edge QUANTIZE/DEQUANTIZE, and
    in float islands: DEQUANTIZE -> elementwise float ops -> QUANTIZE, which `tinyq build` compiles to tables)
    and, without float_io, the graph's inputs and outputs are `edge_dtype` (int16 for an int16x8 model; ARG_MAX /
    ARG_MIN index outputs are int32 or int64)."""
    from tinyq.compiler.importer import op_names, schema, type_names

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if len(model.subgraphs) != 1:
        raise UnsupportedModel(f"{origin}: the converted model has {len(model.subgraphs)} subgraphs (control flow): remove it")
    sg = model.subgraphs[0]
    kinds = op_names()
    types = type_names()
    g_in, g_out = set(int(i) for i in sg.inputs), set(int(i) for i in sg.outputs)

    def dtype(i: int) -> str:
        return types.get(sg.tensors[i].type, "?")

    float_ops: list[tuple[int, str]] = []
    indices: set[int] = set()  # ARG_MAX / ARG_MIN outputs: int32 / int64 indices, legitimate graph outputs
    for k, o in enumerate(sg.operators or []):
        code = model.operatorCodes[o.opcodeIndex]
        kind = kinds.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), f"BUILTIN_{code.builtinCode}")
        ins = [int(i) for i in (o.inputs if o.inputs is not None else []) if int(i) >= 0]
        outs = [int(i) for i in (o.outputs if o.outputs is not None else [])]
        if kind in ("ARG_MAX", "ARG_MIN"):
            indices.update(outs)
        if kind == "CUSTOM" or kind.startswith("BUILTIN_"):
            raise UnsupportedModel(f"{origin}: the converted model has a custom op (op {k}): remove the layer that needs it")
        if kind == "QUANTIZE" and ins and dtype(ins[0]) == "float32" and ins[0] in g_in and float_io:
            continue
        if kind == "DEQUANTIZE" and outs and dtype(outs[0]) == "float32" and outs[0] in g_out and float_io:
            continue
        if any(dtype(i) == "float32" for i in ins + outs):
            float_ops.append((k, kind))
    if float_ops:
        # Float islands (DEQUANTIZE -> elementwise float ops -> QUANTIZE) compile to tables; the rest is refused.
        found, _ = _float_islands(data, origin)
        tabulated = {op.index for island in found.islands for op in island.ops}
        float_ops = [(k, kind) for k, kind in float_ops if k not in tabulated]
    if float_ops:
        # The culprit is the float op between the DEQUANTIZE/QUANTIZE pairs the converter inserted around it.
        core = [(k, kind) for k, kind in float_ops if kind not in ("QUANTIZE", "DEQUANTIZE")] or float_ops
        kinds_text = ", ".join(sorted({kind for _, kind in core}))
        k, kind = core[0]
        # The first group of float ops that is no island: the op that breaks it, or the group's first op, and why.
        left = {k for k, _ in float_ops}
        rejected = next((r for r in found.rejected if any(op.index in left for op in r.ops)), None)
        why = rejected.reason if rejected is not None else None
        if rejected is not None and rejected.culprit is not None:
            k, kind = rejected.culprit.index, rejected.culprit.kind
        raise UnsupportedModel(
            f"{origin}: the converted model is not full-integer: op {k} ({kind}) computes in float32 "
            f"(TensorFlow has no {'int8' if edge_dtype == 'int8' else '16x8'} kernel for {kinds_text})"
            + (f", and not in a float island tinyq compiles to a table ({why})" if why else "")
            + ": replace that layer with an int8-friendly one"
        )
    if not float_io:
        for i in sorted(g_in | g_out):
            # int32 / int64 edges are indices: ARG_MAX / ARG_MIN outputs, and integer Keras inputs (an Embedding's)
            if dtype(i) != edge_dtype and not ((i in indices or i in g_in) and dtype(i) in ("int32", "int64")):
                raise UnsupportedModel(
                    f"{origin}: graph edge tensor {i} has type {dtype(i)}, not {edge_dtype}: convert without --float-io"
                )


# ----------------------------------------------------------------------------- evaluation


@dataclass
class EvalResult:
    task: str  # "classification" | "regression"
    samples: int
    float_accuracy: float | None = None
    int8_accuracy: float | None = None
    agreement: float | None = None  # top-1 agreement of float and int8
    float_rmse: float | None = None
    int8_rmse: float | None = None
    float_int8_rmse: float | None = None  # int8 vs float outputs

    def to_json(self) -> dict:
        d = {"task": self.task, "samples": self.samples}
        keys = ("float_accuracy", "int8_accuracy", "agreement") if self.task == "classification" else (
            "float_rmse", "int8_rmse", "float_int8_rmse")
        for k in keys:
            d[k] = getattr(self, k)
        return d


@dataclass
class EvalData:
    x: list[np.ndarray]
    y: np.ndarray
    task: str
    labels: np.ndarray | None  # class ids for classification


def load_eval(path: Path | str, lm: LoadedModel, arrays: dict[str, np.ndarray] | None = None) -> EvalData:
    """Read an .npz with x (or one array per input name) and y; decide classification vs regression."""
    path = Path(path)
    arrays = read_arrays(path, "evaluation") if arrays is None else arrays
    if "" in arrays:
        raise BadInput(f"{path} is a .npy file: give an .npz with x and y (numpy.savez('{path.stem}.npz', x=x, y=y))")
    if "y" not in arrays:
        raise BadInput(f"{path} has no array 'y' (it has {', '.join(arrays)}): save it with numpy.savez(file, x=x, y=y)")
    if len(lm.outputs) != 1:
        raise BadInput(f"{lm.path} has {len(lm.outputs)} outputs: --eval handles single-output models; drop --eval")
    xs = _check_samples(_pick_inputs(arrays, lm.inputs, path, "evaluation", extra=("y",)), lm.inputs, path, "evaluation")
    n = int(xs[0].shape[0])
    y = arrays["y"]
    if y.dtype.kind not in "biuf":
        raise BadInput(f"{path}: y has type {y.dtype}, not numbers: save labels as integers or targets as floats")
    if y.ndim == 0 or y.shape[0] != n:
        raise BadInput(f"{path}: y has shape {_shape_text(y.shape)} but x has {n} samples: give one label or target per sample")
    out = lm.outputs[0]
    out_dim = int(np.prod(out.sample_shape, dtype=np.int64)) if all(d is not None for d in out.shape[1:]) else 0
    yf = y.astype(np.float64)
    if not np.isfinite(yf).all():
        raise BadInput(f"{path}: y has NaN/inf values: remove those samples")
    flat = yf.reshape(n, -1)
    if out_dim > 1:
        if flat.shape[1] == 1 and np.all(flat == np.round(flat)) and flat.min() >= 0 and flat.max() < out_dim:
            return EvalData(x=xs, y=yf, task="classification", labels=flat[:, 0].astype(np.int64))
        if flat.shape[1] == out_dim and np.all((flat == 0) | (flat == 1)) and np.all(flat.sum(axis=1) == 1):
            return EvalData(x=xs, y=yf, task="classification", labels=flat.argmax(axis=1).astype(np.int64))
    if flat.shape[1] != max(out_dim, 1):
        raise BadInput(
            f"{path}: y has shape {_shape_text(y.shape)} but the model output is {out.shape_text()}: "
            "give class ids (N,) for classification or targets shaped like the output for regression"
        )
    return EvalData(x=xs, y=yf.reshape(n, -1), task="regression", labels=None)


def run_int8(data: bytes, xs: Sequence[np.ndarray], progress: Progress | None = None) -> np.ndarray:
    """Run every sample through TFLite's reference kernels; returns the first output dequantized to float."""
    from ai_edge_litert import interpreter as lrt

    summary = summarize_tflite(data)
    it = lrt.Interpreter(
        model_content=data,
        experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF,
        num_threads=1,
    )
    it.allocate_tensors()
    res = []
    o = summary.outputs[0]
    for s in range(int(xs[0].shape[0])):
        for e, x in zip(summary.inputs, xs):
            it.set_tensor(e.index, quantize_input(x[s : s + 1], e).reshape(e.shape))
        it.invoke()
        y = it.get_tensor(o.index).astype(np.float64)
        if o.dtype != "float32" and o.scale is not None:
            y = (y - (o.zero_point or 0)) * o.scale
        res.append(y.reshape(-1))
        if progress:
            progress(1)
    return np.stack(res)


def quantize_input(x: np.ndarray, e: EdgeInfo) -> np.ndarray:
    """Float sample -> the model's input type, as TFLite's QUANTIZE does (float32, round half away from zero)."""
    if e.dtype in ("int32", "int64") and e.scale is None:  # an integer input (an Embedding's indices): as it is
        return np.asarray(x).astype(e.dtype)
    if e.dtype == "float32" or e.scale is None:
        return np.asarray(x, dtype=np.float32)
    v = np.asarray(x, dtype=np.float32) / np.float32(e.scale)
    r = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    info = np.iinfo(np.int8 if e.dtype == "int8" else np.uint8 if e.dtype == "uint8" else np.int16)
    q = np.clip(r.astype(np.int64) + int(e.zero_point or 0), info.min, info.max)
    return q.astype(info.dtype)


def evaluate(lm: LoadedModel, data: bytes, ev: EvalData, progress: Progress | None = None) -> EvalResult:
    """Float (TensorFlow) vs int8 (reference interpreter) quality on the evaluation set."""
    n = int(ev.x[0].shape[0])
    yf = lm.predict(ev.x, progress=progress)[0].reshape(n, -1).astype(np.float64)
    yq = run_int8(data, ev.x, progress=progress)
    if ev.task == "classification":
        pf, pq = yf.argmax(axis=1), yq.argmax(axis=1)
        return EvalResult(
            task="classification", samples=n,
            float_accuracy=float(np.mean(pf == ev.labels)),
            int8_accuracy=float(np.mean(pq == ev.labels)),
            agreement=float(np.mean(pf == pq)),
        )

    def rmse(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a - b) ** 2)))

    return EvalResult(
        task="regression", samples=n,
        float_rmse=rmse(yf, ev.y), int8_rmse=rmse(yq, ev.y), float_int8_rmse=rmse(yf, yq),
    )


def convert_file(model: Path | str, calib: Path | str, calib_limit: int | None = None, float_io: bool = False,
                 quiet: bool = True) -> bytes:
    """File to file without the report: what `tinyq build MODEL.keras --calib` runs first."""
    arrays = read_calibration_arrays(calib, calib_limit)
    lm = load_model(model, quiet=quiet)
    samples = load_calibration(calib, lm.inputs, arrays=arrays)
    return convert_model(lm, samples, float_io=float_io, quiet=quiet)
