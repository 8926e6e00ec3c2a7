"""Proposal policies: which of the feasible candidates NetCut retrains.

A policy takes the candidates that fit the deadline (and, for ``ranked``, their
probe scores) and returns the ones to fine-tune.  One registry,
:data:`PROPOSAL_POLICIES`: adding a policy is adding an entry.

* ``feasible``: every candidate that fits (NetCut's plain pruning).
* ``deepest``: per base network and input resolution only its deepest cut that fits.
* ``ranked``: the ``top_k`` candidates with the best probe score
  (:mod:`trimmer.probe`); ties go to the faster candidate (lower predicted latency), then the one with fewer
  FLOPs.  The ``top_k`` are distinct: at most one per (base network, resolution) chain while other chains
  remain (two adjacent cuts of one chain are near-copies; fine-tuning both buys little), then the next best.

Each policy asks ``meets(candidate)`` (:meth:`trimmer.feasibility.Feasibility.meets`)
only of the candidates it would retrain, best first, so that under ``--margin
measured`` a search times the few borderline candidates that matter, not all.
"""
from __future__ import annotations

import logging
from typing import Callable, Mapping, Sequence

from latmodel.errors import NetcutError

from .candidates import Candidate

__all__ = ["PROPOSAL_POLICIES", "DEFAULT_PROPOSAL", "DEFAULT_TOP_K", "NEEDS_PROBE", "propose", "probe_order"]

logger = logging.getLogger(__name__)

#: ``candidate -> bool``: whether it meets the deadline (may time it; see :mod:`trimmer.feasibility`).
Meets = Callable[[Candidate], bool]

#: Candidates fine-tuned by ``ranked``, chosen with benchmarks/bench_exploration.py (5 deadlines a run; what
#: top-1/2/3 would pick comes from the exhaustive results of the same run).  Over three runs top-2 bought a
#: different pick once in 15 deadlines (2026-12-01, torch predictor: top-1 gave up 4.0 points at one
#: deadline), while the second fine-tuning is usually a deeper, costlier network than the winner: on
#: 2026-12-02 top-1 and top-2 picked the same at all 5 deadlines and the second cost 28-32 s against
#: 13-18 s for the winner, leaving top-2 at a median 22.5x over exhaustive.  ``--top-k 2`` buys that
#: insurance for one more fine-tuning.
DEFAULT_TOP_K = 1


def _feasible(feasible: Sequence[Candidate], scores: Mapping[str, float], top_k: int, meets: Meets
              ) -> list[Candidate]:
    return [c for c in feasible if meets(c)]


def _deepest(feasible: Sequence[Candidate], scores: Mapping[str, float], top_k: int, meets: Meets
             ) -> list[Candidate]:
    best: dict[tuple[str, int], Candidate] = {}
    for c in sorted(feasible, key=lambda c: -c.cut):
        if (c.base, c.resolution_px) not in best and meets(c):
            best[c.base, c.resolution_px] = c
    return [c for c in feasible if best.get((c.base, c.resolution_px)) is c]


def probe_order(candidates: Sequence[Candidate], scores: Mapping[str, float]) -> list[Candidate]:
    """Candidates best first by probe score; ties go to the faster one (lower predicted latency), then fewer FLOPs.

    Why faster first: with top-k 1 only the first is fine-tuned, and of two candidates the probe cannot tell
    apart the faster leaves slack to the deadline (on a 3-class dataset 42 candidates probed 100% and the
    deepest, slowest one was chosen: issue 24)."""
    return sorted(candidates, key=lambda c: (-scores[c.candidate_id], c.predicted_latency_ms, c.flops))


def _ranked(feasible: Sequence[Candidate], scores: Mapping[str, float], top_k: int, meets: Meets
            ) -> list[Candidate]:
    missing = [c.candidate_id for c in feasible if c.candidate_id not in scores]
    if missing:
        raise NetcutError(f"no probe score for {len(missing)} feasible candidate(s), e.g. {missing[0]}")
    chosen: set[str] = set()
    chains: set[tuple[str, int]] = set()
    order = probe_order(feasible, scores)
    # First one per chain, best first; then, when fewer chains than top_k meet the deadline, the next best of
    # any chain.  ``meets`` is asked once per candidate, only of those that would be retrained.
    verdict: dict[str, bool] = {}
    for distinct in (True, False):
        for c in order:
            if len(chosen) == top_k:
                break
            if c.candidate_id in chosen or (distinct and (c.base, c.resolution_px) in chains):
                continue
            if c.candidate_id not in verdict:
                verdict[c.candidate_id] = meets(c)
            if verdict[c.candidate_id]:
                chosen.add(c.candidate_id)
                chains.add((c.base, c.resolution_px))
    return [c for c in feasible if c.candidate_id in chosen]


PolicyFn = Callable[[Sequence[Candidate], Mapping[str, float], int, Meets], list]

#: name -> policy; the order is the order ``--propose`` lists them in (the first is the default).
PROPOSAL_POLICIES: dict[str, PolicyFn] = {"ranked": _ranked, "deepest": _deepest, "feasible": _feasible}
DEFAULT_PROPOSAL = next(iter(PROPOSAL_POLICIES))
#: Policies that need probe scores before they can propose.
NEEDS_PROBE = frozenset({"ranked"})


def propose(policy: str, feasible: Sequence[Candidate], *, scores: Mapping[str, float] | None = None,
            top_k: int = DEFAULT_TOP_K, meets: Meets | None = None) -> list[Candidate]:
    """The candidates ``policy`` retrains, in the order of ``feasible``; ``meets`` confirms each one it
    would retrain (default: every candidate of ``feasible`` meets the deadline)."""
    if policy not in PROPOSAL_POLICIES:
        raise NetcutError(f"--propose must be one of {', '.join(PROPOSAL_POLICIES)}, got {policy!r}")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise NetcutError(f"--top-k must be an integer >= 1, got {top_k!r}")
    if policy in NEEDS_PROBE and scores is None:
        raise NetcutError(f"the {policy!r} policy needs probe scores")
    return PROPOSAL_POLICIES[policy](feasible, scores or {}, top_k, meets or (lambda c: True))
