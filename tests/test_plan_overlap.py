"""Shifted in-place planning: an output laid over the input it is computed from, up to a gap below it.

The planner's relation (planner.Overlap: offset(out) <= offset(in) - gap, for an output first written
where its input dies) and its check; the gap a window kernel declares (tinyq.ops.overlap) against a
byte-level simulation of the kernel's order; and chains of layers whose plans really overlap (offsets
from the graph), bit-exact on the host, on qemu-m4 (DSP kernels), qemu-m55 (Helium) and qemu-m3
(portable C on the core).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.compiler import planner
from tinyq.compiler.planner import Buffer, Overlap
from tinyq.ops.overlap import PAIR, PIXEL, window_gap

# --------------------------------------------------------------------------- the planner's relation


def test_an_output_goes_gap_bytes_below_its_input():
    # in: 100 B, dies at step 0; out: 200 B from step 0; out may start 120 B below in.
    bufs = [Buffer(0, 100, 0, 0), Buffer(1, 200, 0, 1)]
    rel = [Overlap(out=1, inp=0, gap=120)]
    p = planner.plan(bufs, rel)
    planner.check(bufs, p, rel)
    assert p.offsets[1] <= p.offsets[0] - 120
    assert p.size == p.lower_bound == 120 + 104  # max(out, gap + in), in rounded to 8
    assert planner.plan(bufs).size == 304  # apart without the relation


def test_a_negative_gap_lets_the_output_start_above_the_input():
    bufs = [Buffer(0, 256, 0, 0), Buffer(1, 64, 0, 1)]
    rel = [Overlap(out=1, inp=0, gap=-64)]
    p = planner.plan(bufs, rel)
    planner.check(bufs, p, rel)
    assert p.size == 256  # the output inside the input's bytes


def test_check_rejects_an_output_too_high_or_an_overlap_without_relation():
    bufs = [Buffer(0, 100, 0, 0), Buffer(1, 200, 0, 1)]
    rel = [Overlap(out=1, inp=0, gap=120)]
    good = planner.Plan(offsets={0: 120, 1: 0}, size=220, lower_bound=220, strategy="hand")
    planner.check(bufs, good, rel)
    high = planner.Plan(offsets={0: 112, 1: 0}, size=212, lower_bound=220, strategy="hand")
    with pytest.raises(AssertionError, match="too high"):
        planner.check(bufs, high, rel)
    with pytest.raises(AssertionError, match="overlap in the arena"):
        planner.check(bufs, good)  # no relation: no overlap at all
    # The input laid over the output is never allowed (the relation has a direction).
    swapped = planner.Plan(offsets={0: 0, 1: 0}, size=200, lower_bound=0, strategy="hand")
    with pytest.raises(AssertionError):
        planner.check(bufs, swapped, rel)


def test_the_relation_holds_only_where_the_input_dies_as_the_output_is_born():
    # The input is still read at step 1: the output may not be written over it.
    bufs = [Buffer(0, 100, 0, 1), Buffer(1, 200, 0, 1)]
    rel = [Overlap(out=1, inp=0, gap=0)]
    p = planner.plan(bufs, rel)
    assert p.size == 304 and p.lower_bound == 304
    with pytest.raises(AssertionError, match="overlap in the arena"):
        planner.check(bufs, planner.Plan(offsets={0: 0, 1: 0}, size=200, lower_bound=0, strategy="hand"), rel)


@pytest.mark.parametrize("seed", range(12))
def test_random_chains_with_overlaps_are_valid_and_never_larger(seed):
    rng = np.random.default_rng(seed)
    bufs, rel = [], []
    for k in range(14):  # a chain: buffer k from step k to k + 1, and a scratch at each step
        bufs.append(Buffer(k, int(rng.integers(1, 3000)), k, k + 1))
        bufs.append(Buffer(100 + k, int(rng.integers(0, 200)), k, k))
        if k and rng.random() < 0.8:
            rel.append(Overlap(out=k, inp=k - 1, gap=int(rng.integers(-bufs[2 * k - 2].size, bufs[2 * k].size + 1))))
    p = planner.plan(bufs, rel)
    planner.check(bufs, p, rel)
    assert p.lower_bound <= p.size <= planner.plan(bufs).size
    assert all(off % planner.ALIGN == 0 for off in p.offsets.values())


# --------------------------------------------------------------------------- the kernels' gap


def _simulate(params: dict, unit: tuple[int, bool], gap: int) -> bool:
    """Run a window kernel's order on one byte array with the output `gap` bytes below the input:
    units of pixels in row-major order, each reading its windows (before any of its writes when the
    unit reads first; else channel by channel, each channel's output written after its reads).
    True when every output equals the one computed apart."""
    i, o = params["in"], params["out"]
    n, ih, iw, ic = i["n"], i["h"], i["w"], i["c"]
    oh, ow, oc = o["h"], o["w"], o["c"]
    k = params["k"]
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, n * ih * iw * ic).astype(np.int64)
    base = max(gap, 0) + 64
    mem = np.zeros(base + x.size + n * oh * ow * oc + 64, dtype=np.int64)
    mem[base : base + x.size] = x
    out_at = base - gap

    def window(src, b, oy, ox):  # the window's bytes, in address order, padding skipped
        rows = range(max(oy * params["stride_h"] - params["pad_h"], 0), min(oy * params["stride_h"] - params["pad_h"] + k, ih))
        cols = range(max(ox * params["stride_w"] - params["pad_w"], 0), min(ox * params["stride_w"] - params["pad_w"] + k, iw))
        return [src + ((b * ih + r) * iw + c) * ic for r in rows for c in cols]

    def value(vals, j):
        return int(sum((v + 1) * (t + 7) for t, v in enumerate(vals)) * (j + 3)) % 251

    pixels = [(b, oy, ox) for b in range(n) for oy in range(oh) for ox in range(ow)]
    want, got = [], []
    for p in pixels:
        w = window(0, *p)
        want.append([value([x[a + (j % ic)] for a in w], j) for j in range(oc)])
    size, reads_first = unit
    for start in range(0, len(pixels), size):
        group = list(range(start, min(start + size, len(pixels))))
        if reads_first:
            seen = {q: [[mem[a + base + (j % ic)] for a in window(0, *pixels[q])] for j in range(oc)] for q in group}
            for q in group:
                for j in range(oc):
                    mem[out_at + q * oc + j] = value(seen[q][j], j)
        else:
            for q in group:
                for j in range(oc):
                    vals = [mem[a + base + (j % ic)] for a in window(0, *pixels[q])]
                    mem[out_at + q * oc + j] = value(vals, j)
    got = [[int(mem[out_at + q * oc + j]) for j in range(oc)] for q in range(len(pixels))]
    return got == want


GEOMETRIES = [  # in (n, h, w, c), out c, window k, stride, padding (top, left)
    ((1, 7, 6, 3), 5, 3, 1, (1, 1)),
    ((1, 8, 9, 4), 4, 3, 2, (0, 0)),
    ((1, 9, 7, 2), 6, 3, 2, (1, 1)),
    ((2, 5, 5, 3), 3, 3, 1, (0, 0)),
    ((1, 6, 6, 3), 12, 1, 1, (0, 0)),
    ((1, 8, 7, 5), 2, 1, 2, (0, 0)),
    ((1, 6, 5, 4), 4, 2, 2, (0, 0)),
]


@pytest.mark.parametrize("unit", [PIXEL, PAIR], ids=["pixel", "pair"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "x".join(map(str, g[0])) + f"-{g[1]}-k{g[2]}s{g[3]}")
def test_the_gap_is_safe_for_the_kernel_order(geometry, unit):
    (n, h, w, c), oc, k, s, (pt, pl) = geometry
    oh = max(1, -(-h // s) if pt else (h - k) // s + 1)
    ow = max(1, -(-w // s) if pl else (w - k) // s + 1)
    params = {"in": {"n": n, "h": h, "w": w, "c": c}, "out": {"n": n, "h": oh, "w": ow, "c": oc},
              "stride_h": s, "stride_w": s, "pad_h": pt, "pad_w": pl, "k": k}
    gap = window_gap(params, unit)
    assert _simulate(params, unit, gap)
    if oc > c and s == 1:  # an expanding layer's writes outrun its reads: 8 bytes higher overwrites unread bytes
        assert not _simulate(params, unit, gap - 8)


# --------------------------------------------------------------------------- models


def _chain(path, shape, layers, seed=0):
    """A .tflite of `layers` one after the other from an int8 input of NHWC `shape`; a layer is
    (op, kernel, stride, padding, out_c), op CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D or AVERAGE_POOL_2D,
    with seeded random weights and output scales from synth's layer writer."""
    from tinyq.checks.synth import (
        SAME,
        VALID,
        LayerNet,
        _bias_and_output,
        _weights,
        options,
        out_size,
    )

    rng = np.random.default_rng(seed)
    net = LayerNet("int8")
    q = (0.05, -3)
    x = net.input(shape, "int8", q, name="x")
    _, h, w, c = shape
    for k, (op, kern, stride, pad, oc) in enumerate(layers):
        oh, ow = out_size(h, kern, stride, pad), out_size(w, kern, stride, pad)
        common = {"padding": SAME if pad == "same" else VALID, "strideH": stride, "strideW": stride, "fusedActivationFunction": 0}
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            shape_w, axis = ((oc, kern, kern, c), 0) if op == "CONV_2D" else ((1, kern, kern, oc), 3)
            wq, ws = _weights(rng, shape_w, axis)
            bias, out_q = _bias_and_output(rng, "int8", q, wq, ws, 0, axis, oc)
            wt = net.const(wq, "int8", (ws, [0] * oc, axis), name=f"w{k}")
            b = net.const(bias, "int32", ((np.float32(q[0]) * ws).astype(np.float32), [0] * oc, 0), name=f"b{k}")
            y = net.tensor((1, oh, ow, oc), "int8", out_q, name=f"y{k}")
            if op == "CONV_2D":
                opts = options("Conv2DOptionsT", **common)
            else:
                opts = options("DepthwiseConv2DOptionsT", depthMultiplier=oc // c, **common)
            net.add_op(op, [x, wt, b], [y], opts)
        else:
            oc, out_q = c, q
            y = net.tensor((1, oh, ow, oc), "int8", out_q, name=f"y{k}")
            net.add_op(op, [x], [y], options("Pool2DOptionsT", filterHeight=kern, filterWidth=kern, **common))
        x, q, h, w, c = y, out_q, oh, ow, oc
    net.outputs = [x]
    return net.write(path)


# Each chain's layers overlap their inputs in the plan (on every core) where listed in OVERLAPS.
CHAINS = {
    # 1x1 3 -> 12 (odd input channels), then 3x3 stride 1 SAME 12 -> 48 (taps; im2col on Helium)
    "expand": ((1, 8, 8, 3), [("CONV_2D", 1, 1, "same", 12), ("CONV_2D", 3, 1, "same", 48)]),
    # the fast depthwise kernel, stride 1 SAME, then a 3x3 max pool, stride 1 SAME
    "depthwise-pool": ((1, 9, 9, 20), [("DEPTHWISE_CONV_2D", 3, 1, "same", 20), ("MAX_POOL_2D", 3, 1, "same", 20)]),
    # 3x3 stride 2 SAME over 3 channels (im2col, odd counts), 3x3 VALID 5 -> 20, 2x2 average pool
    "strided": ((1, 12, 11, 3), [("CONV_2D", 3, 2, "same", 5), ("CONV_2D", 3, 1, "valid", 20),
                                 ("AVERAGE_POOL_2D", 2, 2, "valid", 20)]),
    # the fast depthwise kernel, stride 2 SAME, then a 1x1 expansion 20 -> 36
    "depthwise-s2": ((1, 10, 10, 20), [("DEPTHWISE_CONV_2D", 3, 2, "same", 20), ("CONV_2D", 1, 1, "same", 36)]),
}
OVERLAPS = {"expand": {1}, "depthwise-pool": {0, 1}, "strided": {0, 1}, "depthwise-s2": {0}}


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    d = tmp_path_factory.mktemp("overlap")
    return {name: _chain(d / f"{name}.tflite", shape, layers, seed=k) for k, (name, (shape, layers)) in enumerate(CHAINS.items())}


def _overlapping(g) -> set[int]:
    """Positions of the layers whose output shares bytes with their (other) input's buffer."""
    found = set()
    for pos, op in enumerate(g.ops):
        out, inp = g.base(op.call.outputs[0]), g.base(op.call.inputs[0])
        if out.index != inp.index and out.offset < inp.offset + inp.nbytes and inp.offset < out.offset + out.nbytes:
            assert op.call.gap is not None and out.offset <= inp.offset - op.call.gap, (pos, op.call.func)
            found.add(pos)
    return found


@pytest.mark.parametrize("k_align", [4, 16], ids=["dsp", "helium"])
@pytest.mark.parametrize("name", list(CHAINS))
def test_the_plan_overlaps_and_is_smaller(chains, name, k_align, monkeypatch):
    from tinyq.compiler import passes
    from tinyq.compiler.pipeline import compile_tflite
    from tinyq.compiler.target import Target

    g = compile_tflite(chains[name], Target(k_align=k_align))
    assert OVERLAPS[name] <= _overlapping(g), g.notes
    assert any("bytes below it" in n for n in g.notes)
    # As before overlaps: no output over its input but as a view of it.
    views = [(n, (lambda g: passes._alias_in_place(g) or g) if n == "in_place" else f) for n, f in passes.PIPELINE]
    monkeypatch.setattr(passes, "PIPELINE", views)
    monkeypatch.setattr(passes, "overlaps", lambda g: [])
    apart = compile_tflite(chains[name], Target(k_align=k_align))
    assert g.arena_size < apart.arena_size
    assert not _overlapping(apart)


@pytest.mark.parametrize("name", list(CHAINS))
def test_overlapping_plans_bit_exact_on_the_host(chains, name):
    from .helpers import assert_bit_exact

    assert_bit_exact(chains[name], samples=3)


QEMU_RUNS = [("qemu-m4", "expand"), ("qemu-m4", "depthwise-pool"), ("qemu-m4", "strided"),
             pytest.param("qemu-m55", "depthwise-pool", marks=pytest.mark.slow),
             pytest.param("qemu-m3", "strided", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("core", "name"), QEMU_RUNS)
def test_overlapping_plans_bit_exact_on_core(chains, core, name, tmp_path):
    import dataclasses

    from tinyq.boards import get_board
    from tinyq.build.firmware import build
    from tinyq.checks.profile import run_on_device
    from tinyq.compiler.pipeline import compile_tflite
    from tinyq.compiler.target import target_for

    board = get_board(core)
    g = compile_tflite(chains[name], dataclasses.replace(target_for("fast", board.extensions)))
    assert OVERLAPS[name] <= _overlapping(g), g.notes  # the plan the firmware runs
    res = build(chains[name], board, tmp_path / "b")
    assert res.manifest.arena_bytes == g.arena_size
    run = run_on_device(res.out_dir, runs=2, edges=True)
    assert run.bit_exact, run.first_mismatch
