"""The Helium (MVE) paths of the fast int16x8 kernels on qemu-m55, bit for bit against TFLite's reference.

One firmware of single layers (tinyq.checks.synth, the shape sweep's layer writer: seeded random
weights over the full int8 range, per-channel scales, int64 biases) covers what the Helium paths
specialize on: average and max pooling read row by row (windows 1x1, 2x2, 3x3 with clipped edge
windows of 4 and 6 pixels, global windows of 25 and 400 pixels: the quotient by multiplication up to
362 pixels, by division beyond), channel counts 1 to 24 (fewer than four: one predicated run; four to
seven: two overlapping runs; a tail past whole blocks of eight: the last eight again); CONV_2D and
FULLY_CONNECTED through the low-overhead VMLADAVA loops (k a multiple of 8 or padded to one, odd
output channel counts, odd pixel counts), CONV_2D's columns gathered by scatter stores (a filter row
inside the image as one run) and its 2x2 blocks requantized four lanes at a time, FULLY_CONNECTED's
rows four at a time. Two converted models run too: a dilated CONV_2D and one whose depth is summed in
chunks (the scalar requantization), and test_fast_int16's dense model (batches, depths 1 to 1100).
"""

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.checks.sweep import conv_row, fc_row, measure_group, pool_row
from tinyq.checks.verify import verify_on_board
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .test_fast_int16 import _convert, _dense_model, _fc_model

I16 = "int16"


def _rows() -> list[dict]:
    rows = []
    for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        for c in (1, 3, 4, 7, 8, 17, 24):
            rows.append(pool_row(op, (5, 7), c, 2, 2, "valid", I16))
            rows.append(pool_row(op, (7, 6), c, 3, 2, "same", I16))
        rows.append(pool_row(op, (5, 5), 9, "global", 1, "valid", I16))
        rows.append(pool_row(op, (20, 20), 5, "global", 1, "valid", I16))
        rows.append(pool_row(op, (4, 3), 6, 1, 1, "valid", I16))
    rows += [conv_row((5, 3), 3, 7, 3, 1, "same", dtype=I16), conv_row((6, 5), 17, 33, 3, 2, "same", dtype=I16),
             conv_row((3, 3), 8, 16, 1, 1, "same", dtype=I16), conv_row((4, 5), 1, 5, 3, 1, "valid", dtype=I16)]
    rows += [fc_row(64, 10, dtype=I16), fc_row(13, 7, "per_tensor", dtype=I16), fc_row(200, 33, dtype=I16)]
    return rows


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    return measure_group(_rows(), get_board("qemu-m55"), tmp_path_factory.mktemp("mve16"))


def test_layers_take_the_fast_int16_kernels(measured):
    slow = {r.row["id"]: r.kernel for r in measured if not (r.kernel or "").endswith("_fast")}
    assert not slow, f"reference kernels chosen on Helium: {slow}"


def test_layers_bit_exact_on_m55(measured):
    bad = {r.row["id"]: r.error for r in measured if r.bit_exact is not True or r.error}
    assert not bad, bad
    assert all(r.instructions for r in measured)


def test_fc_rounding_ties_and_int64_bias_on_m55(tmp_path):
    """FULLY_CONNECTED's rounding four rows at a time on Helium: sums on the double rounding's ties and
    biases beyond int32 fall back to the exact path (test_fast_int16's model: two quads of small biases,
    one of biases beyond int32)."""
    bias = np.array([0, 1, -1, 12345, 7, -3, 2, -100, 2**39 - 1, -(2**39), 3 * 2**31, -(2**31) - 5], dtype=np.int64)
    path = tmp_path / "fc_ties.tflite"
    path.write_bytes(_fc_model(bias, 2.0**-10, 2.0**-7, 2.0**-14))
    r = verify_on_board(path, "qemu-m55", samples=24)
    assert r.bit_exact, r.summary()



def _dilated_chunked_model():
    """A dilated CONV_2D and one whose rows (5x5 over 67 channels, uniform weights) are summed in chunks."""
    import keras

    x = keras.Input((5, 6, 67))
    big = keras.layers.Conv2D(6, 5, padding="same", name="chunked")
    return keras.Model(x, [big(x), keras.layers.Conv2D(5, 3, dilation_rate=2, padding="same")(x)]), big


@pytest.mark.parametrize("name", ["conv", "dense"])
def test_int16_models_on_m55(tmp_path_factory, name):
    path = _convert(tmp_path_factory, f"{name}16_m55", _dilated_chunked_model if name == "conv" else _dense_model)
    calls = [op.call for op in compile_tflite(path, Target.for_extensions(["dsp", "mve"])).ops]
    assert any(c.params.get("chunk", 1 << 30) < c.params.get("k", c.params.get("accum_depth", 0)) for c in calls)
    r = verify_on_board(path, "qemu-m55", samples=2)
    assert r.bit_exact, r.summary()
