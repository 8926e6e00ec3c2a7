"""What a search found, as one record: the single input of the report, the table, the plot and the summary.

:func:`trimmer.search.run_search` fills it; :mod:`trimmer.report` computes the report's figures from it
(gains, intervals, ties) and writes the files; nothing here computes, writes or renders.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from latmodel.records import Record

from .candidates import Candidate
from .pricing import Pricing
from .probe import ProbeScore
from .state import CandidateResult

__all__ = ["SearchTimings", "SearchOutcome"]

#: A fine-tuned candidate with its result.
Trained = tuple[Candidate, CandidateResult]


@dataclasses.dataclass(frozen=True)
class SearchTimings(Record):
    """Where a search's wall time went (seconds)."""

    prediction_seconds: float = 0.0
    probe_seconds: float = 0.0
    measure_seconds: float = 0.0
    training_seconds: float = 0.0
    exploration_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class SearchOutcome:
    """One search's candidates, what was probed, measured and fine-tuned, and what was chosen."""

    #: the search's settings (:class:`trimmer.search.SearchConfig`, its resolutions resolved)
    config: Any
    pricing: Pricing
    #: candidate id -> fine-tuned result (this run's and resumed ones)
    results: Mapping[str, CandidateResult]
    #: candidate id -> probe score (ranked policy)
    probes: Mapping[str, ProbeScore]
    #: ids of the candidates the policy proposed for fine-tuning
    proposed_ids: frozenset[str]
    #: candidate id -> latency measured on this machine (``--margin measured``), this run's and resumed ones
    measured_ms: Mapping[str, float]
    measured_now: int
    chosen: Trained | None
    #: the best off-the-shelf network (any resolution) meeting the deadline among the fine-tuned ones
    best_off_the_shelf: Trained | None
    exported_trn: str | None
    verified_latency_ms: float | None
    resumed: int
    trained_now: int
    #: the dataset's metadata (:meth:`trimmer.splits.DataSplits.to_dict`: sizes, classes, source)
    data: Mapping[str, Any]
    #: the device record the predictor was fitted on, and its runtime
    predictor_device: Mapping[str, Any]
    runtime: str
    timings: SearchTimings

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self.pricing.candidates

    @property
    def kept(self) -> list[Candidate]:
        return self.pricing.kept

    @property
    def n_val(self) -> int:
        return int(self.data["n_val"])

    @property
    def n_test(self) -> int:
        return int(self.data["n_test"])
