"""The importer validates the graph once: a malformed .tflite (tensor indices out of range, a
buffer that is not whole values, a cycle, a tensor written twice) is one BadInput line naming the
operator and tensor, before any pass can meet it."""

import numpy as np
import pytest

from tinyq.checks.synth import pack_model
from tinyq.compiler.importer import import_model, read_model
from tinyq.errors import BadInput


def _mutated(tmp_path, kws, change):
    model, _ = read_model(kws)
    change(model)
    path = tmp_path / "mutated.tflite"
    path.write_bytes(pack_model(model))
    return path


def _set_input(op, j, v):
    op.inputs = np.array([*op.inputs[:j], v, *op.inputs[j + 1:]], dtype=np.int32)


def _set_output(op, j, v):
    op.outputs = np.array([*op.outputs[:j], v, *op.outputs[j + 1:]], dtype=np.int32)


def _bias_buffer(model):
    """The buffer of a constant int32 tensor (a bias)."""
    sg = model.subgraphs[0]
    for t in sg.tensors:
        b = model.buffers[t.buffer]
        if t.type == 2 and b.data is not None and len(b.data) >= 8:  # INT32
            return b
    raise AssertionError("no int32 constant")


CASES = {
    "input index below -1": (lambda m: _set_input(m.subgraphs[0].operators[1], 0, -5),
                             r"operator 1 \(\w+\) names tensor -5 of \d+"),
    "input index past the end": (lambda m: _set_input(m.subgraphs[0].operators[2], 0, 10_000),
                                 r"operator 2 \(\w+\) names tensor 10000 of \d+"),
    "missing output (-1)": (lambda m: _set_output(m.subgraphs[0].operators[0], 0, -1),
                            r"operator 0 \(\w+\) names tensor -1 of"),
    "model input out of range": (lambda m: setattr(m.subgraphs[0], "inputs", np.array([999], dtype=np.int32)),
                                 r"the model inputs name tensor 999 of"),
    "model output negative": (lambda m: setattr(m.subgraphs[0], "outputs", np.array([-1], dtype=np.int32)),
                              r"the model outputs name tensor -1 of"),
    "buffer not whole values": (lambda m: setattr(_bias_buffer(m), "data", _bias_buffer(m).data[:-1]),
                                r"tensor \d+ .* has \d+ bytes of data, not a whole number of int32 values"),
    "a cycle": (lambda m: _set_input(m.subgraphs[0].operators[0], 0, int(m.subgraphs[0].operators[3].outputs[0])),
                r"operator 0 \(\w+\) reads tensor \d+ before operator 3 writes it"),
    "written twice": (lambda m: _set_output(m.subgraphs[0].operators[2], 0, int(m.subgraphs[0].operators[1].outputs[0])),
                      r"operator 2 \(\w+\) writes tensor \d+, which is operator 1's output"),
    "writes the model input": (lambda m: _set_output(m.subgraphs[0].operators[1], 0, int(m.subgraphs[0].inputs[0])),
                               r"operator 1 \(\w+\) writes tensor \d+, which is a model input"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_graphs_are_one_bad_input_line(tmp_path, kws, case):
    change, message = CASES[case]
    path = _mutated(tmp_path, kws, change)
    with pytest.raises(BadInput, match=r"is corrupt: " + message + r".*re-export the model") as e:
        import_model(path)
    assert "\n" not in str(e.value)


def test_the_unchanged_model_imports(tmp_path, kws):
    g = import_model(_mutated(tmp_path, kws, lambda m: None))
    assert len(g.ops) == len(read_model(kws)[0].subgraphs[0].operators)
