"""Real boards: both shared models build, link and fit on each; images are laid out as the chips boot
them (vector tables, the RP2040 boot2 and its CRC); the Cortex-M0+ build has only ARMv6-M code; and
the drivers that QEMU models run real inferences (PL011 on lm3s6965evb, the ARMv6-M kernels and the
nRF UART on microbit, a Cortex-M0 that faults on unaligned loads as the M0+ does)."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

from tinyq.boards import all_boards, get_board, validate
from tinyq.build.firmware import build
from tinyq.build.manifest import ConsoleInfo
from tinyq.build.manifest import load as load_manifest
from tinyq.checks.inputs import make_inputs
from tinyq.checks.reference import Reference
from tinyq.compiler.pipeline import compile_tflite
from tinyq.device import open_device
from tinyq.errors import BadInput

from .conftest import ROOT, run_tinyq, shared_model

REAL = sorted(n for n, b in all_boards().items() if not b.emulated)
MODELS = {"kws": "kws_ref_model.tflite", "resnet": "pretrainedResnet_quant.tflite"}
OBJDUMP = shutil.which("arm-none-eabi-objdump") or "arm-none-eabi-objdump"


def test_the_real_boards_are_there():
    assert REAL == ["disco-f746", "nano33", "nucleo-l4r5zi", "pico"]
    b = get_board("nano33")
    assert b.flash.origin == 0x10000 and b.ram.origin == 0x20000200 and b.consoles == ["default", "uart"]
    assert b.usb_ids == ("2341:805A",) and b.flasher["bootloader_usb_ids"] == ["2341:005A"] and b.flasher["touch_1200"]
    assert get_board("nucleo-l4r5zi").usb_ids == get_board("disco-f746").usb_ids == ("0483:374B",)
    p = get_board("pico")
    assert p.usb_ids == () and p.flasher["uf2_family"] == "0xE48BFF56" and p.boot2["bytes"] == 256 and p.extensions == ()
    for n in REAL:
        assert get_board(n).flasher["address"] == {"nano33": "0x10000", "pico": "0x10000000"}.get(n, "0x08000000")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Every real board with both models (and nano33 with its UART console), built once."""
    out = {}
    root = tmp_path_factory.mktemp("real")
    for n in REAL:
        for m, f in MODELS.items():
            out[n, m] = build(shared_model(f), get_board(n), root / f"{n}-{m}")
    out["nano33-uart", "kws"] = build(shared_model(MODELS["kws"]), get_board("nano33"), root / "nano33-uart", console="uart")
    return out


def _alloc_sections(elf_path):
    with open(elf_path, "rb") as f:
        e = ELFFile(f)
        entry = e.header["e_entry"]
        secs = {s.name: (int(s["sh_addr"]), int(s["sh_size"]), s["sh_type"]) for s in e.iter_sections() if s["sh_flags"] & 2 and s["sh_size"]}
        loads = [(int(p["p_paddr"]), int(p["p_filesz"])) for p in e.iter_segments() if p["p_type"] == "PT_LOAD" and p["p_filesz"]]
    return entry, secs, loads


def _inside(region, addr, size):
    return region.origin <= addr and addr + size <= region.origin + region.length


@pytest.mark.parametrize("board", REAL)
@pytest.mark.parametrize("model", list(MODELS))
def test_both_models_build_link_and_fit(builds, board, model):
    res = builds[board, model]
    b, s = res.board, res.sizes
    assert s.fits and s.flash <= b.flash.length and s.ram <= b.ram.length
    assert s.weights > (80_000 if model == "resnet" else 30_000)
    assert s.flash == s.code + s.weights and s.ram == s.arena + s.stack + s.ram_other
    print(f"\n{board:14} {model:6} flash {s.flash:7,} of {s.flash_limit:9,} (code {s.code:6,}, weights {s.weights:6,})"
          f"  RAM {s.ram:6,} of {s.ram_limit:7,} (arena {s.arena:6,})")
    entry, secs, loads = _alloc_sections(res.elf)
    assert _inside(b.flash, entry & ~1, 2)
    for name, (addr, size, kind) in secs.items():
        region = b.ram if kind == "SHT_NOBITS" or name == ".data" else b.flash
        assert _inside(region, addr, size), f"{name} at {addr:#x}+{size} is outside {region}"
    for addr, size in loads:  # what a flasher writes: all in flash (.data's load image too)
        assert _inside(b.flash, addr, size), f"load segment {addr:#x}+{size} is outside flash"
    assert (res.out_dir / "firmware.bin").stat().st_size == max(a + n for a, n in loads) - b.flash.origin
    src = {p.name for p in (res.out_dir / "src").iterdir()}
    assert {f"soc_{b.soc['family']}.c", f"console_{b.console['driver']}.c", f"cycles_{b.cycle_counter['driver']}.c"} <= src


@pytest.mark.parametrize("board", REAL)
def test_vector_table_where_the_chip_looks(builds, board):
    res = builds[board, "kws"]
    b = res.board
    entry, secs, _ = _alloc_sections(res.elf)
    addr, size, _ = secs[".tq_vectors"]
    assert addr == b.flash.origin + (b.boot2["bytes"] if b.boot2 else 0)
    assert size == 4 * (16 + b.irqs) and addr % 256 == 0  # VTOR alignment for up to 64 entries; 512 beyond
    if 16 + b.irqs > 64:
        assert addr % 512 == 0
    image = (res.out_dir / "firmware.bin").read_bytes()
    sp, reset = np.frombuffer(image[addr - b.flash.origin:][:8], "<u4")
    assert sp % 8 == 0 and b.ram.origin < sp <= b.ram.origin + b.ram.length
    assert reset & 1 and reset == entry | 1
    header = (res.out_dir / "src" / "tq_board.h").read_text()
    assert f"#define TQ_IRQ_COUNT {b.irqs}\n" in header and "#define TQ_VTOR_RELOCATE 1\n" in header
    if board == "nano33":
        assert addr == 0x10000


def _crc32_msb(data: bytes) -> int:
    """CRC-32/MPEG-2 by table (the build's is bitwise): poly 0x04C11DB7, MSB first, init ~0, no xor out."""
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if c & 0x80000000 else (c << 1) & 0xFFFFFFFF
        table.append(c)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def _ihex_bytes(text: str, start: int, n: int) -> bytes:
    mem, base = {}, 0
    for line in text.split():
        raw = bytes.fromhex(line[1:])
        count, addr, kind, data = raw[0], int.from_bytes(raw[1:3], "big"), raw[3], raw[4:4 + raw[0]]
        assert sum(raw) & 0xFF == 0 and len(data) == count
        if kind == 4:
            base = int.from_bytes(data, "big") << 16
        elif kind == 0:
            for i, v in enumerate(data):
                mem[base + addr + i] = v
    return bytes(mem[a] for a in range(start, start + n))


@pytest.mark.parametrize("model", list(MODELS))
def test_rp2040_boot2_carries_the_crc_the_bootrom_checks(builds, model):
    res = builds["pico", model]
    assert _crc32_msb(b"123456789") == 0x0376E6E7  # the check value of CRC-32/MPEG-2
    block = (res.out_dir / "firmware.bin").read_bytes()[:256]
    crc = _crc32_msb(block[:252])
    assert crc != 0 and block[252:] == crc.to_bytes(4, "little")
    assert _ihex_bytes((res.out_dir / "firmware.hex").read_text(), 0x10000000, 256) == block
    with open(res.elf, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".tq_boot2")
        assert sec["sh_addr"] == 0x10000000 and sec.data() == block
    assert res.manifest.boot2_crc == f"{crc:#010x}"
    # The block ends by entering the image through the vector table right after it.
    words = np.frombuffer(block[:252], "<u4")
    assert 0x10000100 in words and 0xE000ED08 in words and 0x18000000 in words  # table, VTOR, XIP SSI


# ARMv6-M has 32-bit encodings for these only; everything else is 16-bit Thumb.
V6M_WIDE = {"bl", "msr", "mrs", "dsb", "dmb", "isb"}


def test_cortex_m0plus_build_has_only_armv6m_instructions(builds):
    for model in MODELS:
        elf = builds["pico", model].elf
        r = subprocess.run([OBJDUMP, "-d", "-j", ".text", "-j", ".tq_boot2", str(elf)], capture_output=True, text=True, check=True)
        wide, mnemonics = [], set()
        for m in re.finditer(r"^\s*[0-9a-f]+:\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+([a-z][a-z0-9.]*)", r.stdout, re.M):
            mnemonics.add(m.group(3))
            if m.group(2) and m.group(3) not in V6M_WIDE:
                wide.append(m.group(0).strip())
        assert not wide, f"Thumb-2 instructions in the {model} build for pico: {wide[:5]}"
        assert "muls" in mnemonics and "bl" in mnemonics
        assert not mnemonics & {"smlad", "sxtb16", "ldrd", "strd", "sdiv", "udiv", "smull", "umull", "ssat", "usat", "clz", "it"}
    m4 = subprocess.run([OBJDUMP, "-d", "-j", ".text", str(builds["nano33", "kws"].elf)], capture_output=True, text=True, check=True)
    assert "smlad" in m4.stdout and "sxtb16" in m4.stdout  # the DSP kernels where the board has the extension


def test_console_option_changes_the_driver(builds):
    default, uart = builds["nano33", "kws"], builds["nano33-uart", "kws"]
    assert default.manifest.console == ConsoleInfo(name="default", driver="nrf_usbd_cdc", baud=115200)
    assert uart.manifest.console == ConsoleInfo(name="uart", driver="nrf_uarte", baud=115200)
    src = {p.name for p in (uart.out_dir / "src").iterdir()}
    assert "console_nrf_uarte.c" in src and "console_nrf_usbd_cdc.c" not in src
    header = (uart.out_dir / "src" / "tq_board.h").read_text()
    assert "#define TQ_CONSOLE_BASE 0x40002000u" in header and "#define TQ_CONSOLE_TX_PSEL 0x00000023u" in header
    assert "#define TQ_CONSOLE_BAUDRATE 0x01D60000u".lower() in header.lower()
    assert "--console uart" in uart.manifest.command


def test_unknown_console_is_one_line_naming_the_choices(tmp_path, kws):
    r = run_tinyq("build", kws, "--board", "nano33", "--console", "wifi", "-o", tmp_path / "b")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--console wifi" in r.stderr and "default, uart" in r.stderr
    assert not (tmp_path / "b").exists()


def test_build_command_takes_console(tmp_path, kws):
    r = run_tinyq("build", kws, "--board", "nano33", "--console", "uart", "-o", tmp_path / "b", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["console"] == "uart" and d["sizes"]["flash"] < d["sizes"]["flash_limit"]


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda d: d["flasher"].update(tools=["jlink"]), "flasher"),
        (lambda d: d.update(usb_ids=["2341-805A"]), "usb_ids/0"),
        (lambda d: d.update(console_options={"default": d["console"]}), "console_options"),
        (lambda d: d["console_options"]["uart"].pop("params"), "console_options/uart"),
        (lambda d: d["console_options"]["uart"]["params"].update(rx=3), "console_options/uart/params"),
        (lambda d: d["vectors"].update(irqs=-1), "vectors/irqs"),
        (lambda d: d.update(boot2={"source": "x", "bytes": 512, "checksum": "crc32-msb"}), "boot2/bytes"),
    ],
)
def test_schema_rejects_bad_real_boards(mutate, words):
    d = json.loads((ROOT / "boards" / "nano33.json").read_text())
    validate(d, "nano33.json")
    mutate(d)
    with pytest.raises(BadInput) as e:
        validate(d, "test.json")
    assert words in str(e.value)


# ---------------------------------------------------------------- drivers that QEMU models

def _test_board(tmp_path, base: str, drop=(), **fields):
    d = json.loads((ROOT / "boards" / f"{base}.json").read_text())
    for key in drop:
        d.pop(key)
    d.update(fields)
    p = tmp_path / f"{d['name']}.json"
    p.write_text(json.dumps(d))
    return get_board(str(p))


def _run_bit_exact(build_dir, board, model_path, runs):
    """Inputs through the firmware on QEMU and through TFLite's interpreter: the same bytes."""
    manifest = load_manifest(build_dir)
    g = compile_tflite(model_path)
    batch, _ = make_inputs(g, runs, seed=3)
    ref = Reference(model_path)
    with open_device(build_dir, board) as dut:
        assert dut.command("name") == ["m-name-dut-[tinyq]"]
        for x in batch[:runs]:
            dut.load(manifest.pack_inputs(x))
            inf = dut.infer()
            got = manifest.unpack_outputs(inf.output)
            want = ref.run(x, g.inputs, g.outputs)
            for a, b in zip(got, want):
                assert a.reshape(-1).tobytes() == np.asarray(b).reshape(-1).astype(a.dtype).tobytes()
            assert inf.cycles > 0 and len(inf.layers) == len(manifest.layers)


def test_pl011_console_runs_the_model_on_qemu_lm3s6965evb(tmp_path, kws):
    """The PL011 driver (the RP2040's UART) on QEMU's Stellaris board, UART0 at 0x4000C000."""
    board = _test_board(
        tmp_path, "qemu-m3", name="pl011-test", description="test: PL011 console on QEMU lm3s6965evb", clock_hz=50000000,
        memory={"flash": {"origin": "0x00000000", "length": 262144}, "ram": {"origin": "0x20000000", "length": 65536}},
        console={"driver": "pl011", "base": "0x4000C000", "baud": 115200, "params": {"CLOCK_HZ": 50000000}},
        cycle_counter={"driver": "systick", "unit": "instructions", "tick_hz": 50000000},
        emulator={"kind": "qemu", "machine": "lm3s6965evb", "icount_shift": 0},
    )
    res = build(kws, board, tmp_path / "b")
    assert "console_pl011.c" in {p.name for p in (res.out_dir / "src").iterdir()}
    _run_bit_exact(res.out_dir, board, kws, runs=2)


def test_armv6m_kernels_are_bit_exact_on_a_cortex_m0(tmp_path, kws):
    """The pico's kernel choice (no DSP, -mcpu=cortex-m0plus) on QEMU microbit's Cortex-M0, which
    faults on an unaligned LDR and on any Thumb-2 instruction as the M0+ does; console: its nRF51 UART."""
    pico = get_board("pico")
    board = _test_board(tmp_path, "qemu-m0", name="m0-test", description="test: the pico's code on qemu-m0", cflags=list(pico.cflags))
    assert board.extensions == pico.extensions and board.emulator["machine"] == "microbit"
    res = build(kws, board, tmp_path / "b")
    assert res.sizes.fits
    _run_bit_exact(res.out_dir, board, kws, runs=3)


def test_sealed_image_is_deterministic(builds, tmp_path):
    """A second build of the same model for the pico gives the same image, CRC included."""
    first = builds["pico", "kws"]
    again = build(shared_model(MODELS["kws"]), get_board("pico"), tmp_path / "again")
    for name in ("firmware.bin", "firmware.hex"):
        assert (again.out_dir / name).read_bytes() == (first.out_dir / name).read_bytes(), name
    assert again.manifest.boot2_crc == first.manifest.boot2_crc
