"""IR -> C library: NAME.h, NAME.c and the kernels it calls, rendered from templates/.

The generator only arranges data; every line of C comes from a template (STYLE rule 9).
Same graph in, byte-identical files out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from tinyq import __version__
from tinyq.compiler.passes import (
    input_kept,
    io_overlap,
    io_places,
    state_size,
    state_tensors,
    storage,
)
from tinyq.errors import BadInput
from tinyq.ir import DTYPE_C, Graph, Tensor
from tinyq.ops.base import ArrayRef, KernelCall, TensorRef
from tinyq.resources import KERNELS, TEMPLATES

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Ptr:
    """Where a tensor's bytes are at run time, for the templates."""

    kind: str  # "const" | "arena" | "state" | "none" (NULL: an empty scratch)
    ctype: str
    name: str = ""  # C identifier for const
    offset: int = 0


def _int_literal(v: int) -> str:
    v = int(v)
    if v == -(2**31):
        return "(-2147483647 - 1)"
    if v < -(2**31) or v > 2**32 - 1:
        return f"INT64_C({v})" if v != -(2**63) else "INT64_MIN"
    return str(v)


def _float_literal(v: float, suffix: str = "") -> str:
    v = float(v)
    if v == 0.0:
        return "0.0" + suffix
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return v.hex() + suffix


def c_value(v, call_prefix: str, tensor_names: dict[int, str]) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return _int_literal(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_literal(float(v))
    if isinstance(v, ArrayRef):
        return f"{call_prefix}_{v.name}"
    if isinstance(v, TensorRef):
        return tensor_names[v.index]
    if isinstance(v, (tuple, list)):
        return "{" + ", ".join(c_value(x, call_prefix, tensor_names) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f".{k} = {c_value(x, call_prefix, tensor_names)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot render parameter value {v!r}")


def c_array_lines(values: np.ndarray, ctype: str) -> list[str]:
    flat = np.asarray(values).reshape(-1)
    if ctype == "float":
        items = [_float_literal(float(np.float32(x)), "f") for x in flat]
        per = 4
    elif ctype == "double":
        items = [_float_literal(float(x)) for x in flat]
        per = 4
    else:
        items = [_int_literal(int(x)) for x in flat.tolist()]
        per = 16 if ctype in ("int8_t", "uint8_t") else 8
    return [", ".join(items[i : i + per]) + "," for i in range(0, len(items), per)]


def template_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["c_array_lines"] = c_array_lines
    return env


@dataclass
class Generated:
    files: dict[str, str]  # file name -> text
    graph: Graph
    weight_bytes: int = 0  # constant tensors and per-layer tables placed in flash


def _ctype(t: Tensor) -> str:
    return DTYPE_C[t.dtype]


def generate(g: Graph, name: str, header_lines: list[str]) -> Generated:
    """Render the library for a compiled graph (passes already run)."""
    if not NAME_RE.match(name):
        raise BadInput(f"--name {name!r} is not a C identifier: use letters, digits and _ only")
    if f"{name}.h" == CONFIG_HEADER:
        raise BadInput(f"--name {name} clashes with the generated {CONFIG_HEADER}: pick another name")
    where = storage(g)
    single_in, single_out = len(g.inputs) == 1, len(g.outputs) == 1
    in_names = ["input"] if single_in else [f"input{k}" for k in range(len(g.inputs))]
    out_names = ["output"] if single_out else [f"output{k}" for k in range(len(g.outputs))]

    # Constant tensors actually used by the schedule, in index order.
    used_consts: set[int] = set()
    for op in g.ops:
        call: KernelCall = op.call
        for i in call.inputs:
            if i >= 0 and g.tensor(i).is_const:
                used_consts.add(i)
        _collect_refs(call.params, used_consts)
    tensor_names = {i: f"T{i}" for i in used_consts}
    consts = [g.tensor(i) for i in sorted(used_consts)]

    def ptr(i: int) -> Ptr:
        if i < 0:  # an optional input left out (e.g. no ADD fused into a convolution)
            return Ptr("none", "int8_t", "NULL")
        t = g.tensor(i)
        if t.nbytes == 0:  # a scratch the kernel does not use in this layout
            return Ptr("none", _ctype(t), "NULL")
        if t.is_const:
            return Ptr("const", _ctype(t), tensor_names[i])
        b = g.base(i)
        kind, _ = where[b.index]  # the model's inputs and outputs are in the arena too
        at = int(b.offset) + g.byte_offset(i)  # a row-slice view starts inside its base
        if kind == "state":
            return Ptr("state", _ctype(t), offset=at)
        return Ptr("arena", _ctype(t), offset=at)

    layers = []
    shared: dict[int, tuple[str, list]] = {}  # a patched layer: its first band's arrays
    same_params: dict[tuple, str] = {}
    for op in g.ops:
        call = op.call
        prefix = f"L{op.index}"
        # The bands of one layer (tinyq.compiler.patch) share its tables where they are the same.
        arrays_prefix, arrays = prefix, list(call.arrays)
        first = shared.get(op.band_of) if op.band_of is not None else None
        if first is not None and _same_arrays(first[1], arrays):
            arrays_prefix, arrays = first[0], []
        elif op.band_of is not None:
            shared[op.band_of] = (prefix, arrays)
        params = c_value(call.params, arrays_prefix, tensor_names)
        # ... and their params where those are the same (the bands inside a stage)
        params_name = same_params.setdefault((op.band_of, call.params_type, params), f"{prefix}_params") \
            if op.band_of is not None else f"{prefix}_params"
        layers.append(
            {
                "index": op.index,
                "kind": (f"{op.name} " if op.name else "") + op.kind,
                "prefix": prefix,
                "call": call,
                "arrays": arrays,
                "params": params,
                "params_name": params_name,
                "ins": [ptr(i) for i in call.inputs],
                "outs": [ptr(i) for i in call.outputs],
                "out_bytes": [g.tensor(i).nbytes for i in call.outputs],
            }
        )

    headers = sorted({op.call.header for op in g.ops})
    sources = sorted({s for op in g.ops for s in op.call.sources})
    state = [_state(t) for t in state_tensors(g)]
    places = io_places(g)
    for p in places["outputs"]:
        if p[0] == "const":
            used_consts.add(int(p[1]))
            tensor_names.setdefault(int(p[1]), f"T{p[1]}")
    consts = [g.tensor(i) for i in sorted(used_consts)]
    io = {
        "inputs": [_io(g.tensor(i), n, p, tensor_names) for i, n, p in zip(g.inputs, in_names, places["inputs"])],
        "outputs": [_io(g.tensor(i), n, p, tensor_names) for i, n, p in zip(g.outputs, out_names, places["outputs"])],
        "input_kept": input_kept(g),
        "overlap": io_overlap(g),
    }
    ctx = {
        "name": name,
        "NAME": name.upper(),
        "header_lines": header_lines,
        "version": __version__,
        "consts": consts,
        "layers": layers,
        "headers": headers,
        "arena_size": g.arena_size,
        "arena_lower_bound": g.arena_lower_bound,
        "io": io,
        "tensor_names": tensor_names,
        "ctype": _ctype,
        "weight_bytes": sum(t.nbytes for t in consts) + sum(s["initial"].nbytes for s in state if s["initial"] is not None),
        "state_size": state_size(g),
        "state": state,
    }
    env = template_env()
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(ctx),
        f"{name}.c": env.get_template("model.c.j2").render(ctx),
        CONFIG_HEADER: env.get_template("tq_config.h.j2").render(header_lines=header_lines, features=features(g)),
    }
    kernel_files = ["include/tq_common.h", "include/tq_features.h"] + [f"include/{h}" for h in headers] + sources
    for rel in kernel_files:
        path = KERNELS / rel
        if not path.exists():
            raise RuntimeError(f"kernel file {rel} named by a lowering does not exist in firmware/kernels")
        files[Path(rel).name] = path.read_text()
    _check_inventory(files, layers)
    tables = sum(a.values.nbytes for L in layers for a in L["arrays"])
    return Generated(files=files, graph=g, weight_bytes=ctx["weight_bytes"] + tables)


# The build-time configuration of the kernels. tq_config.h, generated beside the kernels, sets one
# TQ_CFG_* macro per kernel variant: 1 where some layer's params need it, else 0, so the variant's
# code (C and assembler entry points) is not compiled in; firmware, host harness, Arduino library and
# golden files all get it with the library. A kernel compiled without it gets every variant
# (firmware/kernels/include/tq_features.h). Each flag: (macro, what it selects, whether a params
# dict needs it).
CONFIG_HEADER = "tq_config.h"
_FEATURES = (
    ("TQ_CFG_REQUANT_GEN", "the general requantization (params requant 1)", lambda p: p.get("requant") == 1),
    ("TQ_CFG_FC_GUARD", "the fully connected kernel's guarded rounding (params guarded 1)", lambda p: bool(p.get("guarded"))),
    ("TQ_CFG_FC_PREP", "the fully connected DSP loop on operands made in scratch (params fc_prep 1)", lambda p: p.get("fc_prep") == 1),
    ("TQ_CFG_FC_INLINE", "the fully connected DSP loop making its operands (params fc_prep 0, int8 weights)",
     lambda p: p.get("fc_prep") == 0 and not p.get("wide")),
    ("TQ_CFG_FC_FLIP", "the fully connected DSP loop on its input made into operands in place (params fc_prep 2, 3)",
     lambda p: p.get("fc_prep") in (2, 3)),
    ("TQ_CFG_FC_ROW1", "the fully connected DSP kernel's lone last row (params split 1, out_depth % 4 == 1)",
     lambda p: p.get("split") == 1 and p.get("out_depth", 0) % 4 == 1),
    ("TQ_CFG_FC_WIDE", "the fully connected DSP loop over int16 weights (params wide set)", lambda p: bool(p.get("wide"))),
    ("TQ_CFG_WIDE", "int16 weights (--wide-weights: params weights16 set)",
     lambda p: p.get("weights16", 0) not in (0, None) and "paired" not in p),
    ("TQ_CFG_DW_REST", "the fast depthwise kernel's last in.c % 4 channels (params paired, in.c % 4)",
     lambda p: "paired" in p and p["in"]["c"] % 4 != 0),
    ("TQ_CFG_DW_PAD", "the fast depthwise kernel on a zero-point-padded copy of its input (params pad_copy 1)",
     lambda p: p.get("pad_copy") == 1),
    ("TQ_CFG_DW_WIDE", "the fast depthwise DSP loops over int16 weights (depthwise params weights16 set)",
     lambda p: "paired" in p and p.get("weights16", 0) not in (0, None)),
    ("TQ_CFG_POOL_NARROW", "int8 pooling a channel at a time on SIMD32 cores (params narrow 1)", lambda p: p.get("narrow") == 1),
    ("TQ_CFG_GEMM_CHUNKS", "the DSP convolution loop's sums in chunks of 256 of k (params chunked 1)", lambda p: p.get("chunked") == 1),
    ("TQ_CFG_GEMM_REST", "the DSP convolution rows its row-pair loop leaves (gemm params 2 mm_pairs < out_c)",
     lambda p: "mm_pairs" in p and 2 * p["mm_pairs"] < p["out_c"]),
    ("TQ_CFG_IM2COL_GATHER", "im2col gathering whole columns of short filter rows on small maps (params gather 1)",
     lambda p: p.get("gather") == 1),
)


def _param_dicts(v):
    """Every dict in a call's params, nested ones included."""
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from _param_dicts(x)
    elif isinstance(v, (tuple, list)):
        for x in v:
            yield from _param_dicts(x)


def features(g: Graph) -> list[dict]:
    """The TQ_CFG_* flags of tq_config.h for the lowered graph, in a fixed order."""
    dicts = [d for op in g.ops for d in _param_dicts(op.call.params)]
    return [{"macro": m, "what": what, "value": int(any(need(d) for d in dicts))} for m, what, need in _FEATURES]


def _check_inventory(files: dict[str, str], layers: list[dict]) -> None:
    """Every kernel and params type the schedule names must be declared by a shipped header."""
    headers = "\n".join(text for n, text in files.items() if n.endswith(".h"))
    for layer in layers:
        call = layer["call"]
        for ident in (call.func, call.params_type):
            if not re.search(rf"\b{re.escape(ident)}\b", headers):
                raise RuntimeError(f"layer {layer['index']} ({layer['kind']}) calls {ident}, which no kernel header declares")


def _same_arrays(a: list, b: list) -> bool:
    """Whether two layers' tables are the same (names, C types, values): one copy serves both."""
    return len(a) == len(b) and all(
        x.name == y.name and x.ctype == y.ctype and x.values.shape == y.values.shape and np.array_equal(x.values, y.values)
        for x, y in zip(a, b))


def _collect_refs(v, acc: set[int]) -> None:
    if isinstance(v, TensorRef):
        acc.add(v.index)
    elif isinstance(v, dict):
        for x in v.values():
            _collect_refs(x, acc)
    elif isinstance(v, (tuple, list)):
        for x in v:
            _collect_refs(x, acc)


def _state(t: Tensor) -> dict:
    """A variable tensor for the reset: its place in the state buffer and its value after a reset (the
    `initial` data, else TFLite's ResetVariableTensor: every byte the zero point for int8, else 0)."""
    fill = t.quant.zp if t.dtype == "int8" and t.quant is not None else 0
    return {"index": t.index, "name": t.name, "dtype": t.dtype, "shape": list(t.shape), "ctype": DTYPE_C[t.dtype],
            "offset": int(t.offset), "bytes": t.nbytes, "size": t.size, "fill": int(fill),
            "initial": None if t.initial is None else np.asarray(t.initial).reshape(-1)}


def _io(t: Tensor, cname: str, place: tuple[str, int | str], tensor_names: dict[int, str]) -> dict:
    q = t.quant
    kind, where = place
    return {
        "name": cname,
        "bytes": t.nbytes,
        # the C expression of its bytes: in the arena (or the state buffer, or a folded constant)
        "place": "NULL" if t.nbytes == 0 else f"tq_arena + {where}" if kind == "arena" else f"tq_state + {where}"
        if kind == "state" else f"(uint8_t *)(uintptr_t){tensor_names[int(where)]}",
        "in_arena": kind == "arena",
        "offset": int(where) if kind == "arena" else None,
        "ctype": DTYPE_C[t.dtype],
        "dtype": t.dtype,
        "shape": list(t.shape),
        "size": t.size,
        "scale": _float_literal(float(np.float32(q.scale[0])), "f") if q else None,
        "zero_point": q.zero_point[0] if q else None,
    }


def write(gen: Generated, out_dir: Path) -> list[Path]:
    """Write the library atomically: all files appear, or none change."""
    from tinyq.fileio import staged_dir

    out_dir = Path(out_dir)
    with staged_dir(out_dir) as stage:
        for fname, text in sorted(gen.files.items()):
            (stage / fname).write_text(text)
    return [out_dir / f for f in sorted(gen.files)]
