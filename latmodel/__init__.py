"""latmodel: per-block latency features, device profiling and an XGBoost latency predictor.

Importing this package does nothing but define names; heavy libraries (torch,
fvcore, xgboost) are imported by the submodules that need them.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
