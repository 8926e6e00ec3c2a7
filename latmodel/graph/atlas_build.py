"""Builds the shipped per-block features (:mod:`latmodel.graph.feature_atlas` reads them): ``make atlas`` runs
``python -m latmodel.graph.atlas_build``.  Its own module because building traces networks
(:mod:`latmodel.graph.netfeatures`), whose cached lookups read the atlas: reader and builder apart, no import cycle."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from .feature_atlas import (ATLAS_SCHEMA_VERSION, atlas_path, atlas_resolutions, clear_atlas_cache, entry_key,
                            read_atlas)
from .fingerprint import code_fingerprint, fingerprint_libraries

__all__ = ["build_atlas", "main"]


def _complete(path: Path, name: str) -> bool:
    """Whether ``path`` already holds ``name``'s features for every shipped resolution, by this installation."""
    doc = read_atlas(path)
    if doc is None:
        return False
    done = set(doc.get("entries", {})) | set(doc.get("unbuildable", {}))
    return done >= {entry_key(r, 1.0, 1) for r in atlas_resolutions(name)}


def build_atlas(folder: Path | None = None, names: list[str] | None = None, *, progress: bool = True,
                force: bool = False) -> list[Path]:
    """Compute and write the shipped feature files (every registry network unless ``names``); returns them.

    One file per network, written as soon as its resolutions are done; a network whose file is already
    complete for this installation is skipped unless ``force`` (an interrupted build resumes).  A resolution
    the network cannot be built at (MaxViT's partitions, ViT's patches) is listed under ``unbuildable`` with
    the reason: asking for it traces and fails with that reason, as without the atlas.
    """
    from tqdm import tqdm

    from ..errors import NetcutError
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
            key = entry_key(res, 1.0, 1)
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
    clear_atlas_cache()
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m latmodel.graph.atlas_build [--out FOLDER] [--models a,b]``: rebuild the shipped features."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m latmodel.graph.atlas_build", description=main.__doc__)
    ap.add_argument("--out", type=Path, default=None, help="folder (default: the shipped data/features)")
    ap.add_argument("--models", default=None, help="comma-separated registry networks (default: all)")
    ap.add_argument("--force", action="store_true", help="rebuild files that are already complete")
    args = ap.parse_args(argv)
    paths = build_atlas(args.out, args.models.split(",") if args.models else None, force=args.force)
    print(f"wrote {len(paths)} files to {paths[0].parent}" if paths else "nothing to write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
