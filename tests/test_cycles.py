"""Estimated cycles beside instructions (issue 16, item 4): tinyq's QEMU plugin and the timing model.

The plugin's counts are held to what -icount counts on the same firmware (the firmware's own per-layer
figures, one SysTick tick = 40 instructions on mps2); the timing model is checked on hand-made
instruction mixes against the Cortex-M4 manual's table and the stated Cortex-M7 rules; the CLI on
the kws build. Two QEMU runs in all (qemu-m4).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tinyq.boards import get_board, load_board_file
from tinyq.build.manifest import load as load_manifest
from tinyq.checks.cycles import (
    CycleEstimate,
    Timing,
    base_of,
    estimate,
    flash_stalls,
    m4_block,
    m7_block,
    timing_for,
    traced_device,
)
from tinyq.device import plugin
from tinyq.device.plugin import Block, ExecTrace, Insn, LayerMemory, read_trace
from tinyq.errors import BadInput, ToolMissing

from .conftest import run_tinyq

TICK = 40  # instructions per SysTick tick on mps2 under -icount shift=0


# ---------------------------------------------------------------- the plugin


def test_the_plugin_is_built_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYQ_CACHE", str(tmp_path))
    lib = plugin.plugin_library()
    assert lib.is_relative_to(tmp_path) and lib.stat().st_size > 0
    mtime = lib.stat().st_mtime_ns
    assert plugin.plugin_library() == lib and lib.stat().st_mtime_ns == mtime
    assert [p.name for p in lib.parent.iterdir()] == [lib.name]  # no temporary file left behind
    r = subprocess.run(["gcc", "-fsyntax-only", "-std=gnu11", "-Wall", "-Wextra", "-Werror", str(plugin.PLUGIN_SOURCE)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_no_host_compiler_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYQ_CACHE", str(tmp_path))
    monkeypatch.setattr(plugin.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissing, match=r"no host C compiler \(gcc\).*apt-get install gcc"):
        plugin.plugin_library()


@pytest.fixture(scope="module")
def traced_kws(kws_m4_build, tmp_path_factory):
    """One kws inference on qemu-m4 with the plugin, flash modelled as nucleo-l4r5zi's:
    (firmware's Inference, the plugin's trace)."""
    board = get_board("qemu-m4")
    manifest = load_manifest(kws_m4_build)
    out = tmp_path_factory.mktemp("trace") / "trace.txt"
    timing = timing_for(board, "nucleo-l4r5zi")
    with traced_device(kws_m4_build, board, timing, out) as dut:
        inf, _ = dut.run(bytes(range(256)) * (manifest.input_bytes // 256) + bytes(manifest.input_bytes % 256),
                         manifest.output_bytes, len(manifest.layers))
    return inf, read_trace(out)


def test_the_plugin_counts_what_icount_counts(traced_kws):
    inf, trace = traced_kws
    assert trace.window >= 1 and trace.layers == len(inf.layers) + 1  # + the return from invoke
    for k, fw in enumerate(inf.layers):
        # the firmware's figure of layer k: icount between two SysTick reads, rounded to a tick, and
        # including the trace point's own bookkeeping (about 25 instructions: its call and SysTick read)
        got = trace.instructions(k)
        assert -TICK <= fw - got <= 2 * TICK, (k, fw, got)
    inside = trace.instructions()  # every layer, without the trace points
    assert inside <= inf.cycles <= inside + trace.instructions(-1) + TICK
    assert inside > 3_000_000


def test_the_plugin_sees_flash_reads_and_branches(traced_kws):
    _, trace = traced_kws
    convs = [trace.memory[k] for k in (2, 4, 6, 8)]  # kws's 1x1 convolutions stream their weights from flash
    assert all(m.flash_reads > 10_000 and 0 < m.dmisses < m.flash_reads for m in convs)
    assert all(c.flash_reads == convs[0].flash_reads for c in convs[1:])  # same shapes, same reads
    assert all(abs(c.dmisses - convs[0].dmisses) < convs[0].dmisses / 100 for c in convs[1:])  # caches differ at the start
    taken = sum(b.taken for b in trace.blocks if b.layer == 2)
    assert 0 < taken < sum(b.execs for b in trace.blocks if b.layer == 2)


# ---------------------------------------------------------------- the timing model


def ins(addr: int, text: str, size: int = 2) -> Insn:
    mnemonic, _, operands = text.partition(" ")
    return Insn(addr, size, mnemonic, operands.strip())


def seq(*texts: str, size: int = 2) -> list[Insn]:
    return [ins(0x100 + size * k, t, size) for k, t in enumerate(texts)]


@pytest.mark.parametrize("mnemonic, base, conditional", [
    ("bne.n", "b", True), ("bls", "b", True), ("bl", "bl", False), ("bics", "bic", False), ("movs", "mov", False),
    ("moveq", "mov", True), ("addseq", "add", True), ("ldrd", "ldrd", False), ("smlad", "smlad", False),
    ("vmla.f32", "vmla", False), ("itete", "it", False), ("teq", "teq", False), ("ldr.w", "ldr", False),
])
def test_mnemonics_are_read_as_base_and_condition(mnemonic, base, conditional):
    assert base_of(mnemonic) == (base, conditional)


def test_cortex_m4_table():
    # loads pipeline after a load: 2 + 1 + 1; a conditional branch: 1, or 1 + P (P = 2) when taken
    assert m4_block(seq("ldr r0, [r1]", "ldr r2, [r1, #4]", "ldr r3, [r1, #8]", "add r0, r2", "bne.n 100 <x>")) == (6, 8)
    assert m4_block(seq("smlad r0, r1, r2, r0", "sxtb16 r3, r4", "smmlar r5, r6, r7, r8")) == (3, 3)
    assert m4_block(seq("ldmia r0!, {r1, r2, r3, r4}", "push {r4, r5, r6, r7, lr}")) == (5 + 6, 5 + 6)
    assert m4_block(seq("ldrd r0, r1, [r2]", "strd r0, r1, [r3]")) == (6, 6)
    assert m4_block(seq("sdiv r0, r1, r2")) == (7, 7)
    assert m4_block(seq("str r0, [r1]", "add r0, #1", "str r0, [r1]")) == (5, 5)  # an ALU op breaks the pipelining
    assert m4_block(seq("ldr r0, [r1]", "str r0, [r2]", "str r0, [r3]")) == (5, 5)  # nothing pipelines after a store
    assert m4_block(seq("cmp r0, #1", "it eq", "moveq r0, #2")) == (2, 2)  # IT folded after a 16-bit instruction
    assert m4_block([ins(0x100, "cmp.w r0, #1", 4), ins(0x104, "it eq"), ins(0x106, "moveq r0, #2")]) == (3, 3)
    assert m4_block(seq("pop {r4, pc}")) == (5, 5)  # 1 + N + P, always taken
    assert m4_block(seq("bl 200 <f>")) == (3, 3)
    assert m4_block(seq("vmla.f32 s0, s1, s2", "vdiv.f32 s3, s4, s5", "vadd.f32 s0, s1, s2")) == (18, 18)


def test_cortex_m7_rules():
    assert m7_block(seq("add r0, r1", "add r2, r3")) == (1, 1)  # dual issue
    assert m7_block(seq("add r0, r1", "add r2, r0")) == (2, 2)  # the second reads the first's result
    assert m7_block(seq("ldr r0, [r4]", "ldr r1, [r5]")) == (2, 2)  # one memory access a cycle
    assert m7_block(seq("ldr r0, [r4]", "add r1, r0")) == (3, 3)  # no pair, and the load's result is late
    assert m7_block(seq("smlad r0, r1, r2, r0", "smlad r3, r1, r2, r3")) == (2, 2)  # one multiplier
    assert m7_block(seq("smlad r0, r1, r2, r0", "ldr r3, [r4]")) == (1, 1)
    backward = [ins(0x100, "subs r0, #1"), ins(0x102, "bne.n f0 <x>")]
    forward = [ins(0x100, "subs r0, #1"), ins(0x102, "bne.n 1f0 <x>")]
    assert m7_block(backward) == (1 + 8, 1)  # predicted taken: falling through is the misprediction
    assert m7_block(forward) == (1, 1 + 8)


def test_flash_wait_states_per_miss():
    t = Timing("b", "cortex-m4", 120_000_000, wait_states=5, icache=(128, 8), dcache=(32, 8))
    m = LayerMemory(flash_reads=100, dmisses=10, imisses=3, imisses_sequential=7)
    assert flash_stalls(m, t) == 5 * 10 + 5 * 3 + (5 + 1 - 8 // 2) * 7
    assert flash_stalls(m, Timing("q", "cortex-m4", 25_000_000)) == 0


def test_estimate_of_a_hand_made_trace():
    code = seq("ldr r0, [r1]", "ldr r2, [r1, #4]", "add r0, r2", "bne.n 100 <x>", "bx lr")
    insns = {i.addr: i for i in code}
    trace = ExecTrace(window=1, layers=3, blocks=[
        Block(0, 0x100, 4, execs=10, taken=9),   # a loop: 5 cycles a pass, 7 when taken
        Block(1, 0x100, 4, execs=1, taken=0),
        Block(2, 0x108, 1, execs=1, taken=1),     # the return after the last trace point
        Block(-1, 0x100, 4, execs=5, taken=5),    # trace-point overhead: not part of the inference
    ], memory={0: LayerMemory(40, 4, 0, 0)})
    t = Timing("b", "cortex-m4", 100_000_000, wait_states=2, dcache=(8, 8))
    e = estimate(trace, insns, t, [{"index": 0, "op": "CONV_2D"}, {"index": 3, "op": "ADD"}])
    assert [(L.index, L.op, L.instructions, L.cycles) for L in e.layers] == [
        (0, "CONV_2D", 40, 9 * 7 + 5 + 2 * 4), (3, "ADD", 4 + 1, 5 + 3)]
    assert e.instructions == 45 and e.cycles == 76 + 8 and e.flash_stall_cycles == 8 and e.overhead_instructions == 20
    assert e.ms == pytest.approx(1000 * 84 / 100e6)
    assert isinstance(e, CycleEstimate) and e.to_json()["layers"][1]["cycles"] == 8


def test_board_timing_data(tmp_path):
    t = Timing.of(get_board("nucleo-l4r5zi"))
    assert (t.core, t.clock_hz, t.wait_states) == ("cortex-m4", 120_000_000, 5) and t.icache and t.dcache
    assert Timing.of(get_board("qemu-m4")).wait_states == 0  # emulated boards: zero-wait-state memory
    data = json.loads(get_board("nucleo-l4r5zi").path.read_text())
    data["timing"] = {"flash_wait_states": 5, "dcache": {"lines": 8, "line_bytes": 12}}
    bad = tmp_path / "nucleo-l4r5zi.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="timing/dcache/line_bytes"):
        load_board_file(bad)


def test_estimates_need_the_builds_core_and_a_modelled_one():
    m4 = get_board("qemu-m4")
    with pytest.raises(BadInput, match=r"--cycles-for disco-f746 is a cortex-m7, the build is for a cortex-m4"):
        timing_for(m4, "disco-f746")
    with pytest.raises(BadInput, match="cycles are estimated for cortex-m4 and cortex-m7 boards"):
        timing_for(get_board("qemu-m55"), None)
    with pytest.raises(BadInput, match="real hardware: cycles are estimated from QEMU's execution"):
        timing_for(get_board("nucleo-l4r5zi"), None)


SELF_RUNNING = r"""
__attribute__((naked, noinline)) void tq_work(void)
{
    __asm volatile("movs r0, #100\n1:\n subs r0, #1\n bne 1b\n bx lr\n");
}
void tq_start(void)
{
    tq_work();
    for (;;) {
    }
}
__attribute__((section(".vectors"), used)) void (*const tq_vectors[2])(void) = {(void (*)(void))0x20001000, tq_start};
"""


@pytest.mark.parametrize("board, cycles", [
    # M4: movs 1; subs 1 + bne 1 (+2 when taken: 99 times); bx lr 1 + 2
    ("qemu-m4", 1 + 100 * 2 + 99 * 2 + 3),
    # M7: movs alone (subs reads r0), subs + bne dual-issued, the last pass mispredicted (+8), bx predicted
    ("qemu-m7", 1 + 100 * 1 + 8 + 1),
])
def test_a_function_in_any_firmware(tmp_path, board, cycles):
    """estimate_elf: one call of a function in a firmware that runs by itself (e.g. a TFLM harness)."""
    from tinyq.build.link import arm_gcc
    from tinyq.checks.cycles import estimate_elf

    (tmp_path / "app.c").write_text(SELF_RUNNING)
    (tmp_path / "app.ld").write_text("SECTIONS { . = 0; .vectors : { KEEP(*(.vectors)) } .text : { *(.text*) } }\n")
    core = get_board(board).core
    subprocess.run([arm_gcc(), "-O2", f"-mcpu={core}", "-mthumb", "-nostdlib", "-T", "app.ld", "-o", "app.elf", "app.c"],
                   cwd=tmp_path, check=True)
    e = estimate_elf(tmp_path / "app.elf", board, function="tq_work", timeout=30)
    assert [(L.op, L.instructions, L.cycles) for L in e.layers] == [("tq_work", 1 + 100 * 2 + 1, cycles)]


# ---------------------------------------------------------------- the CLI


def test_profile_prints_estimated_cycles_beside_instructions(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--runs", "1", "--cycles-for", "nucleo-l4r5zi", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    e = d["estimate"]
    assert e["board"] == "nucleo-l4r5zi" and e["core"] == "cortex-m4" and e["clock_hz"] == 120_000_000
    assert e["flash_wait_states"] == 5 and e["flash_stall_cycles"] > 0
    assert e["ms"] == pytest.approx(e["cycles"] / 120_000, rel=1e-4)
    assert abs(e["instructions"] - d["cycles"]) < 2000  # the plugin's window against -icount's
    assert e["cycles"] > e["instructions"] and e["unknown_mnemonics"] == {}
    assert [L["index"] for L in e["layers"]] == [L["index"] for L in d["layers"]]
    assert sum(L["cycles"] for L in e["layers"]) == e["cycles"]

    r = run_tinyq("profile", kws_m4_build, "--runs", "1", "--cycles")
    assert r.returncode == 0, r.stderr
    assert "est. cycles (qemu-m4)" in r.stdout and "estimated cortex-m4 cycles per inference" in r.stdout
    assert "0 flash wait states" in r.stdout and "bit-exact" in r.stdout


def test_profile_refuses_a_board_of_another_core(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--runs", "1", "--cycles-for", "disco-f746")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "cortex-m7" in r.stderr and "Traceback" not in r.stderr


def test_the_plugin_source_ships_as_package_data():
    from tinyq.resources import FIRMWARE

    assert plugin.PLUGIN_SOURCE == FIRMWARE / "qemu" / "tq_exec_plugin.c" and plugin.PLUGIN_SOURCE.is_file()
    assert os.access(Path(plugin.PLUGIN_SOURCE), os.R_OK)


def test_bench_puts_estimated_cycles_beside_instructions(kws):
    r = run_tinyq("bench", kws, "--board", "qemu-m4", "--runs", "1", "--cycles-for", "nucleo-l4r5zi", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    (m,) = d["models"]
    e = m["estimate"]
    assert e["board"] == "nucleo-l4r5zi" and e["clock_hz"] == 120_000_000 and e["cycles"] > m["instructions"]
    assert abs(e["instructions"] - m["instructions"]) < 2000
    assert d["command"].endswith("--cycles-for nucleo-l4r5zi")
    r = run_tinyq("bench", kws, "--board", "qemu-m4", "--runs", "1", "--cycles", "--markdown")
    assert r.returncode == 0, r.stderr
    assert "| est. cycles on qemu-m4 | ms at 25 MHz |" in r.stdout
