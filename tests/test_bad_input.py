"""Bad input to the compile-side commands: one clear line, exit 2, no traceback, nothing written."""

import numpy as np
import pytest

from .conftest import run_tinyq
from .helpers import assert_one_line_failure


def _keras_model():
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            # 144 x 64 weights: past the converter's 1024-element floor, so dynamic-range really quantizes them.
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


def _tflite(model, mode):
    import tensorflow as tf

    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32)
    fn = tf.function(lambda x: model(x), input_signature=[spec]).get_concrete_function()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    if mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


@pytest.mark.parametrize("verb", ["generate", "verify", "analyze"])
def test_missing_file(tmp_path, verb):
    args = [verb, tmp_path / "nope.tflite"] + (["-o", tmp_path / "out"] if verb == "generate" else [])
    r = run_tinyq(*args)
    assert_one_line_failure(r, "no such file", ignore_case=True)
    assert not (tmp_path / "out").exists()


def test_not_a_flatbuffer(tmp_path):
    p = tmp_path / "garbage.tflite"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    r = run_tinyq("generate", p, "-o", tmp_path / "out")
    assert_one_line_failure(r, "not a tflite", ignore_case=True)
    assert not (tmp_path / "out").exists()


def test_truncated(tmp_path, kws):
    p = tmp_path / "half.tflite"
    p.write_bytes(kws.read_bytes()[: kws.stat().st_size // 2])
    r = run_tinyq("generate", p, "-o", tmp_path / "out")
    assert_one_line_failure(r, "half.tflite", ignore_case=True)
    assert "re-export" in r.stderr or "corrupt" in r.stderr or "truncated" in r.stderr
    assert not (tmp_path / "out").exists()


# A float32 model compiles (float kernels, tests/test_float_models.py); these two do not.
@pytest.mark.parametrize("mode,words", [("dynamic", ["dynamic-range", "tinyq convert"]), ("float16", ["float", "tinyq convert"])])
def test_not_full_integer(tmp_path, mode, words):
    p = tmp_path / f"{mode}.tflite"
    p.write_bytes(_tflite(_keras_model(), mode))
    r = run_tinyq("generate", p, "-o", tmp_path / "out")
    assert_one_line_failure(r, *words, ignore_case=True)
    assert not (tmp_path / "out").exists()


def test_unsupported_op(tmp_path):
    import keras

    from tinyq.quant.convert import convert_keras

    # keras.ops.prod converts to an int8 REDUCE_PROD, which tinyq does not compile (yet): pick another op when it does.
    prod = keras.layers.Lambda(lambda t: keras.ops.prod(t, axis=1, keepdims=True))
    m = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 1), prod, keras.layers.Conv2D(2, 1)])
    p = tmp_path / "prod.tflite"
    p.write_bytes(convert_keras(m, [np.random.default_rng(0).random((8, 4, 4, 2), dtype=np.float32)]))
    r = run_tinyq("verify", p)
    assert_one_line_failure(r, "REDUCE_PROD", "supported:", "CONV_2D", ignore_case=True)


def test_directory_given(tmp_path):
    r = run_tinyq("analyze", tmp_path)
    assert_one_line_failure(r, "directory", ignore_case=True)


def test_bad_name(tmp_path, kws):
    r = run_tinyq("generate", kws, "-o", tmp_path / "out", "--name", "9-lives")
    assert_one_line_failure(r, "C identifier", ignore_case=True)
    assert not (tmp_path / "out").exists()


def test_internal_error_is_one_line_and_click_aborts_are_clean(monkeypatch, capsys):
    """An unexpected exception gives one line and exit 1 (the traceback only with -v); click's
    exceptions (typer may ship click as a private copy) keep their own messages and codes."""
    from tinyq.cli import root as cli

    def boom(**_kwargs):
        raise ValueError("kaboom")

    cli._register_commands()  # on the real app, before it is swapped
    monkeypatch.setattr(cli, "app", boom)
    assert cli.main(["boards"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: ValueError: kaboom" in err[0], err

    def aborted(**_kwargs):
        raise cli.typer.Abort()

    monkeypatch.setattr(cli, "app", aborted)
    assert cli.main(["boards"]) == 130
    assert capsys.readouterr().err.strip() == "aborted"


def test_a_model_the_reference_cannot_run_is_one_line(tmp_path):
    """BUILTIN_REF has no ELU kernel: verify cannot check the model (exit 1, the run failed), says why, and
    build still compiles it."""
    from .helpers import single_op_model

    model = tmp_path / "elu.tflite"
    model.write_bytes(single_op_model("ELU", (1, 8), (0.05, 0), (0.05, 0)))
    r = run_tinyq("verify", model)
    line = assert_one_line_failure(r, "reference interpreter (BUILTIN_REF) cannot run this model", "ELU", code=1)
    assert "`tinyq build` still compiles it" in line
    assert run_tinyq("generate", model, "-o", tmp_path / "c").returncode == 0


def test_a_commands_exit_code_reaches_the_shell(monkeypatch):
    """`raise typer.Exit(1)` in a command (verify/profile --json on a mismatch) must exit 1: outside
    standalone mode click returns the code instead of raising it."""
    import typer

    import tinyq.cli.root as root

    t = typer.Typer()

    @t.command()
    def fails() -> None:
        raise typer.Exit(1)

    monkeypatch.setattr(root, "app", t)
    monkeypatch.setattr(root, "_register_commands", lambda: None)
    assert root.main([]) == 1
