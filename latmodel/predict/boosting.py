"""The one booster engine: every XGBoost booster of the predictor is trained by :func:`train_booster`.

It chooses between local ``xgboost.train`` and ``xgboost.dask.train`` on a Dask cluster
(``fit_tables(..., scheduler=...)``, ``latmodel fit --scheduler``); both return the
same kind of :class:`xgboost.Booster`, so saving, loading and prediction do not
depend on where it was trained.
"""
from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["TrainArrays", "train_booster"]


@dataclasses.dataclass(frozen=True)
class TrainArrays:
    """What one booster is trained on: features, log-latency label, row weights, optional margin."""

    X: Any
    label: Any
    weight: Any
    feature_names: tuple[str, ...]
    base_margin: Any = None


def train_booster(params: dict, dtrain_arrays: TrainArrays, num_boost_round: int, xgb_model=None, client=None):
    """Train one XGBoost booster locally (``client=None``) or on the Dask cluster behind ``client``.

    With a client the rows are split into one dask-array chunk per worker and trained
    with ``xgboost.dask.train`` (each worker uses its own thread count); the returned
    :class:`xgboost.Booster` is the same kind of object as a local one, set to
    ``params["nthread"]`` threads for prediction.  Both paths use ``params`` unchanged
    otherwise (``tree_method="hist"``).
    """
    import xgboost as xgb

    if xgb_model is not None:
        # Continued training draws its row and column samples from XGBoost's process-wide generator, which a
        # loaded booster does not re-seed: the same adaptation fitted three times in one process priced 71.5 /
        # 75.0 / 73.0% of a table's other prefixes within 10% (XGBoost 3.2).  Seeding by iteration makes it
        # depend on ``seed`` and the round alone.  Fresh fits are reproducible as they are and stay unchanged.
        params = {**params, "seed_per_iteration": True}
    a = dtrain_arrays
    if client is None:
        dtrain = xgb.DMatrix(a.X, label=a.label, weight=a.weight, base_margin=a.base_margin,
                             feature_names=list(a.feature_names), nthread=int(params["nthread"]))
        return xgb.train(params, dtrain, num_boost_round=int(num_boost_round), xgb_model=xgb_model,
                         verbose_eval=False)
    import dask.array as da
    from xgboost import dask as xgb_dask

    n = int(a.X.shape[0])
    n_parts = max(1, min(len(client.nthreads()), n))
    rows = -(-n // n_parts)

    def chunked(v):
        return None if v is None else da.from_array(v, chunks=(rows,) + tuple(v.shape[1:]))

    dtrain = xgb_dask.DaskDMatrix(client, chunked(a.X), chunked(a.label), weight=chunked(a.weight),
                                  base_margin=chunked(a.base_margin), feature_names=list(a.feature_names))
    remote = {k: v for k, v in params.items() if k != "nthread"}
    out = xgb_dask.train(client, remote, dtrain, num_boost_round=int(num_boost_round), xgb_model=xgb_model,
                         verbose_eval=False)
    booster = out["booster"]
    booster.set_param({"nthread": int(params["nthread"])})
    return booster
