"""Boards are data: every file matches the schema, and code reads fields instead of names."""

import json
import re

import pytest

from tinyq.boards import all_boards, board_files, get_board, load_board_file, validate
from tinyq.errors import BadInput

from .conftest import ROOT, run_tinyq

EMULATED = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]


@pytest.mark.parametrize("path", board_files(), ids=lambda p: p.stem)
def test_every_board_file_validates(path):
    b = load_board_file(path)
    assert b.name == path.stem
    assert b.flash.length > 0 and b.ram.length > b.stack_bytes
    num, den = b.cycles_ratio()
    assert num > 0 and den > 0


def test_the_emulated_cores_are_there():
    boards = all_boards()
    for name in EMULATED:
        assert boards[name].emulated, name
    machines = {boards[n].emulator["machine"] for n in EMULATED}
    assert machines == {"microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"}


def test_icount_turns_ticks_into_instructions():
    # -icount shift=0: one instruction per ns; SysTick at 25 MHz ticks every 40 instructions.
    assert get_board("qemu-m4").cycles_ratio() == (40, 1)
    assert get_board("qemu-m55").cycles_ratio() == (125, 4)
    # shift=6 on the M0: 64 ns an instruction, a 16 MHz tick every 62.5 ns, so a tick is under one instruction.
    assert get_board("qemu-m0").cycles_ratio() == (125, 128)


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda d: d.update(colour="red"), "Additional properties"),
        (lambda d: d["memory"]["flash"].update(origin="0xZZ"), "memory/flash/origin"),
        (lambda d: d.update(core="cortex-a53"), "core"),
        (lambda d: d.pop("console"), "console"),
        (lambda d: d["cycle_counter"].update(driver="rdtsc"), "cycle_counter/driver"),
    ],
)
def test_schema_rejects_bad_boards(mutate, words):
    d = json.loads((ROOT / "boards" / "qemu-m4.json").read_text())
    mutate(d)
    with pytest.raises(BadInput) as e:
        validate(d, "test.json")
    assert words in str(e.value)


def test_board_file_of_ones_own(tmp_path):
    d = json.loads((ROOT / "boards" / "qemu-m4.json").read_text())
    d["name"] = "my-board"
    p = tmp_path / "my-board.json"
    p.write_text(json.dumps(d))
    assert get_board(str(p)).name == "my-board"
    (tmp_path / "other.json").write_text(json.dumps(d))
    with pytest.raises(BadInput, match="differs from the file name"):
        get_board(str(tmp_path / "other.json"))


def test_unknown_board_names_the_choices():
    r = run_tinyq("build", ROOT / "README.md", "--board", "nano99")
    assert r.returncode == 2
    assert "unknown board 'nano99'" in r.stderr and "qemu-m4" in r.stderr and "Traceback" not in r.stderr


def test_code_never_branches_on_a_board_name():
    """Board knowledge lives in boards/*.json: no board name appears in the package's logic."""
    names = [b for b in all_boards()]
    for src in sorted((ROOT / "tinyq").rglob("*.py")):
        if src.name == "demo.py":  # the demo is a user of the boards, like the README
            continue
        text = src.read_text()
        for n in names:
            assert not re.search(rf"['\"]{re.escape(n)}['\"]", text), f"{src.relative_to(ROOT)} names board {n}"
    for src in sorted((ROOT / "firmware").rglob("*.[ch]")):
        text = src.read_text()
        for n in names:
            assert n not in text, f"{src.relative_to(ROOT)} names board {n}"


def test_boards_command_table_and_json():
    r = run_tinyq("boards")
    assert r.returncode == 0, r.stderr
    for n in EMULATED:
        assert n in r.stdout
    r = run_tinyq("boards", "--json")
    d = json.loads(r.stdout)
    assert sorted(b["name"] for b in d) == sorted(all_boards())


# ------------------------------------------------------------------ energy figures and stands_for

def test_an_emulated_board_stands_for_a_real_board_of_its_core():
    boards = all_boards()
    for b in boards.values():
        if b.stands_for is not None:
            real = boards[b.stands_for]
            assert b.emulated and not real.emulated and real.core == b.core, b.name
    assert boards["qemu-m4"].stands_for == "nucleo-l4r5zi" and boards["qemu-m7"].stands_for == "disco-f746"


def test_energy_figures_name_their_document():
    for b in all_boards().values():
        if b.energy:
            assert not b.emulated and b.energy["source"] and b.energy["conditions"], b.name
            assert 0 < b.run_current_a() < 1, b.name


def _with(base: str, **fields):
    d = json.loads((ROOT / "boards" / f"{base}.json").read_text())
    d.update(fields)
    return d


@pytest.mark.parametrize("energy,words", [
    ({"run_current_ua_per_mhz": 100, "run_current_ma": 12, "at_hz": 120000000, "supply_v": 3.0, "conditions": "c", "source": "s"},
     "energy"),
    ({"run_current_ma": 12, "supply_v": 3.0, "conditions": "c", "source": "s"}, "energy"),  # at which clock?
    ({"run_current_ua_per_mhz": 100, "supply_v": 3.0, "conditions": "c"}, "source"),
    ({"run_current_ua_per_mhz": -1, "supply_v": 3.0, "conditions": "c", "source": "s"}, "energy"),
])
def test_schema_checks_energy(energy, words):
    with pytest.raises(BadInput) as e:
        validate(_with("nucleo-l4r5zi", energy=energy), "test.json")
    assert words in str(e.value)


def test_energy_arithmetic_and_the_board_it_comes_from(tmp_path):
    from tinyq.boards import energy_board

    def write(name, base, **fields):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(_with(base, name=name, **fields)))
        return p

    per_mhz = get_board(str(write("a", "nucleo-l4r5zi", energy={"run_current_ua_per_mhz": 100, "supply_v": 3.0,
                                                                "conditions": "test", "source": "test"})))
    assert per_mhz.run_current_a() == pytest.approx(0.012)  # 100 uA/MHz at 120 MHz
    assert per_mhz.energy_uj(120_000) == pytest.approx(1e-3 * 0.012 * 3.0 * 1e6)  # 1 ms
    ma = get_board(str(write("b", "nucleo-l4r5zi", energy={"run_current_ma": 12, "at_hz": 120_000_000, "supply_v": 3.3,
                                                           "conditions": "test", "source": "test"})))
    assert ma.run_current_a() == pytest.approx(0.012)
    with pytest.raises(BadInput, match="at_hz 80000000 is not the board's clock_hz 120000000"):
        get_board(str(write("c", "nucleo-l4r5zi", energy={"run_current_ma": 12, "at_hz": 80_000_000, "supply_v": 3.3,
                                                          "conditions": "test", "source": "test"})))
    with pytest.raises(BadInput, match="energy figures are a real chip's"):
        get_board(str(write("e", "qemu-m4", energy={"run_current_ua_per_mhz": 100, "supply_v": 3.0,
                                                    "conditions": "test", "source": "test"})))
    with pytest.raises(BadInput, match="stands_for is for emulated boards"):
        get_board(str(write("d", "nucleo-l4r5zi", stands_for="qemu-m4")))
    m4 = get_board("qemu-m4")
    assert energy_board(m4) is None  # nucleo-l4r5zi documents no run current (see its file)
    assert energy_board(m4, str(tmp_path / "a.json")).name == "a"
    with pytest.raises(BadInput, match="is a cortex-m7 and qemu-m4 a cortex-m4"):
        energy_board(m4, "disco-f746")
