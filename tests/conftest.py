import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import m0_cases

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
TINYQ = Path(sys.executable).parent / "tinyq"


def shared_model(name: str) -> Path:
    p = SHARED_MODELS / name
    if not p.exists():
        pytest.fail(f"shared model {p} is missing: the tests need ../shared/models next to the repo")
    return p


def run_tinyq(*args, cwd=None):
    """Run the installed `tinyq` command the way a user does; returns CompletedProcess."""
    exe = str(TINYQ) if TINYQ.exists() else shutil.which("tinyq")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(autouse=True)
def _m0_cases(request, monkeypatch):
    """A per-op test's verified models, kept for its module's last test: on qemu-m0 (tests/m0_cases.py)."""
    m0_cases.collect(request, monkeypatch)


def pytest_collection_modifyitems(items):
    m0_cases.add_tests(items)


@pytest.fixture
def kws():
    return shared_model("kws_ref_model.tflite")


@pytest.fixture
def resnet():
    return shared_model("pretrainedResnet_quant.tflite")


@pytest.fixture(scope="session")
def kws_m4_build(tmp_path_factory):
    """The keyword-spotting model built for qemu-m4 once per session (a build takes about a second)."""
    from tinyq.boards import get_board
    from tinyq.build.firmware import build

    out = tmp_path_factory.mktemp("kws-m4") / "build"
    build(shared_model("kws_ref_model.tflite"), get_board("qemu-m4"), out, mlperf_model="kws01")
    return out


@pytest.fixture
def dut(kws_m4_build):
    """A freshly booted qemu-m4 running the kws firmware, as a protocol client; closed in finally."""
    from tinyq.boards import get_board
    from tinyq.device import open_device

    with open_device(kws_m4_build, get_board("qemu-m4")) as d:
        yield d
