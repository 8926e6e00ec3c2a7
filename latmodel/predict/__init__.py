"""The latency predictor: the estimator (``model``; its parts ``chains``, ``roofline``, ``prefix_features``,
``boosting``, ``ranges``), the interface callers rely on (``protocol``), predictor folders (``predictor_io``,
``artifact``), cross validation and evaluation (``evaluation``, ``metrics``, ``baselines``, records and their
text: ``reports``, ``render``), the shipped predictors and which one prices this machine (``shipped``), and a new
device from a few measurements (``budget``, ``transfer``, ``calibrate``).  Imports ``graph`` and ``measure``.
Names below import their module on first use."""
from __future__ import annotations

from ..lazy import lazy_getattr

_EXPORTS = {
    "LatencyModel": "model",
    "LatencyPredictor": "protocol", "device_of": "protocol", "runtime_of": "protocol",
    "load_predictor": "predictor_io", "save_predictor": "predictor_io",
    "fit_tables": "evaluation", "evaluate_tables": "evaluation",
    "NetworkPrediction": "reports",
    "choose_predictor": "shipped", "device_mismatch": "shipped",
    "plan_budget": "budget", "fit_correction": "transfer",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
