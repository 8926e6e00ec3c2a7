"""Several passes of one configuration merged into one row per block (latmodel.measure.passes): exact numbers."""
from __future__ import annotations

import pandas as pd
import pytest

from latmodel.errors import TableError
from latmodel.measure.bursts import YARDSTICK_NAME
from latmodel.measure.passes import PassMerge, merge_passes
from latmodel.measure.yardstick_scale import scale_to_yardstick


def _pass(prefix_ms, yardstick_ms, *, flagged=0, method="window-settled-min", config="c0"):
    n = len(prefix_ms)
    return pd.DataFrame({"config_id": config, "block_index": list(range(n)), "block_name": [f"b{i}" for i in range(n)],
                         "prefix_ms": prefix_ms, "incontext_ms": [p / 2 for p in prefix_ms],
                         "network_ms": prefix_ms[-1], "flagged": flagged, "method": method,
                         "yardstick": YARDSTICK_NAME, "yardstick_ms": yardstick_ms, "family": "random"})


def test_one_pass_comes_back_unchanged():
    df = _pass([1.0, 2.0], 10.0)
    out, info = merge_passes(df)
    assert out is df and info == PassMerge(0, 0, 1)


def test_two_passes_keep_each_latency_s_minimum_on_one_yardstick_scale():
    # pass b ran in a window whose yardstick read 2x: scaled fully it is 0.9 / 2.2 / 2.2 ms
    a, b, other = _pass([1.0, 2.0], 10.0), _pass([1.8, 4.4], 20.0), _pass([3.0], 10.0, config="c1")
    table, _ = scale_to_yardstick(pd.concat([a, b, other], ignore_index=True))
    out, info = merge_passes(table)
    assert info == PassMerge(configs_merged=1, rows_folded=2, max_passes=2)
    assert list(out["config_id"]) == ["c0", "c0", "c1"] and list(out["block_index"]) == [0, 1, 0]
    assert list(out["prefix_ms"]) == pytest.approx([0.9, 2.0, 3.0])  # block by block, whichever pass was faster
    assert list(out["incontext_ms"]) == pytest.approx([0.45, 1.0, 1.5])
    assert list(out["network_ms"]) == pytest.approx([2.0, 2.0, 3.0])
    assert info.to_dict() == {"configs_merged": 1, "rows_folded": 2, "max_passes": 2}


def test_a_flagged_pass_counts_only_where_every_pass_is_flagged():
    a, b = _pass([1.0, 2.0], 10.0), _pass([0.5, 0.5], 10.0, flagged=1)
    out, _ = merge_passes(pd.concat([a, b], ignore_index=True))
    assert list(out["prefix_ms"]) == [1.0, 2.0] and list(out["flagged"]) == [0, 0]
    both, _ = merge_passes(pd.concat([b.assign(prefix_ms=[0.7, 0.9]), b], ignore_index=True))
    assert list(both["prefix_ms"]) == [0.5, 0.5] and list(both["flagged"]) == [1, 1]


def test_passes_of_other_statistics_or_blocks_do_not_merge():
    a = _pass([1.0, 2.0], 10.0)
    with pytest.raises(TableError, match=r"'c0' is in the tables more than once with different measuring methods "
                                         r"\(window-settled-min, window-settled-p25\).*table_statistic"):
        merge_passes(pd.concat([a, _pass([1.0, 2.0], 10.0, method="window-settled-p25")], ignore_index=True))
    with pytest.raises(TableError, match="split into different blocks"):
        merge_passes(pd.concat([a, a.assign(block_name=["x", "y"])], ignore_index=True))


def test_a_fit_refuses_a_table_holding_two_passes_unmerged():
    from latmodel.predict.model import LatencyModel

    features = pd.read_csv("data/calibration/xeon-avx512-m207-torch-1thread-wide.csv").head(3)
    twice = pd.concat([features, features], ignore_index=True)
    with pytest.raises(TableError, match=r"has block 0 more than once \(3 repeated rows: two passes of it\?\); "
                                         r"merge the passes first"):
        LatencyModel.validate_table(twice)


def test_a_profile_whose_windows_ran_at_different_speeds_points_to_a_second_pass():
    from types import SimpleNamespace

    from latmodel.measure.summary_text import profile_summary_text

    def outcome(yardstick_ms):
        return SimpleNamespace(status="measured", incontext_from_profile=False, flagged_rows=0, config_id="c",
                               timestamped_total_ms=float("nan"), incontext_vs_network=0.0, n_blocks=2,
                               network_ms=1.0, seconds=3.0, window_peak_bytes=float("nan"), yardstick_ms=yardstick_ms,
                               window_spread=1.1, window_runs=1)

    def summary(*yardsticks):
        return SimpleNamespace(measured=len(yardsticks), skipped=0, failed=0, flagged=0, rows_written=2,
                               seconds=1.0, out_path="t.csv", outcomes=[outcome(y) for y in yardsticks], max_spread=1.2)

    text = profile_summary_text(summary(10.0, 13.0))
    assert "yardstick: 10.00-13.00 ms over the windows (x1.30)" in text and "latmodel.measure.passes" in text
    assert "yardstick:" not in profile_summary_text(summary(10.0, 12.0))
