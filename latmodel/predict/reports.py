"""Records of the predictor's results: a network's prediction, cross-validation, fit and evaluation.

Frozen dataclasses with ``to_dict`` / ``from_dict`` only; their text form is
:mod:`latmodel.predict.render`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..records import Record
from .metrics import ErrorMetrics

__all__ = ["ChainPrices", "NetworkPrediction", "CrossValidation", "FitReport", "EvaluationReport"]


@dataclasses.dataclass(frozen=True)
class NetworkPrediction:
    """Predicted latency of every block and of every prefix (TRN cut) of one network.

    ``prefix_latency_ms[k]`` is the predicted latency of blocks ``0..k`` run alone as
    a network (a TRN backbone cut after block k, head excluded);
    ``prefix_upper_ms[k]`` its upper bound at the predictor's ``upper_quantile``;
    ``block_latency_ms[k]`` the block's in-context latency (stage 1).
    ``subnormal_blocks``: the blocks that compute with subnormal floats (:mod:`latmodel.graph.subnormals`):
    priced as measured, with the CPU's slow path, unless ``subnormals_flushed`` (priced as deployed with them
    flushed to zero, an estimate the tables never measured).
    """

    model: str
    resolution_px: int
    width: float
    block_names: tuple[str, ...]
    block_latency_ms: tuple[float, ...]
    prefix_latency_ms: tuple[float, ...]
    prefix_upper_ms: tuple[float, ...]
    total_latency_ms: float
    extrapolation: tuple[str, ...] = ()
    subnormal_blocks: tuple[str, ...] = ()
    subnormals_flushed: bool = False

    @property
    def extrapolated(self) -> bool:
        """Whether the network lies outside what the predictor was fitted on (``extrapolation`` says how)."""
        return bool(self.extrapolation)

    def __len__(self) -> int:
        return len(self.block_names)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "resolution_px": self.resolution_px,
            "width": self.width,
            "total_latency_ms": self.total_latency_ms,
            "extrapolated": self.extrapolated,
            "extrapolation": list(self.extrapolation),
            "subnormal_blocks": list(self.subnormal_blocks),
            "subnormals_flushed": self.subnormals_flushed,
            "blocks": [
                {"index": i, "name": n, "block_latency_ms": b, "prefix_latency_ms": p, "prefix_upper_ms": u}
                for i, (n, b, p, u) in enumerate(zip(self.block_names, self.block_latency_ms,
                                                      self.prefix_latency_ms, self.prefix_upper_ms))
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkPrediction":
        blocks = sorted(d["blocks"], key=lambda b: int(b["index"]))
        return cls(
            model=str(d["model"]),
            resolution_px=int(d["resolution_px"]),
            width=float(d["width"]),
            block_names=tuple(str(b["name"]) for b in blocks),
            block_latency_ms=tuple(float(b["block_latency_ms"]) for b in blocks),
            prefix_latency_ms=tuple(float(b["prefix_latency_ms"]) for b in blocks),
            prefix_upper_ms=tuple(float(b["prefix_upper_ms"]) for b in blocks),
            total_latency_ms=float(d["total_latency_ms"]),
            extrapolation=tuple(str(r) for r in d.get("extrapolation", ())),
            subnormal_blocks=tuple(str(b) for b in d.get("subnormal_blocks", ())),
            subnormals_flushed=bool(d.get("subnormals_flushed", False)),
        )


@dataclasses.dataclass(frozen=True)
class ChainPrices:
    """Every block and prefix of many chains priced in one pass: the bulk form of :class:`NetworkPrediction`
    (:meth:`latmodel.predict.prediction.PredictionMixin.price_chains`), numpy arrays with one row per block,
    the chains' blocks stacked in order.

    ``chain_starts[i]``: the row of chain i's first block; ``extrapolation[i]``: why chain i lies outside what
    the predictor was fitted on (empty: inside); ``prefix_upper_ms`` is already widened for those chains
    (:func:`latmodel.predict.ranges.widen_upper`), by ``widened_by[i]`` at their last prefix.
    """

    block_latency_ms: Any
    prefix_latency_ms: Any
    prefix_upper_ms: Any
    chain_starts: Any
    extrapolation: tuple[tuple[str, ...], ...]
    widened_by: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.chain_starts)

    def rows_of(self, i: int) -> slice:
        """The rows of chain ``i``."""
        end = int(self.chain_starts[i + 1]) if i + 1 < len(self.chain_starts) else len(self.prefix_latency_ms)
        return slice(int(self.chain_starts[i]), end)

    def to_dict(self) -> dict:
        return {"block_latency_ms": [float(v) for v in self.block_latency_ms],
                "prefix_latency_ms": [float(v) for v in self.prefix_latency_ms],
                "prefix_upper_ms": [float(v) for v in self.prefix_upper_ms],
                "chain_starts": [int(v) for v in self.chain_starts],
                "extrapolation": [list(w) for w in self.extrapolation], "widened_by": list(self.widened_by)}

    @classmethod
    def from_dict(cls, d: dict) -> "ChainPrices":
        import numpy as np

        return cls(block_latency_ms=np.asarray(d["block_latency_ms"], dtype=float),
                   prefix_latency_ms=np.asarray(d["prefix_latency_ms"], dtype=float),
                   prefix_upper_ms=np.asarray(d["prefix_upper_ms"], dtype=float),
                   chain_starts=np.asarray(d["chain_starts"], dtype=int),
                   extrapolation=tuple(tuple(str(r) for r in w) for w in d["extrapolation"]),
                   widened_by=tuple(float(v) for v in d["widened_by"]))


@dataclasses.dataclass(frozen=True)
class CrossValidation(Record):
    """Leave-one-family-out metrics: ``levels[estimator][level]`` with level in block/prefix/network."""

    held_out_families: tuple[str, ...]
    levels: dict[str, dict[str, ErrorMetrics]]
    prefix_within_10_by_family: dict[str, float]
    residual_note: str = ""


@dataclasses.dataclass(frozen=True)
class FitReport(Record):
    """What ``fit_tables`` did: data used, leave-one-family-out metrics, where the predictor went."""

    out: str
    tables: tuple[str, ...]
    n_rows: int
    n_configs: int
    families: tuple[str, ...]
    n_flagged: int
    flagged_weight: float
    fit_seconds: float
    base: str | None = None
    cross_validation: CrossValidation | None = None


@dataclasses.dataclass(frozen=True)
class EvaluationReport(Record):
    """A predictor scored on tables it never saw: ours and the simple estimators, three levels."""

    predictor: str
    tables: tuple[str, ...]
    n_rows: int
    n_configs: int
    n_flagged_left_out: int
    levels: dict[str, dict[str, ErrorMetrics]]
    prefix_within_10_by_family: dict[str, float]
    plot: str | None = None
