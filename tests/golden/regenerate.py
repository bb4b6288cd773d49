"""Regenerate the golden generated-C trees that tests/test_golden.py compares byte for byte.

    .venv/bin/python tests/golden/regenerate.py           # small-fast/ and small-ref/ from the committed small.tflite
    .venv/bin/python tests/golden/regenerate.py --model   # first rebuild small.tflite from Keras, then the C

The input is the committed small.tflite, not a model converted at test time, so the golden trees do
not depend on TensorFlow's converter. --model rebuilds it: a Keras model with seeded weights
(numpy, not Keras' initializers) and seeded calibration data, through tinyq's converter
(tinyq.quant.convert.convert_keras). It exercises CONV_2D (stride 2, SAME padding), DEPTHWISE_CONV_2D,
a residual ADD, MAX_POOL_2D, FULLY_CONNECTED and SOFTMAX.

The C is generated the way `tinyq generate` does (tinyq.compiler.pipeline.generate_library, then
tinyq.compiler.codegen.write) with a fixed `command` string, so no path of this machine is stamped
into the text.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parent.parent
MODEL = GOLDEN / "small.tflite"
NAME = "small"
KERNELS = ("fast", "ref")
SEED = 20260


def command(kernels: str) -> str:
    """The `command:` line stamped into the generated files' headers (fixed: no paths)."""
    return f"tinyq generate {MODEL.name} -o {NAME}-{kernels} --name {NAME}" + ("" if kernels == "fast" else f" --kernels {kernels}")


def generate_tree(out_dir: Path, kernels: str, model: Path = MODEL) -> list[Path]:
    """Generate the C library of `model` for `--kernels kernels` into `out_dir` (emptied first); returns the files."""
    from tinyq.compiler.codegen import write
    from tinyq.compiler.pipeline import generate_library
    from tinyq.compiler.target import target_for

    gen = generate_library(model, name=NAME, command=command(kernels), target=target_for(kernels))
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    return write(gen, out_dir)


def build_model() -> bytes:
    """The small int8 model: seeded Keras weights and calibration, converted by tinyq's converter."""
    import keras
    import numpy as np

    from tests.helpers import randomize_weights
    from tinyq.quant.convert import convert_keras

    keras.utils.set_random_seed(SEED)
    L = keras.layers
    inp = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)  # 6x6x8
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 1)(y)
    x = L.Add()([x, y])  # residual: fused into the 1x1 convolution by the fast kernels
    x = L.MaxPooling2D(2)(x)  # 3x3x8
    x = L.Dense(10)(L.Flatten()(x))
    model = keras.Model(inp, L.Softmax()(x))
    rng = np.random.default_rng(SEED)
    randomize_weights(model, rng)
    calib = rng.normal(0.5, 1.0, size=(32, 12, 12, 3)).astype(np.float32)
    return convert_keras(model, [calib])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="store_true", help=f"rebuild {MODEL.name} first (Keras + tinyq's converter)")
    args = p.parse_args(argv)
    if args.model:
        MODEL.write_bytes(build_model())
        print(f"wrote {MODEL.relative_to(ROOT)} ({MODEL.stat().st_size} bytes)")
    for kernels in KERNELS:
        out = GOLDEN / f"{NAME}-{kernels}"
        files = generate_tree(out, kernels)
        print(f"wrote {out.relative_to(ROOT)}/ ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
