"""ADD and MUL (int8, broadcasting): bit-exact against TFLite's reference kernels."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Quant, Tensor
from tinyq.ops import REGISTRY
from tinyq.ops.elementwise import broadcast_shape

keras = pytest.importorskip("keras")
L = keras.layers


def convert(model, shapes, tmp_path, name, seed=0):
    from tinyq.quant.convert import convert_keras

    rng = np.random.default_rng(seed)
    calib = [rng.uniform(-2.0, 2.0, size=(16, *s)).astype(np.float32) for s in shapes]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(convert_keras(model, calib, float_io=False))
    return path


def verify(path):
    """Both kernel sets: the reference loops and the fast kernels (their portable C on the host)."""
    from tinyq.checks.verify import verify_tflite

    for kernels in ("ref", "fast"):
        r = verify_tflite(path, samples=20, kernels=kernels)
        assert r.bit_exact, f"{kernels}: {r.summary()}"
    return r


def kinds(path):
    from tinyq.compiler.importer import import_model

    return [op.kind for op in import_model(path).ops]


def requantize(path, out, seed, activations=(0, 1, 2, 3), same=False):
    """Rewrite `path` with random activation scales / zero points (one for all if `same`) and fused activations."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    m = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    sg = m.subgraphs[0]
    shared = (float(np.float32(10 ** rng.uniform(-3.0, 0.5))), int(rng.integers(-128, 128)))
    for t in sg.tensors:
        q = t.quantization
        is_const = m.buffers[t.buffer].data is not None
        if t.type == schema.TensorType.INT8 and q is not None and q.scale is not None and len(q.scale) == 1 and not is_const:
            scale, zp = shared if same else (float(np.float32(10 ** rng.uniform(-3.0, 0.5))), int(rng.integers(-128, 128)))
            q.scale, q.zeroPoint = [scale], [zp]
    for op in sg.operators:
        o = op.builtinOptions
        if o is not None and hasattr(o, "fusedActivationFunction"):
            o.fusedActivationFunction = int(rng.choice(activations))
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out.write_bytes(b.Output())
    return out


def test_add_branches_with_different_scales(tmp_path):
    # x * 2.5 has another scale than x; x + mean(x) broadcasts [1,4,4,8] + [1,1,1,8].
    x = keras.Input((4, 4, 8))
    a = L.Add()([x, L.Rescaling(2.5)(x)])
    b = L.Add()([x, L.GlobalAveragePooling2D(keepdims=True)(x)])
    path = convert(keras.Model(x, [a, b]), [(4, 4, 8)], tmp_path, "add_branches")
    assert kinds(path).count("ADD") == 2
    verify(path)


def test_add_two_inputs_and_broadcast(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 8))
    c = keras.Input((4, 4, 1))
    outs = [L.Add()([x, y]), L.Add()([c, x]), L.ReLU()(L.Add()([x, y]))]
    path = convert(keras.Model([x, y, c], outs), [(4, 4, 8)] * 2 + [(4, 4, 1)], tmp_path, "add_inputs", seed=1)
    verify(path)


def test_add_and_mul_constant_operand(tmp_path):
    x = keras.Input((3, 5, 6))
    k = np.linspace(-3.0, 3.0, 6).astype(np.float32)
    path = convert(keras.Model(x, [x + k, x * k]), [(3, 5, 6)], tmp_path, "const")
    assert sorted(kinds(path)) == ["ADD", "MUL"]
    verify(path)


def test_multiply_and_broadcast(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 8))
    gate = keras.ops.mean(x, axis=-1, keepdims=True)  # [1,4,4,1]
    outs = [
        L.Multiply()([x, y]),
        L.Multiply()([x, gate]),
        L.Multiply()([x, L.GlobalAveragePooling2D(keepdims=True)(y)]),  # [1,1,1,8]
    ]
    path = convert(keras.Model([x, y], outs), [(4, 4, 8)] * 2, tmp_path, "mul")
    assert kinds(path).count("MUL") == 3
    verify(path)


def test_add_mul_fused_activation_and_any_quantization(tmp_path):
    x = keras.Input((4, 4, 8))
    y = keras.Input((4, 4, 1))
    outs = [L.Add()([x, y]), L.Multiply()([x, y]), L.Add()([x, x * 0.5]), L.Multiply()([x, x])]
    base = convert(keras.Model([x, y], outs), [(4, 4, 8), (4, 4, 1)], tmp_path, "addmul_q")
    assert sorted(kinds(base)) == ["ADD", "ADD", "MUL", "MUL", "MUL"]  # x * 0.5: scalar operand
    for seed in range(4):
        verify(requantize(base, tmp_path / f"addmul_q{seed}.tflite", seed))


# --------------------------------------------------------------------------- lowering details


def _binary_graph(kind, a_shape, b_shape, y_shape, out_scale=0.1):
    q = Quant(scale=(0.1,), zero_point=(3,))
    ts = [
        Tensor(0, "a", a_shape, "int8", q),
        Tensor(1, "b", b_shape, "int8", q),
        Tensor(2, "y", y_shape, "int8", Quant(scale=(out_scale,), zero_point=(-1,))),
    ]
    return Graph(tensors=ts, ops=[Op(0, kind, [0, 1], [2], None)], inputs=[0, 1], outputs=[2])


def test_broadcast_strides():
    g = _binary_graph("ADD", (1, 4, 4, 8), (8,), (1, 4, 4, 8))
    s = broadcast_shape(g, g.ops[0])
    assert s["broadcast"] == 1 and s["out"] == {"n": 1, "h": 4, "w": 4, "c": 8}
    assert s["in1_stride"] == {"n": 0, "h": 32, "w": 8, "c": 1}
    assert s["in2_stride"] == {"n": 0, "h": 0, "w": 0, "c": 1}
    g = _binary_graph("MUL", (1, 4, 4, 8), (1, 4, 4, 1), (1, 4, 4, 8))
    assert broadcast_shape(g, g.ops[0])["in2_stride"] == {"n": 0, "h": 4, "w": 1, "c": 0}
    g = _binary_graph("MUL", (2, 3), (2, 3), (2, 3))
    s = broadcast_shape(g, g.ops[0])
    assert s["broadcast"] == 0 and s["size"] == 6


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
def test_rejects_rank_above_four(kind):
    g = _binary_graph(kind, (1, 2, 2, 2, 2), (1, 2, 2, 2, 2), (1, 2, 2, 2, 2))
    with pytest.raises(UnsupportedModel, match="ranks up to 4"):
        REGISTRY[kind].check(g, g.ops[0])


def test_rejects_bad_broadcast():
    g = _binary_graph("ADD", (1, 4, 3), (1, 4, 2), (1, 4, 3))
    with pytest.raises(UnsupportedModel, match="do not broadcast"):
        REGISTRY["ADD"].check(g, g.ops[0])


def test_add_rejects_output_rescale_above_one():
    g = _binary_graph("ADD", (1, 4), (1, 4), (1, 4), out_scale=1e-9)
    with pytest.raises(UnsupportedModel, match="too small"):
        REGISTRY["ADD"].check(g, g.ops[0])
