"""Static memory planning: give every activation buffer an offset in one arena.

Buffers are (size, first_op, last_op) triples. Several greedy orders are tried (TFLM's
greedy-by-size among them) and the smallest arena kept. Two buffers live at the same time never
share bytes, except an op's output and the input it reads for the last time where the kernel allows
it (an `Overlap`: the output may start up to `gap` bytes below the input and run over it, see
tinyq.ops.overlap). The lower bound is the largest total of bytes live at once, each such pair
counted as the least span it can take: no plan can beat it.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 8


@dataclass(frozen=True)
class Buffer:
    key: int  # tensor index
    size: int
    first: int  # index of the op that writes it
    last: int  # index of the last op that reads it

    def overlaps(self, other: "Buffer") -> bool:
        return not (self.last < other.first or other.last < self.first)


@dataclass(frozen=True)
class Overlap:
    """Buffer `out` (written by op t) may share bytes with buffer `inp` (last read by op t) when
    offset(out) <= offset(inp) - gap: the kernel then never writes a byte it still has to read.
    Buffers placed apart satisfy it too. Taken only where out's first op is inp's last."""

    out: int  # buffer key
    inp: int
    gap: int  # bytes; may be negative (the output may start above the input)


@dataclass
class Plan:
    offsets: dict[int, int]
    size: int
    lower_bound: int
    strategy: str


def align(n: int) -> int:
    """`n` rounded up to ALIGN bytes."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


_align = align


def _shifts(buffers: list[Buffer], overlaps) -> dict[tuple[int, int], int]:
    """The overlaps that hold: (out, inp) -> gap, for an output first written where its input dies."""
    by_key = {b.key: b for b in buffers}
    out: dict[tuple[int, int], int] = {}
    for o in overlaps:
        a, b = by_key.get(o.out), by_key.get(o.inp)
        if a is not None and b is not None and a.key != b.key and a.first == b.last:
            out[(o.out, o.inp)] = o.gap
    return out


def _pair_span(out: int, inp: int, gap: int) -> int:
    """The fewest bytes an output of `out` bytes and its input of `inp` can take together when
    offset(out) <= offset(inp) - gap, or apart."""
    return max(out, inp, min(out + inp, inp + gap))


def lower_bound(buffers: list[Buffer], overlaps=()) -> int:
    if not buffers:
        return 0
    shifts = _shifts(buffers, overlaps)
    by_key = {b.key: b for b in buffers}
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    best = 0
    for t in steps:
        live = sum(_align(b.size) for b in buffers if b.first <= t <= b.last)
        for (o, i), gap in shifts.items():
            if by_key[o].first == t:  # the pair meets only at this step
                a, b = _align(by_key[o].size), _align(by_key[i].size)
                live -= a + b - _pair_span(a, b, _align(gap))
        best = max(best, live)
    return best


def _lowest_free(forbidden: list[tuple[int, int]]) -> int:
    """The lowest offset >= 0 in none of the open intervals (lo, hi)."""
    offset = 0
    moved = True
    while moved:
        moved = False
        for lo, hi in forbidden:
            if lo < offset < hi:
                offset, moved = hi, True
    return offset


def _place(order: list[Buffer], shifts: dict[tuple[int, int], int] | None = None) -> tuple[dict[int, int], int]:
    """First-fit: each buffer goes at the lowest offset free for its whole lifetime. With `shifts`
    ((out, inp) -> gap, see Overlap) an output may also lie over its input, up to gap bytes below it."""
    shifts = shifts or {}
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in order:
        size = _align(b.size)
        forbidden = []
        for p, off in placed:
            if not p.overlaps(b):
                continue
            p_size = _align(p.size)
            if (b.key, p.key) in shifts:  # b is written over p: b <= p - gap, or apart
                forbidden.append((off - min(_align(shifts[(b.key, p.key)]), size), off + p_size))
            elif (p.key, b.key) in shifts:  # p is written over b: b >= p + gap, or apart
                forbidden.append((off - size, off + min(_align(shifts[(p.key, b.key)]), p_size)))
            else:
                forbidden.append((off - size, off + p_size))
        offset = _lowest_free(forbidden)
        placed.append((b, offset))
        offsets[b.key] = offset
    size = max((off + _align(p.size) for p, off in placed), default=0)
    return offsets, size


def _outputs_first(order: list[Buffer], shifts: dict[tuple[int, int], int]) -> list[Buffer]:
    """`order` with each overlapping output moved just before its input: placed first, the output
    can have the input go gap bytes above it instead of needing room below the input."""
    by_key = {b.key: b for b in order}
    out_of = {i: o for (o, i) in shifts}
    done: set[int] = set()
    result: list[Buffer] = []
    for b in order:
        for k in (out_of.get(b.key), b.key):
            if k is not None and k not in done:
                done.add(k)
                result.append(by_key[k])
    return result


STRATEGIES = {
    "greedy-by-size": lambda bs: sorted(bs, key=lambda b: (-b.size, b.first, b.key)),
    "by-first-use": lambda bs: sorted(bs, key=lambda b: (b.first, -b.size, b.key)),
    "by-lifetime": lambda bs: sorted(bs, key=lambda b: (-(b.last - b.first), -b.size, b.key)),
    "by-area": lambda bs: sorted(bs, key=lambda b: (-b.size * (b.last - b.first + 1), b.key)),
    "by-breadth": lambda bs: sorted(bs, key=lambda b: (-_breadth(bs, b), -b.size, b.key)),
}


def _breadth(bs: list[Buffer], b: Buffer) -> int:
    """Bytes live alongside b at its busiest step: big contention buffers go first."""
    return max(sum(o.size for o in bs if o.first <= t <= o.last) for t in range(b.first, b.last + 1))


def plan(buffers: list[Buffer], overlaps=()) -> Plan:
    """Try every strategy, keep the smallest arena (ties: the first in STRATEGIES order). With
    overlaps, each strategy is also tried with them, in its own order and with outputs placed
    before their inputs; the plain plan wins ties."""
    shifts = _shifts(buffers, overlaps)
    lb = lower_bound(buffers, overlaps)
    best: Plan | None = None
    for name, order in STRATEGIES.items():
        ordered = order(list(buffers))
        trials = [(name, ordered, None)]
        if shifts:
            trials += [(f"{name}, overlapping", ordered, shifts),
                       (f"{name}, overlapping outputs first", _outputs_first(ordered, shifts), shifts)]
        for label, seq, rel in trials:
            offsets, size = _place(seq, rel)
            if best is None or size < best.size:
                best = Plan(offsets=offsets, size=size, lower_bound=lb, strategy=label)
        if best is not None and best.size == lb:
            break
    assert best is not None or not buffers
    return best or Plan(offsets={}, size=0, lower_bound=0, strategy="empty")


def check(buffers: list[Buffer], p: Plan, overlaps=()) -> None:
    """Assert that no two buffers live at the same time share bytes, but where an Overlap allows it
    (offset(out) <= offset(inp) - gap)."""
    shifts = _shifts(buffers, overlaps)
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.overlaps(b):
                oa, ob = p.offsets[a.key], p.offsets[b.key]
                if oa + a.size <= ob or ob + b.size <= oa:
                    continue
                if (a.key, b.key) in shifts:
                    assert oa <= ob - shifts[(a.key, b.key)], f"tensor {a.key} is written over tensor {b.key} too high"
                elif (b.key, a.key) in shifts:
                    assert ob <= oa - shifts[(b.key, a.key)], f"tensor {b.key} is written over tensor {a.key} too high"
                else:
                    raise AssertionError(f"tensors {a.key} and {b.key} overlap in the arena")
