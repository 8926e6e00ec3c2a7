"""Scale-out: the same tiny search through local worker processes and a Dask LocalCluster."""
from __future__ import annotations

import json

import pytest

from tests.test_trimmer_search import _config, fake_predictor, tiny_npz  # noqa: F401 (fixtures)
from trimmer.search import run_search

distributed = pytest.importorskip("distributed")


def _accuracies(report_dir):
    """Every candidate's row without its wall-clock training time."""
    import csv

    with open(report_dir / "candidates.csv", newline="") as fh:
        return sorted(tuple(v for k, v in row.items() if k != "train_seconds") for row in csv.DictReader(fh))


@pytest.mark.slow
def test_search_on_local_workers_and_dask_matches_local(fake_predictor, tiny_npz, tmp_path):
    local = run_search(_config(tiny_npz, exhaustive=True, deadline_ms=5.0), tmp_path / "local", progress=False)
    workers = run_search(_config(tiny_npz, exhaustive=True, deadline_ms=5.0, workers=2), tmp_path / "loky",
                         progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = run_search(_config(tiny_npz, exhaustive=True, deadline_ms=5.0, scheduler=cluster.scheduler_address),
                          tmp_path / "dask", progress=False)
    for other, name in ((workers, "loky"), (dask, "dask")):
        assert other["chosen"] == local["chosen"]
        assert _accuracies(tmp_path / name) == _accuracies(tmp_path / "local")


def test_unreachable_scheduler_is_one_clear_error(fake_predictor, tiny_npz, tmp_path):
    from latmodel.errors import NetcutError

    with pytest.raises(NetcutError, match="cannot reach the Dask scheduler"):
        run_search(_config(tiny_npz, scheduler="tcp://127.0.0.1:1"), tmp_path / "x", progress=False)


# ----------------------------------------------------------------------------- latmodel fit on Dask


def _fit_both(cluster, table_csv, out_dir, params: dict, *, cv: bool):
    """The same fit_tables locally and through the cluster; returns both predictor folders."""
    from latmodel.predict.evaluation import fit_tables

    out_dir.mkdir()
    local, dask = out_dir / "local", out_dir / "dask"
    fit_tables([table_csv], local, cv=cv, params=params)
    fit_tables([table_csv], dask, cv=cv, params=params, scheduler=cluster.scheduler_address)
    return local, dask


def _manifest_without_times(folder) -> dict:
    from latmodel.predict.artifact import MANIFEST_NAME

    m = json.loads((folder / MANIFEST_NAME).read_text())
    m.pop("created_at")
    m["training"].pop("fit_seconds")
    return m


@pytest.mark.slow
def test_fit_on_dask_cluster_matches_local_fit(tmp_path):
    """xgboost.dask on 2 workers (rows split in 2 partitions) vs local xgboost.train.

    Without row subsampling the two are bit-identical (same histogram cuts on this small
    table, same seeded column sampling, intercept computed once on the client).  With
    ``subsample=0.8`` each worker draws its own rows, so they agree only closely.
    """
    import numpy as np

    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.predict.prefix_features import STAGE2_FEATURES
    from tests.test_model import FAST, synthetic_table

    table = synthetic_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    params = {**FAST, "stage1_prior": "blend"}  # both stage-1 boosters (plain and roofline) go through Dask
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        exact = _fit_both(cluster, tmp_path / "t.csv", tmp_path / "exact", {**params, "subsample": 1.0}, cv=True)
        close = _fit_both(cluster, tmp_path / "t.csv", tmp_path / "close", params, cv=False)

    local, dask = exact
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(p.name for p in dask.iterdir()) == ["manifest.json", "stage1.json",
                                                                "stage1_roofline.json", "stage2.json"]
    for name in names[1:]:
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name
    assert _manifest_without_times(local) == _manifest_without_times(dask)  # incl. cross-validation metrics
    a, b = load_predictor(local), load_predictor(dask)
    assert np.array_equal(a.predict_table(table)[1], b.predict_table(table)[1])

    local, dask = close
    ma, mb = _manifest_without_times(local), _manifest_without_times(dask)
    assert ma["feature_names"] == mb["feature_names"] == list(FEATURE_COLUMNS)
    assert ma["stage2_feature_names"] == mb["stage2_feature_names"] == list(STAGE2_FEATURES)
    assert ma["stage1_boosters"] == mb["stage1_boosters"] and ma["has_stage2"] is mb["has_stage2"] is True
    assert ma["hyperparameters"] == mb["hyperparameters"] and ma["training"] == mb["training"]
    pa = load_predictor(local).predict_table(table)[1]
    pb = load_predictor(dask).predict_table(table)[1]
    assert float(np.median(np.abs(pb / pa - 1.0))) < 0.02


def test_fit_with_unreachable_scheduler_is_one_clear_error(tmp_path, monkeypatch, capsys):
    import latmodel.cluster as netcut_cluster
    import latmodel.predict.evaluation as model
    from latmodel.cli import main
    from latmodel.errors import NetcutError
    from tests.test_model import synthetic_table

    monkeypatch.setattr(netcut_cluster, "SCHEDULER_TIMEOUT_S", 1.0)
    synthetic_table().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(NetcutError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:1'"):
        model.fit_tables([tmp_path / "t.csv"], tmp_path / "p", cv=False, scheduler="tcp://127.0.0.1:1")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    assert main(["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "p"), "--no-cv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'" in err
    assert not (tmp_path / "p").exists()


def test_fit_on_scheduler_without_workers_is_one_clear_error(tmp_path, monkeypatch):
    import latmodel.cluster as netcut_cluster
    import latmodel.predict.evaluation as model
    from latmodel.errors import NetcutError
    from tests.test_model import synthetic_table

    monkeypatch.setattr(netcut_cluster, "SCHEDULER_TIMEOUT_S", 0.5)
    synthetic_table().to_csv(tmp_path / "t.csv", index=False)
    with distributed.LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        with pytest.raises(NetcutError, match="has no workers after 0.5 s; start some with 'dask worker tcp://"):
            model.fit_tables([tmp_path / "t.csv"], tmp_path / "p", cv=False, scheduler=cluster.scheduler_address)
    assert not (tmp_path / "p").exists()
