"""UF2: a firmware image as 512-byte blocks that a USB mass-storage bootloader (the RP2040 bootrom's
RPI-RP2 drive) programs as they are written to it.

Block layout (microsoft/uf2 README, pico-sdk boot/uf2.h), all words little-endian:

    0   magic 0x0A324655 ("UF2\\n")     16  payload size (256 here)
    4   magic 0x9E5D5157                20  block number
    8   flags (0x2000: family id set)   24  number of blocks
    12  target address                  28  family id
    32  payload (476 bytes: 256 used, the rest zero)
    508 end magic 0x0AB16F30

`bin_to_uf2` is deterministic: the same .bin, address and family give the same bytes.
"""

from __future__ import annotations

import glob
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from tinyq.errors import BadInput, CheckFailed

BLOCK = 512
PAYLOAD = 256
DATA_AREA = 476
MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
_HEADER = struct.Struct("<8I")
_END = struct.Struct("<I")

INFO_FILE = "INFO_UF2.TXT"  # every UF2 bootloader's drive holds it
# Where desktops mount removable drives: udisks (/media/USER, /run/media/USER), a bare /media, macOS.
VOLUME_GLOBS = ("/media/*/{name}", "/run/media/*/{name}", "/media/{name}", "/Volumes/{name}")


def bin_to_uf2(data: bytes, address: int, family: int) -> bytes:
    """The UF2 blocks that place `data` at `address`: 256-byte payloads, the last one zero-padded."""
    if address % PAYLOAD:
        raise BadInput(f"UF2 address {address:#x} is not a multiple of {PAYLOAD}: fix flasher.address in the board file")
    if not data:
        raise BadInput("the firmware image is empty: rebuild it with `tinyq build`")
    count = (len(data) + PAYLOAD - 1) // PAYLOAD
    out = bytearray()
    for n in range(count):
        chunk = data[n * PAYLOAD : (n + 1) * PAYLOAD]
        out += _HEADER.pack(MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, address + n * PAYLOAD, PAYLOAD, n, count, family)
        out += chunk.ljust(DATA_AREA, b"\0")
        out += _END.pack(MAGIC_END)
    return bytes(out)


@dataclass(frozen=True)
class Block:
    flags: int
    address: int
    size: int
    number: int
    count: int
    family: int
    payload: bytes


def parse_uf2(blob: bytes) -> list[Block]:
    """The blocks of a UF2 file, every magic number checked."""
    if len(blob) % BLOCK:
        raise CheckFailed(f"UF2 data is {len(blob)} bytes, not a multiple of {BLOCK}")
    blocks = []
    for off in range(0, len(blob), BLOCK):
        m0, m1, flags, addr, size, num, count, fam = _HEADER.unpack_from(blob, off)
        (end,) = _END.unpack_from(blob, off + BLOCK - 4)
        if (m0, m1, end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise CheckFailed(f"UF2 block at byte {off} has bad magic numbers")
        if size > DATA_AREA:
            raise CheckFailed(f"UF2 block at byte {off} claims a {size}-byte payload (at most {DATA_AREA})")
        blocks.append(Block(flags, addr, size, num, count, fam, blob[off + 32 : off + 32 + size]))
    return blocks


def uf2_to_bin(blob: bytes) -> tuple[int, bytes]:
    """(start address, contiguous image) of a UF2 file; gaps between blocks are refused."""
    blocks = sorted(parse_uf2(blob), key=lambda b: b.address)
    if not blocks:
        raise CheckFailed("UF2 data holds no blocks")
    start = blocks[0].address
    image = bytearray()
    for b in blocks:
        if b.address != start + len(image):
            raise CheckFailed(f"UF2 blocks are not contiguous at {b.address:#x}")
        image += b.payload
    return start, bytes(image)


def find_volume(name: str, port: str | None = None) -> Path:
    """The mounted UF2 drive: `port` when it is a directory, else the first `name` volume mounted."""
    if port is not None:
        p = Path(port)
        if not p.is_dir():
            raise BadInput(f"{port} is not a directory: give the mount point of the {name} drive with --port")
        candidates = [p]
    else:
        candidates = [Path(c) for pat in VOLUME_GLOBS for c in sorted(glob.glob(pat.format(name=name)))]
        if not candidates:
            raise BadInput(
                f"no {name} drive is mounted: hold BOOTSEL while plugging the board in (it mounts as {name}), "
                "or give the drive's mount point with --port"
            )
    drive = candidates[0]
    if not (drive / INFO_FILE).is_file():
        raise BadInput(f"{drive} is not a UF2 bootloader drive (no {INFO_FILE}): give the {name} drive's mount point with --port")
    return drive


def copy_to_volume(uf2: bytes, drive: Path, filename: str = "firmware.uf2") -> Path:
    """Write the UF2 onto the bootloader's drive in one pass, then fsync.

    No temporary name and rename: the bootloader programs each block as it arrives whatever the file
    is called, so a rename would change nothing but leave a second directory entry behind. Once the
    last block lands the board reboots and the drive vanishes, so an error from fsync/close after every
    byte was written is expected and ignored; an error during the write is not.
    """
    dest = drive / filename
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(uf2)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        os.close(fd)
        raise CheckFailed(f"writing {dest} failed ({e.strerror}): re-enter the bootloader (hold BOOTSEL, replug) and flash again") from None
    try:
        os.fsync(fd)
    except OSError:
        pass  # the board rebooted as the last block landed
    try:
        os.close(fd)
    except OSError:
        pass
    return dest
