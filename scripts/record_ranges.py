"""Record a predictor's training ranges (latmodel.predict.ranges) in its manifest, from the very table it was fitted on.

    python scripts/record_ranges.py data/predictors/cpu-1thread [more predictor folders]

For predictors fitted before ranges were recorded: the ranges are a function of the training table
alone, so they are computed from the tables the manifest lists, each checked against the sha256 the
manifest recorded (a table changed since the fit is refused).  The boosters are not touched.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def record(folder: Path) -> dict:
    from latmodel.predict.artifact import MANIFEST_NAME, sha256_file
    from latmodel.errors import ArtifactError
    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.predict.model import LatencyModel
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.predict.ranges import fitted_ranges
    from latmodel.measure.table import read_tables

    manifest_path = folder / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    tables = manifest["training"]["tables"]
    for t in tables:
        path = ROOT / t["path"]
        if sha256_file(path) != t["sha256"]:
            raise ArtifactError(f"{path} changed since {folder} was fitted; refit instead")
    df = LatencyModel.validate_table(read_tables([ROOT / t["path"] for t in tables]))
    manifest["training"]["ranges"] = fitted_ranges(df, FEATURE_COLUMNS)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    load_predictor(folder)  # still loads
    return manifest["training"]["ranges"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictors", nargs="+")
    args = ap.parse_args(argv)
    for p in args.predictors:
        r = record(Path(p))
        print(f"{p}: resolution {r['config'].get('resolution_px')}, {len(r['features'])} feature ranges recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
