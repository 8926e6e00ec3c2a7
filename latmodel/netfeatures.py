"""Per-block features of a network given by name: split it (``latmodel.blocks``), then count
(``latmodel.features``); cached per (name, resolution, width, batch).

Its own module so that ``features`` never imports ``blocks`` (``blocks`` checks every split's
FLOP coverage with ``features``' counters).
"""
from __future__ import annotations

from typing import Any

from .blocks import load_chain
from .features import chain_features

__all__ = ["network_features", "clear_cache"]

_CACHE: dict[tuple, list[dict[str, Any]]] = {}


def network_features(name: str, resolution: int = 224, *, width: float = 1.0, batch_size: int = 1,
                     model=None) -> list[dict[str, Any]]:
    """Per-block features of network ``name``; cached per (name, resolution, width, batch).

    Pass ``model`` for an instance whose structure differs from what ``name`` builds
    (it is then not cached).
    """
    key = (name, int(resolution), float(width), int(batch_size))
    if model is None and key in _CACHE:
        return [dict(r) for r in _CACHE[key]]
    chain = load_chain(name, resolution, width=width, batch_size=batch_size, model=model)
    rows = chain_features(chain)
    if model is None:
        _CACHE[key] = [dict(r) for r in rows]
    return rows


def clear_cache() -> None:
    """Forget cached network features."""
    _CACHE.clear()
