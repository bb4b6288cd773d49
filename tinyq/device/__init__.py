"""Devices: what runs a build and how to reach it. Board data lives in tinyq.boards; here are the
serial protocol (protocol), the adapters behind one `Device` interface (adapters: QEMU, Renode,
a serial port), the emulators (qemu, renode) and the flashers (flash, samba, uf2).

Public: `Device`, `device_for`, `open_device`, `Dut`, `Link`, `DeviceError`.
"""

from tinyq.device.adapters import (
           Device,
           QemuDevice,
           RenodeDevice,
           SerialDevice,
           console_port,
           device_for,
           open_device,
)
from tinyq.device.protocol import DeviceError, Dut, Inference, Link, Retryable

__all__ = ["Device", "DeviceError", "Dut", "Inference", "Link", "QemuDevice", "RenodeDevice", "Retryable", "SerialDevice",
           "console_port", "device_for", "open_device"]
