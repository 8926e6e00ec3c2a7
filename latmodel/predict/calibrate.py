"""``latmodel calibrate``: a predictor for this machine from a few measurements.

1. choose ``budget`` configurations of the corpus by the design of :mod:`latmodel.predict.budget`, among those a
   whole pass of which costs at most :data:`MAX_REFERENCE_NETWORK_MS` on the reference table (the default
   budget then measures in about five minutes);
2. measure them here with the window method (:func:`latmodel.measure.profiling.profile`), into
   :func:`calibration_table_path` beside the predictor folder: an interrupted run resumes there;
3. choose the base among the shipped predictors of the current method (not legacy ones) *by measurement*
   (:func:`score_bases`): each is adapted to all but a fold of these measurements and scored on that fold
   (:data:`BASE_FOLDS` folds of configurations); the one that prices the most held-out prefixes within +-10%
   wins, the spread of ``log(measured / predicted)`` before adapting breaking ties;
4. adapt it (:func:`latmodel.predict.evaluation.fit_tables` with ``base``, ``adapt_strategy`` ``method``) and write
   the predictor folder: its manifest records this machine's device record and ``adapted_from`` (the base).

The steps are separate functions so that tests replace the measuring (``measure``) with a fake device.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

from ..errors import NetcutError
from ..records import Record

__all__ = ["DEFAULT_BUDGET", "MIN_BUDGET", "CALIBRATE_WINDOW_S", "CALIBRATE_MIN_ROUNDS", "MAX_REFERENCE_NETWORK_MS", "FIT_SECONDS", "BaseScore",
           "CalibrationResult", "calibration_table_path", "plan_calibration", "score_bases", "calibrate"]

logger = logging.getLogger(__name__)

#: Configurations measured by default: what the adaptation benchmark counts as "<= 20 measurements".
DEFAULT_BUDGET = 20
#: Fewer configurations cannot pin down an adaptation (the "correct" method's terms need two dozen blocks).
MIN_BUDGET = 2
#: Seconds the measuring window lasts (all configurations round-robin in it).
CALIBRATE_WINDOW_S = 165.0
#: Rounds the window runs at least.  With the profiler's default (BurstPolicy.min_rounds, 6) the default budget
#: took ~300 s on the Xeon guest whatever the window (5 min 8 s in all, 2026-12-03), past the 5 minutes
#: calibration promises and past its own estimate; with 3 the window's length bounds it: 207 s of measuring,
#: 3 min 34 s in all, and the EPYC predictor adapted to those 20 measurements put 42.5% of the Xeon table's 2,118
#: other prefixes within +-10% (39.4% from the 6-round measurements).
CALIBRATE_MIN_ROUNDS = 3
#: Configurations whose whole network took longer on the reference table are not chosen: a window of 20
#: such networks would run too few rounds in its time to repeat.
MAX_REFERENCE_NETWORK_MS = 30.0
#: What the time estimate adds for choosing the base and adapting it, seconds.
FIT_SECONDS = 30.0
#: Folds of the measured configurations each candidate base is adapted on and scored against (:func:`score_bases`).
#: Choosing by the spread of the unadapted base's errors instead (before 2026-12-07) picked, on the Xeon 6/207/2,
#: the stepping-8 Xeon's predictor (spread 0.047), which adapted put 59.4% of the machine's 191 other
#: configurations' prefixes within +-10%; adapted-and-held-out scoring picks the stepping-1 Xeon's (67.1%; the
#: EPYC's: 69.2%).
BASE_FOLDS = 4

#: Measures ``configs`` (ProfileConfig) on this machine into the table ``path`` (appending, resuming).
MeasureFn = Callable[[Sequence, Path], None]


@dataclasses.dataclass(frozen=True)
class BaseScore(Record):
    """How well a candidate base predictor's shape fits this machine's measurements."""

    path: str
    device_name: str
    runtime: str
    threads: int
    log_ratio_spread: float  # median |log r - median log r| over the measured prefixes (r = measured / predicted)
    median_ratio: float  # median measured / predicted: the constant factor the adaptation removes
    prefixes: int
    # share (%) of the measured prefixes within +-10% when the base is adapted to the other folds' configurations;
    # None: too few configurations to hold any out, or the adaptation refused them
    cv_within_10_pct: float | None = None


@dataclasses.dataclass(frozen=True)
class CalibrationResult(Record):
    """What ``latmodel calibrate`` did: where the predictor and its measurements are, and which base it adapted."""

    out: str
    table: str
    configs: tuple[str, ...]
    base: str
    method: str
    scores: tuple[BaseScore, ...]
    measure_seconds: float
    fit_seconds: float  # scoring the candidate bases and adapting the chosen one


def calibration_table_path(out) -> Path:
    """Where ``latmodel calibrate --out OUT`` keeps its measurements: ``OUT-calibration.csv`` beside the folder
    (the predictor folder itself is replaced atomically when written)."""
    out = Path(out)
    return out.with_name(out.name + "-calibration.csv")


def plan_calibration(budget: int, *, features_table=None):
    """The :class:`~latmodel.predict.budget.BudgetPlan` of ``budget`` configurations, chosen among the default
    corpus's configurations no slower than :data:`MAX_REFERENCE_NETWORK_MS` on the reference table."""
    from .budget import DEFAULT_FEATURES_TABLE, plan_budget
    from ..measure.corpus import get_corpus
    from ..measure.table import read_table

    path = Path(features_table) if features_table is not None else DEFAULT_FEATURES_TABLE
    corpus = get_corpus("default")
    if path.is_file():
        ref = read_table(path, required=("model", "resolution_px", "width", "network_ms"))
        fast = {(str(m), int(r), round(float(w), 6)) for m, r, w, ms in
                ref[["model", "resolution_px", "width", "network_ms"]].itertuples(index=False)
                if float(ms) <= MAX_REFERENCE_NETWORK_MS}
        corpus = [c for c in corpus if (c.model, c.resolution_px, round(c.width, 6)) in fast]
    if not MIN_BUDGET <= budget <= len(corpus):
        raise NetcutError(f"--budget must be between {MIN_BUDGET} and {len(corpus)} (the corpus configurations fast "
                          f"enough to calibrate with), got {budget}")
    return plan_budget(budget, corpus, features_table=path)


def _held_out_share(model, df, method: str | None) -> float | None:
    """Share (%) of ``df``'s prefixes within +-10% when ``model`` is adapted to the other folds' configurations."""
    import numpy as np

    from ..errors import TableError
    from .model import LatencyModel

    ids = list(dict.fromkeys(df["config_id"]))
    k = min(BASE_FOLDS, len(ids))
    if k < 2:
        return None
    params = {**model.get_params(), **({"adapt_strategy": method} if method else {})}
    hits = []
    for i in range(k):
        held = df["config_id"].isin(ids[i::k]).to_numpy()
        try:
            adapted = LatencyModel(**params).fit(df[~held], init_model=model)
        except TableError:  # too few rows for the method: no held-out score
            return None
        test = df[held]
        meas = test["prefix_ms"].to_numpy(float)
        ok = np.isfinite(meas) & (meas > 0)
        pred = np.asarray(adapted.predict_table(test)[1])
        hits.append(np.abs(pred[ok] / meas[ok] - 1.0) <= 0.10)
    return round(float(np.concatenate(hits).mean() * 100.0), 2) if hits else None


def score_bases(table, candidates: Sequence[Path], *, method: str | None = None) -> list[BaseScore]:
    """Score every loadable predictor folder of ``candidates`` on the measured ``table`` (best first).

    Best: the most held-out prefixes within +-10% after adapting (``method``; default each base's own strategy)
    to the other :data:`BASE_FOLDS` folds of configurations; then the smallest spread of the unadapted errors.
    A folder whose features differ from this netcut's (another version) is skipped with a warning."""
    import numpy as np

    from ..errors import ArtifactError
    from .model import LatencyModel
    from .predictor_io import load_predictor

    df = LatencyModel.validate_table(table)  # sorted, ``flagged`` filled: as the adaptations below read it
    meas = df["prefix_ms"].to_numpy(float)
    ok = np.isfinite(meas) & (meas > 0)
    scores = []
    for folder in candidates:
        try:
            model = load_predictor(folder)
        except ArtifactError as exc:
            logger.warning("not a base for calibration: %s", exc)
            continue
        _, prefix, _ = model.predict_table(df)
        r = np.log(meas[ok] / np.asarray(prefix)[ok])
        centre = float(np.median(r))
        dev = dict(model.device_ or {})
        scores.append(BaseScore(path=str(folder), device_name=str(dev.get("device_name", "?")),
                                runtime=str(dev.get("runtime") or "torch"), threads=int(dev.get("threads") or 1),
                                log_ratio_spread=round(float(np.median(np.abs(r - centre))), 5),
                                median_ratio=round(math.exp(centre), 4), prefixes=int(ok.sum()),
                                cv_within_10_pct=_held_out_share(model, df, method)))
    return sorted(scores, key=lambda s: (-(s.cv_within_10_pct if s.cv_within_10_pct is not None else -1.0),
                                         s.log_ratio_spread))


def _profile_here(runtime: str, threads: int, pin_cpu, window_s: float, progress: bool, estimate) -> MeasureFn:
    def measure(configs, path: Path) -> None:
        from ..measure.profiling import profile

        summary = profile(None, path, corpus=list(configs), threads=threads, runtime=runtime, pin_cpu=pin_cpu,
                          progress=progress, per_window=len(configs), window_s=window_s,
                          min_rounds=CALIBRATE_MIN_ROUNDS, estimate=estimate)
        failed = [o for o in summary.outcomes if o.status == "failed"]
        if failed:
            raise NetcutError(f"{len(failed)} of {len(configs)} calibration configurations failed to measure "
                              f"(first: {failed[0].config_id}: {failed[0].reason}); run the same command again "
                              "to retry them")

    return measure


def _refeature_stale(table: Path) -> None:
    """Measurements an interrupted or older calibration left in ``table`` keep: when an older netcut wrote them
    (feature columns missing), their features are recomputed in place before the run resumes into it."""
    import pandas as pd

    from ..graph.features import FEATURE_COLUMNS
    from ..measure.table import refresh_features

    if not table.is_file():
        return
    try:
        header = list(pd.read_csv(table, nrows=0).columns)
    except (OSError, ValueError):
        return  # the profile's resume says what is wrong with it
    missing = [c for c in FEATURE_COLUMNS if c not in header]
    if missing:
        logger.warning("%s was measured by an older netcut (missing %s): recomputing its features, keeping its "
                       "timings", table, ", ".join(missing[:3]))
        refresh_features(table, table, progress=False)


def calibrate(out, *, budget: int = DEFAULT_BUDGET, runtime: str = "torch", threads: int = 1, base=None,
              method: str | None = None, pin_cpu=None, window_s: float = CALIBRATE_WINDOW_S, progress: bool = True,
              estimate=None, measure: MeasureFn | None = None, bases: Sequence[Path] | None = None
              ) -> CalibrationResult:
    """Measure ``budget`` configurations here and adapt the best-fitting predictor to them; write it to ``out``.

    ``base``: a predictor folder to adapt (default: the best of ``bases``, by default the shipped ones, by
    :func:`score_bases`).  ``method``: an adaptation strategy (:data:`latmodel.predict.model.ADAPT_STRATEGIES`; default:
    the base's).  ``estimate(seconds, n_configs, n_windows)`` is called before measuring, as by ``profile``.
    Everything is checked before anything is measured or written.
    """
    from .artifact import MANIFEST_NAME, is_predictor_folder
    from .evaluation import fit_tables
    from .model import ADAPT_STRATEGIES
    from .predictor_io import load_predictor
    from ..measure.device import is_legacy
    from ..measure.runtimes import require_runtime
    from .shipped import shipped_predictors
    from ..measure.table import read_table

    out = Path(out)
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise NetcutError(f"--budget must be an integer, got {budget!r}")
    if not out.parent.is_dir():
        raise NetcutError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p {out.parent})")
    if out.exists() and not (out.is_dir() and is_predictor_folder(out)):
        raise NetcutError(f"--out {str(out)!r} exists and is not a netcut predictor folder; choose another --out")
    if method is not None and method not in ADAPT_STRATEGIES:
        raise NetcutError(f"--method must be one of {', '.join(ADAPT_STRATEGIES)}, got {method!r}")
    if base is not None:
        load_predictor(base)  # ArtifactError (one line) for a folder of another schema or feature set
        bases = [Path(base)]
    elif bases is None:
        # Legacy predictors (device record without an ISA: the old per-configuration method, no transformer-style
        # configurations) are bases only when named with --base: on the AMD EPYC AVX-512 (2026-12-05) the legacy
        # one of that very CPU fitted 20 calibration measurements best and then put 0-6% of held-out convnext /
        # swin / vit prefixes within +-10%, the full-corpus Xeon one 59-85% (data/calibration/README.md).
        bases = [folder for folder, dev in shipped_predictors() if not is_legacy(dev)]
    if not bases:
        raise NetcutError("no predictor to adapt: no shipped predictor was found; pass --base FOLDER")
    if measure is None:
        require_runtime(runtime)
    plan = plan_calibration(budget)
    table = calibration_table_path(out)

    _refeature_stale(table)
    t0 = time.perf_counter()
    (measure or _profile_here(runtime, threads, pin_cpu, window_s, progress, estimate))(plan.configs, table)
    measure_seconds = time.perf_counter() - t0
    df = read_table(table)
    t1 = time.perf_counter()
    scores = score_bases(df, bases, method=method)
    if not scores:
        raise NetcutError("none of the predictors to adapt loads with this netcut; pass --base FOLDER")
    chosen = scores[0]
    logger.info("adapting %s (spread of log ratio %.3f; factor %.2f)", chosen.path, chosen.log_ratio_spread,
                chosen.median_ratio)
    fit_tables([table], out, base=chosen.path, cv=False, params={"adapt_strategy": method} if method else None)
    # the strategy the fit used, from the manifest it wrote (not a third load of the base's boosters)
    used = str(json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))["adapted_from"]["method"])
    result = CalibrationResult(out=str(out), table=str(table), configs=tuple(sorted(df["config_id"].astype(str).unique())),
                               base=chosen.path, method=used, scores=tuple(scores), measure_seconds=measure_seconds,
                               fit_seconds=time.perf_counter() - t1)
    from ..fileio import atomic_write_text

    atomic_write_text(table.with_suffix(".json"), json.dumps(result.to_dict(), indent=2) + "\n")
    return result
