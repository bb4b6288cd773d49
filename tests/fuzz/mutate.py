"""Structure-aware mutations of .tflite files, through the flatbuffer schema's object API (the module the
importer reads with, ai_edge_litert's schema_py_generated): parse, change one thing the schema names,
pack again. What byte flips rarely reach: a well-formed flatbuffer whose shapes, quantization, operator
codes and versions, tensor and buffer indices, buffers, operator order or options are wrong; and, as
often, changes that keep the model valid (another scale, zero point, activation, padding, weights), so
the bit-exact check sees unusual but legal models.
"""

from __future__ import annotations

import random

import numpy as np

from tinyq.checks.synth import pack_model

try:
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover
    schema = None

HUGE = [2**31 - 1, 2**31, 2**32 + 1, 2**24, 65536, 100_000, 2**40]
INTS = [0, 1, -1, 2, 3, 7, 8, 127, 128, -128, -129, 255, 256, 32767, -32768, 65535, 2**31 - 1, -(2**31)]
SCALES = [0.0, -0.05, float("inf"), float("-inf"), float("nan"), 1e-38, 1e-45, 1e38, 3.4e38, 1e-9, 1e9, 1.0]


def _enum_values(cls) -> list[int]:
    return sorted({v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)})


def _options_classes() -> dict[int, type]:
    """BuiltinOptions union value -> the options class (XOptionsT)."""
    out = {}
    for name, v in vars(schema.BuiltinOptions).items():
        cls = getattr(schema, f"{name}T", None)
        if isinstance(v, int) and cls is not None:
            out[v] = cls
    return out


def _sg(m, rng):
    return m.subgraphs[rng.randrange(len(m.subgraphs))]


def _pick(xs, rng):
    return xs[rng.randrange(len(xs))] if xs is not None and len(xs) else None


def _ints(v) -> list[int]:
    return [int(x) for x in v] if v is not None else []


def _i32(xs) -> np.ndarray:
    """`xs` as the schema's int32 vector (values past its range wrap, as a C writer's would)."""
    return np.array([(int(x) + 2**31) % 2**32 - 2**31 for x in xs], dtype=np.int32)


def _some_int(rng, n: int) -> int:
    """An index near the valid range [0, n), often out of it."""
    return rng.choice([-2, -1, n, n + 1, n + 1000, 2**31 - 1, rng.randrange(max(n, 1))])


# Each mutation changes `m` (a ModelT) in place; returns False when it found nothing to change.


def shape(m, rng) -> bool:
    t = _pick(_sg(m, rng).tensors, rng)
    if t is None:
        return False
    s = _ints(t.shape)
    r = rng.random()
    if not s or r < 0.15:
        s.append(rng.choice([1, 2, 3, 0]))
    elif r < 0.3:
        s.pop(rng.randrange(len(s)))
    elif r < 0.5:
        s[rng.randrange(len(s))] = rng.choice(HUGE + [0, -1, -5])
    else:
        k = rng.randrange(len(s))
        s[k] = max(1, s[k] + rng.choice([-1, 1, 2]))
    t.shape = _i32(s)
    if rng.random() < 0.2:
        t.shapeSignature = _i32([rng.choice([-1, *s[:1]])] + s[1:]) if s else None
    return True


def quantization(m, rng) -> bool:
    t = _pick(_sg(m, rng).tensors, rng)
    if t is None:
        return False
    q = t.quantization
    if q is None or q.scale is None or not len(q.scale):
        q = t.quantization = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [0.05], [0]
        return True
    scale = [float(s) for s in q.scale]
    zps = _ints(q.zeroPoint)
    r = rng.random()
    if r < 0.3:  # legal: another positive scale, another in-range zero point
        k = rng.randrange(len(scale))
        scale[k] = float(np.float32(scale[k] * 2 ** rng.uniform(-4, 4)))
        if zps and rng.random() < 0.5:
            zps[rng.randrange(len(zps))] = rng.randrange(-128, 128)
    elif r < 0.5:
        scale[rng.randrange(len(scale))] = rng.choice(SCALES)
    elif r < 0.65:
        zps = zps or [0] * len(scale)
        zps[rng.randrange(len(zps))] = rng.choice(INTS)
    elif r < 0.8:  # per-channel lengths that do not match
        if rng.random() < 0.5 and len(scale) > 1:
            scale = scale[: rng.randrange(1, len(scale))]
        else:
            scale = scale + [scale[-1]] * rng.randrange(1, 4)
        if rng.random() < 0.5:
            zps = zps[: len(scale)]
    elif r < 0.9:
        q.quantizedDimension = rng.choice([-1, 1, 2, 3, 4, 100])
    else:
        t.quantization = None
        return True
    q.scale = np.array(scale, dtype=np.float32)
    q.zeroPoint = np.array(zps, dtype=np.int64)
    return True


def opcode(m, rng) -> bool:
    r = rng.random()
    if r < 0.4 and m.operatorCodes:
        c = _pick(m.operatorCodes, rng)
        if rng.random() < 0.5:
            c.version = rng.choice([0, 1, 2, 3, 4, 5, 7, 12, 100, -1])
        else:
            code = rng.choice(_enum_values(schema.BuiltinOperator))
            c.builtinCode, c.deprecatedBuiltinCode = code, min(code, 127)
        return True
    o = _pick(_sg(m, rng).operators, rng)
    if o is None:
        return False
    o.opcodeIndex = _some_int(rng, len(m.operatorCodes or []))
    if o.opcodeIndex < 0:
        o.opcodeIndex = len(m.operatorCodes or []) + 3  # uint field: keep it packable
    return True


def tensor_index(m, rng) -> bool:
    sg = _sg(m, rng)
    n = len(sg.tensors or [])
    r = rng.random()
    if r < 0.7 and sg.operators:
        o = _pick(sg.operators, rng)
        which = "inputs" if rng.random() < 0.6 else "outputs"
        xs = _ints(getattr(o, which))
        if xs and rng.random() < 0.8:
            xs[rng.randrange(len(xs))] = _some_int(rng, n)
        elif xs and rng.random() < 0.5:
            xs.pop(rng.randrange(len(xs)))
        else:
            xs.append(_some_int(rng, n))
        setattr(o, which, _i32(xs))
        return True
    which = "inputs" if rng.random() < 0.5 else "outputs"
    xs = _ints(getattr(sg, which))
    if xs and rng.random() < 0.7:
        xs[rng.randrange(len(xs))] = _some_int(rng, n)
    else:
        xs.append(_some_int(rng, n))
    setattr(sg, which, _i32(xs))
    return True


def buffer(m, rng) -> bool:
    sg = _sg(m, rng)
    r = rng.random()
    if r < 0.3:
        t = _pick(sg.tensors, rng)
        if t is None:
            return False
        t.buffer = rng.choice([0, len(m.buffers or []), len(m.buffers or []) + 5, 2**31,
                               rng.randrange(max(len(m.buffers or []), 1))])
        return True
    full = [b for b in (m.buffers or []) if b.data is not None and len(b.data)]
    b = _pick(full, rng)
    if b is None:
        return False
    data = np.asarray(b.data, dtype=np.uint8)
    if r < 0.5:  # truncated
        b.data = data[: rng.randrange(len(data))]
    elif r < 0.6:
        b.data = np.concatenate([data, data[: rng.randrange(1, 9)]])
    elif r < 0.85:  # legal: other weights of the same size
        d = data.copy()
        idx = np.array([rng.randrange(len(d)) for _ in range(min(len(d), rng.randrange(1, 33)))])
        d[idx] = np.array([rng.randrange(256) for _ in idx], dtype=np.uint8)
        b.data = d
    else:
        b.data = None
    return True


def cycle(m, rng) -> bool:
    """An operator reads what a later one writes (a cycle, or operators out of order), or two swap."""
    ops = _sg(m, rng).operators
    if not ops or len(ops) < 2:
        return False
    i, j = sorted(rng.sample(range(len(ops)), 2))
    if rng.random() < 0.5 and ops[j].outputs is not None and len(ops[j].outputs) and ops[i].inputs is not None and len(ops[i].inputs):
        xs = _ints(ops[i].inputs)
        xs[rng.randrange(len(xs))] = int(ops[j].outputs[0])
        ops[i].inputs = _i32(xs)
    elif rng.random() < 0.5:
        ops[i], ops[j] = ops[j], ops[i]
    elif rng.random() < 0.5:
        ops.insert(j, ops[i])  # the same operator twice: its output written twice
    else:
        del ops[i]
    return True


def options(m, rng) -> bool:
    o = _pick(_sg(m, rng).operators, rng)
    if o is None:
        return False
    r = rng.random()
    if r < 0.25 or o.builtinOptions is None:  # options of the wrong type, or none
        classes = _options_classes()
        v = rng.choice(sorted(classes))
        if rng.random() < 0.2:
            o.builtinOptionsType, o.builtinOptions = 0, None
        else:
            o.builtinOptionsType, o.builtinOptions = v, classes[v]()
        return True
    fields = [k for k, v in vars(o.builtinOptions).items() if isinstance(v, (int, float, bool)) and not isinstance(v, str)]
    if not fields:
        return False
    k = rng.choice(fields)
    old = getattr(o.builtinOptions, k)
    if isinstance(old, bool):
        setattr(o.builtinOptions, k, not old)
    elif isinstance(old, float):
        setattr(o.builtinOptions, k, rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e-3, 2.0]))
    elif r < 0.6:  # often legal: a small value (an activation, a padding, a stride)
        setattr(o.builtinOptions, k, rng.choice([0, 1, 2, 3, 4, 5, 6]))
    else:
        setattr(o.builtinOptions, k, rng.choice([-1, 0, 7, 100, 255, 2**31 - 1, -(2**31)]))
    return True


def dtype(m, rng) -> bool:
    t = _pick(_sg(m, rng).tensors, rng)
    if t is None:
        return False
    t.type = rng.choice(_enum_values(schema.TensorType))
    return True


def subgraphs(m, rng) -> bool:
    """Another subgraph (a copy), or none of the operators/tensors a field lists."""
    r = rng.random()
    if r < 0.4:
        m.subgraphs.append(m.subgraphs[0])
    elif r < 0.7:
        sg = _sg(m, rng)
        sg.operators = [] if rng.random() < 0.5 else sg.operators[:1]
    else:
        m.operatorCodes = (m.operatorCodes or [])[: rng.randrange(len(m.operatorCodes or [1]))]
    return True


def legal(m, rng) -> bool:
    """A change that keeps the model valid, so the bit-exact check sees it: an activation's scale or zero
    point moved within range, some weights redrawn, a fused activation or padding changed."""
    sg = _sg(m, rng)
    r = rng.random()
    if r < 0.4:
        t = _pick([t for t in (sg.tensors or []) if t.quantization is not None and t.quantization.scale is not None
                   and len(t.quantization.scale) == 1 and t.type in (schema.TensorType.INT8,)], rng)
        if t is None:
            return False
        q = t.quantization
        q.scale = np.array([float(q.scale[0]) * 2 ** rng.uniform(-2, 2)], dtype=np.float32)
        q.zeroPoint = np.array([rng.randrange(-128, 128)], dtype=np.int64)
        return True
    if r < 0.7:
        full = [b for b in (m.buffers or []) if b.data is not None and len(b.data)]
        b = _pick(full, rng)
        if b is None:
            return False
        d = np.asarray(b.data, dtype=np.uint8).copy()
        k = rng.randrange(len(d))
        d[k] = rng.randrange(256)
        b.data = d
        return True
    o = _pick([o for o in (sg.operators or []) if o.builtinOptions is not None], rng)
    if o is None:
        return False
    if hasattr(o.builtinOptions, "fusedActivationFunction") and rng.random() < 0.6:
        o.builtinOptions.fusedActivationFunction = rng.choice([0, 1, 2, 3])
    elif hasattr(o.builtinOptions, "padding"):
        o.builtinOptions.padding = rng.choice([0, 1])
    else:
        return False
    return True


MUTATIONS = [shape, quantization, opcode, tensor_index, buffer, cycle, options, dtype, subgraphs, legal]
WEIGHTS = [4, 5, 2, 2, 3, 1, 4, 1, 1, 8]


def mutate_model(data: bytes, seed: int, count: int | None = None) -> bytes | None:
    """`data` with 1-3 schema-level mutations (drawn from `seed`), packed again; None when `data` does
    not parse as a model or the result cannot be packed (the schema's writer refuses some values)."""
    if schema is None or len(data) < 8 or data[4:8] != b"TFL3":
        return None
    try:
        m = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception:
        return None
    if not m.subgraphs:
        return None
    rng = random.Random(seed)
    for _ in range(count or rng.choice([1, 1, 1, 2, 3])):
        rng.choices(MUTATIONS, WEIGHTS)[0](m, rng)
    try:
        return pack_model(m)
    except Exception:
        return None


# --------------------------------------------------------------------------- JSON documents (board files, build.json)

JSON_VALUES = [None, True, False, 0, -1, 1, 2**31, 2**64, -(2**63), 1e308, -0.0, 0.5, "", "x", "0x", "0xZZ", "int8", "int6",
               "float32", "qemu-m4", "../../etc/passwd", "\u00e9\u0000", [], [0], [-1, 3], [2**40, 2], {}, {"a": 1}]


def _paths(v, at=()):
    yield at
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, (*at, k))
    elif isinstance(v, list):
        for k, x in enumerate(v):
            yield from _paths(x, (*at, k))


def mutate_json(data: bytes, seed: int) -> bytes | None:
    """`data` (a JSON document) with one value replaced (by a value of another type, an extreme number, a
    path-like or empty string), removed or duplicated; None when `data` is not JSON."""
    import json

    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    rng = random.Random(seed)
    paths = list(_paths(doc))[1:]
    if not paths:
        return None
    at = rng.choice(paths)
    parent = doc
    for k in at[:-1]:
        parent = parent[k]
    key = at[-1]
    r = rng.random()
    if r < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif r < 0.25 and isinstance(parent, list):
        parent.insert(key, parent[key])
    elif r < 0.35 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = parent[key] + rng.choice([-1, 1, 7, -(10**6), 2**31])
    elif r < 0.4 and isinstance(parent, dict):
        parent[f"extra{rng.randrange(3)}"] = rng.choice(JSON_VALUES)
    else:
        parent[key] = rng.choice(JSON_VALUES)
    return json.dumps(doc).encode()


def mutate_keras(data: bytes, seed: int) -> bytes | None:
    """A .keras archive whose config.json (the model's layers and their arguments) had one JSON-level
    mutation, zipped again (so the archive's checksums hold and the loader reads the config)."""
    import io
    import zipfile

    if data[:4] != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            files = {n: z.read(n) for n in z.namelist()}
    except Exception:
        return None
    if "config.json" not in files:
        return None
    got = mutate_json(files["config.json"], seed)
    if got is None:
        return None
    files["config.json"] = got
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for n, b in files.items():
            z.writestr(n, b)
    return out.getvalue()


# --------------------------------------------------------------------------- .npy / .npz


def mutate_arrays(data: bytes, seed: int) -> bytes | None:
    """A .npy or .npz whose arrays had one numpy-level change (another dtype, shape, an empty or 0-d array,
    NaN/inf values, a key renamed or removed, an array added), saved again; or a .npy whose header claims
    another shape than its data holds (a huge one included). None when numpy cannot read `data`."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return _mutate_arrays(data, random.Random(seed))
        except Exception:  # a change numpy refuses (a string array cast to int, say): let atheris mutate
            return None


def _mutate_arrays(data: bytes, rng: random.Random) -> bytes | None:
    import io
    import zipfile

    if data[:2] == b"PK":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        arrays = {"": np.load(io.BytesIO(data), allow_pickle=False)}
    if not arrays:
        return None
    key = rng.choice(sorted(arrays))
    a = arrays[key]
    r = rng.random()
    if r < 0.15:
        a = a.astype(rng.choice([np.float64, np.float16, np.int8, np.uint8, np.int32, np.int64, np.bool_, np.complex64]))
    elif r < 0.3:
        a = a.reshape(-1) if rng.random() < 0.5 else a.reshape(1, *a.shape)
    elif r < 0.4:
        a = rng.choice([np.zeros((0,) + a.shape[1:], a.dtype), np.array(1.5, np.float32), np.zeros((0,), np.float32)])
    elif r < 0.5 and a.size and a.dtype.kind == "f":
        a = a.copy()
        a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e38])
    elif r < 0.6 and a.ndim:
        a = a[: rng.randrange(a.shape[0] + 1)] if rng.random() < 0.5 else np.concatenate([a, a])
    elif r < 0.7:
        arrays.pop(key)
        arrays[rng.choice(["x", "y", "a", "b", "input_1", ""]) or "z"] = a
        a = None
    elif r < 0.8:
        arrays[rng.choice(["y", "x", "c"])] = rng.choice([np.arange(3), np.ones((3, 8), np.float32), np.array(["s"])])
    elif r < 0.9 and key == "":  # a header that claims another shape than the data holds
        b = io.BytesIO()
        np.save(b, a)
        raw = b.getvalue()
        old = repr(tuple(a.shape)).encode()
        new = repr(tuple(rng.choice([2**40, 2**31, 0, 7, 3]) for _ in range(max(a.ndim, 1)))).encode()
        return raw.replace(old, new.ljust(len(old)) if len(new) <= len(old) else new, 1)
    else:
        a = np.asfortranarray(a) if a.ndim > 1 else a
    if a is not None:
        arrays[key] = a
    out = io.BytesIO()
    if list(arrays) == [""]:
        np.save(out, arrays[""])
    else:
        with zipfile.ZipFile(out, "w") as z:
            for k, v in arrays.items():
                b = io.BytesIO()
                np.save(b, v)
                z.writestr(f"{k or 'arr_0'}.npy", b.getvalue())
    return out.getvalue()
