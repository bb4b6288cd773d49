"""Mixed precision per layer: int16 activations where int8 loses the most, int4 weights where they cost little.

TensorFlow's converter takes one activation type for a whole model, so the mixed model comes from
litert-quantizer, whose recipes set the activation and weight bits per op,
matched by a regex on the op's scope (its output tensor names joined by ';' with a trailing ';'). Between an
int16 op and an int8 one it inserts QUANTIZE int8 <-> int16, which the reference interpreter and tinyq run.
The float model is calibrated once (the statistics do not depend on the bits) on each tensor's global min and
max over the samples, as TensorFlow's converter records them, not litert-quantizer's default moving average
of per-sample ranges (which clips rare large values), and every recipe is quantized from those statistics.

The plan, from the float model and the calibration samples:
1. the all-int8 model (litert-quantizer, int8 activations, int8 per-channel weights) and its per-layer SQNR
   against the float model on the calibration samples (`tinyq.quant.error`, what `tinyq analyze` shows);
2. int16 activations for the layers `tinyq analyze` flags (below the SQNR threshold, or among the `worst`
   that lose two bits or more against their inputs), the layer's own loss first. A flagged tensor goes int16
   with its producer and its readers (through reshapes): an int16 output read by an int8 op would be
   requantized to int8 first and gain nothing. With evaluation data, flagged tensors are added one at a time
   until the accuracy is within `tolerance` of the float model's (or all are taken);
3. int4 weights (CONV_2D, FULLY_CONNECTED of the int8 layers) where the layer keeps at least `int4_min_db`
   of SQNR with every candidate's weights int4 at once (measured, not guessed); with evaluation data, the
   int4 layers are given back to int8 (lowest SQNR first) while the accuracy is outside the tolerance and
   the int16 choice alone was within it.
The written model holds int4 weights as int8 tensors on the 4-bit grid (values -8..7, the int4 scales),
named in the "tinyq.weights" metadata (bits 4, codebook "layer"), which `tinyq build` packs two a byte: the
reference interpreter computes the same outputs from them as from packed INT4 tensors.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinyq.errors import BadInput, ToolMissing, UnsupportedModel
from tinyq.quant import convert as cv
from tinyq.quant.error import QuantError, quant_error

# Layers whose activations may go int16 (tinyq compiles their int16x8 forms bit-exact); others stay int8.
INT16_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
               "PAD", "LOGISTIC", "TANH", "SOFTMAX")
# Layers whose weights may go int4 (litert-quantizer's weight_num_bits=4 with int8 activations).
INT4_KINDS = ("CONV_2D", "FULLY_CONNECTED")
METADATA_NAME = "tinyq.weights"
INT4_MIN_DB = 32.0  # int4 weights where a layer keeps this SQNR: the 20 dB threshold plus two bits (12 dB)


@dataclass
class LayerPlan:
    index: int  # op index in the all-int8 model
    op: str
    tensor: str  # the op's output tensor (the same name in the float model and both quantized ones)
    sqnr_int8_db: float | None
    loss_int8_db: float | None  # SQNR lost at this layer against its worst input, all-int8
    flagged: bool
    activations: str = "int8"  # "int8" | "int16"
    weights: str | None = None  # "int8" | "int4" | None (no weights)
    sqnr_int4_db: float | None = None  # the layer's SQNR with the int4 candidates' weights int4
    why: list[str] = field(default_factory=list)


@dataclass
class Step:
    """One model tried while choosing, and its quality on the evaluation data."""

    int16: list[str]
    int4: list[str]
    quality: float  # accuracy (classification) or RMSE against the targets (regression)


@dataclass
class MixedPlan:
    calibration: dict
    threshold_db: float
    worst: int
    int4_min_db: float | None  # None: int4 weights not considered
    tolerance: float | None
    task: str | None  # "classification" | "regression" | None (no evaluation data)
    float_quality: float | None
    int8_quality: float | None
    mixed_quality: float | None
    layers: list[LayerPlan]
    steps: list[Step]
    model: bytes = field(repr=False, default=b"")

    @property
    def int16(self) -> list[str]:
        return [L.tensor for L in self.layers if L.activations == "int16"]

    @property
    def int4(self) -> list[str]:
        return [L.tensor for L in self.layers if L.weights == "int4"]

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("model")
        d["int16"] = self.int16
        d["int4"] = self.int4
        return d


# ----------------------------------------------------------------------------- litert-quantizer


def _scope(tensor: str) -> str:
    """The recipe regex matching exactly the op whose one output is `tensor`."""
    return "^" + re.escape(tensor + ";") + "$"


def _with_signature(float_tflite: bytes) -> tuple[bytes, list[str]]:
    """The float model with one SignatureDef ("serving_default", inputs input_0.., outputs output_0..), which
    litert-quantizer's calibration runs through (tinyq's float conversion writes none); and its input names."""
    import flatbuffers

    from tinyq.compiler.importer import schema

    m = schema.ModelT.InitFromPackedBuf(float_tflite, 0)
    if len(m.subgraphs) != 1:
        raise UnsupportedModel(f"the float model has {len(m.subgraphs)} subgraphs (control flow): --mixed needs one")
    sg = m.subgraphs[0]

    def maps(indices, prefix: str) -> list:
        out = []
        for k, i in enumerate(indices):
            t = schema.TensorMapT()
            t.name, t.tensorIndex = f"{prefix}_{k}".encode(), int(i)
            out.append(t)
        return out

    sig = schema.SignatureDefT()
    sig.inputs, sig.outputs = maps(sg.inputs, "input"), maps(sg.outputs, "output")
    sig.signatureKey, sig.subgraphIndex = b"serving_default", 0
    m.signatureDefs = [sig]
    fb = flatbuffers.Builder(len(float_tflite) + 1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output()), [f"input_{k}" for k in range(len(sg.inputs))]


def _litert_quantizer() -> None:
    try:
        import litert_quantizer  # noqa: F401 (heavy, imported on use)
    except ImportError:
        raise ToolMissing("litert-quantizer is not installed (--mixed quantizes with it): run `pip install 'tinyq[convert]'`") from None


def _min_max(old: dict, new: dict) -> dict:
    """Calibration statistics over all samples: the smallest min and the largest max (what TensorFlow's
    converter records), instead of litert-quantizer's moving average of per-sample ranges, which clips the
    rare large values a batch-1 calibration sees one sample at a time."""
    if not old:
        return new
    return dict(new, min=np.minimum(old["min"], new["min"]), max=np.maximum(old["max"], new["max"]))


@dataclass
class Calibrated:
    """The float model (with a signature) and litert-quantizer's calibration statistics of its tensors."""

    float_tflite: bytes
    stats: dict


def calibrate(float_tflite: bytes, samples: Sequence[np.ndarray], quiet: bool = True) -> Calibrated:
    """Run the float model on every calibration sample once; the statistics serve every recipe (they do not
    depend on the bits chosen: the float model runs)."""
    _litert_quantizer()
    from litert_quantizer import calibrator, qtyping, recipe_manager
    from litert_quantizer.utils import tfl_interpreter_utils as tu

    float_tflite, names = _with_signature(float_tflite)
    if len(names) != len(samples):
        raise UnsupportedModel(f"the float model has {len(names)} inputs but {len(samples)} calibration arrays")
    n = int(samples[0].shape[0])
    data = [{name: np.asarray(x[s : s + 1], dtype=np.float32) for name, x in zip(names, samples)} for s in range(n)]
    rm = recipe_manager.RecipeManager()
    rm.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, 8, 8)
    with open(os.devnull, "w") as null, cv.quiet_stderr(quiet), contextlib.redirect_stdout(null):
        try:
            cal = calibrator.Calibrator(float_tflite, num_threads=1, qsv_update_func=_min_max)
            cal.calibrate({tu.DEFAULT_SIGNATURE_KEY: data}, rm)
        except (ValueError, RuntimeError, KeyError, NotImplementedError) as e:
            raise UnsupportedModel(f"litert-quantizer cannot calibrate this model ({cv._first_line(e)}): "
                                   "convert it with --mode int8 or int16x8 instead of --mixed") from None
    return Calibrated(float_tflite, cal.get_model_qsvs())


def quantize(cal: Calibrated, int16: Sequence[str] = (), int4: Sequence[str] = (), quiet: bool = True) -> bytes:
    """litert-quantizer on the calibrated float model: int8 activations and per-channel int8 weights everywhere,
    int16 activations for the ops writing the `int16` tensors, int4 weights for those writing the `int4` ones."""
    from litert_quantizer import qtyping, quantizer

    all_ops = qtyping.TFLOperationName.ALL_SUPPORTED
    with open(os.devnull, "w") as null, cv.quiet_stderr(quiet), contextlib.redirect_stdout(null):
        qt = quantizer.Quantizer(bytearray(cal.float_tflite))
        qt.add_static_config(regex=".*", operation_name=all_ops, activation_num_bits=8, weight_num_bits=8)
        for t in int4:  # later configs win where several match
            qt.add_static_config(regex=_scope(t), operation_name=all_ops, activation_num_bits=8, weight_num_bits=4)
        for t in int16:
            qt.add_static_config(regex=_scope(t), operation_name=all_ops, activation_num_bits=16, weight_num_bits=8)
        try:
            out = qt.quantize(cal.stats, enable_progress_bar=False, enable_progress_report=False)
        except (ValueError, RuntimeError, KeyError, NotImplementedError) as e:
            raise UnsupportedModel(f"litert-quantizer cannot quantize this model per layer ({cv._first_line(e)}): "
                                   "convert it with --mode int8 or int16x8 instead of --mixed") from None
    return bytes(out.quantized_model)


def _measure(quantized: bytes, float_tflite: bytes, calib: Path, calib_limit: int | None, threshold_db: float,
             worst: int, quiet: bool) -> QuantError:
    """Per-layer SQNR of a quantized model against the float one (tinyq.quant.error), through temporary files."""
    with tempfile.TemporaryDirectory(prefix="tinyq-mixed-") as d:
        q, f = Path(d) / "quantized.tflite", Path(d) / "float.tflite"
        q.write_bytes(quantized)
        f.write_bytes(float_tflite)
        return quant_error(q, f, calib, calib_limit=calib_limit, threshold_db=threshold_db, worst=worst, quiet=quiet)


# ----------------------------------------------------------------------------- int4 -> int8 on the 4-bit grid


def int4_as_int8(data: bytes) -> bytes:
    """Every INT4 weight tensor rewritten as INT8 with the same values (-8..7) and scales, and named in the
    "tinyq.weights" metadata (bits 4, codebook "layer"); a model without INT4 tensors comes back unchanged."""
    import flatbuffers

    from tinyq.compiler.importer import schema

    m = schema.ModelT.InitFromPackedBuf(data, 0)
    t_int4, t_int8 = schema.TensorType.INT4, schema.TensorType.INT8
    named: dict[str, dict] = {}
    for sg in m.subgraphs:
        for t in sg.tensors:
            if t.type != t_int4:
                continue
            buf = m.buffers[t.buffer]
            if buf.offset:
                raise UnsupportedModel(f"INT4 tensor '{t.name.decode()}' is stored outside the flatbuffer: not supported")
            raw = np.asarray(buf.data if buf.data is not None else [], dtype=np.uint8)
            n = int(np.prod(t.shape, dtype=np.int64))
            if raw.size == n:  # one value a byte
                values = raw.astype(np.int8)
            elif raw.size == (n + 1) // 2:  # two a byte, the first in the low nibble
                nib = np.stack([raw & 0x0F, raw >> 4], axis=1).reshape(-1)[:n].astype(np.int16)
                values = np.where(nib >= 8, nib - 16, nib).astype(np.int8)
            else:
                raise UnsupportedModel(f"INT4 tensor '{t.name.decode()}' has {raw.size} bytes for {n} values")
            if values.min(initial=0) < -8 or values.max(initial=0) > 7:
                raise UnsupportedModel(f"INT4 tensor '{t.name.decode()}' holds values outside -8..7")
            buf.data = values.view(np.uint8)
            t.type = t_int8
            named[t.name.decode()] = {"bits": 4, "codebook": "layer"}
    if not named:
        return data
    meta = json.dumps({"version": 1, "tensors": dict(sorted(named.items()))}, sort_keys=True).encode()
    b = schema.BufferT()
    b.data = np.frombuffer(meta, dtype=np.uint8)
    m.buffers.append(b)
    md = schema.MetadataT()
    md.name = METADATA_NAME.encode()
    md.buffer = len(m.buffers) - 1
    m.metadata = [x for x in (m.metadata or []) if (x.name or b"").decode() != METADATA_NAME] + [md]
    fb = flatbuffers.Builder(len(data) + 4096)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


# ----------------------------------------------------------------------------- the plan


def _candidates(qe: QuantError) -> list[int]:
    """Positions in qe.layers of the flagged layers, their own loss first, then lowest SQNR."""
    picks = [k for k, L in enumerate(qe.layers)
             if L.flagged and L.index is not None and L.op not in ("QUANTIZE", "DEQUANTIZE") and L.float_tensor is not None]
    return sorted(picks, key=lambda k: (-(qe.layers[k].drop_db or 0.0), qe.layers[k].sqnr_db if qe.layers[k].sqnr_db is not None else math.inf, k))


def _better_or_close(task: str, quality: float, reference: float, tolerance: float) -> bool:
    """Accuracy within `tolerance` (a fraction, 0.01 = one point) of the float model's; RMSE within
    (1 + tolerance) times the float model's."""
    if task == "classification":
        return quality >= reference - tolerance - 1e-12
    return quality <= reference * (1.0 + tolerance) + 1e-12


def plan_mixed(lm: cv.LoadedModel, samples: Sequence[np.ndarray], calib: Path, calib_limit: int | None = None,
               ev: cv.EvalData | None = None, threshold_db: float = 20.0, worst: int = 3, max_int16: int | None = None,
               int4_min_db: float | None = INT4_MIN_DB, tolerance: float = 0.01, quiet: bool = True,
               progress: Callable[[str], None] | None = None) -> MixedPlan:
    """Choose int16 activations and int4 weights per layer (see the module's docstring) and quantize."""
    say = progress or (lambda _: None)
    say("float model")
    float_tflite = cv.convert_model(lm, None, quiet=quiet, mode="float")
    say("all-int8 model and its per-layer SQNR")
    cal = calibrate(float_tflite, samples, quiet=quiet)
    int8 = quantize(cal, quiet=quiet)
    base = _measure(int8, float_tflite, calib, calib_limit, threshold_db, worst, quiet)
    layers = [LayerPlan(index=L.index, op=L.op, tensor=L.float_tensor, sqnr_int8_db=L.sqnr_db, loss_int8_db=L.drop_db,
                        flagged=L.flagged, weights="int8" if L.op in INT4_KINDS else None)
              for L in base.layers if L.index is not None and L.float_tensor is not None and L.op not in ("QUANTIZE", "DEQUANTIZE")]
    by_tensor = {L.tensor: L for L in layers}
    graph = _graph(float_tflite)
    groups: list[tuple[str, list[str]]] = []  # (flagged tensor, the ops made int16 for it), in the order tried
    kept: dict[str, str] = {}  # flagged tensor -> why it stays int8
    for k in _candidates(base):
        t = base.layers[k].float_tensor
        ops, bad = _int16_group(graph, t)
        if base.layers[k].op in _PASS_THROUGH:
            kept[t] = f"{base.layers[k].op} passes its input's values through"
        elif base.layers[k].op not in INT16_KINDS:
            kept[t] = f"{base.layers[k].op} stays int8 in --mixed"
        elif bad:
            kept[t] = bad
        elif max_int16 is not None and len(groups) >= max_int16:
            kept[t] = f"past --max-int16 {max_int16}"
        else:
            groups.append((t, ops))

    steps: list[Step] = []
    task = ev.task if ev is not None else None
    float_q = int8_q = q16 = None

    def quality(data: bytes) -> float:
        with cv.quiet_stderr(quiet):
            r = cv.evaluate(lm, data, ev)
        return r.int8_accuracy if r.task == "classification" else r.int8_rmse

    if ev is not None:
        say("evaluating the float and all-int8 models")
        with cv.quiet_stderr(quiet):
            r = cv.evaluate(lm, int8, ev)
        float_q = r.float_accuracy if r.task == "classification" else r.float_rmse
        int8_q = r.int8_accuracy if r.task == "classification" else r.int8_rmse
        steps.append(Step([], [], int8_q))

    # int16 activations: a flagged tensor goes int16 with its producer and every reader (through reshapes), or
    # its int16 values would be requantized to int8 before any use. Every candidate; with evaluation data, the
    # fewest (in order) that bring the accuracy within the tolerance.
    chosen: list[tuple[str, list[str]]] = []
    int16: list[str] = []
    q16 = int8_q
    for t, ops in groups:
        if t in int16:
            continue  # a reader of an earlier choice: int16 already
        if ev is not None:
            if _better_or_close(task, q16, float_q, tolerance):
                kept[t] = "the accuracy was within the tolerance without it"
                continue
        chosen.append((t, ops))
        int16 += [o for o in ops if o not in int16]
        if ev is not None:
            say(f"trying int16 activations for {len(int16)} layer(s)")
            q16 = quality(quantize(cal, int16=int16, quiet=quiet))
            steps.append(Step(list(int16), [], q16))
    for k, (t, ops) in enumerate(chosen, 1):
        for o in ops:
            L = by_tensor.get(o)
            if L is None:
                continue
            L.activations = "int16"
            if o == t:
                L.why.append(f"int16 activations #{k}: flagged ({_reason(base, t)})")
            elif not L.why:  # the first choice that reads it; a flagged reader says so
                flag = f", flagged too ({_reason(base, o)})" if L.flagged else ""
                L.why.append(f"int16 activations #{k}: reads {_short(t)}{flag}")
    for t, why in kept.items():
        if by_tensor[t].activations == "int8":  # not int16 as the reader of a choice
            by_tensor[t].why.append(f"flagged, kept int8: {why}")

    # int4 weights: measured with every candidate int4 at once, kept where the layer stays above int4_min_db.
    int4: list[str] = []
    if int4_min_db is not None:
        trial = [L.tensor for L in layers if L.op in INT4_KINDS and L.activations == "int8"]
        if trial:
            say("int4 weights trial and its per-layer SQNR")
            measured = _measure(quantize(cal, int16=int16, int4=trial, quiet=quiet), float_tflite, calib,
                                calib_limit, threshold_db, worst, quiet)
            sqnr4 = {L.float_tensor: L.sqnr_db for L in measured.layers
                     if L.float_tensor is not None and L.index is not None and L.op not in ("QUANTIZE", "DEQUANTIZE")}
            for t in trial:
                L = by_tensor[t]
                L.sqnr_int4_db = sqnr4.get(t)
                if L.sqnr_int4_db is not None and L.sqnr_int4_db >= int4_min_db:
                    int4.append(t)
                else:
                    shown = "not measured" if L.sqnr_int4_db is None else f"{L.sqnr_int4_db:.1f} dB"
                    L.why.append(f"weights int8: with int4 weights {shown}, under {int4_min_db:g} dB")
    final = quantize(cal, int16=int16, int4=int4, quiet=quiet) if (int16 or int4) else int8
    mixed_q = None
    if ev is not None:
        mixed_q = quality(final) if int4 else q16
        if int4:
            steps.append(Step(list(int16), list(int4), mixed_q))
        # Give int4 layers back to int8, lowest int4 SQNR first, while int4 costs the accuracy int16 reached.
        order = sorted(int4, key=lambda t: (by_tensor[t].sqnr_int4_db, t))
        while int4 and not _better_or_close(task, mixed_q, float_q, tolerance) and _better_or_close(task, q16, float_q, tolerance):
            t = order.pop(0)
            int4.remove(t)
            by_tensor[t].why.append("weights int8: int4 cost accuracy on the evaluation data")
            say(f"trying int4 weights for {len(int4)} layer(s)")
            final = quantize(cal, int16=int16, int4=int4, quiet=quiet) if (int16 or int4) else int8
            mixed_q = quality(final) if int4 else q16
            steps.append(Step(list(int16), list(int4), mixed_q))
    for t in int4:
        L = by_tensor[t]
        L.weights = "int4"
        L.why.append(f"int4 weights: {L.sqnr_int4_db:.1f} dB with them, at least {int4_min_db:g} dB")
    return MixedPlan(
        calibration={"file": str(calib), "samples": int(samples[0].shape[0])}, threshold_db=threshold_db, worst=worst,
        int4_min_db=int4_min_db, tolerance=tolerance if ev is not None else None, task=task, float_quality=float_q,
        int8_quality=int8_q, mixed_quality=mixed_q, layers=layers, steps=steps, model=int4_as_int8(final),
    )


# Ops that pass their input's values through unchanged: an int16 tensor's readers are found through them.
_PASS_THROUGH = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


@dataclass
class _GOp:
    kind: str
    inputs: list[str]
    outputs: list[str]


def _graph(float_tflite: bytes) -> list[_GOp]:
    """The float model's ops by tensor name (the names litert-quantizer's recipes match, and keeps)."""
    from tinyq.compiler.importer import op_names, schema

    m = schema.ModelT.InitFromPackedBuf(float_tflite, 0)
    sg, kinds = m.subgraphs[0], op_names()

    def names(ix) -> list[str]:
        return [sg.tensors[i].name.decode() for i in (ix if ix is not None else []) if i >= 0]

    ops = []
    for o in sg.operators or []:
        code = m.operatorCodes[o.opcodeIndex]
        ops.append(_GOp(kinds.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "?"), names(o.inputs), names(o.outputs)))
    return ops


def _int16_group(graph: list[_GOp], tensor: str) -> tuple[list[str], str | None]:
    """The ops (by output tensor) that must go int16 for `tensor` to stay int16 until it is used: its producer
    and its readers, through pass-through ops; or why it cannot (a reader with no int16 form here)."""
    producer = next((op for op in graph if tensor in op.outputs), None)
    if producer is None or len(producer.outputs) != 1:
        return [], "its op has several outputs"
    group, todo = [tensor], [tensor]
    while todo:
        x = todo.pop(0)
        for op in graph:
            if x not in op.inputs or op.outputs[0] in group:
                continue
            if len(op.outputs) != 1 or op.kind not in (*INT16_KINDS, *_PASS_THROUGH):
                return [], f"its reader {_short(op.outputs[0])} ({op.kind}) stays int8 in --mixed"
            group.append(op.outputs[0])
            if op.kind in _PASS_THROUGH:
                todo.append(op.outputs[0])
    return group, None


def _short(tensor: str) -> str:
    from tinyq.quant.error import short_name

    return short_name(tensor)


def _reason(qe: QuantError, tensor: str) -> str:
    L = next(x for x in qe.layers if x.float_tensor == tensor)
    return "; ".join(L.reasons)


def check_mixed_options(threshold_db: float, worst: int, max_int16: int | None, int4_min_db: float | None,
                        tolerance: float) -> None:
    if worst < 0:
        raise BadInput(f"--worst {worst}: give zero or a positive number of layers")
    if max_int16 is not None and max_int16 < 0:
        raise BadInput(f"--max-int16 {max_int16}: give zero or a positive number of layers")
    if not 0.0 <= tolerance < 1.0:
        raise BadInput(f"--tolerance {tolerance}: give a fraction in [0, 1), e.g. 0.01 for one point of accuracy")
    for name, v in (("--sqnr-threshold", threshold_db), ("--int4-min-sqnr", int4_min_db)):
        if v is not None and not math.isfinite(v):
            raise BadInput(f"{name} {v}: give a finite number of dB")
