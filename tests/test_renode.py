"""`tinyq emulate --engine renode` without Renode: the scripts for nano33 and disco-f746 (content,
determinism, relocatable paths, the expected output recomputed from the reference), the message when
Renode is missing, and fake `renode` / `renode-test` executables on PATH.

The fakes (`fake_main` below, started through small wrappers the tests write into tmp_path) record
their argv, parse the .resc and .robot they are given and reject malformed ones. With FAKE_QEMU_MACHINE
set they stand Renode in with QEMU: `renode-test` runs the Robot test's keywords (Write Line To Uart,
Wait For Line On Uart) against the real firmware on a QEMU UART and exits 0 or 1 as renode-test does;
`renode` becomes QEMU serving the console on the socket the -e commands name. The board for that is
qemu-m4 with a renode field, in a board file of the test's own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.build.manifest import load as load_manifest
from tinyq.checks.profile import reference_exchange
from tinyq.checks.reference import Reference
from tinyq.device import renode as rn
from tinyq.errors import BadInput

from .conftest import ROOT, TINYQ, shared_model

KWS = "kws_ref_model.tflite"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def real_builds(tmp_path_factory):
    """kws built for the two boards Renode models: nano33 on its UARTE console, disco-f746."""
    root = tmp_path_factory.mktemp("renode-real")
    return {
        "nano33": build(shared_model(KWS), get_board("nano33"), root / "nano33", console="uart").out_dir,
        "disco-f746": build(shared_model(KWS), get_board("disco-f746"), root / "disco-f746").out_dir,
    }


@pytest.fixture(scope="module")
def qemu_board(tmp_path_factory) -> Path:
    """qemu-m4 with a renode field: a board whose firmware the fakes can run in QEMU."""
    data = json.loads((ROOT / "boards" / "qemu-m4.json").read_text())
    data.update(name="qemu-m4-renode", description="qemu-m4 with a renode field (tests)",
                renode={"platform": "platforms/cpus/fake-m4.repl", "cpu": "cpu", "uart": "uart0", "console": "default"})
    p = tmp_path_factory.mktemp("renode-board") / "qemu-m4-renode.json"
    p.write_text(json.dumps(data, indent=2))
    return p


@pytest.fixture(scope="module")
def qemu_build(tmp_path_factory, qemu_board):
    return build(shared_model(KWS), get_board(str(qemu_board)), tmp_path_factory.mktemp("renode-qemu") / "b").out_dir


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """A PATH whose renode and renode-test are the fakes; returns the file they log their runs to."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("renode", "renode-test"):
        exe = bindir / tool
        exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                       f"from tests.test_renode import fake_main\nsys.exit(fake_main({tool!r}, sys.argv[1:]))\n")
        exe.chmod(0o755)
    log = tmp_path / "fake.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RENODE_LOG", str(log))
    monkeypatch.delenv("FAKE_QEMU_MACHINE", raising=False)
    monkeypatch.delenv("FAKE_RENODE_TAMPER", raising=False)
    return log


def tinyq(*args, env=None):
    return subprocess.run([str(TINYQ), *map(str, args)], capture_output=True, text=True, env=env)


def _runs(log: Path) -> list[dict]:
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


# ---------------------------------------------------------------- board data


def test_the_boards_renode_models():
    assert rn.renode_boards() == ["disco-f746", "nano33"]
    nano, disco = get_board("nano33"), get_board("disco-f746")
    assert nano.renode == {"platform": "platforms/cpus/nrf52840.repl", "cpu": "cpu", "uart": "uart0", "console": "uart"}
    assert disco.renode == {"platform": "platforms/cpus/stm32f746.repl", "cpu": "cpu", "uart": "usart1", "console": "default"}
    # The console Renode models is the peripheral at the platform's address (nrf52840.repl uart0 @0x40002000
    # with easyDMA: the UARTE driver; stm32f746.repl usart1 @0x40011000).
    assert nano.with_console("uart").console["driver"] == "nrf_uarte" and nano.console_options["uart"]["base"] == "0x40002000"
    assert disco.console["driver"] == "stm32_usart" and disco.console["base"] == "0x40011000"


def test_a_renode_console_the_board_lacks_is_refused(tmp_path):
    data = json.loads((ROOT / "boards" / "nano33.json").read_text())
    data["renode"]["console"] = "swo"
    p = tmp_path / "nano33.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BadInput, match=r"renode/console 'swo' is not one of the board's consoles \(default, uart\)"):
        get_board(str(p))
    data["renode"]["uart"] = "uart0; quit"
    p.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="renode/uart"):
        get_board(str(p))


# ---------------------------------------------------------------- the scripts


def _robot_exchange(robot: str) -> tuple[bytes, bytes]:
    """(input bytes sent with db, expected m-tq-out bytes) as the .robot states them."""
    n = int(re.search(r"Send Command +db load (\d+)\n", robot).group(1))
    data = bytes.fromhex("".join(re.findall(r"Send Command +db ([0-9a-f]+)\n", robot)))
    assert len(data) == n
    out = bytes.fromhex(re.search(r"Wait For Line On Uart +m-tq-out-\[([0-9a-f]+)\]\n", robot).group(1))
    return data, out


def _write_scripts(build_dir, board, **kw):
    """The scripts with the exchange `tinyq emulate --engine renode` computes (the reference's)."""
    return rn.write_scripts(build_dir, board, reference_exchange(build_dir, rn.CANDIDATES, rn.SEED), **kw)


@pytest.mark.parametrize("name", ["nano33", "disco-f746"])
def test_scripts_for_the_real_boards(real_builds, name):
    d = real_builds[name]
    b = get_board(name)
    s = _write_scripts(d, b)
    assert (s.resc, s.robot) == (d / "renode" / f"{name}.resc", d / "renode" / f"{name}.robot")
    resc, robot = s.resc.read_bytes(), s.robot.read_bytes()
    s2 = _write_scripts(d, b)
    assert s2.resc.read_bytes() == resc and s2.robot.read_bytes() == robot  # byte-identical on re-run
    assert sorted(p.name for p in s.resc.parent.iterdir()) == sorted([s.resc.name, s.robot.name])  # no temp files left
    resc, robot = resc.decode(), robot.decode()
    assert str(d) not in resc + robot  # relative paths only: the directory can be copied elsewhere

    m = load_manifest(d)
    assert f"# model sha256: {m.model.sha256}\n" in resc and "# command: tinyq emulate BUILD --engine renode --write-only\n" in robot
    assert f"machine LoadPlatformDescription @{b.renode['platform']}\n" in resc
    assert re.search(r"^    sysbus LoadELF \$ORIGIN/\.\./firmware\.elf$", resc, re.M)
    assert (s.resc.parent / ".." / "firmware.elf").resolve() == (d / "firmware.elf").resolve()
    vt = {"nano33": "0x00010000", "disco-f746": "0x08000000"}[name]
    assert f"    cpu VectorTableOffset {vt}\n" in resc
    mips = b.clock_hz // 1_000_000
    assert f"cpu PerformanceInMips {mips}\n" in resc
    assert f'"dwt: Miscellaneous.DWT @ sysbus 0xE0001000 {{ frequency: {b.clock_hz} }}"' in resc  # CYCCNT = instructions

    assert f"${{UART}}           sysbus.{b.renode['uart']}\n" in robot and f"${{RESC}}           @${{CURDIR}}/{name}.resc\n" in robot
    assert "Resource          ${RENODEKEYWORDS}\n" in robot
    assert re.search(r"Boot Firmware\n(    .*\n)*    Wait For Line On Uart     m-init-done\n    Wait For Line On Uart     m-ready\n", robot)
    assert "    Write Line To Uart        ${command}%    waitForEcho=false\n" in robot
    assert (f"Send Command              tq-info\n    Wait For Line On Uart     m-tq-info-[model=model,board={name},"
            f"input=490,output=12,layers={len(m.layers)},\n") in robot
    assert re.search(r"db [0-9a-f]{480}\n", robot) and not re.search(r"db [0-9a-f]{481}", robot)  # under TQ_CMD_MAX

    # The expected output is TFLite's reference on the input the test sends, recomputed here.
    data, out = _robot_exchange(robot)
    x = np.frombuffer(data, np.int8).reshape(m.io[0].shape)
    want = Reference(d / "model.tflite").run([x], [m.io[0].tensor], [m.io[1].tensor])[0]
    assert out == np.asarray(want, np.int8).tobytes() and len(set(out)) > 2


def test_the_scripts_do_not_depend_on_the_board_files_path(real_builds, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(real_builds["disco-f746"], copy)
    a = _write_scripts(real_builds["disco-f746"], get_board("disco-f746"))
    b = _write_scripts(copy, get_board("disco-f746"))
    assert a.resc.read_bytes() == b.resc.read_bytes() and a.robot.read_bytes() == b.robot.read_bytes()


def test_renode_needs_the_console_it_models(real_builds, tmp_path):
    m = load_manifest(real_builds["nano33"])
    assert rn.check_build(get_board("nano33"), m)["uart"] == "uart0"
    m = dataclasses.replace(m, console=dataclasses.replace(m.console, name="default"))
    with pytest.raises(BadInput, match=r"console is default, but Renode models nano33's console uart on sysbus\.uart0: "
                                       r"rebuild with `tinyq build MODEL --board nano33 --console uart`"):
        rn.check_build(get_board("nano33"), m)


# ---------------------------------------------------------------- the command without Renode


@pytest.mark.parametrize("args, tool", [((), "renode"), (("--test",), "renode-test")])
def test_without_renode_the_scripts_are_written_and_the_fix_named(real_builds, tmp_path, args, tool):
    d = tmp_path / "n33"
    shutil.copytree(real_builds["nano33"], d)
    shutil.rmtree(d / "renode", ignore_errors=True)
    env = dict(os.environ, PATH=str(Path(TINYQ).parent))  # nothing named renode on it
    assert shutil.which("renode", path=env["PATH"]) is None
    r = tinyq("emulate", d, "--engine", "renode", *args, env=env)
    assert r.returncode == 1, r.stderr  # a missing tool: the run failed (tinyq.errors)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {tool} not found; the scripts are in {d}/renode/ (nano33.resc, nano33.robot): install Renode")
    assert "builds.renode.io" in lines[0] and "pip install -r tests/requirements.txt" in lines[0]
    assert (d / "renode" / "nano33.resc").is_file() and (d / "renode" / "nano33.robot").is_file()


def test_write_only_needs_no_renode(real_builds, tmp_path, fakes):
    r = tinyq("emulate", real_builds["disco-f746"], "--engine", "renode", "--write-only")
    assert r.returncode == 0, r.stderr
    assert "renode-test " in r.stdout and _runs(fakes) == []


def test_bad_engine_options(kws_m4_build, real_builds, capsys):
    from tinyq.cli.root import main

    cases = [
        ([kws_m4_build, "--engine", "renode"], "Renode has no model of board qemu-m4: --engine renode takes a build for disco-f746 or nano33"),
        ([kws_m4_build, "--engine", "bochs"], "--engine bochs: choose one of qemu, renode"),
        ([kws_m4_build, "--test"], "--write-only and --test are for --engine renode"),
        ([real_builds["nano33"], "--engine", "renode", "--serial", "pty"], "Renode's console here is a TCP socket: give tcp:PORT"),
        ([real_builds["nano33"], "--engine", "renode", "--test", "--write-only"], "exclude each other"),
    ]
    for args, msg in cases:
        assert main(["emulate", *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------- fake Renode on PATH


def test_renode_test_runs_the_robot_test_and_its_verdict_is_the_exit_code(qemu_build, qemu_board, fakes, monkeypatch):
    monkeypatch.setenv("FAKE_QEMU_MACHINE", "mps2-an386")
    r = tinyq("emulate", qemu_build, "--board", qemu_board, "--engine", "renode", "--test")
    assert r.returncode == 0, r.stderr
    assert "Robot test passed" in r.stdout
    (run,) = _runs(fakes)
    robot = qemu_build / "renode" / "qemu-m4-renode.robot"
    assert run["tool"] == "renode-test" and run["argv"] == [str(robot), "-r", str(qemu_build / "renode" / "results")]
    assert run["passed"] == ["Should Boot And Name The Build", "Should Run One Inference Bit-Exact With The Reference"]
    assert run["uart"] == "sysbus.uart0" and run["elf"] == str((qemu_build / "firmware.elf").resolve())

    # The same run with one expected output byte changed fails on the real firmware's answer: exit 1.
    monkeypatch.setenv("FAKE_RENODE_TAMPER", "1")
    monkeypatch.setenv("FAKE_RENODE_TIMEOUT", "3")
    r = tinyq("emulate", qemu_build, "--board", qemu_board, "--engine", "renode", "--test")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"error: the Robot test failed \(renode-test exit 1\): .*FAIL.*m-tq-out-\[.*logs in .*/renode/results/", r.stderr)
    assert _runs(fakes)[-1]["passed"] == ["Should Boot And Name The Build"]


def test_a_malformed_script_fails_the_fake(qemu_build, qemu_board, fakes, tmp_path):
    s = _write_scripts(qemu_build, get_board(str(qemu_board)))
    bad = tmp_path / "bad.robot"
    bad.write_text(s.robot.read_text().replace("${RESC}           @${CURDIR}/", "${RESC}           @${CURDIR}/missing-"))
    r = subprocess.run(["renode-test", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "missing-qemu-m4-renode.resc" in r.stderr
    (tmp_path / "x.resc").write_text(s.resc.read_text().replace("sysbus LoadELF $ORIGIN/../", "sysbus LoadELF $ORIGIN/"))
    bad.write_text(s.robot.read_text().replace("@${CURDIR}/qemu-m4-renode.resc", f"@{tmp_path}/x.resc"))
    r = subprocess.run(["renode-test", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "no ELF" in r.stderr


def test_renode_serves_the_console_and_profile_runs_on_it(qemu_build, qemu_board, fakes, monkeypatch):
    from tinyq.device.qemu import free_port

    monkeypatch.setenv("FAKE_QEMU_MACHINE", "mps2-an386")
    port = free_port()
    p = subprocess.Popen([str(TINYQ), "emulate", str(qemu_build), "--board", str(qemu_board), "--engine", "renode",
                          "--serial", f"tcp:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and url is None:
            line = p.stdout.readline()
            if line.startswith("serial port: "):
                url = line.split(": ", 1)[1].strip()
            elif not line and p.poll() is not None:
                break
        assert url == f"socket://127.0.0.1:{port}", p.stderr.read() if p.poll() is not None else "no port line"
        r = tinyq("profile", qemu_build, "--board", qemu_board, "--port", url, "--runs", "2", "--json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["bit_exact"] and rep["samples"] == 2 and rep["board"] == "qemu-m4-renode"
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=20)
    assert rc == 0 and "stopped" in p.stdout.read()
    (run,) = _runs(fakes)
    resc = qemu_build / "renode" / "qemu-m4-renode.resc"
    assert run["tool"] == "renode" and run["argv"] == [
        "--console", "--disable-xwt", "-e", f"include @{resc}",
        "-e", f'emulation CreateServerSocketTerminal {port} "term" false',
        "-e", "connector Connect sysbus.uart0 term", "-e", "start"]


def test_the_renode_adapter_runs_the_build_bit_exact(qemu_build, qemu_board, fakes, monkeypatch):
    """RenodeDevice behind the interface QEMU's and a serial port's adapters share (tinyq.device): the
    build's firmware under the fake renode, one inference through DeviceRunner, equal to the reference."""
    from tinyq.build.manifest import load as load_manifest
    from tinyq.checks.inputs import make_inputs
    from tinyq.checks.runners import DeviceRunner, ReferenceRunner
    from tinyq.compiler import compile_tflite
    from tinyq.device import RenodeDevice
    from tinyq.device.qemu import free_port

    monkeypatch.setenv("FAKE_QEMU_MACHINE", "mps2-an386")
    board = get_board(str(qemu_board))
    scripts = _write_scripts(qemu_build, board)
    manifest = load_manifest(qemu_build)
    g = compile_tflite(qemu_build / "model.tflite")
    batch, _ = make_inputs(g, 2, seed=3)
    device = RenodeDevice(rn.RenodeProcess(scripts, free_port()), board)
    with device as dut:
        got = [DeviceRunner(dut, manifest).run(x) for x in batch[-2:]]
        assert device.process.alive()
    assert not device.process.alive()  # closed on leaving the block
    reference = ReferenceRunner(qemu_build / "model.tflite", g)
    for x, outs in zip(batch[-2:], got):
        assert all(np.array_equal(a, b) for a, b in zip(outs, reference.run(x)))


# ---------------------------------------------------------------- the fakes themselves


class FakeError(Exception):
    pass


def _parse_resc(path: Path) -> dict:
    """What the .resc sets up; FakeError when it is not a machine script tinyq should write."""
    if not path.is_file():
        raise FakeError(f"no such script: {path}")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines or not re.fullmatch(r'mach create "[a-z0-9-]+"', lines[0]):
        raise FakeError(f"{path}: does not start with mach create")
    plat = [ln for ln in lines if ln.startswith("machine LoadPlatformDescription @")]
    if len(plat) != 1 or not re.fullmatch(r"machine LoadPlatformDescription @platforms/\S+\.repl", plat[0]):
        raise FakeError(f"{path}: needs one platform from the Renode tree")
    if lines.count('"""') != 2 or "macro reset" not in lines or lines[-1] != "runMacro $reset":
        raise FakeError(f"{path}: the reset macro is malformed")
    elf = [ln for ln in lines if ln.startswith("sysbus LoadELF $ORIGIN/")]
    target = (path.parent / elf[0][len("sysbus LoadELF $ORIGIN/"):]).resolve() if len(elf) == 1 else None
    if target is None or not target.is_file() or target.read_bytes()[:4] != b"\x7fELF":
        raise FakeError(f"{path}: no ELF at {target}")
    vt = [ln.split()[-1] for ln in lines if re.fullmatch(r"\w+ VectorTableOffset 0x[0-9a-f]{8}", ln)]
    if len(vt) != 1:
        raise FakeError(f"{path}: no VectorTableOffset")
    return {"elf": str(target), "vector_table": int(vt[0], 16)}


def _parse_robot(path: Path) -> tuple[dict, dict, list]:
    """(variables, keywords {name: (args, steps)}, tests [(name, steps)]) of a .robot file."""
    sections: dict[str, list[str]] = {}
    current = None
    for ln in path.read_text().splitlines():
        m = re.fullmatch(r"\*\*\* (Settings|Variables|Keywords|Test Cases) \*\*\*", ln)
        if m:
            current = sections.setdefault(m.group(1), [])
        elif current is not None and ln.strip() and not ln.lstrip().startswith("#"):
            current.append(ln)
    if set(sections) != {"Settings", "Variables", "Keywords", "Test Cases"}:
        raise FakeError(f"{path}: sections {sorted(sections)}")
    if not any(re.fullmatch(r"Resource +\$\{RENODEKEYWORDS\}", ln) for ln in sections["Settings"]):
        raise FakeError(f"{path}: no Resource ${{RENODEKEYWORDS}}")
    variables = {"${CURDIR}": str(path.parent)}
    for ln in sections["Variables"]:
        name, value = re.split(r"\s{2,}", ln.strip(), maxsplit=1)
        variables[name] = value

    def blocks(rows):
        out, name = [], None
        for ln in rows:
            if not ln.startswith(" "):
                name = ln.strip()
                out.append((name, []))
            else:
                out[-1][1].append(re.split(r"\s{2,}", ln.strip()))
        return out

    keywords = {}
    for name, steps in blocks(sections["Keywords"]):
        args = steps[0][1:] if steps and steps[0][0] == "[Arguments]" else []
        keywords[name] = (args, steps[1:] if args else steps)
    return variables, keywords, blocks(sections["Test Cases"])


def _subst(text: str, variables: dict) -> str:
    for _ in range(3):
        text = re.sub(r"\$\{[A-Za-z_ ]+\}", lambda m: variables.get(m.group(0), m.group(0)), text)
    return text.replace("\\\\", "\\")


class _Uart:
    """The firmware's console under QEMU, read a line at a time."""

    def __init__(self, elf: str, machine: str):
        from tinyq.device.qemu import free_port

        port = free_port()
        self.proc = subprocess.Popen(["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none",
                                      "-icount", "shift=0", "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
                                      "-kernel", elf], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def line(self, deadline: float) -> str | None:
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode(errors="replace").rstrip("\r")

    def close(self):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait()


def _run_test(name, steps, variables, keywords, machine, resc_info, tamper) -> None:
    """One test case's keywords against the firmware in QEMU; FakeError names the failing step."""
    uart = None
    timeout = 10.0

    def run(steps, local):
        nonlocal uart, timeout
        for step in steps:
            kw, *args = [_subst(a, local) for a in step]
            named = dict(a.split("=", 1) for a in args if re.match(r"^\w+=", a))
            pos = [a for a in args if not re.match(r"^\w+=", a)]
            if kw in keywords:
                params, body = keywords[kw]
                run(body, {**local, **dict(zip(params, pos))})
            elif kw == "Execute Command":
                if pos[0].startswith("include @"):
                    _parse_resc(Path(pos[0][len("include @"):]))
            elif kw == "Create Terminal Tester":
                if pos[0] != variables["${UART}"]:
                    raise FakeError(f"tester on {pos[0]}")
                # FAKE_RENODE_TIMEOUT caps the wait, so a test expecting a failure does not wait a minute.
                timeout = min(float(named.get("timeout", timeout)), float(os.environ.get("FAKE_RENODE_TIMEOUT", "inf")))
            elif kw == "Start Emulation":
                uart = _Uart(resc_info["elf"], machine)
            elif kw == "Write Line To Uart":
                uart.sock.sendall(pos[0].encode() + b"\r")
            elif kw == "Wait For Line On Uart":
                want = pos[0]
                if tamper and want.startswith("m-tq-out-["):
                    want = want[:-2] + ("0" if want[-2] != "0" else "1") + "]"
                regex = named.get("treatAsRegex", "false").lower() == "true"
                deadline = time.monotonic() + timeout
                while True:
                    got = uart.line(deadline)
                    if got is None:
                        raise FakeError(f"FAIL: '{name}': Wait For Line On Uart {want}: timeout")
                    if (re.search(want, got) if regex else want in got):
                        break
            else:
                raise FakeError(f"unknown keyword {kw!r}")

    try:
        run(steps, dict(variables))
    finally:
        if uart is not None:
            uart.close()


def fake_main(tool: str, argv: list[str]) -> int:
    """renode-test ROBOT [-r DIR] or renode [--console] [--disable-xwt] -e CMD..., as far as tinyq uses them."""
    record = {"tool": tool, "argv": argv}
    machine = os.environ.get("FAKE_QEMU_MACHINE")
    try:
        if tool == "renode-test":
            robot = Path(argv[0])
            variables, keywords, tests = _parse_robot(robot)
            resc = Path(_subst(variables["${RESC}"], variables)[1:])
            info = _parse_resc(resc)
            record.update(uart=variables["${UART}"], elf=info["elf"], passed=[])
            if machine:
                for name, steps in tests:
                    try:
                        _run_test(name, steps, variables, keywords, machine, info, os.environ.get("FAKE_RENODE_TAMPER"))
                    except FakeError as e:
                        print(e, file=sys.stderr)
                        return 1
                    record["passed"].append(name)
                    print(f"+++++ Finished test '{name}' with status OK")
            return 0
        cmds = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
        info = _parse_resc(Path(cmds[0][len("include @"):]))
        port = int(re.fullmatch(r'emulation CreateServerSocketTerminal (\d+) "term" false', cmds[1]).group(1))
        if not re.fullmatch(r"connector Connect sysbus\.\w+ term", cmds[2]) or cmds[3] != "start":
            raise FakeError(f"unexpected commands {cmds}")
        _log(record)
        if machine:  # QEMU takes Renode's place on the same socket
            os.execvp("qemu-system-arm", ["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none",
                                          "-icount", "shift=0", "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
                                          "-kernel", info["elf"]])
        srv = socket.create_server(("127.0.0.1", port))
        while True:
            srv.accept()[0].close()
    except FakeError as e:
        print(f"fake {tool}: {e}", file=sys.stderr)
        return 2
    finally:
        if tool == "renode-test":
            _log(record)


def _log(record: dict) -> None:
    with open(os.environ["FAKE_RENODE_LOG"], "a") as f:
        f.write(json.dumps(record) + "\n")
