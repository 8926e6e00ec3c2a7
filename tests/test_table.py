"""Measurement table: schema 1 tables are upgraded on reading; new rows never mix into them."""
from __future__ import annotations

import pandas as pd
import pytest

from latmodel.errors import TableError
from latmodel.measure.profiling import profile
from latmodel.measure.table import TABLE_SCHEMA_VERSION, append_rows, read_table

from .test_model import synthetic_table


def _v1_table(path):
    """A schema 1 table as 'latmodel profile' wrote it: medians as the reference, p10/p90 columns."""
    df = synthetic_table(n_configs_per_family=1, n_blocks=3)
    df["schema_version"] = 1
    for kind in ("incontext", "alone", "prefix", "network"):
        df[f"{kind}_median_ms"] = df.pop(f"{kind}_ms")
    df = df.drop(columns=["rounds", "prefix_p90_ms"])
    df["prefix_p10_ms"] = df["prefix_median_ms"]
    df.to_csv(path, index=False)
    return df


def test_schema_1_medians_become_the_reference(tmp_path):
    old = _v1_table(tmp_path / "v1.csv")
    df = read_table(tmp_path / "v1.csv")
    for kind in ("incontext", "alone", "prefix", "network"):
        assert df[f"{kind}_ms"].tolist() == pytest.approx(old[f"{kind}_median_ms"].tolist())
    assert set(df["schema_version"]) == {1}


def test_new_rows_are_not_appended_to_a_schema_1_table(tmp_path):
    path = tmp_path / "v1.csv"
    _v1_table(path)
    before = path.read_bytes()
    row = synthetic_table(n_configs_per_family=1, n_blocks=1).iloc[0].to_dict()
    with pytest.raises(TableError, match=f"older schema .* \\(schema {TABLE_SCHEMA_VERSION}\\) cannot be appended"):
        append_rows(path, [row])
    with pytest.raises(TableError, match="cannot resume into .* holds schema \\[1\\] rows .* new file with --out"):
        profile(["random:1"], path, resolutions=[32], window_s=0, progress=False)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    df = synthetic_table(n_configs_per_family=1, n_blocks=1)
    df["schema_version"] = TABLE_SCHEMA_VERSION + 1
    df.to_csv(tmp_path / "future.csv", index=False)
    with pytest.raises(TableError, match=f"schema version\\(s\\) {TABLE_SCHEMA_VERSION + 1}; this netcut reads"):
        read_table(tmp_path / "future.csv")
    assert isinstance(pd.read_csv(tmp_path / "future.csv"), pd.DataFrame)


def test_refeature_recomputes_feature_columns_and_keeps_timings(tmp_path):
    from latmodel.cli import main
    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.graph.netfeatures import network_features
    from latmodel.measure.rows import measure_config
    from latmodel.measure.noise import NoisePolicy

    from .test_measure import FakeClock

    rows = measure_config("random:1", 32, repeats=2, warmup=0, clock=FakeClock([1.0]),
                          noise=NoisePolicy(check_load=False, consistency_threshold=float("inf")))
    old = pd.DataFrame(rows).drop(columns=["flops_cat", "n_ops_per_mflop"])  # as an older netcut wrote it
    old["flops"] = 0
    old.to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(TableError, match="lacks required column.*latmodel refeature"):
        read_table(tmp_path / "old.csv")
    assert main(["refeature", str(tmp_path / "old.csv"), "--out", str(tmp_path / "new.csv"), "--quiet"]) == 0
    new = read_table(tmp_path / "new.csv")
    expected = network_features("random:1", 32)
    for col in FEATURE_COLUMNS:
        assert new[col].tolist() == pytest.approx([r[col] for r in expected]), col
    assert new["prefix_ms"].tolist() == [r["prefix_ms"] for r in rows]
    assert list(new.columns[: len(old.columns) - 0])[:5] == list(pd.DataFrame(rows).columns)[:5]
