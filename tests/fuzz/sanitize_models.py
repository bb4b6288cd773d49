"""The generated C under AddressSanitizer and UndefinedBehaviorSanitizer (issue 17, item 4): models of
every kernel family compiled for the host as sanitized programs (tinyq.build.sanitize), run on the edge
inputs (every input at its type's least value: -128 for int8; at its greatest: 127; at its zero point)
and random ones (tinyq.checks.inputs.make_inputs), each output compared with TFLite's reference
interpreter, with the fast and the reference kernel sets.

    python -m tests.fuzz.sanitize_models             # every model below, 24 random inputs each (make sanitize)
    python -m tests.fuzz.sanitize_models --quick     # the few tests/test_sanitize.py runs

The models (`catalogue`): the shared kws and ResNet-8, the composite models of build/sweep_models (where
`make sweep` converted them), the quick shape sweep's layers (CONV_2D 1x1/3x3 stride 1/2 same/valid,
DEPTHWISE_CONV_2D multiplier 1/2, FULLY_CONNECTED per-tensor/per-channel with weight zero points,
pooling, ADD; int8 and int16) in one model per type, and the per-op test models of the other families
(activations and lookup tables, quantize/dequantize, unary and reductions, PRELU, binary ops, layout,
slicing, ARG_MAX/L2/BATCH_MATMUL, resize, SVDF and LSTM with their state over a sequence, float islands).
A finding (a sanitizer report, an output that differs from the reference) is printed with its report
and fails the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = ROOT.parent / "shared" / "models"


def _rows(dtype: str) -> bytes:
    from tinyq.checks.sweep import sweep_rows
    from tinyq.checks.synth import rows_model

    return rows_model([r for r in sweep_rows(quick=True) if r["dtype"] == dtype], seed=3)


def _net(builder: Callable, *args) -> Callable[[], bytes]:
    def make() -> bytes:
        net = builder(*args)
        return (net[0] if isinstance(net, tuple) else net).bytes()
    return make


def _packed(which: str) -> bytes:
    """tests/test_packed_weights.py's sweep model `which` (conv + FC, or depthwise; INT4, per-layer and
    per-channel palettes of 1, 2 and 4 bits, with its tinyq.weights metadata), as bytes."""
    from .. import test_packed_weights as pw

    m = pw.sweep_model(1, pw.FC + pw.CONV) if which == "convfc" else pw.sweep_model(2, pw.DW)
    with tempfile.TemporaryDirectory(prefix="tinyq-packed-") as d:
        return m.write(Path(d) / f"{which}.tflite").read_bytes()


def catalogue(quick: bool = False) -> dict[str, Callable[[], bytes]]:
    """Model name -> a function giving its .tflite bytes."""
    from tinyq.checks.synth import one_op_model, tensor_spec

    from .. import test_ops_activation as ac
    from .. import test_ops_argmax_matmul as am
    from .. import test_ops_binary as bi
    from .. import test_ops_layout as lay
    from .. import test_ops_lstm as lstm
    from .. import test_ops_resize as rs
    from .. import test_ops_slicing as sl
    from .. import test_ops_svdf as svdf
    from .. import test_ops_unary_reduce as ur
    from ..helpers import single_op_model

    def shared(name: str) -> Callable[[], bytes]:
        return lambda: (SHARED / name).read_bytes()

    def quant(kind: str, src, dst) -> Callable[[], bytes]:
        return lambda: one_op_model(kind, [tensor_spec((1, 4, 6, 5), src[0], src[1])], [tensor_spec((1, 4, 6, 5), dst[0], dst[1])])

    def act(kind: str, dtype: str, in_q, out_q, opts=(None, 0)) -> Callable[[], bytes]:
        return lambda: single_op_model(kind, (1, 37), in_q, out_q, *opts, dtype=dtype.upper())

    models: dict[str, Callable[[], bytes]] = {
        "kws": shared("kws_ref_model.tflite"),
        "rows_int8": lambda: _rows("int8"),
        "rows_int16": lambda: _rows("int16"),
        "svdf_int8": _net(svdf.svdf_net, np.random.default_rng(5), "int8", 2, 7, 4, 2, 5),
        "lstm_projection": _net(lstm.case_net, "projection_layer_norm"),
        "layout_int8": _net(lay._mixed_net, "int8"),
        "softmax_int8": act("SOFTMAX", "int8", (0.1, 3), (1.0 / 256, -128), ac.softmax_options(1.0)),
        **{f"packed_{w}": (lambda w=w: _packed(w)) for w in ("convfc", "dw")},
    }
    if quick:
        return models
    models.update({
        "resnet8": shared("pretrainedResnet_quant.tflite"),
        **{f"sweep_{p.stem}": (lambda p=p: p.read_bytes()) for p in sorted((ROOT / "build" / "sweep_models").glob("*.tflite"))},
        "golden_small": lambda: (ROOT / "tests" / "golden" / "small.tflite").read_bytes(),
        "svdf_float32": _net(svdf.svdf_net, np.random.default_rng(6), "float32", 1, 9, 3, 1, 4),
        **{f"lstm_{c}": _net(lstm.case_net, c) for c in ("plain", "cifg", "peephole", "layer_norm_cifg", "clips", "hidden_zp")},
        "layout_int16": _net(lay._mixed_net, "int16"),
        "layout_float32": _net(lay._mixed_net, "float32"),
        **{f"slicing_{d}": _net(sl._mixed_net, d) for d in sl.DTYPES},
        **{f"argmax_{d}": _net(am._arg_net, d) for d in ("int8", "float32")},
        **{f"l2_{d}": _net(am._l2_net, d, 0) for d in ("int8", "float32")},
        **{f"bmm_{d}": _net(am._bmm_net, d, 0) for d in ("int8", "int16", "float32")},
        **{f"resize_{k}_{d}": _net(rs.sweep_net, k, d, rs.GEOMETRY[:4], range(1, 4))
           for k in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") for d in ("int8", "int16")},
        **{f"binary_{k}_{d}": (lambda k=k, d=d: bi.binary_ops_model(k, bi.sweep_cases(k, d, 1, edge=True)))
           for k in ("ADD", "SUB", "MUL") for d in ("int8", "int16")},
        **{f"binary_{k}_int8": (lambda k=k: bi.binary_ops_model(k, bi.sweep_cases(k, "int8", 2, edge=False)))
           for k in ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE")},
        "logistic_int8": act("LOGISTIC", "int8", (0.1, 3), (1.0 / 256, -128)),
        "tanh_int8": act("TANH", "int8", (0.08, -5), (1.0 / 128, 0)),
        "logistic_int16": act("LOGISTIC", "int16", (0.001, 0), (1.0 / 32768, 0)),
        "tanh_int16": act("TANH", "int16", (0.001, 0), (1.0 / 32768, 0)),
        "softmax_int16": act("SOFTMAX", "int16", (0.001, 0), (1.0 / 32768, 0), ac.softmax_options(1.0)),
        "hard_swish_int8": act("HARD_SWISH", "int8", (0.05, -10), (0.04, -20)),
        "leaky_relu_int8": act("LEAKY_RELU", "int8", (0.05, -10), (0.03, 5), ur._options("LEAKY_RELU", alpha=0.2)),
        "relu_int8": act("RELU", "int8", (0.05, -10), (0.03, -128)),
        "abs_int8": act("ABS", "int8", (0.05, -10), (0.03, -128)),
        "neg_int16": act("NEG", "int16", (0.001, 0), (0.001, 0)),
        "prelu_int8": lambda: ur.prelu_model("int8", (1, 3, 4, 5), np.arange(-2, 3, dtype=np.int8).reshape(1, 1, 5),
                                             (0.05, -3), (0.1, 1), (0.04, 7)),
        "mean_int8": lambda: ur.reduce_model("MEAN", "int8", (1, 5, 6, 7), [1, 2], True, (0.05, -3), (0.03, 4)),
        "sum_float32": lambda: ur.reduce_model("SUM", "float32", (1, 5, 6, 7), [2], False),
        "quantize_s8_s16": quant("QUANTIZE", ("int8", (0.05, -3)), ("int16", (0.0007, 0))),
        "quantize_s16_s8": quant("QUANTIZE", ("int16", (0.0007, 0)), ("int8", (0.05, -3))),
        "requantize_s8": quant("QUANTIZE", ("int8", (0.05, -3)), ("int8", (0.02, 11))),
        "dequantize_s8": quant("DEQUANTIZE", ("int8", (0.05, -3)), ("float32", None)),
        "quantize_f32": quant("QUANTIZE", ("float32", None), ("int8", (0.05, -3))),
    })
    return models


@dataclass
class Outcome:
    model: str
    kernels: str
    inputs: int
    seconds: float
    finding: str | None

    def line(self) -> str:
        verdict = "no finding, outputs equal the reference" if self.finding is None else f"FINDING: {self.finding}"
        return f"{self.model} [{self.kernels}]: {self.inputs} inputs ({self.seconds:.1f} s): {verdict}"


def check(name: str, model: bytes, kernels: str, samples: int, workdir: Path, seed: int = 0) -> Outcome:
    """One model with one kernel set under the sanitizers: the edge inputs, then `samples` random ones."""
    from tinyq.build.sanitize import SanitizedHost
    from tinyq.checks.inputs import attach_float_edges, make_inputs
    from tinyq.checks.match import Tally, output_tolerance
    from tinyq.checks.runners import HostRunner, ReferenceRunner, run_and_compare
    from tinyq.compiler import generate_library, state_size, target_for
    from tinyq.errors import TinyqError

    t0 = time.monotonic()
    out = workdir / f"{name}-{kernels}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.tflite"
    path.write_bytes(model)
    gen = generate_library(path, name="tq_model", target=target_for(kernels))
    g = gen.graph
    attach_float_edges(g)
    batch, _ = make_inputs(g, samples, seed)
    host = SanitizedHost(gen, "tq_model", workdir=out / "src")
    finding = None
    try:
        tally = run_and_compare(HostRunner(host), ReferenceRunner(path, g), batch, Tally(output_tolerance(g)),
                                stateful=state_size(g) > 0)
        host.close()
        if tally.mismatches:
            finding = f"outputs differ from the reference: {tally.mismatches} of {tally.samples} inputs, first {tally.first}"
    except TinyqError as e:
        finding = str(e)
    return Outcome(name, kernels, len(batch), time.monotonic() - t0, finding)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the in-suite set only")
    ap.add_argument("--samples", type=int, default=24, help="random inputs per model (after the 3 edge inputs)")
    ap.add_argument("--only", action="append", help="model names to run (default: all)")
    a = ap.parse_args(argv)
    models = catalogue(a.quick)
    names = a.only or list(models)
    t0, runs, findings = time.monotonic(), 0, []
    with tempfile.TemporaryDirectory(prefix="tinyq-sanitize-") as tmp:
        for name in names:
            model = models[name]()
            for kernels in ("fast", "ref"):
                res = check(name, model, kernels, a.samples, Path(tmp))
                print(res.line(), flush=True)
                runs += res.inputs
                if res.finding is not None:
                    findings.append(res)
    print(f"sanitized: {len(names)} models x 2 kernel sets, {runs} inferences in {time.monotonic() - t0:.0f} s, "
          f"{len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
