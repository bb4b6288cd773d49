"""The memory planner: valid plans, never below the lower bound, at least as good as greedy-by-size."""

import numpy as np
import pytest

from tinyq.compiler import planner
from tinyq.compiler.planner import Buffer


def _random_buffers(rng, n):
    out = []
    for k in range(n):
        first = int(rng.integers(0, 30))
        out.append(Buffer(key=k, size=int(rng.integers(1, 5000)), first=first, last=first + int(rng.integers(0, 6))))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_plan_is_valid_and_bounded(seed):
    bufs = _random_buffers(np.random.default_rng(seed), 25)
    p = planner.plan(bufs)
    planner.check(bufs, p)  # raises if two live buffers share bytes
    assert p.size >= p.lower_bound
    greedy, size = planner._place(planner.STRATEGIES["greedy-by-size"](bufs))
    assert p.size <= size
    assert all(off % planner.ALIGN == 0 for off in p.offsets.values())


def test_chain_reuses_memory():
    # a -> b -> c -> d: only two neighbours live at once, so the arena is the largest adjacent pair.
    sizes = [1000, 200, 800, 104]
    bufs = [Buffer(key=k, size=s, first=k, last=k + 1) for k, s in enumerate(sizes)]
    p = planner.plan(bufs)
    assert p.lower_bound == 1200
    assert p.size == 1200


def test_overlap_detected():
    bufs = [Buffer(0, 16, 0, 1), Buffer(1, 16, 1, 2)]
    bad = planner.Plan(offsets={0: 0, 1: 8}, size=24, lower_bound=32, strategy="bad")
    with pytest.raises(AssertionError):
        planner.check(bufs, bad)


def test_empty():
    assert planner.plan([]).size == 0
