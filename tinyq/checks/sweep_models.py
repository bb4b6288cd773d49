"""The sweep's composite models: well-known tiny architectures built with Keras from seeded random weights and
quantized to int8 with tinyq's converter (TensorFlow) on seeded random calibration inputs.

- mobilenet_v1_025_96: MobileNet v1, alpha 0.25, 96x96x3, 2 classes;
- mobilenet_v2_035_96: MobileNet v2, alpha 0.35, 96x96x3, 2 classes (both tf.keras.applications, weights
  None, no classifier activation: a softmax over random logits gets a scale the reference interpreter aborts on);
- ds_cnn: a keyword-spotting DS-CNN (49x10x1: conv 10x4 stride 2, then 4 x (depthwise 3x3 + 1x1), 64 channels,
  global average pooling, 12 classes);
- autoencoder: the fully connected anomaly-detection autoencoder 640-128-128-128-128-8-128-128-128-128-640;
- resnet8: MLPerf Tiny's ResNet-8 (32x32x3, 16/32/64 channels, residual adds, 10 classes).

`model_paths(cache_dir)` converts each model once and keeps the .tflite under `cache_dir` (reruns skip
TensorFlow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from tinyq.fileio import write_bytes

CALIBRATION_SAMPLES = 16


def _mobilenet_v1(tf):
    return tf.keras.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=2,
                                           classifier_activation=None)


def _mobilenet_v2(tf):
    return tf.keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=2,
                                             classifier_activation=None)


def _ds_cnn(tf):
    L = tf.keras.layers
    x = inp = tf.keras.Input((49, 10, 1))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(64, (10, 4), strides=2, padding="same")(x)))
    for _ in range(4):
        x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same")(x)))
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(64, 1)(x)))
    x = L.Flatten()(L.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])))(x))
    return tf.keras.Model(inp, L.Dense(12)(x), name="ds_cnn")


def _autoencoder(tf):
    L = tf.keras.layers
    x = inp = tf.keras.Input((640,))
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units)(x)))
    return tf.keras.Model(inp, L.Dense(640)(x), name="autoencoder")


def _resnet8(tf):
    L = tf.keras.layers

    def block(x, filters: int, stride: int):
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 3, strides=stride, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride)(x)
        return L.ReLU()(L.Add()([x, y]))

    x = inp = tf.keras.Input((32, 32, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(x)))
    x = block(x, 16, 1)
    x = block(x, 32, 2)
    x = block(x, 64, 2)
    x = L.Flatten()(L.AveragePooling2D(pool_size=8)(x))
    return tf.keras.Model(inp, L.Dense(10)(x), name="resnet8")


MODELS: dict[str, Callable] = {
    "mobilenet_v1_025_96": _mobilenet_v1,
    "mobilenet_v2_035_96": _mobilenet_v2,
    "ds_cnn": _ds_cnn,
    "autoencoder": _autoencoder,
    "resnet8": _resnet8,
}


def _randomize(model, rng: np.random.Generator) -> None:
    """Seeded weights: kernels normal(0, sqrt(2 / fan_in)) (He: activations keep their scale through ReLUs),
    biases normal(0, 0.1); batch normalization scale and variance near 1, shift and mean near 0."""
    import tensorflow as tf

    L = tf.keras.layers
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, L.BatchNormalization):
            g, b, m, v = (w.shape for w in ws)
            new = [1.0 + rng.normal(0.0, 0.1, g), rng.normal(0.0, 0.1, b), rng.normal(0.0, 0.1, m),
                   1.0 + np.abs(rng.normal(0.0, 0.1, v))]
        else:
            new = []
            for w in ws:
                if w.ndim == 1:
                    new.append(rng.normal(0.0, 0.1, w.shape))
                else:
                    fan_in = int(np.prod(w.shape[:2] if isinstance(layer, L.DepthwiseConv2D) else w.shape[:-1]))
                    new.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), w.shape))
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in new])


def convert(name: str, seed: int = 0) -> bytes:
    """The int8 .tflite of composite model `name`, from seeded weights and calibration."""
    import tensorflow as tf

    from tinyq.quant import convert_keras

    tf.keras.utils.set_random_seed(seed)
    model = MODELS[name](tf)
    rng = np.random.default_rng(seed)
    _randomize(model, rng)
    calib = [rng.uniform(-1.0, 1.0, (CALIBRATION_SAMPLES, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    return convert_keras(model, calib)


def model_paths(cache_dir: Path, names=tuple(MODELS), seed: int = 0, progress=None) -> list[Path]:
    """`cache_dir`/NAME.tflite for each model, converted where it is not there yet; `progress(name)` before
    each conversion."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = cache_dir / f"{name}.tflite"
        if not path.is_file():
            if progress is not None:
                progress(name)
            write_bytes(path, convert(name, seed))
        paths.append(path)
    return paths
