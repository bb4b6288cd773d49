"""The wheel works on its own: firmware, templates and boards inside it, found from anywhere.

Builds the wheel from this checkout, installs it with `pip --target` into a bare folder and runs it
with PYTHONPATH=that folder from a directory outside the checkout. The venv running the suite also
has tinyq installed editable (a .pth that appends the checkout to sys.path), so every path is checked
to be inside the folder: a pass must not come from the checkout.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, shared_model

TREES = ("firmware", "templates", "boards")  # top of the repository -> tinyq/data/<tree> in the wheel


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} -> exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def _checkout_files(tree: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / tree).rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", dist, ROOT], cwd=dist)
    (whl,) = dist.glob("tinyq-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(site folder with the wheel installed in it, environment that imports tinyq from there, a cwd outside the checkout)."""
    site = tmp_path_factory.mktemp("site")
    _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--target", site, wheel])
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONNOUSERSITE="1")
    cwd = tmp_path_factory.mktemp("elsewhere")
    assert ROOT.resolve() not in cwd.resolve().parents
    return site.resolve(), env, cwd


def test_the_wheel_holds_the_package_and_real_copies_of_the_trees(wheel):
    with zipfile.ZipFile(wheel) as z:
        infos = z.infolist()
    names = [i.filename for i in infos]
    assert len(names) == len(set(names)), "a path is in the wheel twice"
    links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
    assert not links, f"symlinks in the wheel: {links[:5]}"
    files = set(names)
    for tree in TREES:
        want = {f"tinyq/data/{f}" for f in _checkout_files(tree)}
        assert want, tree
        assert want <= files, f"missing from the wheel: {sorted(want - files)[:5]}"
        # Only what the checkout has: nothing from the symlinks on top (no tinyq/data/<tree>/<tree>/...).
        assert {n for n in files if n.startswith(f"tinyq/data/{tree}/")} == want
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tinyq").rglob("*.py") if "data" not in p.relative_to(ROOT / "tinyq").parts}
    assert modules <= files, f"modules missing from the wheel: {sorted(modules - files)[:5]}"
    for sub in ("cli", "checks", "device", "build", "quant", "compiler", "ops"):
        assert f"tinyq/{sub}/__init__.py" in files, sub
    assert not [n for n in names if n.split("/")[0] in (*TREES, "tests")], "top-level trees leaked into the wheel"


def test_the_sdist_keeps_the_layout_and_builds_the_same_wheel(wheel, tmp_path):
    # `python -m build` makes the sdist, then the wheel from the unpacked sdist: no symlinks there.
    _run([sys.executable, "-m", "build", "--no-isolation", "-o", tmp_path, ROOT], cwd=tmp_path)
    (sdist,) = tmp_path.glob("tinyq-*.tar.gz")
    (from_sdist,) = tmp_path.glob("tinyq-*.whl")
    with tarfile.open(sdist) as t:
        members = t.getmembers()
    top = members[0].name.split("/")[0]
    paths = {m.name.split("/", 1)[1] for m in members if "/" in m.name}
    for tree in TREES:
        assert _checkout_files(tree) <= paths, tree
    assert "pyproject.toml" in paths and "tinyq/__init__.py" in paths
    assert not [m.name for m in members if m.issym() or m.name.startswith(f"{top}/tinyq/data/")]
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(from_sdist) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


def test_tinyq_and_its_data_resolve_inside_the_install(installed):
    site, env, cwd = installed
    probe = (
        "import json, sys, importlib.metadata as md, tinyq, tinyq.resources as r\n"
        "from tinyq.cli import root\n"
        "root._register_commands()\n"  # every command module, so every layer is imported
        "mods = {n: getattr(m, '__file__', None) for n, m in list(sys.modules.items()) if n == 'tinyq' or n.startswith('tinyq.')}\n"
        "print(json.dumps({'tinyq': tinyq.__file__, 'FIRMWARE': str(r.FIRMWARE), 'KERNELS': str(r.KERNELS),\n"
        "    'TEMPLATES': str(r.TEMPLATES), 'BOARDS': str(r.BOARDS), 'dist': str(md.distribution('tinyq').locate_file('')),\n"
        "    'modules': mods}))\n"
    )
    got = json.loads(_run([sys.executable, "-c", probe], cwd=cwd, env=env).stdout)

    def inside(p) -> bool:
        return p is not None and Path(p).resolve().is_relative_to(site)

    for key in ("tinyq", "FIRMWARE", "KERNELS", "TEMPLATES", "BOARDS", "dist"):
        assert inside(got[key]), f"{key} = {got[key]}, not under {site}"
    outside = {n: f for n, f in got["modules"].items() if not inside(f)}
    assert not outside, f"imported from elsewhere (the editable install?): {outside}"
    assert len(got["modules"]) > 20
    assert (Path(got["KERNELS"]) / "include" / "tq_common.h").is_file()
    assert (Path(got["TEMPLATES"]) / "model.c.j2").is_file()
    assert (Path(got["BOARDS"]) / "qemu-m4.json").is_file()
    assert (Path(got["FIRMWARE"]) / "main.c").is_file()


def test_the_installed_wheel_builds_and_verifies(installed):
    site, env, cwd = installed
    model = shared_model("kws_ref_model.tflite")
    r = _run([sys.executable, "-m", "tinyq", "--version"], cwd=cwd, env=env)
    assert re.fullmatch(r"tinyq \S+ \(tensorflow (\S+|not installed), ai-edge-litert (\S+|not installed)\)\n", r.stdout), r.stdout

    r = _run([sys.executable, "-m", "tinyq", "boards"], cwd=cwd, env=env)
    assert "qemu-m4" in r.stdout

    out = cwd / "kws-m4"
    _run([sys.executable, "-m", "tinyq", "build", model, "--board", "qemu-m4", "-o", out], cwd=cwd, env=env)
    assert (out / "firmware.elf").is_file()

    r = _run([sys.executable, "-m", "tinyq", "verify", model, "--samples", "5"], cwd=cwd, env=env)
    assert re.search(r"^bit-exact\b", r.stdout, re.M), r.stdout
    assert "NOT bit-exact" not in r.stdout + r.stderr
