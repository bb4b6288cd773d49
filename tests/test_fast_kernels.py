"""The fast convolution kernels against TFLite's reference, on the host and on every emulated core.

Each case is a small model whose layers sweep what the fast kernels specialize on: 1x1 filters read
in place or gathered, odd and non-multiple-of-4 channel counts (weight rows padded to 4 or to 16 on
Helium), strides, SAME/VALID padding, dilations and fused activations, plus layers the fast kernels
leave to the reference ones (depth multiplier 2), fully connected layers and average pooling's
four-channel twin. On the host the fast kernels run their portable C;
on qemu-m4/m7/m33 their DSP path (SXTB16/SMLAD) and on qemu-m55 their Helium path.
"""

import numpy as np
import pytest

from tinyq.boards import get_board
from tinyq.build.firmware import build
from tinyq.checks.profile import run_on_device
from tinyq.compiler.pipeline import compile_tflite
from tinyq.compiler.target import Target

from .helpers import BOTH_KERNELS, assert_bit_exact, write_tflite

CORES = ["qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]


def _random_case(seed: int):
    """A conv -> depthwise -> 1x1 stack with channel counts, kernels and strides drawn from `seed`."""
    rng = np.random.default_rng(seed)
    import keras

    L = keras.layers
    c_in = int(rng.choice([1, 2, 3, 5, 8, 12]))
    c_mid = int(rng.choice([3, 4, 7, 9, 16, 20]))
    c_out = int(rng.choice([1, 5, 8, 11, 24]))
    k = int(rng.choice([1, 2, 3, 5]))
    acts = [None, "relu", "relu6"]
    layers = [
        L.Conv2D(c_mid, k, strides=int(rng.choice([1, 2])), padding=str(rng.choice(["same", "valid"])), activation=acts[int(rng.integers(3))]),
        L.DepthwiseConv2D(int(rng.choice([3, 5])), strides=int(rng.choice([1, 2])), padding="same", activation=acts[int(rng.integers(3))]),
        L.Conv2D(c_out, 1, activation=acts[int(rng.integers(3))]),
    ]
    return (int(rng.integers(9, 14)), int(rng.integers(7, 12)), c_in), layers


def _cases():
    import keras

    L = keras.layers
    fixed = {
        "kws-like": ((20, 6, 1), [L.Conv2D(16, (10, 4), strides=2, padding="same", activation="relu"),
                                  L.DepthwiseConv2D(3, padding="same", activation="relu"), L.Conv2D(16, 1, activation="relu")]),
        "dilated": ((12, 10, 6), [L.Conv2D(6, 3, dilation_rate=2, padding="same", activation="relu"),
                                  L.DepthwiseConv2D(3, dilation_rate=(2, 1), padding="same"), L.Conv2D(4, 1, strides=2)]),
        "wide": ((5, 5, 36), [L.Conv2D(33, 3, padding="same"), L.DepthwiseConv2D(3, strides=(1, 2), padding="valid"), L.Conv2D(17, 1)]),
        "multiplier": ((8, 8, 4), [L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), L.Conv2D(5, 2, strides=2)]),
        # FULLY_CONNECTED two rows at a time (SMLAD), an odd row count, a depth with a tail of 3.
        "dense": ((6, 5, 3), [L.Conv2D(4, 1, activation="relu"), L.Flatten(), L.Dense(7, activation="relu"), L.Dense(5)]),
        # Pooling four channels at a time: clipped edge windows, 3-channel tails, and a 360-value
        # average window (its halfword sums flushed every 12 rows).
        "pool": ((18, 20, 5), [L.Conv2D(12, 1, activation="relu"), L.AveragePooling2D(3, strides=1, padding="same"),
                               L.MaxPooling2D(3, strides=1, padding="same"), L.Conv2D(7, 1),
                               L.MaxPooling2D(2, strides=1, padding="same"), L.AveragePooling2D((18, 20))]),
    }
    return {**fixed, **{f"random-{s}": _random_case(s) for s in (1, 2, 3, 4)}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("fast")
    out = {}
    for n, (name, (shape, layers)) in enumerate(_cases().items()):
        keras.utils.set_random_seed(7)
        m = keras.Sequential([keras.Input(shape), *layers])
        # Input ranges that differ per case give different scales and zero points (some far from 0).
        rng = np.random.default_rng(3 + n)
        calib = rng.normal(float(rng.uniform(-1, 3)), float(rng.uniform(0.2, 4)), (32, *shape)).astype(np.float32)
        out[name] = write_tflite(d, name, m, [calib])
    return out


NAMES = list(_cases())


@pytest.mark.parametrize("name", NAMES)
def test_fast_kernels_are_used_and_bit_exact_on_the_host(models, name):
    funcs = {op.call.func for op in compile_tflite(models[name], Target()).ops}
    assert funcs & {"tq_conv_1x1_s8", "tq_conv_im2col_s8", "tq_conv_taps_s8", "tq_depthwise_conv_fast_s8"}, funcs
    assert ("tq_avgpool_fast_s8" in funcs and "tq_maxpool_fast_s8" in funcs) == (name == "pool"), funcs
    assert_bit_exact(models[name], samples=30, kernels=BOTH_KERNELS)


def test_helium_rows_are_padded_to_16(models):
    g = compile_tflite(models["wide"], Target.for_extensions(["dsp", "mve"]))
    ks = [op.call.params["gemm"]["k"] for op in g.ops if "gemm" in op.call.params]
    assert ks and all(k % 16 == 0 for k in ks)
    assert Target.for_extensions(["dsp"]).k_align == 4


@pytest.mark.parametrize("core", [c if c == "qemu-m4" else pytest.param(c, marks=pytest.mark.slow) for c in CORES])
@pytest.mark.parametrize("name", NAMES)
def test_fast_kernels_bit_exact_on_every_core(models, name, core, tmp_path):
    res = build(models[name], get_board(core), tmp_path / "b")
    run = run_on_device(res.out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    """Residual blocks: an ADD after two 3x3 convolutions (32x32x8, fused into the second, over the
    block's input), an ADD after a
    depthwise one (8,192 elements: kept, tabulated, in place) and a small ADD after a 1x1 (fused)."""
    import keras

    keras.utils.set_random_seed(5)
    L = keras.layers
    inp = keras.Input((32, 32, 8))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y1 = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same")(y1)
    z = L.ReLU()(L.Add()([x, y]))
    w = L.DepthwiseConv2D(3, padding="same")(z)
    z2 = L.Add()([w, z])
    p = L.AveragePooling2D(8)(z2)
    q = L.Conv2D(8, 1)(p)
    out = L.Add()([p, q])
    m = keras.Model(inp, out)
    calib = np.random.default_rng(1).normal(0, 1, (16, 32, 32, 8)).astype(np.float32)
    return write_tflite(tmp_path_factory.mktemp("res"), "res", m, [calib])


def test_residual_adds_fuse_into_convolutions_and_bit_exact(residual):
    g = compile_tflite(residual, Target())
    funcs = [op.call.func for op in g.ops]
    assert funcs.count("tq_add_fast_s8") == 1, funcs  # the ADD after the depthwise convolution
    fused = [op for op in g.ops if op.call.params.get("res", {}).get("t_conv")]
    assert [op.call.func for op in fused] == ["tq_conv_taps_s8", "tq_conv_1x1_s8"]
    assert sum("fused into layer" in n for n in g.notes) == 2
    # The fused 3x3 convolution writes over its residual: its own output tensor is gone.
    first = fused[0].call
    assert g.base(first.outputs[0]).index == g.base(first.inputs[1]).index
    add = next(op for op in g.ops if op.call.func == "tq_add_fast_s8")
    assert {a.name for a in add.call.arrays} == {"t1", "t2"} and len(add.call.outputs) == 1  # tables in flash, no scratch
    assert any("writes its output over its input" in n for n in g.notes)
    ref = compile_tflite(residual, Target(kernels="ref"))
    assert [op.kind for op in ref.ops].count("ADD") == 3  # the reference kernels fuse nothing
    assert_bit_exact(residual, kernels=BOTH_KERNELS)


def test_fused_residual_saves_an_activation(residual):
    """With the ADD fused, a block of two convolutions needs its input, the middle activation and a
    few bytes, not three activations (32x32x8 = 8,192 bytes each)."""
    fast = compile_tflite(residual, Target())
    assert fast.arena_size <= 2 * 8192 + 256, fast.arena_size
    assert compile_tflite(residual, Target(kernels="ref")).arena_size >= 3 * 8192


@pytest.mark.parametrize("core", ["qemu-m4", pytest.param("qemu-m55", marks=pytest.mark.slow)])
def test_residual_bit_exact_on_core(residual, core, tmp_path):
    run = run_on_device(build(residual, get_board(core), tmp_path / "b").out_dir, runs=3, edges=True)
    assert run.bit_exact, run.first_mismatch


def test_in_place_keeps_the_arena_at_one_activation_for_a_chain(models):
    """conv -> depthwise -> 1x1 chains need one activation buffer plus scratch, not two buffers."""
    g = compile_tflite(models["kws-like"], Target())
    biggest = max(t.nbytes for t in g.tensors if not t.is_const and t.index not in g.inputs)
    assert g.arena_size < 2 * biggest, (g.arena_size, biggest)
    assert compile_tflite(models["kws-like"], Target(kernels="ref")).arena_size >= 2 * biggest


FC_ROUND_HARNESS = r"""
#include <math.h>
#include <stdio.h>
#include "tq_fully_connected_s8.c" /* the reference's static tq_fc_requantize, in double */
#include "tq_conv_fast.h"

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

int main(void)
{
    long bad = 0, i;
    for (i = 0; i < 2000000; ++i) {
        int32_t acc;
        double scale;
        int e, ex = -(int)(next() % 40);
        switch (next() % 4) {
        case 0: acc = (int32_t)(uint32_t)next(); break;
        case 1: acc = (int32_t)(next() % 200001) - 100000; break;
        case 2: acc = (int32_t)(next() % 2001) - 1000; break;
        default: acc = (int32_t)(1u << (next() % 31)) * ((next() & 1) ? 1 : -1);
        }
        switch (next() % 3) {
        case 0: scale = ldexp(1.0, ex); break;                           /* ties everywhere */
        case 1: scale = ldexp((double)(next() % 64 + 1), ex); break;     /* few significant bits */
        default: scale = ldexp(0.5 + (double)(next() >> 11) / 18014398509481984.0, ex);
        }
        double f = frexp(scale, &e);
        if (tq_fc_requantize(acc, scale) != tq_fc_round(acc, (uint64_t)ldexp(f, 53), e - 53)) {
            if (bad++ < 3) printf("acc %d scale %a\n", acc, scale);
        }
    }
    printf("%ld\n", bad);
    return bad != 0;
}
"""


def test_integer_fc_rounding_matches_the_double_reference(tmp_path):
    """tq_fc_round against the reference kernel's double arithmetic on 2 M operand pairs, ties included."""
    import subprocess

    from tinyq.resources import KERNELS

    (tmp_path / "h.c").write_text(FC_ROUND_HARNESS)
    exe = tmp_path / "h"
    inc = ["-I", str(KERNELS / "include"), "-I", str(KERNELS / "conv")]
    r = subprocess.run(["cc", "-O2", "-std=c99", *inc, str(tmp_path / "h.c"), "-o", str(exe), "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout


@pytest.mark.parametrize("name", ["kws-like", "wide", "random-1"])
def test_wide_weights_same_bits_host(models, name):
    g = compile_tflite(models[name], Target(wide=True))
    assert {"tq_conv_1x1_wide_s8", "tq_conv_im2col_wide_s8"} & {op.call.func for op in g.ops}
    assert_bit_exact(models[name], wide=True)


@pytest.mark.parametrize("core", ["qemu-m4", pytest.param("qemu-m33", marks=pytest.mark.slow)])
def test_wide_weights_trade_flash_for_instructions_on_core(models, core, tmp_path):
    narrow = build(models["wide"], get_board(core), tmp_path / "n")
    wide = build(models["wide"], get_board(core), tmp_path / "w", wide=True)
    assert wide.sizes.weights > narrow.sizes.weights  # the cost, in the size report
    a = run_on_device(narrow.out_dir, runs=2)
    b = run_on_device(wide.out_dir, runs=2)
    assert a.bit_exact and b.bit_exact
    assert b.median_cycles < a.median_cycles


def test_wide_weights_ignored_on_helium():
    assert Target.for_extensions(["dsp", "mve"], wide=True).wide is False


def test_wide_weights_reach_the_tap_kernel_without_growing_the_arena(resnet, tmp_path):
    """ResNet-8's two 32x32x16 convolutions leave no room for im2col's columns, so they run the tap
    kernel: with --wide-weights it reads int16 weights as well (tq_conv_taps_wide_s8), at the same
    arena, fewer instructions and the same bits on a DSP core."""
    funcs = {op.call.func for op in compile_tflite(resnet, Target.for_extensions(["dsp"], wide=True)).ops}
    assert "tq_conv_taps_wide_s8" in funcs, funcs
    narrow = build(resnet, get_board("qemu-m4"), tmp_path / "n")
    wide = build(resnet, get_board("qemu-m4"), tmp_path / "w", wide=True)
    assert wide.sizes.arena == narrow.sizes.arena
    a = run_on_device(narrow.out_dir, runs=1)
    b = run_on_device(wide.out_dir, runs=1)
    assert a.bit_exact and b.bit_exact
    assert b.median_cycles < 0.95 * a.median_cycles  # 11 instructions per 16 MACs against int8's 12 (tq_gemm_dsp.S)
