"""A network as the latency model sees it: a network by name (``zoo``), its ordered chain of blocks, the cut
points (``blocks``), and per-block features (``features``; by name and cached: ``netfeatures``; shipped for the
registry's networks: ``feature_atlas``; on disk: ``feature_cache``).  Imports nothing from ``measure`` or
``predict``: the flow is graph -> measure -> predict.  Names below import their module on first use."""
from __future__ import annotations

from ..lazy import lazy_getattr

_EXPORTS = {
    "MODELS": "zoo", "build_model": "zoo", "resolve_spec": "zoo",
    "BlockChain": "blocks", "split_model": "blocks", "load_chain": "blocks",
    "OP_HANDLES": "op_handles", "FEATURE_COLUMNS": "features", "chain_features": "features",
    "network_features": "netfeatures",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
