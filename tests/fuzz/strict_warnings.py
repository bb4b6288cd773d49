"""The generated C and the firmware under strict warnings (issue 17, item 4): -Wall -Wextra -Wconversion
with arm-none-eabi-gcc for every board's flags, and with clang (--target=arm-none-eabi, the same -mcpu;
compile only: assembly stays with gcc).

What is compiled, per board: every kernel file of firmware/kernels/ (without a tq_config.h, so every
variant is compiled in), and a whole firmware build's src/ for MODELS (the generated model, tq_fw_model.c,
startup, the board's console, counter and soc drivers, the protocol and main.c), rendered by
tinyq.build.firmware as `tinyq build` renders it.

    python -m tests.fuzz.strict_warnings                      # every board, both compilers: counts per file
    python -m tests.fuzz.strict_warnings --boards qemu-m4 --compilers clang

It prints the warnings per file and exits 1 if there is any (with --allow FILE... those files' warnings
are listed but do not fail the run).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KERNELS = ROOT / "firmware" / "kernels"
SHARED = ROOT.parent / "shared" / "models"
MODELS = (SHARED / "kws_ref_model.tflite",)
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wconversion", "-ffp-contract=off", "-DTQ_TRACE", "-DTQ_WEIGHTS_SECTION"]
NEWLIB = Path("/usr/lib/arm-none-eabi/include")
WARNING = re.compile(r"^([^:\s]+\.[chS]):\d+:\d+: (?:warning|error): .*?(?:\[(-W[\w-]+(?:=\w+)?)\])?$")


@dataclass
class Report:
    board: str
    compiler: str
    files: int = 0
    per_file: Counter = field(default_factory=Counter)  # file name -> warnings
    lines: list[str] = field(default_factory=list)
    seen: set = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.per_file.values())


def compiler_command(compiler: str, board) -> list[str]:
    """The compile command's head for `board` (its -mcpu / float ABI flags from the board file)."""
    if compiler == "gcc":
        return ["arm-none-eabi-gcc", *board.cflags, *STRICT]
    # clang: the board's -mcpu, -mthumb and float ABI; -mfpu values are gcc's names, which clang also takes.
    # -fomit-frame-pointer as gcc's -O2 implies: clang for arm-none-eabi keeps r7 as a frame pointer by
    # default, one register fewer than the int16 depthwise DSP loop's 13 operands and its "m" address need.
    return ["clang", "--target=arm-none-eabi", *board.cflags, *STRICT, "-fomit-frame-pointer", "-isystem", str(NEWLIB),
            "-Wno-unknown-pragmas", "-fno-integrated-as"]


def _compile(cmd: list[str], cwd: Path, sources: list[str], report: Report) -> None:
    """Compile `sources` (relative to `cwd`) in one compiler run, objects into a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="tinyq-objs-") as objs:
        r = subprocess.run([*cmd, "-I", str(cwd), "-c", *[str(cwd / s) for s in sources]], cwd=objs,
                           capture_output=True, text=True)
    report.files += len(sources)
    for ln in r.stderr.splitlines():
        ln = ln.replace(f"{cwd}/", "")
        m = WARNING.match(ln)
        key = (Path(m.group(1)).name, ln.split(":", 1)[1]) if m else None
        if m and key not in report.seen:  # a header's warning once, whichever files include it
            report.seen.add(key)
            report.per_file[key[0]] += 1
            report.lines.append(ln)
    if r.returncode != 0 and not report.lines:
        report.per_file["(compiler)"] += 1
        report.lines.append(f"{cwd}: does not compile: {r.stderr.strip()[:300]}")


def firmware_src(board, model: Path, workdir: Path) -> Path:
    """A build's src/ for `board` (rendered, not linked)."""
    from tinyq.build.firmware import compile_model, plan_firmware, render

    stage = workdir / f"{board.name}-{model.stem}"
    stage.mkdir(parents=True, exist_ok=True)
    tflite = stage / "model.tflite"
    shutil.copyfile(model, tflite)
    gen, _ = compile_model(tflite, board, "model", "strict warnings", "fast", False)
    plan = plan_firmware(gen, board, "model", "strict warnings", "unspecified")
    render(stage, gen, plan)
    return stage / "src"


def check(board_name: str, compiler: str, workdir: Path, models=MODELS) -> Report:
    from tinyq.boards import get_board

    board = get_board(board_name)
    report = Report(board_name, compiler)
    cmd = compiler_command(compiler, board)
    kernels = sorted(str(p.relative_to(KERNELS)) for p in KERNELS.rglob("*.c"))
    _compile([*cmd, "-I", str(KERNELS / "include")], KERNELS, kernels, report)
    for model in models:
        src = firmware_src(board, model, workdir)
        _compile(cmd, src, sorted(p.name for p in src.glob("*.c")), report)
    return report


def main(argv: list[str] | None = None) -> int:
    from tinyq.boards import all_boards

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", nargs="*", default=sorted(all_boards()))
    ap.add_argument("--compilers", nargs="*", default=["gcc", "clang"], choices=["gcc", "clang"])
    ap.add_argument("--allow", nargs="*", default=[], help="files whose warnings are reported but do not fail the run")
    ap.add_argument("-v", "--verbose", action="store_true", help="every warning line")
    a = ap.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tinyq-warnings-") as tmp:
        for board in a.boards:
            for compiler in a.compilers:
                rep = check(board, compiler, Path(tmp))
                counted = {f: n for f, n in rep.per_file.items() if f not in a.allow}
                failed += sum(counted.values())
                files = ", ".join(f"{f} {n}" for f, n in sorted(rep.per_file.items(), key=lambda kv: (-kv[1], kv[0])))
                print(f"{board} {compiler}: {rep.files} files, {rep.total} warnings{': ' + files if files else ''}", flush=True)
                if a.verbose:
                    for ln in rep.lines:
                        print("   ", ln)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
