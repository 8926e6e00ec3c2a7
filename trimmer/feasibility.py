"""Whether a candidate meets the deadline: the one rule the proposal, the bookkeeping and the choice share.

Under ``--margin upper`` (the default) a candidate meets the deadline when the
predictor's upper bound does; under ``none`` when its point prediction does.
Under ``measured`` the point prediction prunes, the upper bound accepts, and a
*borderline* candidate (point prediction within the deadline, upper bound over
it) is timed on this machine in the predictor's runtime (the TRN as deployed:
prefix + head) before anything is spent on it.  Only the candidates a policy would
retrain are timed, each once, so a search measures a handful, not hundreds: the
predictor prices every candidate in microseconds, a measurement confirms the few
that matter (a measurement is the ground truth the predictor's bound only
brackets).  Measurements are kept in ``OUT/measured.json`` and resume with it.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from latmodel.errors import NetcutError

from .candidates import PRUNE_MARGINS, Candidate

__all__ = ["Feasibility", "MeasureFn"]

logger = logging.getLogger(__name__)

#: ``candidate -> measured latency (ms)`` of its TRN on this machine.
MeasureFn = Callable[[Candidate], float]


class Feasibility:
    """The deadline rule of one search; with ``margin="measured"`` it times borderline candidates lazily."""

    def __init__(self, deadline_ms: float, margin: str, *, measure: MeasureFn | None = None,
                 measured_ms: dict[str, float] | None = None, on_measured: Callable[[str, float], None] | None = None):
        if margin not in PRUNE_MARGINS:
            raise NetcutError(f"--margin must be one of {', '.join(PRUNE_MARGINS)}, got {margin!r}")
        self.deadline_ms = float(deadline_ms)
        self.margin = margin
        self._measure = measure
        self._on_measured = on_measured
        #: candidate id -> latency measured here (ms), this run's and resumed ones
        self.measured_ms: dict[str, float] = dict(measured_ms or {})
        self.measure_seconds = 0.0
        self.measured_now = 0

    def possible(self, cand: Candidate) -> bool:
        """Kept by pruning: its latency under the margin (the point prediction for ``measured``) fits."""
        return cand.fits(self.deadline_ms, self.margin)

    def borderline(self, cand: Candidate) -> bool:
        """``measured`` only: the prediction fits, the upper bound does not, so it takes a measurement."""
        return self.margin == "measured" and self.possible(cand) and cand.predicted_upper_ms > self.deadline_ms

    def meets(self, cand: Candidate) -> bool:
        """True when ``cand`` meets the deadline under this rule (times a borderline candidate once)."""
        if not self.possible(cand):
            return False
        if not self.borderline(cand):
            return True
        cid = cand.candidate_id
        if cid not in self.measured_ms:
            if self._measure is None:
                raise NetcutError(f"{cid} is borderline under --margin measured, and nothing times candidates here")
            t0 = time.perf_counter()
            ms = float(self._measure(cand))
            self.measure_seconds += time.perf_counter() - t0
            self.measured_now += 1
            self.measured_ms[cid] = ms
            if self._on_measured is not None:
                self._on_measured(cid, ms)
            logger.info("%s measured %.3f ms here (predicted %.3f, upper bound %.3f; deadline %g ms)", cid, ms,
                        cand.predicted_latency_ms, cand.predicted_upper_ms, self.deadline_ms)
        return self.measured_ms[cid] <= self.deadline_ms
