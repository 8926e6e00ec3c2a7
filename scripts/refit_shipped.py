"""Refit predictor folders on the tables and hyperparameters their own manifests name.

    python scripts/refit_shipped.py data/predictors/*          # every shipped predictor
    python scripts/refit_shipped.py data/predictors/cpu-1thread --dry-run

After the feature set changes (a column added, a counting fix: ``latmodel refeature`` every table first,
then ``python -m latmodel.graph.atlas_build``), the shipped predictors no longer load; each is refitted
here as ``latmodel fit`` fitted it: the tables listed in ``training.tables`` (in that order, paths relative
to the repository), the stored hyperparameters unchanged, leave-one-family-out cross-validation stored in
the manifest (run it from the repository root: the manifest records the table paths as given).  The manifest is read as JSON only (its boosters are not loaded, so a folder of the old
feature set can be refitted).  Adapted predictors are refused: refit their base, then adapt again with
``latmodel fit --base``.  Prints each folder's leave-one-family-out share of prefixes / whole networks
within +-10%.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def refit_plan(folder: Path) -> tuple[list[Path], dict]:
    """(tables, hyperparameters) of the predictor folder ``folder``, from its manifest."""
    from latmodel.errors import ArtifactError
    from latmodel.predict.artifact import MANIFEST_NAME

    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        tables = [ROOT / t["path"] for t in manifest["training"]["tables"]]
        params = dict(manifest["hyperparameters"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{str(folder)!r} is not a predictor folder with its training tables listed ({exc})") from None
    if manifest.get("adapted_from"):
        raise ArtifactError(f"{str(folder)!r} is adapted from another predictor; refit its base and adapt again "
                            "with 'latmodel fit --base BASE NEW.csv'")
    if not tables:
        raise ArtifactError(f"{str(folder)!r} lists no training tables; refit it by hand with 'latmodel fit'")
    missing = [str(t) for t in tables if not t.is_file()]
    if missing:
        raise ArtifactError(f"{str(folder)!r} was fitted on {', '.join(missing)}, not found")
    return tables, params


def main(argv=None) -> int:
    from latmodel.errors import NetcutError
    from latmodel.predict.evaluation import fit_tables

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--dry-run", action="store_true", help="print each folder's tables and hyperparameters only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        plans = [(folder, *refit_plan(folder)) for folder in args.folders]
    except NetcutError as exc:
        print(f"refit_shipped: {exc}", file=sys.stderr)
        return 2
    for folder, tables, params in plans:
        rel = [str(t.relative_to(ROOT)) if t.is_relative_to(ROOT) else str(t) for t in tables]
        if args.dry_run:
            print(f"{folder}: {' '.join(rel)} {json.dumps(params, sort_keys=True)}")
            continue
        t0 = time.perf_counter()
        # paths as `latmodel fit` run from here records them (from the repository root: data/calibration/...)
        report = fit_tables([os.path.relpath(t) for t in tables], folder, params=params)
        cv = report.cross_validation
        ours = cv.levels["ours"] if cv is not None else None
        score = (f"leave-one-family-out prefixes {ours['prefix'].within_10_pct:.1f}%, whole networks "
                 f"{ours['network'].within_10_pct:.1f}% within +-10%" if ours else "no cross-validation")
        print(f"{folder}: refitted on {len(tables)} table(s) in {time.perf_counter() - t0:.0f} s; {score}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
