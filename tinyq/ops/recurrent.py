"""Recurrent ops: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM, with state kept across inferences.

Both match the kernels of TFLite's reference interpreter (BUILTIN_REF) bit for bit on int8, and
float32 SVDF too (its sums in the interpreter's order, see tq_recurrent.h).

With `--kernels fast` (the default) the int8 kernels are the fast twins tq_svdf_fast_s8 and tq_lstm_fast_s8:
the same results, the matrix products as dot products two rows at a time (tq_dot_fast.h: SMLAD on the DSP
extension, VMLADAVA on Helium, portable C elsewhere), SVDF's input offset folded per filter here; the LSTM's
sigmoid and tanh without branches (equal to the reference's on every int16 input, tests/test_ops_lstm.py),
the rest of its step shared with the reference kernel (tq_lstm_s8_core.h).

Both ops keep state in TFLite variable tensors (Tensor.variable): an input of the op that the kernel
reads and writes in place and that persists from one inference to the next, until the model's state
is reset to its zero value (TFLite resets int16 and float state to 0 and int8 state to its zero
point). The lowering passes the state as a writable output of the kernel call, after the op's output.

SVDF (svdf.cc, reference_ops::EvalIntegerSVDF / EvalFloatSVDF):

- int8 (full integer): int8 input and feature weights, int16 time weights and state, int32 bias (what
  TensorFlow's quantizer emits). int8 time weights and state are refused: the interpreter reads them as
  int16 (past the tensors' end; it corrupts its heap), so there is nothing to match.
  Prepare's two multipliers, from float32 products of the scales as TFLite computes them:
  QuantizeMultiplier(input * weights_feature / state) for the new activations (clamped to int16) and
  QuantizeMultiplier(state * weights_time / output) for the output; MultiplyByQuantizedMultiplier
  (double rounding). TFLite's int8 SVDF runs with a RELU activation only (its Eval fails otherwise),
  and applies no clamp but the int8 range: tinyq does the same. The zero points of the weights and of
  the state are not read, as in TFLite.
- float32: the float sums in TFLite's order (the bias after the rank reduction), then the fused
  activation's clamp (NONE, RELU, RELU6, RELU_N1_TO_1; TANH and SIGMOID refused).
- Refused: int16 activations (svdf.cc takes float32 or int8 inputs) and any other type mix; the hybrid
  variant (float input, int8 weights) never reaches here (check_types refuses dynamic-range models).

UNIDIRECTIONAL_SEQUENCE_LSTM (unidirectional_sequence_lstm.cc with lstm_eval.cc):

- int8 (EvalInteger8x8_16): int8 input, weights and output state, int32 biases, int16 cell state with a
  power-of-two scale 2^-15 .. 2^-9 (CheckedLog2; the tanh of the cell runs with 15 + that many integer
  bits, which gemmlowp defines up to 6), int16 peephole and layer-norm coefficients, and the five
  intermediate tensors the quantizer records (the gates' scales, used with layer norm, else Q3.12; the
  hidden state's scale and zero point). PopulateQuantizedLstmParams8x8_16's float32 effective scales
  (the hidden, peephole and the 2^-12 ones formed in double as TFLite does) become QuantizeMultiplier
  pairs, and the zero points are folded into effective biases (PrecomputeZeroPointTimesWeightWithBias)
  here. The kernel runs each gate as TFLite does: two requantized products accumulated with int16
  saturation, the peephole product, the integer layer norm, then gemmlowp's 16-bit fixed-point sigmoid or
  tanh; the cell update, the hidden state, the projection and both clips follow lstm_eval.cc. Where the
  interpreter's own arithmetic departs from the portable code it is followed (held by the tests with
  values on rounding ties): the peephole product rounds half up in each row's blocks of 16 cells (its
  vector code, NEON_2_SSE on x86) and half away from zero past them; the hidden state's zero point is
  added without a projection and subtracted before one (whose effective bias then adds zero point times
  each weight row's sum). Every
  variant the quantizer emits runs: CIFG, peephole, layer norm, projection (with or without bias), cell
  and projection clips, time-major or batch-major, in any combination. The fused activation is not read
  (the integer path always uses tanh), as in TFLite.
- float32 (EvalFloat): the same structure in float; the interpreter's products go through its GEMM
  library and its sigmoid and tanh through the C library, so the float results match within tinyq's float
  tolerance rather than bit for bit.
- Refused, by name: int16 activations (TFLite's LSTM has no 16x8 path), a cell-state scale that is not a
  power of two or lies outside 2^-15 .. 2^-9, other than 5 intermediates, peephole weights with a
  projection whose output size differs from the cell count (TFLite's integer peephole then runs over the
  output size), diagonal recurrent weights, and states that are not variable tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyq.ir import Graph, Op, Tensor
from tinyq.ops.base import (
    FUSED_NAMES,
    ArrayRef,
    ConstArray,
    Kernel,
    KernelCall,
    TensorRef,
    check_by_lowering,
    f32,
    fast_kernels,
    float_activation_range,
    kernel_table,
    need,
    need_dtype,
    need_quant,
    quantize_multiplier,
    refuse,
    register,
    tflite_round,
)

HEADER = "tq_recurrent.h"
# The fast twins' dot products (SMLAD on the DSP extension, VMLADAVA on Helium, else portable C).
DOT = "include/tq_dot_fast.h"
# The int8 LSTM's step after its products (fixed-point activations, layer norm), shared by both twins.
LSTM_CORE = "include/tq_lstm_s8_core.h"

KERNELS = kernel_table(
    # SVDF: EvalIntegerSVDF (int8, int16 state), EvalFloatSVDF (float32)
    Kernel("tq_svdf_s8", "tq_svdf_s8_params", HEADER, ("recurrent/tq_svdf_s8.c",)),
    # ... and its fast twin (--kernels fast): dot products, the input offset folded per filter
    Kernel("tq_svdf_fast_s8", "tq_svdf_fast_s8_params", HEADER, ("recurrent/tq_svdf_fast_s8.c", DOT)),
    Kernel("tq_svdf_f32", "tq_svdf_f32_params", HEADER, ("recurrent/tq_svdf_f32.c",)),
    # UNIDIRECTIONAL_SEQUENCE_LSTM: EvalInteger8x8_16 (int8, int16 cell state)
    Kernel("tq_lstm_s8", "tq_lstm_s8_params", HEADER, ("recurrent/tq_lstm_s8.c", LSTM_CORE)),
    # ... and its fast twin: the gate and projection products as dot products, the same step
    Kernel("tq_lstm_fast_s8", "tq_lstm_s8_params", HEADER, ("recurrent/tq_lstm_fast_s8.c", LSTM_CORE, DOT)),
    # UNIDIRECTIONAL_SEQUENCE_LSTM: EvalFloat (float32)
    Kernel("tq_lstm_f32", "tq_lstm_f32_params", HEADER, ("recurrent/tq_lstm_f32.c",)),
)

RELU = 1


# --------------------------------------------------------------------------- SVDF


@dataclass(frozen=True)
class Svdf:
    """An SVDF op's tensors and sizes, checked as svdf.cc's Prepare checks them."""

    x: Tensor
    wf: Tensor
    wt: Tensor
    bias: Tensor | None
    state: Tensor
    y: Tensor
    batch: int
    input_size: int
    units: int
    rank: int
    memory: int

    def dims(self) -> dict:
        return {"batch": self.batch, "input_size": self.input_size, "units": self.units, "rank": self.rank,
                "memory": self.memory}


def svdf_op(g: Graph, op: Op, dtype: str, time_dtype: str, bias_dtype: str) -> Svdf:
    need(op.options is not None, op, "missing SVDFOptions")
    need(len(op.inputs) == 5 and len(op.outputs) == 1, op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, "
         "expected 5 (input, weights_feature, weights_time, bias, state) and 1")
    x = need_dtype(g, op, op.inputs[0], dtype)
    wf = need_dtype(g, op, op.inputs[1], "int8" if dtype == "int8" else dtype)
    wt = need_dtype(g, op, op.inputs[2], time_dtype)
    state = need_dtype(g, op, op.inputs[4], time_dtype)
    y = need_dtype(g, op, op.outputs[0], dtype)
    need(not x.is_const, op, f"input '{x.name}' is a constant; tinyq runs SVDF on activations only")
    for t, what in ((wf, "weights_feature"), (wt, "weights_time")):
        need(t.is_const, op, f"{what} (tensor '{t.name}') is computed at run time; tinyq takes constant weights only")
    need(not state.is_const and state.variable, op, f"the state (tensor '{state.name}') must be a variable tensor "
         "(TFLite's is_variable) with no data; re-export the model")
    bias = None
    if op.inputs[3] >= 0:
        bias = need_dtype(g, op, op.inputs[3], bias_dtype)
        need(bias.is_const, op, f"the bias (tensor '{bias.name}') is computed at run time; tinyq takes a constant bias only")
    rank = int(op.options.rank)
    need(len(x.shape) == 2, op, f"input '{x.name}' has shape {list(x.shape)}; SVDF takes [batch, input_size]")
    need(len(wf.shape) == 2 and len(wt.shape) == 2, op, f"weights_feature {list(wf.shape)} and weights_time "
         f"{list(wt.shape)} must both have rank 2")
    batch, input_size = (int(d) for d in x.shape)
    filters, memory = int(wt.shape[0]), int(wt.shape[1])
    need(rank > 0, op, f"rank is {rank}; TFLite requires a positive rank")
    need(int(wf.shape[0]) == filters, op, f"weights_feature has {wf.shape[0]} filters and weights_time {filters}; "
         "they must agree")
    need(filters % rank == 0, op, f"{filters} filters are not a multiple of rank {rank}")
    need(int(wf.shape[1]) == input_size, op, f"weights_feature has {wf.shape[1]} columns for an input of {input_size}")
    need(memory > 0 and batch > 0 and input_size > 0, op, "has an empty dimension")
    units = filters // rank
    if bias is not None:
        need(tuple(bias.shape) == (units,), op, f"the bias (tensor '{bias.name}') has shape {list(bias.shape)}, "
             f"expected [{units}]")
    need(tuple(state.shape) == (batch, memory * filters), op, f"the state (tensor '{state.name}') has shape "
         f"{list(state.shape)}, expected [{batch}, {memory * filters}] (batch, memory * filters)")
    need(tuple(y.shape) == (batch, units), op, f"output '{y.name}' has shape {list(y.shape)}, expected [{batch}, {units}]")
    return Svdf(x, wf, wt, bias, state, y, batch, input_size, units, rank, memory)


def lower_svdf_s8(g: Graph, op: Op) -> KernelCall:
    wt = g.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    need(wt is None or wt.dtype != "int8", op, f"weights_time (tensor '{wt.name if wt else ''}') is int8: TFLite's "
         "interpreter runs its integer SVDF on int16 time weights and state only (given int8 ones it reads them as "
         "int16, past their end), so there is no result to match; quantize the time weights and state to int16, as "
         "TensorFlow's quantizer does")
    s = svdf_op(g, op, "int8", "int16", "int32")
    fused = int(op.options.fusedActivationFunction or 0)
    need(fused == RELU, op, f"fused activation {FUSED_NAMES.get(fused, fused)}: TFLite's int8 SVDF runs with RELU "
         "only (its Eval fails otherwise)")
    q = {}
    for t in (s.x, s.wf, s.wt, s.state, s.y):
        q[t.index] = need_quant(g, op, t.index)
        need(q[t.index].s > 0 and np.isfinite(q[t.index].s), op, f"tensor '{t.name}' has scale {q[t.index].s}, "
             "expected a positive number")
    # Prepare's effective scales: float32 products and quotient, then QuantizeMultiplier in double.
    scale1 = f32(f32(q[s.x.index].s) * f32(q[s.wf.index].s)) / f32(q[s.state.index].s)
    scale2 = f32(f32(q[s.state.index].s) * f32(q[s.wt.index].s)) / f32(q[s.y.index].s)
    m1, sh1 = quantize_multiplier(float(scale1))
    m2, sh2 = quantize_multiplier(float(scale2))
    for sh, what in ((sh1, "input * weights_feature / state"), (sh2, "state * weights_time / output")):
        need(-31 <= sh <= 30, op, f"the scale ratio {what} is out of the range TFLite's fixed point represents "
             f"(shift {sh}); re-quantize the model")
    params = {"d": s.dims(), "input_offset": -q[s.x.index].zp, "mult1": m1, "shift1": sh1, "mult2": m2, "shift2": sh2,
              "output_offset": q[s.y.index].zp, "act_min": -128, "act_max": 127}
    inputs = [s.x.index, s.wf.index, s.wt.index, s.bias.index if s.bias is not None else -1]
    if fast_kernels(g):
        # The input offset times each filter's feature-weight sum, wrapped to int32 as the reference's sum wraps.
        folded = _wrap32(-q[s.x.index].zp * np.asarray(s.wf.data, np.int64).reshape(s.wf.shape[0], -1).sum(axis=1))
        return KERNELS["tq_svdf_fast_s8"].call(
            params={"base": params, "feature_bias": ArrayRef("feature_bias")}, inputs=inputs,
            outputs=[s.y.index, s.state.index], arrays=[ConstArray("feature_bias", "int32_t", folded)])
    return KERNELS["tq_svdf_s8"].call(params=params, inputs=inputs, outputs=[s.y.index, s.state.index])


def lower_svdf_f32(g: Graph, op: Op) -> KernelCall:
    s = svdf_op(g, op, "float32", "float32", "float32")
    fused = int(op.options.fusedActivationFunction or 0)
    need(fused in (0, 1, 2, 3), op, f"fused activation {FUSED_NAMES.get(fused, fused)} is not supported on float32 "
         "SVDF (NONE, RELU, RELU6, RELU_N1_TO_1 are)")
    lo, hi = float_activation_range(op)
    return KERNELS["tq_svdf_f32"].call(
        params={"d": s.dims(), "act_min": lo, "act_max": hi},
        inputs=[s.x.index, s.wf.index, s.wt.index, s.bias.index if s.bias is not None else -1],
        outputs=[s.y.index, s.state.index],
    )


def macs_svdf(g: Graph, op: Op) -> int:
    x, wt = g.tensor(op.inputs[0]), g.tensor(op.inputs[2])
    batch, input_size = x.shape[0], x.shape[1]
    filters, memory = wt.shape
    return int(batch * filters * (input_size + memory))


# --------------------------------------------------------------------------- UNIDIRECTIONAL_SEQUENCE_LSTM

# The op's inputs, by position (lstm_shared.h); None marks the optional ones.
LSTM_INPUTS = (
    "input", "input_to_input_weights", "input_to_forget_weights", "input_to_cell_weights", "input_to_output_weights",
    "recurrent_to_input_weights", "recurrent_to_forget_weights", "recurrent_to_cell_weights",
    "recurrent_to_output_weights", "cell_to_input_weights", "cell_to_forget_weights", "cell_to_output_weights",
    "input_gate_bias", "forget_gate_bias", "cell_gate_bias", "output_gate_bias", "projection_weights",
    "projection_bias", "output_state", "cell_state", "input_layer_norm_coefficients",
    "forget_layer_norm_coefficients", "cell_layer_norm_coefficients", "output_layer_norm_coefficients",
)
GATES = ("input", "forget", "cell", "output")


@dataclass
class Lstm:
    """An LSTM op's tensors by name (None: absent) and sizes, checked as unidirectional_sequence_lstm.cc's
    Prepare checks them."""

    t: dict
    y: Tensor
    batch: int
    time: int
    n_input: int
    n_cell: int
    n_output: int
    time_major: bool
    cifg: bool
    peephole: bool
    layer_norm: bool
    projection: bool


def lstm_op(g: Graph, op: Op, dtype: str) -> Lstm:
    o = op.options
    need(o is not None, op, "missing UnidirectionalSequenceLSTMOptions")
    need(len(op.inputs) in (20, 24) and len(op.outputs) == 1, op, f"has {len(op.inputs)} inputs and {len(op.outputs)} "
         "outputs; TFLite's LSTM takes 20 or 24 inputs and 1 output")
    need(not bool(getattr(o, "diagonalRecurrentTensors", False)), op, "has diagonal recurrent weights "
         "(diagonal_recurrent_tensors), which TFLite's reference kernel does not run")
    t = {name: (g.tensor(i) if i >= 0 else None) for name, i in zip(LSTM_INPUTS, op.inputs)}
    for name in LSTM_INPUTS[len(op.inputs):]:
        t[name] = None
    x, y = t["input"], g.tensor(op.outputs[0])
    for name in ("input_to_forget_weights", "input_to_cell_weights", "input_to_output_weights",
                 "recurrent_to_forget_weights", "recurrent_to_cell_weights", "recurrent_to_output_weights",
                 "forget_gate_bias", "cell_gate_bias", "output_gate_bias", "output_state", "cell_state"):
        need(t[name] is not None, op, f"the {name.replace('_', ' ')} input is missing")
    need(x.dtype == dtype and not x.is_const, op, f"input '{x.name}' is {x.dtype}{' (a constant)' if x.is_const else ''}, "
         f"expected a {dtype} activation")
    need(len(x.shape) == 3, op, f"input '{x.name}' has shape {list(x.shape)}; tinyq's LSTM takes [batch, time, input] "
         "(or [time, batch, input] with time_major)")
    time_major = bool(o.timeMajor)
    time, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_input = int(x.shape[2])
    n_cell = int(t["input_to_output_weights"].shape[0])
    n_output = int(t["recurrent_to_output_weights"].shape[1]) if len(t["recurrent_to_output_weights"].shape) == 2 else -1
    cifg = t["input_to_input_weights"] is None
    layer_norm = len(op.inputs) == 24 and t["forget_layer_norm_coefficients"] is not None
    peephole = t["cell_to_output_weights"] is not None
    projection = t["projection_weights"] is not None

    def shape(name: str, want: tuple) -> None:
        tt = t.get(name)
        if tt is not None:
            need(tuple(tt.shape) == want, op, f"{name.replace('_', ' ')} (tensor '{tt.name}') has shape {list(tt.shape)}, "
                 f"expected {list(want)}")

    for gate in GATES:
        shape(f"input_to_{gate}_weights", (n_cell, n_input))
        shape(f"recurrent_to_{gate}_weights", (n_cell, n_output))
        shape(f"cell_to_{gate}_weights", (n_cell,))
        shape(f"{gate}_gate_bias", (n_cell,))
        shape(f"{gate}_layer_norm_coefficients", (n_cell,))
    shape("projection_weights", (n_output, n_cell))
    shape("projection_bias", (n_output,))
    need(n_output > 0 and n_cell > 0 and n_input > 0 and time > 0 and batch > 0, op, "has an empty dimension")
    need((t["input_to_input_weights"] is None) == (t["recurrent_to_input_weights"] is None), op,
         "has one of the input gate's two weight matrices without the other (TFLite needs both, or neither for CIFG)")
    need(cifg == (t["input_gate_bias"] is None), op, "the input gate bias must be present exactly when the input gate's "
         "weights are (TFLite's Prepare)")
    peeps = [t[f"cell_to_{gate}_weights"] is not None for gate in ("input", "forget", "output")]
    need(peeps[1:] == [peephole] * 2 and (peeps[0] == peephole or cifg), op, "has some peephole (cell-to-gate) weights "
         "but not all (TFLite needs all or none)")
    need(projection or t["projection_bias"] is None, op, "has a projection bias without projection weights")
    if layer_norm:
        for gate in GATES:
            present = t[f"{gate}_layer_norm_coefficients"] is not None
            need(present == (not (cifg and gate == "input")), op, f"the {gate} layer norm coefficients must be "
                 f"{'absent with CIFG' if cifg and gate == 'input' else 'present'} (TFLite's Prepare)")
    for name in ("output_state", "cell_state"):
        st = t[name]
        need(not st.is_const and st.variable, op, f"the {name.replace('_', ' ')} (tensor '{st.name}') must be a "
             "variable tensor (TFLite's is_variable) with no data; re-export the model")
    need(t["output_state"].size == batch * n_output, op, f"the output state has {t['output_state'].size} values, "
         f"expected batch * output = {batch * n_output}")
    need(t["cell_state"].size == batch * n_cell, op, f"the cell state has {t['cell_state'].size} values, "
         f"expected batch * cell = {batch * n_cell}")
    want_y = (time, batch, n_output) if time_major else (batch, time, n_output)
    need(tuple(y.shape) == want_y, op, f"output '{y.name}' has shape {list(y.shape)}, expected {list(want_y)}")
    need(float(o.cellClip or 0) >= 0 and float(o.projClip or 0) >= 0, op, f"negative clip (cell_clip {o.cellClip}, "
         f"proj_clip {o.projClip}); TFLite requires 0 (none) or a positive clip")
    for name, tt in t.items():
        if tt is not None and name not in ("input", "output_state", "cell_state"):
            need(tt.is_const, op, f"{name.replace('_', ' ')} (tensor '{tt.name}') is computed at run time; tinyq takes "
                 "constant weights only")
    return Lstm(t, y, batch, time, n_input, n_cell, n_output, time_major, cifg, peephole, layer_norm, projection)


def _wrap32(v) -> np.ndarray:
    """int64 values wrapped to int32, as TFLite's int32 arithmetic wraps."""
    return ((np.asarray(v, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def _zp_times_rows(w: Tensor, zp: int, bias: Tensor | None) -> np.ndarray:
    """PrecomputeZeroPointTimesWeightWithBias: bias (or 0) + zp * each weight row's sum, in int32."""
    rows = np.asarray(w.data, np.int64).reshape(w.shape[0], -1).sum(axis=1)
    base = np.asarray(bias.data, np.int64) if bias is not None else np.zeros(w.shape[0], np.int64)
    return _wrap32(_wrap32(base) + _wrap32(rows * zp))


def checked_log2(scale: float) -> int | None:
    """TFLite's CheckedLog2 (float): the rounded log2 of `scale` when within 1e-3 of an integer, else None."""
    f = np.float32
    x_log2 = f(f(math.log(f(scale))) * f(f(1.0) / f(math.log(f(2.0)))))
    rounded = f(tflite_round(float(x_log2)))
    return int(rounded) if abs(f(x_log2 - rounded)) < f(1e-3) else None


def lower_lstm_s8(g: Graph, op: Op) -> KernelCall:
    m = lstm_op(g, op, "int8")
    t = m.t
    f = np.float32
    o = op.options

    def typed(name: str, *dtypes: str) -> Tensor | None:
        tt = t[name]
        if tt is not None:
            need(tt.dtype in dtypes, op, f"{name.replace('_', ' ')} (tensor '{tt.name}') is {tt.dtype}; TFLite's integer "
                 f"LSTM takes {' or '.join(dtypes)}")
        return tt

    def scale(tt: Tensor) -> np.float32:
        q = need_quant(g, op, tt.index)
        need(q.s > 0 and np.isfinite(q.s), op, f"tensor '{tt.name}' has scale {q.s}, expected a positive number")
        return f(q.s)

    for gate in GATES:
        typed(f"input_to_{gate}_weights", "int8")
        typed(f"recurrent_to_{gate}_weights", "int8")
        if gate != "cell":
            typed(f"cell_to_{gate}_weights", "int16")
        typed(f"{gate}_gate_bias", "int32")
        typed(f"{gate}_layer_norm_coefficients", "int16")
    typed("projection_weights", "int8")
    typed("projection_bias", "int32")
    out_state, cell_state = typed("output_state", "int8"), typed("cell_state", "int16")
    need(m.y.dtype == "int8", op, f"output '{m.y.name}' is {m.y.dtype}, expected int8")
    need(len(op.intermediates) == 5, op, f"has {len(op.intermediates)} intermediate tensors; TFLite's integer LSTM "
         "(8x8->16) needs 5 (the gates' and the hidden state's quantization): quantize the model with TensorFlow's "
         "converter, which records them")
    mids = [g.tensor(i) for i in op.intermediates]
    for mid in mids if m.layer_norm else mids[4:]:
        need(mid.quant is not None and len(mid.quant.scale) >= 1, op, f"intermediate tensor '{mid.name}' has no "
             "quantization parameters")
        need(mid.quant.scale[0] > 0 and np.isfinite(mid.quant.scale[0]), op, f"intermediate tensor '{mid.name}' has "
             f"scale {mid.quant.scale[0]}, expected a positive number")
    need(m.peephole is False or m.n_output == m.n_cell, op, f"has peephole weights and a projection to {m.n_output} "
         f"outputs from {m.n_cell} cells: TFLite's integer peephole reads {m.n_output} cells (its product runs over "
         "the output size), which only matches the LSTM when the two are equal")

    s_in, s_state = scale(t["input"]), scale(out_state)
    in_zp, state_zp = t["input"].quant.zp, out_state.quant.zp
    cell_scale = checked_log2(float(scale(cell_state)))
    need(cell_scale is not None, op, f"the cell state's scale {cell_state.quant.s} is not a power of two, as TFLite's "
         "integer LSTM requires")
    need(-15 <= cell_scale <= -9, op, f"the cell state's scale is 2^{cell_scale}; TFLite's integer LSTM runs its tanh "
         "with 15 + that many integer bits, defined for 2^-15 .. 2^-9 only")
    inter = [f(mid.quant.scale[0]) for mid in mids[:4]] if m.layer_norm else [f(2.0 ** -12)] * 4
    hidden_s, hidden_zp = f(mids[4].quant.scale[0]), int(mids[4].quant.zero_point[0])

    def mult(real, what: str) -> tuple[int, int]:
        mm, sh = quantize_multiplier(float(real))
        need(-31 <= sh <= 30, op, f"the {what} scale {float(real):.3g} is out of the range TFLite's fixed point "
             "represents; re-quantize the model")
        return mm, sh

    gates = []
    arrays: list[ConstArray] = []
    for k, gate in enumerate(GATES):
        if gate == "input" and m.cifg:
            gates.append({"w_in": 0, "w_rec": 0, "bias_in": 0, "bias_rec": 0, "mult_in": 0, "shift_in": 0,
                          "mult_rec": 0, "shift_rec": 0, "peephole": 0, "mult_peep": 0, "shift_peep": 0,
                          "ln_weights": 0, "ln_bias": 0, "ln_mult": 0, "ln_shift": 0, "ln_guard": 0})
            continue
        wi, wr = t[f"input_to_{gate}_weights"], t[f"recurrent_to_{gate}_weights"]
        bias = t[f"{gate}_gate_bias"]
        mi, si = mult(f(f(scale(wi) * s_in) / inter[k]), f"input-to-{gate}")
        mr, sr = mult(f(f(scale(wr) * s_state) / inter[k]), f"recurrent-to-{gate}")
        entry = {"w_in": TensorRef(wi.index), "w_rec": TensorRef(wr.index), "bias_in": ArrayRef(f"{gate}_bias_in"),
                 "bias_rec": ArrayRef(f"{gate}_bias_rec"), "mult_in": mi, "shift_in": si, "mult_rec": mr, "shift_rec": sr,
                 "peephole": 0, "mult_peep": 0, "shift_peep": 0, "ln_weights": 0, "ln_bias": 0, "ln_mult": 0,
                 "ln_shift": 0, "ln_guard": 0}
        arrays.append(ConstArray(f"{gate}_bias_in", "int32_t", _zp_times_rows(wi, -in_zp, None if m.layer_norm else bias)))
        arrays.append(ConstArray(f"{gate}_bias_rec", "int32_t", _zp_times_rows(wr, -state_zp, None)))
        cw = t.get(f"cell_to_{gate}_weights")
        if cw is not None:
            mp, sp = mult(f(2.0 ** cell_scale * float(scale(cw)) / float(inter[k])), f"cell-to-{gate}")
            entry.update({"peephole": TensorRef(cw.index), "mult_peep": mp, "shift_peep": sp})
        if m.layer_norm:
            ln = t[f"{gate}_layer_norm_coefficients"]
            ln_s = scale(ln)
            lm, ls = quantize_multiplier(float(ln_s))
            need(ls + 12 <= 30 and float(f(f(10000) * ln_s)) < 2**31, op, f"the {gate} layer norm coefficients' scale "
                 f"{float(ln_s):.3g} is beyond what TFLite's integer layer norm computes (it shifts left by 12 more "
                 "and takes 10000 times the scale as an int32); re-quantize the model")
            entry.update({"ln_weights": TensorRef(ln.index), "ln_bias": TensorRef(bias.index), "ln_mult": lm,
                          "ln_shift": ls, "ln_guard": max(1, int(f(f(10000) * ln_s)))})
        gates.append(entry)

    hm, hs = mult(f(2.0 ** -15 / float(hidden_s) * 2.0 ** -15), "hidden")
    params = {
        "batch": m.batch, "time": m.time, "input": m.n_input, "cell": m.n_cell, "output": m.n_output,
        "time_major": int(m.time_major), "cifg": int(m.cifg), "gate": tuple(gates),
        "cell_shift": 30 + cell_scale, "tanh_bits": 15 + cell_scale,
        # The hidden state's offset as the interpreter applies it: its zero point added without a projection,
        # subtracted before one (whose effective bias then adds zero point times row sums); both held to the
        # interpreter by tests/test_ops_lstm.py with the hidden zero point apart from the output state's.
        "cell_clip": 0, "hidden_mult": hm, "hidden_shift": hs, "hidden_offset": -hidden_zp if m.projection else hidden_zp,
        "proj": 0, "proj_bias": 0, "proj_mult": 0, "proj_shift": 0, "output_zp": state_zp, "proj_clip": 0,
    }
    if float(o.cellClip or 0) > 0:
        params["cell_clip"] = int(np.clip(f(f(o.cellClip) / f(cell_state.quant.s)), -32768, 32767))
    if m.projection:
        pw = t["projection_weights"]
        pm, ps = mult(f(f(scale(pw) * hidden_s) / s_state), "projection")
        arrays.append(ConstArray("proj_bias", "int32_t", _zp_times_rows(pw, hidden_zp, t["projection_bias"])))
        params.update({"proj": TensorRef(pw.index), "proj_bias": ArrayRef("proj_bias"), "proj_mult": pm, "proj_shift": ps})
        if float(o.projClip or 0) > 0:
            params["proj_clip"] = int(np.clip(f(f(o.projClip) / scale(m.y)), -128, 127))
    scratch = g.add_scratch(f"lstm@{op.index}", 5 * m.n_cell + (m.n_cell + 1) // 2, dtype="int16")
    return KERNELS["tq_lstm_fast_s8" if fast_kernels(g) else "tq_lstm_s8"].call(
        params=params,
        inputs=[t["input"].index],
        outputs=[m.y.index, out_state.index, cell_state.index, scratch],
        arrays=arrays,
    )


# The float LSTM's cell activations: RELU, RELU_N1_TO_1, RELU6, TANH. TFLite's ApplyActivationToVector writes
# nothing for NONE (the interpreter then reads a buffer it never filled), and the schema has no SIGMOID.
FLOAT_LSTM_ACTIVATIONS = (1, 2, 3, 4)


def lower_lstm_f32(g: Graph, op: Op) -> KernelCall:
    m = lstm_op(g, op, "float32")
    t = m.t
    for name, tt in t.items():
        if tt is not None:
            need(tt.dtype == "float32", op, f"{name.replace('_', ' ')} (tensor '{tt.name}') is {tt.dtype}; a float32 "
                 "LSTM takes float32 tensors throughout (int8 weights with float activations are a hybrid model, "
                 "which tinyq does not run)")
    need(m.y.dtype == "float32", op, f"output '{m.y.name}' is {m.y.dtype}, expected float32")
    act = int(op.options.fusedActivationFunction or 0)
    need(act in FLOAT_LSTM_ACTIVATIONS, op, f"cell activation {FUSED_NAMES.get(act, act)}: TFLite's float LSTM "
         "computes a defined result with TANH, RELU, RELU6 or RELU_N1_TO_1 only (with NONE it reads a buffer it never "
         "wrote)")

    def ref(name: str):
        return TensorRef(t[name].index) if t.get(name) is not None else 0

    gates = tuple({"w_in": ref(f"input_to_{gate}_weights"), "w_rec": ref(f"recurrent_to_{gate}_weights"),
                   "bias": ref(f"{gate}_gate_bias"), "peephole": ref(f"cell_to_{gate}_weights"),
                   "ln_weights": ref(f"{gate}_layer_norm_coefficients")} for gate in GATES)
    params = {
        "batch": m.batch, "time": m.time, "input": m.n_input, "cell": m.n_cell, "output": m.n_output,
        "time_major": int(m.time_major), "cifg": int(m.cifg), "activation": act, "gate": gates,
        "cell_clip": float(np.float32(op.options.cellClip or 0)), "proj": ref("projection_weights"),
        "proj_bias": ref("projection_bias"), "proj_clip": float(np.float32(op.options.projClip or 0)),
    }
    scratch = g.add_scratch(f"lstm@{op.index}", 5 * m.n_cell, dtype="float32")
    return KERNELS["tq_lstm_f32"].call(
        params=params,
        inputs=[t["input"].index],
        outputs=[m.y.index, t["output_state"].index, t["cell_state"].index, scratch],
    )


def macs_lstm(g: Graph, op: Op) -> int:
    x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[4])
    rec = g.tensor(op.inputs[8])
    steps = x.shape[0] * x.shape[1]
    gates = 3 if op.inputs[1] < 0 else 4
    n_cell, n_input, n_output = w.shape[0], w.shape[1], rec.shape[1]
    proj = n_output * n_cell if len(op.inputs) > 16 and op.inputs[16] >= 0 else 0
    return int(steps * (gates * n_cell * (n_input + n_output) + proj))


# --------------------------------------------------------------------------- registration

register("SVDF", check=check_by_lowering(lower_svdf_s8), lower=lower_svdf_s8, macs=macs_svdf)
register("SVDF", check=check_by_lowering(lower_svdf_f32), lower=lower_svdf_f32, macs=macs_svdf, dtype="float32")
refuse("SVDF", "TFLite's SVDF runs float32 or int8 inputs only (svdf.cc's Prepare): int16 activations have no "
       "reference kernel to match; quantize the model to int8", dtype="int16")
register("UNIDIRECTIONAL_SEQUENCE_LSTM", check=check_by_lowering(lower_lstm_s8), lower=lower_lstm_s8, macs=macs_lstm)
register("UNIDIRECTIONAL_SEQUENCE_LSTM", check=check_by_lowering(lower_lstm_f32), lower=lower_lstm_f32, macs=macs_lstm,
         dtype="float32")
refuse("UNIDIRECTIONAL_SEQUENCE_LSTM", "TFLite's LSTM has no 16x8 path (unidirectional_sequence_lstm.cc runs int8 "
       "activations with int16 cell state, or float32): quantize the model to int8", dtype="int16")
