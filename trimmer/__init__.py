"""trimmer: NetCut search over TRimmed Networks (TRNs) under a latency deadline.

Importing this package does nothing but define names.
"""
from __future__ import annotations

from latmodel import __version__  # one source: the netcut distribution's metadata

__all__ = ["__version__"]
