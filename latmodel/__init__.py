"""latmodel: per-block latency features, device profiling and an XGBoost latency predictor.

Importing this package does nothing but define names; heavy libraries (torch,
fvcore, xgboost) are imported by the submodules that need them, and ``__version__``
is read from the installed distribution's metadata on first use.
"""
from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str):
    """``__version__``: one source, pyproject.toml, through the distribution's metadata (PEP 562: read on use)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("netcut")
    except PackageNotFoundError:  # a checkout run without installing
        value = "0+unknown"
    globals()["__version__"] = value
    return value
