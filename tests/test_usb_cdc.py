"""tinyq's USB CDC-ACM stack: the core (descriptors, chapter-9 and PSTN control requests, 1200-baud touch)
run on the host through tests/usb_cdc_harness.c, and the nRF52840 USBD driver cross-compiled."""

import shutil
import struct
import subprocess
from dataclasses import dataclass

import pytest

from .conftest import ROOT

HAL = ROOT / "firmware" / "hal"
DRIVER = HAL / "console_nrf_usbd_cdc.c"
CORE_DIR = HAL / "console_nrf_usbd_cdc"
HARNESS = ROOT / "tests" / "usb_cdc_harness.c"
CROSS = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

# bmRequestType
H2D_STD_DEV, D2H_STD_DEV = 0x00, 0x80
H2D_STD_IF, D2H_STD_IF = 0x01, 0x81
H2D_STD_EP, D2H_STD_EP = 0x02, 0x82
H2D_CLASS_IF, D2H_CLASS_IF = 0x21, 0xA1
# bRequest
GET_STATUS, CLEAR_FEATURE, SET_FEATURE, SET_ADDRESS, GET_DESCRIPTOR, SET_DESCRIPTOR = 0, 1, 3, 5, 6, 7
GET_CONFIGURATION, SET_CONFIGURATION, GET_INTERFACE, SET_INTERFACE = 8, 9, 10, 11
SET_LINE_CODING, GET_LINE_CODING, SET_CONTROL_LINE_STATE, SEND_BREAK = 0x20, 0x21, 0x22, 0x23
# effects
FX_ADDRESS, FX_CONFIG, FX_HALT, FX_UNHALT, FX_LINES = 0x01, 0x02, 0x04, 0x08, 0x10
DTR, RTS = 1, 2
PRODUCT = "tinyq CDC"


@dataclass
class Reply:
    action: str  # STALL, STATUS, SEND, RECEIVE
    effects: int = 0
    value: int = 0
    zlp: int = 0
    data: bytes = b""
    length: int = 0


def parse_reply(line: str) -> Reply:
    words = line.split()
    if words[0] == "STALL":
        return Reply("STALL")
    if words[0] == "RECEIVE":
        return Reply("RECEIVE", length=int(words[1]))
    fields = dict(w.split("=") for w in words[1:] if "=" in w)
    r = Reply(words[0], int(fields["fx"], 16), int(fields["val"], 16))
    if words[0] == "SEND":
        r.zlp = int(fields["zlp"])
        r.data = bytes.fromhex(words[4]) if len(words) > 4 else b""
        r.length = len(r.data)
    elif words[0] != "STATUS":
        raise AssertionError(f"harness answered {line!r}")
    return r


class Host:
    """The host's side of the control pipe, talking to one harness process."""

    def __init__(self, exe, *args):
        self.proc = subprocess.Popen([str(exe), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        assert out and not out.startswith("ERROR"), f"harness: {line!r} -> {out!r}"
        return out

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0, "harness exited with an error (sanitizer report on stderr)"

    def setup(self, rt, req, value=0, index=0, length=0) -> Reply:
        return parse_reply(self.cmd("setup " + struct.pack("<BBHHH", rt, req, value, index, length).hex()))

    def out(self, data: bytes) -> Reply:
        return parse_reply(self.cmd(("out " + data.hex()) if data else "out"))

    def control_in(self, rt, req, value=0, index=0, length=0xFF) -> bytes:
        r = self.setup(rt, req, value, index, length)
        assert r.action == "SEND", f"request {rt:#04x}/{req}: {r}"
        assert r.length <= length
        return r.data

    def descriptor(self, kind, index=0, length=0xFF, langid=0) -> bytes:
        return self.control_in(D2H_STD_DEV, GET_DESCRIPTOR, (kind << 8) | index, langid, length)

    def state(self) -> dict:
        words = self.cmd("state").split()[1:]
        return {k: (v if k == "coding" else int(v)) for k, v in (w.split("=") for w in words)}

    def enumerate(self, address=7):
        assert self.cmd("reset") == "ok"
        assert self.setup(H2D_STD_DEV, SET_ADDRESS, address).action == "STATUS"
        r = self.setup(H2D_STD_DEV, SET_CONFIGURATION, 1)
        assert (r.action, r.effects, r.value) == ("STATUS", FX_CONFIG, 1)

    def set_line_coding(self, baud, stop=0, parity=0, bits=8) -> Reply:
        r = self.setup(H2D_CLASS_IF, SET_LINE_CODING, 0, 0, 7)
        assert (r.action, r.length) == ("RECEIVE", 7)
        return self.out(struct.pack("<IBBB", baud, stop, parity, bits))

    def lines(self, value) -> Reply:
        return self.setup(H2D_CLASS_IF, SET_CONTROL_LINE_STATE, value, 0, 0)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    gcc = shutil.which("gcc")
    assert gcc, "the host gcc is missing: `apt-get install gcc`"
    exe = tmp_path_factory.mktemp("usb-cdc") / "usb_cdc_harness"
    r = subprocess.run(
        [gcc, *STRICT, "-pedantic", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{CORE_DIR}", str(HARNESS), str(CORE_DIR / "tq_usb_cdc.c"), "-o", str(exe)],
        capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


@pytest.fixture
def host(harness):
    h = Host(harness, PRODUCT)
    yield h
    h.close()


@pytest.fixture
def port(host):
    """A host that has enumerated the device (address 7, configuration 1)."""
    host.enumerate()
    return host


def parse_descriptors(blob: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(blob):
        n = blob[i]
        assert n >= 2 and i + n <= len(blob), f"bad bLength {n} at offset {i}"
        out.append(blob[i:i + n])
        i += n
    return out


# ----------------------------------------------------------------------------------------- descriptors


def test_device_descriptor(host):
    d = host.descriptor(1, length=64)
    assert len(d) == 18
    (length, kind, bcd_usb, cls, sub, proto, mps0, vid, pid, bcd_dev, i_man, i_prod, i_ser, n_cfg) = struct.unpack(
        "<BBHBBBBHHHBBBB", d)
    assert (length, kind, bcd_usb) == (18, 1, 0x0200)
    assert (cls, sub, proto) == (0xEF, 0x02, 0x01), "miscellaneous/common/IAD: the function is in the IAD"
    assert mps0 == 64
    assert (vid, pid, bcd_dev) == (0x2341, 0x805A, 0x0100)
    assert (i_man, i_prod, i_ser, n_cfg) == (1, 2, 3, 1)
    # The first request of a Windows host: 8 bytes, then a reset.
    assert host.descriptor(1, length=8) == d[:8]


def test_configuration_descriptor(host):
    blob = host.descriptor(2, length=0xFFFF)
    assert host.cmd("config") == "config " + blob.hex()
    descs = parse_descriptors(blob)
    cfg = descs[0]
    assert (cfg[0], cfg[1]) == (9, 2)
    total, n_if, value, _, attrs, power = struct.unpack("<HBBBBB", cfg[2:])
    assert total == len(blob) == 75
    assert value == 1 and attrs & 0x80 and not attrs & 0x20 and power == 50

    interfaces = [d for d in descs if d[1] == 4]
    assert n_if == len(interfaces) == 2

    iad = descs[1]
    assert iad[1] == 11 and len(iad) == 8, "the IAD comes before the interfaces it groups"
    assert tuple(iad[2:7]) == (0, 2, 0x02, 0x02, 0x01)

    comm, data = interfaces
    assert (comm[2], comm[3], comm[5], comm[6], comm[7]) == (0, 0, 0x02, 0x02, 0x01)
    assert (data[2], data[3], data[5]) == (1, 0, 0x0A)

    # Each interface's endpoints follow it, as many as bNumEndpoints says.
    idx_comm, idx_data = descs.index(comm), descs.index(data)
    comm_eps = [d for d in descs[idx_comm:idx_data] if d[1] == 5]
    data_eps = [d for d in descs[idx_data:] if d[1] == 5]
    assert len(comm_eps) == comm[4] == 1 and len(data_eps) == data[4] == 2
    eps = {d[2]: (d[3], struct.unpack("<H", d[4:6])[0], d[6]) for d in comm_eps + data_eps}
    assert all(len(d) == 7 for d in comm_eps + data_eps)
    assert eps[0x81][0] == 3 and eps[0x81][1] >= 10 and eps[0x81][2] > 0, "interrupt IN for SERIAL_STATE"
    assert eps[0x02][:2] == (2, 64) and eps[0x82][:2] == (2, 64), "bulk OUT and IN, 64 bytes"
    assert {a & 0x0F for a in eps} == {1, 2} and len(eps) == 3

    # CDC functional descriptors, in the order CDC 1.20 5.2.3 asks: header first, then call
    # management, ACM and union, all between the comm interface and its endpoint.
    functional = [d for d in descs[idx_comm:idx_data] if d[1] == 0x24]
    assert [d[2] for d in functional] == [0x00, 0x01, 0x02, 0x06]
    header, call, acm, union = functional
    assert len(header) == 5 and struct.unpack("<H", header[3:5])[0] == 0x0110
    assert len(call) == 5 and call[4] == 1
    assert len(acm) == 4 and acm[3] & 0x02, "SET/GET_LINE_CODING and SET_CONTROL_LINE_STATE supported"
    assert acm[3] & 0x04, "SEND_BREAK supported"
    assert tuple(union[2:]) == (0x06, 0, 1)


@pytest.mark.parametrize("wlength", [9, 18, 64, 74, 75, 76, 255])
def test_configuration_cut_to_wlength(host, wlength):
    full = host.descriptor(2, length=0xFFFF)
    r = host.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0200, 0, wlength)
    assert r.action == "SEND" and r.data == full[:wlength]
    assert r.zlp == 0, "75 bytes is not a multiple of 64: the short packet ends the data stage"


def test_string_descriptors(host):
    langs = host.descriptor(3, 0)
    assert langs == bytes([4, 3, 0x09, 0x04])
    for index, text in ((1, "tinyq"), (2, PRODUCT), (3, "0123456789ABCDEF")):
        d = host.descriptor(3, index, langid=0x0409)
        assert d[0] == len(d) == 2 + 2 * len(text) and d[1] == 3
        assert d[2:].decode("utf-16-le") == text
    assert host.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0304, 0x0409, 255).action == "STALL"
    assert host.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x03EE, 0, 255).action == "STALL", "no Microsoft OS string"


def test_string_that_fills_packets_ends_with_zlp(harness):
    h = Host(harness, "P" * 31)  # 2 + 62 = 64 bytes: exactly one full packet
    try:
        r = h.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0302, 0x0409, 255)
        assert (r.length, r.zlp) == (64, 1), "a short answer that ends on a packet boundary needs a ZLP"
        r = h.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0302, 0x0409, 64)
        assert (r.length, r.zlp) == (64, 0), "no ZLP when the host asked for exactly that much"
    finally:
        h.close()


def test_long_string_is_cut(harness):
    h = Host(harness, "x" * 100)
    try:
        d = h.descriptor(3, 2)
        assert d[0] == len(d) == 2 + 2 * 62 and d[2:].decode("utf-16-le") == "x" * 62
    finally:
        h.close()


@pytest.mark.parametrize("kind", [4, 5, 6, 7, 0x21, 0x22, 0])
def test_other_descriptor_types_stall(host, kind):
    """Device qualifier (6) and other-speed configuration (7): a full-speed-only device says request
    error; interface/endpoint descriptors are not fetched alone; HID and unknown types do not exist."""
    assert host.setup(D2H_STD_DEV, GET_DESCRIPTOR, kind << 8, 0, 10).action == "STALL"


def test_configuration_index_other_than_zero_stalls(host):
    assert host.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0201, 0, 255).action == "STALL"


def test_wlength_zero_has_no_data_stage(host):
    r = host.setup(D2H_STD_DEV, GET_DESCRIPTOR, 0x0100, 0, 0)
    assert (r.action, r.effects) == ("STATUS", 0)


# ----------------------------------------------------------------------------------------- standard requests


def test_set_address(host):
    r = host.setup(H2D_STD_DEV, SET_ADDRESS, 42)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_ADDRESS, 42)
    assert host.state()["addr"] == 42
    assert host.setup(H2D_STD_DEV, SET_ADDRESS, 128).action == "STALL"
    assert host.setup(D2H_STD_DEV, SET_ADDRESS, 3, 0, 0).action == "STALL", "wrong direction"


def test_set_and_get_configuration(host):
    host.setup(H2D_STD_DEV, SET_ADDRESS, 3)
    assert host.control_in(D2H_STD_DEV, GET_CONFIGURATION, length=1) == b"\x00"
    r = host.setup(H2D_STD_DEV, SET_CONFIGURATION, 1)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_CONFIG, 1)
    assert host.control_in(D2H_STD_DEV, GET_CONFIGURATION, length=1) == b"\x01"
    assert host.state()["configured"] == 1
    assert host.setup(H2D_STD_DEV, SET_CONFIGURATION, 2).action == "STALL"
    assert host.control_in(D2H_STD_DEV, GET_CONFIGURATION, length=1) == b"\x01", "a refused value changes nothing"
    r = host.setup(H2D_STD_DEV, SET_CONFIGURATION, 0)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_CONFIG, 0)
    assert host.control_in(D2H_STD_DEV, GET_CONFIGURATION, length=1) == b"\x00"
    assert host.setup(H2D_STD_DEV, SET_ADDRESS, 9).action == "STATUS", "address state again"


def test_set_configuration_without_a_seen_set_address(host):
    """The nRF answers SET_ADDRESS in hardware: a polled driver may never pass that SETUP on."""
    r = host.setup(H2D_STD_DEV, SET_CONFIGURATION, 1)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_CONFIG, 1)
    assert host.lines(DTR).action == "STATUS" and host.state()["dtr"] == 1


def test_get_status(port):
    assert port.control_in(D2H_STD_DEV, GET_STATUS, length=2) == b"\x00\x00", "bus powered, no remote wakeup"
    assert port.control_in(D2H_STD_IF, GET_STATUS, 0, 0, 2) == b"\x00\x00"
    assert port.control_in(D2H_STD_IF, GET_STATUS, 0, 1, 2) == b"\x00\x00"
    assert port.setup(D2H_STD_IF, GET_STATUS, 0, 2, 2).action == "STALL", "no interface 2"
    for ep in (0x00, 0x80, 0x81, 0x02, 0x82):
        assert port.control_in(D2H_STD_EP, GET_STATUS, 0, ep, 2) == b"\x00\x00"
    for ep in (0x01, 0x83, 0x03, 0x8F):
        assert port.setup(D2H_STD_EP, GET_STATUS, 0, ep, 2).action == "STALL", f"no endpoint {ep:#x}"


@pytest.mark.parametrize("ep", [0x81, 0x02, 0x82])
def test_endpoint_halt(port, ep):
    r = port.setup(H2D_STD_EP, SET_FEATURE, 0, ep)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_HALT, ep)
    assert port.control_in(D2H_STD_EP, GET_STATUS, 0, ep, 2) == b"\x01\x00"
    others = {0x81, 0x02, 0x82} - {ep}
    assert all(port.control_in(D2H_STD_EP, GET_STATUS, 0, o, 2) == b"\x00\x00" for o in others)
    r = port.setup(H2D_STD_EP, CLEAR_FEATURE, 0, ep)
    assert (r.action, r.effects, r.value) == ("STATUS", FX_UNHALT, ep)
    assert port.control_in(D2H_STD_EP, GET_STATUS, 0, ep, 2) == b"\x00\x00"
    # Clearing a halt that is not set still resets the data toggle: the driver is told again.
    assert port.setup(H2D_STD_EP, CLEAR_FEATURE, 0, ep).effects == FX_UNHALT
    # SET_CONFIGURATION clears every halt.
    port.setup(H2D_STD_EP, SET_FEATURE, 0, ep)
    port.setup(H2D_STD_DEV, SET_CONFIGURATION, 1)
    assert port.control_in(D2H_STD_EP, GET_STATUS, 0, ep, 2) == b"\x00\x00"


def test_halt_requests_refused(port):
    assert port.setup(H2D_STD_EP, SET_FEATURE, 0, 0x00).action == "STALL", "the default pipe is not halted"
    assert port.setup(H2D_STD_EP, CLEAR_FEATURE, 0, 0x00).action == "STATUS"
    assert port.setup(H2D_STD_EP, SET_FEATURE, 1, 0x82).action == "STALL", "feature 1 is not ENDPOINT_HALT"
    assert port.setup(H2D_STD_EP, SET_FEATURE, 0, 0x83).action == "STALL"
    assert port.setup(H2D_STD_DEV, SET_FEATURE, 1).action == "STALL", "no remote wakeup"
    assert port.setup(H2D_STD_DEV, SET_FEATURE, 2, 0x0100).action == "STALL", "TEST_MODE is high speed only"
    port.setup(H2D_STD_DEV, SET_CONFIGURATION, 0)
    assert port.setup(H2D_STD_EP, SET_FEATURE, 0, 0x82).action == "STALL", "address state: only endpoint 0"
    assert port.setup(D2H_STD_EP, GET_STATUS, 0, 0x82, 2).action == "STALL"
    assert port.control_in(D2H_STD_EP, GET_STATUS, 0, 0x00, 2) == b"\x00\x00"


def test_interface_requests(port):
    for i in (0, 1):
        assert port.control_in(D2H_STD_IF, GET_INTERFACE, 0, i, 1) == b"\x00"
        assert port.setup(H2D_STD_IF, SET_INTERFACE, 0, i).action == "STATUS"
        assert port.setup(H2D_STD_IF, SET_INTERFACE, 1, i).action == "STALL", "one alternate setting only"
    assert port.setup(D2H_STD_IF, GET_INTERFACE, 0, 2, 1).action == "STALL"
    port.setup(H2D_STD_DEV, SET_CONFIGURATION, 0)
    assert port.setup(D2H_STD_IF, GET_INTERFACE, 0, 0, 1).action == "STALL", "no interfaces before configuration"


def test_bus_reset_returns_to_default(port):
    port.set_line_coding(9600)
    port.lines(DTR | RTS)
    port.setup(H2D_STD_EP, SET_FEATURE, 0, 0x82)
    assert port.cmd("reset") == "ok"
    s = port.state()
    assert (s["addr"], s["cfg"], s["halted"], s["lines"], s["baud"]) == (0, 0, 0, 0, 115200)
    assert s["touches"] == 0


# ----------------------------------------------------------------------------------------- class requests


def test_default_line_coding(port):
    assert port.control_in(D2H_CLASS_IF, GET_LINE_CODING, 0, 0, 7) == struct.pack("<IBBB", 115200, 0, 0, 8)


@pytest.mark.parametrize("coding", [(9600, 0, 0, 8), (1200, 0, 0, 8), (921600, 2, 2, 7), (300, 1, 4, 5), (57600, 0, 1, 16)])
def test_line_coding_round_trip(port, coding):
    assert port.set_line_coding(*coding).action == "STATUS"
    assert port.control_in(D2H_CLASS_IF, GET_LINE_CODING, 0, 0, 7) == struct.pack("<IBBB", *coding)
    assert port.state()["baud"] == coding[0]
    assert port.control_in(D2H_CLASS_IF, GET_LINE_CODING, 0, 0, 4) == struct.pack("<I", coding[0]), "cut to wLength"


@pytest.mark.parametrize("bad", [(9600, 3, 0, 8), (9600, 0, 5, 8), (9600, 0, 0, 9), (9600, 0, 0, 4)])
def test_invalid_line_coding_stalls_and_keeps_the_old_one(port, bad):
    port.set_line_coding(19200)
    assert port.set_line_coding(*bad).action == "STALL"
    assert port.state()["baud"] == 19200


def test_set_line_coding_needs_seven_bytes(port):
    assert port.setup(H2D_CLASS_IF, SET_LINE_CODING, 0, 0, 6).action == "STALL"
    r = port.setup(H2D_CLASS_IF, SET_LINE_CODING, 0, 0, 7)
    assert r.action == "RECEIVE"
    assert port.out(bytes(6)).action == "STALL", "short data stage"
    assert port.out(struct.pack("<IBBB", 9600, 0, 0, 8)).action == "STALL", "no data stage pending any more"


def test_new_setup_abandons_a_pending_data_stage(port):
    assert port.setup(H2D_CLASS_IF, SET_LINE_CODING, 0, 0, 7).action == "RECEIVE"
    assert port.control_in(D2H_STD_DEV, GET_STATUS, length=2) == b"\x00\x00"
    assert port.out(struct.pack("<IBBB", 1200, 0, 0, 8)).action == "STALL"
    assert port.state()["baud"] == 115200


def test_set_control_line_state(port):
    r = port.lines(DTR | RTS)
    assert (r.action, r.effects) == ("STATUS", FX_LINES)
    s = port.state()
    assert (s["lines"], s["dtr"]) == (3, 1)
    assert port.lines(DTR | RTS).effects == 0, "no change, no effect"
    assert port.lines(RTS).effects == FX_LINES
    assert port.state()["dtr"] == 0
    assert port.lines(0).effects == FX_LINES
    assert port.state()["lines"] == 0


def test_send_break(port):
    assert port.setup(H2D_CLASS_IF, SEND_BREAK, 250).action == "STATUS"
    s = port.state()
    assert (s["breaks"], s["break_ms"]) == (1, 250)


@pytest.mark.parametrize(
    "setup",
    [
        (0x40, 0x01, 0, 0, 0),  # vendor request
        (0xC0, 0x01, 0, 0, 4),  # vendor request, IN
        (0x60, 0x00, 0, 0, 0),  # reserved type
        (H2D_CLASS_IF, 0x99, 0, 0, 0),  # unknown class request
        (H2D_CLASS_IF, 0x00, 0, 0, 8),  # SEND_ENCAPSULATED_COMMAND: not supported
        (D2H_CLASS_IF, 0x01, 0, 0, 8),  # GET_ENCAPSULATED_RESPONSE
        (H2D_CLASS_IF, SET_CONTROL_LINE_STATE, 3, 1, 0),  # class request to the data interface
        (0x22, SET_CONTROL_LINE_STATE, 3, 0, 0),  # class request to an endpoint
        (D2H_CLASS_IF, SET_CONTROL_LINE_STATE, 3, 0, 0),  # wrong direction
        (H2D_CLASS_IF, GET_LINE_CODING, 0, 0, 7),  # wrong direction
        (H2D_STD_DEV, GET_DESCRIPTOR, 0x0100, 0, 18),  # wrong direction
        (H2D_STD_DEV, SET_DESCRIPTOR, 0x0100, 0, 18),
        (D2H_STD_DEV, 0x0C, 0, 0x81, 2),  # SYNCH_FRAME to a device
        (D2H_STD_EP, 0x0C, 0, 0x82, 2),  # SYNCH_FRAME: no isochronous endpoint
        (D2H_STD_DEV, 0x02, 0, 0, 2),  # reserved standard request
        (0x83, GET_STATUS, 0, 0, 2),  # recipient "other"
    ],
)
def test_unknown_requests_stall(port, setup):
    assert port.setup(*setup).action == "STALL"
    s = port.state()
    assert (s["cfg"], s["lines"], s["touches"]) == (1, 0, 0), "a refused request changes nothing"


def test_class_requests_need_a_configuration(host):
    host.setup(H2D_STD_DEV, SET_ADDRESS, 4)
    assert host.setup(H2D_CLASS_IF, SET_CONTROL_LINE_STATE, 3).action == "STALL"
    assert host.setup(H2D_CLASS_IF, SET_LINE_CODING, 0, 0, 7).action == "STALL"
    assert host.setup(D2H_CLASS_IF, GET_LINE_CODING, 0, 0, 7).action == "STALL"


def test_out_without_a_pending_request_stalls(port):
    assert port.out(bytes(7)).action == "STALL"


# ----------------------------------------------------------------------------------------- 1200-baud touch

TOUCH_CASES = {
    # name: steps, touches expected after them. Steps: ("baud", n) sets the line coding, ("lines", v)
    # sets DTR/RTS, ("reset",) is a bus reset followed by a new enumeration.
    "1200 then DTR drops": ([("lines", 3), ("baud", 1200), ("lines", 0)], 1),
    "1200 set before the port opens, then close": ([("baud", 1200), ("lines", 3), ("lines", 0)], 1),
    "DTR drops, RTS kept": ([("lines", 3), ("baud", 1200), ("lines", RTS)], 1),
    "9600 and DTR drops": ([("lines", 3), ("baud", 9600), ("lines", 0)], 0),
    "default baud and DTR drops": ([("lines", 3), ("lines", 0)], 0),
    "1200 with DTR already low": ([("baud", 1200), ("lines", 0), ("lines", RTS), ("lines", 0)], 0),
    "1200 while DTR stays high": ([("lines", 3), ("baud", 1200), ("lines", DTR)], 0),
    "1200 then back to 115200 before the drop": ([("lines", 3), ("baud", 1200), ("baud", 115200), ("lines", 0)], 0),
    "baud 2400 close to but not 1200": ([("lines", 3), ("baud", 2400), ("lines", 0)], 0),
    "bus reset forgets 1200": ([("lines", 3), ("baud", 1200), ("reset",), ("lines", 3), ("lines", 0)], 0),
    "two touches": ([("lines", 3), ("baud", 1200), ("lines", 0), ("lines", 1), ("lines", 0)], 2),
}


@pytest.mark.parametrize("case", TOUCH_CASES)
def test_touch_1200(port, case):
    steps, expected = TOUCH_CASES[case]
    for step in steps:
        if step[0] == "baud":
            assert port.set_line_coding(step[1]).action == "STATUS"
        elif step[0] == "lines":
            assert port.lines(step[1]).action == "STATUS", "the request is answered when the hook returns"
        else:
            port.enumerate()
    assert port.state()["touches"] == expected


# ----------------------------------------------------------------------------------------- the nRF52840 driver

BOARD_H = """\
/* tq_board.h for compiling the nRF52840 USB console driver (tests/test_usb_cdc.py) */
#define TQ_CLOCK_HZ 64000000u
#define TQ_CONSOLE_BASE 0x40027000u
#define TQ_CONSOLE_BAUD 115200u
#define TQ_CONSOLE_USB_VID 0x2341
#define TQ_CONSOLE_USB_PID 0x805A
"""

LINK_MAIN = """\
#include "tq_hal.h"
int main(void)
{
    tq_console_init();
    for (;;) {
        tq_putc((char)tq_getc());
    }
}
"""


@pytest.mark.parametrize("opt", ["-O2", "-Os"])
def test_driver_cross_compiles_for_nrf52840(tmp_path, opt):
    assert shutil.which(CROSS[0]), "arm-none-eabi-gcc is missing: `apt-get install gcc-arm-none-eabi`"
    # Laid out as the build lays it: the driver, the files of its directory and tq_hal.h side by side.
    shutil.copy(DRIVER, tmp_path)
    shutil.copy(HAL / "tq_hal.h", tmp_path)
    core = sorted(p.name for p in CORE_DIR.iterdir() if p.suffix in (".c", ".h"))
    assert core == ["tq_usb_cdc.c", "tq_usb_cdc.h"]
    for name in core:
        shutil.copy(CORE_DIR / name, tmp_path)
    (tmp_path / "tq_board.h").write_text(BOARD_H)
    (tmp_path / "main.c").write_text(LINK_MAIN)
    sources = ["console_nrf_usbd_cdc.c", "tq_usb_cdc.c", "main.c"]
    r = subprocess.run([*CROSS, *STRICT, opt, "-c", *sources], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # Linked alone (no startup, no other HAL): every symbol the driver and the core need is theirs or libc's.
    r = subprocess.run([*CROSS, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,-e,main",
                        "console_nrf_usbd_cdc.o", "tq_usb_cdc.o", "main.o", "-o", "console.elf"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    nm = subprocess.run(["arm-none-eabi-nm", "console.elf"], cwd=tmp_path, capture_output=True, text=True, check=True)
    symbols = {line.split()[-1] for line in nm.stdout.splitlines()}
    assert {"tq_console_init", "tq_putc", "tq_getc", "tq_usb_cdc_setup", "tq_usb_cdc_touch_1200"} <= symbols
