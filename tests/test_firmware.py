"""Firmware on the emulated cores: builds, sizes, bit-exact runs on every core, profile and emulate."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import serial

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device

from .conftest import ROOT, TINYQ, run_tinyq, shared_model

CORES = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]
MODELS = ["kws_ref_model.tflite", "pretrainedResnet_quant.tflite"]


def _matrix():
    # Every core runs both models; the ResNet runs beyond qemu-m4 are the slow part of the matrix.
    # The ResNet's activations do not fit qemu-m0's 16 KB (test_qemu_m0 checks the refusal).
    for core in CORES:
        for model in MODELS:
            if core == "qemu-m0" and model.startswith("pretrained"):
                continue
            slow = model.startswith("pretrained") and core != "qemu-m4"
            yield pytest.param(core, model, marks=[pytest.mark.slow] if slow else [], id=f"{core}-{model.split('_')[0]}")


@pytest.mark.parametrize("core,model", list(_matrix()))
def test_shared_models_bit_exact_on_every_core(tmp_path, core, model):
    b = get_board(core)
    res = build(shared_model(model), b, tmp_path / "build")
    run = run_on_device(res.out_dir, runs=4, edges=True)  # all -128, all 127, all zero point, 4 random
    assert run.samples == 7
    assert run.bit_exact, run.first_mismatch
    assert run.cycle_source == "icount" and run.cycle_unit == "instructions"
    assert len(set(run.layer_cycles[0])) > 1 and len(run.layer_cycles[0]) == len(res.manifest.layers)
    # Each run's per-layer counts add up to its inference count, less the counter reads between layers.
    for total, layers in zip(run.cycles, run.layer_cycles):
        assert 0.99 * total < sum(layers) <= total + 64 * len(layers)  # +-1 counter tick per reading
    assert res.sizes.fits and res.sizes.weights > 0 and res.sizes.arena == res.manifest.arena_bytes


def test_build_outputs_and_json(tmp_path, kws):
    out = tmp_path / "b"
    r = run_tinyq("build", kws, "--board", "qemu-m4", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for f in ("firmware.elf", "firmware.bin", "firmware.hex", "firmware.map", "build.json", "model.tflite", "src", "link.ld"):
        assert f in d["files"], f
    s = d["sizes"]
    assert s["flash"] == s["code"] + s["weights"]
    assert s["ram"] == s["arena"] + s["stack"] + s["ram_other"]
    assert s["arena"] == d["arena_bytes"] > 0
    assert (out / "firmware.hex").read_text().startswith(":")
    assert (out / "firmware.bin").stat().st_size >= s["flash"] - 8
    src = {p.name for p in (out / "src").iterdir()}
    assert {"model.c", "model.h", "tq_protocol.c", "tq_startup.c", "console_cmsdk_uart.c", "cycles_systick.c", "tq_board.h"} <= src
    manifest = json.loads((out / "build.json").read_text())
    assert manifest["board"] == "qemu-m4" and manifest["input_bytes"] == 490 and manifest["output_bytes"] == 12


def test_build_table_names_code_weights_arena(tmp_path, kws):
    r = run_tinyq("build", kws, "--board", "qemu-m4", "-o", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    for words in ("code", "weights", "arena", "stack", "of 4,194,304"):
        assert words in r.stdout


@pytest.mark.parametrize("core", ["qemu-m4", "qemu-m0"])  # assembler kernels; link-time optimized kernels
def test_build_is_deterministic(tmp_path, kws, core):
    """Every file of a build, the ELF's debug information and the map included, is byte-identical on a
    rebuild into the same place (each build runs in a staging directory with a random name)."""
    out = tmp_path / "b"
    images = []
    for _ in range(2):
        r = run_tinyq("build", kws, "--board", core, "-o", out)
        assert r.returncode == 0, r.stderr
        images.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert sorted(images[0]) == sorted(images[1])
    assert [n for n in images[0] if images[0][n] != images[1][n]] == []
    assert not [n for n in images[0] if ".ltrans" in n or n.endswith(".o")]


def test_model_too_big_for_the_board(tmp_path, resnet):
    d = json.loads((ROOT / "boards" / "qemu-m4.json").read_text())
    d["name"] = "tiny-board"
    d["memory"]["flash"]["length"] = 64 * 1024
    d["memory"]["ram"]["length"] = 32 * 1024
    board = tmp_path / "tiny-board.json"
    board.write_text(json.dumps(d))
    out = tmp_path / "b"
    r = run_tinyq("build", resnet, "--board", board, "-o", out)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert re.search(r"flash needs [\d,]+ B \(weights [\d,]+ \+ code [\d,]+\) but tiny-board has 65,536 B", lines[0])
    assert re.search(r"RAM needs [\d,]+ B \(arena [\d,]+ \+ stack 8,192", lines[0])
    assert not out.exists()


def test_build_keras_with_calib(tmp_path):
    import keras
    import numpy as np

    m = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(), keras.layers.Dense(3)])
    m.save(tmp_path / "m.keras")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).random((16, 6, 6, 2), dtype=np.float32))
    out = tmp_path / "b"
    r = run_tinyq("build", tmp_path / "m.keras", "--calib", tmp_path / "calib.npy", "--board", "qemu-m4", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["converted"] is True
    run = run_on_device(out, runs=3, edges=True)
    assert run.bit_exact and run.samples == 6
    r = run_tinyq("build", tmp_path / "m.keras", "--board", "qemu-m4", "-o", tmp_path / "c")
    assert r.returncode == 2 and "--calib" in r.stderr


def test_profile_json(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--board", "qemu-m4", "--runs", "3", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["board"] == "qemu-m4" and d["cycle_source"] == "icount" and d["bit_exact"] is True
    assert d["runs"] == 3 and d["cycles"] > 1_000_000
    assert d["latency_ms"] == pytest.approx(1000 * d["cycles"] / 25e6, rel=1e-6)
    assert [L["op"] for L in d["layers"]][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert all(set(L) == {"index", "op", "cycles"} for L in d["layers"])
    # -icount makes the count deterministic up to the counter's resolution: SysTick at 25 MHz ticks
    # every 40 instructions, and where the inference starts within a tick depends on when the host's
    # command arrived. The same inputs again give the same figures within one tick.
    again = json.loads(run_tinyq("profile", kws_m4_build, "--runs", "3", "--json").stdout)
    assert all(abs(a - b) <= 40 for a, b in zip(again["cycles_all"], d["cycles_all"]))


def test_profile_table(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--runs", "2")
    assert r.returncode == 0, r.stderr
    assert "instructions per inference" in r.stdout and "bit-exact: 2 inputs" in r.stdout and "FULLY_CONNECTED" in r.stdout


def test_profile_with_user_inputs(tmp_path, kws_m4_build):
    import numpy as np

    x = np.random.default_rng(5).integers(-128, 128, (3, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    d = json.loads(run_tinyq("profile", kws_m4_build, "--inputs", tmp_path / "x.npy", "--json").stdout)
    assert d["samples"] == 3 and d["bit_exact"]


def test_verify_on_a_core(kws):
    r = run_tinyq("verify", kws, "--board", "qemu-m4", "--samples", "5", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bit_exact"] and d["board"] == "qemu-m4" and d["samples"] == 8
    assert d["tflm_arena_bytes"] > d["arena_bytes"] > 0


def test_profile_board_mismatch(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--board", "qemu-m7")
    assert r.returncode == 2 and "this build is for qemu-m4, not qemu-m7" in r.stderr


def test_profile_missing_build(tmp_path):
    r = run_tinyq("profile", tmp_path / "nope")
    assert r.returncode == 2 and "no such build directory" in r.stderr and "tinyq build" in r.stderr


def test_no_device_on_the_port(kws_m4_build):
    r = run_tinyq("profile", kws_m4_build, "--port", "/dev/ttyNOPE0")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot open /dev/ttyNOPE0" in lines[0] and "--port" in lines[0]


class _FakeDevice:
    """A pty whose far end answers every command with `reply` (garbage, or nothing at all)."""

    def __init__(self, reply: bytes):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        self.reply = reply
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                data = os.read(self.master, 256)
            except OSError:
                return
            if b"%" in data and self.reply:
                os.write(self.master, self.reply)

    def close(self):
        self.stop = True
        os.close(self._slave)
        os.close(self.master)


@pytest.mark.parametrize("reply,words", [(b"\x93\xff\xfe garbage \x01\r\n", "garbage on the wire"), (b"Hello from some other firmware\r\n", "garbage on the wire")])
def test_garbage_on_the_wire(kws_m4_build, reply, words):
    dev = _FakeDevice(reply)
    try:
        r = run_tinyq("profile", kws_m4_build, "--port", dev.path)
    finally:
        dev.close()
    assert r.returncode == 1, r.stderr  # a device off the protocol: the run failed
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr


def test_silent_device_times_out(kws_m4_build):
    from tinyq.device.protocol import DeviceError, Dut, Link

    dev = _FakeDevice(b"")
    link = Link(dev.path)
    try:
        with pytest.raises(DeviceError, match="no answer to 'name' within 1 s"):
            Dut(link, timeout=1.0).sync()
    finally:
        link.close()
        dev.close()


def _start_emulate(build_dir, *args):
    p = subprocess.Popen([str(TINYQ), "emulate", str(build_dir), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if line.startswith("serial port: "):
            port = line.split(": ", 1)[1].strip()
            break
    assert port, p.stderr.read() if p.poll() is not None else "no port line"
    return p, port


@pytest.mark.parametrize("mode", ["pty", "tcp"])
def test_emulate_serves_any_serial_tool_and_stops_on_ctrl_c(kws_m4_build, mode):
    from tinyq.device.qemu import free_port

    args = ["--serial", "pty"] if mode == "pty" else ["--serial", f"tcp:{free_port()}"]
    p, port = _start_emulate(kws_m4_build, *args)
    try:
        if mode == "tcp":
            # A plain socket keeps every byte (pyserial's socket:// drops what arrives before open() returns).
            s = socket.create_connection(("127.0.0.1", int(port.rsplit(":", 1)[1])), timeout=5)
            s.sendall(b"name%")
            read = lambda: s.recv(4096)  # noqa: E731
        else:
            s = serial.serial_for_url(port, baudrate=115200, timeout=5)
            s.write(b"name%")
            read = lambda: s.read(s.in_waiting or 1)  # noqa: E731
        text = b""
        deadline = time.monotonic() + 10
        while b"m-name-dut-[tinyq]\r\nm-ready" not in text and time.monotonic() < deadline:
            text += read()
        s.close()
        assert b"m-name-dut-[tinyq]\r\nm-ready" in text, text
        if mode == "tcp":
            assert text.startswith(b"m-timestamp-mode-performance\r\n"), text  # wait=on: nothing lost
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=10)
    assert rc == 0
    assert "stopped" in p.stdout.read()


def test_bench_against_the_tflm_baseline(kws):
    base = ROOT.parent / "shared" / "baseline" / "tflm_cortex_m4.json"
    r = run_tinyq("bench", kws, "--board", "qemu-m4", "--baseline", base, "--runs", "2", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["models"][0]
    assert m["model"] == "kws_ref_model" and m["bit_exact"] and m["runs"] == 2
    assert m["tflm"]["cmsis"]["instructions"] == 7846720 and m["tflm"]["ref"]["instructions"] == 48640160
    assert m["ratios"]["instructions_vs_tflm_cmsis"] == pytest.approx(m["instructions"] / 7846720, rel=1e-3)
    assert m["instructions_per_mac"] == pytest.approx(m["instructions"] / m["macs"], rel=1e-3)
    assert m["arena_bytes"] <= m["tflm"]["cmsis"]["arena_bytes"]
    md = run_tinyq("bench", kws, "--board", "qemu-m4", "--baseline", base, "--runs", "1", "--markdown").stdout
    assert md.startswith("### qemu-m4: ") and "| kws_ref_model | " in md and "`tinyq bench " in md


def test_bench_bad_baseline(tmp_path, kws):
    (tmp_path / "b.json").write_text("{}")
    r = run_tinyq("bench", kws, "--board", "qemu-m4", "--baseline", tmp_path / "b.json")
    assert r.returncode == 2 and "is not a TFLM baseline" in r.stderr
