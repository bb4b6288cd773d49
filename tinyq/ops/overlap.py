"""How far below its input a window kernel's output may start and still be written over that input.

A kernel that walks its output pixels in row-major order reads, for each pixel, only the input
under its window: rows from max(0, oy * stride_h - pad_h) on, and in the first of them columns from
max(0, ox * stride_w - pad_w) on. Its output may then share bytes with its (dying) input when no
byte it writes is read later. With the output at offset o and the input at offset i that holds
when o <= i - gap, for

    gap = max over write units u of  end(u) - min over later read units v of start(v)

where end(u) is the byte just past the outputs written by unit u and those before it, and start(v)
the lowest input byte unit v reads. A unit is the group of output pixels the kernel computes at
once: one pixel for the depthwise and pooling kernels (which interleave a pixel's reads and writes,
so unit u's own reads count: v >= u), two for the GEMM convolutions (which copy both pixels' inputs
into their column pair before writing either output: only v > u count). A negative gap lets the
output start above the input; a gap as large as the output keeps the two apart (the planner's
ordinary rule). The planner (tinyq.compiler.planner, Overlap) checks the relation.

Only kernels whose loop order was read on every core (portable C, the DSP extension's assembler
and Helium) declare a gap, through KernelCall.gap; the others never overlap their input.
"""

from __future__ import annotations

import numpy as np

# Write units of the kernels that declare a gap: (pixels computed at once, reads done before writes).
PIXEL = (1, False)  # depthwise fast, pooling: a pixel at a time, channel blocks read and written in turn
PAIR = (2, True)  # tq_conv_1x1_s8, im2col, taps: both pixels' inputs copied out, then both outputs written
# (on Helium those kernels write four pixels a unit, whose boundaries are pair boundaries: the pair's gap holds)


def window_gap(params: dict, unit: tuple[int, bool]) -> int:
    """The gap (above) of a window kernel from its params: NHWC "in" and "out" (tq_dims dicts),
    "stride_h" / "stride_w" and the top / left padding "pad_h" / "pad_w" (0 if absent, as for a 1x1
    convolution), writing `unit` = (pixels, reads first) at a time in row-major order."""
    inp, out = params["in"], params["out"]
    stride_h, stride_w = params["stride_h"], params["stride_w"]
    pad_h, pad_w = params.get("pad_h", 0), params.get("pad_w", 0)
    n, oh, ow, oc = out["n"], out["h"], out["w"], out["c"]
    ih, iw, ic = inp["h"], inp["w"], inp["c"]
    pixels_per_unit, reads_first = unit
    b, oy, ox = np.meshgrid(np.arange(n), np.arange(oh), np.arange(ow), indexing="ij")
    row = np.clip(oy * stride_h - pad_h, 0, ih)
    col = np.where(row < ih, np.clip(ox * stride_w - pad_w, 0, iw), 0)
    start = (((b * ih + row) * iw + col) * ic).reshape(-1).astype(np.int64)
    count = start.size
    units = -(-count // pixels_per_unit)
    padded = np.full(units * pixels_per_unit, np.iinfo(np.int64).max, dtype=np.int64)
    padded[:count] = start
    unit_start = padded.reshape(units, pixels_per_unit).min(axis=1)
    # The lowest byte read from unit v on.
    later = np.minimum.accumulate(unit_start[::-1])[::-1]
    end = np.minimum((np.arange(units, dtype=np.int64) + 1) * pixels_per_unit, count) * oc
    if reads_first:
        end, later = end[:-1], later[1:]
    in_bytes = n * ih * iw * ic
    if end.size == 0:  # one unit that reads everything first: the output may go anywhere
        return -in_bytes
    return max(int(np.max(end - later)), -in_bytes)
