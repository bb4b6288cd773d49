"""Compare builds of one Keras model (float32, int8, int16x8, mixed, int4, k-means, binary) on one board, all measured.

Each variant is converted from the same model (the calibrated ones on the same samples), built for
the board, and run there over the serial protocol on the evaluation inputs: flash and RAM come from
the linked ELF, cycles (instructions under QEMU -icount) and milliseconds at the board's clock from
the device's counter, and accuracy (or RMSE) from the outputs the device sent back, which are also
checked against TFLite's reference interpreter (bit for bit, or within the float tolerance for
float32).

The variants are a table (`VARIANT_TABLE`: name -> how to convert): a new convert mode is one row.
Besides TensorFlow's float32, int8 and int16x8 there are the low-bit rows of `tinyq convert`: `mixed`
(`--mixed`: int16 activations for the flagged layers, int4 weights where the error allows, planned with
the calibration samples and the evaluation inputs the table scores), `int4` (`--weight-bits 4`: INT4
weight tensors), `kmeans4` / `kmeans2` (`--palette 4` / `2`: 16 / 4 k-means centroids per layer) and
`binary` (`--weight-bits 1`, snapped after training). Each is the .tflite convert writes, built as `tinyq
build` builds it (low-bit weights packed in flash by default), and checked bit for bit against the
reference interpreter on that same file; the row lists the weight tensors the build packed.

Energy per inference, where a board's file documents its run current (`energy`): time per inference
x run current x supply voltage, in microjoules. The time is the board's measured cycles on real
hardware; on an emulated board, the cycle estimate of tinyq.checks.cycles on the real board it
stands for (or `energy_for`) where that has one for the core, else the instructions QEMU counted,
each at the real board's clock.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tinyq.boards import Board, energy_board
from tinyq.build.firmware import build
from tinyq.build.manifest import Manifest
from tinyq.checks.cycles import CORES as ESTIMATED_CORES
from tinyq.checks.cycles import estimate_build
from tinyq.checks.profile import run_on_device
from tinyq.errors import BadInput
from tinyq.ir import Graph
from tinyq.quant import convert as cv


@dataclass(frozen=True)
class Sources:
    """What a variant's conversion may use: the loaded model, the calibration samples (None for an
    uncalibrated variant) and their file, and the evaluation inputs the table scores."""

    lm: cv.LoadedModel
    samples: list[np.ndarray] | None
    calib: Path
    calib_limit: int | None
    ev: cv.EvalData
    quiet: bool = True


# convert(sources) -> (.tflite bytes, notes for the reader: fallbacks the conversion took, one line each)
ConvertFn = Callable[[Sources], tuple[bytes, list[str]]]


@dataclass(frozen=True)
class Variant:
    """One column of the comparison: how to make its .tflite from the Keras model."""

    convert: ConvertFn
    calibrated: bool  # gets the calibration samples (None otherwise)
    needs_fpu: bool = False  # float builds: skipped, with the reason, on a board without an FPU
    description: str = ""  # what the row is, in one line (`tinyq convert`'s options that write it)


def _tf(mode: str) -> ConvertFn:
    """A TensorFlow converter mode of tinyq.quant.convert (`tinyq convert --mode`)."""
    return lambda s: (cv.convert_model(s.lm, s.samples, mode=mode, quiet=s.quiet), [])


def _lowbit(**weights) -> ConvertFn:
    """Low-bit or palettized weights (`tinyq convert --weight-bits B` / `--palette B`, tinyq.quant.lowbit)."""

    def convert(s: Sources) -> tuple[bytes, list[str]]:
        from tinyq.quant.lowbit import convert_lowbit

        return convert_lowbit(s.lm, s.samples, quiet=s.quiet, **weights)

    return convert


def _mixed(s: Sources) -> tuple[bytes, list[str]]:
    """`tinyq convert --mixed` with its default choices (tinyq.quant.mixed), the --eval inputs scored here as
    its evaluation data; the model it writes."""
    from tinyq.quant.mixed import plan_mixed

    plan = plan_mixed(s.lm, s.samples, s.calib, calib_limit=s.calib_limit, ev=s.ev, quiet=s.quiet)
    n16, n4 = len(plan.int16), len(plan.int4)
    return plan.model, [f"plan: int16 activations on {n16} layer{'s' if n16 != 1 else ''}, int4 weights on {n4} "
                        f"layer{'s' if n4 != 1 else ''} (`tinyq convert --mixed` shows why)"]


# The variants, in the table's order. A new convert mode is one row here; `--modes` takes the names.
VARIANT_TABLE: dict[str, Variant] = {
    "float32": Variant(_tf("float"), calibrated=False, needs_fpu=True, description="float32 weights and activations"),
    "int8": Variant(_tf("int8"), calibrated=True, description="full int8, per-channel int8 weights (tinyq convert)"),
    "int16x8": Variant(_tf("int16x8"), calibrated=True, description="int16 activations, int8 weights (--mode int16x8)"),
    "mixed": Variant(_mixed, calibrated=True,
                     description="--mixed: int16 activations for the flagged layers, int4 weights where the error allows; "
                                 "planned on the calibration samples and the --eval inputs scored here"),
    "int4": Variant(_lowbit(weight_bits=4), calibrated=True,
                    description="--weight-bits 4: per-channel 4-bit grid, INT4 weight tensors, two a byte in flash"),
    "kmeans4": Variant(_lowbit(palette=4), calibrated=True,
                       description="--palette 4: 16 k-means centroids per layer, 4-bit indices + int8 codebook"),
    "kmeans2": Variant(_lowbit(palette=2), calibrated=True,
                       description="--palette 2: 4 k-means centroids per layer, 2-bit indices + int8 codebook"),
    "binary": Variant(_lowbit(weight_bits=1), calibrated=True,
                      description="--weight-bits 1 on the trained float model (PTQ: no retraining; a QAT model "
                                  "comes in through its own file), eight weights a byte"),
}
VARIANTS = tuple(VARIANT_TABLE)
DEFAULT_MODES = ("float32", "int8", "int16x8")  # `--modes` when not given; `--modes all`: every row
DEFAULT_LIMIT = 200

# progress(label, done, total): done and total count steps over all variants (convert, build, each input)
ProgressFn = Callable[[str, int, int], None]


@dataclass
class VariantRow:
    variant: str
    flash: int
    code: int
    weights: int
    ram: int
    arena: int
    stack: int
    ram_other: int
    cycles: int
    cycle_unit: str
    latency_ms: float
    samples: int
    accuracy: float | None  # classification: top-1 on the device
    rmse: float | None  # regression: on the device, outputs dequantized
    bit_exact: bool
    passed: bool  # bit-exact, or within the float tolerance for float32
    max_abs_diff: float
    tflite_bytes: int
    energy_uj: float | None = None  # per inference on the energy board (None: no documented run current)
    energy_cycles: int | None = None  # the cycles (or instructions) the energy's time comes from
    energy_time_from: str | None = None  # "measured cycles" | "cycle estimate" | "instructions"
    description: str = ""  # the variant's (VARIANT_TABLE)
    packed: list[str] = field(default_factory=list)  # weight tensors the build stored packed, e.g. "4-bit linear x3"
    notes: list[str] = field(default_factory=list)  # what the conversion said (fallbacks, the mixed plan)

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["latency_ms"] = round(self.latency_ms, 4)
        if self.energy_uj is not None:
            d["energy_uj"] = round(self.energy_uj, 6)
        return d


@dataclass
class Comparison:
    model: str
    board: str
    clock_hz: int
    cycle_unit: str
    task: str  # "classification" | "regression"
    samples: int  # evaluation inputs run on the device per variant
    available: int  # evaluation inputs in the file
    keras_accuracy: float | None = None  # the Keras model on the host, same inputs
    keras_rmse: float | None = None
    rows: list[VariantRow] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # variant -> why
    energy: dict | None = None  # the energy board's figures (energy_figures), None without one
    energy_note: str = ""  # why there is no energy column

    @property
    def failed(self) -> list[str]:
        return [r.variant for r in self.rows if not r.passed]

    def to_json(self) -> dict:
        return {
            "model": self.model, "board": self.board, "clock_hz": self.clock_hz, "cycle_unit": self.cycle_unit,
            "task": self.task, "samples": self.samples, "available": self.available,
            "keras_accuracy": self.keras_accuracy, "keras_rmse": self.keras_rmse,
            "variants": [r.to_json() for r in self.rows], "skipped": self.skipped,
            "energy": self.energy, "energy_note": self.energy_note,
        }


def energy_figures(eb: Board) -> dict:
    """What the energy column rests on: the board, its clock, run current, supply, conditions, document."""
    amps = eb.run_current_a()
    return {"board": eb.name, "core": eb.core, "clock_hz": eb.clock_hz, "run_current_ma": round(1e3 * amps, 6),
            "supply_v": float(eb.energy["supply_v"]), "conditions": eb.energy["conditions"], "source": eb.energy["source"]}


def energy_of(run_board: Board, eb: Board, build_dir: Path, measured: int) -> tuple[float, int, str]:
    """(microjoules, cycles, where the time comes from) of one inference of the build in `build_dir`,
    which ran on `run_board` in `measured` counter units (cycles, or instructions under QEMU)."""
    if run_board.cycle_unit == "cycles":
        cycles, source = measured, "measured cycles"
    elif run_board.emulated and eb.core in ESTIMATED_CORES:
        cycles, source = estimate_build(build_dir, cycles_for=eb, board_name=str(run_board.path)).cycles, "cycle estimate"
    else:
        cycles, source = measured, "instructions"
    return float(eb.energy_uj(cycles)), int(cycles), source


def parse_modes(text: str) -> list[str]:
    """`--modes float32,int8` -> ["float32", "int8"], in the table's order; `all`: every row; every word checked."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["all"]:
        return list(VARIANT_TABLE)
    bad = [w for w in words if w not in VARIANT_TABLE]
    if bad or not words:
        raise BadInput(f"--modes {text}: give a comma-separated list of {', '.join(VARIANT_TABLE)} (or all)")
    return [v for v in VARIANT_TABLE if v in words]


def packed_weights(g: Graph) -> list[str]:
    """The weight tensors a compiled graph stores packed, counted by kind: ["4-bit linear x2", "2-bit layer x1"]."""
    kinds: dict[str, int] = {}
    for t in g.tensors:
        if t.pack is not None:
            k = f"{t.pack.bits}-bit {t.pack.codebook}"
            kinds[k] = kinds.get(k, 0) + 1
    return [f"{k} x{n}" for k, n in sorted(kinds.items())]


def score(task: str, outputs: np.ndarray, ev: cv.EvalData) -> tuple[float | None, float | None]:
    """(top-1 accuracy, None) for classification, (None, RMSE) for regression; `outputs` (N, K) floats."""
    if task == "classification":
        return float(np.mean(outputs.argmax(axis=1) == ev.labels)), None
    return None, float(np.sqrt(np.mean((outputs - ev.y.reshape(len(outputs), -1)) ** 2)))


def dequantize(manifest: Manifest, outputs: list[list[np.ndarray]]) -> np.ndarray:
    """The first output of every run as floats (N, K): int8/int16 with the output's scale and zero point."""
    row = manifest.outputs[0]
    y = np.stack([np.asarray(o[0], dtype=np.float64).reshape(-1) for o in outputs])
    if row.dtype != "float32" and row.scale is not None:
        y = (y - (row.zero_point or 0)) * row.scale
    return y


def _eval_subset(ev: cv.EvalData, limit: int) -> cv.EvalData:
    return cv.EvalData(
        x=[a[:limit] for a in ev.x], y=ev.y[:limit], task=ev.task,
        labels=ev.labels[:limit] if ev.labels is not None else None,
    )


def _write_inputs(ev: cv.EvalData, lm: cv.LoadedModel, path: Path) -> None:
    """The evaluation inputs as an .npz `run_on_device` reads: one float array per model input, in order."""
    if len(ev.x) == 1:
        np.savez(path, x=ev.x[0])
    else:
        np.savez(path, **{f"input_{k}_{t.name}": a for k, (t, a) in enumerate(zip(lm.inputs, ev.x))})


def compare(model: Path, calib: Path, eval_data: Path, board: Board, modes: Sequence[str] = DEFAULT_MODES,
            limit: int = DEFAULT_LIMIT, calib_limit: int | None = None, work_dir: Path | None = None,
            progress: ProgressFn | None = None, quiet: bool = True, energy_for: str | Board | None = None) -> Comparison:
    """Convert, build and run every variant of `model` on `board`; one measured row each.

    The low-bit variants are built with the build's default packing (`--pack-weights auto`), and every
    variant is checked on the device against the reference interpreter on its own .tflite.
    `work_dir` keeps the .tflite files and builds (a temporary directory when None). Float variants
    are skipped, with the reason, on a board without an FPU. `energy_for`: the board (name, .json
    path or Board) whose documented run current prices an inference; default: `board`'s own, else
    the real board it stands for (tinyq.boards.energy_board).
    """
    model, calib, eval_data = Path(model), Path(calib), Path(eval_data)
    if limit < 1:
        raise BadInput(f"--limit {limit}: give a positive number of evaluation inputs")
    unknown = [v for v in modes if v not in VARIANT_TABLE]
    if unknown:
        raise BadInput(f"--modes {','.join(unknown)}: give a comma-separated list of {', '.join(VARIANT_TABLE)} (or all)")
    modes = [v for v in VARIANT_TABLE if v in modes]
    eb = energy_board(board, energy_for)
    # Every file check before TensorFlow loads: a bad path fails in a second.
    calib_arrays = cv.read_calibration_arrays(calib, calib_limit)
    eval_arrays = cv.read_arrays(eval_data, "evaluation")
    cv.check_arrays_early({k: a for k, a in eval_arrays.items() if k != "y"}, eval_data, "evaluation")
    lm = cv.load_model(model, quiet=quiet)
    samples = cv.load_calibration(calib, lm.inputs, arrays=calib_arrays)
    full = cv.load_eval(eval_data, lm, arrays=eval_arrays)
    ev = _eval_subset(full, limit)
    n = int(ev.x[0].shape[0])
    res = Comparison(model=model.name, board=board.name, clock_hz=board.clock_hz, cycle_unit=board.cycle_unit,
                     task=ev.task, samples=n, available=int(full.x[0].shape[0]))
    res.keras_accuracy, res.keras_rmse = score(ev.task, lm.predict(ev.x)[0].reshape(n, -1).astype(np.float64), ev)
    if eb is not None:
        res.energy = energy_figures(eb)
    else:
        named = energy_for if isinstance(energy_for, str) else energy_for.name if energy_for else board.stands_for or board.name
        res.energy_note = f"{named} has no documented run current (its board file has no energy entry)"
    if board.fpu is None:
        for v in [v for v in modes if VARIANT_TABLE[v].needs_fpu]:
            res.skipped[v] = f"{board.name} has no FPU ({v} builds need one)"
        modes = [v for v in modes if v not in res.skipped]
    total = len(modes) * (2 + n)
    done = 0

    def step(label: str, k: int = 1) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(label, done, total)

    with tempfile.TemporaryDirectory(prefix="tinyq-compare-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        inputs = root / "eval_inputs.npz"
        _write_inputs(ev, lm, inputs)
        for v in modes:
            if progress is not None:
                progress(f"{v}: converting", done, total)
            variant = VARIANT_TABLE[v]
            data, notes = variant.convert(Sources(lm, samples if variant.calibrated else None, calib, calib_limit, ev, quiet))
            tfl = root / f"{model.stem}_{v}.tflite"
            tfl.write_bytes(data)
            step(f"{v}: building")
            built = build(tfl, board, root / f"build-{v}", name="model",
                          command=f"tinyq compare {model} (variant {v}) --board {board.name}")
            step(f"{v}: running on {board.name}")
            base = done

            def ran(d: int, t: int, v: str = v, base: int = base) -> None:
                if progress is not None:
                    progress(f"{v}: running on {board.name}", base + d, total)

            run = run_on_device(built.out_dir, inputs=inputs, progress=ran, built=built)
            done = base + n
            if run.samples != n:
                raise BadInput(f"{eval_data}: the device ran {run.samples} inputs for {n} evaluation samples: check the input shapes")
            acc, rmse = score(ev.task, dequantize(built.manifest, run.outputs), ev)
            energy = energy_of(board, eb, built.out_dir, run.median_cycles) if eb is not None else (None, None, None)
            s = built.sizes
            res.cycle_unit = run.cycle_unit
            res.clock_hz = run.clock_hz
            res.rows.append(VariantRow(
                variant=v, flash=s.flash, code=s.code, weights=s.weights, ram=s.ram, arena=s.arena, stack=s.stack,
                ram_other=s.ram_other, cycles=run.median_cycles, cycle_unit=run.cycle_unit, latency_ms=run.latency_ms,
                samples=run.samples, accuracy=acc, rmse=rmse, bit_exact=run.bit_exact, passed=run.passed,
                max_abs_diff=float(run.max_abs_diff), tflite_bytes=len(data),
                energy_uj=energy[0], energy_cycles=energy[1], energy_time_from=energy[2],
                description=variant.description, packed=packed_weights(built.graph), notes=list(notes),
            ))
    return res
