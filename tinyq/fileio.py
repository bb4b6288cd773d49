"""Files in and out: atomic output (nothing half-written, ever) and the one reader of .npy / .npz arrays."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from tinyq.errors import BadInput

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextmanager
def staged_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh staging directory; on success its files replace those in `path`.

    Files are moved in one by one with os.replace, so each is complete; on failure
    the staging directory is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield stage
        path.mkdir(parents=True, exist_ok=True)
        for src in sorted(stage.rglob("*")):
            rel = src.relative_to(stage)
            dst = path / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def read_head(path: Path, n: int = 8) -> bytes:
    """The first `n` bytes of a file (to tell formats apart by their magic)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise BadInput(f"{path}: cannot read it ({e.strerror}): check the path and permissions") from None


def _np_load(path: Path, kind: str, take):
    """`take(np.load(path))` for a .npy or .npz file, with every numpy failure turned into one BadInput line."""
    save = "numpy.save" if kind == "npy" else "numpy.savez"
    try:
        if kind == "npy":
            return take(np.load(path, allow_pickle=False))
        with np.load(path, allow_pickle=False) as z:
            return take(z)
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise BadInput(f"{path} holds Python objects, not numbers: save numeric arrays with {save}") from None
        raise BadInput(f"{path} is a corrupt or truncated .{kind} file: save it again with {save}") from None
    except Exception:  # numpy raises many types for a damaged file (EOFError, OSError, zipfile.BadZipFile, ...)
        raise BadInput(f"{path} is a corrupt or truncated .{kind} file: save it again with {save}") from None


def read_arrays(path: Path | str, what: str) -> dict[str, np.ndarray]:
    """Read a .npy (key '') or .npz file into {name: array}; every failure is one BadInput line."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file: check the path of the {what} file")
    if path.is_dir():
        raise BadInput(f"{path} is a directory: give a .npy or .npz {what} file")
    head = read_head(path, 8)
    if head.startswith(_NPY_MAGIC):
        return {"": _np_load(path, "npy", lambda f: f)}
    if head.startswith(_ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
        out = _np_load(path, "npz", lambda z: {k: z[k] for k in z.files})
        odd = next((k for k, v in out.items() if not isinstance(v, np.ndarray)), None)
        if odd is not None:  # numpy hands a member that is not a .npy file over as its raw bytes
            raise BadInput(f"{path}: member '{odd}' is not a .npy array: save the {what} arrays with numpy.savez")
        if not out:
            raise BadInput(f"{path} is an empty .npz archive: save the {what} arrays in it with numpy.savez")
        return out
    raise BadInput(
        f"{path} is not a .npy or .npz file: save the {what} samples with numpy.save('{path.stem}.npy', x) "
        f"or numpy.savez('{path.stem}.npz', x=x)"
    )


def load_arrays(path: Path, what: str, skip: tuple[str, ...] = ()) -> list[np.ndarray]:
    """The arrays of a .npy (one) or .npz file in order: its 'x' alone if it has one, else every array
    whose name is not in `skip` (an evaluation set's labels 'y', say)."""
    arrays = read_arrays(path, what)
    if "x" in arrays:
        return [arrays["x"]]
    return [a for k, a in arrays.items() if k not in skip]
