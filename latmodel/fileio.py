"""Writing files safely, shared by ``latmodel`` and ``trimmer``.

Every file netcut writes lands atomically (a temporary sibling, fsync, rename), so
an interrupted command leaves the old file or the new one, never half of one.
CSV cells are neutralised against spreadsheet formula injection, and errors from
libraries are reduced to their first line for one-line user errors.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "CACHE_ENV",
    "cache_root",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_path",
    "atomic_dir",
    "sanitize_cell",
    "first_line",
]


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (NaN refused) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    For writers that want a file name (``torch.save``, ``savefig``); ``suffix`` keeps
    the extension some writers infer the format from.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces the folder ``path``.

    An existing ``path`` is moved aside first and restored if the swap fails, so
    readers see the old folder or the new one.
    """
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            os.replace(old, out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sanitize_cell(value):
    """Neutralise spreadsheet formula injection in a string cell (leading = + - @ tab CR)."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message (its type name when empty), cut to ``limit`` characters."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


#: The environment variable naming netcut's cache folder (ONNX exports, network features).
CACHE_ENV = "NETCUT_CACHE_DIR"


def cache_root() -> Path:
    """netcut's cache folder: ``$NETCUT_CACHE_DIR``, else ``$XDG_CACHE_HOME/netcut``, else ``~/.cache/netcut``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netcut"
