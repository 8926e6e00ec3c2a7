"""The first half of every search, and all of ``trimmer candidates``: price every candidate, refuse a deadline no
candidate can meet, split them by the deadline rule, and say when the predictor is another device's.

One function for both, so the listing a user reads before a search is the search's own list.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from latmodel.predict.protocol import LatencyPredictor, device_of

from .candidates import Candidate, check_deadline, enumerate_candidates, prune

__all__ = ["Pricing", "price_candidates"]


@dataclasses.dataclass(frozen=True)
class Pricing:
    """Every candidate of a search with its predicted latency, and which of them the deadline keeps."""

    deadline_ms: float
    margin: str
    resolutions_px: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    kept_ids: frozenset[str]
    prediction_seconds: float
    #: one line naming both devices when the predictor was fitted on another device ('' when on this one)
    other_device: str = ""

    @property
    def kept(self) -> list[Candidate]:
        return [c for c in self.candidates if c.candidate_id in self.kept_ids]

    @property
    def pruned(self) -> list[Candidate]:
        return [c for c in self.candidates if c.candidate_id not in self.kept_ids]

    def status(self, cand: Candidate) -> str:
        return "kept" if cand.candidate_id in self.kept_ids else "pruned"

    def to_dict(self) -> dict[str, Any]:
        """``trimmer candidates --json``: the deadline, the margin, the resolutions and every candidate."""
        return {"deadline_ms": self.deadline_ms, "margin": self.margin, "resolutions_px": list(self.resolutions_px),
                "candidates": [{**c.to_dict(), "status": self.status(c)} for c in self.candidates]}


def price_candidates(predictor: LatencyPredictor, models: Sequence[str], *, resolutions: Sequence[int],
                     deadline_ms: float, margin: str, n_classes: int, chains: dict | None = None,
                     check_device: bool = True) -> Pricing:
    """Price every (base, resolution, cut) of ``models`` in one batched predictor call and split them by the
    deadline (:meth:`Candidate.fits`).  ``resolutions``: already resolved
    (:func:`trimmer.candidates.resolve_resolutions`).  ``chains``: as :func:`enumerate_candidates`.

    Raises :class:`~latmodel.errors.NetcutError` when no candidate can meet the deadline.  ``check_device``:
    compare the predictor's device with this machine (needs this machine's device record: cached after the
    first call on a machine).
    """
    from latmodel.predict.shipped import device_mismatch

    t0 = time.perf_counter()
    cands = enumerate_candidates(predictor, models, resolutions=resolutions, n_classes=n_classes, chains=chains)
    seconds = time.perf_counter() - t0
    check_deadline(cands, deadline_ms, margin=margin)
    kept = frozenset(c.candidate_id for c in prune(cands, deadline_ms, margin=margin)[0])
    other = device_mismatch(device_of(predictor)) if check_device else ""
    return Pricing(deadline_ms=float(deadline_ms), margin=margin, resolutions_px=tuple(int(r) for r in resolutions),
                   candidates=tuple(cands), kept_ids=kept, prediction_seconds=seconds, other_device=other)
