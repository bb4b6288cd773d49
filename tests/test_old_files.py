"""Old and unusual .tflite files the reference interpreter refuses for reasons that do not change the
arithmetic: the reference runs a normalized copy and the report says what it changed."""

from tinyq.checks.verify import verify_tflite

from .conftest import run_tinyq
from .helpers import rewrite_tflite


def _single_scale_axis_3(src, dst):
    """Every single-scale tensor with quantized_dimension 3, as TFLM's person-detection model has them."""

    def edit(m):
        for t in m.subgraphs[0].tensors:
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale) == 1:
                q.quantizedDimension = 3

    return rewrite_tflite(src, dst, edit)


def test_out_of_range_quantized_dimension_is_normalized_and_said(kws, tmp_path):
    model = _single_scale_axis_3(kws, tmp_path / "axis3.tflite")
    r = verify_tflite(model, samples=3)
    assert r.bit_exact, r.summary()
    assert r.reference_notes == ["5 tensors' quantized_dimension (out of range) read as the axis it can only mean"]
    cli = run_tinyq("verify", model, "--samples", "2")
    assert cli.returncode == 0 and "reference: 5 tensors' quantized_dimension" in cli.stdout, cli.stdout + cli.stderr


def _per_channel_biases_axis_3(src, dst):
    """Every rank-1 per-channel tensor (the biases) with quantized_dimension 3, as TFLM's person-detection
    model has its convolutions' biases; returns the file and how many tensors it changed."""
    changed = []

    def edit(m):
        for t in m.subgraphs[0].tensors:
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale) > 1 and len(t.shape) == 1:
                q.quantizedDimension = 3
                changed.append(t)

    return rewrite_tflite(src, dst, edit), len(changed)


def test_per_channel_bias_with_out_of_range_dimension(kws, tmp_path):
    """A rank-1 per-channel tensor's only axis is 0: the reference reads it so, and the build agrees."""
    model, n = _per_channel_biases_axis_3(kws, tmp_path / "bias3.tflite")
    assert n >= 3
    r = verify_tflite(model, samples=3)
    assert r.bit_exact, r.summary()
    assert r.reference_notes == [f"{n} tensors' quantized_dimension (out of range) read as the axis it can only mean"]


def test_a_clean_file_runs_as_it_is(kws):
    assert verify_tflite(kws, samples=2).reference_notes == []
