"""Bit-exactness check: generated C (host compiler) against TFLite's reference interpreter.

Integer models must match bit for bit. A float32 model (tinyq/ops/float32.py) must match within
FLOAT_TOLERANCE: its kernels sum in the reference kernels' order, so on the host the outputs are
usually identical, but the boards' C library (newlib) rounds expf / tanhf differently from glibc's by
an ulp or so (SOFTMAX, LOGISTIC, TANH), and an error may grow through the layers after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyq.compiler.pipeline import generate_library
from tinyq.errors import BadInput
from tinyq.build.host import HostModel
from tinyq.compiler.importer import NUMPY_DTYPES, quant_mode
from tinyq.ir import Graph, Tensor
from tinyq.checks.reference import Reference, tflm_arena_bytes


# A float32 model's output element passes when |got - want| <= FLOAT_TOLERANCE * max(1, |want|). Measured
# (tests/test_float_models.py): 0 on the host, at most ~1e-7 on qemu-m4 (newlib's expf), so 1e-5
# leaves room for deeper models while any wrong index, weight or activation is far outside it.
FLOAT_TOLERANCE = 1e-5


def output_tolerance(g: Graph) -> float | None:
    """FLOAT_TOLERANCE for a model that computes in float32; None (bit for bit) for integer models,
    float-io ones included (their QUANTIZE / DEQUANTIZE edges are exact)."""
    return FLOAT_TOLERANCE if quant_mode(g) == "float" else None


@dataclass
class Compared:
    """One output against the reference: identical bits, the first element out of tolerance (None:
    all within; without a tolerance, the first that differs) and the largest differences."""

    identical: bool
    first_bad: int | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0  # largest |got - want| / |want| over the elements with want != 0


def compare_output(got: np.ndarray, want: np.ndarray, tolerance: float | None) -> Compared:
    a = np.asarray(got).reshape(-1)
    b = np.asarray(want).reshape(-1).astype(a.dtype)
    if a.tobytes() == b.tobytes():
        return Compared(True)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(np.isnan(a64) & np.isnan(b64), 0.0, np.abs(a64 - b64))
        diff = np.where(a64 == b64, 0.0, diff)  # equal infinities
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN against a number
        rel = np.where(b64 != 0, diff / np.abs(b64), 0.0)
    if tolerance is None:
        bad = ~_same(a, b)
    else:
        bad = ~(diff <= tolerance * np.maximum(1.0, np.abs(b64)))
    first = int(np.flatnonzero(bad)[0]) if bad.any() else None
    return Compared(False, first, float(diff.max()), float(rel.max()))


def tolerance_text(tolerance: float) -> str:
    return f"|diff| <= {tolerance:g} x max(1, |ref|)"


@dataclass
class Divergence:
    sample: int
    output: int
    index: int  # flat index of the first differing element
    got: float
    want: float
    layer: int | None = None  # first layer whose output differs
    layer_kind: str | None = None
    tensor: str | None = None


@dataclass
class VerifyResult:
    model: str
    samples: int
    mismatches: int = 0
    max_abs_diff: float = 0.0
    arena_bytes: int = 0
    arena_lower_bound: int = 0
    tflm_arena_bytes: int | None = None
    first: Divergence | None = None
    edge_samples: int = 0
    layers: int = 0
    board: str | None = None  # None: the host; else the emulated board the C ran on
    tolerance: float | None = None  # float32 models: see FLOAT_TOLERANCE; None: bit for bit
    differing: int = 0  # inputs with an output not bit-identical (within the tolerance or not)
    max_rel_diff: float = 0.0

    @property
    def passed(self) -> bool:
        """Every input bit-exact, or within the tolerance for a float32 model."""
        return self.mismatches == 0

    @property
    def bit_exact(self) -> bool:
        return self.mismatches == 0 and self.differing == 0

    def to_json(self) -> dict:
        d = {
            "model": self.model,
            "bit_exact": self.bit_exact,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "differing": self.differing,
            "max_rel_diff": self.max_rel_diff,
            "samples": self.samples,
            "edge_samples": self.edge_samples,
            "mismatches": self.mismatches,
            "max_abs_diff": self.max_abs_diff,
            "arena_bytes": self.arena_bytes,
            "arena_lower_bound": self.arena_lower_bound,
            "tflm_arena_bytes": self.tflm_arena_bytes,
            "layers": self.layers,
            "board": self.board,
            "first_mismatch": None,
        }
        if self.first is not None:
            f = self.first
            d["first_mismatch"] = {
                "sample": f.sample,
                "output": f.output,
                "index": f.index,
                "got": f.got,
                "want": f.want,
                "layer": f.layer,
                "op": f.layer_kind,
                "tensor": f.tensor,
            }
        return d

    def summary(self) -> str:
        where = f" on {self.board}" if self.board else ""
        within = f" (float32 model: {tolerance_text(self.tolerance)})" if self.tolerance is not None else ""
        if self.bit_exact:
            return f"bit-exact{where}: {self.samples} inputs, every output identical{within}"
        if self.passed:
            return (f"within tolerance{where}: {self.samples} inputs, {self.differing} not bit-identical; max |diff| "
                    f"{self.max_abs_diff:.3g}, max relative {self.max_rel_diff:.3g}{within}")
        f = self.first
        layer = f"layer {f.layer} ({f.layer_kind}, tensor '{f.tensor}')" if f and f.layer is not None else "an unknown layer"
        verdict = f"NOT within tolerance{within}" if self.tolerance is not None else "NOT bit-exact"
        return (
            f"{verdict}{where}: {self.mismatches} of {self.samples} inputs differ (max |diff| {self.max_abs_diff:g}); "
            f"first at input {f.sample}, output {f.output}[{f.index}]: got {f.got:g}, want {f.want:g}; "
            f"first diverging: {layer}"
        )


def make_inputs(g: Graph, samples: int, seed: int = 0) -> tuple[list[list[np.ndarray]], int]:
    """`samples` random inputs plus edge inputs (all min, all max, all zero point)."""
    rng = np.random.default_rng(seed)
    tensors = [g.tensor(i) for i in g.inputs]
    out: list[list[np.ndarray]] = []
    edges = [_edge(t, "min") for t in tensors], [_edge(t, "max") for t in tensors], [_edge(t, "zp") for t in tensors]
    for e in edges:
        out.append(list(e))
    for _ in range(samples):
        out.append([_random(t, rng) for t in tensors])
    return out, len(edges)


def _qrange(t: Tensor) -> tuple[int, int]:
    info = np.iinfo(t.dtype) if t.dtype != "float32" else np.iinfo(np.int8)
    return int(info.min), int(info.max)


def _random(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    if t.dtype == "float32":
        # Spread over the range the model's QUANTIZE maps to int8, with sub-step jitter.
        s, zp = _float_edge_params(t)
        q = rng.integers(-128, 128, size=t.shape).astype(np.float32)
        jitter = rng.uniform(-0.5, 0.5, size=t.shape).astype(np.float32)
        return ((q - zp + jitter) * s).astype(np.float32)
    lo, hi = _qrange(t)
    return rng.integers(lo, hi + 1, size=t.shape, dtype=np.int64).astype(NUMPY_DTYPES[t.dtype])


def _float_edge_params(t: Tensor) -> tuple[float, float]:
    q = getattr(t, "edge_quant", None)
    if q is not None:
        return q
    return (1.0 / 32.0, 0.0)


def _edge(t: Tensor, which: str) -> np.ndarray:
    if t.dtype == "float32":
        s, zp = _float_edge_params(t)
        v = {"min": (-128 - zp) * s, "max": (127 - zp) * s, "zp": 0.0}[which]
        return np.full(t.shape, v, dtype=np.float32)
    lo, hi = _qrange(t)
    zp = t.quant.zp if t.quant else 0
    v = {"min": lo, "max": hi, "zp": zp}[which]
    return np.full(t.shape, v, dtype=NUMPY_DTYPES[t.dtype])


def _attach_float_edges(g: Graph) -> None:
    """For float inputs, remember the scale of the QUANTIZE that consumes them (for realistic data)."""
    consumers = g.consumers()
    for i in g.inputs:
        t = g.tensor(i)
        if t.dtype != "float32":
            continue
        for op in consumers.get(i, []):
            if op.kind == "QUANTIZE":
                q = g.tensor(op.outputs[0]).quant
                if q is not None:
                    t.edge_quant = (q.s, float(q.zp))  # type: ignore[attr-defined]


def load_inputs(path: Path, g: Graph) -> list[list[np.ndarray]]:
    """User inputs from .npy (samples x input shape, first input) or .npz (one array per input)."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                # An evaluation set (x, y) gives its x; labels are read by load_labels.
                keys = ["x"] if "x" in z.files else [k for k in z.files if k != "y"]
                arrays = [z[k] for k in keys]
        else:
            arrays = [np.load(path)]
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file: check the --inputs path") from None
    except Exception:
        raise BadInput(f"{path} is not a readable .npy/.npz file: save inputs with numpy.save") from None
    tensors = [g.tensor(i) for i in g.inputs]
    if len(arrays) != len(tensors):
        raise BadInput(f"{path} holds {len(arrays)} arrays but the model has {len(tensors)} inputs: give one array per input")
    out: list[list[np.ndarray]] = []
    for k, (a, t) in enumerate(zip(arrays, tensors)):
        if a.ndim == len(t.shape) and tuple(a.shape[1:]) == tuple(t.shape[1:]):
            pass
        elif tuple(a.shape[1:]) == tuple(t.shape):
            a = a.reshape((a.shape[0],) + tuple(t.shape[1:]) if t.shape else (a.shape[0],))
        else:
            raise BadInput(
                f"{path}: input {k} has shape {tuple(a.shape)} but the model expects (N, {', '.join(map(str, t.shape[1:]))}): reshape the samples"
            )
        if t.dtype != "float32" and a.dtype.kind == "f":
            # As TFLite's QUANTIZE (and `tinyq convert --eval`): float32 divide, round half away from zero.
            q = t.quant
            v = a.astype(np.float32) / np.float32(q.s)
            r = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int64)
            a = np.clip(r + q.zp, *_qrange(t)).astype(NUMPY_DTYPES[t.dtype])
        for n in range(a.shape[0]):
            if len(out) <= n:
                out.append([])
            out[n].append(a[n : n + 1].astype(NUMPY_DTYPES[t.dtype]))
    return out


def load_labels(path: Path) -> np.ndarray | None:
    """Class ids from an .npz evaluation set's `y`, if it has one."""
    path = Path(path)
    if path.suffix != ".npz":
        return None
    with np.load(path) as z:
        return np.asarray(z["y"]).reshape(-1) if "y" in z.files else None


def verify_tflite(
    path: Path,
    samples: int = 100,
    inputs: Path | None = None,
    seed: int = 0,
    tflm: bool = False,
    progress=None,
    kernels: str = "fast",
    wide: bool = False,
) -> VerifyResult:
    """Generate C for `path`, run it on the host and compare with the reference interpreter."""
    path = Path(path)
    from tinyq.compiler.target import target_for

    gen = generate_library(path, name="tq_model", target=target_for(kernels, wide=wide))
    g = gen.graph
    _attach_float_edges(g)
    host = HostModel(gen, "tq_model")
    ref = Reference(path)
    try:
        if inputs is not None:
            batch, n_edge = load_inputs(inputs, g), 0
        else:
            batch, n_edge = make_inputs(g, samples, seed)
        res = VerifyResult(
            model=str(path),
            samples=len(batch),
            edge_samples=n_edge,
            arena_bytes=g.arena_size,
            arena_lower_bound=g.arena_lower_bound,
            layers=len(g.ops),
            tolerance=output_tolerance(g),
        )
        for n, x in enumerate(batch):
            got, _ = host.run(x)
            want = ref.run(x, g.inputs, g.outputs)
            bad = differs = False
            for k, (a, b) in enumerate(zip(got, want)):
                c = compare_output(a, b, res.tolerance)
                if c.identical:
                    continue
                differs = True
                res.max_abs_diff = max(res.max_abs_diff, c.max_abs)
                res.max_rel_diff = max(res.max_rel_diff, c.max_rel)
                if c.first_bad is None:
                    continue
                bad = True
                if res.first is None:
                    j = c.first_bad
                    a, b = a.reshape(-1), np.asarray(b).reshape(-1)
                    res.first = Divergence(sample=n, output=k, index=j, got=float(a[j]), want=float(b[j]))
                    _locate(host, ref, g, x, res.first, res.tolerance)
            res.mismatches += int(bad)
            res.differing += int(differs)
            if progress is not None:
                progress(n + 1, len(batch))
        if tflm:
            res.tflm_arena_bytes = tflm_arena_bytes(path)
        return res
    finally:
        host.close()


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b.astype(a.dtype)
    if a.dtype.kind == "f":
        return a.view(np.uint32 if a.itemsize == 4 else np.uint64) == b.view(np.uint32 if b.itemsize == 4 else np.uint64)
    return a == b


def _locate(host: HostModel, ref: Reference, g: Graph, x: list[np.ndarray], d: Divergence, tolerance: float | None = None) -> None:
    """Re-run one input with per-layer tracing; name the first layer whose output differs (beyond
    the tolerance, for a float32 model)."""
    ref.run(x, g.inputs, g.outputs)
    _, trace = host.run(x, trace=True)
    for op in g.ops:
        if op.index not in trace:
            continue
        t = g.tensor(op.call.outputs[0])
        mine = np.frombuffer(trace[op.index], dtype=NUMPY_DTYPES[t.dtype])
        try:
            theirs = np.asarray(ref.tensor(t.index)).reshape(-1)
        except Exception:
            continue
        if mine.size != theirs.size or compare_output(mine, theirs, tolerance).first_bad is not None:
            d.layer, d.layer_kind, d.tensor = op.index, op.kind, t.name
            return


def verify_on_board(path: Path, board_name: str, samples: int = 100, inputs: Path | None = None, seed: int = 0,
                    progress=None, kernels: str = "fast", wide: bool = False) -> VerifyResult:
    """Build `path` for an emulated board, run the inputs on the core and compare with the reference."""
    import tempfile

    from tinyq.boards import get_board
    from tinyq.build.firmware import build
    from tinyq.checks.profile import run_on_device

    board = get_board(board_name)
    if not board.emulated:
        raise BadInput(
            f"board {board.name} is real hardware: build it (`tinyq build {path} --board {board.name}`), flash it, "
            "then `tinyq profile BUILD --port PORT` checks it bit for bit"
        )
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tinyq-verify-") as tmp:
        built = build(path, board, Path(tmp) / "build", command=f"tinyq verify {path} --board {board.name}", kernels=kernels, wide=wide)
        run = run_on_device(built.out_dir, board.name, runs=samples, inputs=inputs, seed=seed, edges=True, progress=progress)
    res = VerifyResult(
        model=str(path), samples=run.samples, edge_samples=0 if inputs is not None else 3, mismatches=run.mismatches,
        arena_bytes=built.manifest["arena_bytes"], arena_lower_bound=built.manifest["arena_lower_bound"],
        layers=len(built.manifest["layers"]), tolerance=run.tolerance, differing=run.differing,
        max_abs_diff=run.max_abs_diff, max_rel_diff=run.max_rel_diff,
    )
    if run.first_mismatch is not None:
        f = run.first_mismatch
        res.first = Divergence(sample=f["sample"], output=f["output"], index=f["index"], got=f["got"], want=f["want"])
    res.board = board.name
    res.tflm_arena_bytes = tflm_arena_bytes(path)
    return res
