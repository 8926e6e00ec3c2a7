"""Per-block features of a network given by name: split it (``latmodel.graph.blocks``), then count
(``latmodel.graph.features``); cached per (name, resolution, width, batch) in this process and on disk
(:mod:`latmodel.graph.feature_cache`).

Its own module so that ``features`` never imports ``blocks`` (``blocks`` checks every split's
FLOP coverage with ``features``' counters).  Nothing heavy is imported until a network has to be built:
a disk-cache hit answers without torch.
"""
from __future__ import annotations

import functools
from typing import Any

__all__ = ["network_features", "compute_features", "clear_cache", "MEMORY_ENTRIES"]

#: Networks whose features this process keeps in memory (least recently used dropped first).
MEMORY_ENTRIES = 256


def compute_features(name: str, resolution: int, width: float, batch_size: int, model=None) -> list[dict[str, Any]]:
    """Build (or take ``model``), split and count: no cache involved."""
    from .blocks import load_chain
    from .features import chain_features

    return chain_features(load_chain(name, resolution, width=width, batch_size=batch_size, model=model))


def network_features(name: str, resolution: int = 224, *, width: float = 1.0, batch_size: int = 1,
                     model=None) -> list[dict[str, Any]]:
    """Per-block features of network ``name``; cached per (name, resolution, width, batch).

    Pass ``model`` for an instance whose structure differs from what ``name`` builds
    (it is then not cached).
    """
    if model is not None:
        return compute_features(name, resolution, width, batch_size, model)
    return [dict(r) for r in _named_rows(name, int(resolution), float(width), int(batch_size))]


@functools.lru_cache(maxsize=MEMORY_ENTRIES)
def _named_rows(name: str, resolution: int, width: float, batch_size: int) -> tuple:
    from .feature_cache import cached_rows

    return tuple(cached_rows(name, resolution, width, batch_size,
                             lambda: compute_features(name, resolution, width, batch_size)))


def clear_cache() -> None:
    """Forget the features cached in this process (the disk cache stays: see :mod:`latmodel.graph.feature_cache`)."""
    _named_rows.cache_clear()
