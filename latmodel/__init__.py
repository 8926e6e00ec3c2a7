"""latmodel: per-block latency features, device profiling and an XGBoost latency predictor.

Importing this package does nothing but define names; heavy libraries (torch,
fvcore, xgboost) are imported by the submodules that need them.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:  # one source for the version: pyproject.toml, through the installed distribution's metadata
    __version__ = version("netcut")
except PackageNotFoundError:  # a checkout run without installing
    __version__ = "0+unknown"
__all__ = ["__version__"]
