"""What a network's features depend on besides its configuration: the versions of the libraries that build and
count it and the sources of netcut's splitting and counting modules.  The disk cache
(:mod:`latmodel.graph.feature_cache`) and the shipped features (:mod:`latmodel.graph.feature_atlas`) are both keyed
by it, so an edited netcut or another torch never reads stale features."""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

__all__ = ["FEATURE_SOURCES", "FEATURE_LIBRARIES", "code_fingerprint", "fingerprint_libraries"]

#: netcut's modules whose code decides a network's features (their sources are part of the key; a module
#: that moves is found by its name, and its new source makes a new key).
FEATURE_SOURCES = ("latmodel.graph.zoo", "latmodel.graph.random_nets", "latmodel.graph.random_wide", "latmodel.graph.random_units",
                   "latmodel.graph.tracing", "latmodel.graph.blocks", "latmodel.graph.features",
                   "latmodel.graph.subnormals", "latmodel.graph.op_handles", "latmodel.graph.netfeatures")
#: The libraries that build and count a network (their versions are part of the key).
FEATURE_LIBRARIES = ("torch", "torchvision", "fvcore", "efficientnet-lite-pytorch")

def fingerprint_libraries() -> dict[str, str]:
    """Installed versions of the libraries that build and count networks (``absent`` when not installed)."""
    from ..versions import installed_versions

    return installed_versions(FEATURE_LIBRARIES)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What a network's features depend on besides its configuration: the versions of the libraries that
    build and count it and the sources of netcut's splitting and counting modules."""
    from importlib.util import find_spec

    h = hashlib.sha256(json.dumps(fingerprint_libraries(), sort_keys=True).encode())
    for name in FEATURE_SOURCES:
        h.update(name.encode())
        h.update(Path(find_spec(name).origin).read_bytes())  # the source, without importing the module
    return h.hexdigest()
