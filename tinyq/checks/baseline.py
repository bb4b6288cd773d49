"""The CMSIS-NN baseline beside tinyq's sweep (issue 16): CMSIS-NN's own kernels, built from a local
source tree for the same QEMU boards, measured the same way as tinyq (instructions under -icount shift=0).

    python -m tinyq.checks.baseline rows [--rows FILE | --quick] [--cores m4,m7,m33,m55] [-o build/baseline]
    python -m tinyq.checks.baseline models MODEL.tflite ... [--cores ...]

`rows`: each sweep row (tinyq.checks.sweep's row format) becomes one call of the CMSIS-NN function that
TFLM's cmsis_nn kernel makes for that layer (`translate`: padding, offsets, which function the wrapper
picks), with random data; what TFLM does at Prepare time (scratch sizes, FULLY_CONNECTED kernel sums,
per-channel multiplier tables) runs before the measured region. All rows of a core run in one firmware
(templates/baseline_rows.c.j2), one QEMU run, resumed after a row that crashes.
`models`: TFLM's MicroInterpreter with CMSIS-NN kernels around any .tflite (templates/baseline_tflm.cc.j2),
Invoke() instructions, arena_used_bytes() and code bytes.

Results go to <out>/cmsis_sweep_<core>.json ({"what", "core", "rows": {...}, "models": {...}}).
The building and running (source trees, object cache, link, QEMU console) is tinyq.checks.baseline_build.
The source trees are given by option or environment variable (CMSIS_NN, CMSIS, TFLM, FLATBUFFERS,
GEMMLOWP, RUY); nothing of them is copied into tinyq. CMSIS-NN's objects are cached per core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tinyq import __version__
from tinyq.boards import Board
from tinyq.build.link import arm_gcc
from tinyq.checks.baseline_build import (
    EXTRA_POOL,
    TREES,
    Console,
    Trees,
    board_for,
    cmsis_nn_library,
    link_firmware,
    trees_from,
)
from tinyq.checks.baseline_tflm import baseline_models
from tinyq.checks.sweep import sweep_rows
from tinyq.compiler import template_env
from tinyq.errors import BadInput, CheckFailed, TinyqError

ROW_TIMEOUT = 600.0  # seconds of wall time for one row under QEMU
KINDS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 2, "AVERAGE_POOL_2D": 3, "MAX_POOL_2D": 4, "ADD": 5}
ALIGN = 16


# --------------------------------------------------------------------------- rows -> calls (pure)


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """TFLite's SAME padding: (output size, padding before), as TFLM's ComputePaddingHeightWidth."""
    out = (size + stride - 1) // stride
    return out, max(((out - 1) * stride + k - size) // 2, 0)


def conv_function(core: str, in_hwc: list[int], kernel: list[int], stride: list[int], pad: tuple[int, int]) -> str:
    """The function arm_convolve_wrapper_s8 picks (its tests on padding, kernel and shape)."""
    if kernel == [1, 1] and pad == (0, 0):
        return "arm_convolve_1x1_s8_fast" if stride == [1, 1] else "arm_convolve_1x1_s8"
    if in_hwc[0] == 1 and kernel[0] == 1 and (stride[1] * in_hwc[2]) % 4 == 0:
        return "arm_convolve_1_x_n_s8"
    return "arm_convolve_s8"


def dw_function(core: str, in_c: int, out_c: int, mult: int, kernel: list[int], pad: tuple[int, int]) -> str:
    """The function arm_depthwise_conv_wrapper_s8 picks (built with GCC: its MVE threshold is 1 channel)."""
    mve = core == "m55"
    if mve and in_c == 1 and out_c > 1:
        return "arm_depthwise_conv_to_conv_s8"
    if mult == 1:
        if not mve and kernel == [3, 3] and pad[0] <= 1 and pad[1] <= 1:
            return "arm_depthwise_conv_3x3_s8"
        return "arm_depthwise_conv_s8_opt"
    return "arm_depthwise_conv_s8"


def translate(row: dict, core: str) -> dict:
    """One sweep row -> the parameters of its CMSIS-NN call (the table entry of the firmware), the
    function that runs and, for a row CMSIS-NN has no kernel for, a note (then `kind` is None)."""
    op, s16 = row["op"], row["dtype"] == "int16"
    if op not in KINDS or row["dtype"] not in ("int8", "int16"):
        return {"id": row["id"], "kind": None, "function": None, "note": f"no CMSIS-NN kernel for {op} {row['dtype']}"}
    (ih, iw, ic), (oh, ow, oc) = row["in"], row["out"]
    kernel = list(row.get("kernel") or [1, 1])
    stride = list(row.get("stride") or [1, 1])
    pad = (0, 0)
    if row.get("padding") == "same":
        pad = (same_padding(ih, kernel[0], stride[0])[1], same_padding(iw, kernel[1], stride[1])[1])
    per_channel = row.get("weights") != "per_tensor"
    wzp = int(row.get("weight_zero_point") or 0)
    mult = int(row.get("depth_multiplier") or 1)
    call = {
        "id": row["id"], "kind": KINDS[op], "s16": int(s16), "per_channel": int(per_channel),
        "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow, "out_c": oc,
        "k_h": kernel[0], "k_w": kernel[1], "s_h": stride[0], "s_w": stride[1], "pad_h": pad[0], "pad_w": pad[1],
        "ch_mult": mult,
        # int8: input zero point -128 (after a ReLU), output zero point -128; int16: symmetric (zero points 0).
        "in_offset": 0 if s16 else 128, "out_offset": 0 if s16 else -128, "w_offset": -wzp, "note": "",
    }
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D") and wzp:
        return dict(call, kind=None, function=None, note="CMSIS-NN's convolutions take no weight zero point (TFLite requires 0)")
    if s16 and wzp:
        return dict(call, kind=None, function=None, note="CMSIS-NN's int16 kernels take no weight zero point (TFLite requires 0)")
    if op == "CONV_2D":
        fn = "arm_convolve_s16" if s16 else conv_function(core, [ih, iw, ic], kernel, stride, pad)
        if not per_channel:
            call["note"] = "per-tensor weights: TFLM fills the per-channel tables with the one multiplier"
    elif op == "DEPTHWISE_CONV_2D":
        if s16:
            fn = "arm_depthwise_conv_s16"
            call["note"] = "TFLM's int16 DEPTHWISE_CONV_2D calls arm_depthwise_conv_s16 directly, without scratch"
        else:
            fn = dw_function(core, ic, oc, mult, kernel, pad)
    elif op == "FULLY_CONNECTED":
        if s16 and per_channel:
            return dict(call, kind=None, function=None,
                        note="TFLM's CMSIS-NN FULLY_CONNECTED takes per-channel weights for int8 only")
        if s16:
            fn = "arm_fully_connected_s16"
        else:
            fn = "arm_fully_connected_per_channel_s8" if per_channel else "arm_fully_connected_s8"
            call["note"] = "2-D output (TFLM's conv-1x1 path is for outputs of rank > 2); kernel sums (MVE) precomputed"
    elif op == "AVERAGE_POOL_2D":
        fn = "arm_avgpool_s16" if s16 else "arm_avgpool_s8"
    elif op == "MAX_POOL_2D":
        fn = "arm_max_pool_s16" if s16 else "arm_max_pool_s8"
    else:
        fn = "arm_elementwise_add_s16" if s16 else "arm_elementwise_add_s8"
    return dict(call, function=fn)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def layout(call: dict) -> dict:
    """Byte offsets of the call's buffers in the pool (every row starts at 0); `o_scratch` is where the
    scratch buffer starts, so o_scratch is what the row needs before its scratch."""
    e = 2 if call["s16"] else 1
    act_in = call["in_h"] * call["in_w"] * call["in_c"] * e
    act_out = call["out_h"] * call["out_w"] * call["out_c"] * e
    kind = call["kind"]
    if kind == KINDS["CONV_2D"]:
        weights = call["out_c"] * call["k_h"] * call["k_w"] * call["in_c"]
    elif kind == KINDS["DEPTHWISE_CONV_2D"]:
        weights = call["k_h"] * call["k_w"] * call["out_c"]
    elif kind == KINDS["FULLY_CONNECTED"]:
        weights = call["out_c"] * call["in_c"]
    else:
        weights = 0
    has_w = weights > 0
    sizes = [
        ("o_in", act_in), ("o_in2", act_in if kind == KINDS["ADD"] else 0), ("o_filter", weights),
        ("o_bias", call["out_c"] * (8 if call["s16"] else 4) if has_w else 0),
        ("o_mult", call["out_c"] * 4 if has_w else 0), ("o_shift", call["out_c"] * 4 if has_w else 0),
        ("o_out", act_out),
    ]
    offsets, at = {}, 0
    for name, size in sizes:
        offsets[name] = at
        at = _align(at + size)
    offsets["o_scratch"] = at
    return offsets


# --------------------------------------------------------------------------- running


def run_rows_firmware(elf: Path, board: Board, count: int, log=print) -> dict[int, tuple[str, int, int]]:
    """{row index: (status, instructions, scratch bytes)}; a row after which the firmware stops
    answering gets status "crash" and the run resumes at the next row."""
    results: dict[int, tuple[str, int, int]] = {}
    start = 0
    while start < count:
        con = Console(elf, board)
        try:
            line = con.line(30.0)
            if line != "READY":
                raise CheckFailed(f"the baseline firmware for {board.name} did not start: {line!r}")
            con.send(f"{start}\n")
            nxt = start
            while True:
                line = con.line(ROW_TIMEOUT)
                if line is None or line == "END":
                    break
                parts = line.split()
                if parts[:1] == ["R"] and len(parts) == 5:
                    i = int(parts[1])
                    results[i] = (parts[2], int(parts[3]), int(parts[4]))
                    nxt = i + 1
            if line != "END":
                results[nxt] = ("crash", 0, 0)
                log(f"  row {nxt} crashed or hung on {board.name}; resuming after it")
                nxt += 1
            start = nxt if line != "END" else count
        finally:
            con.close()
    return results


# --------------------------------------------------------------------------- rows


def pool_for(core: str, board: Board) -> tuple[int | None, int, str]:
    """(address or None for a static array in .bss, bytes, note) of the pool for the rows' buffers:
    the board's RAM less stack and 64 KB for the harness, or EXTRA_POOL's region."""
    if core in EXTRA_POOL:
        return EXTRA_POOL[core]
    return None, board.ram.length - board.stack_bytes - 64 * 1024, ""


def what_text(trees: Trees, part: str) -> str:
    return (f"CMSIS-NN ({trees['CMSIS_NN']}) {part}, built with arm-none-eabi-gcc -O3 -mfloat-abi=hard and the "
            "board's -mcpu (DSP / MVE as the core has), linked with tinyq's startup and console, run on "
            "qemu-system-arm -icount shift=0 (the boards' QEMU machines). instructions = SysTick ticks x "
            "(1e9 / tick rate) around the call, less the cost of reading the counter twice (granularity: "
            "40 instructions on mps2, 50 on an505, 31.25 on an547). Per row: the function TFLM's cmsis_nn "
            "kernel calls (the wrapper's choice, derived as the wrapper does), random int8/int16 data, "
            "multipliers in [2^30, 2^31) with right shifts of 6..9 (per-tensor rows: one value on every "
            "channel), input zero point -128 and output zero point -128 (int8) or 0 (int16); Prepare-time "
            "work (get_buffer_size, arm_vector_sum_s8 kernel sums) outside the measured region.")


def load_rows(path: Path | None, quick: bool) -> list[dict]:
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise BadInput(f"--rows {path}: {e}: give a JSON file of sweep rows") from None
        rows = data["rows"] if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r and "op" in r for r in rows):
            raise BadInput(f"--rows {path}: not a list of sweep rows (objects with id, op, dtype, in, out, ...)")
        return rows
    return list(sweep_rows(quick))


def merge_output(out: Path, core: str, what: str, rows: dict | None = None, models: dict | None = None) -> Path:
    """Write rows or models into <out>/cmsis_sweep_<core>.json: entries of the same id or stem are
    replaced, the others kept (so the quick and the default rows can share one file)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cmsis_sweep_{core}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    data = {"what": what, "core": core, "rows": old.get("rows", {}), "models": old.get("models", {})}
    if rows is not None:
        data["rows"].update(rows)
        data["rows_what"] = what
    else:
        data["rows_what"] = old.get("rows_what", "")
    if models is not None:
        data["models"].update(models)
        data["models_what"] = what
    else:
        data["models_what"] = old.get("models_what", "")
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def baseline_rows(rows: list[dict], core: str, trees: Trees, out: Path, log=print) -> dict[str, dict]:
    """Build and run the rows firmware for one core; returns the "rows" part of the baseline file."""
    trees.require("CMSIS_NN", "CMSIS")
    board = board_for(core)
    gcc = arm_gcc()
    out = out.resolve()
    t0 = time.monotonic()
    lib = cmsis_nn_library(gcc, board, trees, out)
    result: dict[str, dict] = {}
    calls = []
    pool_address, pool, pool_note = pool_for(core, board)
    for r in rows:
        c = translate(r, core)
        if c["kind"] is None:
            result[r["id"]] = {"instructions": None, "function": c["function"], "note": c["note"]}
            continue
        c.update(layout(c))
        if c["o_scratch"] > pool:
            result[r["id"]] = {"instructions": None, "function": c["function"],
                               "note": f"needs {c['o_scratch']:,} B of buffers, {board.name} has a {pool:,} B pool"}
            continue
        c["index"] = len(calls)
        calls.append(c)
    work = out / "work" / core / "rows"
    work.mkdir(parents=True, exist_ok=True)
    header = [f"Generated by tinyq {__version__} (tinyq.checks.baseline) for board {board.name}",
              f"command: python -m tinyq.checks.baseline rows ({len(calls)} rows)"]
    src = work / "bl_rows.c"
    src.write_text(template_env().get_template("baseline_rows.c.j2").render(
        header_lines=header, rows=calls, pool_bytes=pool,
        pool_address=f"{pool_address:#010x}" if pool_address is not None else None, pool_note=pool_note))
    elf = link_firmware(gcc, board, work, src, ["-I", str(trees["CMSIS_NN"] / "Include"), "-I", str(trees["CMSIS"])],
                        [lib], header)
    t1 = time.monotonic()
    measured = run_rows_firmware(elf, board, len(calls), log) if calls else {}
    log(f"  {core}: {len(calls)} rows built in {t1 - t0:.0f} s, run in {time.monotonic() - t1:.0f} s")
    for c in calls:
        status, instr, scratch = measured.get(c["index"], ("missing", 0, 0))
        entry = {"instructions": None, "function": c["function"], "note": c["note"], "scratch_bytes": scratch}
        if status == "0" and instr > 0:
            entry["instructions"] = instr
        elif status == "0":
            entry["note"] = f"below the counter's resolution ({board.name}: {board.cycles_ratio()[0] / board.cycles_ratio()[1]:g} instructions a tick)"
        elif status == "nomem":
            entry["note"] = f"its scratch buffer does not fit the {pool:,} B pool"
        else:
            entry["note"] = f"CMSIS-NN returned status {status}" if status.lstrip("-").isdigit() else f"the call {status}ed under QEMU"
        if not entry["note"]:
            del entry["note"]
        result[c["id"]] = entry
    return result


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tinyq.checks.baseline", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("rows", "models"):
        s = sub.add_parser(name)
        s.add_argument("--cores", default="m4,m7,m33,m55", help="comma-separated: m4, m7, m33, m55")
        s.add_argument("-o", "--out", default="build/baseline", help="where cmsis_sweep_<core>.json goes")
        for n, what in TREES.items():
            s.add_argument(f"--{n.lower().replace('_', '-')}", dest=n.lower(), help=f"{what} (or env {n})")
        if name == "rows":
            s.add_argument("--rows", type=Path, help="a JSON file of sweep rows (default: tinyq.checks.sweep's)")
            s.add_argument("--quick", action="store_true", help="the sweep's quick rows (without --rows)")
        else:
            s.add_argument("models", nargs="+", type=Path, help=".tflite files")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        trees = trees_from(args, dict(os.environ))
        cores = [c.strip() for c in args.cores.split(",") if c.strip()]
        for c in cores:
            board_for(c)
        out = Path(args.out)
        if args.command == "rows":
            trees.require("CMSIS_NN", "CMSIS")
            rows = load_rows(args.rows, args.quick)
            for core in cores:
                res = baseline_rows(rows, core, trees, out)
                path = merge_output(out, core, what_text(trees, "kernels alone, one call per sweep row"), rows=res)
                done = sum(1 for v in res.values() if v["instructions"] is not None)
                print(f"{path}: {done} of {len(res)} rows measured")
        else:
            trees.require("CMSIS_NN", "CMSIS", "TFLM", "FLATBUFFERS", "GEMMLOWP", "RUY")
            for m in args.models:
                if not m.is_file():
                    raise BadInput(f"{m}: no such model: give .tflite files")
            for core in cores:
                res, what = baseline_models(args.models, core, trees, out)
                path = merge_output(out, core, what, models=res)
                print(f"{path}: {len(res)} models measured")
    except TinyqError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
