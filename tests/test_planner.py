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


# --------------------------------------------------------------------------- the model's input and output in the arena

POOL = {"padding": 1, "strideW": 2, "strideH": 2, "filterWidth": 2, "filterHeight": 2}  # VALID 2x2, stride 2


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    """input [1,16,16,8] (2,048 B) -> MAX_POOL -> [1,8,8,8] (512 B) -> MAX_POOL -> output [1,4,4,8] (128 B)."""
    from .helpers import Net, options

    n = Net("int8")
    x = n.input((1, 16, 16, 8))
    a, y = n.tensor((1, 8, 8, 8)), n.tensor((1, 4, 4, 8))
    n.add_op("MAX_POOL_2D", [x], [a], options("Pool2DOptionsT", **POOL))
    n.add_op("MAX_POOL_2D", [a], [y], options("Pool2DOptionsT", **POOL))
    n.outputs = [y]
    return n.write(tmp_path_factory.mktemp("pools") / "pools.tflite")


def _compiled(path, keep_input: bool):
    import dataclasses

    from tinyq.compiler import HOST, compile_tflite

    return compile_tflite(path, dataclasses.replace(HOST, keep_input=keep_input))


def test_input_and_output_are_planned_in_the_arena_and_the_input_is_reused(pools):
    from tinyq.compiler.passes import buffers, input_kept, io_outside_arena, io_overlap

    g = _compiled(pools, keep_input=False)
    life = {b.key: (b.first, b.last) for b in buffers(g)}
    x, y = g.base(g.inputs[0]).index, g.base(g.outputs[0]).index
    end = len(g.ops) - 1
    assert life[x] == (0, 0)  # dead once the first pooling read it
    assert life[y][1] == end and life[y][0] == end  # from its producer to the end, where the caller reads it
    # Each pooled output lies over its input, 8 bytes below it (planner.Overlap), the last where the input was.
    assert g.arena_size == g.arena_lower_bound == 2048 + 8
    assert io_outside_arena(g) == 0
    assert not input_kept(g)
    assert io_overlap(g)  # the output sits on the input's old bytes: a new input overwrites it


def test_keep_input_keeps_it_live_for_the_whole_inference(pools):
    from tinyq.compiler.passes import buffers, input_kept, io_overlap

    g = _compiled(pools, keep_input=True)
    bufs = buffers(g)
    life = {b.key: (b.first, b.last) for b in bufs}
    x = g.base(g.inputs[0]).index
    assert life[x] == (0, len(g.ops) - 1)
    assert g.arena_size == g.arena_lower_bound == 2048 + 512 + 8  # the second pooling's output over its input
    assert input_kept(g) and not io_overlap(g)
    mine = (g.tensor(x).offset, g.tensor(x).offset + 2048)
    for b in bufs:  # nothing else shares the input's bytes
        if b.key != x:
            off = g.tensor(b.key).offset
            assert off + b.size <= mine[0] or mine[1] <= off


def test_keep_input_forbids_writing_over_the_input_in_place(tmp_path):
    """NEG writes its output over a dying input (in place): over the model's input by default, not
    with keep_input."""
    from tinyq.compiler.passes import input_kept

    from .helpers import Net

    n = Net("int8")
    x = n.input((1, 64))
    a, y = n.tensor((1, 64)), n.tensor((1, 64))
    n.add_op("NEG", [x], [a])
    n.add_op("NEG", [a], [y])
    n.outputs = [y]
    path = n.write(tmp_path / "neg.tflite")
    g = _compiled(path, keep_input=False)
    assert g.arena_size == 64 and not input_kept(g)  # both layers in place over the input
    g = _compiled(path, keep_input=True)
    assert g.arena_size == 128 and input_kept(g)


def test_an_output_written_in_place_is_never_written_over_again(tmp_path):
    """NEG -> y (a model output, in place over the input) -> NEG -> z: the second NEG may not write over
    y, which the caller reads after the inference."""
    from tinyq.build.host import HostModel
    from tinyq.checks.runners import ReferenceRunner
    from tinyq.compiler import generate_library

    from .helpers import Net

    n = Net("int8")
    x = n.input((1, 32))
    y, z = n.tensor((1, 32)), n.tensor((1, 32))
    n.add_op("NEG", [x], [y])
    n.add_op("NEG", [y], [z])
    n.outputs = [y, z]
    path = n.write(tmp_path / "neg2.tflite")
    gen = generate_library(path, name="neg2")
    g = gen.graph
    assert g.base(g.outputs[0]).index == g.base(g.inputs[0]).index  # y over the input
    assert g.base(g.outputs[1]).index != g.base(g.outputs[0]).index
    host = HostModel(gen, "neg2")
    try:
        x0 = np.arange(-16, 16, dtype=np.int8).reshape(1, 32)
        want = ReferenceRunner(path, g).run([x0])
        for got in (host.run([x0])[0], host.run_in_arena([x0])):
            assert all(np.array_equal(a, b) for a, b in zip(got, want))
    finally:
        host.close()


def test_pointer_api_and_copying_invoke_agree_on_the_host(pools):
    """NAME_invoke(in, out) copies; NAME_input/NAME_run/NAME_output work in place; invoke given the
    arena's own pointers copies nothing. All three give the reference's outputs."""
    from tinyq.build.host import HostModel
    from tinyq.checks.runners import ReferenceRunner
    from tinyq.compiler import generate_library

    gen = generate_library(pools, name="pools")
    h = gen.files["pools.h"]
    assert "void *pools_input(int i);" in h and "int pools_run(void);" in h and "#define POOLS_INPUT_KEPT 0" in h
    assert "static inline int8_t *pools_output_data(void)" in h and "#define POOLS_INPUT_BYTES 2048" in h
    host = HostModel(gen, "pools")
    try:
        ref = ReferenceRunner(pools, gen.graph)
        rng = np.random.default_rng(5)
        for _ in range(3):
            x = rng.integers(-128, 128, (1, 16, 16, 8)).astype(np.int8)
            want = ref.run([x])[0]
            copied = host.run([x])[0][0]
            in_place = host.run_in_arena([x])[0]
            ins, outs = host.arena_pointers()
            arena_input = np.frombuffer(ctypes_bytes(ins[0], 2048), np.int8).reshape(x.shape)
            assert not np.array_equal(arena_input, x)  # the plan reused the input's bytes for the output
            own = host.run_in_arena([x], through_invoke=True)[0]
            assert np.array_equal(copied, want) and np.array_equal(in_place, want) and np.array_equal(own, want)
        assert ins[0] <= outs[0] < ins[0] + 2048  # the output is where the input was (io_overlap)
    finally:
        host.close()


def ctypes_bytes(addr: int, n: int) -> bytes:
    import ctypes

    return ctypes.string_at(addr, n)
