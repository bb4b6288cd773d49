"""The generated C under AddressSanitizer and UBSan (tests/fuzz/sanitize_models.py, tinyq.build.sanitize):
a few models of the catalogue on their edge and random inputs, and proof that a planted fault is caught.
`make sanitize` runs the whole catalogue."""

from __future__ import annotations

import re

import pytest

from tinyq.build.sanitize import SanitizedHost
from tinyq.checks.inputs import make_inputs
from tinyq.checks.runners import host_runner
from tinyq.compiler import generate_library, target_for
from tinyq.errors import CheckFailed

from .fuzz.sanitize_models import catalogue, check

QUICK = catalogue(quick=True)


@pytest.mark.parametrize("name", sorted(QUICK))
def test_quick_models_have_no_finding(tmp_path, name):
    model = QUICK[name]()
    for kernels in ("fast", "ref"):
        res = check(name, model, kernels, samples=5, workdir=tmp_path)
        assert res.finding is None, res.line()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "m.tflite"
    path.write_bytes(QUICK["softmax_int8"]())
    gen = generate_library(path, name="tq_model", target=target_for("fast"))
    return gen, make_inputs(gen.graph, 2)[0]


def _planted(gen, old: str, new: str):
    """`gen` with the first match of regex `old` in tq_model.c replaced by `new`."""
    text = gen.files["tq_model.c"]
    bad, n = re.subn(old, new, text, count=1)
    assert n == 1, old
    return type(gen)(files={**gen.files, "tq_model.c": bad}, graph=gen.graph, weight_bytes=gen.weight_bytes)


def test_clean_model_runs_and_exits_clean(small):
    gen, batch = small
    runner = host_runner(gen, sanitize=True)
    assert isinstance(runner.host, SanitizedHost)
    outs = [runner.run(x) for x in batch]
    runner.host.close()
    assert len(outs) == len(batch) and outs[0][0].shape == tuple(gen.graph.tensor(gen.graph.outputs[0]).shape)


def test_a_read_past_an_input_buffer_is_a_finding(small):
    gen, batch = small
    n = gen.graph.tensor(gen.graph.inputs[0]).nbytes
    bad = _planted(gen, rf"(memmove\(tq_arena \+ \d+, \w+, ){n}u\);", rf"\g<1>{n + 1}u);")
    with pytest.raises(CheckFailed, match="heap-buffer-overflow"), SanitizedHost(bad, "tq_model") as host:
        host.run(batch[0])


def test_signed_overflow_is_a_finding(small):
    gen, batch = small
    bad = _planted(gen, re.escape("status = tq_model_run();"), "status = tq_model_run();\n    status += 0x7fffffff;\n    status += 1;")
    with pytest.raises(CheckFailed, match="signed integer overflow"), SanitizedHost(bad, "tq_model") as host:
        host.run(batch[0])
