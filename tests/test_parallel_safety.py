"""`make test` runs the suite on two pytest-xdist workers: what they share must stand concurrent use.

The one cache outside a test's own tmp_path is the compiled QEMU plugin (tinyq.device.plugin, under
~/.cache/tinyq): several processes building it at once into an empty cache must each get the same
complete library and leave no temporary file behind.
"""

import subprocess
import sys
from pathlib import Path

BUILD = "from tinyq.device.plugin import plugin_library; print(plugin_library())"


def test_concurrent_plugin_builds_leave_one_complete_library(tmp_path):
    cache = tmp_path / "cache"
    env = {"PATH": "/usr/bin:/bin", "TINYQ_CACHE": str(cache), "HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1, paths
    lib = Path(paths.pop())
    assert lib.parent == cache / "qemu-plugin" and lib.name.startswith("tq_exec_plugin-")
    assert [p.name for p in lib.parent.iterdir()] == [lib.name]  # every temporary file renamed or removed
    data = lib.read_bytes()
    assert data[:4] == b"\x7fELF" and data[16] == 3  # ET_DYN: a shared object, not a truncated write
    # A process that finds the library does not build it again.
    mtime = lib.stat().st_mtime_ns
    r = subprocess.run([sys.executable, "-c", BUILD], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == str(lib) and lib.stat().st_mtime_ns == mtime
