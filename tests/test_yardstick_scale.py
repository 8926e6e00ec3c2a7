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
