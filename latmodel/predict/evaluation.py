"""Scoring the predictor: leave-one-family-out cross validation, ``fit_tables``, ``evaluate_tables``, plots.

Every estimator is scored at three levels on unflagged rows: blocks (vs
``incontext_ms``), prefixes (vs ``prefix_ms``) and whole networks (vs
``network_ms``), ours against the simple estimators of :mod:`latmodel.predict.baselines`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from .artifact import MANIFEST_NAME, sha256_file
from .baselines import (
    FlopsLinearBaseline,
    FlopsLogLogBaseline,
    alone_lookup_prefix_ms,
    has_alone_lookup,
    incontext_sum_prefix_ms,
    sort_blocks,
)
from ..cluster import connect_scheduler
from ..errors import ArtifactError, TableError
from ..measure.passes import merge_passes
from ..measure.yardstick_scale import scale_to_yardstick
from .metrics import ErrorMetrics, error_metrics
from .model import LatencyModel
from .predictor_io import load_predictor, save_predictor
from .reports import CrossValidation, EvaluationReport, FitReport
from .targets import stage1_target_ms

__all__ = [
    "at_predictor_scale",
    "describe_predictor_scale",
    "predictor_scale",
    "OutOfFold",
    "levels_for",
    "by_family_within10",
    "cross_validate_predictions",
    "cross_validate",
    "fit_tables",
    "deployed_network_ms",
    "evaluate_tables",
    "statistic_difference",
    "plot_predicted_vs_measured",
]

logger = logging.getLogger(__name__)


def levels_for(df, prefix_pred, block_pred=None, block_target_ms=None) -> dict[str, ErrorMetrics]:
    """Block / prefix / network metrics on unflagged rows of the sorted frame ``df``; blocks against
    ``block_target_ms`` (what stage 1 learned, :mod:`latmodel.predict.targets`; default ``incontext_ms``)."""
    import numpy as np

    ok = df["flagged"].to_numpy() != 1
    out = {}
    if block_pred is not None:
        target = df["incontext_ms"].to_numpy(float) if block_target_ms is None else np.asarray(block_target_ms, float)
        out["block"] = error_metrics(np.asarray(block_pred)[ok], target[ok])
    if "prefix_ms" in df.columns:
        meas = df["prefix_ms"].to_numpy(float)
        m = ok & np.isfinite(meas)
        out["prefix"] = error_metrics(np.asarray(prefix_pred)[m], meas[m])
    if "network_ms" in df.columns:
        last = (df["block_index"] == df.groupby("config_id", sort=False)["block_index"].transform("max")).to_numpy()
        unflagged_cfg = df.groupby("config_id", sort=False)["flagged"].transform("max").to_numpy() != 1
        meas = deployed_network_ms(df)
        m = last & unflagged_cfg & np.isfinite(meas)
        out["network"] = error_metrics(np.asarray(prefix_pred)[m], meas[m])
    return out


def deployed_network_ms(df):
    """Per row of a measurement table, what its whole network costs as deployed, on the rows of its last block:
    ``network_ms`` (the blocks run one after another: for eager torch the network's own computation), except for
    runtimes that run exported graphs (:data:`latmodel.measure.runtimes.RUNTIMES` ``graph == "onnx"``), where
    ``network_ms`` chains one session per block and the deployed network is one graph, the last block's
    ``prefix_ms``.  (ONNX Runtime, stepping-1 Xeon, 2026-12-05: ``network_ms`` a median 1.18-1.22x the last
    prefix, up to 1.6x for SqueezeNet; eager torch 1.005x.)"""
    import numpy as np

    from ..measure.runtimes import one_graph_rows

    meas = df["network_ms"].to_numpy(float)
    if "prefix_ms" not in df.columns:
        return meas
    one_graph = one_graph_rows(df)
    return np.where(one_graph, df["prefix_ms"].to_numpy(float), meas) if one_graph.any() else meas


def by_family_within10(df, prefix_pred) -> dict[str, float]:
    """Share (%) of unflagged prefixes within 10 % of ``prefix_ms``, by family."""
    import numpy as np

    out = {}
    if "prefix_ms" not in df.columns:
        return out
    meas = df["prefix_ms"].to_numpy(float)
    ok = (df["flagged"].to_numpy() != 1) & np.isfinite(meas)
    rel = np.abs(np.asarray(prefix_pred) / meas - 1.0)
    fam = df["family"].astype(str).to_numpy()
    for f in sorted(set(fam[ok])):
        m = ok & (fam == f)
        out[f] = float(np.mean(rel[m] <= 0.10) * 100.0)
    return out


@dataclasses.dataclass(frozen=True)
class OutOfFold:
    """Leave-one-family-out predictions for the rows of ``df`` (ours and the FLOPs baselines)."""

    df: Any
    ours_block: Any
    ours_prefix: Any
    ours_upper: Any
    flops_linear: Any
    flops_loglog: Any = None
    ours_block_target: Any = None  # what stage 1 learned per row (None: incontext_ms)


def cross_validate_predictions(table, params: dict | None = None, *, init_model: LatencyModel | None = None,
                               families: Sequence[str] | None = None, log_progress: bool = True,
                               client=None) -> OutOfFold:
    """Leave-one-family-out predictions for every non-``random`` row (ours and the FLOPs baseline).

    ``client``: train each fold's boosters on that Dask cluster (folds run one after another).
    """
    import numpy as np

    df = LatencyModel.validate_table(table)
    fams = sorted({str(f) for f in df["family"]} - {"random"}) if families is None else list(families)
    if not fams:
        raise TableError("cross-validation needs at least one family besides 'random'")
    parts = []
    for i, fam in enumerate(fams):
        test = df["family"].astype(str) == fam
        train, held = df[~test], df[test].reset_index(drop=True)
        if train.empty:
            raise TableError(f"cross-validation needs more than one family; the table has only {fam!r}")
        model = LatencyModel(**(params or {})).fit(train, init_model=init_model, client=client)
        s1, prefix, upper = model.predict_table(held)
        has_prefix = "prefix_ms" in train.columns and train["prefix_ms"].notna().any()
        nan = np.full(len(held), np.nan)
        flops = FlopsLinearBaseline.fit(sort_blocks(train)).predict_prefix_ms(held) if has_prefix else nan
        loglog = FlopsLogLogBaseline.fit(sort_blocks(train)).predict_prefix_ms(held) if has_prefix else nan
        parts.append((held, s1, prefix, upper, flops, loglog, model.stage1_target_ms(held)))
        if log_progress:
            logger.info("cross-validation fold %d/%d (held out %s) done", i + 1, len(fams), fam)
    import pandas as pd

    df_all = pd.concat([p[0] for p in parts], ignore_index=True)
    cat = [np.concatenate([p[k] for p in parts]) for k in range(1, 7)]
    return OutOfFold(df=df_all, ours_block=cat[0], ours_prefix=cat[1], ours_upper=cat[2], flops_linear=cat[3],
                     flops_loglog=cat[4], ours_block_target=cat[5])


def _estimator_levels(oof: OutOfFold) -> dict[str, dict[str, ErrorMetrics]]:
    df = oof.df
    levels = {"ours": levels_for(df, oof.ours_prefix, oof.ours_block, oof.ours_block_target)}
    if "prefix_ms" in df.columns:
        levels["linear in FLOPs"] = levels_for(df, oof.flops_linear)
        levels["log-log in FLOPs"] = levels_for(df, oof.flops_loglog)
    if has_alone_lookup(df):
        levels["lookup of blocks alone"] = levels_for(df, alone_lookup_prefix_ms(df))
    levels["summed in-context (measured)"] = levels_for(df, incontext_sum_prefix_ms(df))
    return levels


def cross_validate(table, params: dict | None = None, *, init_model: LatencyModel | None = None,
                   client=None) -> CrossValidation:
    """Leave-one-family-out cross-validation of ours against the simple estimators (see :mod:`baselines`)."""
    oof = cross_validate_predictions(table, params, init_model=init_model, client=client)
    return CrossValidation(
        held_out_families=tuple(sorted(set(oof.df["family"].astype(str)))),
        levels=_estimator_levels(oof),
        prefix_within_10_by_family=by_family_within10(oof.df, oof.ours_prefix),
    )


def _table_records(paths) -> list[dict]:
    """Where the training rows came from: each table's path, sha256, size and the statistics its rows hold
    (``method`` column: ``window-settled-min``...), so a table of another statistic can be told apart later."""
    import pandas as pd

    def methods(p) -> list[str]:  # one read of the one column (none: a table from before the column)
        col = pd.read_csv(p, usecols=lambda c: c == "method", dtype=str)
        return sorted(set(col["method"].dropna())) if "method" in col.columns else []

    return [{"path": str(p), "sha256": sha256_file(p), "bytes": Path(p).stat().st_size, "methods": methods(p)}
            for p in paths]


def statistic_difference(tables: Sequence[dict], df) -> str:
    """One line when the table ``df`` holds another statistic than the predictor's training tables (``tables``:
    its ``training.tables`` records), '' when they agree or either is not recorded: a predictor of minima judged
    on a table of 25th percentiles reads a few % low, by the statistic, not by the predictor."""
    from ..measure.bursts import statistic_of_method

    trained = {statistic_of_method(m) for t in tables for m in (t.get("methods") or [])}
    theirs = ({statistic_of_method(m) for m in df["method"].dropna().astype(str)} if "method" in df.columns
              else set())
    if not trained or not theirs or theirs == trained:
        return ""
    return (f"the table holds the statistic {', '.join(sorted(theirs))} and the predictor learned "
            f"{', '.join(sorted(trained))}")


def _base_record(folder: Path) -> dict:
    """Which predictor an adapted one came from: its path, manifest sha256 and creation time."""
    import json

    manifest = folder / MANIFEST_NAME
    created = json.loads(manifest.read_text()).get("created_at")
    return {"path": str(folder), "manifest_sha256": sha256_file(manifest), "created_at": created}


def _adapted_target(base, table, params) -> dict:
    """The stage-1 target an adapted model takes over from ``base`` unless ``params`` name one: ``auto`` where
    ``base`` learned in-context latencies of an exported-graph runtime and ``table``'s rows are of one too.  Before
    2026-12-06 such in-context latencies were chained sessions; since then they come from the node profile
    (:mod:`latmodel.measure.graph_profile`), so only the prefixes (increments) mean the same in both: adapting the
    stepping-1 Xeon's ONNX Runtime predictor to 20 profiled EPYC configurations on its in-context target priced
    30.3% of the other 191 configurations' prefixes within 10%."""
    from ..measure.runtimes import one_graph_rows

    if base is None or "stage1_target" in (params or {}) or base.stage1_target_ != "incontext":
        return {}
    return {"stage1_target": "auto"} if bool(one_graph_rows(table).all()) else {}


def fit_tables(paths: Sequence, out, *, base=None, cv: bool = True, params: dict | None = None,
               scheduler: str | None = None) -> FitReport:
    """Fit a predictor on measurement tables and write it to folder ``out``.

    ``base``: an existing predictor folder to adapt (few rows of a new device); how is
    ``params["adapt_strategy"]`` (default: the base's); the adapted predictor records the
    base's path, manifest sha256 and creation time in ``adapted_from``.
    ``cv``: run leave-one-family-out cross-validation first and store its metrics.
    ``params``: :class:`LatencyModel` hyperparameters overriding the defaults (or the base's).
    ``scheduler``: ``tcp://HOST:PORT`` of a Dask scheduler: every booster (final fit and
    cross-validation folds, one fold after another) is trained there with
    ``xgboost.dask``, its rows split into one partition per worker.  The tables are
    still read here; the cheap parts (roofline least squares, baselines, prediction)
    stay local.  The saved predictor has the same form as a local fit's.
    """
    from ..measure.table import read_tables

    out = Path(out)
    paths = [Path(p) for p in paths]
    if out.exists() and not (out / MANIFEST_NAME).is_file():
        raise ArtifactError(f"refusing to overwrite {str(out)!r}: it exists and is not a netcut predictor folder; "
                            "choose another --out or remove it yourself")
    if not out.parent.is_dir():
        raise ArtifactError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p {out.parent})")
    # every window on one scale before cross-validation splits the table (latmodel.measure.yardstick_scale)
    table, scale = scale_to_yardstick(read_tables(paths))
    if scale.rows_scaled:
        logger.info("%d rows scaled to the yardstick's %.3f ms (factors %.3f-%.3f); %d rows without it", scale.rows_scaled,
                    scale.reference_ms, scale.min_factor, scale.max_factor, scale.rows_unscaled)
    # a configuration in several passes (two tables of one device): one row per block, the minimum on that one scale
    table, merged = merge_passes(table)
    if merged.configs_merged:
        logger.info("%d configurations measured in up to %d passes: each latency the minimum over them (%d rows folded)",
                    merged.configs_merged, merged.max_passes, merged.rows_folded)
    init = load_predictor(base) if base is not None else None
    params = {**(init.get_params() if init is not None else {}), **_adapted_target(init, table, params), **(params or {})}
    base_record = None
    if init is not None:
        # refuse too small a table before cross-validation spends time on it (nothing is written to out)
        probe = LatencyModel(**params)
        probe.check_params()
        df = LatencyModel.validate_table(table)
        probe.check_adaptation_rows(df, probe.sample_weights(df))
        base_record = _base_record(Path(base))
    with contextlib.ExitStack() as stack:
        client = None
        if scheduler:
            client = stack.enter_context(connect_scheduler(str(scheduler), need_xgboost=True))
            logger.info("fitting on the Dask cluster at %s (%d workers)", scheduler, len(client.nthreads()))
        t0 = time.perf_counter()
        cvres = None
        if cv:
            fams = sorted({str(f) for f in table["family"]} - {"random"})
            if len(fams) >= 2 or (len(fams) == 1 and "random" in set(table["family"].astype(str))):
                cvres = cross_validate(table, params, init_model=init, client=client)
            else:
                logger.warning("cross-validation skipped: the table has fewer than two families")
        model = LatencyModel(**params).fit(
            table, init_model=init, client=client, table_records=_table_records(paths),
            metrics={"leave_one_family_out": cvres.to_dict()} if cvres is not None else None,
            base_record=base_record)
    save_predictor(model, out)
    fw = float(model.flagged_weight)
    logger.info("%d flagged rows weighted %g", model.n_flagged_, fw)
    return FitReport(out=str(out), tables=tuple(str(p) for p in paths), n_rows=model.n_rows_,
                     n_configs=model.n_configs_, families=tuple(model.families_), n_flagged=model.n_flagged_,
                     flagged_weight=fw, fit_seconds=time.perf_counter() - t0, base=str(base) if base else None,
                     cross_validation=cvres)


def device_difference(device: dict, df) -> str:
    """One line when the table ``df`` was measured on another device or thread count than the predictor's
    record ``device`` ('' when they agree)."""
    said = []
    for col, what in (("threads", "threads"), ("device_id", "device id"), ("runtime", "runtime")):
        if col not in df.columns or device.get(col) is None:
            continue
        theirs = sorted({str(int(float(v))) if col == "threads" else str(v) for v in df[col].dropna().unique()})
        mine = str(device[col])
        if theirs and theirs != [mine]:
            said.append(f"{what} {', '.join(theirs)} (the predictor's: {mine})")
    return f"the table was measured with {'; '.join(said)}" if said else ""


def predictor_scale(model, difference: str) -> tuple[float | None, float] | None:
    """How :func:`at_predictor_scale` scales a table whose :func:`device_difference` from ``model`` is
    ``difference``: None (compared as measured), else ``(reference_ms, tracks)`` for
    :func:`~latmodel.measure.yardstick_scale.scale_to_yardstick` (``reference_ms`` None: the table's own fastest
    window)."""
    if not difference and model.yardstick_ is None:
        # fitted on latencies as measured (no yardstick, or one marked as not tracking its host): compared as measured
        return None
    if difference:
        return None, 1.0
    # rows of the predictor's device that carry no share of their own follow its training rows' share
    return model.yardstick_["reference_ms"], float(model.yardstick_.get("tracks", 1.0))


def describe_predictor_scale(scale: tuple[float | None, float] | None) -> str:
    """:func:`predictor_scale`'s answer in words."""
    if scale is None:
        return "as measured"
    reference_ms, tracks = scale
    if reference_ms is None:
        return "at its own fastest window's yardstick speed (measured on another device than the predictor's)"
    return f"at the predictor's yardstick speed (share {tracks:g})"


def at_predictor_scale(model, df):
    """``(df at the predictor's scale, difference)``: the table's windows at the predictor's yardstick speed when it
    was measured on the predictor's device (else at the table's own fastest window), so predictions and
    measurements compare on one scale (:func:`predictor_scale`); ``difference`` is :func:`device_difference`'s line
    ('' when they agree)."""
    other = device_difference(model.device_, df)
    scale = predictor_scale(model, other)
    if scale is None:
        return df.copy(), other
    scaled, _ = scale_to_yardstick(df, scale[0], tracks=scale[1])
    return scaled, other


def evaluate_tables(predictor_path, tables: Sequence, *, plot=None) -> EvaluationReport:
    """Score the predictor at ``predictor_path`` on ``tables`` (which it should never have seen)."""
    from ..measure.table import read_tables

    model = load_predictor(predictor_path)
    df, other = at_predictor_scale(model, read_tables([Path(t) for t in tables]))
    df = LatencyModel.validate_table(merge_passes(df)[0])  # several passes of a configuration: their minimum
    if other:
        logger.warning("%s: the errors below mix the predictor's error with the difference between devices", other)
    stat = statistic_difference(model.tables_, df)
    if stat:
        logger.warning("%s: the errors below mix the predictor's error with the difference between statistics", stat)
    s1, prefix, _ = model.predict_table(df)
    learned = model.stage1_target_ if "prefix_ms" in df.columns and df["prefix_ms"].notna().all() else "incontext"
    levels = {"ours": levels_for(df, prefix, s1, stage1_target_ms(learned, df))}
    if model.baseline_flops_ is not None:
        levels["linear in FLOPs"] = levels_for(df, FlopsLinearBaseline.from_dict(model.baseline_flops_)
                                                .predict_prefix_ms(df))
    if model.baseline_flops_loglog_ is not None:
        levels["log-log in FLOPs"] = levels_for(df, FlopsLogLogBaseline.from_dict(model.baseline_flops_loglog_)
                                                 .predict_prefix_ms(df))
    if has_alone_lookup(df):
        levels["lookup of blocks alone"] = levels_for(df, alone_lookup_prefix_ms(df))
    levels["summed in-context (measured)"] = levels_for(df, incontext_sum_prefix_ms(df))
    plot_path = None
    if plot is not None and "prefix_ms" in df.columns:
        plot_path = str(plot_predicted_vs_measured(df, prefix, plot))
    return EvaluationReport(
        predictor=str(predictor_path), tables=tuple(str(t) for t in tables), n_rows=int(len(df)),
        n_configs=int(df["config_id"].nunique()), n_flagged_left_out=int((df["flagged"] == 1).sum()),
        levels=levels, prefix_within_10_by_family=by_family_within10(df, prefix), plot=plot_path,
    )


def plot_predicted_vs_measured(df, predicted_ms, path, *, title: str = "TRN prefix latency") -> Path:
    """Log-log scatter of predicted vs measured ``prefix_ms`` with y=x and a +-10% band, by family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    meas = df["prefix_ms"].to_numpy(float)
    pred = np.asarray(predicted_ms, dtype=float)
    ok = np.isfinite(meas) & (meas > 0) & (pred > 0)
    fam = df["family"].astype(str).to_numpy()
    fig, ax = plt.subplots(figsize=(7, 6))
    lo, hi = float(min(meas[ok].min(), pred[ok].min())) * 0.8, float(max(meas[ok].max(), pred[ok].max())) * 1.25
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.85", label="+-10%")
    ax.plot(xs, xs, "k-", lw=1, label="y = x")
    cmap = plt.get_cmap("tab20")
    for i, f in enumerate(sorted(set(fam[ok]))):
        m = ok & (fam == f)
        ax.scatter(meas[m], pred[m], s=10, color=cmap(i % 20), label=f, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    within = float(np.mean(np.abs(pred[ok] / meas[ok] - 1) <= 0.1) * 100) if ok.any() else float("nan")
    ax.set_title(f"{title}: {within:.1f}% within +-10% (n={int(ok.sum())})")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
