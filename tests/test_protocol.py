"""The serial protocol on the emulated Cortex-M4: robustness, and the MLPerf Tiny runner's own sequence."""

import re
import zlib

import numpy as np
import pytest

from tinyq.checks.reference import Reference

from .conftest import shared_model

KWS_IN = 490


def raw(dut, text: str, timeout: float = 10.0) -> list[str]:
    """Send bytes as they are (any framing) and collect lines up to the next m-ready."""
    dut.link.write(text)
    return dut._until_ready(repr(text[:20]), timeout)


def kws_input(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(-128, 128, KWS_IN).astype(np.int8).tobytes()


def kws_reference(data: bytes) -> np.ndarray:
    ref = Reference(shared_model("kws_ref_model.tflite"))
    d = ref.inputs[0]
    return ref.run([np.frombuffer(data, np.int8).reshape(d["shape"])], [d["index"]], [ref.outputs[0]["index"]])[0].reshape(-1)


def test_boot_banner_then_identity(dut):
    assert dut.command("name") == ["m-name-dut-[tinyq]"]
    assert dut.command("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[kws01]"]
    info = dut.info()
    assert info["input"] == "490" and info["output"] == "12" and info["board"] == "qemu-m4" and info["unit"] == "instructions"
    assert re.fullmatch(r"m-lap-us-\d+", dut.command("timestamp")[0])


@pytest.mark.parametrize(
    "cmd,error",
    [
        ("bogus", "e-[Unknown command: bogus]"),
        ("", "e-[Empty command]"),
        ("db", "e-[Command 'db' requires a subcommand]"),
        ("db load", "e-[Command 'db load' requires the # of bytes]"),
        ("db load 0", "e-[Command 'db load' must be >0 bytes]"),
        ("db load -5", "e-[Command 'db load' must be >0 bytes]"),
        ("db load twelve", "e-[Command 'db load' requires the # of bytes]"),
        ("db load 491", "e-[db load 491 exceeds the model input of 490 bytes]"),
        ("db load 99999999999999", "e-[Command 'db load' requires the # of bytes]"),
        ("db 00", "e-[db: no load in progress; send 'db load N' first]"),
        ("infer", "e-[Input db has 0 bytes, expected 490]"),
        ("infer 0 1", "e-[Inference iterations must be >0]"),
        ("infer 1 -1", "e-[Inference warmup must be >=0]"),
        ("infer x", "e-[Usage: infer N W (N inferences after W warmups)]"),
        ("results", "e-[No results: run infer first]"),
        ("tq-out", "e-[No results: run infer or tq-infer first]"),
        ("name and more words", "e-[Too many words in command: name]"),
    ],
)
def test_malformed_commands_get_an_error_and_the_firmware_keeps_serving(dut, cmd, error):
    assert dut.command(cmd, allow_error=True) == [error]
    assert dut.command("name") == ["m-name-dut-[tinyq]"]


def test_command_too_long_is_refused_whole(dut):
    lines = raw(dut, "db " + "ab" * 400 + "%")
    assert lines == ["e-[Command too long: at most 512 characters]"]
    assert dut.command("name") == ["m-name-dut-[tinyq]"]


def test_bad_hex(dut):
    assert dut.command("db load 4") == ["m-[Expecting 4 bytes]"]
    assert dut.command("db 01zz", allow_error=True) == ["e-[Invalid hex digit 'z']"]
    assert dut.command("db 012", allow_error=True) == ["e-[Insufficent number of hex digits]"]
    assert dut.command("db print") == []  # nothing was stored by the refused lines
    assert dut.command("db 0A0b") == []
    assert dut.command("db FF7f80aa55", allow_error=True) == ["e-[db: 3 bytes past the 4 expected were ignored]", "m-load-done"]
    assert dut.command("db print") == ["m-buffer-0a-0b-ff-7f"]
    assert dut.command("db 00", allow_error=True) == ["e-[db: no load in progress; send 'db load N' first]"]


def test_framing_ignores_cr_lf_and_splits_on_percent(dut):
    dut.link.write("\r\nname%\nprofile%")
    assert dut._until_ready("name", 5) == ["m-name-dut-[tinyq]"]
    assert dut._until_ready("profile", 5)[1] == "m-model-[kws01]"


def test_interleaved_commands_during_a_load(dut):
    data = kws_input(7)
    assert dut.command(f"db load {KWS_IN}") == [f"m-[Expecting {KWS_IN} bytes]"]
    half = KWS_IN // 2
    assert dut.command("db " + data[:half].hex()) == []
    assert dut.command("name") == ["m-name-dut-[tinyq]"]
    assert dut.command("infer 1 0", allow_error=True) == [f"e-[Input db has {half} bytes, expected {KWS_IN}]"]
    assert dut.command("bogus", allow_error=True) == ["e-[Unknown command: bogus]"]
    assert dut.command("db " + data[half:].hex()) == ["m-load-done"]
    got = np.frombuffer(dut.infer().output, np.int8)
    assert np.array_equal(got, kws_reference(data))


def test_back_to_back_commands_in_one_write(dut):
    """Several commands in one burst are answered in order (QEMU holds the bytes the UART cannot take)."""
    data = kws_input(3)
    burst = f"db load {KWS_IN}%" + "".join(f"db {data[i:i + 100].hex()}%" for i in range(0, KWS_IN, 100)) + "tq-infer%name%"
    dut.link.write(burst)
    replies = [dut._until_ready("burst", 30) for _ in range(2 + (KWS_IN + 99) // 100 + 1)]
    assert replies[0] == [f"m-[Expecting {KWS_IN} bytes]"]
    assert replies[-3] == ["m-load-done"]
    out = next(ln for ln in replies[-2] if ln.startswith("m-tq-out-["))
    assert np.array_equal(np.frombuffer(bytes.fromhex(out[10:-1]), np.int8), kws_reference(data))
    assert replies[-1] == ["m-name-dut-[tinyq]"]


class MlperfRunner:
    """The MLPerf Tiny runner's serial side, as benchmark/runner does it: commands end with '%',
    a reader drops CR, LF and NUL and cuts lines at LF, a response ends at the line holding
    "m-ready", each line must come within 5 s."""

    def __init__(self, link):
        self.link = link

    def send_command(self, command: str) -> list[str]:
        self.link.write(command + "%")
        lines = []
        while True:
            line = self.link.readline(5.0)
            assert line is not None, f"No response to command {command}"
            line = line.replace("\r", "").replace("\0", "")
            if not line:
                continue
            lines.append(line)
            if "m-ready" in line:
                return lines

    def load(self, data: bytes, max_bytes: int = 31) -> None:
        self.send_command(f"db load {len(data)}")
        for i in range(0, len(data), max_bytes):
            self.send_command(f"db {''.join(f'{d:02x}' for d in data[i:i + max_bytes])}")


def test_mlperf_tiny_runner_sequence(dut):
    runner = MlperfRunner(dut.link)
    name = [m for m in (re.match(r"^m-(name)-dut-\[([^]]+)]$", ln) for ln in runner.send_command("name")) if m]
    assert name and name[0].group(2) == "tinyq"
    profile = [re.match(r"^m-(model|profile)-\[([^]]+)]$", ln) for ln in runner.send_command("profile")]
    assert {m.group(1): m.group(2) for m in profile if m} == {"profile": "ULPMark for tinyML Firmware V0.0.1", "model": "kws01"}

    data = kws_input(11)
    runner.load(data)  # 16 lines of 31 bytes then one of 14, each answered before the next
    assert runner.send_command("db print")[0] == "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8])
    lines = runner.send_command("infer 10 1")
    assert [ln for ln in lines if not ln.startswith(("m-lap-us-", "m-results-"))] == [
        "m-warmup-start-1", "m-warmup-done", "m-infer-start-10", "m-infer-done", "m-ready"]
    laps = [int(m.group(1)) for m in (re.match(r"^m-lap-us-([0-9]+)$", ln) for ln in lines) if m]
    assert len(laps) == 2 and laps[1] > laps[0]
    start, end = laps
    throughput = 10 / ((end - start) / 1e6)
    assert 0 < throughput < 10  # ~32 M instructions an inference at 25 MHz: about 0.8 inferences/s

    results = [m for m in (re.match(r"^m-results-\[([^]]+)\]$", ln) for ln in lines) if m]
    assert len(results) == 1
    values = [float(x) for x in results[0].group(1).split(",") if x.strip()]
    want = kws_reference(data)
    scale, zp = Reference(shared_model("kws_ref_model.tflite")).outputs[0]["quantization"]
    assert values == [round((int(q) - zp) * scale, 3) for q in want]
    assert all(re.fullmatch(r"-?\d+\.\d{3}", x) for x in results[0].group(1).split(","))
    assert runner.send_command("results")[0] == lines[-2]


def test_lap_timestamps_measure_the_inferences(dut):
    """infer N: the lap difference is N inferences at the board's clock (instructions / 25 MHz)."""
    dut.load(kws_input(2))
    one = dut.infer().cycles
    lines = dut.command("infer 3 0", timeout=60)
    t0, t1 = (int(ln[9:]) for ln in lines if ln.startswith("m-lap-us-"))
    assert (t1 - t0) == pytest.approx(3 * one / 25, rel=0.01)


def test_help_is_free_text_and_ends_ready(dut):
    lines = dut.command("help")
    assert lines[0] == "ULPMark for tinyML Firmware V0.0.1"
    assert {"name", "db", "infer", "tq-infer", "tq-info"} <= set(lines[1].split())
    assert dut.command("name") == ["m-name-dut-[tinyq]"]


def crc_of(lines: list[str], first: bytes = b"") -> int:
    return zlib.crc32("".join(ln + "\r\n" for ln in lines).encode(), zlib.crc32(first))


def test_tq_replies_end_with_their_crc_and_mlperf_replies_do_not(dut):
    """Every tq- reply, errors included, ends with m-tq-crc-C: the CRC-32 of its bytes; a tq-infer that
    ran starts it with the input it ran on. The MLPerf Tiny replies stay as the runner expects."""
    info = raw(dut, "tq-info%")
    assert info[0].startswith("m-tq-info-[model=") and info[1] == f"m-tq-crc-{crc_of(info[:1])}"
    err = raw(dut, "tq-infer%")
    assert err[0] == f"e-[Input db has 0 bytes, expected {KWS_IN}]" and err[1] == f"m-tq-crc-{crc_of(err[:1])}"
    assert raw(dut, "tq-bogus%")[1:] == [f"m-tq-crc-{crc_of(['e-[Unknown command: tq-bogus]'])}"]
    data = kws_input(5)
    assert raw(dut, f"db load {KWS_IN}%") == [f"m-[Expecting {KWS_IN} bytes]"]
    assert raw(dut, f"db {data[:250].hex()}%") == [] and raw(dut, f"db {data[250:].hex()}%") == ["m-load-done"]
    ran = raw(dut, "tq-infer%", 30)
    assert [ln[:8] for ln in ran] == ["m-tq-cyc", "m-tq-lay", "m-tq-out", "m-tq-crc"]
    assert ran[-1] == f"m-tq-crc-{crc_of(ran[:-1], data)}" != f"m-tq-crc-{crc_of(ran[:-1])}"
    out = raw(dut, "tq-out%")
    assert out == [ran[2], f"m-tq-crc-{crc_of(ran[2:3])}"]
    assert raw(dut, "name%") == ["m-name-dut-[tinyq]"] and raw(dut, "timestamp%")[0].startswith("m-lap-us-")
    # the client checks and drops the CRC line
    assert dut.command("tq-out") == [ran[2]] and dut.sent == bytearray()
