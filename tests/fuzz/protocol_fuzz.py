"""libFuzzer on the firmware's serial protocol (issue 17, item 3): firmware/main.c and
firmware/protocol/tq_protocol.c compiled for the host with clang -fsanitize=fuzzer,address,undefined,
behind a fake console (tests/fuzz/protocol_fuzz.c), linked with a small generated model.

The model (`fuzz_model`) has three inputs, int8 [1, 5] and two int16 [1, 1, 1, 3], so the `db` stream has
a padding byte between them (18 bytes), and two outputs; it is built twice: as by default (each
inference consumes its input) and with --keep-input (MLPerf Tiny's `infer N W` runs N + W times). The
seeds (`seeds`) are the sessions the host runner (tinyq/device/protocol.py) and the MLPerf Tiny runner
send, over-long lines, binary garbage, partial and duplicated frames and sizes that do not match the
model; `protocol.dict` holds the protocol's words for the mutator.

    python -m tests.fuzz.protocol_fuzz --runs 10000000      # the long campaign (make fuzz-firmware)
    python -m tests.fuzz.protocol_fuzz --runs 200000 --seed 1  # the short one (tests/test_fuzz_protocol.py)

A finding (a sanitizer report, a broken reply invariant, a timeout over 10 s, memory over 2 GB) is saved
under WORKDIR/<variant>/artifacts/ and fails the run; replay it with `WORKDIR/<variant>/fuzz FILE`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET_C = HERE / "protocol_fuzz.c"
DICT = HERE / "protocol.dict"
ROOT = HERE.parent.parent
BOARD = "qemu-m3"  # portable C kernels only: the host compiles every file of the build
VARIANTS = {"consume": False, "keep": True}  # variant -> keep_input
# -Wno-unknown-pragmas / -attributes: a kernel may carry `#pragma GCC optimize` and the glue gcc's
# `noipa`, which clang does not know (tests/fuzz/strict_warnings.py reports them).
FLAGS = ["-g", "-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unknown-attributes",
         "-ffp-contract=off", "-DTQ_TRACE",
         "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
# Runtime files of a board build that the fake console replaces (startup, drivers) or that the target
# includes itself (tq_protocol.c).
NOT_LINKED = ("tq_startup.c", "tq_protocol.c")
NOT_LINKED_PREFIXES = ("console_", "cycles_", "soc_")


def clang() -> str:
    cc = shutil.which("clang")
    if cc is None:
        raise SystemExit("clang is missing: install it with `apt-get install clang libclang-rt-14-dev` (make system does)")
    return cc


def fuzz_model() -> bytes:
    """Three inputs (int8 [1, 5]; int16 [1, 1, 1, 3] twice) -> FULLY_CONNECTED and ADD -> two outputs."""
    from tinyq.checks.synth import LayerNet, add_layer

    net = LayerNet("int8")
    add_layer(net, {"op": "FULLY_CONNECTED", "dtype": "int8", "id": "fc", "in": (1, 1, 5), "out": (1, 1, 3),
                    "weights": "per_tensor"}, np.random.default_rng(1))
    add_layer(net, {"op": "ADD", "dtype": "int16", "id": "add", "in": (1, 1, 3)}, np.random.default_rng(2))
    net.m.description = "tinyq protocol fuzz model"
    return net.bytes()


@dataclass
class Target:
    variant: str
    exe: Path
    input_bytes: int
    output_bytes: int
    keep_input: bool


def build(workdir: Path, variant: str, flags: list[str] | None = None, tag: str = "") -> Target:
    """The fuzz binary of one variant in workdir/<variant><tag>/ (sources in src/), built with FLAGS or `flags`."""
    from tinyq.boards import get_board
    from tinyq.build.firmware import compile_model, plan_firmware, render

    keep = VARIANTS[variant]
    flags = FLAGS if flags is None else flags
    out = workdir.resolve() / f"{variant}{tag}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tflite = out / "model.tflite"
    tflite.write_bytes(fuzz_model())
    board = get_board(BOARD)
    command = f"python -m tests.fuzz.protocol_fuzz ({variant})"
    gen, _ = compile_model(tflite, board, "model", command, "fast", False, keep_input=keep)
    plan = plan_firmware(gen, board, "model", command, "unspecified")
    render(out, gen, plan)
    src = out / "src"
    sources = sorted(p.name for p in src.glob("*.c")
                     if p.name not in NOT_LINKED and not p.name.startswith(NOT_LINKED_PREFIXES))
    shutil.copyfile(TARGET_C, src / TARGET_C.name)
    exe = out / "fuzz"
    objs = []
    for s in sources:  # main.c as a function the target calls: the command loop runs as on a board
        extra = ["-Dmain=tq_firmware_main"] if s == "main.c" else []
        objs.append(f"{s}.o")
        _cc([clang(), *flags, *extra, "-I", ".", "-c", s, "-o", f"{s}.o"], src)
    _cc([clang(), *flags, "-I", ".", TARGET_C.name, *objs, "-lm", "-o", str(exe)], src)
    ctx = plan.context
    return Target(variant, exe, ctx["input_bytes"], ctx["output_bytes"], keep)


def _cc(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"compiling the protocol fuzz target failed: {' '.join(cmd)}\n{r.stderr}")


def seeds(n_in: int, keep: bool) -> dict[str, bytes]:
    """Seed inputs: valid sessions, then everything a wire or a confused host can do to them."""
    data = bytes(range(1, n_in + 1))

    def load(chunk: int, payload: bytes = data) -> str:
        return f"db load {len(payload)}%" + "".join(f"db {payload[i:i + chunk].hex()}%" for i in range(0, len(payload), chunk))

    s = {
        "banner": "name%profile%timestamp%help%tq-info%",
        "tinyq_run": "name%tq-info%tq-reset%" + load(240) + "tq-infer%tq-out%results%",
        "tinyq_run_twice": load(240) + "tq-infer%" + load(7) + "tq-infer%tq-out%",
        "mlperf": "name%profile%" + load(31) + "db print%infer 1 0%results%timestamp%",
        "mlperf_warmup": load(31) + ("infer 3 2%" if keep else "infer 1 0%infer 1 0%") + "results%",
        "crlf": load(4).replace("%", "%\r\n") + "tq-infer%\r\n",
        "nul": "na\0me%db\0load 3%",
        "over_long_db": f"db load {n_in}%db " + "00" * 600 + "%tq-infer%",
        "over_long_word": "x" * 700 + "%name%",
        "too_many_words": "db load 1 2 3%infer 1 2 3%tq-info x%",
        "partial": f"db load {n_in}%db 0102",
        "partial_then_more": f"db load {n_in}%db 01%db 02" + "%tq-infer%" + "tq-in",
        "duplicated": f"db load {n_in}%db load {n_in}%" + load(240) + load(240)[-40:] + "tq-infer%tq-infer%",
        "dup_percent": "name%%%tq-info%%",
        "size_plus_one": f"db load {n_in + 1}%tq-infer%",
        "size_minus_one": f"db load {n_in - 1}%db {data[:-1].hex()}%tq-infer%infer 1 0%",
        "size_extra_bytes": f"db load 2%db {data.hex()}%db 00%results%",
        "size_zero_negative": "db load 0%db load -5%db load -%db load 99999999999999999999%db load 4294967297%",
        "odd_hex": f"db load {n_in}%db 012%db zz%db 0G%",
        "no_load": "db 0011%tq-infer%tq-out%results%infer%",
        "infer_args": "infer 0 0%infer -1%infer 1 -1%infer a b%infer 99999999999 0%infer 1 2 3%",
        "unknown": "foo%tq-%db%db foo bar%results 1%",
    }
    rng = np.random.default_rng(1)
    garbage = rng.integers(0, 256, 512, dtype=np.uint8).tobytes()
    out = {k: v.encode("latin-1") for k, v in s.items()}
    out["garbage"] = garbage
    out["garbage_percent"] = bytes(b if i % 37 else 0x25 for i, b in enumerate(garbage))
    out["garbage_then_session"] = garbage[:100] + b"%" + out["tinyq_run"]
    out["high_bytes"] = bytes(range(0x80, 0x100)) + b"%" + "db load 1%db ÿ%".encode("latin-1")
    return out


def write_seeds(corpus: Path, target: Target) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(target.input_bytes, target.keep_input).items():
        (corpus / f"seed_{name}").write_bytes(data)


@dataclass
class Result:
    variant: str
    runs: int
    seconds: float
    cov: int
    ft: int
    corpus: int
    findings: list[Path]
    log: str

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        found = ", ".join(str(p) for p in self.findings) or "none"
        return (f"protocol fuzz [{self.variant}]: {self.runs:,} inputs in {self.seconds:.0f} s ({self.rate:,.0f}/s), "
                f"cov {self.cov} edges, ft {self.ft} features, corpus {self.corpus}, findings: {found}")


def run(target: Target, runs: int, seed: int | None = None, corpus: Path | None = None,
        seconds: int | None = None) -> Result:
    """libFuzzer on `target` for `runs` inputs (or `seconds`), from the seeds (and `corpus`, which grows)."""
    base = target.exe.parent
    seed_dir = base / "seeds"
    write_seeds(seed_dir, target)
    artifacts = base / "artifacts"
    artifacts.mkdir(exist_ok=True)
    dirs = [str(corpus)] if corpus is not None else []
    if corpus is not None:
        corpus.mkdir(parents=True, exist_ok=True)
    args = [str(target.exe), f"-runs={runs}", "-max_len=4096", "-timeout=10", "-rss_limit_mb=2048",
            f"-dict={DICT}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1", "-close_fd_mask=1"]
    if seed is not None:
        args.append(f"-seed={seed}")
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    t0 = time.monotonic()
    r = subprocess.run([*args, *dirs, str(seed_dir)], capture_output=True, text=True, errors="replace")
    elapsed = time.monotonic() - t0
    log = r.stderr
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    cov = re.findall(r"\bcov: (\d+) ft: (\d+) corp: (\d+)", log)
    last = cov[-1] if cov else ("0", "0", "0")
    findings = sorted(p for p in artifacts.iterdir() if p.is_file())
    if r.returncode != 0 and not findings:  # a failure that left no reproducer still fails
        findings = [base / "fuzz.log"]
    (base / "fuzz.log").write_text(log)
    return Result(target.variant, int(stats.get("number_of_executed_units", 0)), elapsed, int(last[0]), int(last[1]),
                  int(last[2]), findings, log)


COVERAGE_FLAGS = ["-g", "-O0", "-std=c99", "-Wno-unknown-pragmas", "-Wno-unknown-attributes", "-DTQ_TRACE",
                  "-fsanitize=fuzzer", "-fprofile-instr-generate", "-fcoverage-mapping"]


def coverage(workdir: Path, variant: str, corpus: Path) -> str:
    """Line and branch coverage of the protocol and main.c over `corpus` (llvm-cov's report lines)."""
    target = build(workdir, variant, COVERAGE_FLAGS, tag="-coverage")
    base = target.exe.parent
    raw, data = base / "cov.profraw", base / "cov.profdata"
    subprocess.run([str(target.exe), "-runs=0", "-close_fd_mask=3", str(corpus)], env={"LLVM_PROFILE_FILE": str(raw)},
                   capture_output=True, check=True)
    subprocess.run(["llvm-profdata", "merge", "-sparse", str(raw), "-o", str(data)], check=True)
    r = subprocess.run(["llvm-cov", "report", str(target.exe), f"-instr-profile={data}"], capture_output=True, text=True,
                       check=True)
    keep = [ln for ln in r.stdout.splitlines() if ln.startswith(("Filename", "-", "tq_protocol.c", "main.c"))]
    return "\n".join(keep)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000_000, help="inputs per variant (default 10,000,000)")
    ap.add_argument("--seconds", type=int, default=None, help="stop a variant after this many seconds")
    ap.add_argument("--seed", type=int, default=None, help="libFuzzer's -seed (default: random)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "build" / "fuzz" / "protocol")
    ap.add_argument("--variant", choices=sorted(VARIANTS), action="append", help="default: both")
    ap.add_argument("--coverage", action="store_true", help="no fuzzing: the coverage of the corpus a campaign left")
    a = ap.parse_args(argv)
    status = 0
    if a.coverage:
        for variant in a.variant or list(VARIANTS):
            print(f"[{variant}]\n" + coverage(a.workdir, variant, a.workdir.resolve() / f"corpus-{variant}"))
        return 0
    for variant in a.variant or list(VARIANTS):
        target = build(a.workdir, variant)
        res = run(target, a.runs, a.seed, corpus=a.workdir / f"corpus-{variant}", seconds=a.seconds)
        print(res.line(), flush=True)
        if res.findings:
            status = 1
            print(f"  reproduce: {target.exe} {res.findings[0]}  (log: {target.exe.parent / 'fuzz.log'})")
    return status


if __name__ == "__main__":
    sys.exit(main())
