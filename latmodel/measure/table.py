"""The measurement table: schema, reading with validation, atomic appends.

One CSV row per measured block.  A *configuration* (``config_id``) is one network
at one resolution, width, batch size, thread count and device; all its rows share
the configuration's columns, the device record and the whole-network timing.

Columns (every one documented in :data:`TABLE_DOCS`):

* identity and device record: :data:`CONFIG_COLUMNS`
* block identity: ``block_index``, ``n_blocks``, ``block_name``
* features: :data:`latmodel.graph.features.FEATURE_COLUMNS`
* timings: :data:`TIMING_COLUMNS` (milliseconds; the ``*_ms`` reference columns are
  round-model latencies from interleaved rounds, medians kept beside them; schema 1 tables, whose
  reference was the median, are upgraded on reading)
* the runtime the latencies are for (``runtime``, ``runtime_version``; schema 1 and 2 tables,
  measured before runtimes, are read as eager ``torch``)
* reliability: ``flagged`` (0/1) and ``flag_reason``
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import TableError
from ..fileio import atomic_write_text, first_line, sanitize_cell
from ..graph.features import COLUMN_DOCS, FEATURE_COLUMNS

__all__ = [
    "TABLE_SCHEMA_VERSION",
    "CONFIG_COLUMNS",
    "BLOCK_COLUMNS",
    "TIMING_COLUMNS",
    "FLAG_COLUMNS",
    "TABLE_COLUMNS",
    "TABLE_DOCS",
    "REQUIRED_FOR_FIT",
    "read_table",
    "read_tables",
    "write_table",
    "append_rows",
    "config_ids",
    "refresh_features",
]

logger = logging.getLogger(__name__)

TABLE_SCHEMA_VERSION = 5

_CONFIG_DOCS = {
    "schema_version": f"measurement table schema version (this code writes {TABLE_SCHEMA_VERSION})",
    "config_id": "unique key of the measured configuration: model@resolution@width@batch@threads@device_id",
    "model": "network name (registry name, package.module:factory, random:SEED or random2:SEED)",
    "family": "architecture family, used for leave-one-family-out validation",
    "resolution_px": "square input resolution, pixels",
    "width": "width multiplier the network was built with",
    "threads": "torch intra-op threads during measurement",
    "device_kind": "'cpu' or 'cuda'",
    "device_name": "CPU model name or GPU name",
    "device_id": ("short hash of the device record (device_name, CPU vendor, family/model/stepping and ISA, cores, "
                  "threads, backend, torch and runtime versions)"),
    "cpu_count": "logical cores of the measuring machine",
    "torch_version": "torch version that measured",
    "runtime": ("inference runtime the latencies are for: 'torch' (eager PyTorch), 'onnxruntime' or 'openvino' "
                "(latmodel.measure.runtimes; schema 1 and 2 tables are read as 'torch')"),
    "runtime_version": "version of that runtime (for 'torch' the torch version)",
    "measured_at": "UTC time the configuration was measured (ISO 8601)",
    "cpu_vendor": "CPU vendor (/proc/cpuinfo vendor_id; empty in schema 1-3 tables)",
    "cpu_model_id": "CPU family/model/stepping (/proc/cpuinfo; empty in schema 1-3 tables)",
    "cpu_isa": ("widest vector ISA of the CPU: avx512, avx2, avx, sse4, sve, neon (empty in schema 1-3 tables, "
                "whose device ids are kept as written: legacy)"),
}
_BLOCK_DOCS = {
    "block_index": "position of the block in the chain, from 0",
    "n_blocks": "number of feature blocks in the network's chain",
    "block_name": "module path(s) the block covers",
}
_TIMING_DOCS = {
    "incontext_ms": ("reference latency of the block inside a forward pass of the whole chain: the table's "
                     "statistic (see 'Which statistic' in docs/TABLE.md); for a runtime with a node profiler "
                     "(ONNX Runtime, tables from 2026-12-06) the block's share of the deployed graph's profiled "
                     "node time times the whole graph's prefix_ms (docs/TABLE.md, 'Runtimes')"),
    "incontext_median_ms": "median over the samples of the in-context latency (diagnostic)",
    "incontext_cv": "coefficient of variation (std / mean) of the in-context latency over the rounds",
    "alone_ms": ("reference latency of the block run alone on its own input (warm caches): a lookup-table entry; "
                 "empty where the runtime's node profiler gave the in-context latencies (blocks not timed alone)"),
    "alone_median_ms": "median over the rounds of the block's latency alone (diagnostic)",
    "prefix_ms": ("reference latency of blocks 0..block_index run alone as a network: what a TRN cut here costs "
                  "(the predictor's ground truth)"),
    "prefix_median_ms": "median over the rounds of the prefix latency (diagnostic)",
    "prefix_p90_ms": "90th percentile over the rounds of the prefix latency (a tail for safety margins)",
    "prefix_cv": "coefficient of variation of the prefix latency over the rounds",
    "network_ms": ("reference latency of the whole chain (all feature blocks, run one after another) measured in the "
                   "same rounds; for runtimes that run exported graphs the whole graph (the last prefix_ms) where "
                   "the runtime has a node profiler, else one session per block chained (ONNX Runtime tables before "
                   "2026-12-06: a median 1.2x the one graph), so the deployed whole network is the last prefix_ms "
                   "(latmodel.predict.evaluation.deployed_network_ms)"),
    "network_median_ms": "median over the rounds of the whole-chain latency (diagnostic)",
    "network_cv": "coefficient of variation of the whole-chain latency over the rounds",
    "rounds": "number of interleaved measurement rounds (each round times every quantity of the configuration once)",
    "samples": "timed samples of each quantity of the configuration (rounds x timed passes per burst)",
    "method": ("how the reference columns were measured: 'window-settled-min' (warm bursts interleaved across the "
               "configurations of a window, each burst settled before its timed passes, minimum; 'window-settled-pQ' for "
               "the Q-th percentile), 'window-min' (the same with one untimed pass a burst, tables measured before "
               "2026-12-05 09:00 UTC) or 'round-model' (schema 1-3, per-configuration rounds)"),
    "window_s": "length of the measuring window the configuration shared with the others of its group, seconds",
    "window_configs": "configurations timed round-robin in that window",
    "placements": ("independent copies of the configuration timed in the window (weights, inputs, sessions "
                   "allocated anew); the reference columns take all copies' samples (schema 1-4: 1)"),
    "yardstick": ("the yardstick workload timed in every round of the window (latmodel.measure.bursts.YARDSTICK_NAME; "
                  "schema 4: 'gemm192x4', a small matrix product); empty for round-model rows"),
    "yardstick_ms": ("the yardstick's statistic in the same window: the machine's speed then; "
                     "latmodel.measure.yardstick_scale divides it out to put windows of different times on one scale"),
    "yardstick_tracks": ("how much of the yardstick's change the networks follow, fitted on two passes "
                         "(scripts/calibration_stability.py --mark-yardstick): rows are scaled by (reference / "
                         "yardstick_ms) to this power; 0: used as measured; empty or 1: scaled fully"),
}
_FLAG_DOCS = {
    "flagged": "1 if the measurement looked unreliable (see flag_reason), else 0",
    "flag_reason": "why the row was flagged: high spread, drift between repeats, competing load; empty if not",
}

CONFIG_COLUMNS: tuple[str, ...] = tuple(_CONFIG_DOCS)
BLOCK_COLUMNS: tuple[str, ...] = tuple(_BLOCK_DOCS)
TIMING_COLUMNS: tuple[str, ...] = tuple(_TIMING_DOCS)
FLAG_COLUMNS: tuple[str, ...] = tuple(_FLAG_DOCS)
TABLE_COLUMNS: tuple[str, ...] = CONFIG_COLUMNS + BLOCK_COLUMNS + FEATURE_COLUMNS + TIMING_COLUMNS + FLAG_COLUMNS
TABLE_DOCS: dict[str, str] = {**_CONFIG_DOCS, **_BLOCK_DOCS, **COLUMN_DOCS, **_TIMING_DOCS, **_FLAG_DOCS}

#: What ``latmodel fit`` needs; the other timing columns are optional.
REQUIRED_FOR_FIT: tuple[str, ...] = (
    ("config_id", "model", "family", "resolution_px", "block_index") + FEATURE_COLUMNS + ("incontext_ms",)
)
_STRING_COLUMNS = {"config_id", "model", "family", "device_kind", "device_name", "device_id", "torch_version",
                   "runtime", "runtime_version", "measured_at", "block_name", "flag_reason", "cpu_vendor",
                   "cpu_model_id", "cpu_isa", "method", "yardstick"}
_POSITIVE_COLUMNS = ("incontext_ms", "prefix_ms", "network_ms", "alone_ms")
MAX_TABLE_BYTES = 512 * 1024 * 1024



def read_table(path, *, required: Sequence[str] = REQUIRED_FOR_FIT):
    """Read and validate one measurement table; returns a pandas DataFrame.

    Raises :class:`TableError` with one clear line for a missing file, an empty
    table, missing columns, a newer schema version, non-numeric features, or
    NaN / non-positive latencies in required timing columns.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TableError(f"measurement table {str(path)!r} does not exist; create one with 'latmodel profile --out {path}'")
    size = path.stat().st_size
    if size == 0:
        raise TableError(f"measurement table {str(path)!r} is empty; measure something with 'latmodel profile'")
    if size > MAX_TABLE_BYTES:
        raise TableError(f"measurement table {str(path)!r} is {size} bytes, over the {MAX_TABLE_BYTES} byte limit")
    try:
        df = pd.read_csv(path, dtype={c: "string" for c in _STRING_COLUMNS}, keep_default_na=True,
                         encoding="utf-8", on_bad_lines="error")
    except UnicodeDecodeError:
        raise TableError(f"measurement table {str(path)!r} is not UTF-8 text; expected a CSV written by 'latmodel profile'") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise TableError(f"measurement table {str(path)!r} is not a valid CSV: {first_line(exc)}") from None
    if df.empty:
        raise TableError(f"measurement table {str(path)!r} has a header but no rows; measure something with 'latmodel profile'")
    df = _upgrade_method(_upgrade_runtime(_upgrade_v1(df)))
    missing = [c for c in required if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise TableError(
            f"measurement table {str(path)!r} lacks required column(s) {shown}; "
            "it must be written by 'latmodel profile' (schema in docs/TABLE.md); if only feature columns "
            "are missing (an older netcut), add them with 'latmodel refeature TABLE --out NEW.csv'"
        )
    if "schema_version" in df.columns:
        versions = pd.to_numeric(df["schema_version"], errors="coerce")
        if versions.isna().any() or (versions > TABLE_SCHEMA_VERSION).any() or (versions < 1).any():
            # str() of each value: a missing one (NaN) is named too, where astype(str) may keep it a float
            bad = sorted({str(v) for v in df["schema_version"]} - {str(TABLE_SCHEMA_VERSION)})
            raise TableError(
                f"measurement table {str(path)!r} has schema version(s) {', '.join(bad)}; this netcut reads "
                f"version {TABLE_SCHEMA_VERSION}; upgrade netcut or re-measure with 'latmodel profile'"
            )
    numeric = [c for c in required if c not in _STRING_COLUMNS]
    for col in numeric:
        converted = pd.to_numeric(df[col], errors="coerce")
        bad = converted.isna() | ~converted.map(lambda v: math.isfinite(v) if v == v else False)
        if bad.any():
            row = int(bad.idxmax()) + 2  # header is line 1
            raise TableError(
                f"measurement table {str(path)!r} has a missing or non-numeric value in column {col!r} "
                f"(line {row}: {df[col].iloc[int(bad.idxmax())]!r}); re-measure or remove that row"
            )
        df[col] = converted
    for col in _POSITIVE_COLUMNS:
        if col in df.columns and (col in required or df[col].notna().any()):
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.isna() | (values <= 0) if col in required else (values <= 0)
            if bad.any():
                row = int(bad.idxmax()) + 2
                raise TableError(
                    f"measurement table {str(path)!r} has a NaN or non-positive latency in {col!r} "
                    f"(line {row}: {df[col].iloc[int(bad.idxmax())]!r}); latencies must be > 0 ms"
                )
            df[col] = values
    return df


_V1_REFERENCE = ("incontext", "alone", "prefix", "network")


def _upgrade_v1(df):
    """Schema 1 tables had medians as their reference columns (``X_median_ms``, no ``X_ms``).

    Their medians become the reference (``X_ms``) and stay as ``X_median_ms``; rows keep
    ``schema_version`` 1 so the origin stays visible.  Schema 1 was written by sequential
    loops (prefix after prefix) whose medians drift with the machine's load; re-measure
    for reference quality.
    """
    if "schema_version" not in df.columns:
        return df
    import pandas as pd

    versions = pd.to_numeric(df["schema_version"], errors="coerce")
    if not (versions == 1).any():
        return df
    for kind in _V1_REFERENCE:
        old, new = f"{kind}_median_ms", f"{kind}_ms"
        if old in df.columns and new not in df.columns:
            df[new] = df[old]
    return df


def _upgrade_runtime(df):
    """Tables from before runtimes (schema 1 and 2) measured eager PyTorch: ``runtime`` 'torch', its version
    the torch version.  Rows keep their ``schema_version``."""
    if "runtime" not in df.columns:
        df["runtime"] = "torch"
    missing = df["runtime"].isna()
    if missing.any():
        df.loc[missing, "runtime"] = "torch"
    if "runtime_version" not in df.columns:
        df["runtime_version"] = df["torch_version"] if "torch_version" in df.columns else ""
    df["runtime"] = df["runtime"].astype("string")
    df["runtime_version"] = df["runtime_version"].astype("string")
    return df


def _upgrade_method(df):
    """Tables from before warm windows (schema 1-3) were measured per configuration in rounds: ``method``
    'round-model', one sample of each quantity per round.  Their CPU columns stay empty (legacy device ids).
    Tables from before placements (schema 1-4) timed one copy of each configuration; schema 4 windows timed a
    small GEMM as their yardstick (:data:`latmodel.measure.bursts.LEGACY_YARDSTICK`)."""
    if "method" not in df.columns:
        df["method"] = "round-model"
    df["method"] = df["method"].astype("string").fillna("round-model")
    if "samples" not in df.columns and "rounds" in df.columns:
        df["samples"] = df["rounds"]
    if "placements" not in df.columns:
        df["placements"] = 1
    if "yardstick" not in df.columns:
        from .bursts import LEGACY_YARDSTICK

        timed = df["yardstick_ms"].notna() if "yardstick_ms" in df.columns else None
        df["yardstick"] = "" if timed is None else timed.map({True: LEGACY_YARDSTICK, False: ""})
    df["yardstick"] = df["yardstick"].astype("string").fillna("")
    return df


def read_tables(paths: Iterable, **kwargs):
    """Read several tables and concatenate them (each validated on its own)."""
    import pandas as pd

    paths = list(paths)
    if not paths:
        raise TableError("no measurement table given; pass at least one CSV written by 'latmodel profile'")
    frames = [read_table(p, **kwargs) for p in paths]
    return pd.concat(frames, ignore_index=True)



def write_table(path, df) -> None:
    """Write ``df`` atomically (temporary file in the same folder, then rename)."""
    import pandas as pd

    path = Path(path)
    if not path.parent.exists():
        raise TableError(f"output folder {str(path.parent)!r} does not exist; create it first")
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].map(sanitize_cell)
    atomic_write_text(path, df.to_csv(index=False))


def append_rows(path, rows: Sequence[dict]) -> None:
    """Append rows (dicts keyed by :data:`TABLE_COLUMNS`) to the table at ``path`` atomically.

    The whole table is rewritten to a temporary file and renamed over the old one,
    so a process killed mid-write leaves either the old or the new table.
    """
    import pandas as pd

    path = Path(path)
    new = pd.DataFrame(list(rows), columns=list(TABLE_COLUMNS))
    if path.exists() and path.stat().st_size > 0:
        old = read_table(path, required=("config_id",))
        if "schema_version" in old.columns and (pd.to_numeric(old["schema_version"], errors="coerce")
                                                != TABLE_SCHEMA_VERSION).any():
            raise TableError(
                f"measurement table {str(path)!r} was written with an older schema (docs/TABLE.md); new rows "
                f"(schema {TABLE_SCHEMA_VERSION}) cannot be appended to it; write to a new file with --out")
        new = pd.concat([old, new], ignore_index=True)
    write_table(path, new)


def config_ids(path) -> set[str]:
    """Configurations already in the table at ``path`` (empty if it does not exist)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return set()
    return set(read_table(path, required=("config_id",))["config_id"].astype(str))


def refresh_features(path, out, *, progress: bool = True) -> int:
    """Recompute every configuration's feature columns of the table at ``path``; write it to ``out``.

    For tables measured before the feature set changed (a predictor refuses features it
    was not trained with, and ``latmodel fit`` needs every current column).  Timings and
    flags are kept, columns this schema does not know are dropped; each (model,
    resolution, width, batch size) is rebuilt and featurised once.  Returns the number
    of configurations refreshed.
    """
    import pandas as pd

    from ..graph.features import FEATURE_COLUMNS
    from ..graph.netfeatures import network_features
    from ..errors import NetcutError

    out = Path(out)
    if not out.parent.exists():
        raise TableError(f"output folder {str(out.parent)!r} does not exist; create it first")
    df = read_table(path, required=("config_id", "model", "resolution_px", "block_index"))
    df = df.copy()
    for col in FEATURE_COLUMNS:
        if col not in df.columns:
            df[col] = math.nan
    keys = ["model", "resolution_px", "width", "batch_size"]
    for col, default in (("width", 1.0), ("batch_size", 1)):
        if col not in df.columns:
            df[col] = default
    groups = list(df.groupby(keys, sort=False).groups.items())
    from tqdm import tqdm

    for (model, res, width, batch), index in tqdm(groups, desc="features", unit="config", disable=not progress):
        try:
            rows = network_features(str(model), int(res), width=float(width), batch_size=int(batch))
        except NetcutError as exc:
            raise TableError(f"cannot rebuild {model!r} at {res} px to recompute its features: {exc}") from None
        part = df.loc[index].sort_values("block_index")
        if len(rows) != len(part) or list(part["block_index"]) != list(range(len(rows))):
            raise TableError(f"{model!r} at {res} px now splits into {len(rows)} blocks but the table has "
                             f"{len(part)} rows for it; re-measure it with 'latmodel profile'")
        values = pd.DataFrame([{c: r[c] for c in FEATURE_COLUMNS} for r in rows], index=part.index)
        df.loc[part.index, list(FEATURE_COLUMNS)] = values
    # Only this schema's columns: a feature an older netcut computed and this one does not is dropped.
    write_table(out, df[[c for c in TABLE_COLUMNS if c in df.columns]])
    return len(groups)
