"""STRIDED_SLICE, SLICE, SPLIT, SPLIT_V, UNPACK and PACK on int8, int16 and float32, and the int16 PAD /
PADV2, CONCATENATION and TRANSPOSE: generated C against TFLite's reference interpreter, bit for bit
(tinyq.checks.verify; float32 outputs are copies, so they are bit-exact too).

Sweeps are hand-built models (the flatbuffer schema), many cases to a model so that one C build checks
them all: every rank 1-5 (size-1 axes included), positive and negative begin / end / strides, every
mask bit, axes counted from either end, even and uneven splits, size_splits with -1. The STRIDED_SLICE
sweep takes each case's output shape from the interpreter itself (its Prepare), so tinyq's reading of
the masks is checked against TFLite's, not against a second reading of ours. Keras models (Cropping1D /
2D / 3D, tf.split / unstack / stack / slice / strided_slice) go through the converters of all three
modes; a few models run on a Cortex-M4 under QEMU.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel
from tinyq.ir import Op
from tinyq.ops.shape import strided_copy_dims, strided_slice_axes

from .conftest import run_tinyq
from .helpers import (
    ACTIVATION_QUANT,
    assert_one_line_failure,
    assert_pedantic_c99,
    op_kinds,
    options,
    ref_interpreter,
    write_tflite,
)
from .helpers import (
    Net as NetBase,
)

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

# Activation quantization of the hand-built models, by type (int16: zero point 0, as int16x8 models have).
QUANT = ACTIVATION_QUANT
DTYPES = tuple(QUANT)
# The input each sweep slices, by rank.
SHAPES = {1: (9,), 2: (5, 7), 3: (3, 1, 6), 4: (2, 3, 4, 5), 5: (2, 3, 1, 4, 3)}
OP = Op(0, "STRIDED_SLICE", [], [])  # names the op in the messages of the pure functions


# --------------------------------------------------------------------------- hand-built models


class Net(NetBase):
    """Every op output a graph output unless said otherwise; `labels` names each graph output's case."""

    def __init__(self, dtype: str):
        super().__init__(dtype, QUANT)
        self.labels: list[str] = []

    def op(self, kind: str, ins, out_shapes, options=None, label: str = "", q="net", graph_output: bool = True) -> list[int]:
        """One op of `kind` on tensors `ins`, writing new tensors of `out_shapes` (graph outputs unless
        `graph_output` is false); returns them."""
        outs = [self.tensor(s, q=q) for s in out_shapes]
        self.add_op(kind, ins, outs, options)
        if graph_output:
            self.outputs += outs
            self.labels += [f"{label} output {k}" for k in range(len(outs))]
        return outs

def check(net: Net, path, samples: int = 4):
    """The net on the host, bit for bit against the interpreter (the case of the first mismatch named)."""
    r = verify_tflite(net.write(path), samples=samples)
    assert r.bit_exact, f"{r.summary()} ({net.labels[r.first.output] if r.first else ''})"
    assert r.max_abs_diff == 0
    return r


# --------------------------------------------------------------------------- STRIDED_SLICE


MASKS = ("beginMask", "endMask", "ellipsisMask", "newAxisMask", "shrinkAxisMask")


def _ss_options(masks: dict, offset: bool = False):
    return options("StridedSliceOptionsT", offset=offset, **{k: masks.get(k, 0) for k in MASKS})


def tflite_slice_shape(rank: int, begin, end, strides, masks: dict, offset: bool = False):
    """The output shape TFLite's STRIDED_SLICE Prepare gives (None where it fails)."""
    net = Net("int8")
    x = net.input(SHAPES[rank])
    net.op("STRIDED_SLICE", [x, net.const(begin), net.const(end), net.const(strides)], [(1,)], _ss_options(masks, offset))
    try:
        it = ref_interpreter(net.bytes())
    except (RuntimeError, ValueError):
        return None
    return tuple(int(d) for d in it.get_output_details()[0]["shape"])


# (rank, begin, end, strides, masks, offset): every mask, at several positions, and the corner cases of
# TFLite's index arithmetic (negative indices, clamping, backward walks, offset).
STRIDED_CASES = [
    (1, [2], [7], [1], {}, False),
    (1, [-3], [-1], [1], {}, False),
    (1, [8], [0], [-2], {}, False),
    (1, [-1], [-10], [-1], {}, False),  # end clamped to -1 walking backwards: the whole axis reversed
    (1, [-20], [20], [3], {}, False),  # begin and end clamped to the axis
    (1, [5], [6], [1], {"beginMask": 1}, False),
    (1, [5], [0], [-1], {"endMask": 1}, False),
    (1, [3], [0], [1], {"shrinkAxisMask": 1}, False),
    (1, [-2], [0], [1], {"shrinkAxisMask": 1}, False),
    (1, [2], [4], [1], {}, True),  # offset: end counts from begin
    (2, [1, -1], [0, 0], [2, -2], {"endMask": 1}, False),
    (2, [0, 1], [4, 6], [1, 1], {"beginMask": 2, "endMask": 1}, False),
    (2, [1, 2], [3, 3], [1, 1], {}, True),
    (2, [4, -7], [0, 7], [-1, 3], {}, False),
    (2, [1], [3], [1], {}, False),  # fewer spec entries than axes: the rest taken whole
    (2, [0, 3], [0, 0], [1, 1], {"shrinkAxisMask": 2, "beginMask": 1, "endMask": 1}, False),
    (3, [0, 0, 0], [3, 1, 6], [1, 1, 1], {}, False),
    (3, [2, 0, 5], [0, 1, 0], [-1, 1, -2], {}, False),
    (3, [1, 0, 1], [2, 1, 5], [1, 1, 2], {"shrinkAxisMask": 5}, False),
    (3, [0, 1], [0, 4], [1, 1], {"ellipsisMask": 1}, False),  # [..., 1:4]
    (3, [1, 0], [2, 0], [1, 1], {"ellipsisMask": 2}, False),  # [1:2, ...]
    (3, [0, 0, 0, 2], [0, 0, 0, 5], [1, 1, 1, 1], {"newAxisMask": 1, "beginMask": 6, "endMask": 6}, False),  # [newaxis, :, :, 2:5]
    (3, [1, 0, 0, 0], [2, 0, 0, 3], [1, 1, 1, 1], {"newAxisMask": 2, "beginMask": 4, "endMask": 4}, False),
    (3, [0, 0, 0, -1], [0, 0, 0, -5], [1, 1, 1, -2], {"newAxisMask": 5, "beginMask": 2, "endMask": 2}, False),
    (3, [0, 0, 1], [0, 0, 3], [1, 1, 1], {"ellipsisMask": 1, "newAxisMask": 2}, False),  # [..., newaxis, 1:3]
    (3, [0, 0, 0], [0, 1, 6], [1, 1, 1], {"ellipsisMask": 1, "newAxisMask": 1}, False),  # both bits: the ellipsis wins
    (3, [-1, 0], [0, 0], [1, 1], {"shrinkAxisMask": 1, "ellipsisMask": 2}, False),  # [-1, ...]
    (4, [0, 1, 1, 0], [2, 3, 4, 5], [1, 1, 1, 2], {}, False),
    (4, [1, -1, 3, 4], [0, 0, 0, 0], [-1, -1, -1, -1], {"endMask": 15}, False),  # every axis reversed
    (4, [0, 2, 0, 1], [0, 0, 0, 4], [1, 1, 2, 1], {"beginMask": 5, "endMask": 7, "shrinkAxisMask": 2}, False),
    (4, [1, 0, 1, 0], [1, 0, 2, 0], [1, 1, 1, 1], {"shrinkAxisMask": 5, "beginMask": 10, "endMask": 10}, False),
    (4, [0, 1, 0], [0, 3, 0], [1, 2, 1], {"ellipsisMask": 1, "newAxisMask": 4}, False),
    (4, [0, 1, 2, 1], [2, 2, 2, 3], [1, 1, 1, 1], {}, True),
    (5, [0, 0, 0, 0, 0], [2, 3, 1, 4, 3], [1, 1, 1, 1, 1], {}, False),
    (5, [1, 2, 0, 3, 2], [0, 0, 0, 0, 0], [-1, -1, 1, -2, -2], {"endMask": 31, "beginMask": 4}, False),
    (5, [0, 1, 0, 1, 0], [2, 3, 1, 3, 3], [2, 1, 1, 1, 2], {"shrinkAxisMask": 4}, False),
    (5, [0, 0, 1], [0, 0, 3], [1, 1, 1], {"ellipsisMask": 2, "shrinkAxisMask": 1}, False),
    (5, [1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], {"newAxisMask": 32, "endMask": 30, "beginMask": 30}, False),
]


def _random_slices(rng: np.random.Generator, rank: int, count: int):
    """Seeded STRIDED_SLICE specs on SHAPES[rank]: axis entries with random begin / end / stride / mask
    bits, at times an ellipsis and new axes among them."""
    shape = SHAPES[rank]
    out = []
    while len(out) < count:
        k = int(rng.integers(1, rank + 1))  # spec entries that slice an input axis
        kinds = ["axis"] * k
        if rng.random() < 0.3 and k < rank:
            kinds.insert(int(rng.integers(0, k + 1)), "ellipsis")
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.3 else 0):
            kinds.insert(int(rng.integers(0, len(kinds) + 1)), "new")
        ell = kinds.index("ellipsis") if "ellipsis" in kinds else None
        axis_pos = [p for p, kd in enumerate(kinds) if kd == "axis"]
        before = [p for p in axis_pos if ell is None or p < ell]
        masks = dict.fromkeys(MASKS, 0)
        begin, end, strides = [], [], []
        for p, kind in enumerate(kinds):
            if kind == "ellipsis":
                masks["ellipsisMask"] |= 1 << p
            elif kind == "new":
                masks["newAxisMask"] |= 1 << p
            if kind != "axis":
                begin.append(0), end.append(0), strides.append(1)
                continue
            j = axis_pos.index(p)
            dim = shape[j] if p in before else shape[rank - (len(axis_pos) - j)]
            s = int(rng.choice([-3, -2, -1, 1, 1, 1, 2, 3]))
            b, e = (int(v) for v in rng.integers(-dim - 1, dim + 2, size=2))
            if (e - b) * s < 0 and rng.random() < 0.7:  # mostly non-empty
                b, e = e, b
            for name, prob in (("beginMask", 0.15), ("endMask", 0.15), ("shrinkAxisMask", 0.15)):
                masks[name] |= int(rng.random() < prob) << p
            begin.append(b), end.append(e), strides.append(s)
        out.append((rank, begin, end, strides, masks, False))
    return out


def _classify(cases):
    """Each case against TFLite's Prepare and tinyq's reading of it: (accepted cases with their shapes, refusals)."""
    accepted, refused = [], []
    for case in cases:
        rank, begin, end, strides, masks, offset = case
        want = tflite_slice_shape(rank, begin, end, strides, masks, offset)
        try:
            _, _, shape = strided_slice_axes(SHAPES[rank], begin, end, strides, [masks.get(k, 0) for k in MASKS], offset, OP)
        except UnsupportedModel as e:
            refused.append((case, want, str(e)))
            continue
        assert shape == want, f"{case}: tinyq reads output shape {shape}, TFLite's Prepare gives {want}"
        if int(np.prod(shape)) > 0:
            accepted.append((case, shape))
    return accepted, refused


def _slice_net(dtype: str, cases) -> Net:
    net = Net(dtype)
    xs = {r: net.input(s) for r, s in SHAPES.items()}
    for (rank, begin, end, strides, masks, offset), shape in cases:
        consts = [net.const(v) for v in (begin, end, strides)]
        net.op("STRIDED_SLICE", [xs[rank], *consts], [shape], _ss_options(masks, offset), label=f"{begin}:{end}:{strides} {masks}")
    return net


@pytest.fixture(scope="module")
def slice_cases():
    """The explicit cases, then seeded random ones until each rank has RANDOM_PER_RANK non-empty slices
    tinyq accepts: (accepted cases with their shapes, refusals, random cases drawn)."""
    accepted, refused = _classify(STRIDED_CASES)
    rng = np.random.default_rng(2024)
    drawn = 0
    for rank in SHAPES:
        have = 0
        while have < RANDOM_PER_RANK:
            ok, bad = _classify(_random_slices(rng, rank, 1))
            drawn += 1
            accepted += ok
            refused += bad
            have += len(ok)
    return accepted, refused, drawn


RANDOM_PER_RANK = 20


def test_strided_slice_reading_matches_tflite(slice_cases):
    """Every case's output shape is the one TFLite's Prepare gives (_classify); the explicit cases are all
    accepted; a refusal is only where TFLite's kernel writes nothing or not what its Prepare promised."""
    accepted, refused, drawn = slice_cases
    taken = {repr(c) for c, _ in accepted}
    assert all(repr(c) in taken for c in STRIDED_CASES), [c for c in STRIDED_CASES if repr(c) not in taken]
    assert drawn < 3 * RANDOM_PER_RANK * len(SHAPES), drawn  # the random cases are mostly non-empty
    for case, want, msg in refused:
        assert "kernel would leave the output unwritten" in msg or "kernel writes" in msg, (case, want, msg)
    for name in MASKS:  # every mask at work in the accepted cases, at more than one position
        assert len({c[4].get(name) for c, _ in accepted} - {0, None}) >= 2, name


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_slice_sweep(tmp_path, slice_cases, dtype):
    accepted, _, _ = slice_cases
    check(_slice_net(dtype, accepted), tmp_path / f"ss_{dtype}.tflite")


def test_strided_copy_dims_merges_and_bounds():
    assert strided_copy_dims(0, [(2, 12), (3, 4), (4, 1)], 24, OP) == ([24], [1])  # contiguous: one run
    assert strided_copy_dims(23, [(2, -12), (1, 4), (4, -1)], 24, OP) == ([2, 4], [-12, -1])
    with pytest.raises(UnsupportedModel, match="reads elements"):
        strided_copy_dims(1, [(24, 1)], 24, OP)


@pytest.mark.parametrize(
    "case,words",
    [
        ((1, [9], [0], [1], {"shrinkAxisMask": 1}, False), "unwritten"),  # begin past the axis
        ((2, [1, 3], [0, 4], [1, -1], {"shrinkAxisMask": 2}, False), "unwritten"),  # a shrunk axis walked backwards
        ((1, [6], [5], [1], {}, True), "kernel writes"),  # offset past the end: Prepare promises 5
        ((1, [0], [3], [0], {}, False), "non-zero strides"),
        ((1, [0, 0], [1], [1], {}, False), "as many of each"),
    ],
)
def test_strided_slice_refusals(case, words):
    rank, begin, end, strides, masks, offset = case
    with pytest.raises(UnsupportedModel, match=words):
        strided_slice_axes(SHAPES[rank], begin, end, strides, [masks.get(k, 0) for k in MASKS], offset, OP)


def test_non_constant_begin_is_refused(tmp_path):
    """A begin computed at run time: one line naming the tensor, exit 2."""
    net = Net("int8")
    x, b = net.input((4, 6)), net.tensor((2,), "int32", None)
    net.inputs.append(b)
    net.op("STRIDED_SLICE", [x, b, net.const([2, 6]), net.const([1, 1])], [(2, 6)], _ss_options({}))
    path = net.write(tmp_path / "dyn.tflite")
    r = run_tinyq("generate", path, "-o", tmp_path / "out")
    assert_one_line_failure(r, "STRIDED_SLICE", "begin (tensor 't1') must be a constant")


# --------------------------------------------------------------------------- SLICE


def _slice_specs(rng: np.random.Generator):
    for rank, shape in SHAPES.items():
        for k in range(6):
            begin = [int(rng.integers(0, d)) for d in shape]
            size = [int(rng.integers(1, d - b + 1)) if rng.random() < 0.7 else -1 for b, d in zip(begin, shape)]
            yield rank, begin, size, "int64" if k % 3 == 0 else "int32"


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_sweep(tmp_path, dtype):
    net = Net(dtype)
    xs = {r: net.input(s) for r, s in SHAPES.items()}
    for rank, begin, size, itype in _slice_specs(np.random.default_rng(5)):
        out = [d - b if s == -1 else s for b, s, d in zip(begin, size, SHAPES[rank])]
        net.op("SLICE", [xs[rank], net.const(begin, itype), net.const(size, itype)], [out], options("SliceOptionsT"),
               label=f"SLICE {begin} {size}")
    check(net, tmp_path / f"slice_{dtype}.tflite")


@pytest.mark.parametrize(
    "begin,size,words",
    [([-1, 0], [1, 2], "begin -1 on axis 0 is negative"), ([1, 0], [5, 2], "leave the axis"), ([0, 0], [1, -2], "other than -1")],
)
def test_slice_refusals(tmp_path, begin, size, words):
    net = Net("int8")
    x = net.input((5, 7))
    net.op("SLICE", [x, net.const(begin), net.const(size)], [(1, 2)], options("SliceOptionsT"))
    with pytest.raises(UnsupportedModel, match=words):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))


# --------------------------------------------------------------------------- SPLIT, SPLIT_V, UNPACK


def _axes(rank: int):
    return [a for a in range(-rank, rank)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_sweep(tmp_path, dtype):
    """SPLIT along every axis (counted from either end) into every even number of parts."""
    net = Net(dtype)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for a in _axes(rank):
            d = shape[a]
            for n in [n for n in range(1, d + 1) if d % n == 0][:3]:
                out = list(shape)
                out[a] = d // n
                net.op("SPLIT", [net.const(a), x], [out] * n, options("SplitOptionsT", numSplits=n), label=f"SPLIT axis {a} / {n}")
    check(net, tmp_path / f"split_{dtype}.tflite")


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_v_sweep(tmp_path, dtype):
    """SPLIT_V along every axis: random partitions, one part at times -1 (the rest of the axis)."""
    rng = np.random.default_rng(3)
    net = Net(dtype)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for a in _axes(rank):
            d = shape[a]
            cuts = sorted(int(c) for c in rng.choice(np.arange(1, d), size=min(d - 1, int(rng.integers(0, 3))), replace=False)) if d > 1 else []
            sizes = [e - b for b, e in zip([0, *cuts], [*cuts, d])]
            spec = list(sizes)
            if rng.random() < 0.5:
                spec[int(rng.integers(0, len(spec)))] = -1
            outs = [[s if k == a % rank else shape[k] for k in range(rank)] for s in sizes]
            itype = "int64" if a % 2 else "int32"
            net.op("SPLIT_V", [x, net.const(spec, itype), net.const([a])], outs, options("SplitVOptionsT", numSplits=len(sizes)),
                   label=f"SPLIT_V axis {a} {spec}")
    check(net, tmp_path / f"splitv_{dtype}.tflite")


@pytest.mark.parametrize("dtype", DTYPES)
def test_unpack_sweep(tmp_path, dtype):
    net = Net(dtype)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for a in _axes(rank):
            out = [d for k, d in enumerate(shape) if k != a % rank]
            net.op("UNPACK", [x], [out] * shape[a], options("UnpackOptionsT", num=shape[a], axis=a), label=f"UNPACK axis {a}")
    check(net, tmp_path / f"unpack_{dtype}.tflite")


@pytest.mark.parametrize(
    "kind,words",
    [("SPLIT", "not split into 3 equal parts"), ("SPLIT_V", "more than one -1"), ("UNPACK", "quantized differently")],
)
def test_split_refusals(tmp_path, kind, words):
    net = Net("int8")
    x = net.input((4, 6))
    if kind == "SPLIT":
        net.op("SPLIT", [net.const(0), x], [(1, 6)] * 3, options("SplitOptionsT", numSplits=3))
    elif kind == "SPLIT_V":
        net.op("SPLIT_V", [x, net.const([-1, -1, 2]), net.const(1)], [(4, 2)] * 3, options("SplitVOptionsT", numSplits=3))
    else:
        net.op("UNPACK", [x], [(6,)] * 4, options("UnpackOptionsT", num=4, axis=0), q=(0.1, 0))
    with pytest.raises(UnsupportedModel, match=words):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))


# --------------------------------------------------------------------------- PACK


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_sweep(tmp_path, dtype):
    """PACK of 1-4 inputs (some repeated) of ranks 0-4 along every axis of the rank 1-5 output."""
    net = Net(dtype)
    for rank, shape in {0: (), **{r - 1: SHAPES[r][1:] for r in SHAPES}}.items():
        xs = [net.input(shape) for _ in range(3)]
        for a in range(-rank - 1, rank + 1):
            ins = [xs[k % 3] for k in range(a % 4 + 1)]
            if a % 3 == 0:
                ins = ins[::-1] + [xs[0]]
            out = list(shape)
            out.insert(a % (rank + 1), len(ins))
            net.op("PACK", ins, [out], options("PackOptionsT", valuesCount=len(ins), axis=a), label=f"PACK axis {a} of {len(ins)}")
    check(net, tmp_path / f"pack_{dtype}.tflite")


def test_pack_refuses_rescaling(tmp_path):
    net = Net("int8")
    a, b = net.input((3,)), net.input((3,), q=(0.1, 2))
    net.op("PACK", [a, b], [(2, 3)], options("PackOptionsT", valuesCount=2, axis=0))
    with pytest.raises(UnsupportedModel, match="PACK does not rescale"):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))


# --------------------------------------------------------------------------- int16 PAD, CONCATENATION, TRANSPOSE


def test_int16_pad_concat_transpose_sweep(tmp_path):
    """The int16 forms of the ops that had int8 and float32 kernels: PAD (zero point 0 fill), PADV2 (its
    constant), CONCATENATION (inputs of other scales are copied unrescaled, as TFLite does), TRANSPOSE."""
    net = Net("int16")
    rng = np.random.default_rng(9)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        pads = rng.integers(0, 3, size=(rank, 2))
        out = [d + a + b for d, (a, b) in zip(shape, pads)]
        net.op("PAD", [x, net.const(pads)], [out], options("PadOptionsT"), label=f"PAD {pads.tolist()}")
        value = net.tensor((), "int16", QUANT["int16"], np.array(-1234, np.int16))
        net.op("PADV2", [x, net.const(pads[::-1] if rank > 1 else pads, "int64"), value],
               [[d + a + b for d, (a, b) in zip(shape, pads[::-1] if rank > 1 else pads)]], options("PadV2OptionsT"), label="PADV2")
        perm = [int(a) - rank * (k % 2) for k, a in enumerate(rng.permutation(rank))]  # some counted from the end
        net.op("TRANSPOSE", [x, net.const(perm)], [[shape[a] for a in perm]], options("TransposeOptionsT"), label=f"TRANSPOSE {perm}")
        for a in (0, -1):
            y = net.input([2 if k == a % rank else d for k, d in enumerate(shape)], q=(0.004, 0))
            out = [d + 2 if k == a % rank else d for k, d in enumerate(shape)]
            net.op("CONCATENATION", [x, y, x], [[o + shape[a % rank] if k == a % rank else o for k, o in enumerate(out)]],
                   options("ConcatenationOptionsT", axis=a), label=f"CONCATENATION axis {a}")
    check(net, tmp_path / "int16_ops.tflite")


def test_int16_concat_refuses_zero_point(tmp_path):
    net = Net("int16")
    a, b = net.input((2, 3)), net.input((2, 3), q=(0.002, 5))
    net.op("CONCATENATION", [a, b], [(4, 3)], options("ConcatenationOptionsT", axis=0))
    with pytest.raises(UnsupportedModel, match="zero point 5; TFLite's CONCATENATION requires 0"):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_raw_copy_between_quantizations(tmp_path, dtype):
    """Where TFLite's Prepare does not compare the quantizations of input and output (STRIDED_SLICE, SLICE,
    SPLIT, SPLIT_V, TRANSPOSE, PAD) its kernel copies the raw values, and so does tinyq's."""
    other = (0.7, 11) if dtype == "int8" else (0.01, 0)
    net = Net(dtype)
    x = net.input((4, 6))
    net.op("STRIDED_SLICE", [x, net.const([3, 0]), net.const([0, 6]), net.const([-1, 2])], [(3, 3)], _ss_options({}), q=other)
    net.op("SLICE", [x, net.const([1, 1]), net.const([2, 4])], [(2, 4)], options("SliceOptionsT"), q=other)
    net.op("SPLIT", [net.const(1), x], [(4, 3)] * 2, options("SplitOptionsT", numSplits=2), q=other)
    net.op("SPLIT_V", [x, net.const([3, 1]), net.const(0)], [(3, 6), (1, 6)], options("SplitVOptionsT", numSplits=2), q=other)
    net.op("TRANSPOSE", [x, net.const([1, 0])], [(6, 4)], options("TransposeOptionsT"), q=other)
    net.op("PAD", [x, net.const([[1, 0], [0, 2]])], [(5, 8)], options("PadOptionsT"), q=other)
    check(net, tmp_path / "raw.tflite")


# --------------------------------------------------------------------------- Keras models, all three modes


def _keras_models():
    import keras
    import tensorflow as tf

    L = keras.layers
    models = {}
    a = keras.Input((7, 3))
    models["cropping1d"] = (keras.Model(a, L.Cropping1D((2, 1))(a)), {"STRIDED_SLICE"})
    a = keras.Input((6, 5, 3))
    models["cropping2d"] = (keras.Model(a, L.Cropping2D(((1, 2), (0, 1)))(a)), {"STRIDED_SLICE"})
    a = keras.Input((4, 5, 3, 2))
    models["cropping3d"] = (keras.Model(a, L.Cropping3D(((1, 0), (2, 1), (0, 1)))(a)), {"STRIDED_SLICE"})
    a = keras.Input((6, 5, 3))
    parts = L.Lambda(lambda t: tf.split(t, 3, axis=-1))(a)
    uneven = L.Lambda(lambda t: tf.split(t, [1, -1, 2], axis=1))(a)
    models["split"] = (keras.Model(a, [*parts, *uneven]), {"SPLIT", "SPLIT_V"})
    rows = L.Lambda(lambda t: tf.unstack(t, axis=2))(a)
    stacked = L.Lambda(lambda ts: tf.stack(ts, axis=1))(rows[::-1])
    models["unstack_stack"] = (keras.Model(a, [stacked, rows[1]]), {"UNPACK", "PACK"})
    sl = L.Lambda(lambda t: tf.slice(t, [0, 1, 2, 0], [1, 4, -1, 2]))(a)
    ss = L.Lambda(lambda t: tf.strided_slice(t, [0, 5, 0, 2], [0, 0, 4, 0], [1, -2, 2, -1], begin_mask=1, end_mask=1,
                                             shrink_axis_mask=0))(a)
    ell = L.Lambda(lambda t: t[..., tf.newaxis, 1, ::-1])(a)
    models["slices"] = (keras.Model(a, [sl, ss, ell]), {"SLICE", "STRIDED_SLICE"})
    return models


MODES = {"int8": "int8", "int16x8": "int16", "float": "float32"}


@pytest.fixture(scope="module")
def keras_tflite(tmp_path_factory):
    """Every Keras model converted once in each mode: {(name, mode): (path, op kinds it must hold)}."""
    root = tmp_path_factory.mktemp("keras_slicing")
    rng = np.random.default_rng(1)
    out = {}
    for name, (model, kinds) in _keras_models().items():
        calib = [rng.uniform(-2.0, 2.0, size=(16, *i.shape[1:])).astype(np.float32) for i in model.inputs]
        for mode in MODES:
            out[name, mode] = write_tflite(root, f"{name}_{mode}", model, None if mode == "float" else calib, mode=mode), kinds
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["cropping1d", "cropping2d", "cropping3d", "split", "unstack_stack", "slices"])
def test_keras(keras_tflite, name, mode):
    path, kinds = keras_tflite[name, mode]
    g = import_model(path)
    have = {op.kind for op in g.ops if any(g.tensor(i).dtype == MODES[mode] for i in op.outputs)}
    assert kinds <= have, (sorted(have), [op.kind for op in g.ops])
    r = verify_tflite(path, samples=6)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()


# --------------------------------------------------------------------------- the generated C, compilers, a Cortex-M4


def _mixed_net(dtype: str) -> Net:
    """One model calling every kernel of this file for `dtype` (and a backward slice, an uneven split)."""
    net = Net(dtype)
    x = net.input((4, 6, 3))
    net.op("STRIDED_SLICE", [x, net.const([3, 1, 0]), net.const([0, 6, 3]), net.const([-2, 2, -1])], [(2, 3, 3)],
           _ss_options({"beginMask": 4, "endMask": 4}), label="STRIDED_SLICE")
    net.op("SLICE", [x, net.const([1, 2, 0]), net.const([2, -1, 2])], [(2, 4, 2)], options("SliceOptionsT"), label="SLICE")
    net.op("SPLIT", [net.const(-2), x], [(4, 2, 3)] * 3, options("SplitOptionsT", numSplits=3), label="SPLIT")
    net.op("SPLIT_V", [x, net.const([1, -1]), net.const(0)], [(1, 6, 3), (3, 6, 3)], options("SplitVOptionsT", numSplits=2),
           label="SPLIT_V")
    net.op("UNPACK", [x], [(4, 6)] * 3, options("UnpackOptionsT", num=3, axis=2), label="UNPACK")
    net.op("PACK", [x, x], [(4, 6, 2, 3)], options("PackOptionsT", valuesCount=2, axis=2), label="PACK")
    # in the arena: output pointers cast from the arena, passed to tq_split and in tq_concat's array
    rows = net.op("UNPACK", [x], [(6, 3)] * 4, options("UnpackOptionsT", num=4, axis=0), graph_output=False)
    halves = net.op("SPLIT", [net.const(1), rows[2]], [(6, 1)] * 3, options("SplitOptionsT", numSplits=3), graph_output=False)
    net.op("PACK", [halves[2], halves[0]], [(6, 2, 1)], options("PackOptionsT", valuesCount=2, axis=1),
           label="UNPACK -> SPLIT -> PACK")
    if dtype == "int16":
        net.op("PAD", [x, net.const([[1, 0], [0, 2], [1, 1]])], [(5, 8, 5)], options("PadOptionsT"), label="PAD")
        net.op("TRANSPOSE", [x, net.const([2, 0, 1])], [(3, 4, 6)], options("TransposeOptionsT"), label="TRANSPOSE")
        net.op("CONCATENATION", [x, x], [(4, 6, 6)], options("ConcatenationOptionsT", axis=2), label="CONCATENATION")
    return net


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_model_host(tmp_path, dtype):
    check(_mixed_net(dtype), tmp_path / f"mixed_{dtype}.tflite", samples=8)


@pytest.mark.parametrize("compiler", ["cc", "arm-none-eabi-gcc"])
def test_generated_c_is_pedantic_c99(tmp_path, compiler):
    """The kernels and their calls (tq_split's output pointers passed as variadic arguments) compile with
    -std=c99 -pedantic -Wall -Wextra -Werror on the host and for a Cortex-M4."""
    assert_pedantic_c99(tmp_path, compiler, {dtype: _mixed_net(dtype) for dtype in DTYPES})


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_qemu_m4(tmp_path, dtype):
    """Every kernel of this file on a Cortex-M4 under QEMU."""
    r = verify_on_board(_mixed_net(dtype).write(tmp_path / f"mixed_{dtype}.tflite"), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


def test_keras_qemu_m4(keras_tflite):
    """A converted Keras model (SPLIT, SPLIT_V) in int16x8 on the board."""
    path, _ = keras_tflite["split", "int16x8"]
    assert op_kinds(path)
    r = verify_on_board(path, "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


# --------------------------------------------------------------------------- REVERSE_V2


@pytest.mark.parametrize("dtype", DTYPES)
def test_reverse_sweep(tmp_path, dtype):
    """REVERSE_V2 along every axis and every run of contiguous axes (counted from either end, in any order),
    into an output quantized differently (the reference copies raw values)."""
    net = Net(dtype)
    other = None if dtype == "float32" else (QUANT[dtype][0] * 2, 0)
    for rank, shape in SHAPES.items():
        x = net.input(shape)
        for first in range(rank):
            for last in range(first, rank):
                axes = list(range(first, last + 1))[::-1]
                if (first + last) % 2:
                    axes = [a - rank for a in axes]
                net.op("REVERSE_V2", [x, net.const(axes)], [shape], q="net" if first % 2 else other, label=f"REVERSE_V2 {axes}")
    check(net, tmp_path / f"reverse_{dtype}.tflite")


@pytest.mark.parametrize("axes, words", [([], r"has shape \[0\]"), ([0, 2], "not distinct contiguous"),
                                         ([1, 1], "not distinct contiguous"), ([3], "out of range")])
def test_reverse_refused(tmp_path, axes, words):
    """What TFLite's REVERSE_V2 refuses (or, for no axes, reads past): refused by name at generation time."""
    net = Net("int8")
    x = net.input((2, 3, 4))
    net.op("REVERSE_V2", [x, net.const(np.asarray(axes, np.int32))], [(2, 3, 4)])
    with pytest.raises(UnsupportedModel, match=words):
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))
