"""The two MLPerf Tiny models: bit-exact over 200+ random inputs, arena no larger than TFLM's."""

import pytest

from tinyq.checks.verify import verify_tflite

from .conftest import shared_model


@pytest.mark.parametrize("name", ["kws_ref_model.tflite", "pretrainedResnet_quant.tflite"])
def test_bit_exact_over_200_inputs(name):
    r = verify_tflite(shared_model(name), samples=200, tflm=True)
    assert r.samples == 203
    assert r.bit_exact, r.summary()
    assert r.tflm_arena_bytes is not None
    assert r.arena_bytes <= r.tflm_arena_bytes
    assert r.arena_lower_bound <= r.arena_bytes
