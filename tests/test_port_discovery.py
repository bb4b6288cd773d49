"""`tinyq profile` without --port on real hardware: the console port is found by the board's USB ids."""

from types import SimpleNamespace

import pytest

from tinyq.boards import get_board
from tinyq.device import console_port, samba
from tinyq.errors import BadInput


def _ports(monkeypatch, *ports):
    monkeypatch.setattr(samba, "comports", lambda: [SimpleNamespace(device=d, vid=v, pid=p) for d, v, p in ports])


def test_the_one_matching_port_is_chosen(monkeypatch):
    _ports(monkeypatch, ("/dev/ttyUSB0", 0x0403, 0x6001), ("/dev/ttyACM3", 0x2341, 0x805A), ("/dev/ttyS0", None, None))
    assert console_port(get_board("nano33")) == "/dev/ttyACM3"
    _ports(monkeypatch, ("/dev/ttyACM0", 0x0483, 0x374B))
    assert console_port(get_board("nucleo-l4r5zi")) == "/dev/ttyACM0"


def test_the_bootloader_is_not_the_console(monkeypatch):
    _ports(monkeypatch, ("/dev/ttyACM0", 0x2341, 0x005A))  # the nano33 waiting in its bootloader
    with pytest.raises(BadInput, match=r"no nano33 found on USB \(looked for 2341:805A\).*--port"):
        console_port(get_board("nano33"))


def test_two_candidates_ask_for_a_choice(monkeypatch):
    _ports(monkeypatch, ("/dev/ttyACM0", 0x0483, 0x374B), ("/dev/ttyACM1", 0x0483, 0x374B))
    with pytest.raises(BadInput, match=r"2 ports look like a disco-f746 \(/dev/ttyACM0, /dev/ttyACM1\): choose one with --port"):
        console_port(get_board("disco-f746"))


def test_a_uart_console_needs_the_port(monkeypatch):
    _ports(monkeypatch, ("/dev/ttyUSB0", 0x0403, 0x6001))
    with pytest.raises(BadInput, match="UART on your own adapter: give its serial port with --port"):
        console_port(get_board("pico"))


def test_the_device_adapter_follows_board_data_and_port(monkeypatch, tmp_path):
    """One Device interface (tinyq.device): QEMU for an emulated board, the given port, else the USB port."""
    from tinyq.device import QemuDevice, SerialDevice, device_for

    d = device_for(tmp_path, get_board("qemu-m4"))
    assert isinstance(d, QemuDevice) and d.elf == tmp_path / "firmware.elf"
    d = device_for(tmp_path, get_board("qemu-m4"), port="socket://127.0.0.1:9")
    assert isinstance(d, SerialDevice) and d.port == "socket://127.0.0.1:9"
    _ports(monkeypatch, ("/dev/ttyACM3", 0x2341, 0x805A))
    d = device_for(tmp_path, get_board("nano33"))
    assert isinstance(d, SerialDevice) and not isinstance(d, QemuDevice) and d.port == "/dev/ttyACM3"
    assert d.fix == f"tinyq flash {tmp_path}"
