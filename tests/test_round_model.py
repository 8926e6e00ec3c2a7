"""Round model: machine speed per round separated from each quantity's latency, exactly."""
from __future__ import annotations

import pytest

from latmodel.measure.round_model import fit_round_model
from latmodel.measure.stats import stats_from_samples


def test_fit_round_model_separates_machine_speed_from_latency():
    # 6 rounds; the machine runs 1.0x-1.6x slow by round, identically for every quantity;
    # one quantity also suffers a preempted sample (x3) in one round.
    slow = [1.3, 1.0, 1.6, 1.0, 1.2, 1.0]
    level = {"incontext": [1.0, 2.0], "alone": [0.8, 1.5], "prefix": [0.9, 3.2]}
    samples = {k: [[v * s for s in slow] for v in vals] for k, vals in level.items()}
    samples["network"] = [3.1 * s for s in slow]
    samples["prefix"][1][1] *= 3.0
    model = fit_round_model(samples)
    assert model.latency_ms["incontext"] == pytest.approx((1.0, 2.0))
    assert model.latency_ms["alone"] == pytest.approx((0.8, 1.5))
    assert model.latency_ms["prefix"] == pytest.approx((0.9, 3.2))
    assert model.latency_ms["network"] == pytest.approx((3.1,))
    assert model.round_slowdown == pytest.approx(tuple(slow))
    assert model.fast_rounds == 3
    assert model.spread["incontext"] == pytest.approx((0.0, 0.0), abs=1e-12)
    assert model.spread["prefix"][1] > 0.0
    # the per-quantity median would be 1.1-1.25x too slow here, and it depends on how
    # much of the run was slow; the round model does not
    assert stats_from_samples(samples["network"]).median_ms == pytest.approx(3.1 * 1.1)


def test_fit_round_model_anchor_is_not_one_lucky_round():
    slow = [1.0, 1.0, 1.0, 1.0, 0.5]  # one round in a burst of speed
    samples = {"incontext": [[2.0 * s for s in slow]], "alone": [[2.0 * s for s in slow]],
               "prefix": [[2.0 * s for s in slow]], "network": [2.0 * s for s in slow]}
    assert fit_round_model(samples).latency_ms["network"] == pytest.approx((2.0,))
    assert fit_round_model(samples, anchor_rank=1).latency_ms["network"] == pytest.approx((1.0,))
    with pytest.raises(ValueError, match="same number of rounds"):
        fit_round_model({**samples, "network": [1.0]})

