"""Which configurations to measure on a new device: ``latmodel profile --budget N``.

The ``"correct"`` adaptation (:mod:`latmodel.predict.transfer`) is a linear model on a few
per-block terms, so the measurements that pin it down best are those whose blocks
spread the terms most: :func:`choose_configs` picks N configurations greedily by
D-optimal design (each step adds the configuration that most increases
``log det`` of the terms' information matrix, intercept included), deterministic,
first-listed configuration on ties.  A "measurement" is one configuration (a
network at a resolution and width: one child-process profile giving all its
prefixes), as ``benchmarks/bench_adaptation.py`` counts them.

The per-block features come from a measurement table that already has them (by
default the shipped 1-thread table, which holds every configuration of the default
corpus); configurations it lacks get theirs computed (a few seconds each).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from ..errors import NetcutError
from ..resources import data_path

__all__ = ["SECONDS_PER_CONFIG", "DEFAULT_FEATURES_TABLE", "BudgetPlan", "choose_configs", "plan_budget",
           "budget_plan_text"]

logger = logging.getLogger(__name__)

#: Documented wall time to profile one configuration with automatic rounds (child start,
#: warm-up, ~6 s timed): 1,705 s for 154 at 1 thread, 193 s for 13 at 2 threads
#: (data/calibration/README.md).
SECONDS_PER_CONFIG = 13.0
#: Table whose feature columns (and network times, which bound what calibration measures) cover the whole default
#: corpus, transformer-style configurations included.  The legacy cpu-1thread.csv lacked those, so calibration
#: never chose one and adapted a base that had never seen them either (AMD EPYC AVX-512, 2026-12-05: convnext /
#: swin / vit held-out prefixes 0-6% within +-10%; data/calibration/README.md).
DEFAULT_FEATURES_TABLE = data_path("calibration", "epyc-avx512-torch-1thread.csv")
#: Ridge of the information matrix: keeps log det finite while fewer configurations than terms are chosen.
_DESIGN_RIDGE = 1e-3


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """The configurations chosen for a budget and how long measuring them takes."""

    configs: tuple  # of latmodel.measure.corpus.ProfileConfig
    corpus_size: int
    estimated_seconds: float
    method: str = "greedy D-optimal design on the correction terms"

    def to_dict(self) -> dict:
        return {"configs": [c.to_dict() for c in self.configs], "corpus_size": self.corpus_size,
                "estimated_seconds": self.estimated_seconds, "method": self.method}

    @classmethod
    def from_dict(cls, d: dict) -> "BudgetPlan":
        from ..measure.corpus import ProfileConfig

        return cls(configs=tuple(ProfileConfig.from_dict(c) for c in d["configs"]), corpus_size=int(d["corpus_size"]),
                   estimated_seconds=float(d["estimated_seconds"]), method=str(d["method"]))


def _design_by_config(frame) -> dict:
    """config_id -> design matrix (intercept + correction terms) of its blocks, in table order."""
    import numpy as np

    from .baselines import sort_blocks
    from .chains import Chains
    from .transfer import transfer_design

    df = sort_blocks(frame)
    out = {}
    for cid, part in df.groupby("config_id", sort=False):
        X = transfer_design(Chains.from_frame(part))
        out[cid] = np.c_[np.ones(len(X)), X]
    return out


def choose_configs(frame, n: int) -> list:
    """The ``n`` config_ids of ``frame`` (a table with feature columns) chosen by greedy D-optimal design."""
    import numpy as np

    designs = _design_by_config(frame)
    ids = list(designs)
    if not 1 <= int(n) <= len(ids):
        raise NetcutError(f"--budget must be between 1 and the {len(ids)} configurations available, got {n}")
    # the terms' scales differ (log work per op vs shares): standardize over all candidates
    allx = np.concatenate(list(designs.values()))
    scale = allx.std(axis=0)
    scale[0] = 1.0
    scale[scale == 0] = 1.0
    designs = {k: v / scale for k, v in designs.items()}
    info = _DESIGN_RIDGE * np.eye(allx.shape[1])
    chosen: list = []
    for _ in range(int(n)):
        best, best_gain = None, -np.inf
        for cid in ids:
            if cid in chosen:
                continue
            # per block, not summed per configuration: a longer network is not worth more blocks' weight twice
            gain = np.linalg.slogdet(info + designs[cid].T @ designs[cid] / len(designs[cid]))[1]
            if gain > best_gain + 1e-12:
                best, best_gain = cid, gain
        chosen.append(best)
        info = info + designs[best].T @ designs[best] / len(designs[best])
    return chosen


def plan_budget(n: int, corpus="default", *, features_table=None) -> BudgetPlan:
    """Choose ``n`` configurations of ``corpus`` (a name or list of ProfileConfig) to measure on a new device."""
    import pandas as pd

    from ..measure.corpus import get_corpus
    from ..graph.netfeatures import network_features
    from ..measure.table import read_table

    configs = list(get_corpus(corpus)) if corpus is None or isinstance(corpus, str) else list(corpus)
    path = Path(features_table) if features_table is not None else DEFAULT_FEATURES_TABLE
    known = read_table(path) if path.is_file() else None
    frames = []
    for i, cfg in enumerate(configs):
        key = f"budget{i}"
        rows = None
        if known is not None:
            m = known[(known["model"] == cfg.model) & (known["resolution_px"] == cfg.resolution_px)
                      & ((known["width"] - cfg.width).abs() < 1e-9)]
            if not m.empty:
                first = m["config_id"].iloc[0]
                rows = m[m["config_id"] == first].copy()
        if rows is None:
            logger.info("computing features of %s at %d px (not in %s)", cfg.model, cfg.resolution_px, path)
            rows = pd.DataFrame(network_features(cfg.model, cfg.resolution_px, width=cfg.width))
            rows["block_index"] = range(len(rows))
        rows["config_id"] = key
        frames.append(rows)
    chosen = choose_configs(pd.concat(frames, ignore_index=True), n)
    picked = tuple(configs[int(c[len("budget"):])] for c in chosen)
    return BudgetPlan(configs=picked, corpus_size=len(configs), estimated_seconds=SECONDS_PER_CONFIG * len(picked))


def budget_plan_text(plan: BudgetPlan) -> str:
    """What ``latmodel profile --budget N`` prints before measuring."""
    names = ", ".join(f"{c.model}@{c.resolution_px}px" + (f"@w{c.width:g}" if c.width != 1.0 else "")
                      for c in plan.configs)
    return (f"budget: {len(plan.configs)} of {plan.corpus_size} configurations ({plan.method}): {names}\n"
            f"measuring them takes about {plan.estimated_seconds / 60:.1f} min "
            f"({SECONDS_PER_CONFIG:g} s per configuration with automatic rounds)")
