"""The package's shape, enforced (ARCHITECTURE.md draws it).

- The layers import only downward: import-linter's `layers` contract in pyproject.toml
  ([tool.importlinter]), run as `lint-imports` over the installed package.
- No import cycles between any two modules, function-level imports included (grimp's graph, the one
  import-linter builds).
- Each package names its public functions: a docstring and an `__all__` whose names exist.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["tinyq.build", "tinyq.checks", "tinyq.cli", "tinyq.compiler", "tinyq.device", "tinyq.ops", "tinyq.quant"]


def test_layers_import_only_downward():
    exe = Path(sys.executable).with_name("lint-imports")
    lint = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert lint, "import-linter is not installed: run `make setup` (it is in the dev extras)"
    r = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)  # reads pyproject.toml here
    assert r.returncode == 0 and "broken" in r.stdout and "0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Layers KEPT" in r.stdout, r.stdout[-3000:]


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's algorithm over grimp's module graph, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (dev extras)")
    graph = grimp.build_graph("tinyq", cache_dir=None)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    """The check itself can fail: a graph with a -> b -> a has one strongly connected pair."""

    class Fake:
        modules = {"a", "b", "c"}
        edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges[m]

    assert [c for c in _strongly_connected(Fake()) if len(c) > 1] == [["a", "b"]]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_names_its_public_functions(name):
    pkg = importlib.import_module(name)
    assert (pkg.__doc__ or "").strip(), f"{name}/__init__.py has no docstring saying what the package is"
    public = getattr(pkg, "__all__", None)
    assert public, f"{name}/__init__.py has no __all__ naming its public functions"
    missing = [n for n in public if not hasattr(pkg, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
