"""`tinyq verify`: is the generated C bit-exact with TFLite's reference interpreter?"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tinyq.checks.reference import tflm_missing_reason
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.cli import options
from tinyq.cli.options import JSON, KERNELS, MODEL_TFLITE, WIDE
from tinyq.cli.root import app, emit_json, err, out
from tinyq.errors import CheckFailed


@app.command("verify")
def verify_cmd(
    model: Path = MODEL_TFLITE,
    samples: int = options.SAMPLES,
    inputs: Optional[Path] = options.inputs(help="Your own inputs instead: .npy (N x input shape) or .npz (one array per input)."),
    seed: int = options.SEED,
    sequence_length: Optional[int] = options.SEQUENCE_LENGTH,
    board: Optional[str] = options.board("Run the check on an emulated core instead of the host (e.g. qemu-m4)."),
    kernels: str = KERNELS,
    wide: bool = WIDE,
    pack_weights: str = options.PACK_WEIGHTS,
    as_json: bool = JSON,
) -> None:
    """Check the generated C against TFLite's reference kernels, bit for bit.

    Generates the C library, compiles it with the host compiler, runs every input through it and
    through ai_edge_litert's reference interpreter (BUILTIN_REF), and compares every output byte.
    Exit 0 only if all are identical (a float32 model: within |diff| <= 1e-5 x max(1, |ref|) per element,
    see tinyq.checks.match.FLOAT_TOLERANCE); on a mismatch it names the first layer that diverges.
    With --board, the firmware is built for that emulated core and the inputs run on it in QEMU.
    A model with state (variable tensors, resource variables) is checked over a sequence: both sides
    reset, then the inputs run in order with the state kept (a reset every --sequence-length inputs).
    """
    show = not as_json and err.is_terminal
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("verify", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if board is not None:
            res = verify_on_board(model, board, samples=samples, inputs=inputs, seed=seed, progress=progress, kernels=kernels, wide=wide,
                                  reset_every=sequence_length, pack_weights=pack_weights)
        else:
            res = verify_tflite(model, samples=samples, inputs=inputs, seed=seed, tflm=True, progress=progress, kernels=kernels, wide=wide,
                                reset_every=sequence_length, pack_weights=pack_weights)
    if as_json:
        emit_json(res.to_json())
        if not res.passed:
            raise typer.Exit(1)
        return
    if not res.passed:
        raise CheckFailed(res.summary())
    out.print(res.summary())
    tflm = f"{res.tflm_arena_bytes:,} B" if res.tflm_arena_bytes is not None else f"n/a ({tflm_missing_reason()})"
    state = f" + state {res.state_bytes:,} B" if res.state_bytes else ""  # TFLM's arena holds the variable tensors
    out.print(f"arena: {res.arena_bytes:,} B (lower bound {res.arena_lower_bound:,} B){state}   TFLM arena: {tflm}")
