"""Low-bit and palettized weights on the convert side: `tinyq convert --weight-bits B` and `--palette B`.

The weights are changed in the float Keras model before TensorFlow's converter runs, so every guarantee
of the int8 path holds (full-integer, int8 inputs and outputs, batch 1, the calibration checks):

* `--weight-bits B` (B in 1, 2, 4) snaps each Conv2D / DepthwiseConv2D / Dense kernel to a symmetric
  per-output-channel B-bit grid: q = 2**(B-1) - 1 levels each side and scale max|w| / q (the QAT grid of
  tinyq.quant.qat), binary {-s, +s} with s = mean|w| for B = 1. TensorFlow's per-channel int8
  quantization (scale max|w| / 127) then maps level k to round(k * 127 / q) in every channel, so each
  int8 weight tensor takes at most 2**B values in the whole layer. With B = 4 the CONV_2D,
  DEPTHWISE_CONV_2D and FULLY_CONNECTED weight tensors are rewritten as TFLite INT4 tensors: the level k
  itself, scale max|w| / 7, packed two a byte with the first element in the low nibble (TFLite's
  `UnpackDenseInt4IntoInt8`; litert-quantizer writes the same layout), the int32 bias requantized to
  the new input x filter scale. `convert_lowbit` checks the result runs in the reference interpreter;
  where it does not, the model stays int8 on the 4-bit grid. (litert-quantizer run on the float model
  would write INT4 CONV_2D / FULLY_CONNECTED too, but leaves DEPTHWISE_CONV_2D in float between DEQUANTIZE
  and QUANTIZE and has its own edges and calibration; this way the whole model is integer and every
  weight tensor INT4, and the reference interpreter runs INT4 filters of all three ops.)
* `--palette B` clusters each kernel's float weights with k-means (1-D Lloyd iterations from fixed
  quantile starts: deterministic) into 2**B centroids per layer or per output channel and replaces each
  weight by its centroid. Per channel, the converter's per-channel int8 scale maps each centroid to one
  int8 value, so a channel holds at most 2**B values. Per layer, per-channel scales would map one
  centroid to a different int8 value in each channel whose largest centroid differs; so a per-layer
  palette converts with one weight scale per tensor (TensorFlow's per-tensor weight quantization), and
  then each centroid is one int8 value in the whole tensor. A BatchNormalization the converter folds
  into the kernel scales each channel by its own factor, so the per-layer palette is found for the
  folded kernel (w * gamma / sqrt(var + eps)) and divided back; should the converter still change a
  kernel per channel, the count after conversion finds it and the metadata says "channel".

After conversion `weight_codebooks` counts the distinct int8 values of every CONV_2D /
DEPTHWISE_CONV_2D / FULLY_CONNECTED weight tensor, per tensor and per output channel, and
`with_metadata` records what holds in the model's "tinyq.weights" metadata entry (a UTF-8 JSON object
{"version": 1, "tensors": {name: {"bits": B, "codebook": "layer" | "channel"}}}), which `tinyq build`
reads to pack those tensors.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from tinyq.errors import BadInput
from tinyq.quant.weightfile import (  # noqa: F401  (re-exported: lowbit's public names)
    KINDS,
    META_NAME,
    META_VERSION,
    PACK_BITS,
    WeightTensor,
    _model,
    _pack,
    expand_int4,
    pack_bits_for,
    pack_int4,
    read_metadata,
    to_int4,
    unpack_int4,
    weight_codebooks,
    weight_tensors,
    with_metadata,
)

WEIGHT_BITS = (1, 2, 4, 8)  # what --weight-bits takes (8: plain int8)
KMEANS_ITERS = 50


# ----------------------------------------------------------------------------- float kernels


def _channel_axes(layer) -> tuple[int, ...]:
    """The output-channel axes of a Keras kernel: the last; a depthwise kernel's (in, multiplier)."""
    import keras

    return (2, 3) if isinstance(layer, keras.layers.DepthwiseConv2D) else (len(layer.kernel.shape) - 1,)


def _by_channel(w: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`w` as rows, one per output channel (the axes moved last, then transposed): (channels, values)."""
    rest = [a for a in range(w.ndim) if a not in axes]
    return np.transpose(w, rest + list(axes)).reshape(-1, int(np.prod([w.shape[a] for a in axes]))).T


def _from_channels(rows: np.ndarray, w: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    rest = [a for a in range(w.ndim) if a not in axes]
    order = rest + list(axes)
    t = rows.T.reshape([w.shape[a] for a in order])
    return np.transpose(t, np.argsort(order))


def snap_kernel(w: np.ndarray, axes: tuple[int, ...], bits: int) -> np.ndarray:
    """`w` on the symmetric per-channel `bits`-bit grid: levels -q..q, q = 2**(bits-1) - 1, scale max|w| / q
    (round half to even); bits 1: {-s, +s} with s = mean|w| per channel (a weight of 0 goes to +s)."""
    rows = _by_channel(np.asarray(w, np.float32), axes).astype(np.float64)
    if bits == 1:
        s = np.mean(np.abs(rows), axis=1, keepdims=True)
        out = np.where(rows >= 0, s, -s)
    else:
        q = float(2 ** (bits - 1) - 1)
        s = np.max(np.abs(rows), axis=1, keepdims=True) / q
        safe = np.where(s > 0, s, 1.0)
        out = np.clip(np.round(rows / safe), -q, q) * s
    return _from_channels(out.astype(np.float32), w, axes)


def kmeans_1d(x: np.ndarray, k: int, iters: int = KMEANS_ITERS) -> np.ndarray:
    """Lloyd's k-means of the values `x` into at most `k` centroids (sorted, float64), deterministic: the
    starts are the quantiles (i + 0.5) / k, a fixed number of iterations, an empty cluster keeps its centroid.
    Equal starts (many equal weights) merge, so fewer than `k` centroids may come back."""
    x = np.sort(np.asarray(x, np.float64).reshape(-1))
    c = np.unique(np.quantile(x, (np.arange(k) + 0.5) / k, method="inverted_cdf"))
    for _ in range(iters):
        edges = (c[1:] + c[:-1]) / 2
        idx = np.searchsorted(edges, x, side="right")
        sums = np.bincount(idx, weights=x, minlength=len(c))
        counts = np.bincount(idx, minlength=len(c))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        if np.array_equal(new, c):
            break
        c = new
    return np.unique(c)


def _assign(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Each value of `x` replaced by its nearest centroid of the sorted `c` (ties to the lower one)."""
    edges = (c[1:] + c[:-1]) / 2
    return c[np.searchsorted(edges, x, side="right")]


def palettize_kernel(w: np.ndarray, axes: tuple[int, ...], bits: int, per_channel: bool,
                     folded: np.ndarray | None = None) -> np.ndarray:
    """`w` with each weight replaced by its centroid: 2**bits k-means centroids per layer or per output channel.

    `folded`: the per-output-channel factor a BatchNormalization after the layer multiplies into the kernel
    when the converter folds it; a per-layer palette is then found for the folded kernel (w * folded) and
    divided back, so the kernel the converter quantizes holds the 2**bits centroids (up to float rounding).
    """
    k = 2**bits
    w64 = np.asarray(w, np.float64)
    if not per_channel:
        if folded is not None:
            shape = [w.shape[a] if a in axes else 1 for a in range(w.ndim)]
            g = np.asarray(folded, np.float64).reshape(shape)
            if np.all(g != 0):
                return (_assign(w64 * g, kmeans_1d(w64 * g, k)) / g).astype(np.float32)
        c = kmeans_1d(w64, k)
        return _assign(w64, c).astype(np.float32)
    rows = _by_channel(w64, axes)
    out = np.stack([_assign(r, kmeans_1d(r, k)) for r in rows])
    return _from_channels(out, w64, axes).astype(np.float32)


def _kernel_layers(model) -> list:
    import keras

    from tinyq.quant.convert import _keras_layers

    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return [layer for layer in _keras_layers(model) if isinstance(layer, kinds) and getattr(layer, "kernel", None) is not None]


def folded_scale(layer) -> np.ndarray | None:
    """The per-output-channel factor gamma / sqrt(var + eps) of the BatchNormalization that reads `layer`'s
    output alone (no activation between), which TensorFlow's converter multiplies into the kernel; None
    without one."""
    import keras

    act = getattr(layer, "activation", None)
    if act is not None and keras.activations.serialize(act) != "linear":
        return None
    nodes = list(getattr(layer, "_outbound_nodes", []))
    bn = nodes[0].operation if len(nodes) == 1 else None
    if not isinstance(bn, keras.layers.BatchNormalization) or bn.axis not in (-1, len(layer.kernel.shape) - 1, [-1], [3]):
        return None
    var = np.asarray(bn.moving_variance.numpy(), np.float64)
    gamma = np.asarray(bn.gamma.numpy(), np.float64) if bn.scale else np.ones_like(var)
    return gamma / np.sqrt(var + float(bn.epsilon))


@contextlib.contextmanager
def replaced_kernels(models: Sequence[Any], change: Callable[..., np.ndarray]) -> Iterator[int]:
    """Every Conv2D / DepthwiseConv2D / Dense kernel of the Keras `models` replaced by `change(kernel,
    channel axes, folded BN factor or None)` inside the block (the converter traces the models there),
    restored after. Yields the number of kernels changed."""
    saved: list[tuple[Any, np.ndarray]] = []
    try:
        seen: set[int] = set()
        for model in models:
            for layer in _kernel_layers(model):
                if id(layer) in seen:
                    continue
                seen.add(id(layer))
                w = np.asarray(layer.kernel.numpy())
                saved.append((layer, w))
                layer.kernel.assign(change(w, _channel_axes(layer), folded_scale(layer)).astype(w.dtype))
        yield len(saved)
    finally:
        for layer, w in saved:
            layer.kernel.assign(w)


# ----------------------------------------------------------------------------- checks


def reference_error(data: bytes, xs: Sequence[np.ndarray] | None) -> str | None:
    """None when TFLite's reference interpreter (BUILTIN_REF) loads `data` and runs one sample of `xs`
    (zeros without), else its error's first line."""
    from ai_edge_litert import interpreter as lrt

    from tinyq.quant.convert import quantize_input, summarize_tflite

    try:
        summary = summarize_tflite(data)
        it = lrt.Interpreter(model_content=data, experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF, num_threads=1)
        it.allocate_tensors()
        for j, e in enumerate(summary.inputs):
            x = xs[j][:1] if xs is not None else np.zeros((1, *e.shape[1:]), np.float32)
            it.set_tensor(e.index, quantize_input(x, e).reshape(e.shape))
        it.invoke()
    except Exception as e:  # the interpreter's own refusal (RuntimeError / ValueError): its message is the reason
        text = str(e).strip().splitlines()
        return text[0][:200] if text else type(e).__name__
    return None


def check_bits(weight_bits: int, palette: int | None) -> None:
    """One line for a --weight-bits / --palette value tinyq cannot write."""
    if weight_bits not in WEIGHT_BITS:
        raise BadInput(f"--weight-bits {weight_bits}: give 1, 2, 4 or 8 (8: plain int8 weights)")
    if palette is not None and palette not in PACK_BITS:
        raise BadInput(f"--palette {palette}: give 1, 2 or 4 bits (2, 4 or 16 centroids)")
    if palette is not None and weight_bits != 8:
        raise BadInput(f"--palette {palette} with --weight-bits {weight_bits}: choose one (a palette sets the weights itself)")


# ----------------------------------------------------------------------------- the conversion


def convert_lowbit(lm, calib: Sequence[np.ndarray], float_io: bool = False, progress=None, quiet: bool = True,
                   weight_bits: int = 8, palette: int | None = None, palette_per_channel: bool = False) -> tuple[bytes, list[str]]:
    """Convert a loaded Keras model (tinyq.quant.convert.LoadedModel) to full int8 with low-bit weights:
    its kernels snapped to the `weight_bits` grid (INT4 tensors for 4 bits where the reference interpreter
    runs them), or palettized to 2**`palette` centroids per layer or per channel; the "tinyq.weights"
    metadata names the int8 weight tensors that keep at most 2**B values. Returns (the .tflite bytes, notes
    for the user: the fallbacks taken, one line each)."""
    from tinyq.quant.convert import convert_model

    check_bits(weight_bits, palette)
    if palette is None and weight_bits == 8:
        return convert_model(lm, calib, float_io=float_io, progress=progress, quiet=quiet), []
    flag = f"--palette {palette}" if palette is not None else f"--weight-bits {weight_bits}"
    if lm.keras_model is None:
        raise BadInput(f"{lm.path}: {flag} changes the Keras layers' kernels before conversion: give a .keras or .h5 "
                       "model, not a SavedModel")
    bits = palette if palette is not None else weight_bits
    per_layer_palette = palette is not None and not palette_per_channel

    def change(w: np.ndarray, axes: tuple[int, ...], folded: np.ndarray | None) -> np.ndarray:
        if palette is not None:
            return palettize_kernel(w, axes, palette, palette_per_channel, folded)
        return snap_kernel(w, axes, weight_bits)  # a folded BN scales a channel: its grid stays a grid

    models = [lm.keras_model] + ([lm.qat_model] if lm.qat_model is not None else [])
    with replaced_kernels(models, change) as n:
        if n == 0:
            raise BadInput(f"{lm.path} has no Conv2D, DepthwiseConv2D or Dense layer: {flag} has no kernel to change; drop it")
        data = convert_model(lm, calib, float_io=float_io, progress=progress, quiet=quiet, per_tensor_weights=per_layer_palette)
    notes: list[str] = []
    entries, off = weight_codebooks(data, bits)
    if weight_bits == 4:
        data4, names = to_int4(data)
        err = reference_error(data4, calib) if names else None
        if err is None:
            data = data4
            entries = {k: v for k, v in entries.items() if k not in names}
        else:
            notes.append(f"INT4 weights: TFLite's reference interpreter does not run them ({err}): wrote int8 weights on "
                         "the 4-bit grid, which `tinyq build` packs")
    if per_layer_palette:
        split = sorted(k for k, v in entries.items() if v["codebook"] == "channel")
        if split:
            notes.append(f"{len(split)} weight tensor{'s' if len(split) > 1 else ''} {'keep' if len(split) > 1 else 'keeps'} the palette per "
                         f"channel only (the converter changed the kernel per channel after clustering): {', '.join(split)}")
    if off:
        notes.append(f"{len(off)} weight tensor{'s' if len(off) > 1 else ''} left plain int8: more than {2 ** pack_bits_for(bits)} "
                     f"values a channel after conversion (not a Keras Conv2D / DepthwiseConv2D / Dense kernel): {', '.join(off)}")
    return with_metadata(data, entries), notes
