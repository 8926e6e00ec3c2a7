"""trimmer: NetCut search over TRimmed Networks (TRNs) under a latency deadline.

Importing this package does nothing but define names.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
