"""`tinyq flash` without hardware: a fake SAM-BA bootloader on a pty, a fake UF2 drive, and fake
openocd / st-flash / bossac executables on PATH that record their arguments."""

from __future__ import annotations

import json
import os
import struct
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tinyq.build.manifest import ConsoleInfo, Manifest, ModelInfo
from tinyq.cli.root import main
from tinyq.device import flash as fl
from tinyq.device import samba as sb
from tinyq.device import uf2
from tinyq.errors import BadInput, CheckFailed

from .conftest import ROOT, run_tinyq
from .fake_samba import APP_BASE, BOOTLOADER_FILL, FakeNano, crc16_ref

BOARDS = ROOT / "boards"
NANO_FLASHER = {"tools": ["samba", "bossac"], "image": "bin", "address": "0x10000", "touch_1200": True,
                "bootloader_usb_ids": ["2341:005A"]}
STM_FLASHER = {"tools": ["openocd", "st-flash"], "image": "elf", "address": "0x08000000",
               "openocd_config": ["board/st_nucleo_l4.cfg"]}
PICO_FLASHER = {"tools": ["uf2"], "image": "uf2", "address": "0x10000000", "uf2_family": "0xE48BFF56", "uf2_volume": "RPI-RP2"}


# ---------------------------------------------------------------- helpers


def make_board(tmp_path: Path, name: str, flasher: dict | None, usb_ids=()) -> Path:
    """A board file of one's own: qemu-m4 made real (no emulator) with a flasher."""
    data = json.loads((BOARDS / "qemu-m4.json").read_text())
    data.update(name=name, description=f"test board {name}", emulator=None, flasher=flasher, usb_ids=list(usb_ids))
    data["cycle_counter"] = {"driver": "dwt", "unit": "cycles", "tick_hz": data["clock_hz"]}
    data.pop("stands_for", None)  # an emulated board's field
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(data, indent=2))
    return p


def make_build(tmp_path: Path, board: str, image: bytes, name: str = "build") -> Path:
    """A build directory with the files `tinyq flash` reads (the .elf/.hex are stand-ins)."""
    d = tmp_path / name
    d.mkdir()
    Manifest(kind="firmware", tinyq="test", board=board, console=ConsoleInfo("default", "test", 115200),
             model=ModelInfo("model", "model.tflite", "0" * 64), mlperf_model="unspecified", io=(), layers=(),
             arena_bytes=0, arena_lower_bound=0, kernels="fast", cycle_unit="cycles", command="test", sizes=None).write(d)
    (d / "firmware.bin").write_bytes(image)
    (d / "firmware.elf").write_bytes(b"\x7fELF" + image[:64])
    (d / "firmware.hex").write_text(":00000001FF\n")
    return d


def synthetic(n: int, seed: int = 1) -> bytes:
    import random

    r = random.Random(seed)
    return bytes(r.randrange(256) for _ in range(n))


@pytest.fixture(scope="module")
def real_bin(kws_m4_build) -> bytes:
    """firmware.bin of the kws model built for qemu-m4 (real code and weights), built once per session."""
    return (kws_m4_build / "firmware.bin").read_bytes()


@pytest.fixture
def fast(monkeypatch):
    """Short SAM-BA waits so the fault tests take a fraction of a second."""
    monkeypatch.setattr(sb, "TIMEOUT", 0.4)
    monkeypatch.setattr(sb, "ERASE_TIMEOUT", 0.4)
    monkeypatch.setattr(sb, "OPEN_TIMEOUT", 0.3)
    monkeypatch.setattr(sb, "SETTLE", 0.5)
    monkeypatch.setattr(sb, "WAIT_TIMEOUT", 3.0)


@pytest.fixture
def no_usb(monkeypatch):
    """No real serial ports: the test's fakes are the only ones listed."""
    monkeypatch.setattr(sb, "comports", lambda: [])


def cli(capsys, *args) -> tuple[int, str, str]:
    """`tinyq ARGS` in this process (monkeypatches apply): (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    o, e = capsys.readouterr()
    return code, o, e


class Run:
    def __init__(self, capsys, *args):
        self.returncode, self.stdout, self.stderr = cli(capsys, *args)


def eventually(cond, timeout: float = 2.0) -> bool:
    """The fake serves its pty in a thread: the last command (K#) may still be in flight."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------- UF2


def test_uf2_blocks_field_by_field(real_bin):
    base, family = 0x10000000, 0xE48BFF56
    blob = uf2.bin_to_uf2(real_bin, base, family)
    count = -(-len(real_bin) // 256)
    assert len(blob) == 512 * count
    for n in range(count):
        blk = blob[n * 512 : (n + 1) * 512]
        m0, m1, flags, addr, size, num, total, fam = struct.unpack("<8I", blk[:32])
        assert (m0, m1) == (0x0A324655, 0x9E5D5157)
        assert struct.unpack("<I", blk[508:])[0] == 0x0AB16F30
        assert flags == 0x2000  # family id present, nothing else
        assert fam == family
        assert addr == base + 256 * n  # contiguous from the board's address
        assert size == 256
        assert (num, total) == (n, count)
        chunk = real_bin[n * 256 : (n + 1) * 256]
        assert blk[32 : 32 + len(chunk)] == chunk
        assert blk[32 + len(chunk) : 508] == bytes(476 - len(chunk))  # zero padding to the end magic
    assert uf2.bin_to_uf2(real_bin, base, family) == blob  # deterministic


def test_uf2_round_trip(real_bin):
    blob = uf2.bin_to_uf2(real_bin, 0x10000000, 0xE48BFF56)
    start, image = uf2.uf2_to_bin(blob)
    assert start == 0x10000000
    assert image[: len(real_bin)] == real_bin
    assert image[len(real_bin) :] == bytes(len(image) - len(real_bin))
    bad = bytearray(blob)
    bad[512 + 508] ^= 1  # second block's end magic
    with pytest.raises(CheckFailed, match="magic"):
        uf2.parse_uf2(bytes(bad))


def test_uf2_refuses_unaligned_address():
    with pytest.raises(BadInput, match="multiple of 256"):
        uf2.bin_to_uf2(b"\0" * 300, 0x10000080, 0xE48BFF56)


def _drive(root: Path) -> Path:
    d = root / "RPI-RP2"
    d.mkdir(parents=True)
    (d / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    return d


def test_uf2_flash_to_drive_cli(tmp_path, real_bin):
    board = make_board(tmp_path, "pico-test", PICO_FLASHER)
    build = make_build(tmp_path, "pico-test", real_bin)
    drive = _drive(tmp_path / "media" / "me")
    r = run_tinyq("flash", build, "--board", board, "--port", drive, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep == {"board": "pico-test", "tool": "uf2", "port": str(drive), "bytes": len(real_bin),
                   "address": "0x10000000", "verified": False, "seconds": rep["seconds"]}
    written = (drive / "firmware.uf2").read_bytes()
    assert written == (build / "firmware.uf2").read_bytes() == uf2.bin_to_uf2(real_bin, 0x10000000, 0xE48BFF56)
    assert sorted(p.name for p in drive.iterdir()) == ["INFO_UF2.TXT", "firmware.uf2"]  # no temporary left over


def test_uf2_finds_mounted_drive(tmp_path, monkeypatch):
    """The real pico board file, its drive found where udisks mounts it."""
    image = synthetic(1000)
    build = make_build(tmp_path, "pico", image)
    drive = _drive(tmp_path / "media" / "alice")
    monkeypatch.setattr(uf2, "VOLUME_GLOBS", (str(tmp_path / "media" / "*" / "{name}"),))
    res = fl.flash(build)
    assert (res.tool, res.port, res.bytes, res.address) == ("uf2", str(drive), 1000, 0x10000000)
    start, got = uf2.uf2_to_bin((drive / "firmware.uf2").read_bytes())
    assert start == 0x10000000 and got[:1000] == image


def test_uf2_no_drive(tmp_path, monkeypatch, capsys):
    build = make_build(tmp_path, "pico", synthetic(100))
    monkeypatch.setattr(uf2, "VOLUME_GLOBS", (str(tmp_path / "nowhere" / "{name}"),))
    code, _, e = cli(capsys, "flash", build)
    assert code == 2
    line = one_line(e)
    assert "no RPI-RP2 drive is mounted" in line and "BOOTSEL" in line


def test_uf2_directory_without_info_file(tmp_path, capsys):
    build = make_build(tmp_path, "pico", synthetic(100))
    plain = tmp_path / "usbstick"
    plain.mkdir()
    code, _, e = cli(capsys, "flash", build, "--port", plain)
    assert code == 2
    assert "not a UF2 bootloader drive (no INFO_UF2.TXT)" in one_line(e)
    assert list(plain.iterdir()) == []


# ---------------------------------------------------------------- SAM-BA


def test_crc16_is_xmodem():
    assert sb.crc16(b"123456789") == 0x31C3  # the CRC-16/XMODEM check value
    data = synthetic(5000, seed=7)
    assert sb.crc16(data) == crc16_ref(data)


def test_samba_programs_and_reads_back(tmp_path, real_bin):
    seen = []
    with FakeNano(tmp_path, in_bootloader=True) as nano:
        with sb.Samba(nano.port) as s:
            assert sb.program(s, real_bin, 0x10000, progress=lambda d, t: seen.append((d, t)))
        assert nano.app_image(len(real_bin)) == real_bin
        pad = -len(real_bin) % sb.PAGE
        assert nano.app_image(len(real_bin) + pad)[len(real_bin) :] == b"\xff" * pad
        assert nano.flash[:APP_BASE] == bytes([BOOTLOADER_FILL]) * APP_BASE  # the bootloader survives
        assert eventually(lambda: nano.was_reset) and not nano.errors
        assert nano.commands[:4] == ["N#", "V#", "I#", "X00000000#"]
        assert nano.commands[4:7] == ["S00000034,00001000#", "Y00000034,0#", "Y00000000,00001000#"]
        assert nano.commands[7] == "Z00000000,00001000#"
        assert nano.commands[-1] == "K#"
        assert seen[-1] == (len(real_bin), len(real_bin)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
        with sb.Samba(nano.port) as s:  # the R command reads the same bytes back
            assert s.read(0, len(real_bin)) == real_bin


def test_samba_erases_before_writing(tmp_path):
    """The fake's flash ANDs like NOR cells: writing over old data without the erase would show."""
    with FakeNano(tmp_path, in_bootloader=True) as nano:
        with sb.Samba(nano.port) as s:
            sb.program(s, b"\x0f" * 5000, 0x10000)
            sb.program(s, b"\xf0" * 5000, 0x10000)
        assert nano.app_image(5000) == b"\xf0" * 5000


def test_flash_touch_same_port(tmp_path, real_bin, fast, no_usb):
    """1200-baud touch; the board re-enumerates under the same name as the bootloader."""
    board = make_board(tmp_path, "nano-test", NANO_FLASHER, usb_ids=["2341:805A"])
    build = make_build(tmp_path, "nano-test", real_bin)
    with FakeNano(tmp_path, reenumerate="same") as nano:
        res = fl.flash(build, str(board), nano.port)
        assert nano.touched and eventually(lambda: nano.was_reset)
        assert nano.app_image(len(real_bin)) == real_bin
    assert (res.tool, res.port, res.bytes, res.address, res.verified) == ("samba", str(nano.app_link), len(real_bin), 0x10000, True)


def test_flash_finds_board_and_bootloader_by_usb_id(tmp_path, monkeypatch, fast, capsys):
    """The real nano33 board file: no --port; the app and then the bootloader are found by USB id."""
    image = synthetic(9000)
    build = make_build(tmp_path, "nano33", image)
    with FakeNano(tmp_path, reenumerate="new") as nano:
        monkeypatch.setattr(sb, "comports", nano.ports)
        code, o, e = cli(capsys, "flash", build, "--json")
        assert code == 0, e
        assert nano.touched and nano.app_image(9000) == image
    rep = json.loads(o)
    assert rep["port"] == str(tmp_path / "ttyACM1")
    assert {k: rep[k] for k in ("board", "tool", "bytes", "address", "verified")} == {
        "board": "nano33", "tool": "samba", "bytes": 9000, "address": "0x00010000", "verified": True}
    assert isinstance(rep["seconds"], float)


def test_flash_board_already_in_bootloader(tmp_path, monkeypatch, fast):
    """Double-tapped reset: the bootloader's USB id is listed, so no touch."""
    build = make_build(tmp_path, "nano33", synthetic(100))
    with FakeNano(tmp_path, in_bootloader=True, reenumerate="new") as nano:
        monkeypatch.setattr(sb, "comports", nano.ports)
        res = fl.flash(build)
        assert not nano.touched and eventually(lambda: nano.was_reset)
    assert res.port == str(tmp_path / "ttyACM1")


def test_flash_no_board_on_usb(tmp_path, no_usb, capsys):
    build = make_build(tmp_path, "nano33", synthetic(100))
    code, _, e = cli(capsys, "flash", build)
    assert code == 2
    assert one_line(e) == ("error: no nano33 found on USB (looked for 2341:805A, 2341:005A): plug it in, "
                           "or give its serial port with --port")


def test_samba_silent_bootloader(tmp_path, fast, no_usb, capsys):
    build = make_build(tmp_path, "nano33", synthetic(100))
    with FakeNano(tmp_path, fault="silent") as nano:
        code, _, e = cli(capsys, "flash", build, "--port", nano.port)
    assert code == 1
    line = one_line(e)
    assert f"no answer to `N#` from the bootloader on {nano.port} within 0.4 s" in line
    assert "double-tap the board's reset button" in line


def test_samba_bad_crc_fails_verify(tmp_path, fast, no_usb, capsys):
    build = make_build(tmp_path, "nano33", synthetic(6000))
    with FakeNano(tmp_path, fault="bad_crc") as nano:
        code, _, e = cli(capsys, "flash", build, "--port", nano.port)
        time.sleep(0.1)
        assert "K#" not in nano.commands  # no reset into a half-verified image
    assert code == 1
    line = one_line(e)
    assert line.startswith("error: verify failed at 0x00010000: the board's flash has CRC")
    assert "flash again" in line


def test_samba_wrong_chip(tmp_path, fast, no_usb, capsys):
    build = make_build(tmp_path, "nano33", synthetic(100))
    with FakeNano(tmp_path, chip="ATSAMD21G18A") as nano:
        code, _, e = cli(capsys, "flash", build, "--port", nano.port)
        assert "X00000000#" not in nano.commands  # nothing erased
    assert code == 2
    assert "is on a ATSAMD21G18A, not an nRF52840: check --board and --port" in one_line(e)


def test_firmware_ignores_the_touch(tmp_path, fast, no_usb, capsys):
    """An application without the 1200-baud hook: the port stays, nothing answers SAM-BA."""
    build = make_build(tmp_path, "nano33", synthetic(100))
    with FakeNano(tmp_path, touchable=False) as nano:
        code, _, e = cli(capsys, "flash", build, "--port", nano.port)
        assert nano.commands == []  # still the application
    assert code == 1
    line = one_line(e)
    assert "no answer to `N#`" in line and "double-tap the board's reset button" in line


def test_not_the_arduino_bootloader(tmp_path, fast, no_usb, capsys):
    """A plain SAM-BA (no [Arduino:XYZ] extensions) cannot erase, copy or CRC: refused before erasing."""
    build = make_build(tmp_path, "nano33", synthetic(100))
    with FakeNano(tmp_path, in_bootloader=True, version=b"v1.1 Nov 27 2019") as nano:
        code, _, e = cli(capsys, "flash", build, "--port", nano.port)
        assert nano.commands == ["N#", "V#"]
    assert code == 1
    assert "does not answer as the Arduino SAM-BA bootloader (version 'v1.1 Nov 27 2019', lacking XYZ)" in one_line(e)


def test_samba_refuses_address_inside_bootloader(tmp_path, fast):
    with FakeNano(tmp_path, in_bootloader=True) as nano, sb.Samba(nano.port) as s:
        with pytest.raises(BadInput, match="inside the bootloader"):
            sb.program(s, b"\0" * 16, 0x8000)
        assert nano.commands == []


# ---------------------------------------------------------------- external tools


def fake_tool(bindir: Path, name: str, code: int = 0, stderr: str = "") -> None:
    """An executable that appends its argv to calls.jsonl, prints `stderr` and exits `code`."""
    script = bindir / name
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        with open({str(bindir / 'calls.jsonl')!r}, "a") as f:
            f.write(json.dumps(sys.argv) + "\\n")
        sys.stderr.write({stderr!r})
        sys.exit({code})
        """))
    script.chmod(0o755)


def calls(bindir: Path) -> list[list[str]]:
    p = bindir / "calls.jsonl"
    return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []


@pytest.fixture
def bindir(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))  # only the fakes: a real openocd must not run
    return d


def test_openocd_command_line(tmp_path, bindir, capsys):
    fake_tool(bindir, "openocd")
    fake_tool(bindir, "st-flash")
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(2048))
    r = Run(capsys, "flash", build, "--board", board, "--json")
    assert r.returncode == 0, r.stderr
    [argv] = calls(bindir)
    assert argv[1:] == ["-f", "board/st_nucleo_l4.cfg", "-c", f"program {build / 'firmware.elf'} verify reset exit"]
    rep = json.loads(r.stdout)
    assert (rep["tool"], rep["port"], rep["bytes"], rep["address"], rep["verified"]) == ("openocd", None, 2048, "0x08000000", True)


def test_openocd_bin_image_of_the_real_nucleo(tmp_path, bindir, capsys):
    fake_tool(bindir, "openocd")
    build = make_build(tmp_path, "nucleo-l4r5zi", synthetic(64))
    r = Run(capsys, "flash", build)
    assert r.returncode == 0, r.stderr
    assert "with openocd" in r.stdout
    [argv] = calls(bindir)
    assert argv[1:] == ["-f", "board/st_nucleo_l4.cfg", "-c", f"program {build / 'firmware.bin'} 0x08000000 verify reset exit"]


def test_st_flash_when_openocd_is_missing(tmp_path, bindir, capsys):
    fake_tool(bindir, "st-flash")
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = Run(capsys, "flash", build, "--board", board)
    assert r.returncode == 0, r.stderr
    [argv] = calls(bindir)
    assert argv[1:] == ["--reset", "write", str(build / "firmware.bin"), "0x08000000"]


def test_tool_option_overrides_order(tmp_path, bindir, capsys):
    fake_tool(bindir, "openocd")
    fake_tool(bindir, "st-flash")
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = Run(capsys, "flash", build, "--board", board, "--tool", "st-flash")
    assert r.returncode == 0, r.stderr
    assert [Path(a[0]).name for a in calls(bindir)] == ["st-flash"]


def test_no_tool_installed(tmp_path, bindir, capsys):
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = Run(capsys, "flash", build, "--board", board)
    assert r.returncode == 1
    assert one_line(r.stderr) == "error: openocd not found: install it with `apt-get install openocd` or pass --tool st-flash"


def test_chosen_tool_missing(tmp_path, bindir, capsys):
    fake_tool(bindir, "openocd")
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = Run(capsys, "flash", build, "--board", board, "--tool", "st-flash")
    assert r.returncode == 1
    assert one_line(r.stderr) == "error: st-flash not found: install it with `apt-get install stlink-tools` or pass --tool openocd"
    assert calls(bindir) == []


def test_tool_failure_gives_its_error_line(tmp_path, bindir, capsys):
    fake_tool(bindir, "openocd", code=1, stderr=(
        "Open On-Chip Debugger 0.12.0\nInfo : auto-selecting first available session transport \"hla_swd\".\n"
        "Error: open failed\nin procedure 'program'\n** OpenOCD init failed **\nshutdown command invoked\n\n"))
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = run_tinyq("flash", build, "--board", board)
    assert r.returncode == 1
    assert one_line(r.stderr) == "error: openocd failed (exit 1): ** OpenOCD init failed ** (run with -v for its output)"
    rv = Run(capsys, "-v", "flash", build, "--board", board)
    assert rv.returncode == 1 and "Error: open failed" in rv.stderr  # the full output with -v


def test_st_flash_failure(tmp_path, bindir, capsys):
    fake_tool(bindir, "st-flash", code=255, stderr="st-flash 1.7.0\nFailed to connect to target\nFailed to parse flash type or unrecognized flash type\n")
    board = make_board(tmp_path, "stm-test", STM_FLASHER)
    build = make_build(tmp_path, "stm-test", synthetic(64))
    r = Run(capsys, "flash", build, "--board", board, "--tool", "st-flash")
    assert r.returncode == 1
    assert one_line(r.stderr) == "error: st-flash failed (exit 255): Failed to parse flash type or unrecognized flash type (run with -v for its output)"


def test_bossac_after_touch(tmp_path, bindir, no_usb, capsys):
    """bossac gets the port the board re-enumerated on after the 1200-baud touch (a pty here)."""
    fake_tool(bindir, "bossac")
    build = make_build(tmp_path, "nano33", synthetic(300))
    with FakeNano(tmp_path, reenumerate="same") as nano:
        r = Run(capsys, "flash", build, "--port", nano.port, "--tool", "bossac", "--json")
        assert nano.touched
        assert nano.commands == []  # bossac talks to the bootloader, not tinyq
    assert r.returncode == 0, r.stderr
    [argv] = calls(bindir)
    assert argv[1:] == ["-d", f"--port={tmp_path / 'ttyACM0'}", "-U", "-i", "-e", "-w", str(build / "firmware.bin"), "-R"]
    rep = json.loads(r.stdout)
    assert (rep["tool"], rep["verified"]) == ("bossac", False)  # -w without -v reads nothing back


def test_bossac_offset_only_off_the_default():
    assert fl.bossac_argv("/dev/ttyACM0", Path("fw.bin"), 0x10000)[-3:] == ["-w", "fw.bin", "-R"]
    assert fl.bossac_argv("/dev/ttyACM0", Path("fw.bin"), 0x20000)[-4:] == ["-w", "--offset=0x10000", "fw.bin", "-R"]


def test_last_meaningful_line():
    assert fl.last_meaningful("a\nError: x\nb\n\n") == "Error: x"
    assert fl.last_meaningful("just\nlines\n") == "lines"
    assert fl.last_meaningful("") == "no output"


# ---------------------------------------------------------------- the command's own checks


def test_emulated_board_has_nothing_to_flash(tmp_path, kws_m4_build):
    r = run_tinyq("flash", kws_m4_build)
    assert r.returncode == 2
    assert one_line(r.stderr) == f"error: qemu-m4 is emulated: nothing to flash; run `tinyq profile {kws_m4_build}` (it starts QEMU)"


def test_board_must_match_build(kws_m4_build, capsys):
    r = Run(capsys, "flash", kws_m4_build, "--board", "nano33")
    assert r.returncode == 2
    assert "this build is for qemu-m4, not nano33" in one_line(r.stderr)


def test_tool_not_for_this_board(tmp_path, capsys):
    build = make_build(tmp_path, "nano33", synthetic(64))
    code, _, e = cli(capsys, "flash", build, "--tool", "openocd")
    assert code == 2
    assert one_line(e) == "error: nano33 cannot be flashed with openocd: use one of samba, bossac"
    code, _, e = cli(capsys, "flash", build, "--tool", "jlink")
    assert code == 2
    assert "unknown flasher 'jlink'" in one_line(e)


def test_missing_build_and_missing_image(tmp_path, capsys):
    code, _, e = cli(capsys, "flash", tmp_path / "nope")
    assert code == 2 and "no such build directory" in one_line(e)
    build = make_build(tmp_path, "nano33", synthetic(64))
    os.unlink(build / "firmware.bin")
    code, _, e = cli(capsys, "flash", build, "--port", "/dev/null-port")
    assert code == 2 and "has no firmware.bin: rebuild" in one_line(e)


def test_board_without_flasher(tmp_path, capsys):
    board = make_board(tmp_path, "bare", None)
    build = make_build(tmp_path, "bare", synthetic(64))
    code, _, e = cli(capsys, "flash", build, "--board", board)
    assert code == 2
    assert one_line(e) == 'error: bare has no flasher: add a "flasher" entry to bare.json (see boards/schema.json)'
