"""Boards as data: one schema-validated JSON file per board in boards/ (STYLE rule 1).

Code reads a board's fields (core flags, memory map, console, cycle counter, emulator) and never
branches on its name. `tinyq boards` lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import gcd
from pathlib import Path
from typing import Any

from tinyq.errors import BadInput
from tinyq.resources import BOARDS

SCHEMA = BOARDS / "schema.json"
DEFAULT_CONSOLE = "default"


@dataclass(frozen=True)
class Region:
    origin: int
    length: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    fpu: str | None
    extensions: tuple[str, ...]
    clock_hz: int
    flash: Region
    ram: Region
    stack_bytes: int
    console: dict[str, Any]
    cycle_counter: dict[str, Any]
    cflags: tuple[str, ...]
    emulator: dict[str, Any] | None
    flasher: dict[str, Any] | None
    path: Path
    soc: dict[str, Any] | None = None  # {"family", "params"}: firmware/hal/soc_<family>.c
    irqs: int = 0  # interrupt entries after the 16 system ones in the vector table
    relocate_vectors: bool = False  # the reset handler writes VTOR
    boot2: dict[str, Any] | None = None  # {"source", "bytes", "checksum"}: a boot block before the vectors
    console_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    console_name: str = DEFAULT_CONSOLE  # which console `console` is: the default or a console_options key
    usb_ids: tuple[str, ...] = ()
    renode: dict[str, Any] | None = None  # {"platform", "cpu", "uart", "console"}: how Renode models it
    arduino: dict[str, Any] | None = None  # {"fqbn", "default"}: the board in the Arduino IDE
    energy: dict[str, Any] | None = None  # the documented run current and supply voltage (schema: energy)
    stands_for: str | None = None  # an emulated board: the real board of its core whose figures apply

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def cycle_unit(self) -> str:
        return self.cycle_counter["unit"]

    @property
    def cycle_source(self) -> str:
        """"icount" when the counter counts instructions under the emulator, else "dwt"/"systick"."""
        return "icount" if self.cycle_unit == "instructions" else self.cycle_counter["driver"]

    def cycles_ratio(self) -> tuple[int, int]:
        """(num, den): counter ticks x num / den = cycles (or instructions under QEMU -icount)."""
        tick = int(self.cycle_counter["tick_hz"])
        if self.cycle_unit == "instructions":
            shift = int(self.emulator["icount_shift"]) if self.emulator else 0
            num, den = 10**9, tick << shift  # -icount shift=N: one instruction = 2^N ns
        else:
            num, den = self.clock_hz, tick
        k = gcd(num, den)
        return num // k, den // k

    def to_json(self) -> dict:
        return json.loads(self.path.read_text())

    def run_current_a(self) -> float | None:
        """The documented run current at clock_hz in amperes (None without an `energy` entry)."""
        e = self.energy
        if not e:
            return None
        if "run_current_ua_per_mhz" in e:
            return float(e["run_current_ua_per_mhz"]) * 1e-6 * self.clock_hz / 1e6
        return float(e["run_current_ma"]) * 1e-3

    def energy_uj(self, cycles: int) -> float | None:
        """Energy of `cycles` core cycles at clock_hz: time x run current x supply voltage, in microjoules."""
        amps = self.run_current_a()
        if amps is None:
            return None
        return 1e6 * cycles / self.clock_hz * amps * float(self.energy["supply_v"])

    @property
    def consoles(self) -> list[str]:
        """Console names `tinyq build --console` takes: "default" first, then the board's options."""
        return [DEFAULT_CONSOLE, *self.console_options]

    def with_console(self, name: str | None) -> "Board":
        """This board with console `name` (None or "default": the board's `console`) in `console`."""
        if name is None or name == self.console_name:
            return self
        if name == DEFAULT_CONSOLE:
            return replace(self, console=dict(self.to_json()["console"]), console_name=DEFAULT_CONSOLE)
        if name not in self.console_options:
            raise BadInput(f"--console {name}: board {self.name} has the consoles {', '.join(self.consoles)}: choose one of them")
        return replace(self, console=dict(self.console_options[name]), console_name=name)


def _validator():
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - a dependency of tinyq
        raise BadInput("the jsonschema package is missing: reinstall tinyq (`pip install -e .`)") from None
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(data: dict, where: str) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        at = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise BadInput(f"{where}: {at}: {e.message} (see boards/schema.json)")


def load_board_file(path: Path) -> Board:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not valid JSON ({e.msg} at line {e.lineno}): fix the board file") from None
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text (byte {e.start}): fix the board file") from None
    validate(data, str(path))
    if data["name"] != path.stem:
        raise BadInput(f"{path}: name '{data['name']}' differs from the file name: rename one of them")
    m = data["memory"]
    board = Board(
        name=data["name"],
        description=data["description"],
        core=data["core"],
        fpu=data["fpu"],
        extensions=tuple(data["extensions"]),
        clock_hz=int(data["clock_hz"]),
        flash=Region(int(m["flash"]["origin"], 16), int(m["flash"]["length"])),
        ram=Region(int(m["ram"]["origin"], 16), int(m["ram"]["length"])),
        stack_bytes=int(data["stack_bytes"]),
        console=dict(data["console"]),
        cycle_counter=dict(data["cycle_counter"]),
        cflags=tuple(data["cflags"]),
        emulator=data["emulator"],
        flasher=data["flasher"],
        path=path,
        soc=data.get("soc"),
        irqs=int(data.get("vectors", {}).get("irqs", 0)),
        relocate_vectors=bool(data.get("vectors", {}).get("relocate", False)),
        boot2=data.get("boot2"),
        console_options={k: dict(v) for k, v in data.get("console_options", {}).items()},
        usb_ids=tuple(data.get("usb_ids", [])),
        renode=data.get("renode"),
        arduino=data.get("arduino"),
        energy=data.get("energy"),
        stands_for=data.get("stands_for"),
    )
    if board.energy and "at_hz" in board.energy and int(board.energy["at_hz"]) != board.clock_hz:
        raise BadInput(f"{path}: energy/at_hz {board.energy['at_hz']} is not the board's clock_hz {board.clock_hz}: "
                       f"give the run current the datasheet states at {board.clock_hz} Hz (or in uA/MHz)")
    if board.energy and board.emulated:
        raise BadInput(f"{path}: energy figures are a real chip's; {board.name} is emulated: name the real board it "
                       f"stands for (stands_for) and give them there")
    if board.stands_for is not None and not board.emulated:
        raise BadInput(f"{path}: stands_for is for emulated boards; {board.name} is real hardware: remove it")
    if board.renode and board.renode["console"] not in board.consoles:
        raise BadInput(f"{path}: renode/console '{board.renode['console']}' is not one of the board's consoles "
                       f"({', '.join(board.consoles)}): name one of them")
    return board


def board_files() -> list[Path]:
    return sorted(p for p in BOARDS.glob("*.json") if p.name != SCHEMA.name)


@lru_cache(maxsize=None)
def all_boards() -> dict[str, Board]:
    return {b.name: b for b in (load_board_file(p) for p in board_files())}


def get_board(name: str) -> Board:
    """A board by name, or a file path to a board description of one's own."""
    if name.endswith(".json") and Path(name).exists():
        return load_board_file(Path(name))
    boards = all_boards()
    if name not in boards:
        raise BadInput(f"unknown board '{name}': choose one of {', '.join(boards)} (`tinyq boards` lists them)")
    return boards[name]


def energy_board(board: Board, energy_for: str | Board | None = None) -> Board | None:
    """The board whose documented run current prices an inference on `board`: `energy_for` (a name, a
    .json path or a Board), else `board` itself when it has figures, else the real board it stands for.
    None when that board has no `energy` entry. The board named must have `board`'s core."""
    if energy_for is not None:
        target = energy_for if isinstance(energy_for, Board) else get_board(energy_for)
    elif board.energy:
        target = board
    elif board.stands_for:
        target = get_board(board.stands_for)
    else:
        return None
    if target.core != board.core:
        raise BadInput(f"{target.name} is a {target.core} and {board.name} a {board.core}: name a {board.core} board "
                       f"for the energy figures (the code is compiled for that core)")
    return target if target.energy else None


def default_arduino_board() -> Board:
    """The board `tinyq export --arduino` targets without --board: the one whose arduino.default is true."""
    marked = [b for b in (get_board(p.stem) for p in board_files()) if b.arduino and b.arduino.get("default")]
    if len(marked) != 1:
        raise BadInput(f"boards/ marks {len(marked)} boards as the Arduino default (arduino.default): give --board")
    return marked[0]
