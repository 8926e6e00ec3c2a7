"""Saving and loading a :class:`~latmodel.predict.model.LatencyModel` as a predictor folder.

The folder (:mod:`latmodel.predict.artifact`) holds XGBoost's JSON model files and a
``manifest.json`` (:func:`predictor_manifest`); nothing is pickled.  Loading refuses,
with an :class:`~latmodel.errors.ArtifactError`, anything that does not match this
netcut: other features, other stage-2 features, other roofline terms or position
buckets, missing or unloadable model files.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from ..errors import ArtifactError
from ..fileio import first_line
from ..graph.features import FEATURE_COLUMNS
from ..measure.device import library_versions
from .artifact import read_predictor_folder, write_predictor_folder
from .model import LatencyModel
from .prefix_features import POSITION_BUCKETS, STAGE2_FEATURES
from .roofline import ROOFLINE_TERMS, upgrade_coefficients
from .transfer import DeviceCorrection

__all__ = ["STAGE1_FILE", "STAGE1_FILES", "STAGE2_FILE", "predictor_manifest", "save_predictor", "load_predictor"]

STAGE1_FILE = "stage1.json"
#: Model file of each stage-1 booster kind.
STAGE1_FILES = {"plain": STAGE1_FILE, "roofline": "stage1_roofline.json"}
STAGE2_FILE = "stage2.json"


def _jsonable(x):
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    return x


def predictor_manifest(model: LatencyModel) -> dict:
    """The manifest describing the fitted ``model`` (without the file list)."""
    model.check_fitted()
    return _jsonable({
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "feature_names": model.feature_names_,
        "stage2_feature_names": model.stage2_feature_names_,
        "target_transform": {
            "stage1": "log(incontext_ms) - log(roofline prior ms) - offset",
            "stage2": ("log(prefix_ms / cumulative measured stage-1 target ms); applied to cumulative "
                       "stage-1 predictions" if model.stage2_reference == "measured"
                       else "log(prefix_ms / cumulative out-of-fold stage-1 ms)"),
        },
        "hyperparameters": model.get_params(),
        "stage1_boosters": [[kind, STAGE1_FILES[kind]] for kind in model.stage1_kinds_],
        "roofline": model.roofline_,
        "head_roofline": model.head_roofline_,
        "stage1_offset": model.stage1_offset_,
        "has_stage2": model.stage2_ is not None,
        "residual_quantiles": {
            "upper_quantile": float(model.upper_quantile),
            "position_buckets": [list(b) for b in POSITION_BUCKETS],
            "log_ratio": model.residual_quantiles_,
            "source": model.residual_source_,
        },
        "device": model.device_,
        "adapted_from": model.adapted_from_,
        # the "correct" adaptation's per-device factor (latmodel.predict.transfer); null otherwise
        "correction": model.correction_.to_dict() if model.correction_ is not None else None,
        # the versions writing the folder (for a fresh fit: those it was trained with)
        "libraries": library_versions(),
        "training": {
            "rows": model.n_rows_,
            "configs": model.n_configs_,
            "families": model.families_,
            "resolutions_px": list(model.resolutions_),
            "flagged_rows": model.n_flagged_,
            "fit_seconds": round(model.fit_seconds_, 3),
            "tables": model.tables_,
            # features zero in every training row: predicting a network that has them is an extrapolation
            "unseen_features": model.unseen_features_,
            # what the training table spans: predictions outside are flagged (latmodel.predict.ranges)
            "ranges": model.ranges_,
            # the yardstick speed the latencies are at: tables of this device are scaled to it (latmodel.measure.yardstick_scale)
            "yardstick": model.yardstick_,
            # what stage 1 learned per block (latmodel.predict.targets): 'incontext' or 'prefix_increment'
            "stage1_target": model.stage1_target_,
        },
        "baselines": {"flops_linear": model.baseline_flops_, "flops_loglog": model.baseline_flops_loglog_},
        "metrics": model.metrics_,
    })


def save_predictor(model: LatencyModel, path) -> Path:
    """Write the fitted ``model`` to the predictor folder ``path`` atomically (see :mod:`latmodel.predict.artifact`)."""
    model.check_fitted()
    files = {STAGE1_FILES[kind]: bytes(b.save_raw(raw_format="json"))
             for kind, b in zip(model.stage1_kinds_, model.stage1_)}
    if model.stage2_ is not None:
        files[STAGE2_FILE] = bytes(model.stage2_.save_raw(raw_format="json"))
    return write_predictor_folder(Path(path), predictor_manifest(model), files)


def load_predictor(path, *, cls: type[LatencyModel] = LatencyModel) -> LatencyModel:
    """Load the predictor folder ``path``; refuses (ArtifactError) anything that does not match this netcut."""
    import xgboost as xgb

    path = Path(path)
    manifest, files = read_predictor_folder(path)
    fix = f"re-fit it with 'latmodel fit TABLE.csv --out {path}'"
    names = manifest.get("feature_names")
    if names != list(FEATURE_COLUMNS):
        extra = sorted(set(names or []) - set(FEATURE_COLUMNS))
        lacking = sorted(set(FEATURE_COLUMNS) - set(names or []))
        raise ArtifactError(
            f"predictor {str(path)!r} was trained on other features than this netcut computes "
            f"(unknown: {', '.join(extra[:4]) or 'none'}; missing: {', '.join(lacking[:4]) or 'none'}"
            f"{'; same names in another order' if not extra and not lacking else ''}); {fix}")
    if manifest.get("stage2_feature_names") != list(STAGE2_FEATURES):
        raise ArtifactError(f"predictor {str(path)!r} has a prefix model with other features than this "
                            f"netcut computes; {fix}")
    stage1_list = manifest.get("stage1_boosters")
    if (not isinstance(stage1_list, list) or not stage1_list
            or any(not isinstance(e, list) or len(e) != 2 or STAGE1_FILES.get(e[0]) != e[1] for e in stage1_list)):
        raise ArtifactError(f"manifest of predictor {str(path)!r} lists no valid stage-1 boosters "
                            f"(allowed: {', '.join(STAGE1_FILES.values())}); {fix}")
    kinds = [e[0] for e in stage1_list]
    needed = [e[1] for e in stage1_list] + ([STAGE2_FILE] if manifest.get("has_stage2") else [])
    lacking_files = [f for f in needed if f not in files]
    if lacking_files:
        raise ArtifactError(f"predictor {str(path)!r} lacks {', '.join(lacking_files)}; {fix}")
    try:
        model = cls(**dict(manifest["hyperparameters"]))
        model.check_params()
        # a predictor saved before a term was split out prices it as it did (roofline.SPLIT_TERMS)
        roofline, head = (upgrade_coefficients(c) if isinstance(c, dict) else c
                          for c in (manifest["roofline"], manifest["head_roofline"]))
        for coef in (roofline, head):
            if coef is not None and (set(coef) != set(ROOFLINE_TERMS)
                                     or not all(isinstance(v, (int, float)) for v in coef.values())):
                raise ValueError("roofline coefficients do not match this netcut's terms")
        correction = (DeviceCorrection.from_dict(manifest["correction"])
                      if manifest.get("correction") is not None else None)
        rq = manifest["residual_quantiles"]
        if [list(b) for b in POSITION_BUCKETS] != rq["position_buckets"] or \
                len(rq["log_ratio"]) != len(POSITION_BUCKETS):
            raise ValueError("residual quantile buckets differ")
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"manifest of predictor {str(path)!r} is malformed ({exc}); {fix}") from None
    boosters = {}
    for name, raw in files.items():
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw))
        except xgb.core.XGBoostError as exc:
            raise ArtifactError(f"model file {name!r} of {str(path)!r} cannot be loaded ({first_line(exc)}); {fix}") from None
        boosters[name] = booster
    s1 = [boosters[STAGE1_FILES[kind]] for kind in kinds]
    for kind, b in zip(kinds, s1):
        if b.num_features() != len(FEATURE_COLUMNS) or (b.feature_names and list(b.feature_names) != names):
            raise ArtifactError(f"{STAGE1_FILES[kind]} of {str(path)!r} expects {b.num_features()} features, "
                                f"the manifest lists {len(names)}; {fix}")
    if "roofline" in kinds and roofline is None:
        raise ArtifactError(f"manifest of predictor {str(path)!r} has a roofline booster but no roofline; {fix}")
    s2 = boosters.get(STAGE2_FILE)
    if s2 is not None and s2.num_features() != len(STAGE2_FEATURES):
        raise ArtifactError(f"{STAGE2_FILE} of {str(path)!r} expects {s2.num_features()} features, not "
                            f"{len(STAGE2_FEATURES)}; {fix}")
    for b in boosters.values():
        b.set_param({"nthread": int(model.n_jobs)})
    training = manifest.get("training", {})
    baselines = manifest.get("baselines") or {}
    model.set_learned_state(
        stage1=s1,
        stage1_kinds=kinds,
        stage2=s2,
        roofline=roofline,
        head_roofline=head,
        stage1_offset=manifest.get("stage1_offset", 0.0),
        residual_quantiles=rq["log_ratio"],
        residual_source=rq.get("source", ""),
        device=manifest.get("device") or {},
        adapted_from=manifest.get("adapted_from"),
        n_rows=training.get("rows", 0),
        n_configs=training.get("configs", 0),
        families=training.get("families", []),
        resolutions=training.get("resolutions_px", []),
        n_flagged=training.get("flagged_rows", 0),
        fit_seconds=training.get("fit_seconds", 0.0),
        tables=training.get("tables", []),
        baseline_flops=baselines.get("flops_linear"),
        baseline_flops_loglog=baselines.get("flops_loglog"),
        metrics=manifest.get("metrics") or {},
        libraries=manifest.get("libraries") or {},
        correction=correction,
        unseen_features=training.get("unseen_features"),
        ranges=training.get("ranges"),
        yardstick=training.get("yardstick"),
        stage1_target=training.get("stage1_target"),
    )
    return model
