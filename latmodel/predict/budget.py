"""Which configurations to measure on a new device: ``latmodel profile --budget N``.

The measurements that teach an adaptation most are typical ones: :func:`choose_configs` takes, per
architecture family, the configuration nearest the family's median size and sampled networks spread
over sizes (:func:`typical_pool`), and where it must choose among or add to those, greedy D-optimal
design on the ``"correct"`` adaptation's per-block terms (:mod:`latmodel.predict.transfer`; each step adds
the configuration that most increases ``log det`` of the terms' information matrix, intercept included);
deterministic, first-listed configuration on ties.  D-optimal design over the whole corpus (before
2026-12-07) chose the extremes, the largest and smallest networks, whose residuals the continued trees of
``boost`` (calibration's default) carried badly to the rest.  A "measurement" is one configuration (a
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
    method: str = "a typical configuration per family and sampled networks across sizes"

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


def _greedy_d_optimal(designs: dict, candidates: list, n: int, chosen: list) -> list:
    """``chosen`` extended to ``n`` configurations from ``candidates`` by greedy D-optimal design (first listed on ties)."""
    import numpy as np

    chosen = list(chosen)
    dim = next(iter(designs.values())).shape[1]
    info = _DESIGN_RIDGE * np.eye(dim)
    for cid in chosen:
        info = info + designs[cid].T @ designs[cid] / len(designs[cid])
    while len(chosen) < n:
        best, best_gain = None, -np.inf
        for cid in candidates:
            if cid in chosen:
                continue
            # per block, not summed per configuration: a longer network is not worth more blocks' weight twice
            gain = np.linalg.slogdet(info + designs[cid].T @ designs[cid] / len(designs[cid]))[1]
            if gain > best_gain + 1e-12:
                best, best_gain = cid, gain
        if best is None:
            break
        chosen.append(best)
        info = info + designs[best].T @ designs[best] / len(designs[best])
    return chosen


def typical_pool(frame, n: int) -> list:
    """The candidates :func:`choose_configs` draws from: per architecture family (``family`` column, sorted) the
    configuration whose total FLOPs are nearest the family's median (log scale; first listed on ties), then
    ``max(n - families, ceil(n / 4))`` sampled networks (family ``random``) at evenly spaced ranks of total FLOPs."""
    import numpy as np

    per = frame.groupby("config_id", sort=False).agg(family=("family", "first"), flops=("flops", "sum"))
    log_size = np.log(np.maximum(per["flops"].to_numpy(float), 1.0))
    fam = per["family"].astype(str).to_numpy()
    ids = list(per.index)
    pool = []
    for f in sorted(set(fam) - {"random"}):
        idx = np.flatnonzero(fam == f)
        pool.append(ids[int(idx[np.argmin(np.abs(log_size[idx] - np.median(log_size[idx])))])])
    sampled = [ids[i] for i in np.flatnonzero(fam == "random")[np.argsort(log_size[fam == "random"], kind="stable")]]
    k = min(len(sampled), max(int(n) - len(pool), -(-int(n) // 4)))
    if k:
        pool += [sampled[int(i)] for i in np.linspace(0, len(sampled) - 1, k + 2)[1:-1].round()]
    return list(dict.fromkeys(pool))


def choose_configs(frame, n: int) -> list:
    """The ``n`` config_ids of ``frame`` (a table with feature columns and ``family``) to measure on a new device.

    Typical configurations, not extreme ones: :func:`typical_pool` (one central configuration per family,
    sampled networks across sizes); greedy D-optimal design on the correction terms picks ``n`` of them
    when the pool is larger, and adds configurations from the rest when it is smaller.  Measured
    (20 configurations, boost, three torch targets across CPUs, data/calibration/README.md): 72.9 / 78.6 /
    78.8% of the other configurations' prefixes within +-10%, where D-optimal design over every
    configuration chose the largest and smallest networks and reached 64.9 / 73.9 / 72.6% (random draws:
    median 75.3 / 79.1 / 76.6%).
    """
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
    pool = typical_pool(frame, int(n)) if "family" in frame.columns else []
    if len(pool) >= int(n):
        return _greedy_d_optimal(designs, pool, int(n), [])
    return _greedy_d_optimal(designs, ids, int(n), pool)


def plan_budget(n: int, corpus="default", *, features_table=None) -> BudgetPlan:
    """Choose ``n`` configurations of ``corpus`` (a name or list of ProfileConfig) to measure on a new device."""
    import pandas as pd

    from ..measure.corpus import get_corpus
    from ..graph.netfeatures import network_features
    from ..graph.zoo import family_of
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
            rows["family"] = family_of(cfg.model)
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
