"""Packed low-bit weights (tinyq.compiler.packing, tinyq.ops.packed, firmware/kernels/include/tq_packed.h):
CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED whose weights are INT4 tensors (TFLite's packing) or
palettized int8 ones (1, 2 or 4 bits, a codebook per layer or per output channel), bit-exact with TFLite's
reference interpreter on the host, qemu-m4 and qemu-m0.

The models are written once per module with the flatbuffer schema (tinyq.checks.synth's Net): each layer
of a sweep side by side, reading the model input of its shape and writing an output of its own; its weights
drawn from a palette of 2^b int8 values (per layer or per channel), or INT4 values written as an INT4
tensor (dense, two a byte, low nibble first); the "tinyq.weights" metadata names the palettized ones. A
palettized model is plain int8 to the reference: its weights ARE the expanded codebook.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tinyq.build.host import HostModel
from tinyq.checks.inputs import make_inputs
from tinyq.checks.match import Tally, output_tolerance
from tinyq.checks.runners import HostRunner, ReferenceRunner, run_and_compare
from tinyq.checks.synth import Net, options
from tinyq.checks.verify import verify_on_board, verify_tflite
from tinyq.compiler import generate_library, target_for
from tinyq.compiler.importer import import_model
from tinyq.errors import BadInput
from tinyq.ops.packed import pack_rows, unpack_rows, weight_rows

PACKED = ("tq_conv_packed_s8", "tq_depthwise_packed_s8", "tq_fully_connected_packed_s8")
# (bits, codebook) cycled over the sweep; "int4": an INT4 tensor (linear 4-bit, per-channel scales)
SCHEMES = ((1, "layer"), (2, "channel"), (4, "int4"), (2, "layer"), (1, "channel"), (4, "channel"), (4, "layer"))

FC = [dict(kind="FULLY_CONNECTED", depth=d, units=u) for d, u in
      ((1, 1), (7, 3), (8, 8), (33, 17), (16, 5), (9, 2), (64, 10), (3, 4))]
# per-tensor weights with a zero point (the reference FullyConnected's weights offset), palettized
FC_ZP = [dict(kind="FULLY_CONNECTED", depth=d, units=u, w_zp=z) for d, u, z in ((13, 6, 5), (8, 3, -9))]
CONV = [dict(kind="CONV_2D", hw=hw, c=c, oc=oc, k=k, stride=s, padding=p, dil=dl) for hw, c, oc, k, s, p, dl in (
    (5, 3, 8, 1, 1, "same", 1), (6, 1, 3, 3, 1, "same", 1), (7, 8, 17, 3, 2, "valid", 1), (7, 17, 3, 5, 1, "same", 1),
    (8, 3, 8, 5, 2, "valid", 1), (7, 8, 1, 3, 1, "same", 2), (6, 17, 8, 1, 2, "valid", 1), (6, 3, 17, 3, 2, "same", 1))]
DW = [dict(kind="DEPTHWISE_CONV_2D", hw=hw, c=c, dm=dm, k=k, stride=s, padding=p, dil=dl) for hw, c, dm, k, s, p, dl in (
    (6, 8, 1, 3, 1, "same", 1), (7, 3, 2, 3, 2, "valid", 1), (6, 17, 1, 5, 1, "same", 1), (7, 1, 2, 3, 1, "same", 2),
    (6, 8, 2, 1, 1, "valid", 1), (8, 17, 1, 3, 2, "same", 1))]


# --------------------------------------------------------------------------- writing the models


def int4_bytes(values: np.ndarray) -> list[int]:
    """TFLite's INT4 buffer: the tensor's values densely, element 2k in the low nibble of byte k."""
    flat = values.reshape(-1).astype(np.int16) & 0xF
    if flat.size % 2:
        flat = np.append(flat, 0)
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tolist()


def palette_weights(rng, shape, axis: int, bits: int, codebook: str) -> np.ndarray:
    """int8 weights of `shape` taking at most 2^bits values per layer, or per channel along `axis` (channel
    palettes drawn apart, so the layer as a whole has more); int4: any value in [-8, 7]."""
    if codebook == "int4":
        w = rng.integers(-8, 8, shape)
        return w.astype(np.int8)
    n = 1 << bits
    moved = list(np.moveaxis(np.empty(shape), axis, 0).shape)
    if codebook == "layer":
        pal = np.sort(rng.choice(np.arange(-127, 128), n, replace=False))
        w = rng.choice(pal, moved)
    else:
        w = np.stack([rng.choice(np.sort(rng.choice(np.arange(-127, 128), n, replace=False)), moved[1:])
                      for _ in range(moved[0])])
    return np.moveaxis(w, 0, axis).astype(np.int8)


class Model:
    """A model of many layers side by side, written with the schema (see the module docstring)."""

    def __init__(self, seed: int):
        self.net = Net("int8")
        self.rng = np.random.default_rng(seed)
        self.inputs: dict[tuple, tuple[int, tuple[float, int]]] = {}
        self.hints: dict[str, dict] = {}
        self.layers: list[dict] = []

    def input(self, shape) -> tuple[int, tuple[float, int]]:
        if shape not in self.inputs:
            q = (float(np.float32(10 ** self.rng.uniform(-2.5, -1.0))), int(self.rng.integers(-100, 100)))
            self.inputs[shape] = (self.net.input(shape, "int8", q, name="x" + "x".join(map(str, shape[1:]))), q)
        return self.inputs[shape]

    def layer(self, spec: dict, bits: int, codebook: str, bias: bool = True, per_channel: bool = True) -> str:
        kind, rng, n = spec["kind"], self.rng, len(self.layers)
        name = f"L{n}_{kind.lower()}_{bits}{codebook[0]}"
        if kind == "FULLY_CONNECTED":
            x_shape, shape, axis, oc = (1, spec["depth"]), (spec["units"], spec["depth"]), 0, spec["units"]
        elif kind == "CONV_2D":
            x_shape = (1, spec["hw"], spec["hw"], spec["c"])
            shape, axis, oc = (spec["oc"], spec["k"], spec["k"], spec["c"]), 0, spec["oc"]
        else:
            oc = spec["c"] * spec["dm"]
            x_shape, shape, axis = (1, spec["hw"], spec["hw"], spec["c"]), (1, spec["k"], spec["k"], oc), 3
        x, in_q = self.input(x_shape)
        w = palette_weights(rng, shape, axis, bits, codebook)
        w_zp = int(spec.get("w_zp", 0))
        per_channel = per_channel and not w_zp
        scales = (10 ** rng.uniform(-2.5, -1.5, oc if per_channel else 1)).astype(np.float32)
        wq = (scales, [0] * oc, axis) if per_channel else (float(scales[0]), w_zp)
        wt = self.net.const(w, "int8", wq, name=f"{name}.weights")
        if codebook == "int4":
            t = self.net.tensors[wt]
            from ai_edge_litert import schema_py_generated as s

            t.type = s.TensorType.INT4
            self.net.m.buffers[t.buffer].data = int4_bytes(w)
        else:
            self.hints[f"{name}.weights"] = {"bits": bits, "codebook": codebook}
        # output quantization from the accumulator's reach over random inputs
        rows = weight_rows(kind, w).astype(np.float64) - w_zp
        acc_rms = np.sqrt((rows * rows).sum(axis=1)) * 70.0
        b_vals = np.round(rng.normal(0.0, 0.5, oc) * acc_rms).astype(np.int32)
        reach = float(((np.abs(b_vals) + 3.0 * acc_rms) * in_q[0] * np.broadcast_to(scales, (oc,))).max()) or 1.0
        out_q = (float(np.float32(2.0 * reach / 255.0)), int(rng.integers(-20, 21)))
        ins = [x, wt]
        if bias:
            bq = ((np.float32(in_q[0]) * np.broadcast_to(scales, (oc,))).astype(np.float32), [0] * oc, 0) if per_channel \
                else (float(np.float32(in_q[0]) * scales[0]), 0)
            ins.append(self.net.const(b_vals, "int32", bq, name=f"{name}.bias"))
        fused = int(rng.integers(0, 4))
        if kind == "FULLY_CONNECTED":
            y = self.net.tensor((1, oc), "int8", out_q, name=name)
            opts = options("FullyConnectedOptionsT", fusedActivationFunction=fused)
        else:
            k, s_, d = spec["k"], spec["stride"], spec["dil"]
            eff = (k - 1) * d + 1
            hw = spec["hw"]
            o = -(-hw // s_) if spec["padding"] == "same" else (hw - eff) // s_ + 1
            y = self.net.tensor((1, o, o, oc), "int8", out_q, name=name)
            common = dict(padding=0 if spec["padding"] == "same" else 1, strideH=s_, strideW=s_, dilationHFactor=d,
                          dilationWFactor=d, fusedActivationFunction=fused)
            if kind == "CONV_2D":
                opts = options("Conv2DOptionsT", **common)
            else:
                opts = options("DepthwiseConv2DOptionsT", depthMultiplier=spec["dm"], **common)
        self.net.add_op(kind, ins, [y], opts)
        self.net.outputs.append(y)
        self.layers.append({"name": name, "weights": w, "kind": kind, "bits": bits, "codebook": codebook})
        return name

    def write(self, path: Path, metadata: bool = True) -> Path:
        from ai_edge_litert import schema_py_generated as s

        self.net.m.metadata = None
        if metadata and self.hints:
            b = s.BufferT()
            b.data = list(json.dumps({"version": 1, "tensors": self.hints}).encode())
            self.net.m.buffers.append(b)
            md = s.MetadataT()
            md.name, md.buffer = "tinyq.weights", len(self.net.m.buffers) - 1
            self.net.m.metadata = [md]
        try:
            return self.net.write(path)
        finally:
            if self.net.m.metadata:
                self.net.m.buffers.pop()


def sweep_model(seed: int, specs, schemes=SCHEMES) -> Model:
    m = Model(seed)
    for k, spec in enumerate(specs):
        bits, cb = schemes[k % len(schemes)]
        # a bias-less FULLY_CONNECTED and per-tensor weights now and then
        m.layer(spec, bits, cb, bias=not (spec["kind"] == "FULLY_CONNECTED" and k % 3 == 1),
                per_channel=not (spec["kind"] == "CONV_2D" and k % 4 == 3 and cb != "int4"))
    return m


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The sweep's models, written once: conv + FC, depthwise (each: INT4 and palettes)."""
    d = tmp_path_factory.mktemp("packed")
    convfc = sweep_model(1, FC + CONV)
    for spec, (bits, cb) in zip(FC_ZP, ((2, "layer"), (1, "layer"))):
        convfc.layer(spec, bits, cb)
    dw = sweep_model(2, DW)
    return {"convfc": (convfc, convfc.write(d / "convfc.tflite")), "dw": (dw, dw.write(d / "dw.tflite")), "dir": d}


def host_bit_exact(path: Path, pack: str = "auto", kernels: str = "fast", samples: int = 12):
    """The generated C (its packing per `pack`) against the reference on the host: (result tally, graph)."""
    target = dataclasses.replace(target_for(kernels), pack_weights=pack)
    gen = generate_library(path, name="tq_model", target=target)
    host = HostRunner(HostModel(gen, "tq_model"))
    try:
        ref = ReferenceRunner(path, gen.graph)
        batch, _ = make_inputs(gen.graph, samples, 0)
        tally = Tally(output_tolerance(gen.graph))
        run_and_compare(host, ref, batch, tally, lambda *a: None)
    finally:
        host.host.close()
    return tally, gen


def kernels_of(g) -> list[str]:
    return [op.call.func for op in g.ops]


# --------------------------------------------------------------------------- layout and import


def test_pack_rows_low_bits_first_and_rows_on_bytes():
    idx = np.array([[1, 2, 3], [15, 0, 7]])
    assert pack_rows(idx, 4).tolist() == [[0x21, 0x03], [0x0F, 0x07]]
    bits = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1]])
    assert pack_rows(bits, 1).tolist() == [[0x0D, 0x01]]
    rng = np.random.default_rng(0)
    for b in (1, 2, 4):
        i = rng.integers(0, 1 << b, (5, 13))
        assert np.array_equal(unpack_rows(pack_rows(i, b), 13, b), i)


def test_int4_tensor_is_unpacked_once(models):
    m, path = models["convfc"]
    g = import_model(path)
    by_name = {t.name: t for t in g.tensors}
    int4 = [lay for lay in m.layers if lay["codebook"] == "int4"]
    assert int4
    for lay in int4:
        t = by_name[lay["name"] + ".weights"]
        assert t.dtype == "int8" and t.pack is not None and (t.pack.bits, t.pack.codebook) == (4, "linear")
        assert np.array_equal(t.data, lay["weights"])
    odd = [lay for lay in int4 if lay["weights"].size % 2]
    assert odd, "the sweep has an INT4 tensor of an odd number of values"
    assert g.weight_hints and all(v[0] in (1, 2, 4) for v in g.weight_hints.values())


def test_int4_buffer_too_short_is_one_line(models, tmp_path):
    from ai_edge_litert import schema_py_generated as s

    from .helpers import rewrite_tflite

    _, path = models["convfc"]

    def edit(model):
        sg = model.subgraphs[0]
        t = next(t for t in sg.tensors if t.type == s.TensorType.INT4)
        model.buffers[t.buffer].data = model.buffers[t.buffer].data[:-1]

    bad = rewrite_tflite(path, tmp_path / "short.tflite", edit)
    with pytest.raises(BadInput) as e:
        import_model(bad)
    msg = str(e.value)
    assert "\n" not in msg and "INT4 tensor" in msg and "bytes of data, fewer than" in msg


def test_int4_read_by_another_op_is_refused(tmp_path):
    from ai_edge_litert import schema_py_generated as s

    from tinyq.errors import UnsupportedModel

    net = Net("int8")
    x = net.input((1, 4), "int8", (0.1, 0))
    c = net.const(np.arange(4, dtype=np.int8).reshape(1, 4) - 2, "int8", (0.1, 0), name="c")
    net.tensors[c].type = s.TensorType.INT4
    net.m.buffers[net.tensors[c].buffer].data = int4_bytes(np.arange(4).reshape(1, 4) - 2)
    y = net.tensor((1, 4), "int8", (0.2, 0), name="y")
    net.add_op("ADD", [x, c], [y], options("AddOptionsT", fusedActivationFunction=0))
    net.outputs.append(y)
    with pytest.raises(UnsupportedModel, match="INT4 only as the weights"):
        import_model(net.write(tmp_path / "add4.tflite"))


def test_metadata_errors_are_one_line(models, tmp_path):
    m = Model(5)
    m.layer(FC[3], 2, "layer")
    m.hints = {"L0_fully_connected_2l.weights": {"bits": 3, "codebook": "layer"}}
    with pytest.raises(BadInput, match="expected"):
        import_model(m.write(tmp_path / "bits3.tflite"))
    m2 = Model(6)
    m2.layer(FC[3], 4, "layer")
    m2.hints = {"L0_fully_connected_4l.weights": {"bits": 1, "codebook": "layer"}}  # 16 values, says 2
    p = m2.write(tmp_path / "lie.tflite")
    with pytest.raises(BadInput, match="more than 2 distinct values") as e:
        generate_library(p)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- bit-exact on the host


@pytest.mark.parametrize("which", ["convfc", "dw"])
@pytest.mark.parametrize("kernels", ["fast", "ref"])
def test_host_bit_exact(models, which, kernels):
    m, path = models[which]
    r = verify_tflite(path, samples=12, kernels=kernels)
    assert r.bit_exact, r.summary()
    g = generate_library(path, target=target_for(kernels)).graph
    packed = {g.tensor(op.inputs[1]).name for op in g.ops if op.call.func in PACKED}
    assert packed == {lay["name"] + ".weights" for lay in m.layers}, "every layer runs on its packed weights"


def test_int4_depthwise(tmp_path):
    """Hand-made INT4 DEPTHWISE_CONV_2D filters (litert-quantizer leaves depthwise float): the reference
    interpreter runs them (its kernel unpacks the filter as FULLY_CONNECTED's does), and so does tinyq, bit-exact."""
    from .helpers import ref_interpreter

    m = Model(7)
    for spec in DW[:4]:
        m.layer(spec, 4, "int4")
    path = m.write(tmp_path / "dw4.tflite")
    ref_interpreter(path).invoke()
    r = verify_tflite(path, samples=12)
    assert r.bit_exact, r.summary()
    assert kernels_of(generate_library(path).graph).count("tq_depthwise_packed_s8") == 4


def test_pack_modes(models):
    """off: plain int8 kernels, same bits; 4 / 2 / 1 on a model without metadata: the tensors that fit pack."""
    m, path = models["convfc"]
    bare = m.write(models["dir"] / "bare.tflite", metadata=False)  # the same net without the tinyq.weights entry
    tally, gen = host_bit_exact(path, "off")
    assert tally.first is None and not set(kernels_of(gen.graph)) & set(PACKED)
    g = generate_library(bare).graph  # auto, no metadata: only the INT4 tensors
    int4 = sum(lay["codebook"] == "int4" for lay in m.layers)
    assert sum(f in PACKED for f in kernels_of(g)) == int4
    for bits in ("2", "1"):
        tally, gen = host_bit_exact(bare, bits, samples=6)
        assert tally.first is None
        packed = {gen.graph.tensor(op.inputs[1]).name: gen.graph.tensor(op.inputs[1]).pack for op in gen.graph.ops
                  if op.call.func in PACKED}
        want = {}
        for lay in m.layers:
            rows = weight_rows(lay["kind"], lay["weights"])
            fits = [cb for cb, groups in (("layer", [rows]), ("channel", list(rows)))
                    if all(np.unique(x).size <= 1 << int(bits) for x in groups)]
            if fits:
                want[lay["name"] + ".weights"] = (int(bits), fits[0])
            elif lay["codebook"] == "int4":
                want[lay["name"] + ".weights"] = (4, "linear")
        assert {k: (p.bits, p.codebook) for k, p in packed.items()} == want
        assert any(cb == "layer" for _, cb in want.values()) and any(cb == "channel" for _, cb in want.values())


def test_pack_option_refuses_when_nothing_fits(tmp_path):
    m = Model(9)
    m.layer(FC[6], 4, "int4")  # INT4: packed anyway, but no tensor has 2 values
    m.layer(FC[3], 4, "channel")
    p = m.write(tmp_path / "wide.tflite", metadata=False)
    target = dataclasses.replace(target_for("fast"), pack_weights="1")
    with pytest.raises(BadInput, match="--pack-weights 1") as e:
        generate_library(p, target=target)
    assert "\n" not in str(e.value)


def test_flash_drops(models, tmp_path):
    """Weights bytes: INT4 about half of int8; 1-bit about an eighth (codebooks and rows' padding aside)."""
    m = Model(11)
    m.layer(dict(kind="FULLY_CONNECTED", depth=256, units=32), 4, "int4")
    m.layer(dict(kind="CONV_2D", hw=6, c=16, oc=16, k=3, stride=1, padding="same", dil=1), 4, "int4")
    p4 = m.write(tmp_path / "int4.tflite")
    m1 = Model(12)
    m1.layer(dict(kind="FULLY_CONNECTED", depth=256, units=32), 1, "layer")
    p1 = m1.write(tmp_path / "bin.tflite")
    w8 = 256 * 32 + 16 * 9 * 16
    off = generate_library(p4, target=dataclasses.replace(target_for("ref"), pack_weights="off"))
    packed = generate_library(p4, target=target_for("ref"))
    tables = 4 * (32 + 16) * 2 + 8 * 32 + 4 * (32 + 16)  # mult, shift (conv), scale (FC, double), biases
    assert off.weight_bytes - packed.weight_bytes == w8 - w8 // 2, (off.weight_bytes, packed.weight_bytes, tables)
    assert packed.weight_bytes - tables < 0.55 * (off.weight_bytes - tables)
    b1 = generate_library(p1, target=target_for("ref"))
    b8 = generate_library(p1, target=dataclasses.replace(target_for("ref"), pack_weights="off"))
    assert b8.weight_bytes - b1.weight_bytes == 256 * 32 - (256 * 32 // 8 + 2)


def test_litert_quantizer_int4_conv_fc(tmp_path):
    """A Keras conv + dense model quantized by litert-quantizer with 4-bit weights (INT4 tensors): bit-exact."""
    import tensorflow as tf
    from litert_quantizer import qtyping, quantizer
    from litert_quantizer.utils import tfl_interpreter_utils as tu

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((9, 9, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = tf.keras.layers.Conv2D(5, 1, padding="valid")(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(7)(x)
    float_path = tmp_path / "f.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, x)).convert())
    qt = quantizer.Quantizer(str(float_path))
    qt.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                         weight_num_bits=4)
    name = list(tf.lite.Interpreter(model_path=str(float_path)).get_signature_runner().get_input_details())[0]
    rng = np.random.default_rng(0)
    cal = {tu.DEFAULT_SIGNATURE_KEY: [{name: rng.uniform(-1, 1, (1, 9, 9, 3)).astype(np.float32)} for _ in range(16)]}
    q = qt.quantize(qt.calibrate(cal))
    path = tmp_path / "q4.tflite"
    path.write_bytes(bytes(q.quantized_model))
    g = import_model(path)
    assert sum(t.pack is not None for t in g.tensors) == 3
    r = verify_tflite(path, samples=16)
    assert r.bit_exact, r.summary()
    assert kernels_of(generate_library(path).graph).count("tq_conv_packed_s8") == 2


def test_cli_pack_weights(models, tmp_path):
    """`--pack-weights` on the CLI: generate's weights bytes drop with auto, a bad value or nothing to pack is one line."""
    from .conftest import run_tinyq
    from .helpers import assert_one_line_failure

    _, path = models["convfc"]
    sizes = {}
    for mode in ("auto", "off"):
        r = run_tinyq("generate", path, "-o", tmp_path / mode, "--pack-weights", mode, "--json")
        assert r.returncode == 0, r.stderr
        sizes[mode] = json.loads(r.stdout)["weight_bytes"]
    assert sizes["auto"] < 0.6 * sizes["off"], sizes
    assert "--pack-weights off" in (tmp_path / "off" / "model.c").read_text()
    assert_one_line_failure(run_tinyq("generate", path, "-o", tmp_path / "x", "--pack-weights", "3"), "--pack-weights 3")
    m = Model(13)
    m.layer(FC[3], 4, "channel")
    wide = m.write(tmp_path / "wide.tflite", metadata=False)
    assert_one_line_failure(run_tinyq("generate", wide, "-o", tmp_path / "y", "--pack-weights", "2"), "--pack-weights 2",
                            "L0_fully_connected_4c.weights")


# --------------------------------------------------------------------------- on the cores


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0"])
def test_bit_exact_on_qemu(models, board):
    for which in ("convfc", "dw"):
        _, path = models[which]
        r = verify_on_board(path, board, samples=3)
        assert r.bit_exact, f"{which} on {board}: {r.summary()}"
