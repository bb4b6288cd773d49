"""`tinyq profile` over a serial line that misbehaves: the fake board of fake_board.py on a pty, and
the real firmware under QEMU behind the fault-injecting proxy of fault_proxy.py.

The fake answers as the firmware does, with outputs from TFLite's reference interpreter, and
injects one fault at a time. Faults after which an input can be loaded and run again (a reset, a
silence, a garbled reply or input caught by the CRC, a port that re-enumerates) are retried and the
run stays bit-exact with `retries` counted; the others stop with exit 1 (2 for a port that does not
exist) and one line naming the port, what came and what to do. Through the proxy, bytes flipped,
dropped and duplicated either way never make a wrong figure: the run gives the clean run's figures
or fails with one line.
"""

import json
import shutil
import socket
import time

import pytest

from tinyq.boards import get_board
from tinyq.checks.profile import run_on_device
from tinyq.device.protocol import (
    MAX_NOISE,
    BadReply,
    BoardReset,
    Dut,
    Garbage,
    Link,
    NoReply,
    PortLost,
    Retryable,
    WrongFirmware,
    protocol_line,
    shown,
)
from tinyq.device.qemu import Qemu

from .conftest import run_tinyq, shared_model
from .fake_board import FakeBoard, Fault
from .fault_proxy import FaultProxy, Rates, Rule

T = 0.3  # seconds a reply may take: the fake answers in milliseconds
KWS_LAYERS = 12
KWS_CYCLES = sum(1000 + 100 * k for k in range(KWS_LAYERS)) + 50  # what the fake reports


def run(build, board, runs=3, timeout=T, **kw):
    notes = []
    res = run_on_device(build, port=board.port, runs=runs, timeout=timeout, on_retry=notes.append, **kw)
    return res, notes


def one_error_line(stderr: str) -> str:
    """The one error line on stderr (after any retry notes), no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("retrying input ")]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def tinyq_main(capsys, *args) -> tuple[int, str, str]:
    """`tinyq ARGS` in this process (the reference interpreter is loaded already): code, stdout, stderr."""
    from tinyq.cli.root import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- clean runs and what is skipped


def test_clean_run_is_bit_exact_with_the_boards_cycles(kws_m4_build):
    with FakeBoard(kws_m4_build) as board:
        res, notes = run(kws_m4_build, board)
    assert res.bit_exact and res.samples == 3 and res.retries == 0 and not notes
    assert res.cycles == [KWS_CYCLES] * 3 and res.layer_table()[0]["cycles"] == 1000
    assert "retries" not in res.to_json()
    assert [c for c in board.commands if c.startswith("db load")] == ["db load 490"] * 3


def test_noise_before_every_reply_is_skipped(kws_m4_build):
    with FakeBoard(kws_m4_build, [Fault("noise", on="*", count=0)]) as board:
        res, notes = run(kws_m4_build, board)
    assert res.bit_exact and res.retries == 0 and not notes


def test_slow_replies_within_the_timeout(kws_m4_build):
    with FakeBoard(kws_m4_build, [Fault("slow", on="*", count=0, delay=0.03)]) as board:
        res, notes = run(kws_m4_build, board, runs=2)
    assert res.bit_exact and res.retries == 0 and not notes


def test_a_model_hash_reported_by_the_firmware_is_checked(kws_m4_build):
    sha = json.loads((kws_m4_build / "build.json").read_text())["model"]["sha256"]
    with FakeBoard(kws_m4_build, sha=sha[:16]) as board:
        res, _ = run(kws_m4_build, board, runs=1)
    assert res.bit_exact


# ---------------------------------------------------------------- faults retried


RETRIED = {
    "reset during an inference": [Fault("reset", nth=2)],
    "reset during a load": [Fault("reset", on="db", nth=2)],
    "reset between two commands": [Fault("reset_after", on="db load", nth=2)],
    "port re-enumerates on reset": [Fault("replug", nth=2)],
    "port re-enumerates after the reset showed": [Fault("replug", nth=2, delay=0.1)],
    "one command unanswered": [Fault("silent", on="db load", nth=2)],
    "garbage inside a reply line": [Fault("glitch", nth=3, data=b"\x00\xff\xfe")],
    "end of a reply eaten": [Fault("glitch", on="db load", nth=2, line=-1, data=b"\xf0\r\n\xff")],
    "start of a reply eaten": [Fault("glitch", on="db load", nth=2, data=b"\xf0\r\n\xff")],
    "output line garbled": [Fault("bad_hex", nth=1)],
    "a figure changed on the wire": [Fault("wire", nth=2)],
    "an input byte changed on its way": [Fault("input", on="db", nth=4)],
    "a command damaged on its way": [Fault("input", on="db load", nth=2)],
}


@pytest.mark.parametrize("faults", RETRIED.values(), ids=RETRIED.keys())
def test_recoverable_faults_are_retried_and_stay_bit_exact(kws_m4_build, faults):
    with FakeBoard(kws_m4_build, faults) as board:
        res, notes = run(kws_m4_build, board)
    assert res.bit_exact and res.samples == 3
    assert res.retries == 1 and res.to_json()["retries"] == 1
    assert len(notes) == 1 and board.port in notes[0] and "running it again (1 of 2)" in notes[0]
    assert sum(c.startswith("db load") for c in board.commands) == 4  # the faulty input was loaded again
    if faults[0].kind in ("reset", "reset_after", "replug"):
        assert board.resets == (2 if faults[0].delay else 1)


def test_the_reset_is_named_in_the_retry_note(kws_m4_build):
    with FakeBoard(kws_m4_build, [Fault("reset", nth=2)]) as board:
        _, notes = run(kws_m4_build, board)
    assert notes == [(f"input 2 of 3: the board on {board.port} restarted during 'tq-infer' (its boot banner came "
                      "instead of a reply); running it again (1 of 2)")]


class ResettableQemu(Qemu):
    """QEMU with its monitor on a unix socket, so a test can press the board's reset button."""

    def __init__(self, elf, board, monitor):
        super().__init__(elf, board)
        self.monitor = str(monitor)

    def command(self, serial_arg: str) -> list[str]:
        cmd = super().command(serial_arg)
        cmd[cmd.index("-monitor") + 1] = f"unix:{self.monitor},server=on,wait=off"
        return cmd

    def reset(self) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.monitor)
            s.sendall(b"system_reset\n")
            time.sleep(0.05)


def test_the_real_firmware_reset_during_an_inference(kws_m4_build, monkeypatch, tmp_path):
    """The real firmware under QEMU, reset as the second `tq-infer` reaches it: it boots again,
    prints its banner and forgets the input; the input is loaded and run again, bit-exact."""
    sent = []
    write = Link.write

    with ResettableQemu(kws_m4_build / "firmware.elf", get_board("qemu-m4"), tmp_path / "monitor") as qemu:
        def write_then_reset(link, text):
            write(link, text)
            sent.append(text)
            if sent.count("tq-infer%") == 2 and text == "tq-infer%":
                qemu.reset()

        monkeypatch.setattr(Link, "write", write_then_reset)
        notes = []
        res = run_on_device(kws_m4_build, port=qemu.url, runs=3, timeout=2, on_retry=notes.append)
    assert res.bit_exact and res.samples == 3 and res.retries == 1 and sent.count("db load 490%") == 4, (notes, sent)
    # The reset lands during the inference (~0.2 s); on a machine slow enough that the inference
    # finishes first, the third input meets the banner instead: retried the same way.
    assert len(notes) == 1 and notes[0].endswith("(its boot banner came instead of a reply); running it again (1 of 2)"), notes
    assert notes[0].startswith((f"input 2 of 3: the board on {qemu.url} restarted during 'tq-infer'",
                                f"input 3 of 3: the board on {qemu.url} restarted during '")), notes


# ---------------------------------------------------------------- faults that stop the run


def test_resets_on_every_inference_give_up_after_the_retries(kws_m4_build):
    gave_up = r"restarted during 'tq-infer'.*gave up after 2 retries; --retries allows more"
    with FakeBoard(kws_m4_build, [Fault("reset", count=0)]) as board, pytest.raises(BoardReset, match=gave_up):
        run(kws_m4_build, board)
    assert board.resets == 3


def test_no_retries_fails_at_the_first_fault(kws_m4_build):
    garbled = (r"the answer to 'tq-infer' from .* fails its checksum \(CRC-32 \d+ of what came, the board says \d+\): "
               r"a byte of the input sent or the reply changed on the wire: a glitch on the line: check the cable")
    with FakeBoard(kws_m4_build, [Fault("bad_hex")]) as board, pytest.raises(BadReply, match=garbled):
        run(kws_m4_build, board, retries=0)


def test_a_board_that_goes_dead_reports_the_first_silence(kws_m4_build):
    # commands: '' (the client ends any half-received command), name, tq-info, db load, 3 x db, tq-infer
    # (the 8th): silent from there on
    with FakeBoard(kws_m4_build, [Fault("silent", on="*", nth=8, count=0)]) as board, pytest.raises(NoReply) as e:
        run(kws_m4_build, board, timeout=0.1)
    msg = str(e.value)
    assert msg.startswith(f"no answer to 'tq-infer' within 1.2 s from {board.port} (nothing came back) "
                          "(and no answer to 'name' after it): is the board running tinyq firmware? ")
    assert msg.endswith(f"press its reset button or run `tinyq flash {kws_m4_build}`")


def test_a_reply_slower_than_the_timeout(kws_m4_build):
    late = [Fault("slow", on="db load", count=0, delay=0.5)]
    with FakeBoard(kws_m4_build, late) as board, pytest.raises(NoReply, match=r"no answer to 'db load 490' within 0.3 s"):
        run(kws_m4_build, board, retries=0)


def test_endless_noise_is_garbage_after_a_bound(kws_m4_build):
    noise = [Fault("noise", on="tq-info", count=0, data=b"\xffboot\x00\r\n" * (MAX_NOISE + 5))]
    bound = (rf"after 'tq-info': {MAX_NOISE + 1} lines that are not tinyq protocol, "
             r"the first '\\xffboot\\x00': check the baud rate \(115200\)")
    with FakeBoard(kws_m4_build, noise) as board, pytest.raises(Garbage, match=bound):
        run(kws_m4_build, board)
    assert board.commands.count("tq-info") == 3  # asked again twice after resynchronizing


def test_a_port_that_does_not_come_back(kws_m4_build):
    board = FakeBoard(kws_m4_build)
    link = Link(board.port)
    with board:
        dut = Dut(link, timeout=T)
        dut.sync()
    # the board is gone: its pty closed and its port removed
    try:
        with pytest.raises(PortLost, match=r"went away while (reading|writing) \(.*\): the board reset or was unplugged"):
            dut.command("name")
        with pytest.raises(PortLost, match=r"went away and did not come back within 0.3 s"):
            link.reopen(T)
    finally:
        link.close()


# ---------------------------------------------------------------- through the command line


def test_cli_reset_mid_run_json_is_the_emulated_one_plus_retries(kws_m4_build):
    emulated = run_on_device(kws_m4_build, runs=1).to_json({})
    with FakeBoard(kws_m4_build, [Fault("reset", nth=2)]) as board:
        r = run_tinyq("profile", kws_m4_build, "--port", board.port, "--json", "-n", "2", "--timeout", T)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == set(emulated) | {"retries"}
    assert d["retries"] == 1 and d["bit_exact"] and d["samples"] == 2 and d["mismatches"] == 0
    assert d["cycles_all"] == [KWS_CYCLES] * 2 and d["latency_ms"] == round(1000 * KWS_CYCLES / 25e6, 4)
    notes = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(notes) == 1 and notes[0].startswith("retrying input 2 of 2: the board on ")


def test_cli_silent_board(kws_m4_build):
    with FakeBoard(kws_m4_build, [Fault("silent", count=0)]) as board:
        r = run_tinyq("profile", kws_m4_build, "--port", board.port, "--timeout", "0.1", "--retries", "1")
    assert r.returncode == 1
    assert r.stderr.startswith("retrying input 1 of 5: no answer to 'tq-infer'")
    line = one_error_line(r.stderr)
    assert f"no answer to 'tq-infer' within 1.2 s from {board.port} (nothing came back)" in line
    assert line.endswith(f"(gave up after 1 retry; --retries allows more): is the board running tinyq firmware? "
                         f"press its reset button or run `tinyq flash {kws_m4_build}`")


def test_cli_wrong_model_names_both(kws_m4_build):
    sha = json.loads((kws_m4_build / "build.json").read_text())["model"]["sha256"]
    with FakeBoard(kws_m4_build, sha="0123456789abcdef") as board:
        r = run_tinyq("profile", kws_m4_build, "--port", board.port, "--timeout", T)
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert f"the board on {board.port} runs another firmware (model 0123456789ab: qemu-m4, input 490 B" in line
    assert f"than {kws_m4_build} (model {sha[:12]}: qemu-m4" in line and line.endswith(f"run `tinyq flash {kws_m4_build}`")


def test_cli_firmware_from_before_the_crc(kws_m4_build, capsys):
    """A firmware whose tq- replies carry no CRC line (built by an older tinyq): tq-info is asked three
    times, then one line says so, with `tinyq flash` as the fix."""
    with FakeBoard(kws_m4_build, crc=False) as board:
        code, stdout, stderr = tinyq_main(capsys, "profile", kws_m4_build, "--port", board.port, "--timeout", T)
    assert code == 1 and stdout == "" and board.commands.count("tq-info") == 3
    line = one_error_line(stderr)
    assert f"the answer to 'tq-info' from {board.port} came without its checksum line (m-tq-crc): 'm-tq-info-[model=" in line
    assert line.endswith(f"or the board runs a tinyq firmware older than this host: run `tinyq flash {kws_m4_build}`")


def test_wrong_firmware_without_a_model_hash_shows_signatures(kws_m4_build):
    with FakeBoard(kws_m4_build, info={"arena": 9000, "layers": 11}) as board, pytest.raises(WrongFirmware) as e:
        run(kws_m4_build, board)
    msg = str(e.value)
    arena = json.loads((kws_m4_build / "build.json").read_text())["arena_bytes"]  # 9,200 B: input kept (kws01)
    assert "11 layers, arena 9000 B" in msg and f"{KWS_LAYERS} layers, arena {arena} B" in msg
    sigs = [w for w in msg.replace(":", " ").split() if len(w) == 12 and all(c in "0123456789abcdef" for c in w)]
    assert msg.count("(signature ") == 2 and len(set(sigs)) == 2


def test_cli_wrong_baud_is_garbage(kws_m4_build, capsys):
    with FakeBoard(kws_m4_build, [Fault("baud", on="*", count=0)]) as board:
        code, _, stderr = tinyq_main(capsys, "profile", kws_m4_build, "--port", board.port, "--timeout", T)
    assert code == 1
    line = one_error_line(stderr)
    assert f"garbage on the wire from {board.port} after 'name': '\\x" in line
    assert "check the baud rate (115200) and that the board runs tinyq firmware" in line


def test_cli_wrong_output_is_a_mismatch_not_a_retry(kws_m4_build, capsys):
    with FakeBoard(kws_m4_build, [Fault("flip", count=0)]) as board:
        code, _, stderr = tinyq_main(capsys, "profile", kws_m4_build, "--port", board.port, "--timeout", T, "-n", "2")
    assert code == 1
    line = one_error_line(stderr)
    assert "device output differs from the TFLite reference on 2 of 2 inputs; first at input 0, output 0[0]" in line
    assert board.inferences == 2


# ---------------------------------------------------------------- a hardware board's cycles


def test_dwt_cycles_and_milliseconds_at_the_boards_clock(kws_m4_build, tmp_path):
    """The same build as if made for the nucleo-l4r5zi (a Cortex-M4 at 120 MHz, DWT): the host side
    reads only build.json, and the fake answers tq-info with that board's unit and clock."""
    hw = tmp_path / "hw"
    shutil.copytree(kws_m4_build, hw)
    m = json.loads((hw / "build.json").read_text())
    m.update(board="nucleo-l4r5zi", cycle_unit="cycles", cycle_source="dwt")
    (hw / "build.json").write_text(json.dumps(m))
    with FakeBoard(hw) as board:
        res, _ = run(hw, board, runs=1)
    d = res.to_json()
    assert (d["cycle_unit"], d["cycle_source"], d["clock_hz"]) == ("cycles", "dwt", 120_000_000)
    assert d["cycles"] == KWS_CYCLES and d["latency_ms"] == round(1000 * KWS_CYCLES / 120e6, 4)
    # A firmware whose HAL runs the core at another clock (an Arduino core's F_CPU) says so in
    # tq-info: milliseconds are at that clock.
    with FakeBoard(hw, info={"clock": 80_000_000}) as board:
        d = run(hw, board, runs=1)[0].to_json()
    assert d["clock_hz"] == 80_000_000 and d["latency_ms"] == round(1000 * KWS_CYCLES / 80e6, 4)
    # One that counts another unit (micros() x F_CPU on a board file that says instructions).
    with FakeBoard(kws_m4_build, info={"unit": "cycles"}) as board:
        d = run(kws_m4_build, board, runs=1)[0].to_json()
    assert (d["cycle_unit"], d["cycle_source"], d["clock_hz"]) == ("cycles", "firmware", 25_000_000)


# ---------------------------------------------------------------- the line parser


@pytest.mark.parametrize("raw,line", [
    (b"m-ready\r", "m-ready"),
    (b"\x00\xff\xfem-tq-cycles-42\r", "m-tq-cycles-42"),  # a glitch before the line: the line survives
    (b"m-tq-cyc\xffles-42", None),  # inside it: not a protocol line
    (b"Hello from another firmware", None),
    (b"e-[Unknown command: x]", "e-[Unknown command: x]"),
])
def test_protocol_line(raw, line):
    assert protocol_line(raw) == line


def test_shown_escapes_and_shortens():
    assert shown(b"\x00ab'\xff\r\n") == "'\\x00ab\\'\\xff\\r\\n'"
    assert shown(b"x" * 50, 10) == "'xxxxxxxxxx'... (+40 bytes)"


def test_every_fault_the_host_retries_is_retryable():
    assert all(issubclass(c, Retryable) for c in (BadReply, BoardReset, Garbage, NoReply, PortLost))
    assert not issubclass(WrongFirmware, Retryable)


def test_the_real_firmware_names_its_model_and_another_build_is_refused(kws_m4_build, tmp_path, capsys):
    """tq-info carries the first 16 hex digits of the model's sha256: the firmware the build made
    passes, and the same firmware profiled as a build of another model (same sizes, other sha) is
    refused before any inference with both models named and `tinyq flash` as the fix: through the
    command line, one line and exit 1, no JSON."""
    sha = json.loads((kws_m4_build / "build.json").read_text())["model"]["sha256"]
    other = tmp_path / "other"
    shutil.copytree(kws_m4_build, other)
    manifest = json.loads((other / "build.json").read_text())
    manifest["model"]["sha256"] = "0" * 64
    (other / "build.json").write_text(json.dumps(manifest))
    with Qemu(kws_m4_build / "firmware.elf", get_board("qemu-m4"), serial="tcp") as qemu:
        res = run_on_device(kws_m4_build, port=qemu.url, runs=1)
        assert res.bit_exact
        code, stdout, stderr = tinyq_main(capsys, "profile", other, "--port", qemu.url, "-n", "1", "--json")
    msg = one_error_line(stderr)
    assert code == 1 and stdout == "" and "runs another firmware" in msg, stderr
    assert sha[:12] in msg and "000000000000" in msg and msg.endswith(f"run `tinyq flash {other}`"), msg


def test_qemu_takes_another_port_when_its_port_is_taken(kws_m4_build, monkeypatch):
    """The port free_port() found is taken by another process before QEMU binds it (two test workers
    starting emulators at once): QEMU fails to bind, the next port is tried, and the other process's
    listener is never mistaken for the emulator."""
    import tinyq.device.qemu as qemu_mod

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        ports = iter([taken])
        real = qemu_mod.free_port
        monkeypatch.setattr(qemu_mod, "free_port", lambda: next(ports, None) or real())
        assert qemu_mod._is_listening(taken) and not qemu_mod._is_listening(taken, pid=1)
        with Qemu(kws_m4_build / "firmware.elf", get_board("qemu-m4")) as qemu:
            assert qemu.url != f"socket://127.0.0.1:{taken}"
            res = run_on_device(kws_m4_build, port=qemu.url, runs=1, timeout=2)
    assert res.bit_exact and res.samples == 1


# ---------------------------------------------------------------- the real firmware behind a fault-injecting proxy

TQ = 1.0  # seconds a reply may take from QEMU (an inference: 12 times that)


@pytest.fixture(scope="module")
def proxied(kws_m4_build):
    """qemu-m4 running the kws build, behind a FaultProxy, and a clean run of 4 inputs through it."""
    with Qemu(kws_m4_build / "firmware.elf", get_board("qemu-m4")) as qemu, FaultProxy(qemu.url) as proxy:
        clean = run_on_device(kws_m4_build, port=proxy.url, runs=4, timeout=TQ)
        assert clean.bit_exact and clean.retries == 0
        yield proxy, clean


def tick() -> int:
    """Instructions per SysTick tick on qemu-m4: where an inference starts within a tick moves its count by one."""
    b = get_board("qemu-m4")
    return 10**9 // (int(b.cycle_counter["tick_hz"]) << int(b.emulator["icount_shift"]))


def same_figures(res, clean) -> bool:
    """Every output bit-exact, every count (per inference, per layer) the clean run's within a tick."""
    close = all(abs(a - b) <= tick() for a, b in zip(res.cycles, clean.cycles))
    layers = all(abs(a - b) <= tick() for r, c in zip(res.layer_cycles, clean.layer_cycles) for a, b in zip(r, c))
    return res.bit_exact and res.samples == clean.samples and close and layers


def test_proxy_well_formed_damage_either_way_is_caught_and_retried(kws_m4_build, proxied):
    """Changes that keep every line well formed, the kind only a checksum sees: a hex digit of the input
    on its way to the board, a digit of the cycle count and of the output on their way back. Each is
    caught by the CRC and its input run again: the figures are the clean run's."""
    proxy, clean = proxied
    proxy.configure([
        Rule("up", b"db ", nth=2, offset=7, action="hex"),  # input 1, first data line (the 1st "db " is `db load`)
        Rule("down", b"m-tq-cycles-", nth=3, offset=3, action="hex"),  # input 2 (input 1 ran twice)
        Rule("down", b"m-tq-out-[", nth=6, offset=5, action="hex"),  # input 4
    ])
    notes = []
    res = run_on_device(kws_m4_build, port=proxy.url, runs=4, timeout=TQ, on_retry=notes.append)
    assert [a for _, _, a in proxy.log] == ["hex"] * 3
    assert same_figures(res, clean) and res.retries == 3, (notes, res.cycles, clean.cycles)
    assert [n[:10] for n in notes] == ["input 1 of", "input 2 of", "input 4 of"]
    assert all("fails its checksum" in n and n.endswith("changed on the wire; running it again (1 of 2)") for n in notes), notes


def test_proxy_random_damage_gives_the_right_figures_or_one_line(kws_m4_build, proxied):
    """Seeded random flips, drops and duplicates both ways (as tests/fault_campaign.py: one byte in
    3,300 up, in 2,000 down, about one attempt in three): the run resynchronizes and gives the clean
    run's figures, or fails with one line."""
    proxy, clean = proxied
    proxy.configure(rates={"up": Rates(flip=1e-4, drop=1e-4, dup=1e-4), "down": Rates(flip=3e-4, drop=1e-4, dup=1e-4)}, seed=3)
    notes = []
    try:
        res = run_on_device(kws_m4_build, port=proxy.url, runs=4, timeout=TQ, retries=4, on_retry=notes.append)
    except Retryable as e:  # gave up: one line, never a figure
        assert "\n" not in str(e) and proxy.log
        return
    assert proxy.log and res.retries >= 1, proxy.log  # damage was done, and seen
    assert same_figures(res, clean), (notes, proxy.log, res.cycles, clean.cycles)


def test_proxy_board_stops_answering_mid_reply_cli_fails_in_time_with_no_output(kws_m4_build, proxied, capsys):
    """The board's bytes stop in the middle of an inference's reply: `tinyq profile --json` fails
    with one line, exit 1, within its timeout (12 x for the inference, one for the `name` after it),
    and prints no JSON."""
    proxy, _ = proxied
    proxy.configure([Rule("down", b"m-tq-cycles-", nth=2, action="stop")])
    t0 = time.monotonic()
    try:
        code, stdout, stderr = tinyq_main(capsys, "profile", kws_m4_build, "--port", proxy.url, "--json", "-n", "3",
                                          "--timeout", 0.4)
    finally:
        proxy.resume()
    took = time.monotonic() - t0
    assert code == 1 and stdout == "" and took < 12 * 0.4 + 4, (took, stderr)
    line = one_error_line(stderr)
    assert f"no answer to 'tq-infer' within 4.8 s from {proxy.url} (nothing came back) (and no answer to 'name' after it)" in line
    proxy.configure()
    assert run_on_device(kws_m4_build, port=proxy.url, runs=1, timeout=TQ).bit_exact  # it answers again


def test_proxy_verify_on_the_emulator_survives_a_damaged_output(monkeypatch, capsys):
    """`tinyq verify --board qemu-m4` with the proxy between it and its QEMU: an output digit changed on
    the wire is caught and that input run again; the check passes bit-exact."""
    import tinyq.device.adapters as adapters

    proxies = []
    real = adapters.Link

    def through_proxy(url, baud):
        proxies.append(FaultProxy(url, [Rule("down", b"m-tq-out-[", nth=2, offset=1, action="hex")]).start())
        return real(proxies[-1].url, baud)

    monkeypatch.setattr(adapters, "Link", through_proxy)
    monkeypatch.setattr("tinyq.checks.verify.tflm_arena_bytes", lambda path: None)  # TFLM's arena: not this test's subject
    try:
        code, stdout, stderr = tinyq_main(capsys, "verify", shared_model("kws_ref_model.tflite"), "--board", "qemu-m4",
                                          "--samples", "1", "--json")
    finally:
        for p in proxies:
            p.close()
    assert code == 0, stderr
    d = json.loads(stdout)
    assert d["bit_exact"] and d["samples"] == 4 and d["mismatches"] == 0
    assert len(proxies) == 1 and proxies[0].log == [("down", proxies[0].log[0][1], "hex")]


def test_proxy_emulator_killed_and_restarted_mid_inference(kws_m4_build, monkeypatch):
    """The emulator is killed as the second `tq-infer` goes out and a new one started behind the same
    port (a board that lost power): its boot banner comes instead of a reply, and the input is loaded
    and run again, bit-exact."""
    board = get_board("qemu-m4")
    sent = []
    write = Link.write
    with Qemu(kws_m4_build / "firmware.elf", board) as first, FaultProxy(first.url) as proxy:
        second = Qemu(kws_m4_build / "firmware.elf", board)

        def write_then_kill(link, text):
            write(link, text)
            sent.append(text)
            if text == "tq-infer%" and sent.count(text) == 2:
                first.stop()
                proxy.reconnect(second.start().url)

        monkeypatch.setattr(Link, "write", write_then_kill)
        notes = []
        try:
            res = run_on_device(kws_m4_build, port=proxy.url, runs=3, timeout=TQ, on_retry=notes.append)
        finally:
            second.stop()
    assert res.bit_exact and res.samples == 3 and res.retries == 1, notes
    assert "restarted during" in notes[0] and sent.count("db load 490%") == 4, (notes, sent)
