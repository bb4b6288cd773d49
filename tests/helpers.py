"""Helpers the test modules share: converting small Keras models, checking them bit-exact, writing and
editing .tflite flatbuffers, running the CLI in-process and checking its one-line failures.

Plain functions only; fixtures live in conftest.py. Heavy imports (TensorFlow, Keras) happen inside the
functions, so importing this module stays cheap. The .tflite writer (Net, one_op_model, schema_tensor, ...)
is tinyq.checks.synth's, imported here under the same names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyq.checks.synth import (  # noqa: F401 - the tests import these from here
    ACTIVATION_QUANT,
    Net,
    one_op_model,
    operator_code,
    options,
    pack_model,
    schema_tensor,
    tensor_spec,
)

BOTH_KERNELS = ("ref", "fast")  # the reference loops and the fast kernels (their portable C on the host)


# --------------------------------------------------------------------------- the CLI


def tinyq_main(*args) -> int:
    """Run the `tinyq` command line in this process (tinyq.cli.root.main) on `args`; returns the exit code."""
    from tinyq.cli.root import main

    return main([str(a) for a in args])


def assert_one_line_failure(r, *words, code: int = 2, ignore_case: bool = False) -> str:
    """`r` (a finished `tinyq` run) exited with `code` and wrote one non-blank line to stderr, no
    traceback, holding each of `words`; returns that line."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    line = lines[0]
    for w in words:
        assert (w.lower() in line.lower()) if ignore_case else (w in line), line
    return line


# --------------------------------------------------------------------------- Keras models and conversion


def branches_model(tmp_path, name: str, in_shape, layers, seed: int, calib_shift: float = 1.0) -> Path:
    """tmp_path/NAME.tflite: one model whose outputs are `layers` each applied to the same input (one
    operator each), weights randomized, calibrated on 16 samples uniform in [-1, 1 + 2 calib_shift)."""
    import keras

    rng = np.random.default_rng(seed)
    inp = keras.Input(in_shape)
    model = keras.Model(inp, [layer(inp) for layer in layers])
    randomize_weights(model, rng)
    calib = rng.uniform(-1.0, 1.0 + 2 * calib_shift, size=(16, *in_shape)).astype(np.float32)
    return write_tflite(tmp_path, name, model, [calib])


def randomize_weights(model, rng: np.random.Generator, gain: float = 1.5, bias_std: float = 0.5) -> None:
    """Seeded weights for every layer of `model`: normal(0, gain / sqrt(fan_in)) for kernels and
    normal(0, bias_std) for 1-D weights, so biases are non-zero and the converter keeps them."""
    for layer in model.layers:
        new = []
        for w in layer.get_weights():
            if w.ndim == 1:
                new.append(rng.normal(0.0, bias_std, w.shape).astype(np.float32))
            else:
                fan_in = int(np.prod(w.shape[:-1]))
                new.append(rng.normal(0.0, gain / np.sqrt(fan_in), w.shape).astype(np.float32))
        if new:
            layer.set_weights(new)


def write_tflite(tmp_path, name: str, model, calib, float_io: bool = False, mode: str = "int8") -> Path:
    """Convert the Keras `model` with tinyq's converter (calibration `calib`: one array per input,
    samples first; None for the float modes) and write it to tmp_path/NAME.tflite."""
    from tinyq.quant.convert import convert_keras

    path = Path(tmp_path) / f"{name}.tflite"
    path.write_bytes(convert_keras(model, calib, float_io=float_io, mode=mode))
    return path


def convert_uniform(model, shapes, tmp_path, name: str, seed: int = 0) -> Path:
    """`model` as an int8 tmp_path/NAME.tflite, calibrated on 16 samples uniform in [-2, 2) for each
    input shape in `shapes` (drawn from `seed`)."""
    rng = np.random.default_rng(seed)
    calib = [rng.uniform(-2.0, 2.0, size=(16, *s)).astype(np.float32) for s in shapes]
    return write_tflite(tmp_path, name, model, calib)


def tf_convert(model, calib: np.ndarray, batch: int | None = 1, ops_set: str = "TFLITE_BUILTINS_INT8",
               int8_io: bool = False) -> bytes:
    """Convert a one-input Keras `model` with TensorFlow's own converter, bypassing tinyq's: from a
    concrete function whose input batch is `batch` (None leaves it dynamic, so the converter emits
    run-time shape arithmetic), calibrated on the samples of `calib`, for tf.lite.OpsSet `ops_set`;
    `int8_io` makes the model's input and output int8."""
    import tensorflow as tf

    spec = tf.TensorSpec([batch, *model.inputs[0].shape[1:]], tf.float32)

    @tf.function(input_signature=[spec])
    def serve(t):
        return model(t)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [getattr(tf.lite.OpsSet, ops_set)]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


# --------------------------------------------------------------------------- checking


def op_kinds(path) -> list[str]:
    """The operator kinds of the .tflite at `path`, in execution order, as tinyq imports them."""
    from tinyq.compiler.importer import import_model

    return [op.kind for op in import_model(path).ops]


def assert_bit_exact(path, samples: int = 20, kernels=("fast",), **kw):
    """tinyq verify on the host for each kernel set in `kernels` ("fast", "ref"; see BOTH_KERNELS):
    the generated C matches TFLite's reference interpreter bit for bit. `kw` goes to verify_tflite
    (inputs=, wide=, ...). Returns the last VerifyResult."""
    from tinyq.checks.verify import verify_tflite

    for k in kernels:
        r = verify_tflite(path, samples=samples, kernels=k, **kw)
        assert r.bit_exact, f"{k}: {r.summary()}"
    return r


def ref_interpreter(model, **kw):
    """LiteRT's interpreter on TFLite's reference kernels (BUILTIN_REF), tensors allocated; `model` is
    a path or the model's bytes, `kw` more Interpreter options."""
    from ai_edge_litert import interpreter as lrt

    src = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    it = lrt.Interpreter(experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF, **src, **kw)
    it.allocate_tensors()
    return it


# --------------------------------------------------------------------------- flatbuffers
# The writer (schema_tensor, operator_code, options, pack_model, Net, tensor_spec, one_op_model) is
# tinyq.checks.synth's, which the shape sweep writes its layers with; the tests use the same one.


def rewrite_tflite(src: Path, dst: Path, edit) -> Path:
    """Read the .tflite `src` as a ModelT, let `edit(model)` change it in place, write it to `dst`."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(src).read_bytes(), 0)
    edit(model)
    dst.write_bytes(pack_model(model))
    return dst


def requantize(path: Path, out: Path, seed: int, activations=(0, 1, 2, 3), same: bool = False) -> Path:
    """Rewrite `path` with random activation scales / zero points (one for all if `same`) and fused activations."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)

    def edit(m):
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

    return rewrite_tflite(path, out, edit)


def single_op_model(kind: str, shape, in_q, out_q, options=None, options_type: int = 0, dtype: str = "INT8") -> bytes:  # noqa: F811
    """A one-operator model of int8 (or `dtype`) tensors: input tensor x -> `kind` -> output tensor y,
    both of `shape`, quantized (scale, zero_point) `in_q` and `out_q`."""
    return one_op_model(kind, [tensor_spec(shape, dtype, in_q, name="x")], [tensor_spec(shape, dtype, out_q, name="y")],
                        options, options_type, description="tinyq activation test")


def assert_pedantic_c99(tmp_path, compiler: str, nets: dict) -> None:
    """Each net's generated library (model and kernels) compiles with -std=c99 -pedantic -Wall -Wextra -Werror,
    with `compiler`: the host's cc, or arm-none-eabi-gcc for a Cortex-M4 with its FPU. `nets`: name -> Net."""
    import shutil
    import subprocess

    from tinyq.compiler.codegen import write
    from tinyq.compiler.pipeline import generate_library

    exe = shutil.which(compiler)
    assert exe, f"{compiler} is missing"
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c"]
    if compiler != "cc":
        flags += ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    for name, net in nets.items():
        out = tmp_path / name
        write(generate_library(net.write(tmp_path / f"{name}.tflite"), name="net"), out)
        r = subprocess.run([exe, *flags, *[p.name for p in out.glob("*.c")]], cwd=out, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr


def stack_used(res, path: Path, work: Path) -> int:
    """Bytes of stack one inference reached on an emulated board (`res`: the BuildResult of model `path`;
    the input: every value at the top of its range). Nothing writes the stack before (QEMU's RAM starts
    zero, the reset handler leaves it), so its lowest non-zero word marks the deepest frame; it is read
    through QEMU's QMP socket (memsave: the CPU's view of memory, which holds the nRF51's RAM too)."""
    import json
    import socket

    from elftools.elf.elffile import ELFFile

    from tinyq.checks.inputs import make_inputs
    from tinyq.compiler.pipeline import compile_tflite
    from tinyq.device import Dut, Link
    from tinyq.device.qemu import Qemu

    board = res.board
    with open(res.elf, "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab").iter_symbols()
        bottom = next(int(s["st_value"]) for s in symbols if s.name == "__tq_stack_top") - board.stack_bytes
    batch, _ = make_inputs(compile_tflite(path), 1, seed=0)
    qmp, dump = work / "qmp.sock", work / "stack.bin"
    qemu = Qemu(res.elf, board, extra_args=["-qmp", f"unix:{qmp},server=on,wait=off"]).start()
    link = None
    try:
        link = Link(qemu.url, board.console["baud"])
        dut = Dut(link, timeout=10.0, fix="rebuild")
        dut.wait_boot()
        dut.load(res.manifest.pack_inputs(batch[1]))
        dut.infer()
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(qmp))
            f = c.makefile("rwb")
            f.readline()  # the greeting
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": "memsave", "arguments": {"val": bottom, "size": board.stack_bytes, "filename": str(dump)}}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                assert "return" in json.loads(f.readline()), cmd
    finally:
        if link is not None:
            link.close()
        qemu.stop()
    words = np.frombuffer(dump.read_bytes(), "<u4")
    assert len(words) * 4 == board.stack_bytes
    return board.stack_bytes - 4 * int(np.flatnonzero(words)[0])
