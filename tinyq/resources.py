"""Where tinyq's C runtime, templates and board files are: package data under tinyq/data.

The trees live at the top of the repository (firmware/, templates/, boards/). A wheel carries them
as tinyq/data/{firmware,templates,boards} (pyproject.toml, force-include); in a source checkout
tinyq/data/<tree> are committed relative symlinks to ../../<tree>, so an editable install and
PYTHONPATH=<checkout> find them at the same place. Either way they are reached through
importlib.resources, never relative to the source tree.

They are real directories (pip installs a wheel unpacked), handed out as pathlib.Path because
their users need paths: gcc's -I, jinja2's FileSystemLoader, glob/rglob, copying into a build.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _data_dir() -> Path:
    data = files("tinyq") / "data"
    if not isinstance(data, Path):  # e.g. a zipimport: nothing here can hand gcc a path into a zip
        raise ImportError(f"tinyq's data ({data}) is not a directory on disk: install tinyq with pip (unpacked)")
    return data


def _tree(name: str) -> Path:
    # resolve(): in a checkout, the symlink's real place (<checkout>/firmware, ...), which is what
    # gcc's messages and error texts should name; in an installed wheel it changes nothing.
    return (_DATA / name).resolve()


_DATA = _data_dir()
FIRMWARE = _tree("firmware")
KERNELS = FIRMWARE / "kernels"
TEMPLATES = _tree("templates")
BOARDS = _tree("boards")
