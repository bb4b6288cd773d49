"""Builds: a compiled model -> firmware for a board (firmware: the stages compile, plan, render, link,
report), the cross toolchain and size report (link), the build manifest (manifest), the generated C
on the host compiler (host) and the Arduino library export (arduino).

Public: `build`, `BuildResult`, `Manifest`, `load_manifest`, `resolve_board`, `Sizes`, `HostModel`,
`export_arduino`.
"""

from tinyq.build.arduino import export_arduino
from tinyq.build.firmware import MLPERF_MODELS, BuildResult, build
from tinyq.build.host import HostModel
from tinyq.build.manifest import ELF, MODEL_COPY, Manifest, Sizes, resolve_board
from tinyq.build.manifest import load as load_manifest

__all__ = ["ELF", "MLPERF_MODELS", "MODEL_COPY", "BuildResult", "HostModel", "Manifest", "Sizes", "build", "export_arduino",
           "load_manifest", "resolve_board"]
