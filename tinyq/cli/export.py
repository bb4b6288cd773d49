"""`tinyq export`: a model packaged for another toolchain (so far: an Arduino library)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from tinyq.boards import default_arduino_board, get_board
from tinyq.build.arduino import check_model, export_arduino
from tinyq.cli import options
from tinyq.cli.options import JSON, KERNELS, MODEL_TFLITE
from tinyq.cli.root import app, emit_json, out
from tinyq.errors import BadInput


@app.command("export")
def export_cmd(
    model: Path = MODEL_TFLITE,
    arduino: bool = typer.Option(False, "--arduino", help="An Arduino library (DIR/NAME/ and DIR/NAME.zip) with a sketch that serves tinyq's serial protocol."),
    output: Optional[Path] = options.output("Directory to write into (required)."),
    name: Optional[str] = options.name(default=None, help="Library name, its header NAME.h and C prefix NAME_invoke() (default: the model's file name)."),
    board: Optional[str] = options.board(help="Board the library is for: the kernels for its core (the SIMD paths compile only where a core has them), and the clock and cycle unit `tinyq profile` expects. Default: the Arduino board marked default in boards/."),
    kernels: str = KERNELS,
    pack_weights: str = options.PACK_WEIGHTS,
    as_json: bool = JSON,
) -> None:
    """Export a model for the Arduino IDE: a library zip and a profiling sketch.

    `tinyq export model.tflite --arduino -o DIR` writes DIR/NAME.zip (Sketch > Include Library >
    Add .ZIP Library), the same library unpacked in DIR/NAME/, and DIR/build.json. Upload the example
    File > Examples > NAME > NAME_profile, then `tinyq profile DIR --port PORT` times every layer on
    the board and checks its outputs bit for bit against TFLite.
    """
    if not arduino:
        raise BadInput("say what to export to: --arduino (an Arduino library; the only format so far)")
    if output is None:
        raise BadInput("--arduino needs an output directory: add -o DIR")
    check_model(model)
    b = get_board(board) if board else default_arduino_board()
    argv = [str(model), "--arduino", "-o", str(output), "--board", b.name] + (["--name", name] if name else [])
    command = "tinyq export " + " ".join(shlex.quote(a) for a in argv) + (f" --kernels {kernels}" if kernels != "fast" else "") \
        + (f" --pack-weights {pack_weights}" if pack_weights != "auto" else "")
    res = export_arduino(model, output, b, name=name, command=command, kernels=kernels, pack_weights=pack_weights)
    m = res.manifest
    if as_json:
        emit_json({"output": str(output), "name": res.name, "board": b.name, "library": str(res.library), "zip": str(res.zip),
                   "manifest": str(Path(output) / "build.json"), "files": res.files, "layers": len(m.layers),
                   "arena_bytes": m.arena_bytes, "weight_bytes": m.weight_bytes})
        return
    out.print(f"wrote {res.zip} (Arduino IDE: Sketch > Include Library > Add .ZIP Library), {res.library}/ and {output}/build.json")
    out.print(f"library {res.name}: {len(m.layers)} layers, arena {m.arena_bytes:,} B, weights {m.weight_bytes:,} B, "
              f"{len(m.kernel_sources)} kernel files, for {b.name} ({b.core})")
    out.print(f"next: upload File > Examples > {res.name} > {res.name}_profile, then tinyq profile {output} --port PORT")
