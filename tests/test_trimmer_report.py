"""The first half of a search as one record (pricing) and the report computed from a search's outcome record,
apart from any training or writing: exact numbers on a fake predictor."""
from __future__ import annotations

import math

import pytest

from tests.test_trimmer_search import TINY, FakePredictor
from trimmer.outcome import SearchOutcome, SearchTimings
from trimmer.pricing import price_candidates
from trimmer.probe import ProbeScore
from trimmer.report import build_report, candidate_rows
from trimmer.search import SearchConfig
from trimmer.state import CandidateResult


def _pricing(deadline_ms=2.6, margin="none"):
    # 1 ms a block at 8 px, 4 blocks, head 0.5 ms: predicted 1.5, 2.5, 3.5, 4.5; upper 1.6, 2.7, 3.8, 4.9
    return price_candidates(FakePredictor(), [TINY], resolutions=(8,), deadline_ms=deadline_ms, margin=margin,
                            n_classes=3, check_device=False)


def test_pricing_splits_by_the_one_deadline_rule():
    p = _pricing()
    assert [c.predicted_latency_ms for c in p.candidates] == [1.5, 2.5, 3.5, 4.5]
    assert [c.cut for c in p.kept] == [0, 1] and [c.cut for c in p.pruned] == [2, 3]
    assert [c.cut for c in _pricing(margin="upper").kept] == [0]  # 2.7 ms upper bound > 2.6
    assert all(c.fits(2.6, "none") == (c.candidate_id in p.kept_ids) for c in p.candidates)
    d = p.to_dict()
    assert (d["deadline_ms"], d["margin"], d["resolutions_px"]) == (2.6, "none", [8])
    assert [c["status"] for c in d["candidates"]] == ["kept", "kept", "pruned", "pruned"]
    assert p.other_device == ""


def test_pricing_refuses_a_deadline_nothing_meets():
    from latmodel.errors import NetcutError

    with pytest.raises(NetcutError, match="no candidate can meet the 1 ms deadline"):
        _pricing(deadline_ms=1.0)


def _outcome(**kw) -> SearchOutcome:
    pricing = _pricing(deadline_ms=5.0)
    c = {cand.cut: cand for cand in pricing.candidates}
    results = {c[1].candidate_id: CandidateResult(c[1].candidate_id, 0.9, 0.8, 3, 1.0),
               c[3].candidate_id: CandidateResult(c[3].candidate_id, 0.85, 0.75, 3, 1.0)}
    probes = {cand.candidate_id: ProbeScore(cand.candidate_id, 0.5 + 0.1 * cand.cut, 1.0, 30, 10, 0.1)
              for cand in pricing.candidates}
    base = dict(
        config=SearchConfig(models=(TINY,), resolutions_px=(8,), deadline_ms=5.0, margin="none"),
        pricing=pricing, results=results, probes=probes, proposed_ids=frozenset(results), measured_ms={},
        measured_now=0, chosen=(c[1], results[c[1].candidate_id]),
        best_off_the_shelf=(c[3], results[c[3].candidate_id]), exported_trn=None, verified_latency_ms=None,
        resumed=0, trained_now=2, data={"source": "fake", "n_val": 50, "n_test": 100},
        predictor_device={"threads": 1}, runtime="torch", timings=SearchTimings(training_seconds=2.0))
    base.update(kw)
    return SearchOutcome(**base)


def test_report_is_computed_from_the_outcome_alone():
    report = build_report(_outcome())
    assert report["chosen"]["candidate_id"] == f"{TINY}@8px/cut01"
    assert report["best_off_the_shelf"]["candidate_id"] == f"{TINY}@8px/cut03"
    assert report["relative_accuracy_gain"] == pytest.approx(0.8 / 0.75 - 1)
    lo, hi = report["relative_accuracy_gain_ci95"]
    assert lo < 0.8 / 0.75 - 1 < hi
    # Wilson interval of 80% on 100 test images
    assert report["chosen"]["test_accuracy_ci95"] == [0.71117, 0.86663]
    assert (report["candidates_total"], report["candidates_kept"], report["candidates_pruned"],
            report["candidates_probed"], report["candidates_trained"]) == (4, 4, 0, 4, 2)
    assert report["training_seconds"] == 2.0 and report["runtime"] == "torch"
    assert report["predictor"]["device"] == {"threads": 1}
    assert report["fastest_off_the_shelf"]["meets_deadline"] is True
    # the validation split is too small to tell 2 candidates apart within 5 points
    assert report["selection_margin"] == pytest.approx(2 * math.sqrt(math.log(2 * 2 / 0.05) / 100))


def test_report_without_a_baseline_has_no_gain_and_rows_carry_probe_ranks():
    outcome = _outcome(best_off_the_shelf=None)
    report = build_report(outcome)
    assert report["best_off_the_shelf"] is None and report["relative_accuracy_gain"] is None
    assert report["best_off_the_shelf_by_probe"]["candidate_id"] == f"{TINY}@8px/cut03"
    rows = candidate_rows(outcome)
    assert [r["probe_rank"] for r in rows] == [4, 3, 2, 1]
    assert [r["fine_tuned"] for r in rows] == [False, True, False, True]
    assert [r["status"] for r in rows] == ["kept"] * 4
