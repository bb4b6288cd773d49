"""README's operator table is the registry's (tinyq/ops/table.py), and refusals are declared, not missing."""

from pathlib import Path

from tinyq.ops import REGISTRY, VARIANTS
from tinyq.ops.table import BEGIN, END, markdown, rows

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_holds_the_registrys_table():
    text = README.read_text()
    assert BEGIN in text and END in text, "README.md lost the operator table's markers"
    block = text[text.index(BEGIN) : text.index(END) + len(END) + 1]
    assert block == markdown(), "README.md's operator table is stale: run `.venv/bin/python -m tinyq.ops.table --update README.md`"


def test_every_registered_lowering_is_in_the_table():
    listed = {kind for kind, _ in rows()}
    registered = set(REGISTRY) | {k for table in VARIANTS.values() for k in table}
    assert listed == registered
    cells = dict(rows())
    assert cells["CONV_2D"] == {"int8": "yes", "int16": "yes", "float32": "yes"}
    assert cells["SUM"]["int8"] == "refused" and cells["SUM"]["float32"] == "yes"
