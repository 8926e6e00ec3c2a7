"""Windows put on one scale by their yardstick (latmodel.measure.yardstick_scale): exact numbers."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from latmodel.measure.bursts import LEGACY_YARDSTICK, YARDSTICK_NAME
from latmodel.errors import NetcutError
from latmodel.measure.yardstick_scale import reference_ms_of, scale_to_yardstick


def _table():
    return pd.DataFrame({
        "config_id": ["a", "b", "c", "d"],
        "prefix_ms": [10.0, 12.0, 5.0, 7.0],
        "network_ms": [20.0, 24.0, 5.0, 7.0],
        "yardstick": [YARDSTICK_NAME, YARDSTICK_NAME, LEGACY_YARDSTICK, ""],
        "yardstick_ms": [16.0, 20.0, 0.1, math.nan],
    })


def test_windows_scale_to_the_fastest_and_other_rows_stay():
    df, info = scale_to_yardstick(_table())
    assert reference_ms_of(_table()) == 16.0
    assert list(df["prefix_ms"]) == pytest.approx([10.0, 9.6, 5.0, 7.0])
    assert list(df["network_ms"]) == pytest.approx([20.0, 19.2, 5.0, 7.0])
    assert (info.reference_ms, info.rows_scaled, info.rows_unscaled) == (16.0, 2, 2)
    assert (info.min_factor, info.max_factor) == (0.8, 1.0)
    assert list(df["window_yardstick_ms"][:2]) == [16.0, 20.0] and list(df["yardstick_ms"][:2]) == [16.0, 16.0]


def test_scaling_twice_changes_nothing_and_a_device_reference_applies():
    once, _ = scale_to_yardstick(_table())
    twice, info = scale_to_yardstick(once)
    assert list(twice["prefix_ms"]) == list(once["prefix_ms"]) and info.max_factor == 1.0
    dev, _ = scale_to_yardstick(_table(), 8.0)
    assert list(dev["prefix_ms"][:2]) == pytest.approx([5.0, 4.8])


def test_no_yardstick_no_change_and_a_bad_reference_is_refused():
    plain = _table().drop(columns=["yardstick"])
    df, info = scale_to_yardstick(plain)
    assert info.rows_scaled == 0 and list(df["prefix_ms"]) == list(plain["prefix_ms"])
    with pytest.raises(NetcutError, match="positive"):
        scale_to_yardstick(_table(), -1.0)


def test_rows_of_another_runtime_than_the_yardstick_keep_their_values():
    t = _table().assign(runtime=["torch", "onnxruntime", "torch", "torch"])
    df, info = scale_to_yardstick(t)
    assert reference_ms_of(t) == 16.0
    assert list(df["prefix_ms"]) == [10.0, 12.0, 5.0, 7.0]  # b's 20 ms window is an ONNX Runtime row: left
    assert (info.rows_scaled, info.rows_unscaled) == (1, 3)
    onnx = _table().assign(runtime="onnxruntime")
    assert math.isnan(reference_ms_of(onnx)) and scale_to_yardstick(onnx)[1].rows_scaled == 0


def test_rows_marked_as_not_tracking_their_host_keep_their_values():
    t = _table().assign(yardstick_tracks=[1.0, 0.0, math.nan, math.nan])
    df, info = scale_to_yardstick(t)
    assert list(df["prefix_ms"]) == [10.0, 12.0, 5.0, 7.0]  # b's slow yardstick was shown not to track: left
    assert (info.rows_scaled, info.rows_unscaled) == (1, 3)


def test_a_predictor_fitted_as_measured_is_compared_as_measured():
    from types import SimpleNamespace

    from latmodel.predict.evaluation import at_predictor_scale

    here = _table().assign(device_id="dev1")
    unscaled = SimpleNamespace(device_={"device_id": "dev1"}, yardstick_=None)
    df, other = at_predictor_scale(unscaled, here)
    assert other == "" and list(df["prefix_ms"]) == [10.0, 12.0, 5.0, 7.0]
    scaled = SimpleNamespace(device_={"device_id": "dev1"}, yardstick_={"reference_ms": 8.0})
    assert list(at_predictor_scale(scaled, here)[0]["prefix_ms"][:2]) == pytest.approx([5.0, 4.8])


def _pass(prefix_ms, yardstick_ms):
    n = len(prefix_ms)
    return pd.DataFrame({"config_id": [f"c{i}" for i in range(n)], "block_index": 0, "prefix_ms": prefix_ms,
                         "incontext_ms": prefix_ms, "network_ms": prefix_ms, "flagged": 0,
                         "yardstick": YARDSTICK_NAME, "yardstick_ms": yardstick_ms, "device_id": "51e6073349"})


def test_calibration_stability_marks_a_yardstick_that_takes_two_passes_apart(tmp_path):
    script = _script("calibration_stability")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    # the networks ran alike in both passes while the second pass's yardstick read 1.5x: scaling would take them apart
    _pass([1.0, 2.0, 4.0], [10.0, 10.0, 10.0]).to_csv(a, index=False)
    _pass([1.0, 2.0, 4.0], [15.0, 15.0, 15.0]).to_csv(b, index=False)
    assert script.compare(a, b)["yardstick"] == {"prefix_within_10pct_as_measured": 1.0,
                                                 "prefix_within_10pct_scaled": 0.0, "elasticity": 0.0,
                                                 "prefix_within_10pct_at_elasticity": 1.0, "tracks": 0.0}
    assert script.main([str(a), str(b), "--mark-yardstick"]) == 0
    assert list(pd.read_csv(a)["yardstick_tracks"]) == [0, 0, 0] and list(pd.read_csv(b)["yardstick_tracks"]) == [0, 0, 0]
    assert scale_to_yardstick(pd.read_csv(b))[1].rows_scaled == 0
    assert "51e6073349" in a.read_text() and "inf" not in a.read_text()  # the rest of the table kept as written
    # a yardstick that explains the second pass's slowness: nothing marked
    c, d = tmp_path / "c.csv", tmp_path / "d.csv"
    _pass([1.0, 2.0, 4.0], [10.0, 10.0, 10.0]).to_csv(c, index=False)
    _pass([1.5, 3.0, 6.0], [15.0, 15.0, 15.0]).to_csv(d, index=False)
    assert script.compare(c, d)["yardstick"] == {"prefix_within_10pct_as_measured": 0.0,
                                                 "prefix_within_10pct_scaled": 1.0, "elasticity": 1.0,
                                                 "prefix_within_10pct_at_elasticity": 1.0, "tracks": 1.0}
    script.main([str(c), str(d), "--mark-yardstick"])
    assert "yardstick_tracks" not in pd.read_csv(c).columns


def _script(name):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_table_is_rebuilt_under_another_statistic_from_its_samples(tmp_path):
    import gzip
    import json

    script = _script("table_statistic")
    table = _pass([1.0, 2.0], [10.0, 10.0]).assign(method="window-settled-p25", alone_ms=[1.0, 2.0])
    samples = {"window0": {"yardstick": [12.0, 10.0, 11.0, 13.0, 14.0],
                           "c0": {"prefix": [[2.0, 1.0, 3.0, 4.0, 5.0]], "network": [2.0, 1.5], "incontext": [[1.0, 0.5]],
                                  "alone": [[0.9, 0.8]]},
                           "c1": {"prefix": [[6.0, 4.0]], "network": [7.0, 5.0], "incontext": [[3.0]], "alone": []}}}
    path = tmp_path / "s.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump(samples, fh)
    out = tmp_path / "min.csv"
    assert script.main([str(_write(table, tmp_path)), str(path), "--statistic", "min", "--out", str(out)]) == 0
    got = pd.read_csv(out, dtype=str)
    assert list(got["prefix_ms"]) == ["1", "4"] and list(got["network_ms"]) == ["1.5", "5"]
    assert list(got["incontext_ms"]) == ["0.5", "3"] and list(got["alone_ms"]) == ["0.8", "2.0"]  # c1: none timed alone
    assert list(got["yardstick_ms"]) == ["10", "10"] and set(got["method"]) == {"window-settled-min"}
    assert set(got["device_id"]) == {"51e6073349"}
    p25 = script.rebuild(got, samples, "p25")
    assert list(p25["prefix_ms"]) == ["2", "4.5"] and set(p25["method"]) == {"window-settled-p25"}
    with pytest.raises(Exception, match="statistic must be one of min, p10, p25, got 'p50'"):
        script.rebuild(got, samples, "p50")
    with pytest.raises(Exception, match="the samples hold no configuration 'c1'"):
        script.rebuild(got, {"window0": {"c0": samples["window0"]["c0"]}}, "min")


def _write(table, folder):
    path = folder / "t.csv"
    table.to_csv(path, index=False)
    return path


def test_a_yardstick_that_tracks_partly_is_fitted_marked_and_scaled_by_its_share(tmp_path):
    script = _script("calibration_stability")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    # the second pass's yardstick read 2x in one window and 1x in the other; the networks there ran 2**0.25 slower
    _pass([1.0, 2.0, 4.0, 8.0], [10.0, 10.0, 10.0, 10.0]).to_csv(a, index=False)
    _pass([2 ** 0.25, 2.0 * 2 ** 0.25, 4.0, 8.0], [20.0, 20.0, 10.0, 10.0]).to_csv(b, index=False)
    effect = script.compare(a, b)["yardstick"]
    assert (effect["elasticity"], effect["tracks"]) == (0.25, 0.25)
    assert (effect["prefix_within_10pct_as_measured"], effect["prefix_within_10pct_scaled"],
            effect["prefix_within_10pct_at_elasticity"]) == (0.5, 0.5, 1.0)
    script.main([str(a), str(b), "--mark-yardstick"])
    scaled, scale = scale_to_yardstick(pd.read_csv(b), 10.0)
    assert list(scaled["prefix_ms"]) == pytest.approx([1.0, 2.0, 4.0, 8.0])  # (10 / 20) ** 0.25 undoes the slowdown
    assert scale.tracks == 0.25 and scale.max_factor == 1.0 and scale.min_factor == pytest.approx(0.5 ** 0.25)
    again, rescale = scale_to_yardstick(scaled, 10.0)  # as LatencyModel.fit does with fit_tables' scaled table
    assert list(again["prefix_ms"]) == pytest.approx([1.0, 2.0, 4.0, 8.0])
    assert (rescale.min_factor, rescale.max_factor) == (pytest.approx(0.5 ** 0.25), 1.0)  # from the windows as measured


def test_a_predictor_of_a_partly_tracking_yardstick_scales_its_devices_tables_by_that_share():
    from types import SimpleNamespace

    from latmodel.predict.evaluation import at_predictor_scale

    here = _pass([2.0, 4.0], [20.0, 10.0]).drop(columns=["device_id"]).assign(device_id="dev1")
    model = SimpleNamespace(device_={"device_id": "dev1"}, yardstick_={"reference_ms": 10.0, "tracks": 0.5})
    df, other = at_predictor_scale(model, here)
    assert other == "" and list(df["prefix_ms"]) == pytest.approx([2.0 * 0.5 ** 0.5, 4.0])
    profiled = here.assign(yardstick_tracks=math.nan)  # a new profile writes the column empty
    assert list(at_predictor_scale(model, profiled)[0]["prefix_ms"]) == pytest.approx([2.0 * 0.5 ** 0.5, 4.0])


def test_calibration_stability_compares_merged_passes(tmp_path):
    script = _script("calibration_stability")
    paths = {name: tmp_path / f"{name}.csv" for name in ("a", "a2", "b", "b2")}
    # each side's second pass catches the fast state the first missed on one configuration
    _pass([1.0, 2.4, 4.0], [10.0, 10.0, 10.0]).to_csv(paths["a"], index=False)
    _pass([1.3, 2.0, 4.0], [10.0, 10.0, 10.0]).to_csv(paths["a2"], index=False)
    _pass([1.3, 2.0, 4.0], [10.0, 10.0, 10.0]).to_csv(paths["b"], index=False)
    _pass([1.0, 2.4, 4.4], [10.0, 10.0, 10.0]).to_csv(paths["b2"], index=False)
    assert script.compare(paths["a"], paths["b"])["all"]["prefix_ms"]["within_10pct"] == pytest.approx(1 / 3)
    merged = script.merged_pair([paths["a"], paths["a2"]], [paths["b"], paths["b2"]])
    assert (merged["prefix_within_10pct"], merged["prefixes_compared"], merged["passes_a"]) == (1.0, 3, 2)
    with pytest.raises(SystemExit):
        script.main([str(paths["a"]), str(paths["b"]), "--merge-a", str(paths["a2"]), "--mark-yardstick"])


def test_rows_of_another_runtime_scale_only_where_a_pair_of_passes_marked_their_share():
    onnx = _table().assign(runtime="onnxruntime")
    assert scale_to_yardstick(onnx)[1].rows_scaled == 0  # unmarked: as measured (the stepping-1 Xeon's finding)
    marked = onnx.assign(yardstick_tracks=[0.5, 0.5, math.nan, math.nan])
    df, info = scale_to_yardstick(marked)
    assert reference_ms_of(marked) == 16.0 and (info.rows_scaled, info.rows_unscaled) == (2, 2)
    assert list(df["prefix_ms"]) == pytest.approx([10.0, 12.0 * 0.8 ** 0.5, 5.0, 7.0])
    assert scale_to_yardstick(onnx.assign(yardstick_tracks=0.0))[1].rows_scaled == 0


def test_calibration_stability_marks_another_runtime_that_follows_the_yardstick(tmp_path):
    script = _script("calibration_stability")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    # ONNX Runtime rows 1.5x slower in the pass whose yardstick read 1.5x: they follow it fully, and only marked
    # rows of another runtime are scaled, so both tables are marked 1
    _pass([1.0, 2.0, 4.0], [10.0, 10.0, 10.0]).assign(runtime="onnxruntime").to_csv(a, index=False)
    _pass([1.5, 3.0, 6.0], [15.0, 15.0, 15.0]).assign(runtime="onnxruntime").to_csv(b, index=False)
    assert script.compare(a, b)["yardstick"]["tracks"] == 1.0
    assert script.main([str(a), str(b), "--mark-yardstick"]) == 0
    assert list(pd.read_csv(a)["yardstick_tracks"]) == [1, 1, 1] and list(pd.read_csv(b)["yardstick_tracks"]) == [1, 1, 1]
    assert list(scale_to_yardstick(pd.read_csv(b), 10.0)[0]["prefix_ms"]) == pytest.approx([1.0, 2.0, 4.0])
