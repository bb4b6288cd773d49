"""tinyq is proven bit-exact against one range of tensorflow and ai-edge-litert: the installed ones are in it.

The ranges are written once, in pyproject.toml (which says why they are tight); this reads them back
from the installed package's metadata (importlib.metadata.requires), so there is nothing to keep in step.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, requires, version

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import ROOT

PINNED = ("tensorflow", "ai-edge-litert")  # the references: converter and BUILTIN_REF interpreter


def _ranges(lines) -> dict[str, list[Requirement]]:
    """The requirements on each pinned distribution (one per extra that names it)."""
    found: dict[str, list[Requirement]] = {name: [] for name in PINNED}
    for line in lines:
        req = Requirement(line)
        if canonicalize_name(req.name) in found:
            found[canonicalize_name(req.name)].append(req)
    return found


def _installed_ranges() -> dict[str, list[Requirement]]:
    return _ranges(requires("tinyq") or [])


@pytest.mark.parametrize("name", PINNED)
def test_each_reference_has_one_bounded_range(name):
    reqs = _installed_ranges()[name]
    assert reqs, f"tinyq's metadata does not name {name}: pin it in pyproject.toml"
    specs = {str(r.specifier) for r in reqs}
    assert len(specs) == 1, f"{name} has different ranges in different places: {sorted(specs)}"
    spec = SpecifierSet(specs.pop())
    ops = {s.operator for s in spec}
    # A new machine installs the newest release allowed: without an upper bound that is an unproven one.
    assert ops & {"<", "<=", "==", "~=", "==="}, f"{name}{spec} has no upper bound"
    assert ops & {">", ">=", "==", "~=", "==="}, f"{name}{spec} has no lower bound"


@pytest.mark.parametrize("name", PINNED)
def test_the_installed_reference_is_a_proven_one(name):
    reqs = _installed_ranges()[name]
    assert reqs, name
    try:
        have = Version(version(name))
    except PackageNotFoundError:
        if all(r.marker is not None for r in reqs):  # only an extra asks for it (tensorflow: convert, dev)
            pytest.skip(f"{name} is not installed (optional)")
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    for r in reqs:
        assert r.specifier.contains(have, prereleases=True), (
            f"{name} {have} is installed, but tinyq is proven bit-exact only with {name}{r.specifier} "
            f"(pyproject.toml): install a proven release, or run the whole suite on {have} and move the range"
        )


def test_the_installed_metadata_is_this_pyproject():
    # The ranges above come from the last `pip install -e`; `make` reinstalls when pyproject.toml changes.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"]) + [d for deps in project.get("optional-dependencies", {}).values() for d in deps]
    written = {n: {str(r.specifier) for r in reqs} for n, reqs in _ranges(lines).items()}
    installed = {n: {str(r.specifier) for r in reqs} for n, reqs in _installed_ranges().items()}
    assert written == installed, "the installed metadata is stale: run `make venv` (or pip install -e '.[dev]')"
