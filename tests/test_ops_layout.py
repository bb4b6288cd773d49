"""TILE, BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH, MIRROR_PAD, GATHER, SPACE_TO_BATCH_ND and
BATCH_TO_SPACE_ND on int8, int16 and float32: generated C against TFLite's reference interpreter, bit for
bit (tinyq.checks.verify; float32 outputs are copies, so they are bit-exact too).

The index maps (tinyq.ops.shape) are first checked as pure functions against numpy (np.tile,
np.broadcast_to, np.pad's reflect / symmetric modes, np.take). The sweeps are hand-built models, many
cases to a model so that one C build checks them all: ranks 1-5 with size-1 axes, multiples, block sizes
1-4, every legal pad amount up to the largest MIRROR_PAD allows, axes counted from either end,
batch_dims, int16 / int32 / int64 index tensors, paddings and crops that do and do not line up with the
blocks (so both the strided copy and the table-driven copy run). GATHER also takes indices computed at
run time. Keras models (RepeatVector, UpSampling1D / 2D, keras.ops.tile / take, tf.nn.depth_to_space /
space_to_depth, tf.pad REFLECT / SYMMETRIC, tf.broadcast_to, tf.space_to_batch_nd / batch_to_space) go
through the converters of all three modes; a few models run on a Cortex-M4 under QEMU. What TFLite
refuses, tinyq refuses by name, and the refusals are checked against the interpreter too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import CheckFailed, UnsupportedModel
from tinyq.ir import Op
from tinyq.ops.shape import (
    broadcast_tables,
    depth_to_space_tables,
    factor_table,
    mirror_pad_tables,
    space_to_batch_scatter,
    space_to_batch_tables,
    space_to_depth_tables,
    strided_axes,
    tile_tables,
)

from .helpers import (
    ACTIVATION_QUANT,
    assert_pedantic_c99,
    options,
    ref_interpreter,
    write_tflite,
)
from .helpers import Net as NetBase

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

# Activation quantization of the hand-built models, by type (int16: zero point 0, as int16x8 models have).
QUANT = ACTIVATION_QUANT
DTYPES = tuple(QUANT)
# The inputs the sweeps move, by rank (size-1 axes among them).
SHAPES = {1: (5,), 2: (3, 4), 3: (2, 1, 3), 4: (2, 3, 1, 2), 5: (2, 1, 3, 2, 2)}
# Operator versions the reference resolver registers from (BROADCAST_TO starts at 2).
VERSIONS = {"BROADCAST_TO": 2}
OP = Op(0, "TILE", [], [])  # names the op in the messages of the pure functions


# --------------------------------------------------------------------------- hand-built models


class Net(NetBase):
    """Every op output a graph output unless said otherwise; `labels` names each graph output's case."""

    versions = VERSIONS

    def __init__(self, dtype: str):
        super().__init__(dtype, QUANT)
        self.labels: list[str] = []

    def op(self, kind: str, ins, out_shape, options=None, label: str = "", q="net", graph_output: bool = True) -> int:
        """One op of `kind` on tensors `ins` writing a new tensor of `out_shape`; returns it."""
        out = self.tensor(out_shape, q=q)
        self.add_op(kind, ins, [out], options)
        if graph_output:
            self.outputs.append(out)
            self.labels.append(f"{kind} {label}")
        return out

def check(net: Net, path, samples: int = 4, **kw):
    """The net on the host, bit for bit against the interpreter (the case of the first mismatch named)."""
    r = verify_tflite(net.write(path), samples=samples, **kw)
    assert r.bit_exact, f"{r.summary()} ({net.labels[r.first.output] if r.first else ''})"
    assert r.max_abs_diff == 0
    return r


def kernels_of(path) -> dict[str, set[str]]:
    """The kernels tinyq calls for each op kind of the model at `path`."""
    out: dict[str, set[str]] = {}
    for op in compile_graph(import_model(path)).ops:
        out.setdefault(op.kind, set()).add(op.call.func)
    return out


def gather_out(x_shape, idx_shape, axis: int, batch_dims: int = 0) -> list[int]:
    rank = len(x_shape)
    a = axis % rank
    bd = batch_dims + len(idx_shape) if batch_dims < 0 else batch_dims
    return [*x_shape[:a], *idx_shape[bd:], *x_shape[a + 1 :]]


# --------------------------------------------------------------------------- the index maps against numpy


def _apply(tables, x: np.ndarray) -> np.ndarray:
    """The gather the tables describe: output element (i_0, ...) = x.flat[sum_k tables[k][i_k]]."""
    off = np.zeros((), dtype=np.int64)
    for t in tables:
        off = off[..., None] + np.asarray(t)
    return x.reshape(-1)[off]


def test_factor_table():
    assert factor_table([5, 7, 9]) == [(3, 2)]
    assert factor_table([0, 0, 0, 0]) == [(4, 0)]
    assert factor_table([0, 2, 16, 18, 32, 34]) == [(3, 16), (2, 2)]  # DEPTH_TO_SPACE's rows: (h // 2, h % 2)
    assert factor_table([0, 1, 2, 0, 1, 2]) == [(2, 0), (3, 1)]  # TILE: the axis twice
    assert factor_table([0, 1, 2, 3, 8, 9, 10, 11]) == [(2, 8), (4, 1)]
    assert factor_table([2, 1, 0, 1, 2]) is None  # a reflection
    assert strided_axes(tile_tables((2, 3, 2, 3), (2, 2, 2, 2))) is None  # 8 strided axes: more than 6


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_tables_match_numpy(rank):
    rng = np.random.default_rng(rank)
    shape = SHAPES[rank]
    x = rng.integers(-100, 100, size=shape)
    for _ in range(4):
        m = [int(v) for v in rng.integers(1, 4, size=rank)]
        assert np.array_equal(_apply(tile_tables(shape, m), x), np.tile(x, m))
        pads = [[int(rng.integers(0, d + 1)), int(rng.integers(0, d + 1))] for d in shape]
        assert np.array_equal(_apply(mirror_pad_tables(shape, pads, 0), x), np.pad(x, pads, mode="symmetric"))
        pads = [[int(rng.integers(0, d)), int(rng.integers(0, d))] for d in shape]
        assert np.array_equal(_apply(mirror_pad_tables(shape, pads, 1), x), np.pad(x, pads, mode="reflect"))
        out = [int(v) for v in rng.integers(1, 4, size=2)] + [d if rng.random() < 0.5 else 3 * (d == 1) + d for d in shape]
        x1 = rng.integers(-100, 100, size=[1 if o != d else d for o, d in zip(out[2:], shape)])
        assert np.array_equal(_apply(broadcast_tables(x1.shape, out), x1), np.broadcast_to(x1, out))


def test_block_tables_match_numpy():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for shape, bs in (((2, 3, 2, 8), 2), ((1, 2, 1, 27), 3), ((1, 1, 2, 64), 4)):
        x = rng.integers(-100, 100, size=shape).astype(np.float32)
        assert np.array_equal(_apply(depth_to_space_tables(shape, bs), x), tf.nn.depth_to_space(x, bs).numpy())
    for shape, bs in (((2, 4, 6, 3), 2), ((1, 3, 6, 2), 3)):
        x = rng.integers(-100, 100, size=shape).astype(np.float32)
        assert np.array_equal(_apply(space_to_depth_tables(shape, bs), x), tf.nn.space_to_depth(x, bs).numpy())
    x = rng.integers(-100, 100, size=(2, 4, 6, 3)).astype(np.float32)
    want = tf.space_to_batch_nd(x, [2, 3], [[0, 0], [0, 0]]).numpy()
    assert np.array_equal(_apply(space_to_batch_tables(x.shape, [2, 3]), x), want)
    want = tf.space_to_batch_nd(x, [3, 2], [[1, 1], [2, 0]]).numpy()
    got = np.zeros_like(want)
    scatter = space_to_batch_scatter(x.shape, [3, 2], [[1, 1], [2, 0]])
    for idx in np.ndindex(*x.shape):  # the scatter, element by element
        got.reshape(-1)[sum(int(out[i]) for (_, out), i in zip(scatter, idx))] = x[idx]
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------- sweeps: TILE, BROADCAST_TO


@pytest.mark.parametrize("dtype", DTYPES)
def test_tile_sweep(tmp_path, dtype):
    """Random multiples on every rank (int32 and int64), and multiples whose strided walk needs more than
    six axes (tq_index_copy)."""
    rng = np.random.default_rng(1)
    net = Net(dtype)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        cases = [[1] * rank] + [[int(v) for v in rng.integers(1, 4, size=rank)] for _ in range(4)]
        for k, m in enumerate(cases):
            net.op("TILE", [x, net.const(m, "int64" if k % 2 else "int32")], [d * v for d, v in zip(shape, m)], label=f"{m}")
    x = net.input((2, 3, 2, 3))
    net.op("TILE", [x, net.const([2, 2, 3, 2])], (4, 6, 6, 6), label="eight strided axes")
    x = net.input((2, 2, 3, 2, 2))
    net.op("TILE", [x, net.const([3, 2, 1, 2, 1])], (6, 4, 3, 4, 2), label="rank 5, table-driven")
    path = tmp_path / f"tile_{dtype}.tflite"
    check(net, path)
    assert kernels_of(path)["TILE"] == {"tq_strided_copy", "tq_index_copy"}


BROADCASTS = [
    ((3,), (4, 3)),
    ((1,), (2, 3)),
    ((2, 1), (2, 5)),
    ((1, 3, 1), (4, 3, 2)),
    ((2, 1, 3, 1), (2, 4, 3, 5)),
    ((1, 1, 2), (2, 3, 4, 5, 2)),
    ((2, 3), (2, 3)),  # nothing to broadcast: a copy
    ((2, 1, 2, 1, 2, 1, 2), (2, 3, 2, 3, 2, 3, 2)),  # seven axes that alternate: tq_index_copy
    ((3,), (1, 1, 1, 1, 1, 1, 2, 1, 3)),  # rank 9 (TFLite's reference takes it)
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_to_sweep(tmp_path, dtype):
    net = Net(dtype)
    for k, (src, dst) in enumerate(BROADCASTS):
        x = net.input(src)
        net.op("BROADCAST_TO", [x, net.const(dst, "int64" if k % 2 else "int32")], dst, label=f"{src} -> {dst}")
    path = tmp_path / f"bcast_{dtype}.tflite"
    check(net, path)
    assert kernels_of(path)["BROADCAST_TO"] == {"tq_strided_copy", "tq_index_copy"}


# --------------------------------------------------------------------------- DEPTH_TO_SPACE, SPACE_TO_DEPTH

D2S = [((1, 2, 3, 4), 2), ((2, 1, 2, 9), 3), ((1, 3, 2, 8), 1), ((2, 2, 2, 8), 2), ((1, 1, 2, 32), 4)]
S2D = [((1, 4, 6, 3), 2), ((2, 6, 3, 2), 3), ((1, 2, 2, 5), 1), ((1, 4, 4, 1), 4), ((2, 2, 4, 2), 2)]


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_depth_space_sweep(tmp_path, dtype):
    """Block sizes 1-4 both ways (TFLite has no int16 kernel for either: test_refusals)."""
    net = Net(dtype)
    for shape, bs in D2S:
        n, h, w, c = shape
        net.op("DEPTH_TO_SPACE", [net.input(shape)], (n, h * bs, w * bs, c // bs // bs), options("DepthToSpaceOptionsT", blockSize=bs),
               label=f"{shape} / {bs}")
    for shape, bs in S2D:
        n, h, w, c = shape
        net.op("SPACE_TO_DEPTH", [net.input(shape)], (n, h // bs, w // bs, c * bs * bs), options("SpaceToDepthOptionsT", blockSize=bs),
               label=f"{shape} / {bs}")
    path = tmp_path / f"d2s_{dtype}.tflite"
    check(net, path)
    assert kernels_of(path) == {"DEPTH_TO_SPACE": {"tq_strided_copy"}, "SPACE_TO_DEPTH": {"tq_strided_copy"}}


# --------------------------------------------------------------------------- MIRROR_PAD


@pytest.mark.parametrize("dtype", DTYPES)
def test_mirror_pad_sweep(tmp_path, dtype):
    """REFLECT and SYMMETRIC on every rank: random pads, the largest each mode allows on every axis, and none."""
    rng = np.random.default_rng(2)
    net = Net(dtype)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for mode, offset in (("REFLECT", 1), ("SYMMETRIC", 0)):
            top = [d - offset for d in shape]
            cases = [[[t, t] for t in top], [[0, 0]] * rank] + [[[int(rng.integers(0, t + 1)) for _ in range(2)] for t in top] for _ in range(3)]
            for k, pads in enumerate(cases):
                out = [d + a + b for d, (a, b) in zip(shape, pads)]
                net.op("MIRROR_PAD", [x, net.const(pads, "int64" if k % 2 else "int32")], out,
                       options("MirrorPadOptionsT", mode=getattr(schema.MirrorPadMode, mode)), label=f"{mode} {pads}")
    path = tmp_path / f"mirror_{dtype}.tflite"
    check(net, path)
    assert kernels_of(path)["MIRROR_PAD"] == {"tq_strided_copy", "tq_index_copy"}  # no padding: a copy


# --------------------------------------------------------------------------- GATHER


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_sweep(tmp_path, dtype):
    """Constant indices (scalar, vector, matrix; int16, int32, int64) along every axis counted from either end;
    batch_dims 1, 2 and -1."""
    rng = np.random.default_rng(3)
    net = Net(dtype)
    itypes = ("int32", "int64", "int16")
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for k, axis in enumerate(range(-rank, rank)):
            n = shape[axis]
            for ishape in ((), (3,), (2, 2)):
                idx = rng.integers(0, n, size=ishape)
                net.op("GATHER", [x, net.const(idx, itypes[k % 3])], gather_out(shape, ishape, axis),
                       options("GatherOptionsT", axis=axis), label=f"axis {axis} {idx.tolist()}")
    x = net.input((2, 3, 4, 2))
    for axis, bd, ishape in ((1, 1, (2, 3)), (2, 1, (2, 5)), (3, 2, (2, 3, 2, 2)), (2, 2, (2, 3)), (-1, -1, (2, 3, 4, 3))):
        idx = rng.integers(0, (2, 3, 4, 2)[axis], size=ishape)
        net.op("GATHER", [x, net.const(idx)], gather_out((2, 3, 4, 2), ishape, axis, bd), options("GatherOptionsT", axis=axis, batchDims=bd),
               label=f"axis {axis} batch_dims {bd}")
    check(net, tmp_path / f"gather_{dtype}.tflite")


def _embedding_net(dtype: str) -> Net:
    """GATHER with indices computed at run time: from a constant table (an embedding) and from an activation,
    with batch_dims 0 and 1."""
    net = Net(dtype)
    x = net.input((1, 6, 4))
    idx = net.input((1, 3), "int32", None)
    table = {"int8": np.int8, "int16": np.int16, "float32": np.float32}[dtype]
    t = net.tensor((7, 4), dtype, QUANT[dtype], (np.arange(28) * 3 - 40).astype(table).reshape(7, 4))
    net.op("GATHER", [t, idx], (1, 3, 4), options("GatherOptionsT", axis=0), label="embedding")
    net.op("GATHER", [x, idx], (1, 3, 4), options("GatherOptionsT", axis=1, batchDims=1), label="activation, batch_dims 1")
    net.op("GATHER", [x, idx], (1, 1, 3, 4), options("GatherOptionsT", axis=1), label="activation")
    return net


def _index_inputs(path, rng, n: int, top: int):
    np.savez(path, in0=rng.integers(-100, 100, size=(n, 6, 4)), in1=rng.integers(0, top, size=(n, 3)).astype(np.int32))
    return path


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_run_time_indices(tmp_path, dtype):
    """Indices in range give TFLite's outputs; one out of range makes TFLite's Invoke fail and the generated
    C return an error status, writing nothing."""
    from tinyq.build.host import HostModel
    from tinyq.compiler.pipeline import generate_library

    rng = np.random.default_rng(4)
    path = _embedding_net(dtype).write(tmp_path / f"emb_{dtype}.tflite")
    assert kernels_of(path) == {"GATHER": {"tq_gather"}}
    inputs = _index_inputs(tmp_path / "idx.npz", rng, 12, 6)
    r = verify_tflite(path, inputs=inputs)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()
    host = HostModel(generate_library(path, name="emb"), "emb")
    try:
        x = np.zeros((1, 6, 4), {"int8": np.int8, "int16": np.int16, "float32": np.float32}[dtype])
        for bad in ([0, 6, 1], [2, -1, 0]):
            with pytest.raises(CheckFailed, match="returned status -1"):
                host.run([x, np.array([bad], np.int32)])
            it = ref_interpreter(path)
            for d, v in zip(it.get_input_details(), (x, np.array([bad], np.int32))):
                it.set_tensor(d["index"], v)
            with pytest.raises(RuntimeError, match="gather index out of bounds"):
                it.invoke()
    finally:
        host.close()


# --------------------------------------------------------------------------- SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND

# (input shape, block, paddings) of SPACE_TO_BATCH_ND; the same shapes, blocks and crops run BATCH_TO_SPACE_ND
# on an input of the output's shape.
BATCH_SPACE = [
    ((1, 4, 6, 2), [2, 2], [[0, 0], [0, 0]]),
    ((2, 3, 4, 3), [3, 2], [[0, 0], [0, 0]]),
    ((1, 4, 6, 2), [2, 3], [[2, 0], [0, 3]]),  # whole blocks of padding
    ((2, 3, 5, 1), [2, 2], [[1, 0], [2, 1]]),  # padding across blocks
    ((1, 2, 2, 3), [1, 1], [[0, 1], [1, 0]]),
    ((1, 5, 3, 2), [3, 4], [[1, 0], [0, 1]]),
    ((2, 6, 3), [3], [[0, 0]]),  # rank 3: (N, H, C)
    ((1, 5, 2), [2], [[0, 1]]),
    ((3, 4, 2), [4], [[1, 3]]),
]


def _stb_shape(shape, block, pads):
    return [shape[0] * int(np.prod(block))] + [(d + a + b) // k for d, k, (a, b) in zip(shape[1:-1], block, pads)] + [shape[-1]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_space_batch_sweep(tmp_path, dtype):
    net = Net(dtype)
    for shape, block, pads in BATCH_SPACE:
        out = _stb_shape(shape, block, pads)
        net.op("SPACE_TO_BATCH_ND", [net.input(shape), net.const(block), net.const(pads)], out, options("SpaceToBatchNDOptionsT"),
               label=f"{shape} {block} {pads}")
        net.op("BATCH_TO_SPACE_ND", [net.input(out), net.const(block), net.const(pads)], shape, options("BatchToSpaceNDOptionsT"),
               label=f"{out} {block} crops {pads}")
    # Crops that keep whole blocks: strided.
    net.op("BATCH_TO_SPACE_ND", [net.input((8, 3, 2, 2)), net.const([2, 2]), net.const([[2, 0], [0, 2]])], (2, 4, 2, 2),
           options("BatchToSpaceNDOptionsT"), label="whole-block crops")
    path = tmp_path / f"space_batch_{dtype}.tflite"
    check(net, path)
    assert kernels_of(path) == {"SPACE_TO_BATCH_ND": {"tq_strided_copy", "tq_index_copy"},
                                "BATCH_TO_SPACE_ND": {"tq_strided_copy", "tq_index_copy"}}


# --------------------------------------------------------------------------- quantization, refusals


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_raw_copy_between_quantizations(tmp_path, dtype):
    """TILE, BROADCAST_TO, DEPTH_TO_SPACE, SPACE_TO_DEPTH and GATHER: TFLite's Prepare does not compare the input's
    and the output's quantization, and its kernel copies the raw values; so does tinyq's."""
    other = (0.7, 11) if dtype == "int8" else (0.01, 0)
    net = Net(dtype)
    x = net.input((1, 2, 4, 4))
    net.op("TILE", [x, net.const([1, 2, 1, 2])], (1, 4, 4, 8), q=other)
    net.op("BROADCAST_TO", [x, net.const([3, 2, 4, 4])], (3, 2, 4, 4), q=other)
    net.op("GATHER", [x, net.const([3, 1])], (1, 2, 2, 4), options("GatherOptionsT", axis=2), q=other)
    if dtype == "int8":
        net.op("DEPTH_TO_SPACE", [x], (1, 4, 8, 1), options("DepthToSpaceOptionsT", blockSize=2), q=other)
        net.op("SPACE_TO_DEPTH", [x], (1, 1, 2, 16), options("SpaceToDepthOptionsT", blockSize=2), q=other)
    check(net, tmp_path / "raw.tflite")


def _one(dtype: str, kind: str, x_shape, ins, out_shape, opts=None, q="net", x_q="net", x_dtype=None):
    """A one-op Net: input x, then the constant inputs `ins` (values or (values, type)), in order."""
    net = Net(dtype)
    x = net.input(x_shape, x_dtype, x_q)
    consts = [net.const(*v) if isinstance(v, tuple) else net.const(v) for v in ins]
    net.op(kind, [x, *consts], out_shape, opts, q=q)
    return net


MP = options("MirrorPadOptionsT", mode=0)
SY = options("MirrorPadOptionsT", mode=1)
STB, BTS = options("SpaceToBatchNDOptionsT"), options("BatchToSpaceNDOptionsT")
REFUSALS = {
    # name: (net, words of tinyq's refusal, does the reference interpreter reject the model too?)
    "d2s int16": (lambda: _one("int16", "DEPTH_TO_SPACE", (1, 1, 1, 4), [], (1, 2, 2, 1), options("DepthToSpaceOptionsT", blockSize=2)),
                  "TFLite's DEPTH_TO_SPACE has no int16 kernel", True),
    "s2d int16": (lambda: _one("int16", "SPACE_TO_DEPTH", (1, 2, 2, 1), [], (1, 1, 1, 4), options("SpaceToDepthOptionsT", blockSize=2)),
                  "TFLite's SPACE_TO_DEPTH has no int16 kernel", True),
    "d2s channels": (lambda: _one("int8", "DEPTH_TO_SPACE", (1, 1, 1, 6), [], (1, 2, 2, 1), options("DepthToSpaceOptionsT", blockSize=2)),
                     "not a multiple of block_size^2", True),
    "s2d block 0": (lambda: _one("int8", "SPACE_TO_DEPTH", (1, 2, 2, 1), [], (1, 1, 1, 4), options("SpaceToDepthOptionsT", blockSize=0)),
                    "positive block size", True),
    "reflect max": (lambda: _one("int8", "MIRROR_PAD", (3, 4), [[[3, 0], [0, 0]]], (6, 4), MP), "more than REFLECT allows (2", True),
    "symmetric max": (lambda: _one("int8", "MIRROR_PAD", (3, 4), [[[0, 0], [0, 5]]], (3, 9), SY), "more than SYMMETRIC allows (4", True),
    "mirror rescale": (lambda: _one("int8", "MIRROR_PAD", (3, 4), [[[1, 1], [1, 1]]], (5, 6), MP, q=(0.1, -3)),
                       "TFLite's MIRROR_PAD requires the input's scale and zero point", True),
    "mirror int16 zp": (lambda: _one("int16", "MIRROR_PAD", (3, 4), [[[1, 1], [1, 1]]], (5, 6), MP, q=(0.002, 4), x_q=(0.002, 4)),
                        "zero point 4; TFLite's MIRROR_PAD requires 0", True),
    "tile negative": (lambda: _one("int8", "TILE", (2, 3), [[2, -1]], (4, 3)), "negative", True),
    "tile zero": (lambda: _one("int8", "TILE", (2, 3), [[2, 0]], (4, 3)), "holds a 0, which gives an empty output", False),
    "tile float multiples": (lambda: _one("int8", "TILE", (2, 3), [([2, 1], "float32")], (4, 3)), "expected int32 or int64", True),
    "broadcast": (lambda: _one("int8", "BROADCAST_TO", (2, 3), [[4, 3]], (4, 3)), "does not broadcast", True),
    "broadcast eight axes": (lambda: _one("int8", "BROADCAST_TO", (1, 2) * 4, [[3, 2] * 4], (3, 2) * 4),
                             "the copy walks 7 axes that do not merge, more than the 6", False),
    "gather index": (lambda: _one("int8", "GATHER", (3, 4), [[1, 3]], (2, 4), options("GatherOptionsT")), "index 3 (entry 1", True),
    "gather negative": (lambda: _one("int8", "GATHER", (3, 4), [[-1, 0]], (2, 4), options("GatherOptionsT")), "index -1 (entry 0", True),
    "gather batch_dims": (lambda: _one("int8", "GATHER", (2, 3), [[[0], [1]]], (2, 1), options("GatherOptionsT", axis=0, batchDims=1)),
                          "batch_dims 1", True),
    "stb paddings": (lambda: _one("int8", "SPACE_TO_BATCH_ND", (1, 4, 4, 1), [[2, 2], [[1, 0], [0, 0]]], (4, 2, 2, 1), STB),
                     "is not a multiple of block 2", True),
    "stb rescale": (lambda: _one("int8", "SPACE_TO_BATCH_ND", (1, 4, 4, 1), [[2, 2], [[0, 0], [0, 0]]], (4, 2, 2, 1), STB, q=(0.05, 0)),
                    "TFLite's SPACE_TO_BATCH_ND requires the input's scale", True),
    "stb int64 block": (lambda: _one("int8", "SPACE_TO_BATCH_ND", (1, 4, 4, 1), [([2, 2], "int64"), [[0, 0], [0, 0]]], (4, 2, 2, 1), STB),
                        "block_shape (tensor 't1') is int64, expected int32", True),
    "stb negative padding": (lambda: _one("int8", "SPACE_TO_BATCH_ND", (1, 4, 4, 1), [[2, 2], [[-1, 1], [0, 0]]], (4, 2, 2, 1), STB),
                             "TensorFlow requires paddings >= 0", False),
    "bts negative crops": (lambda: _one("int8", "BATCH_TO_SPACE_ND", (4, 2, 2, 1), [[2, 2], [[0, 0], [-1, 1]]], (1, 4, 4, 1), BTS),
                           "crops [[0, 0], [-1, 1]] hold a negative entry", True),
    "bts rank 5": (lambda: _one("int8", "BATCH_TO_SPACE_ND", (4, 1, 2, 2, 1), [[2, 2], [[0, 0], [0, 0]]], (1, 2, 4, 2, 1), BTS),
                   "takes rank 3 or 4", True),
    "bts batch": (lambda: _one("int8", "BATCH_TO_SPACE_ND", (3, 2, 2, 1), [[2, 2], [[0, 0], [0, 0]]], (1, 4, 4, 1), BTS),
                  "input batch 3 is not a multiple", True),
    "bts int16 rescale": (lambda: _one("int16", "BATCH_TO_SPACE_ND", (4, 2, 2, 1), [[2, 2], [[0, 0], [0, 0]]], (1, 4, 4, 1), BTS,
                                       q=(0.004, 0)), "TFLite's BATCH_TO_SPACE_ND requires the input's scale", True),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals(tmp_path, name):
    """Each refusal names the value and the rule; where TFLite's Prepare (or Invoke) rejects the model too,
    the interpreter is held to it."""
    make, words, tflite_rejects = REFUSALS[name]
    path = make().write(tmp_path / "bad.tflite")
    with pytest.raises(UnsupportedModel, match=re.escape(words)):
        compile_graph(import_model(path))
    if tflite_rejects:
        with pytest.raises((RuntimeError, ValueError)):
            ref_interpreter(path).invoke()


def test_run_time_int64_indices_are_refused(tmp_path):
    net = Net("int8")
    x = net.input((3, 4))
    idx = net.input((2,), "int64", None)
    net.op("GATHER", [x, idx], (2, 4), options("GatherOptionsT"))
    with pytest.raises(UnsupportedModel, match="indices 't1' are int64 computed at run time; tinyq reads run-time indices as int32"):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))


# --------------------------------------------------------------------------- Keras models, all three modes


def _keras_models():
    import keras
    import tensorflow as tf

    L = keras.layers
    models = {}
    a = keras.Input((5,))
    models["repeat_vector"] = (keras.Model(a, L.RepeatVector(3)(a)), {"TILE"})
    a = keras.Input((4, 3))
    models["upsampling1d"] = (keras.Model(a, L.UpSampling1D(2)(a)), {"TILE"})
    a = keras.Input((3, 4, 2))
    models["upsampling2d"] = (keras.Model(a, L.UpSampling2D((2, 3))(a)), {"TILE"})
    models["tile"] = (keras.Model(a, L.Lambda(lambda t: keras.ops.tile(t, [1, 2, 1, 3]))(a)), {"TILE"})
    a = keras.Input((6, 4))
    models["take"] = (keras.Model(a, L.Lambda(lambda t: keras.ops.take(t, np.array([3, 0, 5, 5], np.int32), axis=1))(a)), {"GATHER"})
    a = keras.Input((2, 3, 8))
    models["depth_to_space"] = (keras.Model(a, L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(a)), {"DEPTH_TO_SPACE"})
    a = keras.Input((4, 6, 2))
    models["space_to_depth"] = (keras.Model(a, L.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(a)), {"SPACE_TO_DEPTH"})
    a = keras.Input((4, 5, 3))
    reflect = L.Lambda(lambda t: tf.pad(t, [[0, 0], [2, 3], [1, 4], [0, 0]], "REFLECT"))(a)
    symmetric = L.Lambda(lambda t: tf.pad(t, [[0, 0], [4, 0], [5, 5], [0, 1]], "SYMMETRIC"))(a)
    models["mirror_pad"] = (keras.Model(a, [reflect, symmetric]), {"MIRROR_PAD"})
    a = keras.Input((1, 5))
    models["broadcast_to"] = (keras.Model(a, L.Lambda(lambda t: tf.broadcast_to(t, [1, 4, 5]))(a)), {"BROADCAST_TO"})
    a = keras.Input((4, 6, 3))
    stb = L.Lambda(lambda t: tf.space_to_batch_nd(t, [2, 2], [[1, 1], [0, 2]]))(a)
    bts = L.Lambda(lambda t: tf.batch_to_space(tf.concat([t] * 4, 0), [2, 2], [[1, 0], [0, 3]]))(a)
    models["space_batch"] = (keras.Model(a, [stb, bts]), {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"})
    return models


MODES = {"int8": "int8", "int16x8": "int16", "float": "float32"}
NO_16X8 = {"depth_to_space", "space_to_depth"}  # TensorFlow's converter does not quantize them to 16x8
KERAS = ["repeat_vector", "upsampling1d", "upsampling2d", "tile", "take", "depth_to_space", "space_to_depth", "mirror_pad",
         "broadcast_to", "space_batch"]


# TensorFlow's converter writes versions BUILTIN_REF does not register (3 for an int8 / int16 TILE, 2 for an
# int8 DEPTH_TO_SPACE); the version only gates the registration (tile.cc's one kernel moves elements by size,
# DEPTH_TO_SPACE's reference kernel dispatches on the element size; the hand-built sweeps above run them at the
# registered versions). tinyq's Reference runs such a model on a copy with the version lowered, and says so.
LOWERED = {("TILE", "int8"): "TILE v3 run as v2", ("TILE", "int16x8"): "TILE v3 run as v2",
           ("DEPTH_TO_SPACE", "int8"): "DEPTH_TO_SPACE v2 run as v1"}


@pytest.fixture(scope="module")
def keras_tflite(tmp_path_factory):
    """Every Keras model converted once in each mode: {(name, mode): (path, op kinds it must hold)}."""
    root = tmp_path_factory.mktemp("keras_layout")
    rng = np.random.default_rng(1)
    out = {}
    for name, (model, kinds) in _keras_models().items():
        calib = [rng.uniform(-2.0, 2.0, size=(16, *i.shape[1:])).astype(np.float32) for i in model.inputs]
        for mode in MODES:
            if mode == "int16x8" and name in NO_16X8:
                continue
            path = write_tflite(root, f"{name}_{mode}", model, None if mode == "float" else calib, mode=mode)
            out[name, mode] = path, kinds
    return out


@pytest.mark.parametrize("name, mode", [(n, m) for n in KERAS for m in MODES if not (m == "int16x8" and n in NO_16X8)])
def test_keras(keras_tflite, name, mode):
    path, kinds = keras_tflite[name, mode]
    g = import_model(path)
    have = {op.kind for op in g.ops if any(g.tensor(i).dtype == MODES[mode] for i in op.outputs)}
    assert kinds <= have, (sorted(have), [op.kind for op in g.ops])
    r = verify_tflite(path, samples=6)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()
    for (kind, lowered_mode), note in LOWERED.items():
        if kind in kinds and mode == lowered_mode:
            assert any(note in n for n in r.reference_notes), r.reference_notes
            assert note in r.summary()


# --------------------------------------------------------------------------- the generated C, compilers, a Cortex-M4


def _mixed_net(dtype: str) -> Net:
    """One model calling every kernel of this file for `dtype`, some through the arena."""
    net = Net(dtype)
    x = net.input((1, 4, 6, 2))
    net.op("TILE", [x, net.const([1, 2, 1, 2])], (1, 8, 6, 4), label="strided")
    net.op("TILE", [x, net.const([2, 2, 2, 2])], (2, 8, 12, 4), label="every axis")
    net.op("BROADCAST_TO", [x, net.const([3, 1, 4, 6, 2])], (3, 1, 4, 6, 2))
    net.op("MIRROR_PAD", [x, net.const([[0, 0], [3, 2], [1, 5], [0, 1]])], (1, 9, 12, 3), options("MirrorPadOptionsT", mode=0))
    stb = net.op("SPACE_TO_BATCH_ND", [x, net.const([2, 3]), net.const([[1, 1], [2, 1]])], (6, 3, 3, 2), options("SpaceToBatchNDOptionsT"),
                 graph_output=False)
    net.op("BATCH_TO_SPACE_ND", [stb, net.const([2, 3]), net.const([[1, 1], [2, 1]])], (1, 4, 6, 2), options("BatchToSpaceNDOptionsT"),
           label="SPACE_TO_BATCH_ND -> BATCH_TO_SPACE_ND")
    net.op("GATHER", [x, net.const([5, 0, 2])], (1, 4, 3, 2), options("GatherOptionsT", axis=-2))
    idx = net.input((1, 3), "int32", None)
    net.op("GATHER", [x, idx], (1, 3, 6, 2), options("GatherOptionsT", axis=1, batchDims=1), label="run-time indices")
    if dtype != "int16":
        d2s = net.op("SPACE_TO_DEPTH", [x], (1, 2, 3, 8), options("SpaceToDepthOptionsT", blockSize=2), graph_output=False)
        net.op("DEPTH_TO_SPACE", [d2s], (1, 4, 6, 2), options("DepthToSpaceOptionsT", blockSize=2), label="SPACE_TO_DEPTH -> DEPTH_TO_SPACE")
    return net


def _mixed_inputs(path, n: int = 6):
    rng = np.random.default_rng(5)
    np.savez(path, in0=rng.integers(-100, 100, size=(n, 4, 6, 2)), in1=rng.integers(0, 4, size=(n, 3)).astype(np.int32))
    return path


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_model_host(tmp_path, dtype):
    path = _mixed_net(dtype).write(tmp_path / f"mixed_{dtype}.tflite")
    r = verify_tflite(path, inputs=_mixed_inputs(tmp_path / "in.npz"))
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()


@pytest.mark.parametrize("compiler", ["cc", "arm-none-eabi-gcc"])
def test_generated_c_is_pedantic_c99(tmp_path, compiler):
    """The kernels and their calls (the NULL indices of a constant GATHER, the fill value's pointer) compile with
    -std=c99 -pedantic -Wall -Wextra -Werror on the host and for a Cortex-M4."""
    assert_pedantic_c99(tmp_path, compiler, {dtype: _mixed_net(dtype) for dtype in DTYPES})


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_qemu_m4(tmp_path, dtype):
    """Every kernel of this file on a Cortex-M4 under QEMU (run-time GATHER indices included)."""
    path = _mixed_net(dtype).write(tmp_path / f"mixed_{dtype}.tflite")
    r = verify_on_board(path, "qemu-m4", inputs=_mixed_inputs(tmp_path / "in.npz", 3))
    assert r.bit_exact, r.summary()


def test_keras_qemu_m4(keras_tflite):
    """Converted Keras models on the board: MIRROR_PAD in int16x8, SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND in int8."""
    for key in (("mirror_pad", "int16x8"), ("space_batch", "int8")):
        r = verify_on_board(keras_tflite[key][0], "qemu-m4", samples=2)
        assert r.bit_exact, f"{key}: {r.summary()}"
