"""ARG_MAX, ARG_MIN, L2_NORMALIZATION and BATCH_MATMUL: generated C bit-exact with TFLite's reference
interpreter (arg_min_max.cc, l2norm.cc and batch_matmul.cc with the BUILTIN_REF kernels).

Sweeps are hand-built models (the flatbuffer schema), many cases to a model so that one C build checks them
all: ARG_MAX / ARG_MIN over every axis of ranks 1 to 5, counted from either end, int32 and int64 indices,
fed inputs drawn from a few values (ties everywhere, constant rows among them); L2_NORMALIZATION over
depths 1 to 9000 (the inverse square root's every range) with all-zero vectors, single-step vectors and
extremes; BATCH_MATMUL with broadcast batch dims, adj_x / adj_y, depths 1 to 33, a constant or computed
RHS (and a constant LHS), random per-tensor quantization. Keras models show what the converter emits
(tf.math.argmax / argmin, tf.math.l2_normalize, keras.ops.matmul of two activations, a Dense on a rank-3
input, a small MultiHeadAttention) in int8, int16x8 and float32. A few models run on a Cortex-M4 under
QEMU. int16 ARG_MAX / ARG_MIN / L2_NORMALIZATION are refused by name: TFLite's own Prepare rejects them.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler.importer import import_model
from tinyq.compiler.passes import compile_graph
from tinyq.errors import UnsupportedModel

from .helpers import (
    ACTIVATION_QUANT,
    BOTH_KERNELS,
    assert_pedantic_c99,
    op_kinds,
    options,
    randomize_weights,
    ref_interpreter,
    write_tflite,
)
from .helpers import (
    Net as NetBase,
)

schema = pytest.importorskip("ai_edge_litert.schema_py_generated")

QUANT = ACTIVATION_QUANT  # default activation quantization by type


# --------------------------------------------------------------------------- hand-built models


class Net(NetBase):
    """Every op output a graph output unless said otherwise; a tensor's default quantization is its own type's."""

    def __init__(self, dtype: str):
        super().__init__(dtype, QUANT, quant_of_tensor_type=True)

    def op(self, kind: str, ins, out_shape, options=None, dtype=None, q="net", graph_output: bool = True) -> int:
        out = self.tensor(out_shape, dtype, q)
        self.add_op(kind, ins, [out], options)
        if graph_output:
            self.outputs.append(out)
        return out

def _exact(path, samples: int = 6, kernels: str = "ref", **kw):
    """verify_tflite with the reference kernels (or `kernels`): every output bit for bit (float32 ones too, on the host)."""
    r = verify_tflite(path, samples=samples, kernels=kernels, **kw)
    assert r.bit_exact, r.summary()
    return r


# --------------------------------------------------------------------------- ARG_MAX, ARG_MIN

# Shapes of every rank 1..5, size-1 axes among them; each is a RESHAPE of one flat graph input (batch 1,
# so an .npz of samples feeds it).
ARG_SHAPES = [(7,), (4, 5), (3, 1, 6), (2, 3, 4, 5), (2, 1, 3, 2, 4)]


def _arg_net(dtype: str) -> tuple[Net, int]:
    """Every axis of every ARG_SHAPES shape, counted from the start and from the end, ARG_MAX and ARG_MIN,
    int32 and int64 indices and int32 / int64 axis tensors in turn. Returns the net and the input size."""
    net = Net(dtype)
    size = max(int(np.prod(s)) for s in ARG_SHAPES)
    x = net.input((1, size))
    k = 0
    for shape in ARG_SHAPES:
        n = int(np.prod(shape))
        flat = x
        if n != size:
            flat = net.op("SLICE", [x, net.const([0, 0]), net.const([1, n])], (1, n), graph_output=False)
        t = net.op("RESHAPE", [flat, net.const(list(shape))], shape, options("ReshapeOptionsT", newShape=list(shape)),
                   graph_output=False)
        rank = len(shape)
        for axis in [*range(rank), *range(-rank, 0)]:
            for kind in ("ARG_MAX", "ARG_MIN"):
                index = ("int32", "int64")[k % 2]
                axis_t = net.const([axis], dtype=("int32", "int64")[(k // 2) % 2])
                out_shape = tuple(d for i, d in enumerate(shape) if i != axis % rank)
                cls = "ArgMaxOptionsT" if kind == "ARG_MAX" else "ArgMinOptionsT"
                net.op(kind, [t, axis_t], out_shape, options(cls, outputType=getattr(schema.TensorType, index.upper())),
                       dtype=index, q=None)
                k += 1
    return net, size


def _tie_inputs(path, dtype: str, size: int, samples: int, seed: int):
    """Inputs drawn from three values (ties in almost every row), then rows of one constant value and of
    the type's extremes."""
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        x = rng.choice(np.float32([-1.5, 0.25, 2.0]), size=(samples, size))
        x = np.concatenate([x, np.full((1, size), 0.5, np.float32), rng.normal(size=(2, size)).astype(np.float32)])
    else:
        lo, hi = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
        x = rng.integers(-1, 2, size=(samples, size)).astype(dtype)
        x = np.concatenate([x, rng.choice(np.array([lo, hi], dtype), size=(2, size)), np.full((1, size), 7, dtype)])
    np.save(path, x)
    return path


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_arg_minmax_sweep(tmp_path, dtype):
    net, size = _arg_net(dtype)
    path = net.write(tmp_path / f"arg_{dtype}.tflite")
    g = import_model(path)
    assert {g.tensor(i).dtype for i in g.outputs} == {"int32", "int64"}
    _exact(path, inputs=_tie_inputs(tmp_path / "ties.npy", dtype, size, samples=12, seed=1))
    _exact(path, samples=4)  # full-range random values, and the all-min / all-max / zero-point edges


def test_arg_max_nan_stays_first(tmp_path):
    """std::greater: a NaN never replaces the best, and a leading NaN stays (TFLite's answer, not numpy's)."""
    net = Net("float32")
    x = net.input((1, 4))
    for kind in ("ARG_MAX", "ARG_MIN"):
        cls = "ArgMaxOptionsT" if kind == "ARG_MAX" else "ArgMinOptionsT"
        net.op(kind, [x, net.const([1])], (1,), options(cls, outputType=schema.TensorType.INT32), dtype="int32", q=None)
    path = net.write(tmp_path / "nan.tflite")
    rows = np.float32([[np.nan, 1, 2, np.nan], [1, np.nan, 0, np.nan], [3, 3, np.nan, 3], [np.nan] * 4])
    np.save(tmp_path / "nan.npy", rows)
    it = ref_interpreter(path)
    it.set_tensor(it.get_input_details()[0]["index"], rows[:1])
    it.invoke()
    # Both stay on the leading NaN (a NaN-aware comparison, as newer TFLite sources have, would give ARG_MAX 2).
    assert [int(it.get_tensor(d["index"])[0]) for d in it.get_output_details()] == [0, 0]
    _exact(path, inputs=tmp_path / "nan.npy")


# --------------------------------------------------------------------------- L2_NORMALIZATION

L2_DEPTHS = [1, 2, 3, 5, 8, 16, 33, 64, 100, 9000]  # 9000 * 255^2 > 2^29: the inverse square root's halving loop


def _l2_inputs(path_stem, dtype: str, zps, samples: int, seed: int) -> list:
    """Per depth, samples of six vectors: all zero point (an all-zero vector), one step from it (sum of
    squares 1), steps of one in a few places (2, 3, ...), small values around the zero point, the full
    range, and the extremes."""
    rng = np.random.default_rng(seed)
    arrays = []
    for depth, zp in zip(L2_DEPTHS, zps):
        if dtype == "float32":
            a = rng.normal(0.0, 2.0, size=(samples, 6, depth)).astype(np.float32)
            a[:, 0] = 0.0
            a[:, 1] = 0.0
            a[:, 1, 0] = 1e-7  # below epsilon: divided by 1e-6
            a[:, 2] *= 1e-4
            a[:, 3] = rng.integers(-2, 3, size=(samples, depth))
        else:
            a = np.empty((samples, 6, depth), dtype=np.int64)
            a[:, 0] = zp
            a[:, 1] = zp
            a[:, 1, rng.integers(0, depth)] = zp + rng.choice([-1, 1])
            a[:, 2] = zp + (rng.random((samples, depth)) < 3.0 / depth) * rng.choice([-1, 1], size=(samples, depth))
            a[:, 3] = zp + rng.integers(-2, 3, size=(samples, depth))
            a[:, 4] = rng.integers(-128, 128, size=(samples, depth))
            a[:, 5] = rng.choice([-128, 127], size=(samples, depth))
            a = np.clip(a, -128, 127).astype(np.int8)
        arrays.append(a)
    path = path_stem.with_suffix(".npz")
    np.savez(path, **{f"x{i}": a for i, a in enumerate(arrays)})
    return path


def _l2_net(dtype: str, seed: int) -> tuple[Net, list[int]]:
    """One L2_NORMALIZATION of six vectors per depth of L2_DEPTHS (int8: random input scale and zero
    point); returns the net and the input zero points."""
    rng = np.random.default_rng(seed)
    net = Net(dtype)
    zps = [int(z) for z in rng.integers(-128, 128, size=len(L2_DEPTHS))] if dtype == "int8" else [0] * len(L2_DEPTHS)
    for depth, zp in zip(L2_DEPTHS, zps):
        q_in = (float(np.float32(10 ** rng.uniform(-3, 0))), zp) if dtype == "int8" else None
        x = net.input((1, 6, depth), q=q_in)
        net.op("L2_NORMALIZATION", [x], (1, 6, depth), options("L2NormOptionsT"), q=(1.0 / 128.0, 0) if dtype == "int8" else None)
    return net, zps


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_l2_normalization_sweep(tmp_path, dtype):
    net, zps = _l2_net(dtype, seed=3)
    path = net.write(tmp_path / f"l2_{dtype}.tflite")
    _exact(path, inputs=_l2_inputs(tmp_path / "l2", dtype, zps, samples=8, seed=4))
    _exact(path, samples=3)


def test_l2_normalization_every_rank(tmp_path):
    net = Net("int8")
    for shape in [(9,), (3, 4), (2, 3, 5), (2, 2, 3, 4)]:
        x = net.input(shape, q=(0.03, 5))
        net.op("L2_NORMALIZATION", [x], shape, options("L2NormOptionsT"), q=(1.0 / 128.0, 0))
    _exact(net.write(tmp_path / "l2_ranks.tflite"), samples=10)


# --------------------------------------------------------------------------- BATCH_MATMUL

# (LHS shape, RHS shape, adj_x, adj_y, which operand is constant: None, "rhs" or "lhs")
BMM_CASES = [
    ((2, 3), (3, 4), False, False, None),
    ((1, 1), (1, 1), False, False, None),                    # depth 1
    ((2, 4, 1), (2, 1, 5), False, False, "rhs"),             # depth 1, constant RHS
    ((3, 2, 7), (3, 7, 2), False, False, None),
    ((2, 3, 5, 6), (2, 1, 6, 4), False, False, None),        # RHS [.., 1, X, Y]: TFLite's shape compression
    ((2, 3, 6, 5), (2, 1, 6, 4), True, False, None),         # the same under adj_x
    ((1, 3, 4, 16), (2, 1, 16, 3), False, False, None),      # both broadcast
    ((4, 16), (2, 3, 16, 5), False, False, "rhs"),           # rank 2 against rank 4
    ((2, 3, 8, 5), (5, 8), True, True, "rhs"),
    ((3, 4, 33), (3, 6, 33), False, True, None),             # depth 33
    ((33, 3), (33, 2), True, False, "rhs"),
    ((2, 1, 2, 3, 9), (1, 2, 1, 9, 4), False, False, None),  # rank 5, three batch dims
    ((2, 5, 3), (2, 5, 2), True, False, "lhs"),              # a constant LHS
    ((2, 2, 13), (1, 7, 13), False, True, "rhs"),
]


def _bmm_operand(net: Net, rng, shape, q, is_const: bool) -> int:
    """A graph input, or a constant of random values over the type's range ([-2, 2) for float32)."""
    if not is_const:
        return net.input(shape, q=q)
    dtype = net.dtype
    if dtype == "float32":
        data = rng.uniform(-2.0, 2.0, shape)
    else:
        data = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, shape)
    return net.const(data.astype(dtype), dtype=dtype, q=q)


def _bmm_net(dtype: str, seed: int) -> Net:
    rng = np.random.default_rng(seed)
    net = Net(dtype)
    for ls, rs, adj_x, adj_y, const in BMM_CASES:
        k = ls[-2] if adj_x else ls[-1]
        batch = np.broadcast_shapes(ls[:-2], rs[:-2])
        out_shape = (*batch, ls[-1] if adj_x else ls[-2], rs[-2] if adj_y else rs[-1])
        if dtype == "float32":
            qs = [None] * 3
        else:
            # Output scale near what random full-range operands need, times 2^[-3, 3]; K = 1 cases above 1.
            bits = {"int8": 7, "int16": 15}[dtype]
            s_l, s_r = (float(np.float32(10 ** rng.uniform(-3, -1))) for _ in range(2))
            real = 2.0 ** (rng.uniform(-3, 3) - bits) / np.sqrt(k) if k > 1 else 2.0 ** rng.uniform(0.5, 2)
            s_o = float(np.float32(s_l * s_r / real))
            zps = [int(z) for z in rng.integers(-128, 128, 3)] if dtype == "int8" else [0, 0, 0]
            qs = list(zip([s_l, s_r, s_o], zps))
        a = _bmm_operand(net, rng, ls, qs[0], const == "lhs")
        b = _bmm_operand(net, rng, rs, qs[1], const == "rhs")
        net.op("BATCH_MATMUL", [a, b], out_shape, options("BatchMatMulOptionsT", adjX=adj_x, adjY=adj_y), q=qs[2])
    return net


@pytest.mark.parametrize("dtype,kernels", [("int8", "ref"), ("int8", "fast"), ("int16", "ref"), ("float32", "ref")])
def test_batch_matmul_sweep(tmp_path, dtype, kernels):
    """Every case above; int8 also with the fast twin (tq_batch_matmul_fast_s8: dot products, zero points from
    row and column sums, RHS and adj_x LHS made contiguous in scratch)."""
    for seed in range(2 if dtype == "float32" else 3):
        _exact(_bmm_net(dtype, seed).write(tmp_path / f"bmm_{dtype}_{seed}.tflite"), samples=4, kernels=kernels)


@pytest.mark.parametrize("dtype,kernels", [("int8", "ref"), ("int8", "fast"), ("int16", "ref")])
def test_batch_matmul_scale_product_in_float32(tmp_path, dtype, kernels):
    """LHS scale 0.05 times RHS scale 0.04 over output scale 0.512 is 2^-8 in float32 (the interpreter's
    product) but just below it in double: the multiplier (2^30, shift -7) against (2147483530, -8) moves
    products on rounding ties by one."""
    f = np.float32
    zp = (-4, 7, 2) if dtype == "int8" else (0, 0, 0)
    net = Net(dtype)
    a = net.input((4, 16, 32), q=(float(f(0.05)), zp[0]))
    b = net.input((4, 32, 16), q=(float(f(0.04)), zp[1]))
    net.op("BATCH_MATMUL", [a, b], (4, 16, 16), options("BatchMatMulOptionsT"), q=(float(f(0.512)), zp[2]))
    _exact(net.write(tmp_path / "bmm_pow2.tflite"), samples=12, kernels=kernels)


def test_batch_matmul_geometry():
    from tinyq.ir import Graph, Op, Quant, Tensor
    from tinyq.ops.conv import _bmm_geometry

    q = Quant((0.1,), (0,))
    ts = [Tensor(0, "a", (2, 3, 6, 5), "int8", q), Tensor(1, "b", (6, 4), "int8", q), Tensor(2, "y", (2, 3, 5, 4), "int8", q)]
    g = Graph(tensors=ts, ops=[], inputs=[0, 1], outputs=[2])
    _, _, _, p = _bmm_geometry(g, Op(0, "BATCH_MATMUL", [0, 1], [2], options("BatchMatMulOptionsT", adjX=True)))
    assert p["batch"] == (1, 2, 3) and (p["rows"], p["cols"], p["depth"]) == (5, 4, 6)
    assert p["lhs_batch_stride"] == (0, 90, 30) and p["rhs_batch_stride"] == (0, 0, 0)
    assert (p["lhs_row_stride"], p["lhs_depth_stride"], p["rhs_depth_stride"], p["rhs_col_stride"]) == (1, 5, 4, 1)


# --------------------------------------------------------------------------- refusals


def _compile(path):
    return compile_graph(import_model(path))


def _refused(path, *words):
    with pytest.raises(UnsupportedModel) as e:
        _compile(path)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_int16_arg_and_l2_are_refused_by_name(tmp_path):
    for kind in ("ARG_MAX", "ARG_MIN"):
        net = Net("int16")
        cls = "ArgMaxOptionsT" if kind == "ARG_MAX" else "ArgMinOptionsT"
        net.op(kind, [net.input((2, 5)), net.const([1])], (2,), options(cls, outputType=schema.TensorType.INT32), dtype="int32", q=None)
        path = net.write(tmp_path / f"{kind}.tflite")
        with pytest.raises((ValueError, RuntimeError), match="(?i)input type"):  # the reference's own Prepare
            ref_interpreter(path)
        _refused(path, f"int16 {kind} is not supported", "arg_min_max.cc")
    net = Net("int16")
    net.op("L2_NORMALIZATION", [net.input((2, 5))], (2, 5), options("L2NormOptionsT"), q=(1 / 128, 0))
    _refused(net.write(tmp_path / "l2.tflite"), "int16 L2_NORMALIZATION is not supported", "l2norm.cc")


def test_what_prepare_refuses_is_refused(tmp_path):
    # L2_NORMALIZATION int8 with another output quantization than 1/128, 0.
    net = Net("int8")
    net.op("L2_NORMALIZATION", [net.input((2, 5))], (2, 5), options("L2NormOptionsT"), q=(1 / 64, 0))
    _refused(net.write(tmp_path / "l2q.tflite"), "1/128")
    # ARG_MAX with a computed axis.
    net = Net("int8")
    x, ax = net.input((2, 5)), net.input((1,), q=None)
    net.tensors[ax].type = schema.TensorType.INT32
    net.op("ARG_MAX", [x, ax], (2,), options("ArgMaxOptionsT", outputType=schema.TensorType.INT32), dtype="int32", q=None)
    _refused(net.write(tmp_path / "axis.tflite"), "constant axis")
    # BATCH_MATMUL with a per-channel RHS, and with an int32 output.
    net = Net("int8")
    b = net.const(np.ones((3, 4), np.int8), dtype="int8", q=(0.1, 0))
    qp = net.tensors[b].quantization
    qp.scale, qp.zeroPoint, qp.quantizedDimension = [0.1] * 4, [0] * 4, 1
    net.op("BATCH_MATMUL", [net.input((2, 3)), b], (2, 4), options("BatchMatMulOptionsT"))
    _refused(net.write(tmp_path / "pc.tflite"), "per channel")
    net = Net("int8")
    net.op("BATCH_MATMUL", [net.input((2, 3)), net.input((3, 4))], (2, 4), options("BatchMatMulOptionsT"), dtype="int32", q=None)
    _refused(net.write(tmp_path / "i32.tflite"), "int32")


# --------------------------------------------------------------------------- Keras models


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    """Keras models converted once per module, by (name, mode): the .tflite path, or None where the
    converter refuses the mode (its own message is what tinyq convert reports)."""
    import keras
    import tensorflow as tf

    L = keras.layers
    tmp = tmp_path_factory.mktemp("keras")
    rng = np.random.default_rng(0)

    def arg():
        x = keras.Input((4, 6))
        h = L.Dense(5)(x)  # a rank-3 Dense: FULLY_CONNECTED keeping its dims
        return keras.Model(x, [L.Lambda(lambda t: tf.math.argmax(t, axis=-1))(h),  # int64 indices
                               L.Lambda(lambda t: tf.math.argmin(t, axis=1, output_type=tf.int32))(h)]), [(4, 6)]

    def l2():
        x = keras.Input((5, 8))
        return keras.Model(x, L.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(L.Dense(8)(x))), [(5, 8)]

    def matmul():
        a, b = keras.Input((3, 4, 5)), keras.Input((3, 6, 5))
        ab = keras.ops.matmul(a, keras.ops.transpose(b, (0, 1, 3, 2)))  # the converter folds the transpose into adj_y
        dense = keras.ops.matmul(L.Dense(6)(a), L.Dense(4)(b))  # Dense on rank-4 inputs: FULLY_CONNECTED
        return keras.Model([a, b], [ab, dense]), [(3, 4, 5), (3, 6, 5)]

    def mha():
        q = keras.Input((6, 8))
        return keras.Model(q, L.MultiHeadAttention(num_heads=2, key_dim=4)(q, q)), [(6, 8)]

    out = {}
    for name, make in (("arg", arg), ("l2", l2), ("matmul", matmul), ("mha", mha)):
        model, shapes = make()
        randomize_weights(model, rng)
        for mode in ("int8", "int16x8", "float"):
            calib = [rng.uniform(-2.0, 2.0, (16, *s)).astype(np.float32) for s in shapes] if mode != "float" else None
            try:
                out[name, mode] = write_tflite(tmp, f"{name}_{mode}", model, calib, mode=mode)
            except UnsupportedModel:
                out[name, mode] = None
    return out


# What the converter emits, by (model, mode); None: TensorFlow cannot quantize that op to 16x8.
MHA_OPS = ["FULLY_CONNECTED", "RESHAPE", "FULLY_CONNECTED", "RESHAPE", "TRANSPOSE", "TRANSPOSE", "BATCH_MATMUL", "MUL",
           "SOFTMAX", "FULLY_CONNECTED", "RESHAPE", "TRANSPOSE", "BATCH_MATMUL", "TRANSPOSE", "RESHAPE", "FULLY_CONNECTED"]
EMITS = {
    ("arg", "int8"): {"FULLY_CONNECTED", "ARG_MAX", "ARG_MIN"},
    ("arg", "int16x8"): None,
    ("arg", "float"): {"FULLY_CONNECTED", "ARG_MAX", "ARG_MIN"},
    ("l2", "int8"): {"FULLY_CONNECTED", "L2_NORMALIZATION"},
    ("l2", "int16x8"): None,
    ("l2", "float"): {"FULLY_CONNECTED", "L2_NORMALIZATION"},
    ("mha", "int8"): MHA_OPS,
    ("mha", "int16x8"): MHA_OPS,
    ("mha", "float"): MHA_OPS,
}


@pytest.mark.parametrize("name", ["arg", "l2", "matmul", "mha"])
@pytest.mark.parametrize("mode", ["int8", "int16x8", "float"])
def test_keras(keras_models, name, mode):
    path = keras_models[name, mode]
    want = EMITS.get((name, mode), "any")
    if want is None:
        assert path is None  # TensorFlow: "Quantization to 16x8-bit not yet supported for op"
        return
    assert path is not None
    kinds = op_kinds(path)
    if isinstance(want, list):
        assert kinds == want
    elif isinstance(want, set):
        assert set(kinds) == want
    else:
        assert kinds.count("BATCH_MATMUL") == 2 and "TRANSPOSE" not in kinds, kinds
    if name == "arg":
        g = import_model(path)
        assert [g.tensor(i).dtype for i in g.outputs] == ["int64", "int32"]
    for kernels in BOTH_KERNELS:  # the layers around (FULLY_CONNECTED, SOFTMAX, ...) have fast twins
        r = verify_tflite(path, samples=8, kernels=kernels)
        assert r.bit_exact, f"{kernels}: {r.summary()}"


# --------------------------------------------------------------------------- generated C, boards


@pytest.mark.parametrize("compiler", ["cc", "arm-none-eabi-gcc"])
def test_generated_c_is_pedantic_c99(tmp_path, compiler):
    """Every kernel of this file and its calls (void * index outputs, int64 outputs) compile with -std=c99
    -pedantic -Wall -Wextra -Werror on the host and for a Cortex-M4."""
    nets = {"arg8": _arg_net("int8")[0], "argf": _arg_net("float32")[0], "l2_8": _l2_net("int8", 0)[0], "l2_f": _l2_net("float32", 0)[0]}
    nets.update({f"bmm_{d}": _bmm_net(d, 0) for d in ("int8", "int16", "float32")})
    assert_pedantic_c99(tmp_path, compiler, nets)


def test_qemu_m4_int8(tmp_path):
    """ARG_MAX / ARG_MIN (int32 and int64 outputs), L2_NORMALIZATION and BATCH_MATMUL, int8, on a Cortex-M4."""
    net, size = _arg_net("int8")
    path = net.write(tmp_path / "arg.tflite")
    r = verify_on_board(path, "qemu-m4", samples=2, inputs=_tie_inputs(tmp_path / "ties.npy", "int8", size, samples=3, seed=2))
    assert r.bit_exact, r.summary()
    net = _bmm_net("int8", 1)
    for depth in (1, 8, 300):  # (the serial link carries every byte: the 9000-deep sweep stays on the host)
        net.op("L2_NORMALIZATION", [net.input((1, 3, depth), q=(0.02, -7))], (1, 3, depth), options("L2NormOptionsT"),
               q=(1.0 / 128.0, 0))
    r = verify_on_board(net.write(tmp_path / "bmm_l2.tflite"), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()


@pytest.mark.slow
def test_qemu_m4_int16_and_mha(tmp_path, keras_models):
    """int16 BATCH_MATMUL (int64 sums) and the int8 MultiHeadAttention on a Cortex-M4."""
    r = verify_on_board(_bmm_net("int16", 2).write(tmp_path / "bmm16.tflite"), "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
    r = verify_on_board(keras_models["mha", "int8"], "qemu-m4", samples=3)
    assert r.bit_exact, r.summary()
