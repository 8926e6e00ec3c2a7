"""Per-block features of named networks cached on disk, so the same question twice costs a file read.

Building a torchvision network and tracing it for its features takes seconds; the answer depends only
on the network's name, resolution, width and batch size, the versions of the libraries that build and
count it, and netcut's own feature code.  :func:`cached_rows` keys a JSON file on all of these (the
sources of the modules that split and count are hashed, so an edited netcut never reads a stale entry)
and returns the rows stored there, or computes, stores and returns them.

Only networks whose structure the name fixes are cached: the registry's and ``random*:SEED`` (a
``package.module:factory`` may change under the same name).  The folder is ``features`` in netcut's cache
folder (:func:`latmodel.fileio.cache_root`: ``$NETCUT_CACHE_DIR``, else ``~/.cache/netcut``);
``NETCUT_FEATURE_CACHE=off`` disables it (and the shipped features of :mod:`latmodel.graph.feature_atlas`,
read before the folder: every network is then traced).  An
unreadable or malformed entry is recomputed and overwritten.  JSON, never a pickle.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from .feature_atlas import atlas_rows
from .fingerprint import code_fingerprint

__all__ = ["OFF_ENV", "cache_dir", "cache_key", "cached_rows", "has_rows"]

logger = logging.getLogger(__name__)

#: The environment variable that turns the feature disk cache off (``off``).
OFF_ENV = "NETCUT_FEATURE_CACHE"
_KEY_VERSION = 2


def cache_dir() -> Path | None:
    """The feature cache folder, or None when ``$NETCUT_FEATURE_CACHE`` is ``off``."""
    from ..fileio import cache_root

    if os.environ.get(OFF_ENV, "").strip().lower() == "off":
        return None
    return cache_root() / "features"


def _cacheable(name: str) -> bool:
    from ..errors import NetcutError
    from .zoo import resolve_spec

    try:
        return not resolve_spec(name).family.startswith("custom:")
    except NetcutError:  # an unknown name: let the computation say so
        return False


def cache_key(name: str, resolution: int, width: float, batch_size: int) -> str | None:
    """The entry's file stem, or None for a network the name does not fix (a factory path)."""
    if not _cacheable(name):
        return None
    what = json.dumps({"v": _KEY_VERSION, "name": name, "resolution_px": int(resolution), "width": float(width),
                       "batch_size": int(batch_size), "code": code_fingerprint()}, sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest()[:32]


def _read(path: Path) -> list[dict[str, Any]] | None:
    from .features import FEATURE_COLUMNS

    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(rows, list) or not rows
            or not all(isinstance(r, dict) and all(c in r for c in FEATURE_COLUMNS) for r in rows)):
        logger.debug("feature cache entry %s is malformed; recomputing", path)
        return None
    return rows


def _entry_path(name: str, resolution: int, width: float, batch_size: int) -> Path | None:
    """The disk entry of this configuration, or None when the cache is off or the name does not fix the network."""
    folder = cache_dir()
    key = cache_key(name, resolution, width, batch_size) if folder is not None else None
    return None if key is None else folder / f"{key}.json"


def _stored_rows(name: str, resolution: int, width: float, batch_size: int, path: Path) -> list[dict[str, Any]] | None:
    """The shipped rows of this configuration, else the readable ones at ``path``, else None."""
    shipped = atlas_rows(name, resolution, width, batch_size)
    if shipped is not None:
        return shipped
    return _read(path) if path.is_file() else None


def cached_rows(name: str, resolution: int, width: float, batch_size: int,
                compute: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The feature rows of ``name`` at this configuration: from the disk cache, else ``compute()`` (stored)."""
    path = _entry_path(name, resolution, width, batch_size)
    if path is None:
        return compute()
    rows = _stored_rows(name, resolution, width, batch_size, path)
    if rows is not None:
        return rows
    rows = compute()
    try:
        from ..fileio import atomic_write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(rows))
    except (OSError, TypeError, ValueError) as exc:  # a read-only home still answers, only slower next time
        logger.warning("could not write the feature cache %s (%s); set NETCUT_CACHE_DIR to a writable folder or %s=off",
                       path, exc, OFF_ENV)
    return rows


def has_rows(name: str, resolution: int, width: float, batch_size: int) -> bool:
    """Whether the shipped features or the disk cache hold this configuration of ``name``: it was then split,
    its split passed the FLOP coverage check (:func:`latmodel.graph.blocks.split_model`) and was counted with
    this installation's code and libraries, so an instance of the same structure need not be checked again.
    A cache entry that exists but does not read is no proof (False)."""
    path = _entry_path(name, resolution, width, batch_size)
    return path is not None and _stored_rows(name, resolution, width, batch_size, path) is not None
