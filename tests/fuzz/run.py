"""Run one fuzz target under atheris (libFuzzer driving Python, coverage from instrumented tinyq bytecode).

    python -m tests.fuzz.run TARGET [--out DIR] [--seeds DIR] [--small-seeds] [--verify-every N] [libFuzzer flags]

TARGET is one of tests.fuzz.targets.TARGETS. Per input: at most TIMEOUT seconds of CPU (and WALL_TIMEOUT of
wall-clock time: libFuzzer's -timeout) and RSS_MB of memory (-rss_limit_mb; the address space is capped too,
so a huge allocation fails fast instead of swapping the machine). Findings (crash-*, timeout-*, oom-*) are saved under DIR (default build/fuzz/TARGET/),
with the working corpus in DIR/corpus and the seeds in DIR/seeds (written by tests.fuzz.seeds when absent).
Replay one: `python -m tests.fuzz.run TARGET DIR/crash-...` (libFuzzer runs the given files once).
The counters (inputs, accepted, rejected, verified, ...) are in DIR/stats.json; libFuzzer prints cov/ft.

The .tflite target mixes atheris' byte mutations with tests.fuzz.mutate's schema-level ones (half each);
the board and manifest targets likewise with JSON-level ones (a value replaced, removed or duplicated), and
the Keras target with JSON-level ones of a .keras archive's config.json (zipped again), the arrays target
with numpy-level ones (dtype, shape, values, keys; a header claiming another shape).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10  # CPU seconds per input (the contract's hang limit)
WALL_TIMEOUT = 60  # libFuzzer's -timeout: wall-clock seconds, on a loaded machine
RSS_MB = 2048  # the contract's memory limit
ADDRESS_SPACE = 6 << 30  # RLIMIT_AS: beyond it allocations fail (MemoryError: a finding) instead of swapping


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--seeds", type=Path)
    ap.add_argument("--small-seeds", action="store_true", help="the in-suite seed set (small models only)")
    ap.add_argument("--verify-every", type=int, default=0,
                    help="tflite: check 1 in N compiled inputs bit-exact on the host (0: never)")
    args, fuzzer_args = ap.parse_known_args(argv)

    import atheris

    with atheris.instrument_imports(include=["tinyq"]):
        import tinyq.boards  # noqa: F401  every module a target reaches, instrumented now
        import tinyq.build.manifest  # noqa: F401
        import tinyq.checks.inputs  # noqa: F401
        import tinyq.compiler.codegen  # noqa: F401
        import tinyq.compiler.pipeline  # noqa: F401
        import tinyq.fileio  # noqa: F401
        import tinyq.quant.convert  # noqa: F401
        from tests.fuzz import targets
    from tests.fuzz import seeds
    from tests.fuzz.mutate import mutate_arrays, mutate_json, mutate_keras, mutate_model

    if args.target not in targets.TARGETS:
        raise SystemExit(f"unknown target {args.target}: give one of {', '.join(targets.TARGETS)}")
    out = (args.out or REPO / "build" / "fuzz" / args.target).resolve()
    out.mkdir(parents=True, exist_ok=True)
    replay = [a for a in fuzzer_args if not a.startswith("-")]
    if not replay:  # a campaign: the working corpus, then the seeds
        corpus = out / "corpus"
        corpus.mkdir(exist_ok=True)
        seed_dir = args.seeds or out / "seeds"
        if not seed_dir.exists() or not any(seed_dir.iterdir()):
            seeds.make(args.target, seed_dir, small=args.small_seeds)
        fuzzer_args += [str(corpus), str(seed_dir)]
    fn = targets.TARGETS[args.target]
    targets.KEEP_DIR.append(out)
    if args.target == "keras":  # TensorFlow loads once, before the clock of the first input starts
        from tinyq.quant.convert import _tf

        _tf()
        import keras  # noqa: F401
    stats_path = out / "stats.json"
    # The contract's 10 s is CPU time of this process (the machine may be shared: wall time is not the
    # input's); libFuzzer's wall-clock -timeout is the backstop for a true hang (a loop in C, say).
    limit = WALL_TIMEOUT if not args.verify_every else WALL_TIMEOUT + 3 * targets.VERIFY_TIMEOUT
    started = time.monotonic()

    def one(data: bytes) -> None:
        t = time.process_time()
        if args.target == "tflite":
            fn(data, verify_every=args.verify_every)
        else:
            fn(data)
        took = time.process_time() - t
        targets.stats["seconds"] = round(time.monotonic() - started, 1)
        targets.write_stats(stats_path, args.target)
        if took > TIMEOUT:
            raise targets.Finding(f"one input took {took:.1f} s of CPU (limit {TIMEOUT} s)")

    structured = {"tflite": mutate_model, "keras": mutate_keras, "arrays": mutate_arrays}.get(args.target, mutate_json)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        if seed % 2:
            got = structured(data, seed)
            if got is not None and len(got) <= max_size:
                return got
        return atheris.Mutate(data, max_size)

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, hard))
    flags = [f"-artifact_prefix={out}/", f"-timeout={limit}", f"-rss_limit_mb={RSS_MB}", "-print_final_stats=1"]
    if args.target == "tflite":
        flags.append("-max_len=1000000")
    elif args.target in ("board", "manifest", "arrays"):
        flags.append("-max_len=65536")
    else:
        flags.append("-max_len=2000000")
    extra = {"custom_mutator": mutator}
    atheris.Setup([sys.argv[0], *flags, *fuzzer_args], one, **extra)
    atheris.Fuzz()


# glibc's malloc raises its mmap threshold after large frees (up to 32 MB), so the heap keeps what big
# mutated models allocated and RSS creeps up over a campaign until libFuzzer's -rss_limit_mb reports an
# "out of memory" no input caused. A fixed threshold returns large blocks to the system at once.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "4194304"}

if __name__ == "__main__":
    if any(k not in os.environ for k in MALLOC_ENV):
        env = {**os.environ, **MALLOC_ENV, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        os.execve(sys.executable, [sys.executable, "-m", "tests.fuzz.run", *sys.argv[1:]], env)
    main(sys.argv[1:])
