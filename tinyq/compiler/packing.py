"""Packed low-bit weights: which weight tensors are stored as b-bit indices, and their bytes.

A CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED weight tensor may be stored in flash as b-bit indices
(b in 1, 2, 4) plus a codebook (`tinyq.ir.WeightPack`):

- "linear": 4-bit two's complement values, no table: a TFLite INT4 tensor (the importer unpacks it to
  int8 once, so every pass reads int8 values, and marks it packed);
- "layer": one table of 2^b int8 values, "channel": one per output channel: palettized int8 weights
  (the model's "tinyq.weights" metadata names them, or `--pack-weights 4|2|1` finds them). The table is
  the sorted distinct values (deterministic), padded with zeros; the index is the value's place in it.

The layout of the packed bytes is tinyq.ops.packed's.

`pack_weights` (a pass of tinyq.compiler.passes.PIPELINE) decides from the target's `pack_weights`:
"auto" packs the INT4 tensors and the metadata-named ones, "off" none (INT4 builds as plain int8: the same
values, the same bits), "4" / "2" / "1" also every weight tensor with at most 2^b distinct values per
layer (else per channel), refusing with one line when none has.
"""

from __future__ import annotations

import json

from tinyq.compiler.target import PACK_MODES as MODES
from tinyq.errors import BadInput
from tinyq.ir import Graph, Tensor, WeightPack
from tinyq.ops.packed import BITS, CODEBOOKS, PACKED_OPS, codebooks, weight_rows

METADATA_NAME = "tinyq.weights"


# --------------------------------------------------------------------------- the "tinyq.weights" metadata


def read_hints(raw: bytes, where: str) -> dict[str, tuple[int, str]]:
    """The metadata entry's JSON, checked: {"version": 1, "tensors": {name: {"bits": B, "codebook": C}}}."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadInput(f"{where}: the {METADATA_NAME} metadata is not UTF-8 JSON ({e}): re-export the model") from None
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("tensors"), dict):
        raise BadInput(f"{where}: the {METADATA_NAME} metadata is not {{\"version\": 1, \"tensors\": {{...}}}}: re-export the model")
    hints: dict[str, tuple[int, str]] = {}
    for name, spec in doc["tensors"].items():
        if not isinstance(spec, dict) or spec.get("bits") not in BITS or spec.get("codebook") not in CODEBOOKS \
                or isinstance(spec.get("bits"), bool):
            raise BadInput(f"{where}: the {METADATA_NAME} metadata gives tensor {name!r} {spec!r}; expected "
                           "{\"bits\": 1 | 2 | 4, \"codebook\": \"layer\" | \"channel\"}: re-export the model")
        hints[str(name)] = (int(spec["bits"]), str(spec["codebook"]))
    return hints


# --------------------------------------------------------------------------- the pass


def weight_tensors(g: Graph) -> dict[int, str]:
    """Weight tensor index -> the kind of the op reading it (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
    int8 activations, constant int8 weights). A tensor two kinds read is left out (its layouts differ)."""
    kinds: dict[int, str] = {}
    shared: set[int] = set()
    for op in g.ops:
        if op.kind not in PACKED_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        w = g.tensor(op.inputs[1])
        x = g.tensor(op.inputs[0]) if op.inputs[0] >= 0 else None
        if not w.is_const or w.dtype != "int8" or x is None or x.dtype != "int8":
            continue
        if kinds.get(w.index, op.kind) != op.kind:
            shared.add(w.index)
        kinds[w.index] = op.kind
    for i in shared:
        del kinds[i]
    return kinds


def _fits(kind: str, w: Tensor, bits: int) -> str | None:
    """"layer" or "channel": the smallest codebook with room for w's values in 2^bits entries; None."""
    rows = weight_rows(kind, w.data)
    for cb in CODEBOOKS:
        if codebooks(rows, bits, cb) is not None:
            return cb
    return None


def pack_weights(g: Graph) -> Graph:
    """Mark the weight tensors stored packed (Tensor.pack), from the target's `pack_weights` mode."""
    mode = getattr(g.target, "pack_weights", "auto")
    if mode not in MODES:
        raise BadInput(f"--pack-weights {mode}: choose one of {', '.join(MODES)}")
    kinds = weight_tensors(g)
    if mode == "off":
        for t in g.tensors:
            t.pack = None
        return g
    by_name = {g.tensor(i).name: i for i in kinds}
    for name, (bits, cb) in sorted(g.weight_hints.items()):
        i = by_name.get(name)
        if i is None:
            continue  # a tensor the model no longer reads as such weights: nothing to pack
        w = g.tensor(i)
        if codebooks(weight_rows(kinds[i], w.data), bits, cb) is None:
            raise BadInput(f"weights '{name}' take more than {1 << bits} distinct values per "
                           f"{'layer' if cb == 'layer' else 'output channel'}, though the model's {METADATA_NAME} "
                           f"metadata says {bits} bits: re-export the model, or build with --pack-weights off")
        w.pack = WeightPack(bits, cb, "metadata")
    if mode in ("4", "2", "1"):
        bits = int(mode)
        packed = 0
        for i, kind in sorted(kinds.items()):
            w = g.tensor(i)
            if w.pack is not None and w.pack.source == "metadata":
                packed += 1
                continue
            cb = _fits(kind, w, bits)
            if cb is not None:
                w.pack = WeightPack(bits, cb, "option")
                packed += 1
        if not packed:
            names = [f"'{g.tensor(i).name}'" for i in sorted(kinds)]
            what = (f"no weight tensor ({', '.join(names[:3])}{' and more' if len(names) > 3 else ''}) takes" if names else
                    "the model has no CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED int8 weights that take")
            raise BadInput(f"--pack-weights {bits}: {what} at most {1 << bits} distinct values per layer or per output channel; "
                           "quantize the weights to that grid (tinyq convert --weight-bits) or build with --pack-weights auto")
    # INT4 tensors some other op reads, or read as another op's weights, were refused by the importer.
    return g
