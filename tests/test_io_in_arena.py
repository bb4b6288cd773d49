"""The model's input and output inside the arena (as TFLM's arena holds them): the firmware loads the
input straight into it and reads the output from it. A default build reuses the input's bytes, so each
inference needs its input loaded again; --keep-input (and an MLPerf Tiny build) keeps it."""

import json

import numpy as np
import pytest

from tinyq.checks.reference import Reference

from .conftest import run_tinyq, shared_model

KWS_IN = 490


@pytest.fixture(scope="module")
def kws_default(tmp_path_factory):
    """kws for qemu-m4 with no --mlperf-model: the plan reuses the input's bytes."""
    from tinyq.boards import get_board
    from tinyq.build.firmware import build

    out = tmp_path_factory.mktemp("kws-default") / "build"
    return build(shared_model("kws_ref_model.tflite"), get_board("qemu-m4"), out)


def _reference(data: bytes) -> np.ndarray:
    ref = Reference(shared_model("kws_ref_model.tflite"))
    d = ref.inputs[0]
    return ref.run([np.frombuffer(data, np.int8).reshape(d["shape"])], [d["index"]], [ref.outputs[0]["index"]])[0].reshape(-1)


def test_the_manifest_counts_ram_as_tflm_does(kws_default):
    m = kws_default.manifest
    d = json.loads((kws_default.out_dir / "build.json").read_text())
    assert d["manifest_version"] >= 3 and d["keep_input"] is False
    # the arena holds the 490-byte input and the 12-byte output: RAM as TFLM counts it is the arena
    assert d["ram_tflm"] == m.ram_tflm == m.arena_bytes == m.arena_lower_bound
    assert m.arena_bytes < 8704 + 490 + 12  # below the old arena + I/O buffers
    src = (kws_default.out_dir / "src" / "tq_fw_model.c").read_text()
    assert "tq_fw_input[" not in src and "model_run()" in src  # no I/O buffers of its own, no copies


def test_a_default_build_consumes_its_input_on_qemu(kws_default):
    from tinyq.boards import get_board
    from tinyq.device import open_device

    rng = np.random.default_rng(4)
    data = [rng.integers(-128, 128, KWS_IN).astype(np.int8).tobytes() for _ in range(2)]
    consumed = ("e-[Each inference consumes the input: load it before each one (infer 1 0), "
                "or build with --keep-input]")
    with open_device(kws_default.out_dir, get_board("qemu-m4")) as dut:
        assert dut.info()["arena"] == str(kws_default.manifest.arena_bytes)
        for x in data:  # load, run: bit-exact, each input loaded again (what the device runners do)
            dut.load(x)
            assert np.array_equal(np.frombuffer(dut.infer(12, 12).output, np.int8), _reference(x))
        assert dut.command("tq-infer", allow_error=True) == [consumed]
        assert dut.command("infer 1 0", allow_error=True) == [consumed]
        out = dut.command("tq-out")  # the last outputs are still there (the input does not overlap them)
        assert bytes.fromhex(out[0][10:-1]) == _reference(data[1]).tobytes()
        dut.load(data[0])
        assert dut.command("infer 2 0", allow_error=True) == [consumed]
        lines = dut.command("infer 1 0")
        assert lines[:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"] and lines[-1].startswith("m-results-[")


def test_keep_input_build_runs_one_load_many_times(tmp_path):
    out = tmp_path / "keep"
    r = run_tinyq("build", shared_model("kws_ref_model.tflite"), "--board", "qemu-m4", "-o", out, "--keep-input", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["keep_input"] is True and d["ram_tflm"] == d["arena_bytes"] == d["arena_lower_bound"]
    assert "#define MODEL_INPUT_KEPT 1" in (out / "src" / "model.h").read_text()


def test_an_older_build_json_is_refused_with_the_rebuild_line(kws_default, tmp_path):
    d = json.loads((kws_default.out_dir / "build.json").read_text())
    d["manifest_version"] = 2
    for k in ("ram_tflm", "keep_input"):
        d.pop(k)
    (tmp_path / "build.json").write_text(json.dumps(d))
    r = run_tinyq("profile", tmp_path)
    assert r.returncode == 2 and "manifest version 2" in r.stderr and "rebuild with" in r.stderr


def test_bench_shows_ram_as_tflm_counts_it_beside_the_arena():
    from tinyq.boards import get_board
    from tinyq.checks.bench import BenchRow, Tflm, markdown

    tflm = {"cmsis": Tflm("cmsis", 7_846_720, 22_820, 93_852)}
    row = BenchRow(model="kws", board="qemu-m4", macs=2_664_768, instructions=3_883_840, cycle_unit="instructions",
                   bit_exact=True, passed=True, runs=3, arena_bytes=8_736, arena_lower_bound=8_736, ram_tflm=8_736,
                   code_bytes=15_576, weight_bytes=31_424, tflm=tflm, layers=[])
    md = markdown([row], get_board("qemu-m4"), "tinyq bench kws.tflite --board qemu-m4").splitlines()
    head, line = md[4].split(" | "), md[6].split(" | ")
    assert head[5:8] == ["arena B (lower bound)", "RAM (TFLM count) B", "/ TFLM arena"]
    assert line[5:8] == ["8,736 (8,736)", "8,736", "0.38"]
    assert row.ratios()["ram_tflm_vs_tflm"] == pytest.approx(8_736 / 22_820)
