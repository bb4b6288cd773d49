"""Static memory planning: give every activation buffer an offset in one arena.

Buffers are (size, first_op, last_op) triples. Several greedy orders are tried (TFLM's
greedy-by-size among them) and the smallest arena kept. The lower bound is the largest
total of bytes live at once: no plan can beat it.
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


def lower_bound(buffers: list[Buffer]) -> int:
    if not buffers:
        return 0
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    return max(sum(_align(b.size) for b in buffers if b.first <= t <= b.last) for t in steps)


def _place(order: list[Buffer]) -> tuple[dict[int, int], int]:
    """First-fit: each buffer goes at the lowest offset free for its whole lifetime."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in order:
        busy = sorted((off, off + _align(p.size)) for p, off in placed if p.overlaps(b))
        offset = 0
        for start, end in busy:
            if offset + _align(b.size) <= start:
                break
            offset = max(offset, end)
        placed.append((b, offset))
        offsets[b.key] = offset
    size = max((off + _align(p.size) for p, off in placed), default=0)
    return offsets, size


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


def plan(buffers: list[Buffer]) -> Plan:
    """Try every strategy, keep the smallest arena (ties: the first in STRATEGIES order)."""
    lb = lower_bound(buffers)
    best: Plan | None = None
    for name, order in STRATEGIES.items():
        offsets, size = _place(order(list(buffers)))
        if best is None or size < best.size:
            best = Plan(offsets=offsets, size=size, lower_bound=lb, strategy=name)
        if size == lb:
            break
    assert best is not None or not buffers
    return best or Plan(offsets={}, size=0, lower_bound=0, strategy="empty")


def check(buffers: list[Buffer], p: Plan) -> None:
    """Assert that no two buffers live at the same time share bytes."""
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.overlaps(b):
                oa, ob = p.offsets[a.key], p.offsets[b.key]
                assert oa + a.size <= ob or ob + b.size <= oa, f"tensors {a.key} and {b.key} overlap in the arena"
