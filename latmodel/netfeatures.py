"""Per-block features of a network given by name: split it (``latmodel.blocks``), then count
(``latmodel.features``); cached per (name, resolution, width, batch) in this process and on disk
(:mod:`latmodel.feature_cache`).

Its own module so that ``features`` never imports ``blocks`` (``blocks`` checks every split's
FLOP coverage with ``features``' counters).  Nothing heavy is imported until a network has to be built:
a disk-cache hit answers without torch.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["network_features", "clear_cache", "MEMORY_ENTRIES"]

#: Networks whose features this process keeps in memory (least recently used dropped first).
MEMORY_ENTRIES = 256
# Why not functools.lru_cache: callers get copies of the rows, and an instance passed as ``model`` bypasses it.
_CACHE: "OrderedDict[tuple, list[dict[str, Any]]]" = OrderedDict()


def _compute(name: str, resolution: int, width: float, batch_size: int, model=None) -> list[dict[str, Any]]:
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
        return _compute(name, resolution, width, batch_size, model)
    from .feature_cache import cached_rows

    key = (name, int(resolution), float(width), int(batch_size))
    if key not in _CACHE:
        _CACHE[key] = [dict(r) for r in cached_rows(name, *key[1:], lambda: _compute(name, *key[1:]))]
        while len(_CACHE) > MEMORY_ENTRIES:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return [dict(r) for r in _CACHE[key]]


def clear_cache() -> None:
    """Forget the features cached in this process (the disk cache stays: see :mod:`latmodel.feature_cache`)."""
    _CACHE.clear()
