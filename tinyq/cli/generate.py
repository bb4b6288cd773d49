"""`tinyq generate`: .tflite -> a self-contained C99 library."""

from __future__ import annotations

import shlex
from pathlib import Path

from tinyq.cli import options
from tinyq.cli.options import JSON, KERNELS, MODEL_TFLITE, WIDE
from tinyq.cli.root import app, emit_json, out
from tinyq.compiler.codegen import write
from tinyq.compiler.pipeline import generate_library
from tinyq.compiler.target import target_for


@app.command("generate")
def generate_cmd(
    model: Path = MODEL_TFLITE,
    output: Path = options.output("Directory for NAME.h, NAME.c and the kernels they call.", required=True),
    name: str = options.name("C prefix: NAME_invoke(), NAME_ARENA_SIZE, NAME.h."),
    kernels: str = KERNELS,
    wide: bool = WIDE,
    pack_weights: str = options.PACK_WEIGHTS,
    as_json: bool = JSON,
) -> None:
    """Generate C: weights as const arrays, a static schedule, the kernels it needs.

    The library has no interpreter and no malloc: call NAME_invoke(input, output).
    Build it with any C99 compiler, e.g. `cc -std=c99 -O2 -c OUT/*.c`.
    """
    command = "tinyq generate " + " ".join(shlex.quote(a) for a in [str(model), "-o", str(output), "--name", name])
    if kernels != "fast":
        command += f" --kernels {kernels}"
    if wide:
        command += " --wide-weights"
    if pack_weights != "auto":
        command += f" --pack-weights {pack_weights}"
    gen = generate_library(model, name=name, command=command, target=target_for(kernels, wide=wide, pack_weights=pack_weights))
    files = write(gen, output)
    g = gen.graph
    report = {
        "model": str(model),
        "output": str(output),
        "name": name,
        "files": [f.name for f in files],
        "arena_bytes": g.arena_size,
        "arena_lower_bound": g.arena_lower_bound,
        "weight_bytes": gen.weight_bytes,
        "layers": len(g.ops),
    }
    if as_json:
        emit_json(report)
        return
    out.print(f"wrote {len(files)} files to {output}/ ({name}.h, {name}.c and {len(files) - 2} kernel files)")
    out.print(f"layers: {report['layers']}   arena: {report['arena_bytes']} bytes   weights: {report['weight_bytes']} bytes")
