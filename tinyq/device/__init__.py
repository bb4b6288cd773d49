"""Devices: what runs a build and how to reach it. Board data lives in tinyq.boards; here are the
serial protocol (protocol), the adapters behind one `Device` interface (adapters: QEMU, Renode,
a serial port), the emulators (qemu, renode, and plugin: tinyq's QEMU plugin, what a firmware executed) and
the flashers (flash, samba, uf2).

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
from tinyq.device.plugin import ExecTrace, TracedQemuDevice, plugin_library
from tinyq.device.protocol import DeviceError, Dut, Inference, Link, Retryable

__all__ = ["Device", "DeviceError", "Dut", "ExecTrace", "Inference", "Link", "QemuDevice", "RenodeDevice", "Retryable", "SerialDevice",
           "TracedQemuDevice", "console_port", "device_for", "open_device", "plugin_library"]
