"""Per-block features of the registry's networks, computed once and shipped: a first answer without torch.

``latmodel predict --model resnet18`` on a fresh machine used to build and trace the network (importing
torch and torchvision alone takes ~6 s on this project's 2-core guests): 10-15 s before the first answer,
against a 1.2 s answer once :mod:`latmodel.graph.feature_cache` holds the features.  Those features are a pure
function of the network's name and configuration, the libraries that build and count it, and netcut's
feature code, so the registry's networks (:data:`latmodel.graph.zoo.MODELS`) at the resolutions people ask for
(:data:`ATLAS_RESOLUTIONS_PX`, plus each network's native one), width 1 and batch 1, ship in
``data/features/`` (one gzipped JSON file per network, a few hundred kB in all).

Each file records the fingerprint it was built with (:func:`latmodel.graph.fingerprint.code_fingerprint`:
the versions of torch, torchvision and fvcore and the sources of netcut's splitting and counting code).
A file whose fingerprint is not this installation's is never read (other library versions may build
other blocks): the network is then traced as before, and cached on disk.  ``make atlas``
(``python -m latmodel.graph.atlas_build``, :mod:`latmodel.graph.atlas_build`) rebuilds the files; ``tests/test_feature_atlas.py`` fails with that
command when the feature code changed and the shipped files did not follow.
"""
from __future__ import annotations

import functools
import gzip
import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["ATLAS_RESOLUTIONS_PX", "ATLAS_SCHEMA_VERSION", "ATLAS_FOLDER", "atlas_path", "atlas_rows",
           "atlas_resolutions", "entry_key", "read_atlas", "clear_atlas_cache"]

logger = logging.getLogger(__name__)

#: Resolutions shipped for every registry network (its native resolution is added): the trimmer's
#: default search (96, 128, 160), latmodel's default (224) and the usual steps between.
ATLAS_RESOLUTIONS_PX: tuple[int, ...] = (64, 96, 112, 128, 160, 192, 224, 256)
ATLAS_SCHEMA_VERSION = 1
#: The folder under netcut's shipped data (:func:`latmodel.resources.data_path`).
ATLAS_FOLDER = "features"


def atlas_path(name: str, folder: Path | None = None) -> Path:
    """The shipped file of registry network ``name``."""
    from ..resources import data_path

    return (Path(folder) if folder is not None else data_path(ATLAS_FOLDER)) / f"{name}.json.gz"


def atlas_resolutions(name: str) -> tuple[int, ...]:
    """The resolutions shipped for ``name``: :data:`ATLAS_RESOLUTIONS_PX` and its native resolution."""
    from .zoo import native_resolution

    return tuple(sorted(set(ATLAS_RESOLUTIONS_PX) | {int(native_resolution(name))}))


def read_atlas(path: Path) -> dict[str, Any] | None:
    """The file at ``path`` if it is readable and was built by this installation (schema and fingerprint)."""
    from .fingerprint import code_fingerprint

    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(doc, dict) or doc.get("schema_version") != ATLAS_SCHEMA_VERSION:
        logger.debug("feature atlas %s has another schema; not used", path)
        return None
    if doc.get("fingerprint") != code_fingerprint():
        logger.debug("feature atlas %s was built by other library versions or feature code; not used", path)
        return None
    return doc


#: Lookups read each network's file once per process.
_load = functools.lru_cache(maxsize=32)(read_atlas)


def entry_key(resolution: int, width: float, batch_size: int) -> str:
    return f"{int(resolution)}px/w{float(width):g}/b{int(batch_size)}"


def atlas_rows(name: str, resolution: int, width: float, batch_size: int) -> list[dict[str, Any]] | None:
    """The shipped feature rows of ``name`` at this configuration, or None (not shipped, or built by
    another installation: see the module docstring)."""
    from .zoo import MODELS

    if name not in MODELS:
        return None
    path = atlas_path(name)
    if not path.is_file():
        return None
    doc = _load(path)
    if doc is None:
        return None
    rows = doc["entries"].get(entry_key(resolution, width, batch_size))
    return [dict(r) for r in rows] if rows else None


def clear_atlas_cache() -> None:
    """Forget the files read in this process (after a rebuild)."""
    _load.cache_clear()
