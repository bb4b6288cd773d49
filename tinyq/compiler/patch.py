"""Patch-based execution: a stage of spatial layers computed band by band, so its full feature maps
never exist (MCUNetV2's patch-based inference); the rows a band's windows share with its neighbours
(the halo) are computed again in each band, which is what it costs.

A stage is a chain of CONV_2D / DEPTHWISE_CONV_2D / AVERAGE_POOL_2D / MAX_POOL_2D layers and
elementwise activations (ROWWISE), int8 or int16 activations, NHWC, batch 1, from a tensor X to a
tensor Y, each layer's output read only by the next layer. Run in P bands of Y's rows, band b walks the chain backwards: a layer whose output rows
[o0, o1) are needed reads its input rows [i0, i1) = clamp([o0 s - pad, (o1 - 1) s - pad + k_eff), 0, H).
The rewrite (the `patch` pass, before lowering) replaces the stage by, per band and per layer, a copy
of the layer's op that reads a band tensor of the previous layer (the first: a row-slice view of X)
and writes a band tensor (the last: a row-slice view of Y). A band op's padding is its own (Op.pad_h:
the rows of padding above its slice, the layer's top padding in the first band, 0 inside), which the
window lowerings take instead of the options'. Band tensors are ordinary arena buffers with short
lives, so the planner packs them: the peak is X (while read) + Y (while filled) + one band's buffers.
Row-slice views (Tensor.alias_offset) are never written over in place nor shifted.

The choice of stages for a RAM budget is patch_plan.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyq.errors import BadInput
from tinyq.ir import Graph, Op, Tensor

SPATIAL = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
# Elementwise activations: output row r from input row r alone.
ROWWISE = ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH", "ELU")
ACTIVATIONS = ("int8", "int16")


@dataclass(frozen=True)
class Stage:
    """Layers (Op.index, in chain order) computed in `bands` bands of the last one's output rows."""

    layers: tuple[int, ...]
    bands: int


@dataclass(frozen=True)
class Window:
    """What a layer's output rows need of its input rows."""

    k: int  # rows a window spans: (kernel - 1) * dilation + 1
    stride: int
    pad: int  # rows of padding above the input (TFLite's ComputePaddingWithOffset)
    h_in: int
    h_out: int


# --------------------------------------------------------------------------- geometry


def window(g: Graph, op: Op) -> Window | None:
    """The row window of a layer a stage may hold (None: it may not)."""
    if op.kind not in SPATIAL + ROWWISE or op.pad_h is not None or not op.inputs or len(op.outputs) != 1:
        return None
    if op.kind in SPATIAL and op.options is None:
        return None
    if op.inputs[0] < 0 or any(i >= 0 and not g.tensor(i).is_const for i in op.inputs[1:]):
        return None
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    if (len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or x.dtype not in ACTIVATIONS or y.dtype != x.dtype
            or x.is_const or x.variable or y.variable or y.is_const or y.nbytes == 0 or x.nbytes == 0):
        return None
    o = op.options
    h_in, h_out = int(x.shape[1]), int(y.shape[1])
    if op.kind in ROWWISE:
        return Window(k=1, stride=1, pad=0, h_in=h_in, h_out=h_out) if tuple(x.shape) == tuple(y.shape) else None
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        from tinyq.ops.conv import out_size, pad_with_offset

        kh, s, d = int(g.tensor(op.inputs[1]).shape[1]), int(o.strideH), int(o.dilationHFactor)
        if s < 1 or d < 1 or int(o.padding) not in (0, 1) or out_size(int(o.padding), h_in, kh, s, d) != h_out:
            return None
        return Window(k=(kh - 1) * d + 1, stride=s, pad=pad_with_offset(s, d, h_in, kh, h_out)[0], h_in=h_in, h_out=h_out)
    from tinyq.ops.pool import out_size as pool_out
    from tinyq.ops.pool import pad_before

    fh, s = int(o.filterHeight), int(o.strideH)
    if fh < 1 or s < 1 or int(o.padding) not in (0, 1) or pool_out(int(o.padding), h_in, fh, s) != h_out:
        return None
    return Window(k=fh, stride=s, pad=pad_before(s, h_in, fh, h_out), h_in=h_in, h_out=h_out)


def split(rows: int, bands: int) -> list[tuple[int, int]]:
    """`rows` in `bands` bands as equal as can be, the larger first: [(start, end)]."""
    q, r = divmod(rows, bands)
    out, start = [], 0
    for b in range(bands):
        end = start + q + (1 if b < r else 0)
        out.append((start, end))
        start = end
    return out


def band_rows(wins: list[Window], y0: int, y1: int) -> list[tuple[int, int, int, int, int]]:
    """Per layer of a stage, for the output rows [y0, y1) of the last: (o0, o1, i0, i1, pad), the
    output rows the layer computes, the input rows it reads and the rows of padding above them."""
    rows: list[tuple[int, int, int, int, int]] = []
    o0, o1 = y0, y1
    for w in reversed(wins):
        top = o0 * w.stride - w.pad
        i0, i1 = max(0, top), min(w.h_in, (o1 - 1) * w.stride - w.pad + w.k)
        rows.append((o0, o1, i0, i1, i0 - top))
        o0, o1 = i0, i1
    return rows[::-1]


def chains(g: Graph) -> list[list[Op]]:
    """Maximal chains of layers a stage may hold, in schedule order: each layer's output is read by
    the next layer only (not a model output, no view of it)."""
    outputs = {g.base(o).index for o in g.outputs}
    viewed = {t.alias_of for t in g.tensors if t.alias_of is not None}
    readers = g.consumers()
    ok = {op.index for op in g.ops if window(g, op) is not None}

    def next_of(op: Op) -> Op | None:
        t = op.outputs[0]
        rs = readers.get(t, [])
        if t in outputs or t in viewed or len(rs) != 1 or rs[0].index not in ok or rs[0].inputs[0] != t:
            return None
        return rs[0] if t not in rs[0].inputs[1:] else None

    nxt = {op.index: next_of(op) for op in g.ops if op.index in ok}
    followers = {n.index for n in nxt.values() if n is not None}
    found = []
    for op in g.ops:
        if op.index not in ok or op.index in followers:
            continue
        chain = [op]
        while (n := nxt[chain[-1].index]) is not None:
            chain.append(n)
        found.append(chain)
    return found


def macs(g: Graph, op: Op) -> int:
    from tinyq.ops import lowering_for

    low = lowering_for(g, op)
    return int(low.macs(g, op)) if low is not None else 0


def extra_macs(g: Graph, ops: list[Op], bands: int) -> int:
    """MACs the bands compute beyond the plain layers (the halo rows computed again)."""
    wins = [window(g, op) for op in ops]
    assert all(w is not None for w in wins)
    computed = [0] * len(ops)
    for y0, y1 in split(wins[-1].h_out, bands):
        for k, (o0, o1, *_rest) in enumerate(band_rows(wins, y0, y1)):
            computed[k] += o1 - o0
    return sum((c - w.h_out) * (macs(g, op) // w.h_out) for c, w, op in zip(computed, wins, ops))


def ram_floor(g: Graph, ops: list[Op], bands: int) -> int:
    """Bytes a plan of the stage in `bands` bands cannot go under: X is read until the last band and
    Y written from the first, so both are live through a middle band, with at least one band tensor of
    its layers (the largest counted)."""
    wins = [window(g, op) for op in ops]
    assert all(w is not None for w in wins)
    x, y = g.tensor(ops[0].inputs[0]), g.tensor(ops[-1].outputs[0])
    largest = 0
    for y0, y1 in split(wins[-1].h_out, bands)[1:-1]:
        for op, (o0, o1, *_rest) in zip(ops[:-1], band_rows(wins, y0, y1)):
            t = g.tensor(op.outputs[0])
            largest = max(largest, (o1 - o0) * (t.nbytes // t.shape[1]))
    return x.nbytes + y.nbytes + largest


# --------------------------------------------------------------------------- the rewrite


def _view(g: Graph, base: int, r0: int, r1: int) -> int:
    """A tensor of rows [r0, r1) of tensor `base` (NHWC, batch 1), sharing its bytes."""
    t = g.tensor(base)
    row = t.nbytes // t.shape[1]
    v = Tensor(index=len(g.tensors), name=f"{t.name}[{r0}:{r1}]", shape=(1, r1 - r0, *t.shape[2:]), dtype=t.dtype,
               quant=t.quant, alias_of=base, alias_offset=r0 * row)
    g.tensors.append(v)
    return v.index


def _band(g: Graph, like: int, rows: int, name: str) -> int:
    t = g.tensor(like)
    v = Tensor(index=len(g.tensors), name=name, shape=(1, rows, *t.shape[2:]), dtype=t.dtype, quant=t.quant)
    g.tensors.append(v)
    return v.index


def apply(g: Graph, stage: Stage) -> None:
    """Replace the stage's layers by their bands (at the first layer's place in the schedule)."""
    layers = list(stage.layers)
    ops: list[Op] = []
    for chain in chains(g):
        at = [op.index for op in chain]
        if layers and layers[0] in at and at[at.index(layers[0]):][:len(layers)] == layers:
            ops = chain[at.index(layers[0]):][:len(layers)]
    if not ops:
        raise BadInput(f"layers {layers} are not a chain of spatial layers that can run in bands")
    wins = [window(g, op) for op in ops]
    h = wins[-1].h_out
    if not 1 <= stage.bands <= h:
        raise BadInput(f"{stage.bands} bands of a {h}-row output: choose 1 to {h}")
    x, y = ops[0].inputs[0], ops[-1].outputs[0]
    index = max(op.index for op in g.ops) + 1
    bands: list[Op] = []
    for b, (y0, y1) in enumerate(split(h, stage.bands)):
        src = -1
        for k, (op, (o0, o1, i0, i1, pad)) in enumerate(zip(ops, band_rows(wins, y0, y1))):
            if k == 0:
                src = _view(g, x, i0, i1)
            dst = _view(g, y, o0, o1) if k == len(ops) - 1 else _band(g, op.outputs[0], o1 - o0, f"{g.tensor(op.outputs[0]).name}/band{b}")
            bands.append(Op(index=index, kind=op.kind, inputs=[src, *op.inputs[1:]], outputs=[dst], options=op.options,
                            pad_h=pad, name=f"{op.index}/band{b}", band_of=op.index))
            index += 1
            src = dst
    at = next(k for k, op in enumerate(g.ops) if op is ops[0])
    stage_ops = set(stage.layers)
    g.ops = [op for op in g.ops[:at] if op.index not in stage_ops] + bands + [op for op in g.ops[at:] if op.index not in stage_ops]
    g.notes.append(f"layers {', '.join(map(str, stage.layers))} run in {stage.bands} bands of rows (patch-based)")


def apply_patches(g: Graph) -> Graph:
    """The `patch` pass: the target's stages (Target.patches) run in bands; none, nothing changes."""
    for stage in getattr(g.target, "patches", ()) or ():
        apply(g, stage)
    return g
