"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on int8, int16 and float32: generated C against TFLite's
reference interpreter, bit for bit (float32 included: max |diff| 0).

The sweeps are hand-built models (the flatbuffer schema), many cases to a model so that one C build
checks them all: up- and down-scaling by integer and non-integer factors, 1x1 inputs and outputs,
batches of 2 and 3, channel counts 1 to 17, every flag pair TFLite accepts, outputs quantized like
their input and differently (TFLite moves raw values: neither op rescales). The tables tinyq computes
are also checked against a plain numpy reading of TFLite's reference kernels, and that reading against
the interpreter on the values where rounding is decided (ties of both signs). Keras models (Resizing,
UpSampling2D bilinear) go through the converters of all three modes; a few run on a Cortex-M4 under
QEMU.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel
from tinyq.ops.resize import (
    ONE,
    bilinear_axis_float,
    bilinear_axis_int,
    nearest_indices,
)

from .helpers import (
    ACTIVATION_QUANT,
    op_kinds,
    options,
    ref_interpreter,
    requantize,
    write_tflite,
)
from .helpers import Net as NetBase

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

# Activation quantization of the hand-built models, by type; OTHER_Q: an output quantized differently.
QUANT = ACTIVATION_QUANT
OTHER_Q = {"int8": (0.11, 17), "int16": (0.0007, 0), "float32": None}
DTYPES = tuple(QUANT)
NEAREST_FLAGS = list(itertools.product([False, True], repeat=2))  # (align_corners, half_pixel_centers)
BILINEAR_FLAGS = [f for f in NEAREST_FLAGS if f != (True, True)]  # TFLite's bilinear Prepare rejects the pair
# (input shape NHW, output size): up and down by integer and non-integer factors, 1x1 either side,
# identity, batches > 1. Channel counts are dealt from 1..17 over the cases.
GEOMETRY = [
    ((1, 3, 5), (7, 4)),
    ((1, 8, 8), (3, 3)),
    ((1, 1, 1), (5, 5)),
    ((2, 4, 6), (8, 12)),
    ((1, 5, 3), (2, 9)),
    ((1, 6, 6), (1, 1)),
    ((1, 7, 2), (1, 5)),
    ((3, 2, 3), (2, 3)),
    ((1, 4, 4), (13, 10)),
    ((1, 9, 5), (4, 15)),
    ((1, 13, 17), (5, 6)),
    ((1, 10, 12), (40, 36)),
]
KINDS = {"RESIZE_NEAREST_NEIGHBOR": NEAREST_FLAGS, "RESIZE_BILINEAR": BILINEAR_FLAGS}


# --------------------------------------------------------------------------- hand-built models


class Net(NetBase):
    """A .tflite of resize ops: graph inputs, one constant size per op, every op output a graph output.
    `labels` names each output's case."""

    def __init__(self, dtype: str):
        super().__init__(dtype, QUANT)
        self.labels: list[str] = []

    def resize(self, kind: str, x: int, size, align_corners: bool, half_pixel_centers: bool, q="net", out_shape=None,
               size_input: int | None = None) -> int:
        shape = self.tensors[x].shape
        out = self.tensor(out_shape or (shape[0], *size, shape[-1]), q=q)
        sz = size_input if size_input is not None else self.tensor((2,), "int32", None, np.array(size, np.int32))
        name = "ResizeBilinearOptionsT" if kind == "RESIZE_BILINEAR" else "ResizeNearestNeighborOptionsT"
        self.add_op(kind, [x, sz], [out], options(name, alignCorners=align_corners, halfPixelCenters=half_pixel_centers))
        self.outputs.append(out)
        self.labels.append(f"{kind} {list(self.tensors[x].shape)} -> {list(size)} align_corners={align_corners} "
                           f"half_pixel_centers={half_pixel_centers} q={q}")
        return out


def check(net: Net, path, samples: int = 16):
    """The net on the host, bit for bit against the interpreter (the case of the first mismatch named)."""
    r = verify_tflite(net.write(path), samples=samples)
    assert r.bit_exact, f"{r.summary()} ({net.labels[r.first.output] if r.first else ''})"
    assert r.max_abs_diff == 0
    return r


def sweep_net(kind: str, dtype: str, geometry=GEOMETRY, channels=range(1, 18)) -> Net:
    """Every `geometry` case with every flag pair of `kind`, the `channels` counts dealt round; for int8 and
    int16 each case's first flag pair also writes an output quantized differently (a raw copy in TFLite)."""
    net = Net(dtype)
    channels = itertools.cycle(channels)
    for nhw, size in geometry:
        for k, (ac, hp) in enumerate(KINDS[kind]):
            x = net.input((*nhw, next(channels)))
            net.resize(kind, x, size, ac, hp)
            if k == 0 and dtype != "float32":
                net.resize(kind, x, size, ac, hp, q=OTHER_Q[dtype])
    return net


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sweep(tmp_path, kind, dtype):
    net = sweep_net(kind, dtype)
    assert set(range(1, 18)) <= {net.tensors[i].shape[3] for i in net.inputs}
    check(net, tmp_path / f"{kind.lower()}_{dtype}.tflite")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_int16_any_zero_point(tmp_path, kind):
    """Neither op reads the quantization, so an int16 zero point other than 0 resizes as TFLite does."""
    net = Net("int16")
    x = net.input((1, 3, 4, 3), q=(0.003, 25))
    net.resize(kind, x, (5, 7), False, True, q=(0.003, 25))
    net.resize(kind, x, (2, 2), False, False, q=(0.01, -7))
    check(net, tmp_path / "zp.tflite")


# --------------------------------------------------------------------------- tinyq's tables against TFLite's arithmetic


def _numpy_resize(kind: str, x: np.ndarray, size, ac: bool, hp: bool) -> np.ndarray:
    """The reference kernels read plainly from tinyq's per-axis tables (no C involved)."""
    n, h, w, c = x.shape
    oh, ow = size
    if kind == "RESIZE_NEAREST_NEIGHBOR":
        return x[:, nearest_indices(h, oh, ac, hp)][:, :, nearest_indices(w, ow, ac, hp)]
    if x.dtype == np.float32:
        ys, xs, f = bilinear_axis_float(h, oh, ac, hp), bilinear_axis_float(w, ow, ac, hp), np.float32
        out = np.empty((n, oh, ow, c), np.float32)
        for oy, (y0, y1, dy) in enumerate(ys):
            for ox, (x0, x1, dx) in enumerate(xs):
                out[:, oy, ox] = (x[:, y0, x0] * (f(1) - dy) * (f(1) - dx) + x[:, y1, x0] * dy * (f(1) - dx)
                                  + x[:, y0, x1] * (f(1) - dy) * dx + x[:, y1, x1] * dy * dx + f(0))
        return out
    ys, xs = bilinear_axis_int(h, oh, ac, hp), bilinear_axis_int(w, ow, ac, hp)
    v = x.astype(np.int64)
    out = np.empty((n, oh, ow, c), x.dtype)
    for oy, (y0, y1, dy) in enumerate(ys):
        for ox, (x0, x1, dx) in enumerate(xs):
            acc = (v[:, y0, x0] * (ONE - dy) * (ONE - dx) + v[:, y1, x0] * dy * (ONE - dx)
                   + v[:, y0, x1] * (ONE - dy) * dx + v[:, y1, x1] * dy * dx)
            q = acc + np.where(acc > 0, 1 << 19, -(1 << 19))
            out[:, oy, ox] = np.sign(q) * (np.abs(q) >> 20)  # C's division: toward zero
    return out


def _interpret(data: bytes, x: np.ndarray) -> np.ndarray:
    it = ref_interpreter(data)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_tables_read_tflite_arithmetic():
    """Every sweep case through the interpreter and through the tables read in numpy: equal bit for bit.
    Integer inputs are small values, so that 2^19 rounding ties of both signs occur (TFLite's default
    build rounds them away from zero)."""
    rng = np.random.default_rng(7)
    checked = 0
    for kind, dtype in itertools.product(KINDS, DTYPES):
        for nhw, size in GEOMETRY:
            for ac, hp in KINDS[kind]:
                net = Net(dtype)
                net.resize(kind, net.input((*nhw, 2)), size, ac, hp)
                if dtype == "float32":
                    x = rng.normal(size=(*nhw, 2)).astype(np.float32)
                else:
                    x = rng.integers(-3, 4, size=(*nhw, 2)).astype(dtype)
                got = _interpret(net.bytes(), x)
                want = _numpy_resize(kind, x, size, ac, hp)
                assert got.tobytes() == want.tobytes(), net.labels[0]
                checked += 1
    assert checked == len(GEOMETRY) * 3 * 7


def test_bilinear_rounds_ties_away_from_zero():
    # [-1, 0, -3, 0] to 8 columns (scale 1/2): -0.5 -> -1 and -1.5 -> -2 (half away from zero, not half up).
    net = Net("int8")
    net.resize("RESIZE_BILINEAR", net.input((1, 1, 4, 1)), (1, 8), False, False)
    x = np.array([-1, 0, -3, 0], np.int8).reshape(1, 1, 4, 1)
    assert _interpret(net.bytes(), x).ravel().tolist() == [-1, -1, 0, -2, -3, -2, 0, 0]
    assert _numpy_resize("RESIZE_BILINEAR", x, (1, 8), False, False).ravel().tolist() == [-1, -1, 0, -2, -3, -2, 0, 0]


def test_nearest_indices():
    # GetNearestNeighbor: floor, round with align_corners, +0.5 with half_pixel_centers.
    assert nearest_indices(3, 7, False, False) == [0, 0, 0, 1, 1, 2, 2]
    assert nearest_indices(3, 7, True, False) == [0, 0, 1, 1, 1, 2, 2]
    assert nearest_indices(3, 7, False, True) == [0, 0, 1, 1, 1, 2, 2]
    assert nearest_indices(8, 3, False, True) == [1, 4, 6]
    assert nearest_indices(5, 1, True, False) == [0]


# --------------------------------------------------------------------------- refusals


def _refused(tmp_path, net: Net, *words):
    with pytest.raises(UnsupportedModel) as e:
        compile_graph(import_model(net.write(tmp_path / "bad.tflite")))
    for w in words:
        assert w in str(e.value), str(e.value)


def test_refuses_run_time_size(tmp_path):
    net = Net("int8")
    x = net.input((1, 4, 4, 2))
    size = net.tensor((2,), "int32", None)
    net.inputs.append(size)
    net.resize("RESIZE_BILINEAR", x, (8, 8), False, True, size_input=size)
    _refused(tmp_path, net, "size input", "computed at run time", "static shapes")


def test_refuses_both_flags_on_bilinear(tmp_path):
    net = Net("int8")
    net.resize("RESIZE_BILINEAR", net.input((1, 4, 4, 2)), (8, 8), True, True)
    _refused(tmp_path, net, "align_corners and half_pixel_centers", "set at most one")


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_refuses_reads_past_the_input(tmp_path, dtype):
    """Upscaling 1 row to 70 without flags: ResizeBilinearInteger's unclamped lower index is row 1 of 1
    (the interpreter reads the next image or memory past the tensor)."""
    net = Net(dtype)
    net.resize("RESIZE_BILINEAR", net.input((1, 1, 3, 2)), (70, 3), False, False)
    _refused(tmp_path, net, "reads row 1 of 1 for output row", "past the input's end", "set half_pixel_centers")


def test_refuses_wrong_output_shape(tmp_path):
    net = Net("float32")
    net.resize("RESIZE_NEAREST_NEIGHBOR", net.input((1, 4, 4, 2)), (8, 8), False, False, out_shape=(1, 8, 7, 2))
    _refused(tmp_path, net, "[1, 8, 7, 2]", "[1, 8, 8, 2]")


def test_refuses_wrong_size_tensor(tmp_path):
    net = Net("int8")
    x = net.input((1, 4, 4, 2))
    net.resize("RESIZE_NEAREST_NEIGHBOR", x, (8, 8), False, False, size_input=net.tensor((3,), "int32", None, np.array([8, 8, 1], np.int32)))
    _refused(tmp_path, net, "has shape [3]", "[2] (height, width)")


def test_refuses_rank_3(tmp_path):
    net = Net("int8")
    x = net.input((4, 4, 2))
    net.resize("RESIZE_NEAREST_NEIGHBOR", x, (8, 8), False, False, out_shape=(8, 8, 2))
    _refused(tmp_path, net, "4-D NHWC")


# --------------------------------------------------------------------------- Keras models


def _keras_model():
    """Resizing (nearest, bilinear; crop_to_aspect_ratio False) and UpSampling2D bilinear, up and down.
    (UpSampling2D nearest and UpSampling1D become RESHAPE + TILE, not these ops.)"""
    import keras

    L = keras.layers
    a = keras.Input((5, 6, 3))
    outs = [
        L.Resizing(9, 4, interpolation="bilinear", crop_to_aspect_ratio=False)(a),
        L.Resizing(3, 11, interpolation="nearest", crop_to_aspect_ratio=False)(a),
        L.Resizing(2, 2, interpolation="bilinear")(a),
        L.UpSampling2D((2, 3), interpolation="bilinear")(a),
    ]
    return keras.Model(a, outs)


@pytest.fixture(scope="module")
def keras_tflite(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras_resize")
    model = _keras_model()
    calib = [np.random.default_rng(0).uniform(-2.0, 2.0, size=(16, 5, 6, 3)).astype(np.float32)]
    return {mode: write_tflite(root, f"resize_{mode}", model, None if mode == "float" else calib, mode=mode)
            for mode in ("int8", "int16x8", "float")}


@pytest.mark.parametrize("mode", ["int8", "int16x8", "float"])
def test_keras(keras_tflite, mode):
    path = keras_tflite[mode]
    assert sorted(op_kinds(path)) == ["RESIZE_BILINEAR", "RESIZE_BILINEAR", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"]
    r = verify_tflite(path, samples=10)
    assert r.bit_exact and r.max_abs_diff == 0, r.summary()


def test_keras_random_quantization(keras_tflite, tmp_path):
    """Random output scales and zero points on the int8 model: TFLite copies raw values, so does tinyq."""
    for seed in range(2):
        r = verify_tflite(requantize(keras_tflite["int8"], tmp_path / f"rq{seed}.tflite", seed), samples=4)
        assert r.bit_exact, r.summary()


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
def test_qemu_m4(keras_tflite, mode):
    r = verify_on_board(keras_tflite[mode], "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


@pytest.mark.parametrize(("kind", "dtype"), [
    ("RESIZE_BILINEAR", "int8"),
    pytest.param("RESIZE_BILINEAR", "int16", marks=pytest.mark.slow),  # 15-30 s each: the output over the serial line
    pytest.param("RESIZE_BILINEAR", "float32", marks=pytest.mark.slow),
    pytest.param("RESIZE_NEAREST_NEIGHBOR", "int16", marks=pytest.mark.slow),
])
def test_sweep_qemu_m4(tmp_path, kind, dtype):
    """The hand-built sweeps on a Cortex-M4F, every flag pair, on the geometries with small outputs and 1-5
    channels (the serial protocol carries a few kilobytes of output quickly; the host sweeps run them all).
    float32 is bit-exact there too: the FPU rounds as the host does, with contraction off."""
    net = sweep_net(kind, dtype, GEOMETRY[:-2], range(1, 6))
    r = verify_on_board(net.write(tmp_path / "sweep.tflite"), "qemu-m4", samples=2)
    assert r.bit_exact and r.max_abs_diff == 0, f"{r.summary()} ({net.labels[r.first.output] if r.first else ''})"
