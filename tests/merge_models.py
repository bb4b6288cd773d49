"""Several single-subgraph .tflite models as ONE model whose graph holds them side by side: each model's
tensors, buffers, operator codes and operators appended with their indices remapped, the inputs and the
outputs concatenated in the models' order. Nothing connects two parts, so the merged model computes, for
each part, exactly what that model computes alone: one firmware (tests/m0_cases.py) runs dozens of the
per-op tests' models.

Test tooling, not product (like tests/fuzz/): only the suite uses it, and it writes through the schema's
object API as tinyq.checks.synth does. A part's tensor names get the prefix "m<k>/" (two models may use
the same name); metadata and signature defs are left out (they name one model's tensors).
"""

from __future__ import annotations


class NotMergeable(ValueError):
    """A model the merge leaves alone (several subgraphs, resource variables): it runs on its own."""


def mergeable(model) -> str | None:
    """Why the ModelT `model` cannot be a part (None: it can)."""
    from ai_edge_litert import schema_py_generated as schema

    if len(model.subgraphs or []) != 1:
        return f"{len(model.subgraphs or [])} subgraphs"
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes or []]
    resource = {schema.BuiltinOperator.VAR_HANDLE, schema.BuiltinOperator.READ_VARIABLE,
                schema.BuiltinOperator.ASSIGN_VARIABLE, schema.BuiltinOperator.CALL_ONCE}
    if resource & set(codes):
        return "resource variables (named by container and shared name)"
    return None


def merge(models: list[bytes], description: str = "tinyq test: models side by side") -> bytes:
    """The .tflite of `models` (each a single-subgraph .tflite) side by side; NotMergeable names a part
    that cannot be one."""
    from ai_edge_litert import schema_py_generated as schema

    from tinyq.checks.synth import pack_model

    out = schema.ModelT()
    out.version, out.description = 3, description
    out.buffers, out.operatorCodes = [schema.BufferT()], []
    sg = schema.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs, sg.name = [], [], [], [], "main"
    out.subgraphs = [sg]
    codes: dict[tuple, int] = {}
    for k, data in enumerate(models):
        m = schema.ModelT.InitFromPackedBuf(data, 0)
        why = mergeable(m)
        if why is not None:
            raise NotMergeable(f"part {k}: {why}")
        part = m.subgraphs[0]
        buffers: dict[int, int] = {}
        for b, buf in enumerate(m.buffers or []):
            if b == 0 and (buf.data is None or len(buf.data) == 0):
                buffers[b] = 0  # the empty buffer every model starts with
            else:
                buffers[b] = len(out.buffers)
                out.buffers.append(buf)
        opcodes = []
        for c in m.operatorCodes or []:
            key = (c.deprecatedBuiltinCode, c.builtinCode, c.customCode, c.version)
            if key not in codes:
                codes[key] = len(out.operatorCodes)
                out.operatorCodes.append(c)
            opcodes.append(codes[key])
        base = len(sg.tensors)

        def at(indices):
            return None if indices is None else [int(i) + base if int(i) >= 0 else int(i) for i in indices]

        for t in part.tensors or []:
            t.buffer = buffers[int(t.buffer)]
            name = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
            t.name = f"m{k}/{name}"
            sg.tensors.append(t)
        for op in part.operators or []:
            op.opcodeIndex = opcodes[int(op.opcodeIndex)]
            op.inputs, op.outputs, op.intermediates = at(op.inputs), at(op.outputs), at(op.intermediates)
            sg.operators.append(op)
        sg.inputs += at(part.inputs) or []
        sg.outputs += at(part.outputs) or []
    return pack_model(out)
