"""scripts/pass_drift.py: a window that moved as a whole is told apart from single configurations' noise."""
import pandas as pd
import pytest

from latmodel.errors import TableError
from scripts import pass_drift as script  # the repository root is on sys.path (conftest.py)


def _pass(network_ms: dict, yardstick_ms: dict) -> pd.DataFrame:
    """One block a configuration (its prefix is the whole network); ``yardstick_ms``: config -> its window's."""
    return pd.DataFrame({"config_id": list(network_ms), "block_index": 0, "prefix_ms": list(network_ms.values()),
                         "network_ms": list(network_ms.values()), "yardstick_ms": [yardstick_ms[c] for c in network_ms]})


def test_a_window_that_moved_together_is_taken_out_and_a_single_outlier_is_not():
    ms = {"0": 1.0, "1": 2.0, "2": 4.0, "3": 0.5}
    a = _pass({w + k: v for w in "cd" for k, v in ms.items()}, {w + k: y for w, y in (("c", 10.0), ("d", 11.0))
                                                                 for k in ms})
    # window "c" ran 8% slower in pass B as a whole; in window "d" only d3 moved (12%)
    b = _pass({**{"c" + k: v * 1.08 for k, v in ms.items()}, **{"d" + k: v * (1.12 if k == "3" else 1.0)
                                                                for k, v in ms.items()}},
              {w + k: y for w, y in (("c", 10.8), ("d", 11.0)) for k in ms})
    res = script.drift(a, b)
    assert res["prefixes"] == 8 and res["configs"] == 8
    assert res["as_measured"]["within_5_pct"] == 37.5 and res["as_measured"]["within_10_pct"] == 87.5
    assert [w["configs"] for w in res["windows"]] == [4, 4]
    assert res["windows"][0]["network_ratio_median"] == round(1 / 1.08, 4)
    assert res["windows"][0]["yardstick_ratio"] == round(10.0 / 10.8, 4)
    assert res["yardstick_out"] == {"within_5_pct": 87.5, "within_10_pct": 87.5}  # this yardstick tracked window "c"
    assert res["window_drift_out"] == {"within_5_pct": 87.5, "within_10_pct": 87.5}  # d3 stays an outlier


def test_passes_of_different_window_plans_are_refused():
    a = _pass({"c0": 1.0, "c1": 2.0}, {"c0": 10.0, "c1": 10.0})
    b = _pass({"c0": 1.0, "c1": 2.0}, {"c0": 10.0, "c1": 12.0})
    with pytest.raises(TableError, match="different windows"):
        script.drift(a, b)


def test_a_phase_shared_by_the_networks_and_the_yardstick_correlates_fully():
    phase = [1.0, 1.1, 1.2, 1.1]  # four rounds; one placement, two timed passes a visit (the second one slower)
    window = {f"c{k}": {"network": [v for p in phase for v in (base * p, base * p * 1.3)]}
              for k, base in enumerate((1.0, 2.0, 3.0, 5.0))}
    window["yardstick"] = [v for p in phase for v in (10.0 * p, 10.0 * p * 1.5)]
    (got,) = script.round_phases({"window0": window}, timed=2, placements=1)
    assert got == {"window": "window0", "configs": 4, "rounds": 4, "halves_corr": 1.0, "rounds_spread_pct": 20.0,
                   "yardstick_corr": 1.0, "yardstick_spread_pct": 20.0}
    window["yardstick"] = [v for p in phase for v in (10.0 / p, 10.0 / p)]  # fast when the networks are slow
    (got,) = script.round_phases({"window0": window}, timed=2, placements=1)
    assert got["yardstick_corr"] == -1.0
