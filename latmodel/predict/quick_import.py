"""Import XGBoost without scikit-learn, for the short-lived CLI processes that only predict.

``import xgboost`` imports scikit-learn when it is installed (``xgboost.compat`` defines its
sklearn-compatible wrappers), and scikit-learn imports scipy.stats and pandas: on the 2-core guests of
this project that was 2.1 s of xgboost's 2.7 s import, most of a cached ``latmodel predict`` (3.3 s wall,
``python -X importtime``).  Prediction only uses :class:`xgboost.Booster`, which needs none of it.

:func:`import_xgboost_without_sklearn` hides scikit-learn while XGBoost imports, then unhides it:
scikit-learn still imports normally afterwards, but XGBoost's own ``XGBModel`` wrappers in that
process are then not scikit-learn estimators.  So only the CLI calls it, for commands that own their
process and price with boosters (``latmodel predict``, ``trimmer candidates``); the library never
does.  A process that already imported either package is left as it is.
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["import_xgboost_without_sklearn"]


def import_xgboost_without_sklearn() -> None:
    """Import ``xgboost`` with scikit-learn hidden (no-op when xgboost or sklearn is already imported)."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes 'import sklearn' raise ImportError
    try:
        importlib.import_module("xgboost")
    finally:
        del sys.modules["sklearn"]
