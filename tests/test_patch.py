"""Patch-based execution (tinyq.compiler.patch): stages of spatial layers run band by band, bit-exact
with TFLite's reference on the host (fast and reference kernels, int8 and int16, every layer kind a
stage holds, odd heights and channel counts, 2 bands to one row a band), on qemu-m4 (DSP), qemu-m55
(Helium) and qemu-m3 (portable); and the choice: no budget, no patching and the same files; a budget
under the plain plan, the cheapest plan that fits; an impossible one, one line and exit 2."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tinyq.compiler.patch import Stage, band_rows, chains, split, window

# A layer: (op, kernel, stride, padding, out channels, dilation); pools keep the channels.
LAYERS = [
    ("CONV_2D", 3, 1, "same", 5, 1),             # 3x3 s1 same, 3 -> 5 channels
    ("DEPTHWISE_CONV_2D", 3, 2, "same", 5, 1),   # depthwise s2, multiplier 1
    ("CONV_2D", 5, 1, "same", 7, 1),             # 5x5
    ("CONV_2D", 3, 1, "same", 7, 2),             # dilation 2
    ("DEPTHWISE_CONV_2D", 3, 1, "valid", 14, 1),  # depthwise s1 valid, multiplier 2
    ("CONV_2D", 1, 1, "same", 12, 1),            # 1x1
    ("MAX_POOL_2D", 3, 1, "same", 12, 1),
    ("CONV_2D", 3, 1, "same", 24, 1),            # 3x3 taps
    ("DEPTHWISE_CONV_2D", 3, 1, "same", 24, 1),  # the fast depthwise kernel
    ("CONV_2D", 3, 2, "valid", 6, 1),            # 3x3 s2 valid
    ("AVERAGE_POOL_2D", 2, 1, "same", 6, 1),
    ("DEPTHWISE_CONV_2D", 3, 2, "same", 12, 1),  # depthwise s2, multiplier 2
    ("CONV_2D", 3, 2, "same", 8, 1),             # 3x3 s2 same
    ("LEAKY_RELU", 1, 1, "same", 8, 1),          # an elementwise activation
]
SHAPE = (1, 37, 11, 3)  # odd height: bands that do not divide it
# (first layer, last layer, bands): several stages in one model, P from 2 to one row a band.
# Rows written: 37, 19, 19, 19, 17, 17, 17, 17, 17, 8, 8, 4, 2, 2.
STAGES = {
    "long": [(0, 13, 2)],                # one row a band
    "rows": [(0, 4, 17), (5, 11, 3)],    # one row a band, and 3 bands over 4 rows
    "short": [(1, 3, 3), (6, 10, 5), (11, 13, 2)],
}
# kernels: fast, ref (TFLite's loops), taps (fast, but no kernel takes its twin with more scratch: the
# 3x3 convolutions run tq_conv_taps_s8, not im2col)
HOST_RUNS = [(dtype, stages, "fast") for dtype in ("int8", "int16") for stages in STAGES] + [
    ("int8", "rows", "ref"), ("int16", "rows", "ref"), ("int8", "short", "taps")]


def _out(size: int, k: int, stride: int, pad: str, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return -(-size // stride) if pad == "same" else (size - eff) // stride + 1


def _chain(path, dtype: str, seed: int = 0):
    """A .tflite of LAYERS one after the other from an input of SHAPE, seeded weights and output scales
    from synth's layer writer."""
    from tinyq.checks.synth import (
        SAME,
        VALID,
        LayerNet,
        _bias_and_output,
        _weights,
        options,
    )

    rng = np.random.default_rng(seed)
    net = LayerNet(dtype)
    q = (0.05, -3) if dtype == "int8" else (0.0005, 0)
    bias_type = "int64" if dtype == "int16" else "int32"
    x = net.input(SHAPE, dtype, q, name="x")
    _, h, w, c = SHAPE
    for k, (op, kern, stride, pad, oc, dil) in enumerate(LAYERS):
        oh, ow = _out(h, kern, stride, pad, dil), _out(w, kern, stride, pad, dil)
        common = {"padding": SAME if pad == "same" else VALID, "strideH": stride, "strideW": stride, "fusedActivationFunction": 0}
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            shape_w, axis = ((oc, kern, kern, c), 0) if op == "CONV_2D" else ((1, kern, kern, oc), 3)
            wq, ws = _weights(rng, shape_w, axis)
            bias, out_q = _bias_and_output(rng, dtype, q, wq, ws, 0, axis, oc)
            wt = net.const(wq, "int8", (ws, [0] * oc, axis), name=f"w{k}")
            b = net.const(bias, bias_type, ((np.float32(q[0]) * ws).astype(np.float32), [0] * oc, 0), name=f"b{k}")
            y = net.tensor((1, oh, ow, oc), dtype, out_q, name=f"y{k}")
            dils = {"dilationHFactor": dil, "dilationWFactor": dil}
            if op == "CONV_2D":
                opts = options("Conv2DOptionsT", **common, **dils)
            else:
                opts = options("DepthwiseConv2DOptionsT", depthMultiplier=oc // c, **common, **dils)
            net.add_op(op, [x, wt, b], [y], opts)
        elif op == "LEAKY_RELU":
            oc, out_q = c, q
            y = net.tensor((1, oh, ow, oc), dtype, out_q, name=f"y{k}")
            net.add_op(op, [x], [y], options("LeakyReluOptionsT", alpha=0.2))
        else:
            oc, out_q = c, q
            y = net.tensor((1, oh, ow, oc), dtype, out_q, name=f"y{k}")
            net.add_op(op, [x], [y], options("Pool2DOptionsT", filterHeight=kern, filterWidth=kern, **common))
        x, q, h, w, c = y, out_q, oh, ow, oc
    net.outputs = [x]
    return net.write(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("patch")
    return {t: _chain(d / f"chain_{t}.tflite", t, seed=k) for k, t in enumerate(("int8", "int16"))}


def _stages(spec) -> tuple[Stage, ...]:
    return tuple(Stage(tuple(range(a, b + 1)), p) for a, b, p in spec)


def _run_host(path, target, samples: int = 3):
    """The generated C (host compiler) against the reference: every output equal, for the edge inputs
    and `samples` random ones. Returns the compiled graph."""
    from tinyq.build.host import HostModel
    from tinyq.checks.inputs import make_inputs
    from tinyq.checks.runners import HostRunner, ReferenceRunner
    from tinyq.compiler import generate_library

    gen = generate_library(path, name="tq_model", target=target)
    host, ref = HostRunner(HostModel(gen, "tq_model")), ReferenceRunner(path, gen.graph)
    batch, _ = make_inputs(gen.graph, samples, seed=1)
    for x in batch:
        for mine, theirs in zip(host.run(x), ref.run(x)):
            bad = np.flatnonzero(mine.reshape(-1) != theirs.reshape(-1))
            assert bad.size == 0, f"first mismatch at {bad[0]}: {mine.reshape(-1)[bad[0]]} vs {theirs.reshape(-1)[bad[0]]}"
    return gen.graph


# --------------------------------------------------------------------------- geometry


def test_band_rows_cover_the_windows_with_their_own_padding():
    from tinyq.compiler.patch import Window

    assert split(7, 3) == [(0, 3), (3, 5), (5, 7)]
    # 3x3 stride 2 SAME over 9 rows (5 out, 1 row of padding above), then 3x3 stride 1 SAME
    wins = [Window(k=3, stride=2, pad=1, h_in=9, h_out=5), Window(k=3, stride=1, pad=1, h_in=5, h_out=5)]
    first, last = band_rows(wins, 0, 2), band_rows(wins, 4, 5)
    assert first == [(0, 3, 0, 6, 1), (0, 2, 0, 3, 1)]  # the top band keeps the top padding
    assert last == [(3, 5, 5, 9, 0), (4, 5, 3, 5, 0)]  # inside: none; the bottom runs off as before


def test_chains_stop_at_branches_and_non_spatial_layers(models):
    from tinyq.compiler.importer import import_model

    g = import_model(models["int8"])
    found = chains(g)
    assert [[op.index for op in c] for c in found] == [list(range(len(LAYERS)))]
    assert all(window(g, op) is not None for op in g.ops)


def test_a_stage_that_is_no_chain_or_has_too_many_bands_is_refused(models):
    from tinyq.compiler import compile_tflite, target_for
    from tinyq.errors import BadInput

    for stage, words in ((Stage((0, 2), 2), "not a chain"), (Stage((11, 12), 3), "3 bands of a 2-row output")):
        with pytest.raises(BadInput, match=words):
            compile_tflite(models["int8"], dataclasses.replace(target_for("fast"), patches=(stage,)))


# --------------------------------------------------------------------------- bit-exact on the host


@pytest.mark.parametrize(("dtype", "stages", "kernels"), HOST_RUNS)
def test_bands_are_bit_exact_on_the_host(models, dtype, stages, kernels, monkeypatch):
    from tinyq.compiler import passes, target_for

    if kernels == "taps":
        def no_twins(g):
            for op in g.ops:
                op.call.alt = None
            return passes.plan_memory(g)

        monkeypatch.setattr(passes, "PIPELINE", [(n, no_twins if n == "plan_memory" else f) for n, f in passes.PIPELINE])
    target = dataclasses.replace(target_for("fast" if kernels == "taps" else kernels), patches=_stages(STAGES[stages]))
    g = _run_host(models[dtype], target)
    if kernels == "taps":
        assert "tq_conv_taps_s8" in {op.call.func for op in g.ops if op.band_of is not None}
    bands = [op for op in g.ops if op.band_of is not None]
    assert len(bands) == sum((b - a + 1) * p for a, b, p in STAGES[stages])
    assert all(op.name.startswith(f"{op.band_of}/band") for op in bands)


def test_the_banded_library_is_pedantic_c99(models, tmp_path):
    import subprocess

    from tinyq.compiler import generate_library, target_for, write_library

    target = dataclasses.replace(target_for("fast"), patches=_stages(STAGES["short"]))
    write_library(generate_library(models["int8"], name="net", target=target), tmp_path / "net")
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", "net.c"]
    r = subprocess.run(["cc", *flags], cwd=tmp_path / "net", capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "net" / "net.c").read_text()
    # bands are named after their layer; the middle bands of a layer share its params
    assert "6/band4 MAX_POOL_2D" in text and text.count("_params = {") < text.count("status = tq_")


def test_a_patched_plan_never_holds_the_full_maps(models):
    from tinyq.compiler import compile_tflite, target_for
    from tinyq.compiler.passes import buffers

    plain = compile_tflite(models["int8"], target_for("fast"))
    g = compile_tflite(models["int8"], dataclasses.replace(target_for("fast"), patches=_stages([(0, 13, 2)])))
    inner = {t.index for t in g.tensors if t.name in {f"y{k}" for k in range(13)}}
    assert len(inner) == 13 and not inner & {b.key for b in buffers(g)}  # the full maps have no buffer
    assert not inner & {i for op in g.ops for i in op.call.inputs + op.call.outputs}
    assert len(g.ops) == 2 * len(plain.ops)
    # row slices are never written over: a band reading one writes a buffer of its own (or a slice of Y)
    readers = [op for op in g.ops if g.sliced(op.call.inputs[0])]
    assert len(readers) == 2 and all(g.tensor(op.call.outputs[0]).alias_of is None for op in readers)
    assert all(g.tensor(op.call.outputs[0]).alias_offset is not None for op in g.ops if op.band_of == 13)


# --------------------------------------------------------------------------- on the cores


CORES = [("qemu-m4", "int8", [(0, 9, 3), (10, 13, 2)]), ("qemu-m55", "int8", [(0, 5, 4), (6, 13, 2)]),
         ("qemu-m3", "int16", [(0, 11, 4)])]


@pytest.mark.parametrize(("core", "dtype", "spec"), CORES, ids=[c[0] for c in CORES])
def test_bands_are_bit_exact_on_core(models, core, dtype, spec, tmp_path, monkeypatch):
    from tinyq.boards import get_board
    from tinyq.build import firmware
    from tinyq.checks.profile import run_on_device
    from tinyq.compiler.patch_plan import Plan

    # the stages given, instead of the ones the budget would choose
    monkeypatch.setattr(firmware, "choose_for_file", lambda path, target, budget, label=None: Plan(_stages(spec), 0, 0, 1, 0))
    res = firmware.build(models[dtype], get_board(core), tmp_path / "b", ram_budget=1)
    assert any(L.op.startswith("0/band1 ") for L in res.manifest.layers)
    run = run_on_device(res.out_dir, runs=2, edges=True, built=res)
    assert run.bit_exact, run.first_mismatch


# --------------------------------------------------------------------------- the choice


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """A MobileNet-like int8 model: 3x3 stride 2, then depthwise / 1x1 blocks at 48 and 24 rows."""
    d = tmp_path_factory.mktemp("mobile")
    from tinyq.checks.synth import SAME, LayerNet, _bias_and_output, _weights, options

    rng = np.random.default_rng(3)
    net = LayerNet("int8")
    q = (0.02, 0)
    x = net.input((1, 48, 48, 3), "int8", q, name="x")
    h, c = 48, 3
    for k, (op, stride, oc) in enumerate([("CONV_2D", 2, 8), ("DEPTHWISE_CONV_2D", 1, 8), ("CONV_2D", 1, 24),
                                          ("DEPTHWISE_CONV_2D", 2, 24), ("CONV_2D", 1, 16), ("DEPTHWISE_CONV_2D", 2, 16)]):
        kern = 1 if op == "CONV_2D" and k else 3
        shape_w, axis = ((oc, kern, kern, c), 0) if op == "CONV_2D" else ((1, kern, kern, oc), 3)
        wq, ws = _weights(rng, shape_w, axis)
        bias, out_q = _bias_and_output(rng, "int8", q, wq, ws, 0, axis, oc)
        wt = net.const(wq, "int8", (ws, [0] * oc, axis), name=f"w{k}")
        b = net.const(bias, "int32", ((np.float32(q[0]) * ws).astype(np.float32), [0] * oc, 0), name=f"b{k}")
        h = -(-h // stride)
        y = net.tensor((1, h, h, oc), "int8", out_q, name=f"y{k}")
        common = {"padding": SAME, "strideH": stride, "strideW": stride, "fusedActivationFunction": 3}
        opts = (options("Conv2DOptionsT", **common) if op == "CONV_2D"
                else options("DepthwiseConv2DOptionsT", depthMultiplier=1, **common))
        net.add_op(op, [x, wt, b], [y], opts)
        x, q, c = y, out_q, oc
    net.outputs = [x]
    return net.write(d / "mobile.tflite")


def _sources(build_dir) -> dict[str, str]:
    """The generated sources of a build (not the kernels, copied as they are), without the lines naming
    the command (and its -o)."""
    texts = {f.name: f.read_text() for f in sorted((build_dir / "src").glob("*.[ch]"))}
    return {n: "".join(ln for ln in t.splitlines(True) if "command: " not in ln) for n, t in texts.items() if "Generated by tinyq" in t}


def test_a_budget_under_the_plain_plan_builds_patched_and_fits(mobilenet, tmp_path):
    from tinyq.boards import get_board
    from tinyq.build.firmware import build

    from .conftest import run_tinyq

    m4 = get_board("qemu-m4")
    plain_dir, patched_dir, again = tmp_path / "plain", tmp_path / "patched", tmp_path / "again"
    res = build(mobilenet, m4, plain_dir)
    plain = {"ram_tflm": res.manifest.ram_tflm, "ram": res.sizes.ram}
    assert res.manifest.patches == () and res.patches is None
    budget = plain["ram_tflm"] * 7 // 10
    r = run_tinyq("build", mobilenet, "--board", "qemu-m4", "-o", patched_dir, "--ram-budget", budget, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ram_tflm"] <= budget < plain["ram_tflm"]
    [p] = d["patches"]
    assert p["ram_before"] == plain["ram_tflm"] and p["ram_after"] == d["ram_tflm"] and p["bands"] >= 2
    assert 0 < p["extra_macs"] and 0 < p["extra_macs_pct"] < 100
    manifest = json.loads((patched_dir / "build.json").read_text())
    assert manifest["patches"] == d["patches"]
    # the choice is deterministic: the same files again
    r = run_tinyq("build", mobilenet, "--board", "qemu-m4", "-o", again, "--ram-budget", budget)
    assert r.returncode == 0 and "patch-based: layers" in r.stdout and "MACs computed again" in r.stdout
    assert "model.c" in _sources(again) and _sources(again) == _sources(patched_dir)
    # a budget the plain plan fits: the plain files
    build(mobilenet, m4, again, ram_budget=plain["ram_tflm"])
    assert _sources(again) == _sources(plain_dir)
    # no budget, a board whose RAM the plain plan overflows: patched to fit it
    from tinyq.resources import BOARDS

    board = json.loads((BOARDS / "qemu-m4.json").read_text())
    board["memory"]["ram"]["length"] = plain["ram"] - (plain["ram_tflm"] - budget)
    board["name"] = "qemu-m4-small"
    (tmp_path / "qemu-m4-small.json").write_text(json.dumps(board))
    res = build(mobilenet, get_board(str(tmp_path / "qemu-m4-small.json")), again)
    assert res.manifest.patches and res.sizes.ram <= res.sizes.ram_limit == board["memory"]["ram"]["length"]


def test_an_impossible_budget_is_one_line_naming_the_peak(mobilenet, tmp_path):
    from .conftest import run_tinyq
    from .helpers import assert_one_line_failure

    r = run_tinyq("build", mobilenet, "--board", "qemu-m4", "-o", tmp_path / "b", "--ram-budget", 2000)
    assert_one_line_failure(r, "--ram-budget 2,000 B", "B over", "peak at layer")
    assert not (tmp_path / "b").exists()
