"""Quantization-aware training for Keras 3 models: fake quantization the TFLite converter will honour.

`quantize_model(model)` rebuilds a Sequential or functional Keras model with the same layers, where

* Conv2D, DepthwiseConv2D and Dense kernels go through per-output-channel symmetric fake
  quantization (narrow range [-q, q], q = 2**(bits-1) - 1, scale = max|w| / q per channel),
  as TensorFlow's converter quantizes them; with `weight_bits=4` the grid is 4-bit (15 levels), with 2 it
  is ternary {-s, 0, +s}, and with 1 binary {-s, +s} (s = mean|w| per channel, a weight of 0 to +s);
  `tinyq convert` records the weight tensors that keep 2, 4 or 16 values in the model's "tinyq.weights"
  metadata, for `tinyq build` to pack;
* a BatchNormalization right after such a layer is folded into its kernel and bias (with the
  BN's moving statistics frozen, as the converter folds them), so the quantized kernel is the
  folded one the .tflite will hold;
* every tensor the int8 model quantizes with its own scale (the model input, each fused
  conv/dense + bias + ReLU/ReLU6 output, Add, ...) goes through asymmetric 8-bit fake
  quantization, its range [min, max] (always containing 0) tracked as a moving average of the
  batch ranges during training; shape-only layers, pooling and Softmax share their input's or a
  fixed scale and get none.

Gradients pass straight through the rounding (the straight-through estimator; activations get
zero gradient outside their range, like tf.quantization.fake_quant_with_min_max_vars).
Everything is keras.ops, so the layers run on any Keras 3 backend; train with the model's own
`compile` / `fit`.

`strip(qat_model)` returns the plain float Keras model to convert: the same graph without the
fake-quant layers, BN folded, every kernel replaced by its quantized value (already on the grid,
so the converter's own per-channel int8 quantization reproduces it). `tinyq convert` does this
itself when it loads a saved QAT model (.keras), then calibrates the activation ranges on the
representative data as usual; `activation_ranges(qat_model)` lists the ranges QAT learned to
compare with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyq.errors import BadInput, UnsupportedModel

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from keras import ops

PACKAGE = "tinyq"
ACT_BITS = 8
_EPS = 1e-12

# Layers whose int8 output keeps its input's scale (or a fixed one): no fake quantization after them.
_SAME_SCALE = (
    keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout,
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D, keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D,
    keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Permute, keras.layers.Identity,
    keras.layers.Softmax,
)
# Activations the converter fuses into the conv/dense/add before them.
_FUSED = ("linear", "relu", "relu6")
# Element-wise layers whose TFLite op takes a fused ReLU/ReLU6.
_FUSES_ACTIVATION = (keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply)


# ----------------------------------------------------------------------------- fake quantization


def _check_bits(bits) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= int(bits) <= 8:
        raise BadInput(f"weight_bits={bits!r}: give a whole number of bits from 1 to 8")


def fake_quant_weights(w, channel_axes: tuple[int, ...], bits: int):
    """Symmetric per-channel fake quantization of `w`; `channel_axes` are the output-channel axes.

    bits >= 2: levels -q..q (q = 2**(bits-1) - 1, ternary {-s, 0, +s} for 2), scale max|w| / q.
    bits 1: binary {-s, +s}, s = mean|w| (the scale that minimizes the squared error of sign(w) * s), a
    weight of 0 going to +s. The straight-through estimator passes the gradient to `w` in both.
    """
    reduce = tuple(a for a in range(len(w.shape)) if a not in channel_axes)
    if bits == 1:
        s = ops.mean(ops.abs(w), axis=reduce, keepdims=True)
        q = ops.where(w >= 0, s, -s)
        return w + ops.stop_gradient(q - w)
    qmax = float(2 ** (bits - 1) - 1)
    m = ops.max(ops.abs(w), axis=reduce, keepdims=True)
    scale = ops.maximum(m, _EPS) / qmax
    q = ops.clip(ops.round(w / scale), -qmax, qmax) * scale
    return w + ops.stop_gradient(q - w)


def fake_quant_range(x, lo, hi, bits: int = ACT_BITS):
    """Asymmetric fake quantization of `x` to 2**bits levels over [lo, hi] (widened to hold 0),
    with the zero point nudged onto the grid as TFLite does; gradient 1 inside the range, 0 outside."""
    levels = float(2**bits - 1)
    lo = ops.minimum(lo, 0.0)
    hi = ops.maximum(ops.maximum(hi, 0.0), lo + 1e-6)
    scale = (hi - lo) / levels
    zp = ops.clip(ops.round(-lo / scale), 0.0, levels)
    nlo = -zp * scale
    nhi = (levels - zp) * scale
    xc = ops.clip(x, nlo, nhi)
    q = ops.round((xc - nlo) / scale) * scale + nlo
    return xc + ops.stop_gradient(q - xc)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantizes its input to 8 bits over a range tracked as a moving average in training.

    The first training batch sets the range; before any training batch the layer is the identity.
    """

    def __init__(self, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros", trainable=False)
        self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros", trainable=False)
        self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        seen = ops.cast(self.seen, x.dtype)
        if training:
            m = self.momentum
            bmin = ops.minimum(ops.min(ops.stop_gradient(x)), 0.0)
            bmax = ops.maximum(ops.max(ops.stop_gradient(x)), 0.0)
            lo = ops.where(seen > 0, m * self.range_min + (1 - m) * bmin, bmin)
            hi = ops.where(seen > 0, m * self.range_max + (1 - m) * bmax, bmax)
            self.range_min.assign(lo)
            self.range_max.assign(hi)
            self.seen.assign(1.0)
            return fake_quant_range(x, lo, hi)
        return ops.where(seen > 0, fake_quant_range(x, self.range_min, self.range_max), x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def learned_range(self) -> tuple[float, float] | None:
        """(min, max) tracked in training, or None before the first training batch."""
        if not self.built or float(ops.convert_to_numpy(self.seen)) <= 0:
            return None
        return float(ops.convert_to_numpy(self.range_min)), float(ops.convert_to_numpy(self.range_max))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantRange(keras.layers.Layer):
    """Pins a tensor's int8 range for the TFLite converter: a FakeQuantWithMinMaxVars op under TensorFlow.

    The converter quantizes the tensor over exactly [range_min, range_max] (nudged to hold 0)
    instead of the range it would calibrate; `strip(model, keep_ranges=True)` puts one where
    each trained ActivationQuantizer was.
    """

    def __init__(self, range_min: float, range_max: float, **kwargs):
        super().__init__(**kwargs)
        self.range_min = float(range_min)
        self.range_max = float(range_max)

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.quantization.fake_quant_with_min_max_vars(
                x, min(self.range_min, 0.0), max(self.range_max, 0.0), num_bits=ACT_BITS, narrow_range=False)
        return fake_quant_range(x, self.range_min, self.range_max)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "range_min": self.range_min, "range_max": self.range_max}


class _QuantKernel:
    """Shared part of the quantized Conv2D / DepthwiseConv2D / Dense (a mixin placed before the Keras
    layer class): the QAT options, the folded BN's variables, kernel folding and quantization."""

    def __init__(self, *args, weight_bits: int = 8, fold_bn: bool = False, bn_epsilon: float = 1e-3,
                 bn_scale: bool = True, bn_center: bool = True, **kwargs):
        _check_bits(weight_bits)
        super().__init__(*args, **kwargs)
        self.weight_bits = int(weight_bits)
        self.fold_bn = bool(fold_bn)
        self.bn_epsilon = float(bn_epsilon)
        self.bn_scale = bool(bn_scale)
        self.bn_center = bool(bn_center)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_bn()

    def get_config(self):
        return {**super().get_config(), **self._qat_config()}

    def _qat_config(self) -> dict:
        return {"weight_bits": self.weight_bits, "fold_bn": self.fold_bn, "bn_epsilon": self.bn_epsilon,
                "bn_scale": self.bn_scale, "bn_center": self.bn_center}

    def _channel_axes(self) -> tuple[int, ...]:
        return (len(self.kernel.shape) - 1,)

    def _build_bn(self) -> None:
        if not self.fold_bn:
            return
        n = (self._channels_out(),)
        self.bn_gamma = self.add_weight(name="bn_gamma", shape=n, initializer="ones", trainable=self.bn_scale)
        self.bn_beta = self.add_weight(name="bn_beta", shape=n, initializer="zeros", trainable=self.bn_center)
        self.bn_mean = self.add_weight(name="bn_moving_mean", shape=n, initializer="zeros", trainable=False)
        self.bn_var = self.add_weight(name="bn_moving_variance", shape=n, initializer="ones", trainable=False)

    def _channels_out(self) -> int:
        return int(np.prod([self.kernel.shape[a] for a in self._channel_axes()]))

    def folded(self):
        """(kernel, bias) as the converter will see them: BN folded in, kernel not yet quantized."""
        k, b = self.kernel, self.bias
        if not self.fold_bn:
            return k, b
        inv = self.bn_gamma / ops.sqrt(self.bn_var + self.bn_epsilon)
        shape = [int(self.kernel.shape[a]) for a in self._channel_axes()]
        k = k * ops.reshape(inv, shape)
        b0 = b if b is not None else 0.0
        return k, self.bn_beta + (b0 - self.bn_mean) * inv

    def quantized(self):
        """(fake-quantized folded kernel, folded bias or None)."""
        k, b = self.folded()
        return fake_quant_weights(k, self._channel_axes(), self.weight_bits), b

    def _own_variables(self) -> list:
        vs = [self.kernel] + ([self.bias] if self.use_bias else [])
        return vs + ([self.bn_gamma, self.bn_beta, self.bn_mean, self.bn_var] if self.fold_bn else [])

    # Keras' Conv and Dense save only kernel and bias; these save the folded BN's variables too.
    def save_own_variables(self, store):
        if self.built:
            for i, v in enumerate(self._own_variables()):
                store[str(i)] = v

    def load_own_variables(self, store):
        if self.built:
            for i, v in enumerate(self._own_variables()):
                v.assign(store[str(i)])

    def _finish(self, y, b):
        if b is not None:
            y = ops.add(y, b)
        return self.activation(y) if self.activation is not None else y


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantConv2D(_QuantKernel, keras.layers.Conv2D):
    """keras.layers.Conv2D with a fake-quantized (optionally BN-folded) kernel."""

    def call(self, inputs):
        k, b = self.quantized()
        return self._finish(self.convolution_op(inputs, k), b)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDepthwiseConv2D(_QuantKernel, keras.layers.DepthwiseConv2D):
    """keras.layers.DepthwiseConv2D with a fake-quantized (optionally BN-folded) kernel.

    The kernel is (kh, kw, in, multiplier); TFLite's output channel is in * multiplier, so each
    (in, multiplier) pair is one quantization channel.
    """

    def _channel_axes(self) -> tuple[int, ...]:
        return (2, 3)

    def call(self, inputs):
        k, b = self.quantized()
        y = ops.depthwise_conv(inputs, k, strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate, data_format=self.data_format)
        return self._finish(y, b)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDense(_QuantKernel, keras.layers.Dense):
    """keras.layers.Dense with a fake-quantized (optionally BN-folded) kernel."""

    def call(self, inputs, training=None):
        k, b = self.quantized()
        return self._finish(ops.matmul(inputs, k), b)


_QUANT_FOR = {
    keras.layers.Conv2D: QuantConv2D, keras.layers.DepthwiseConv2D: QuantDepthwiseConv2D, keras.layers.Dense: QuantDense,
}
_QAT_LAYERS = (ActivationQuantizer, QuantConv2D, QuantDepthwiseConv2D, QuantDense)


# ----------------------------------------------------------------------------- the graph


@dataclass
class _Node:
    layer: Any
    node: Any  # keras Node: arguments, outputs
    inputs: list[int]  # ids of the KerasTensors it consumes
    outputs: list[int]


class _Graph:
    """The nodes of a functional model in execution order, with each tensor's consumers."""

    def __init__(self, model):
        if isinstance(model, keras.Sequential):
            model = _as_functional(model)
        if not hasattr(model, "_nodes_by_depth") or not getattr(model, "inputs", None):
            raise UnsupportedModel(
                f"model '{model.name}' is a subclassed Keras model: tinyq.quant.qat rewrites Sequential and functional "
                "models; build it with keras.Input and layers"
            )
        self.model = model
        self.nodes: list[_Node] = []
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.operation is None or node.is_input:
                    continue
                self.nodes.append(_Node(node.operation, node, [id(t) for t in node.arguments.keras_tensors],
                                        [id(t) for t in node.outputs]))
        seen: set[int] = set()
        for n in self.nodes:
            if isinstance(n.layer, keras.Model):
                raise UnsupportedModel(
                    f"layer '{n.layer.name}' is a nested model: tinyq.quant.qat rewrites one level of layers; "
                    "build the model from its layers directly"
                )
            if id(n.layer) in seen:
                raise UnsupportedModel(
                    f"layer '{n.layer.name}' is called more than once (shared weights): tinyq.quant.qat rewrites each "
                    "layer once; give each call its own layer"
                )
            seen.add(id(n.layer))
        self.consumers: dict[int, list[_Node]] = {}
        for n in self.nodes:
            for t in n.inputs:
                self.consumers.setdefault(t, []).append(n)
        self.output_ids = {id(t) for t in model.outputs}

    def only_consumer(self, n: _Node) -> _Node | None:
        """The single node reading `n`'s single output, when nothing else (not even the model output) does."""
        if len(n.outputs) != 1 or n.outputs[0] in self.output_ids:
            return None
        users = self.consumers.get(n.outputs[0], [])
        return users[0] if len(users) == 1 else None

    def rebuild(self, step: Callable[[_Node, tuple, dict, _Graph], Any], skip: set[int],
                on_input: Callable[[Any], Any] = lambda t: t, name: str | None = None):
        """A new functional model: `step(node, args, kwargs, graph)` returns (output tensors, last node)."""
        new_inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype, name=_input_name(t, i))
                      for i, t in enumerate(self.model.inputs)]
        tmap = {id(t): on_input(x) for t, x in zip(self.model.inputs, new_inputs)}
        for n in self.nodes:
            if id(n.node) in skip:
                continue
            args, kwargs = n.node.arguments.fill_in(tmap)
            out, last = step(n, args, kwargs, self)
            outs = out if isinstance(out, (list, tuple)) else [out]
            for tid, y in zip(last.outputs, outs):
                tmap[tid] = y
        outputs = [tmap[id(t)] for t in self.model.outputs]
        return keras.Model(new_inputs, outputs if len(outputs) > 1 else outputs[0], name=name or self.model.name)


def _as_functional(model):
    if not model.built or not getattr(model, "inputs", None):
        raise BadInput(
            f"Sequential model '{model.name}' has no input shape: start it with keras.Input(shape=...) "
            "so tinyq.quant.qat can rewrite it"
        )
    return model._functional


def _input_name(t, i: int) -> str:
    """The name of the InputLayer behind a model input (what keras.Input(name=...) set)."""
    history = getattr(t, "_keras_history", None)
    n = getattr(history[0], "name", None) if history else getattr(t, "name", None)
    return n.split(":")[0] if isinstance(n, str) and n else f"input_{i}"


def _activation_name(layer) -> str:
    """The name of a layer's own activation ("linear" when it has none)."""
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    return keras.activations.serialize(act) if not isinstance(act, str) else act


def _is_fusable_activation(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        mv = cfg.get("max_value")
        return not cfg.get("negative_slope") and not cfg.get("threshold") and mv in (None, 6, 6.0)
    if isinstance(layer, keras.layers.Activation):
        return _activation_name(layer) in ("relu", "relu6")
    return False


def _foldable_bn(layer, rank: int) -> bool:
    if not isinstance(layer, keras.layers.BatchNormalization):
        return False
    axis = layer.axis if isinstance(layer.axis, int) else (next(iter(layer.axis)) if len(layer.axis) == 1 else None)
    return axis in (-1, rank - 1)


# ----------------------------------------------------------------------------- public API


def quantize_model(model, weight_bits: int = 8, momentum: float = 0.99):
    """A QAT copy of `model` (the original is untouched): same layers, fake-quantized kernels and activations.

    Compile and fit it as usual, then `strip` it (or save it and give the .keras to `tinyq convert`).
    """
    _check_bits(weight_bits)
    if is_qat_model(model) or any(isinstance(layer, QuantRange) for layer in model.layers):
        raise BadInput(f"model '{model.name}' already holds tinyq.quant.qat layers: give the float model")
    graph = _Graph(model)
    skip: set[int] = set()

    def aq(name: str):
        return ActivationQuantizer(momentum=momentum, name=f"{name}_aq")

    def step(n: _Node, args, kwargs, g: _Graph):
        layer = n.layer
        softmax = isinstance(layer, keras.layers.Activation) and _activation_name(layer) == "softmax"
        if isinstance(layer, _SAME_SCALE) or softmax:
            return _clone_call(layer, args, kwargs), n
        act = _activation_name(layer)
        if type(layer) in _QUANT_FOR:
            y, last = _quant_layer(n, args, kwargs, g, weight_bits)
            if last is not n:
                skip.add(id(last.node))
            fuses = act == "linear"
        else:
            y, last = _clone_call(layer, args, kwargs), n
            if isinstance(y, (list, tuple)):
                return y, n  # several outputs: left as they are
            fuses = act == "linear" and isinstance(layer, _FUSES_ACTIVATION)
        split = act if act not in _FUSED and type(layer) in _QUANT_FOR else None
        nxt = g.only_consumer(last) if fuses else None
        if nxt is not None and _is_fusable_activation(nxt.layer):
            skip.add(id(nxt.node))
            y, last = _clone_call(nxt.layer, (y,), {}), nxt
        y = aq(last.layer.name)(y)
        if split is not None:  # e.g. Dense(activation="softmax"): the logits are quantized, then the softmax
            y = keras.layers.Activation(split, name=f"{layer.name}_{split}")(y)
        return y, last

    return graph.rebuild(step, skip, on_input=lambda t: aq(_input_name(t, 0))(t), name=f"{graph.model.name}_qat")


def _quant_layer(n: _Node, args, kwargs, g: _Graph, weight_bits: int):
    """The quantized twin of a Conv2D / DepthwiseConv2D / Dense node, with the BN after it folded in.

    Returns (output, last node it replaces). An activation the converter cannot fuse (softmax,
    sigmoid, ...) is taken out of the layer: the caller applies it after the fake quantization.
    """
    layer = n.layer
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedModel(f"layer '{layer.name}' is channels_first: tinyq.quant.qat handles channels_last models")
    act = _activation_name(layer)
    bn = g.only_consumer(n) if act == "linear" else None
    if bn is not None and not _foldable_bn(bn.layer, len(n.node.outputs[0].shape)):
        bn = None
    extra: dict[str, Any] = {"weight_bits": weight_bits}
    if act not in _FUSED:
        extra["activation"] = "linear"
    weights = layer.get_weights()
    if bn is not None:
        b = bn.layer
        extra.update(fold_bn=True, bn_epsilon=float(b.epsilon), bn_scale=bool(b.scale), bn_center=bool(b.center))
        weights += _bn_weights(b)
    new = _QUANT_FOR[type(layer)].from_config({**layer.get_config(), **extra})
    y = new(*args, **kwargs)
    new.set_weights(weights)
    return y, bn if bn is not None else n


def _clone_call(layer, args, kwargs):
    """A fresh copy of `layer` (same config and weights) applied to `args`."""
    new = type(layer).from_config(layer.get_config())
    y = new(*args, **kwargs)
    new.set_weights(layer.get_weights())
    return y


def _bn_weights(bn) -> list[np.ndarray]:
    """[gamma, beta, moving_mean, moving_variance] whatever the BN's scale/center flags."""
    c = int(bn.moving_mean.shape[0])
    gamma = np.asarray(bn.gamma) if bn.scale else np.ones(c, np.float32)
    beta = np.asarray(bn.beta) if bn.center else np.zeros(c, np.float32)
    return [gamma, beta, np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)]


def is_qat_model(model) -> bool:
    """True when `model` holds tinyq.quant.qat layers."""
    return any(isinstance(layer, _QAT_LAYERS) for layer in getattr(model, "layers", []))


def strip(model, keep_ranges: bool = False):
    """The float Keras model to convert: BN folded, every kernel on its quantization grid.

    Without `keep_ranges` the fake-quant layers are dropped (a plain Keras model; the converter
    calibrates the activation ranges on the representative data). With it each trained
    ActivationQuantizer becomes a QuantRange holding the range QAT learned, which the converter
    uses as is (what `tinyq convert` does with a saved QAT model).
    """
    if not is_qat_model(model):
        raise BadInput(f"model '{model.name}' has no tinyq.quant.qat layers: give the model quantize_model returned")
    graph = _Graph(model)

    def step(n: _Node, args, kwargs, g: _Graph):
        layer = n.layer
        if isinstance(layer, ActivationQuantizer):
            r = layer.learned_range() if keep_ranges else None
            if r is not None:
                return QuantRange(*r, name=layer.name)(args[0]), n
            return args[0], n
        if isinstance(layer, _QuantKernel):
            base = next(b for b, q in _QUANT_FOR.items() if isinstance(layer, q))
            cfg = {k: v for k, v in layer.get_config().items() if k not in layer._qat_config()}
            k, b = layer.quantized()
            cfg["use_bias"] = b is not None
            new = base.from_config(cfg)
            y = new(*args, **kwargs)
            new.set_weights([ops.convert_to_numpy(k)] + ([ops.convert_to_numpy(b)] if b is not None else []))
            return y, n
        return _clone_call(layer, args, kwargs), n

    name = model.name.removesuffix("_qat")
    return graph.rebuild(step, set(), name=name)


def activation_ranges(model) -> dict[str, tuple[float, float]]:
    """{quantizer name: (min, max)} learned in training (only quantizers that have seen a batch)."""
    found = ((layer.name, layer.learned_range()) for layer in model.layers if isinstance(layer, ActivationQuantizer))
    return {name: r for name, r in found if r is not None}


def weight_bits_of(model) -> int | None:
    """The widest weight_bits of a QAT model's quantized kernels (None for a model without them)."""
    bits = [layer.weight_bits for layer in getattr(model, "layers", []) if isinstance(layer, _QuantKernel)]
    return max(bits) if bits else None


def for_conversion(model) -> tuple[Any, Any]:
    """(float model, int8 model) for the converter: for a QAT model its `strip` without and with the
    learned ranges (float16 / dynamic conversions and float references use the first); any other
    model is returned unchanged with None."""
    if not is_qat_model(model):
        return model, None
    return strip(model), strip(model, keep_ranges=True)
