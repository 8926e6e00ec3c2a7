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
