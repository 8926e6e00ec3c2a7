"""trimmer: NetCut search over TRimmed Networks (TRNs) under a latency deadline.

Importing this package does nothing but define names.
"""
from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str):
    """``__version__``: latmodel's (one source: the netcut distribution's metadata), read on first use."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import latmodel

    return latmodel.__version__
