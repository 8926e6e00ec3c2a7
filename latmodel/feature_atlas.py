"""Per-block features of the registry's networks, computed once and shipped: a first answer without torch.

``latmodel predict --model resnet18`` on a fresh machine used to build and trace the network (importing
torch and torchvision alone takes ~6 s on this project's 2-core guests): 10-15 s before the first answer,
against a 1.2 s answer once :mod:`latmodel.feature_cache` holds the features.  Those features are a pure
function of the network's name and configuration, the libraries that build and count it, and netcut's
feature code, so the registry's networks (:data:`latmodel.zoo.MODELS`) at the resolutions people ask for
(:data:`ATLAS_RESOLUTIONS_PX`, plus each network's native one), width 1 and batch 1, ship in
``data/features/`` (one gzipped JSON file per network, a few hundred kB in all).

Each file records the fingerprint it was built with (:func:`latmodel.feature_cache.code_fingerprint`:
the versions of torch, torchvision and fvcore and the sources of netcut's splitting and counting code).
A file whose fingerprint is not this installation's is never read (other library versions may build
other blocks): the network is then traced as before, and cached on disk.  ``make atlas``
(``python -m latmodel.feature_atlas``) rebuilds the files; ``tests/test_feature_atlas.py`` fails with that
command when the feature code changed and the shipped files did not follow.
"""
from __future__ import annotations

import functools
import gzip
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["ATLAS_RESOLUTIONS_PX", "ATLAS_SCHEMA_VERSION", "ATLAS_FOLDER", "atlas_path", "atlas_rows",
           "atlas_resolutions", "build_atlas"]

logger = logging.getLogger(__name__)

#: Resolutions shipped for every registry network (its native resolution is added): the trimmer's
#: default search (96, 128, 160), latmodel's default (224) and the usual steps between.
ATLAS_RESOLUTIONS_PX: tuple[int, ...] = (64, 96, 112, 128, 160, 192, 224, 256)
ATLAS_SCHEMA_VERSION = 1
#: The folder under netcut's shipped data (:func:`latmodel.resources.data_path`).
ATLAS_FOLDER = "features"


def atlas_path(name: str, folder: Path | None = None) -> Path:
    """The shipped file of registry network ``name``."""
    from .resources import data_path

    return (Path(folder) if folder is not None else data_path(ATLAS_FOLDER)) / f"{name}.json.gz"


def atlas_resolutions(name: str) -> tuple[int, ...]:
    """The resolutions shipped for ``name``: :data:`ATLAS_RESOLUTIONS_PX` and its native resolution."""
    from .zoo import native_resolution

    return tuple(sorted(set(ATLAS_RESOLUTIONS_PX) | {int(native_resolution(name))}))


def _read_current(path: Path) -> dict[str, Any] | None:
    """The file at ``path`` if it is readable and was built by this installation (schema and fingerprint)."""
    from .feature_cache import code_fingerprint

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
_load = functools.lru_cache(maxsize=32)(_read_current)


def _entry_key(resolution: int, width: float, batch_size: int) -> str:
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
    rows = doc["entries"].get(_entry_key(resolution, width, batch_size))
    return [dict(r) for r in rows] if rows else None


def _complete(path: Path, name: str) -> bool:
    """Whether ``path`` already holds ``name``'s features for every shipped resolution, by this installation."""
    doc = _read_current(path)
    if doc is None:
        return False
    done = set(doc.get("entries", {})) | set(doc.get("unbuildable", {}))
    return done >= {_entry_key(r, 1.0, 1) for r in atlas_resolutions(name)}


def build_atlas(folder: Path | None = None, names: list[str] | None = None, *, progress: bool = True,
                force: bool = False) -> list[Path]:
    """Compute and write the shipped feature files (every registry network unless ``names``); returns them.

    One file per network, written as soon as its resolutions are done; a network whose file is already
    complete for this installation is skipped unless ``force`` (an interrupted build resumes).  A resolution
    the network cannot be built at (MaxViT's partitions, ViT's patches) is listed under ``unbuildable`` with
    the reason: asking for it traces and fails with that reason, as without the atlas.
    """
    from tqdm import tqdm

    from .errors import NetcutError
    from .feature_cache import code_fingerprint, fingerprint_libraries
    from .netfeatures import compute_features
    from .zoo import MODELS

    names = list(names) if names else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"not registry networks: {', '.join(unknown)}; allowed: {', '.join(MODELS)}")
    todo = [n for n in names if force or not _complete(atlas_path(n, folder), n)]
    written = [atlas_path(n, folder) for n in names if n not in todo]
    bar = tqdm(total=sum(len(atlas_resolutions(n)) for n in todo), desc="feature atlas", unit="config",
               disable=not progress)
    for name in todo:
        doc: dict[str, Any] = {"schema_version": ATLAS_SCHEMA_VERSION, "network": name,
                               "fingerprint": code_fingerprint(), "libraries": fingerprint_libraries(),
                               "entries": {}, "unbuildable": {}}
        for res in atlas_resolutions(name):
            key = _entry_key(res, 1.0, 1)
            try:
                doc["entries"][key] = compute_features(name, res, 1.0, 1)
            except NetcutError as exc:
                doc["unbuildable"][key] = str(exc)
            bar.update(1)
        path = atlas_path(name, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0: the same features give the same bytes (a rebuild without changes shows no diff)
        with gzip.GzipFile(path, "wb", mtime=0) as fh:
            fh.write(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8"))
        written.append(path)
    bar.close()
    _load.cache_clear()
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m latmodel.feature_atlas [--out FOLDER] [--models a,b]``: rebuild the shipped features."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m latmodel.feature_atlas", description=main.__doc__)
    ap.add_argument("--out", type=Path, default=None, help="folder (default: the shipped data/features)")
    ap.add_argument("--models", default=None, help="comma-separated registry networks (default: all)")
    ap.add_argument("--force", action="store_true", help="rebuild files that are already complete")
    args = ap.parse_args(argv)
    paths = build_atlas(args.out, args.models.split(",") if args.models else None, force=args.force)
    print(f"wrote {len(paths)} files to {paths[0].parent}" if paths else "nothing to write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
