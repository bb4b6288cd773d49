"""The firmware's serial protocol under libFuzzer, AddressSanitizer and UBSan (tests/fuzz/protocol_fuzz.py):
a short fixed-seed run of each variant; `make fuzz-firmware` runs the long campaign. A finding fails the
test and names the reproducer."""

from __future__ import annotations

import shutil

import pytest

from .fuzz.protocol_fuzz import VARIANTS, build, run, seeds

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is missing: `make system` installs it")

RUNS = 100_000


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_short_campaign_has_no_finding(tmp_path, variant):
    target = build(tmp_path, variant)
    res = run(target, RUNS, seed=1)
    assert not res.findings, f"{res.line()}\nreproduce: {target.exe} {res.findings[0]}\n{res.log[-3000:]}"
    assert res.runs == RUNS, res.line()
    # The fuzzer reached the command handlers, not only the byte loop.
    assert res.cov >= 250 and res.corpus >= 100, res.line()


def test_seeds_cover_the_session_kinds():
    s = seeds(18, keep=False)
    assert b"db load 18%" in s["tinyq_run"] and b"tq-infer%" in s["tinyq_run"]
    assert len(s["over_long_word"]) > 512 and b"db load 19%" in s["size_plus_one"]
    assert not s["partial"].endswith(b"%") and len(s["garbage"]) == 512
