"""Packed low-bit weights: the bytes a packed weight tensor (tinyq.ir.WeightPack) becomes in flash.

Layout (what tinyq/ops/conv.py's packed lowerings emit and firmware/kernels/include/tq_packed.h reads):
one row per output channel, the weights in the order the int8 kernel reads them (CONV_2D: [kh][kw][ic]
of the OHWI filter; DEPTHWISE_CONV_2D: [kh][kw] of its channel, the [1][kh][kw][oc] filter transposed;
FULLY_CONNECTED: [depth]), each row starting on a byte (padded with zero bits), element k of a row in
byte k * b / 8 at bit (k * b) % 8: low bits first, TFLite's nibble order. Rows on byte boundaries keep
the kernel's address arithmetic to a multiply per row and shifts per weight (no division, so Cortex-M0
pays nothing extra); a fully connected row is walked a byte at a time, 8 / b weights a load.
"""

from __future__ import annotations

import numpy as np

from tinyq.ir import Tensor, WeightPack

PACKED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
BITS = (1, 2, 4)
CODEBOOKS = ("layer", "channel")


def weight_rows(kind: str, data: np.ndarray) -> np.ndarray:
    """The weights as [output channel][element in the kernel's order] (see the module docstring)."""
    if kind == "DEPTHWISE_CONV_2D":
        _, kh, kw, oc = data.shape
        return np.ascontiguousarray(data.reshape(kh * kw, oc).T)
    return data.reshape(data.shape[0], -1)


def codebooks(rows: np.ndarray, bits: int, codebook: str) -> np.ndarray | None:
    """[1 or rows][2^bits] int8 tables (sorted distinct values, zero-padded), or None where a table lacks
    room (more distinct values than 2^bits)."""
    groups = [rows.reshape(-1)] if codebook == "layer" else list(rows)
    out = np.zeros((len(groups), 1 << bits), dtype=np.int8)
    for k, grp in enumerate(groups):
        vals = np.unique(grp)
        if vals.size > 1 << bits:
            return None
        out[k, : vals.size] = vals
    return out


def indices(rows: np.ndarray, pack: WeightPack) -> np.ndarray:
    """Each weight's index: its 4-bit two's complement pattern (linear), or its place among the sorted
    distinct values of its layer or channel (the first entries of its table, codebooks())."""
    if pack.codebook == "linear":
        return rows.astype(np.int16) & 0xF
    if pack.codebook == "layer":
        return np.searchsorted(np.unique(rows), rows).astype(np.int16)
    return np.stack([np.searchsorted(np.unique(r), r) for r in rows]).astype(np.int16)


def pack_rows(idx: np.ndarray, bits: int) -> np.ndarray:
    """[rows][row_bytes] uint8: each row's b-bit indices, low bits first, the row padded to a whole byte."""
    n_rows, n = idx.shape
    per = 8 // bits
    row_bytes = -(-n // per)
    padded = np.zeros((n_rows, row_bytes * per), dtype=np.uint16)
    padded[:, :n] = idx
    lanes = padded.reshape(n_rows, row_bytes, per)
    shifts = (np.arange(per, dtype=np.uint16) * bits)[None, None, :]
    return (lanes << shifts).sum(axis=2).astype(np.uint8)


def unpack_rows(packed: np.ndarray, n: int, bits: int) -> np.ndarray:
    """The inverse of pack_rows (the indices), for checks."""
    per = 8 // bits
    shifts = (np.arange(per, dtype=np.uint16) * bits)[None, None, :]
    lanes = (packed.astype(np.uint16)[:, :, None] >> shifts) & ((1 << bits) - 1)
    return lanes.reshape(packed.shape[0], -1)[:, :n]


def packed_arrays(kind: str, w: Tensor) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(packed rows [rows][row_bytes] uint8, codebook table [1 or rows][2^b] int8 or None for linear,
    row_bytes) of a packed weight tensor; checked: expanding them gives back its int8 values."""
    pack = w.pack
    rows = weight_rows(kind, w.data)
    tables = None if pack.codebook == "linear" else codebooks(rows, pack.bits, pack.codebook)
    if pack.codebook != "linear" and tables is None:  # pack_weights chose it: cannot happen
        raise RuntimeError(f"weights '{w.name}' lost their {pack.bits}-bit codebook")
    idx = indices(rows, pack)
    packed = pack_rows(idx, pack.bits)
    back = unpack_rows(packed, rows.shape[1], pack.bits)
    if pack.codebook == "linear":
        values = np.where(back >= 8, back.astype(np.int16) - 16, back)
    else:
        values = np.stack([tables[0 if pack.codebook == "layer" else r][back[r]] for r in range(rows.shape[0])])
    if not np.array_equal(values.astype(np.int16), rows.astype(np.int16)):
        raise RuntimeError(f"weights '{w.name}': packed indices do not expand to the int8 values")
    return packed, tables, packed.shape[1]


