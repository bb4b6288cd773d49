"""`make fuzz`: every file-format target for a while each, then one summary line per target.

    python -m tests.fuzz.campaign [--seconds N] [--targets tflite,arrays,...] [--keras-runs N] [--verify-every N]

Each target runs under tests.fuzz.run (atheris) for `--seconds` (FUZZ_SECONDS in make), its corpus kept in
build/fuzz/<target>/corpus (a later campaign goes on from it), its log in build/fuzz/<target>/log.txt. The
Keras target loads TensorFlow for every input, so it runs `--keras-runs` inputs (a few hundred) within the
same time. Printed per target: inputs run, rate, libFuzzer's coverage (cov: edges of instrumented tinyq
code, ft: features), the corpus, what the contract split into accepted / rejected (and, for tflite, the
sampled bit-exact checks), and the findings (crash-*, timeout-*, oom-* files). Exit 1 if any target found one.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("tflite", "arrays", "board", "manifest", "keras")
_STATUS = re.compile(r"#(\d+)\s+(?:DONE|NEW|REDUCE|pulse|INITED)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+).*?exec/s: (\d+)")
FINDINGS = ("crash-", "timeout-", "oom-", "leak-")


def run_target(target: str, seconds: int, keras_runs: int, verify_every: int, seed: int | None) -> dict:
    out = REPO / "build" / "fuzz" / target
    out.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in out.iterdir() if p.name.startswith(FINDINGS)}
    cmd = [sys.executable, "-m", "tests.fuzz.run", target, f"-max_total_time={seconds}"]
    if target == "keras":
        cmd.append(f"-runs={keras_runs}")
    if target == "tflite" and verify_every:
        cmd += ["--verify-every", str(verify_every)]
    if seed is not None:
        cmd.append(f"-seed={seed}")
    log = out / "log.txt"
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    text = log.read_text(errors="replace")
    status = _STATUS.findall(text)
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {}
    found = sorted(str(p) for p in out.iterdir() if p.name.startswith(FINDINGS) and p.name not in before)
    last = status[-1] if status else ("0", "0", "0", "0", "0", "0")
    secs = max(float(stats.get("seconds", 0.0)), 1e-9)
    return {"target": target, "exit": rc, "runs": int(last[0]), "inputs": stats.get("inputs", 0),
            "rate": round(stats.get("inputs", 0) / secs, 1), "seconds": stats.get("seconds", 0.0),
            "cov": int(last[1]), "ft": int(last[2]), "corpus": f"{last[3]} files / {last[4]}",
            "accepted": stats.get("accepted", 0), "rejected": stats.get("rejected", 0),
            "verified": stats.get("verified", 0), "reference_refused": stats.get("reference_refused", 0),
            "reference_crashed": stats.get("reference_crashed", 0), "findings": found, "log": str(log)}


def line(r: dict) -> str:
    extra = (f", bit-exact checks {r['verified']} (reference refused {r['reference_refused']}, crashed "
             f"{r['reference_crashed']})") if r["target"] == "tflite" else ""
    found = f"{len(r['findings'])} FINDINGS: {', '.join(r['findings'])}" if r["findings"] else "0 findings"
    return (f"{r['target']:9s} {r['inputs']:>8,} inputs in {r['seconds']:.0f} s ({r['rate']}/s)  cov {r['cov']} ft {r['ft']}  "
            f"corpus {r['corpus']}  accepted {r['accepted']:,} rejected {r['rejected']:,}{extra}  {found}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=300, help="per target (FUZZ_SECONDS)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--keras-runs", type=int, default=300)
    ap.add_argument("--verify-every", type=int, default=25, help="tflite: 1 in N compiled inputs checked bit-exact")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)
    results = []
    for t in [t for t in args.targets.split(",") if t]:
        if t not in TARGETS:
            raise SystemExit(f"unknown target {t}: give some of {','.join(TARGETS)}")
        r = run_target(t, args.seconds, args.keras_runs, args.verify_every, args.seed)
        print(line(r), flush=True)
        results.append(r)
    summary = REPO / "build" / "fuzz" / "summary.json"
    summary.write_text(json.dumps(results, indent=1) + "\n")
    print(f"summary: {summary}")
    return 1 if any(r["findings"] or r["exit"] not in (0,) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
