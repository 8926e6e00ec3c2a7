"""Package-level names that import their module on first use (PEP 562), so that importing a package stays free:
each sub-package's ``__init__`` lists its public API with this instead of importing torch, fvcore or xgboost."""
from __future__ import annotations

import importlib
from typing import Callable, Mapping

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that resolves ``name`` from the submodule ``exports[name]``."""
    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
