"""The round model: interleaved rounds explained as machine speed x quantity latency."""
from __future__ import annotations

import dataclasses

from .stats import P90_P10_SIGMAS

__all__ = ["ANCHOR_RANK", "FLOOR_TOLERANCE", "RoundModel", "fit_round_model"]

#: A round within this fraction of the anchor round's speed counts as a fast round (:class:`RoundModel`).
FLOOR_TOLERANCE = 0.05
#: Which fastest round anchors the fast machine state (:func:`fit_round_model`).
ANCHOR_RANK = 3


@dataclasses.dataclass(frozen=True)
class RoundModel:
    """Interleaved rounds explained as machine speed x quantity latency.

    Fitted by :func:`fit_round_model`.  ``latency_ms`` maps ``"incontext"``,
    ``"alone"``, ``"prefix"`` (tuples, one per block) and ``"network"`` (a 1-tuple) to
    each quantity's latency at the fastest machine speed seen; ``spread`` holds, by
    the same keys, the robust spread of what the model leaves unexplained (about a
    cv); ``round_slowdown`` is each round's speed relative to the anchor round (1.0;
    the few faster rounds are below 1); ``fast_rounds`` counts rounds within
    :data:`FLOOR_TOLERANCE` of the anchor.
    """

    latency_ms: dict
    spread: dict
    round_slowdown: tuple
    fast_rounds: int


def fit_round_model(samples: dict, anchor_rank: int = ANCHOR_RANK) -> RoundModel:
    """Fit ``log t[r, q] = speed[r] + level[q] + e`` to interleaved samples by median polish.

    ``samples`` is :attr:`latmodel.measure.timing.InterleavedTimings.samples` (lists of per-round samples
    keyed ``incontext``/``alone``/``prefix`` (one list per block) and ``network``).

    Why: on a shared host other tenants slow the whole machine down in phases of
    seconds, and how much of a run falls into them varies from run to run (on the
    development VM the median of one network varied by up to 40% between runs).  One
    round times every quantity within a fraction of a second, so a round's samples
    share one machine speed.  Median polish (Tukey; two sweeps of row and column
    medians, robust to the odd preempted sample) separates that speed from each
    quantity's own level.  Each quantity's latency is then reported at the fastest
    round speed seen: interference only adds time, so the fastest speed is the
    device's own; and because the speed is estimated from every quantity of a round
    at once, one quantity need not itself have been timed in its luckiest moment (a
    plain per-quantity minimum needs that, and is noisier).  scipy/statsmodels have
    no median polish, and this is ten lines of numpy.
    """
    import numpy as np

    keys = [("incontext", i) for i in range(len(samples["incontext"]))]
    keys += [("alone", i) for i in range(len(samples["alone"]))]
    keys += [("prefix", i) for i in range(len(samples["prefix"]))]
    columns = [samples[k][i] for k, i in keys] + [samples["network"]]
    keys.append(("network", 0))
    rounds = len(samples["network"])
    if rounds == 0 or any(len(c) != rounds for c in columns):
        raise ValueError("fit_round_model needs the same number of rounds for every quantity")
    logs = np.log(np.maximum(np.asarray(columns, dtype=float).T, 1e-9))  # rounds x quantities
    speed = np.zeros(rounds)
    level = np.median(logs, axis=0)
    for _ in range(2):
        speed = np.median(logs - level[None, :], axis=1)
        level = np.median(logs - speed[:, None], axis=0)
    # The anchor is the anchor_rank-th fastest round, not the fastest: with short rounds a
    # single round can fall into a brief burst of speed that the next run never sees.
    fastest = float(np.sort(speed)[min(anchor_rank, rounds) - 1])
    residual = logs - speed[:, None] - level[None, :]
    p10, p90 = np.percentile(residual, [10, 90], axis=0)
    spread = (p90 - p10) / P90_P10_SIGMAS
    latency = np.exp(level + fastest)
    out_latency: dict = {k: [] for k in ("incontext", "alone", "prefix", "network")}
    out_spread: dict = {k: [] for k in out_latency}
    for (kind, _), lat, spr in zip(keys, latency, spread):
        out_latency[kind].append(float(lat))
        out_spread[kind].append(float(spr))
    slowdown = np.exp(speed - fastest)
    return RoundModel(latency_ms={k: tuple(v) for k, v in out_latency.items()},
                      spread={k: tuple(v) for k, v in out_spread.items()},
                      round_slowdown=tuple(float(v) for v in slowdown),
                      fast_rounds=int((slowdown <= 1.0 + FLOOR_TOLERANCE).sum()))
