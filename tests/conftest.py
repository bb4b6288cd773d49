import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def kws():
    return shared_model("kws_ref_model.tflite")


@pytest.fixture
def resnet():
    return shared_model("pretrainedResnet_quant.tflite")
