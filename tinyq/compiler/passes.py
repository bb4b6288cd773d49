"""The compiler's passes: functions Graph -> Graph, run in the order of PIPELINE (STYLE rule 7).

1. fold_constants  evaluate shape arithmetic on static shapes (SHAPE, STRIDED_SLICE, PACK, ...)
   float_islands   DEQUANTIZE -> elementwise float ops -> QUANTIZE become one table lookup (islands.py)
2. check_types     reject hybrid and float16 models; int8 ops, or float32 ones with a float kernel
   pack_weights    which weight tensors are stored as packed low-bit indices (packing.py; Target.pack_weights)
3. alias           RESHAPE / EXPAND_DIMS / SQUEEZE become views of their input (no copy)
   patch           the target's stages of spatial layers run band by band (patch.py; none by default)
4. lower           every op -> a kernel call with requantization constants computed once
5. fuse_residual   an ADD right after the convolution that alone feeds it runs in that kernel
6. in_place        kernels that can write their output over a dying input do so: as a view of it, or
                   shifted (a buffer of its own the planner may lay over the input, up to the gap the
                   kernel declares below it: overlaps), whichever gives the smaller arena
7. plan_memory     one arena; every activation, the model's inputs and its outputs among them, gets an
                   offset from tensor lifetimes (an input's bytes are reused once its last reader ran,
                   unless Target.keep_input; an output lives to the end; shifted outputs may overlap
                   their inputs); variable tensors (state kept across inferences) get theirs in the
                   separate state buffer; a kernel's faster twin is taken where its scratch leaves the
                   arena as it is, and fully connected layers on DSP cores make a dying input into
                   their loop's operands in place (_fc_flip)
"""

from __future__ import annotations

from typing import Callable

from tinyq.compiler import planner
from tinyq.compiler.packing import pack_weights
from tinyq.errors import UnsupportedModel
from tinyq.ir import Graph, Op, Tensor
from tinyq.ops import REGISTRY, VARIANTS, lowering_for
from tinyq.ops.base import ArrayRef, ConstArray
from tinyq.ops.conv import fc_wide_on_operands

ALIAS_OPS = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")
# Ops whose float tensors are legitimate in a full-integer model: the edges of a --float-io model.
EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")
# Ops that may read or write uint8 (requantizing to or from int8, views); any other makes a uint8 model.
UINT8_OPS = (*EDGE_OPS, "CAST", *ALIAS_OPS)
# Ops a float32 model may hold: those with a float32 lowering (the _f32 lowerings in tinyq/ops/) and the aliases.
FLOAT_OPS = (*VARIANTS.get("float32", {}), *ALIAS_OPS)


def fold_constants(g: Graph) -> Graph:
    from tinyq.compiler.fold import fold_constants as fold

    return fold(g)


def float_islands(g: Graph) -> Graph:
    from tinyq.compiler.islands import float_islands as tabulate

    return tabulate(g)


def check_types(g: Graph) -> Graph:
    """Reject what tinyq cannot run (hybrid, float16, float ops without a float kernel), naming which kind
    of model it is and what to run instead."""
    half = next((t for t in g.tensors if t.dtype == "float16"), None)
    if half is not None:
        raise UnsupportedModel(
            f"tensor {half.index} '{half.name}' is float16: this is a float16 model; "
            "run `tinyq convert MODEL -c CALIB` for a full-int8 one"
        )
    # Dynamic-range (hybrid) models keep float activations but store some weights as int8.
    hybrid = any(
        g.tensor(j).is_const and g.tensor(j).dtype == "int8"
        for op in g.ops
        if op.kind not in EDGE_OPS and any(i >= 0 and g.tensor(i).dtype == "float32" for i in op.outputs)
        for j in op.inputs
        if j >= 0
    )
    for op in g.ops:
        if op.kind.startswith("CUSTOM:"):
            raise UnsupportedModel(
                f"operator {op.index} is the custom op '{op.kind[7:]}', which tinyq cannot compile: "
                "rebuild the model from builtin layers"
            )
        u8 = next((i for i in op.inputs + op.outputs if i >= 0 and g.tensor(i).dtype == "uint8"), None)
        if u8 is not None and op.kind not in UINT8_OPS:
            raise UnsupportedModel(
                f"operator {op.index} ({op.kind}) computes in uint8 (tensor '{g.tensor(u8).name}'): this is a uint8 model "
                "(TFLite's old quantization), and tinyq compiles int8 ones: re-convert the Keras model with "
                "`tinyq convert MODEL -c CALIB`"
            )
        if op.kind in EDGE_OPS:
            continue
        for i in op.inputs + op.outputs:
            # A float32 model runs on tinyq's float kernels (FPU boards); hybrid ones do not run.
            if i >= 0 and g.tensor(i).dtype == "float32" and (hybrid or op.kind not in FLOAT_OPS):
                kind = "a dynamic-range (hybrid) model" if hybrid else f"a float model, and tinyq has no float32 {op.kind} kernel"
                raise UnsupportedModel(
                    f"operator {op.index} ({op.kind}) computes in float32 (tensor '{g.tensor(i).name}'): this is {kind}; "
                    "run `tinyq convert MODEL -c CALIB` for a full-int8 one"
                )
    if op_kinds_unsupported(g):
        bad = op_kinds_unsupported(g)
        first = bad[0]
        raise UnsupportedModel(
            f"operator {first.index} is {first.kind}, which tinyq does not support yet "
            f"(supported: {', '.join(sorted(REGISTRY))})"
        )
    return g


def op_kinds_unsupported(g: Graph):
    return [op for op in g.ops if lowering_for(g, op) is None and op.kind not in ALIAS_OPS]


def alias(g: Graph) -> Graph:
    """Turn pure reshapes into views. A reshape stays a copy only where the graph needs two buffers
    (its output is a graph output and its input is a graph input, a constant or another output)."""
    outputs = set(g.outputs)
    kept = []
    for op in g.ops:
        if op.kind in ALIAS_OPS:
            src, dst = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
            base = g.base(src.index)
            base_pinned = (base.is_const or base.variable or base.index in g.inputs or base.index in outputs
                           or _aliased_to_output(g, base.index))
            if src.dtype == dst.dtype and src.quant == dst.quant and not (dst.index in outputs and base_pinned):
                if base.is_const:
                    dst.data = base.data.reshape(dst.shape)
                else:
                    dst.alias_of = src.index
                continue
        kept.append(op)
    g.ops = kept
    return g


def _aliased_to_output(g: Graph, base: int) -> bool:
    return any(g.base(o).index == base for o in g.outputs)


def patch(g: Graph) -> Graph:
    from tinyq.compiler.patch import apply_patches

    return apply_patches(g)


def lower(g: Graph) -> Graph:
    for op in g.ops:
        low = lowering_for(g, op)
        if low is None:  # a reshape kept as a copy, or an op of a type tinyq has no kernels for
            raise UnsupportedModel(f"operator {op.index} ({op.kind}) needs a kernel that is missing")
        low.check(g, op)
        op.call = low.lower(g, op)
    return g


# Kernels that take an ADD's other input as `residual` (params["res"], see tq_conv_fast.h).
RESIDUAL_KERNELS = ("tq_conv_1x1_s8", "tq_conv_1x1_wide_s8", "tq_conv_taps_s8", "tq_conv_taps_wide_s8")


def fuse_residual(g: Graph) -> Graph:
    """Fold an ADD into the convolution just before it when that convolution's output feeds only
    the ADD: the convolution stages each pixel's bytes and writes ADD(conv, residual), so its own
    output never exists as a tensor, and the result may go over the residual (a ResNet block then
    needs its input, the middle activation and a few bytes of stage, not a third activation)."""
    from tinyq.ops.elementwise import residual_tables

    outputs = {g.base(o).index for o in g.outputs}
    readers: dict[int, int] = {}
    for op in g.ops:
        for i in op.call.inputs:
            if i >= 0:
                readers[g.base(i).index] = readers.get(g.base(i).index, 0) + 1
    kept = []
    for op in g.ops:
        prev = kept[-1] if kept else None
        call = op.call
        if (
            prev is not None
            and call.func == "tq_add_fast_s8"
            and prev.call.func in RESIDUAL_KERNELS
            and prev.call.inputs[1] < 0
        ):
            y = prev.call.outputs[0]
            k = call.inputs.index(y) if y in call.inputs else -1
            x = call.inputs[1 - k] if k >= 0 else -1
            if (
                k >= 0
                and x != y
                and g.tensor(y).alias_of is None
                and y not in outputs
                and readers.get(y, 0) == 1
                and _residual_requant_exact(call.params["add"], residual_tables(call.params["add"], k))
            ):  # tq_add_fast_s8 is the equal-shapes ADD: x and y have one shape
                _fold_add(g, prev, op, k, x, residual_tables(call.params["add"], k))
                continue
        kept.append(op)
    g.ops = kept
    return g


def _residual_requant_exact(pa: dict, tables) -> bool:
    """Whether tq_residual_add_s8's tq_requant_mm is exact for every sum of the two tables: a right
    shift e >= 1, sums below 2^30, and the rounding plus zero point beside the high word in int32."""
    e = -int(pa["out_shift"])
    if not 1 <= e <= 30:
        return False
    s_max = sum(int(abs(t.astype("int64")).max()) for t in tables)
    if s_max >= 2**30:
        return False
    radd = (1 << (e - 1)) + int(pa["out_offset"]) * (1 << e)
    return abs(radd) + (s_max * int(pa["out_mult"]) >> 31) + 1 < 2**31


def _fold_add(g: Graph, conv: "Op", add: "Op", k: int, x: int, tables) -> None:
    c, a = conv.call, add.call
    pa = a.params["add"]
    t_conv, t_res = tables
    out_c = c.params["out"]["c"]
    scratch = g.tensor(c.outputs[1])
    grow = 2 * out_c
    if c.func.startswith("tq_conv_taps"):  # written straight to its place: no ring
        grow -= c.params["ring_rows"] * c.params["out"]["w"] * out_c
        c.params["ring_rows"] = 0
    scratch.shape = (scratch.shape[0] + grow,)
    c.params["res"] = {
        "t_conv": ArrayRef("t_conv"), "t_res": ArrayRef("t_res"),
        "out_mult": pa["out_mult"], "out_rsh": -pa["out_shift"],
        "out_radd": (1 << (-pa["out_shift"] - 1)) + pa["out_offset"] * (1 << -pa["out_shift"]),
        "act_min": pa["act_min"], "act_max": pa["act_max"],
    }
    c.arrays += [ConstArray("t_conv", "int32_t", t_conv), ConstArray("t_res", "int32_t", t_res)]
    c.inputs[1] = x
    c.outputs[0] = a.outputs[0]
    c.in_place = "residual"
    c.alt = None
    g.notes.append(f"layer {add.index} (ADD) fused into layer {conv.index} ({conv.kind})")


# Storage kinds planned in the arena: the model's inputs and outputs are there too, as in TFLM's arena.
PLANNED = ("arena", "input", "output")


def storage(g: Graph) -> dict[int, tuple[str, int]]:
    """Where each non-constant base tensor lives: ("input", k) and ("output", k) (model input / output k,
    in the arena), ("state", 0) (a variable tensor: kept across inferences, outside the arena) or
    ("arena", 0)."""
    where: dict[int, tuple[str, int]] = {}
    for t in g.tensors:
        if t.variable and t.alias_of is None and not t.is_const:
            where[t.index] = ("state", 0)
    for k, i in enumerate(g.inputs):
        where[g.base(i).index] = ("input", k)
    for k, i in enumerate(g.outputs):
        b = g.base(i)
        if b.index not in where and not b.is_const:
            where[b.index] = ("output", k)
    for t in g.tensors:
        if t.alias_of is None and not t.is_const and t.index not in where:
            where[t.index] = ("arena", 0)
    return where


def buffers(g: Graph) -> list[planner.Buffer]:
    """Arena buffers with lifetimes in schedule positions. A model input is written before the first
    layer (from 0) and dies after its last reader (or lives to the end: Target.keep_input); a model
    output lives from its producer to the end, where the caller reads it."""
    where = storage(g)
    end = max(len(g.ops) - 1, 0)
    keep = bool(getattr(g.target, "keep_input", False))
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i in g.inputs:
        b = g.base(i).index
        first[b] = 0
        last[b] = end if keep else 0
    for pos, op in enumerate(g.ops):
        # The kernel call's tensors: the op's, plus any scratch the lowering added.
        ins, outs = (op.call.inputs, op.call.outputs) if op.call is not None else (op.inputs, op.outputs)
        for o in outs:
            b = g.base(o).index
            first.setdefault(b, pos)
            last[b] = max(last.get(b, pos), pos)
        for i in ins:
            if i >= 0:
                b = g.base(i).index
                last[b] = max(last.get(b, pos), pos)
    for i in g.outputs:
        b = g.base(i).index
        first.setdefault(b, 0)
        last[b] = end
    out = []
    for b, (kind, _) in where.items():
        if kind not in PLANNED or b not in first:
            continue
        t: Tensor = g.tensor(b)
        out.append(planner.Buffer(key=b, size=t.nbytes, first=first[b], last=last[b]))
    return sorted(out, key=lambda x: x.key)


def overlaps(g: Graph) -> list[planner.Overlap]:
    """Outputs the planner may lay over the input they are computed from, shifted (planner.Overlap):
    a kernel that declares a gap (KernelCall.gap, tinyq.ops.overlap) and writes a buffer of its own
    (not a view: in_place did not alias it) from an input that dies with it, read through no other
    of its inputs (an ADD fused in, "residual", reads a second tensor in step: never)."""
    life = {b.key: b for b in buffers(g)}
    found = []
    for pos, op in enumerate(g.ops):
        call = op.call
        if call is None or call.gap is None or call.in_place == "residual" or not call.inputs or call.inputs[0] < 0:
            continue
        dst, src = g.tensor(call.outputs[0]), g.base(call.inputs[0])
        if dst.alias_of is not None or dst.index == src.index or g.sliced(call.inputs[0]):
            continue
        if sum(1 for j in call.inputs if j >= 0 and g.base(j).index == src.index) != 1:
            continue
        out, inp = life.get(dst.index), life.get(src.index)
        if out is None or inp is None or out.first != pos or inp.last != pos:
            continue
        found.append(planner.Overlap(out=dst.index, inp=src.index, gap=max(int(call.gap), -src.nbytes)))
    return found


def in_place(g: Graph) -> Graph:
    """Let a kernel write its output over an input that dies with it.

    Two ways. As a view (KernelCall.in_place): the output takes the input's storage when the input
    lives in the arena (a model input too, unless Target.keep_input), is no model output, is read by no
    later op and by no other input of this one, and is at least as large; ring-staging kernels that
    stay out of place get ring_rows 0 and their scratch shrunk to what they still use. Shifted
    (KernelCall.gap): the output stays a buffer of its own, of its own size, and the planner may lay
    it over the input up to gap bytes below it (overlaps). What gives the smaller arena is kept:
    every view taken, or every kernel that can be shifted shifted; then (graphs of up to MAX_SEARCH_OPS
    layers), a few rounds, the one view whose switch (to shifted, or apart: a buffer of its own may sit
    where the input's storage could not) shrinks the arena most. Ties keep views and earlier choices;
    deterministic.
    """
    lowered = _lowered_state(g)
    shiftable = [pos for pos, op in enumerate(g.ops) if op.call.gap is not None and op.call.in_place in ("direct", "ring")]
    # Any view may be worth giving up (a buffer of its own can go elsewhere): the largest inputs first.
    views = sorted((pos for pos, op in enumerate(g.ops) if op.call.in_place in ("direct", "ring")),
                   key=lambda pos: (-g.tensor(g.ops[pos].call.inputs[0]).nbytes if g.ops[pos].call.inputs[0] >= 0 else 0, pos))

    def arena(apart: frozenset[int]) -> int:
        _restore(g, lowered)
        _alias_in_place(g, apart)
        return planner.plan(buffers(g), overlaps(g)).size

    best_set: frozenset[int] = frozenset()
    if views and any(op.call.gap is not None for op in g.ops):  # else nothing may overlap: views it is
        best = arena(best_set)
        if shiftable and (size := arena(frozenset(shiftable))) < best:
            best, best_set = size, frozenset(shiftable)
        for _ in range(IN_PLACE_ROUNDS if len(g.ops) <= MAX_SEARCH_OPS else 0):
            # the best single switch, again: one may pay only after another
            start = best_set
            for pos in views[:MAX_IN_PLACE_TRIALS]:
                trial = start ^ {pos}
                size = arena(trial)
                if size < best:
                    best, best_set = size, trial
            if best_set == start:
                break
        _restore(g, lowered)
    _alias_in_place(g, best_set)
    return g


# Views in_place tries giving up one at a time (each trial plans the arena once), in up to this many
# rounds, in graphs of up to MAX_SEARCH_OPS layers (a plan of a larger one takes too long to repeat).
MAX_IN_PLACE_TRIALS = 48
IN_PLACE_ROUNDS = 3
MAX_SEARCH_OPS = 64


def _lowered_state(g: Graph) -> tuple[int, list[tuple]]:
    """What _alias_in_place changes, as lowering left it: notes, and per op its output's alias, ring
    rows and scratch shape."""
    ops = []
    for op in g.ops:
        call = op.call
        scratch = g.tensor(call.outputs[1]).shape if call.in_place == "ring" else None
        ops.append((g.tensor(call.outputs[0]).alias_of, call.params.get("ring_rows"), scratch))
    return len(g.notes), ops


def _restore(g: Graph, state: tuple[int, list[tuple]]) -> None:
    notes, ops = state
    del g.notes[notes:]
    for op, (alias_of, ring, scratch) in zip(g.ops, ops):
        call = op.call
        g.tensor(call.outputs[0]).alias_of = alias_of
        if scratch is not None:
            g.tensor(call.outputs[1]).shape = scratch
            call.params["ring_rows"] = ring


def _alias_in_place(g: Graph, apart: frozenset[int] = frozenset()) -> None:
    """in_place's views: every kernel that may write its output over an input does so where it fits,
    but those at the schedule positions `apart` (their outputs are buffers of their own, which the
    planner may lay over the input where the kernel declares a gap)."""
    where = storage(g)
    keep = bool(getattr(g.target, "keep_input", False))

    def last_read(base: int) -> int:  # bases change as outputs become views: look each time
        return max(pos for pos, op in enumerate(g.ops) if any(i >= 0 and g.base(i).index == base for i in op.call.inputs))

    for pos, op in enumerate(g.ops):
        call = op.call
        if call.in_place is None:
            continue
        dst = g.tensor(call.outputs[0])
        if any(i >= 0 and g.sliced(i) for i in call.inputs + call.outputs[:1]):
            candidates = []  # a band of a patched stage: row slices are never written over
        # "direct" kernels (elementwise) may overwrite any input; ring kernels their first; a
        # convolution with a fused ADD its residual.
        elif call.in_place == "direct":
            candidates = [i for i in call.inputs if i >= 0 and not g.tensor(i).is_const]
        else:
            candidates = call.inputs[1:2] if call.in_place == "residual" else call.inputs[:1]

        def fits(i: int) -> bool:
            src = g.base(i)
            kind = where.get(src.index, ("",))[0]
            return (
                pos not in apart
                and (kind == "arena" or (kind == "input" and not keep))
                and all(g.base(o).index != src.index for o in g.outputs)  # bases change as outputs become views
                and where.get(dst.index, ("",))[0] in ("arena", "output")
                and last_read(src.index) == pos
                and sum(1 for j in call.inputs if j >= 0 and g.base(j).index == src.index) == 1
                and dst.nbytes <= src.nbytes
            )

        chosen = next((i for i in candidates if fits(i)), None)
        ok = chosen is not None
        if ok:
            src = g.base(chosen)
            dst.alias_of = src.index
            g.notes.append(f"layer {op.index} ({op.kind}) writes its output over its input")
        elif call.in_place == "ring":
            scratch = g.tensor(call.outputs[1])
            ring_bytes = call.params["ring_rows"] * call.params["out"]["w"] * call.params["out"]["c"]
            scratch.shape = (scratch.shape[0] - ring_bytes,)
            call.params["ring_rows"] = 0


def plan_memory(g: Graph) -> Graph:
    bufs, shifts = buffers(g), overlaps(g)
    p = planner.plan(bufs, shifts)
    # Kernels with a faster twin that needs more scratch take it where the arena stays the same.
    for op in g.ops:
        call = op.call
        if call.alt is None:
            continue
        alt, base_bytes = call.alt
        scratch = g.tensor(call.outputs[1])
        ringed = "ring_rows" in call.params  # (not fully connected's twin)
        ring_bytes = call.params["ring_rows"] * call.params["out"]["w"] * call.params["out"]["c"] if ringed else 0
        old_shape = scratch.shape
        scratch.shape = (base_bytes + ring_bytes,)
        trial_bufs = buffers(g)
        trial = planner.plan(trial_bufs, shifts)
        if trial.size <= p.size:
            if ringed:
                alt.params["ring_rows"] = call.params["ring_rows"]
            alt.outputs = list(call.outputs)
            op.call = alt
            bufs, p = trial_bufs, trial
            g.notes.append(f"layer {op.index} ({op.kind}) runs {alt.func}: its scratch fits the arena")
        else:
            scratch.shape = old_shape
    _fc_flip(g)
    shifts = overlaps(g)  # (a twin declares the same gap)
    planner.check(bufs, p, shifts)
    for key, off in p.offsets.items():
        g.tensor(key).offset = off
    g.arena_size = p.size
    _fc_read_past(g)
    g.arena_lower_bound = p.lower_bound
    layer = {op.call.outputs[0]: op for op in g.ops}
    for o in shifts:
        a, b = p.offsets[o.out], p.offsets[o.inp]
        if a < b + g.tensor(o.inp).nbytes and b < a + g.tensor(o.out).nbytes:
            op = layer[o.out]
            g.notes.append(f"layer {op.index} ({op.kind}) writes its output over its input, {b - a} bytes below it (gap {o.gap})")
    g.notes.append(f"memory plan: {p.strategy}, {p.size} bytes (lower bound {p.lower_bound})")
    size = plan_state(g)
    if size:
        g.notes.append(f"state: {len(state_tensors(g))} variable tensors, {size} bytes kept across inferences")
    return g


def _op_wide(op) -> bool:
    """A fully connected layer with int16 weights (tinyq/ops/conv.py's _fc_widen)."""
    return op.call.func == "tq_fully_connected_fast_s8" and bool(op.call.params.get("wide"))


def _fc_flip(g: Graph) -> None:
    """Fully connected layers on a DSP core make their input into the loop's operands in place (one
    load and one UXTB16 per word instead of three instructions) where that input dies with them: in
    the arena (a model input too, unless Target.keep_input), no model output, read by such layers
    only, word-aligned rows, k a multiple of 8 (the lowering's choice). The first of them makes it
    (fc_prep 2), the later ones find it made (fc_prep 3). Where some layer makes its input so anyway
    (its code then compiled in), a layer that took its scratch twin (fc_prep 1: plan_memory, where the
    arena stays as it is) reverts: those operands save nothing in the loop (14 instructions per 16
    MACs against 29 per 32) and cost a pass of 8 instructions per word against 2.5 to 4; its scratch
    is then unused. Layers with int16 weights (params wide) read either
    form: before the maker the input as it is, after it the Z words (conv.fc_wide_on_operands; they
    never make it, having no pass over the input)."""
    if not getattr(g.target, "dsp", False):
        return
    where = storage(g)
    keep = bool(getattr(g.target, "keep_input", False))
    readers: dict[int, list] = {}
    for op in g.ops:
        for i in op.call.inputs:
            if i >= 0:
                readers.setdefault(g.base(i).index, []).append(op)
    outputs = {g.base(o).index for o in g.outputs}

    def reads_z(op, ways) -> bool:  # could read the input as Z words
        call = op.call
        return (call.func == "tq_fully_connected_fast_s8" and call.params.get("fc_prep") in ways
                and len([i for i in call.inputs if i >= 0]) == 1 and not g.sliced(call.inputs[0])
                and (call.params["batches"] == 1 or call.params["accum_depth"] % 4 == 0))

    def flips(op, ways) -> bool:  # could make them
        p = op.call.params
        return reads_z(op, ways) and bool(p.get("split")) and p["k"] % 8 == 0 and not p.get("wide")

    def chains(ways) -> list[list]:  # per input the readers from its maker on
        out = []
        for src, ops in readers.items():
            kind = where.get(src, ("",))[0]
            if not (kind == "arena" or (kind == "input" and not keep)) or src in outputs:
                continue
            first = len(ops)  # the readers after the last one that needs the input as it is
            while first > 0 and reads_z(ops[first - 1], ways) and (flips(ops[first - 1], ways) or _op_wide(ops[first - 1])):
                first -= 1
            maker = next((n for n in range(first, len(ops)) if flips(ops[n], ways)), len(ops))
            if maker < len(ops):
                out.append(ops[maker:])
        return out

    for ops in chains((0, 1) if chains((0,)) else (0,)):
        for n, op in enumerate(ops):
            if _op_wide(op):
                fc_wide_on_operands(op.call)
            else:
                op.call.params["fc_prep"] = 3 if n else 2
            g.notes.append(f"layer {op.index} ({op.kind}) reads its input made into operands in place")


def _fc_read_past(g: Graph) -> None:
    """The int8 fully connected DSP loops (tq_fc_dsp.S) read each input row's k bytes, k the depth
    rounded up to 4 or 8: up to 7 bytes past the row, which their weights (0 there) multiply to 0 and
    no pass writes. Past the input tensor's last row those bytes are other arena bytes (read only),
    or, where the tensor ends the arena, the arena grows to hold them, so no read leaves it (past the
    end of RAM a real part faults). int16-weight layers read only the row (a tail word)."""
    if not getattr(g.target, "dsp", False):
        return
    where = storage(g)
    for op in g.ops:
        c = op.call
        if c.func != "tq_fully_connected_fast_s8" or not c.params.get("split") or c.params.get("wide"):
            continue
        base = g.base(c.inputs[0])
        if where.get(base.index, ("",))[0] == "state":  # (a variable's storage: read as it is, sized exactly)
            continue
        p = c.params
        end = base.offset + g.byte_offset(c.inputs[0]) + (p["batches"] - 1) * p["accum_depth"] + p["k"]
        if end > g.arena_size:
            g.notes.append(f"layer {op.index} ({op.kind}) reads {end - g.arena_size} bytes past its input: the arena grows to hold them")
            g.arena_size = end


def io_places(g: Graph) -> dict[str, list[tuple[str, int | str]]]:
    """Where each model input and output is, for the generated API: ("arena", offset), ("state", offset)
    or ("const", tensor index) (an output the graph folded to a constant)."""
    where = storage(g)

    def place(i: int) -> tuple[str, int | str]:
        b = g.base(i)
        if b.is_const:
            return ("const", b.index)
        kind = where[b.index][0]
        return ("state", int(b.offset)) if kind == "state" else ("arena", int(b.offset))

    return {"inputs": [place(i) for i in g.inputs], "outputs": [place(i) for i in g.outputs]}


def io_outside_arena(g: Graph) -> int:
    """Bytes of model inputs and outputs that are not in the arena (a state tensor, a constant)."""
    places = io_places(g)
    tensors = [g.tensor(i) for i in g.inputs + g.outputs]
    return sum(t.nbytes for t, (kind, _) in zip(tensors, places["inputs"] + places["outputs"]) if kind != "arena")


def _ranges_meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def input_kept(g: Graph) -> bool:
    """Whether every model input's bytes still hold it after an inference: no layer writes over it and
    no other buffer of the plan shares its bytes (always so with Target.keep_input). If not, running
    again needs the input loaded again."""
    bufs = {b.key: b for b in buffers(g)}
    written = {g.base(o).index for op in g.ops for o in op.call.outputs if o >= 0}
    written |= {g.base(op.call.inputs[0]).index for op in g.ops if op.call.params.get("fc_prep") == 2}  # (_fc_flip)
    for i in g.inputs:
        b = g.base(i)
        if b.index in written:
            return False
        if b.index not in bufs:
            continue
        mine = (b.offset, b.offset + b.nbytes)
        for o in bufs.values():
            if o.key != b.index and o.size and _ranges_meet(mine, (g.tensor(o.key).offset, g.tensor(o.key).offset + o.size)):
                return False
    return True


def io_overlap(g: Graph) -> bool:
    """Whether a model input shares bytes with a model output: writing the next input then overwrites
    the last inference's outputs."""
    places = io_places(g)
    ins = [(off, off + g.tensor(i).nbytes) for i, (k, off) in zip(g.inputs, places["inputs"]) if k == "arena"]
    outs = [(off, off + g.tensor(i).nbytes) for i, (k, off) in zip(g.outputs, places["outputs"]) if k == "arena"]
    return any(_ranges_meet(a, b) for a in ins for b in outs if a[1] > a[0] and b[1] > b[0])


def state_tensors(g: Graph) -> list[Tensor]:
    """The variable tensors the schedule reads or writes, in index order: the model's state."""
    where = storage(g)
    used = {g.base(i).index for op in g.ops for i in (op.call.inputs + op.call.outputs) if i >= 0}
    return [t for t in g.tensors if where.get(t.index, ("",))[0] == "state" and t.index in used]


def plan_state(g: Graph) -> int:
    """Offsets of the state tensors in the state buffer, one after the other (aligned as the arena's
    buffers): never shared, never reused. Returns the buffer's size."""
    offset = 0
    for t in state_tensors(g):
        t.offset = offset
        offset += planner.align(t.nbytes)
    return offset


def state_size(g: Graph) -> int:
    """Bytes of the state buffer (0: the model keeps nothing across inferences)."""
    ts = state_tensors(g)
    return max((t.offset + planner.align(t.nbytes) for t in ts), default=0)


PIPELINE: list[tuple[str, Callable[[Graph], Graph]]] = [
    ("fold_constants", fold_constants),
    ("float_islands", float_islands),  # DEQUANTIZE -> float ops -> QUANTIZE become tables (islands.py)
    ("check_types", check_types),
    ("pack_weights", pack_weights),  # INT4 and palettized weights stored packed (packing.py)
    ("alias", alias),
    ("patch", patch),  # stages run band by band (patch.py), only where Target.patches names them
    ("lower", lower),
    ("fuse_residual", fuse_residual),
    ("in_place", in_place),
    ("plan_memory", plan_memory),
]


def compile_graph(g: Graph, target=None) -> Graph:
    from tinyq.compiler.target import HOST

    g.target = target or HOST
    for _, fn in PIPELINE:
        g = fn(g)
    return g
