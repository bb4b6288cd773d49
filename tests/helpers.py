"""Helpers the test modules share: converting small Keras models, checking them bit-exact, writing and
editing .tflite flatbuffers, running the CLI in-process and checking its one-line failures.

Plain functions only; fixtures live in conftest.py. Heavy imports (TensorFlow, Keras, LiteRT, tinyq's
compiler) happen inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def pack_model(model) -> bytes:
    """A schema ModelT (the object API) as .tflite bytes."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


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


# Default activation quantization of hand-built models, by type (int16: zero point 0, as 16x8 models have).
ACTIVATION_QUANT = {"int8": (0.05, -3), "int16": (0.002, 0), "float32": None}


def schema_tensor(model, shape, dtype: str, q=None, data=None, name: str = ""):
    """A schema TensorT of `shape` and `dtype` (a TensorType name in any case), quantized (scale, zero_point)
    `q` or not (None); constant `data` goes into a new buffer of `model` (a ModelT)."""
    from ai_edge_litert import schema_py_generated as s

    t = s.TensorT()
    t.shape, t.type, t.name, t.buffer = [int(d) for d in shape], getattr(s.TensorType, dtype.upper()), name, 0
    if data is not None:
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype.lower()).tobytes(), np.uint8).tolist()
        model.buffers.append(b)
        t.buffer = len(model.buffers) - 1
    if q is not None:
        qp = s.QuantizationParametersT()
        qp.scale, qp.zeroPoint = [float(q[0])], [int(q[1])]
        t.quantization = qp
    return t


def operator_code(kind: str, version: int = 1):
    """The schema OperatorCodeT of builtin `kind` at `version`."""
    from ai_edge_litert import schema_py_generated as s

    c = s.OperatorCodeT()
    c.builtinCode = getattr(s.BuiltinOperator, kind)
    c.deprecatedBuiltinCode = min(c.builtinCode, 127)
    c.version = version
    return c


def options(cls: str, **fields):
    """A schema options object (`cls`, e.g. "StridedSliceOptionsT") with `fields` set."""
    from ai_edge_litert import schema_py_generated as s

    o = getattr(s, cls)()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


class Net:
    """A .tflite written tensor by tensor with the flatbuffer schema: graph inputs, constants and ops in
    execution order. Test modules subclass it with their own `op` (what it returns, how outputs are labelled)
    on top of `add_op`. A tensor's default quantization ("net") is `quant` of the net's type, or of the
    tensor's own type with `quant_of_tensor_type`."""

    versions: dict[str, int] = {}  # operator versions other than 1, by kind

    def __init__(self, dtype: str, quant=ACTIVATION_QUANT, quant_of_tensor_type: bool = False):
        from ai_edge_litert import schema_py_generated as s

        self.dtype, self.quant, self.quant_of_tensor_type = dtype, quant, quant_of_tensor_type
        self.m = s.ModelT()
        self.m.version = 3
        self.m.buffers = [s.BufferT()]
        self.m.operatorCodes = []
        self.tensors: list = []
        self.ops: list = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, shape, dtype=None, q="net", data=None) -> int:
        dtype = dtype or self.dtype
        if q == "net":
            q = self.quant[dtype if self.quant_of_tensor_type else self.dtype]
        self.tensors.append(schema_tensor(self.m, shape, dtype, q, data, f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def input(self, shape, dtype=None, q="net") -> int:
        self.inputs.append(self.tensor(shape, dtype, q))
        return self.inputs[-1]

    def const(self, values, dtype="int32", q=None) -> int:
        return self.tensor(np.shape(values), dtype, q, np.asarray(values))

    def add_op(self, kind: str, ins, outs, options=None) -> None:
        """Operator `kind` reading tensors `ins` and writing `outs` (its code registered once)."""
        from ai_edge_litert import schema_py_generated as s

        codes = [c.builtinCode for c in self.m.operatorCodes]
        code = getattr(s.BuiltinOperator, kind)
        if code not in codes:
            self.m.operatorCodes.append(operator_code(kind, self.versions.get(kind, 1)))
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes.index(code), list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        self.ops.append(o)

    def bytes(self) -> bytes:
        from ai_edge_litert import schema_py_generated as s

        sg = s.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.ops, self.inputs, self.outputs
        self.m.subgraphs = [sg]
        return pack_model(self.m)

    def write(self, path):
        path.write_bytes(self.bytes())
        return path


def tensor_spec(shape, dtype: str = "int8", q=None, data=None, name: str = "") -> dict:
    """One tensor of one_op_model: `dtype` a TensorType name in any case ("int8", "INT16", "float32"),
    `q` (scale, zero_point) or None for no quantization, `data` a constant's values or None."""
    return {"shape": tuple(shape), "dtype": dtype, "q": q, "data": data, "name": name}


def one_op_model(kind: str, inputs, outputs, options=None, options_type: int = 0, description: str | None = None) -> bytes:
    """A .tflite of one builtin operator `kind`, written directly as a flatbuffer (for what the
    converter does not emit). `inputs` and `outputs` are tensor_spec()s; the graph's inputs are the
    operator's inputs without data; unnamed tensors are called t0, t1, ... in order."""
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT()
    m.version = 3
    m.buffers = [s.BufferT()]
    if description is not None:
        m.description = description
    tensors = []

    def tensor(spec):
        tensors.append(schema_tensor(m, spec["shape"], spec["dtype"], spec["q"], spec["data"], spec["name"] or f"t{len(tensors)}"))
        return len(tensors) - 1

    ins = [tensor(spec) for spec in inputs]
    outs = [tensor(spec) for spec in outputs]
    code = operator_code(kind)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, ins, outs
    if options is not None:
        op.builtinOptionsType, op.builtinOptions = options_type, options
    sg = s.SubGraphT()
    sg.tensors, sg.operators = tensors, [op]
    sg.inputs = [i for i, spec in zip(ins, inputs) if spec["data"] is None]
    sg.outputs = outs
    m.subgraphs, m.operatorCodes = [sg], [code]
    return pack_model(m)


def single_op_model(kind: str, shape, in_q, out_q, options=None, options_type: int = 0, dtype: str = "INT8") -> bytes:
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
