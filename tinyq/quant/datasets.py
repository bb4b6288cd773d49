"""The demo's data and model: scikit-learn's bundled 8x8 digits and a small CNN trained on them.

Everything is deterministic: a fixed split seed and keras.utils.set_random_seed before training,
so the demo and the tests see the same weights on every run.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SPLIT_SEED = 1234
TEST_FRACTION = 0.2


def digits_dataset(seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): x float32 in [0, 1], shape (N, 8, 8, 1); y int64 class ids.

    1797 images (16 gray levels) split 80/20, stratified by class, with a fixed seed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        from tinyq.errors import ToolMissing

        raise ToolMissing("scikit-learn is not installed: run `pip install scikit-learn`") from None
    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * TEST_FRACTION))].tolist())
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    train = np.flatnonzero(~test_mask)
    rng.shuffle(train)
    test = np.flatnonzero(test_mask)
    return x[train], y[train], x[test], y[test]


def build_digits_cnn():
    """Conv2D-ReLU -> DepthwiseConv2D-ReLU -> Conv2D 1x1-ReLU -> MaxPool -> Dense -> Softmax (about 4.6k parameters)."""
    import keras

    inp = keras.Input(shape=(8, 8, 1), name="digit")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw2")(x)
    x = keras.layers.Conv2D(24, 1, activation="relu", name="pw2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(10, name="logits")(x)
    out = keras.layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name="digits_cnn")


def train_digits_cnn(epochs: int = 20, seed: int = 0, verbose: int = 0):
    """Train the digits CNN on CPU (a few seconds); returns the compiled, trained Keras model.

    Deterministic for a given (epochs, seed); reaches about 98% test accuracy with the defaults
    (>= 97% for seeds 0-3).
    """
    import keras

    keras.utils.set_random_seed(seed)
    x_train, y_train, _, _ = digits_dataset()
    model = build_digits_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=5e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, shuffle=True, verbose=verbose)
    return model
