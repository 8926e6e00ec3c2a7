"""The predictor folder: XGBoost's own JSON model files plus ``manifest.json``.

Layout::

    predictor/
      manifest.json      schema version, feature names, device record, metrics, ...
      stage1.json        XGBoost Booster.save_model (JSON): block features -> log(ms)
      stage2.json        XGBoost Booster.save_model (JSON): prefix correction (optional)

Every file the manifest lists carries its size and sha256; :func:`read_predictor_folder`
checks them, and checks each model file parses as an XGBoost JSON model *before*
XGBoost sees it, so a truncated file or a pickle renamed to ``stage1.json`` is
refused with an :class:`ArtifactError` and never executed (nothing here unpickles).

:func:`write_predictor_folder` writes into a temporary folder next to the
destination and renames it into place, so a failure leaves no half-written
predictor; it refuses to replace a folder that is not a predictor.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..errors import ArtifactError
from ..fileio import atomic_dir

__all__ = [
    "PREDICTOR_SCHEMA_VERSION",
    "PREDICTOR_KIND",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "MAX_MODEL_BYTES",
    "sha256_bytes",
    "sha256_file",
    "write_predictor_folder",
    "read_predictor_folder",
    "is_predictor_folder",
    "check_xgboost_json",
]

logger = logging.getLogger(__name__)

PREDICTOR_SCHEMA_VERSION = 1
PREDICTOR_KIND = "netcut-latency-predictor"
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_MODEL_BYTES = 256 * 1024 * 1024
_ALLOWED_SUFFIXES = (".json",)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_predictor_folder(path) -> bool:
    """True when ``path`` is a folder whose manifest says it is a netcut predictor."""
    manifest = Path(path) / MANIFEST_NAME
    if not manifest.is_file() or manifest.stat().st_size > MAX_MANIFEST_BYTES:
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("kind") == PREDICTOR_KIND


def check_xgboost_json(name: str, raw: bytes) -> None:
    """Refuse anything that is not an XGBoost JSON model (pickles, truncated or corrupt files)."""
    if raw[:1] != b"{":
        raise ArtifactError(
            f"model file {name!r} is not an XGBoost JSON model (starts with {raw[:8]!r}); it may be a pickle or "
            "another format, which is never loaded; re-create the predictor with 'latmodel fit'"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"model file {name!r} is corrupt or truncated ({type(exc).__name__} at byte "
            f"{getattr(exc, 'pos', '?')}); re-create the predictor with 'latmodel fit'"
        ) from None
    if not isinstance(data, dict) or "learner" not in data or "version" not in data:
        raise ArtifactError(
            f"model file {name!r} is JSON but not an XGBoost model (no 'learner'/'version'); "
            "re-create the predictor with 'latmodel fit'"
        )


def write_predictor_folder(out, manifest: dict, files: dict[str, bytes]) -> Path:
    """Write ``manifest`` (plus size and sha256 of ``files``) and ``files`` into folder ``out`` atomically."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ArtifactError(f"output folder {str(parent)!r} does not exist; create it first (mkdir -p {parent})")
    if out.exists() and not (out.is_dir() and is_predictor_folder(out)):
        raise ArtifactError(
            f"refusing to overwrite {str(out)!r}: it exists and is not a netcut predictor folder; "
            "choose another --out or remove it yourself"
        )
    for name in files:
        if "/" in name or name.startswith(".") or not name.endswith(_ALLOWED_SUFFIXES) or name == MANIFEST_NAME:
            raise ValueError(f"bad model file name {name!r}")
    manifest = dict(manifest)
    manifest["kind"] = PREDICTOR_KIND
    manifest["schema_version"] = PREDICTOR_SCHEMA_VERSION
    manifest["files"] = {name: {"bytes": len(raw), "sha256": sha256_bytes(raw)} for name, raw in files.items()}
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    with atomic_dir(out) as tmp:
        for name, raw in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
        with open(tmp / MANIFEST_NAME, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return out


def read_predictor_folder(path, *, expected_schema: int = PREDICTOR_SCHEMA_VERSION) -> tuple[dict, dict[str, bytes]]:
    """Read and validate a predictor folder; returns (manifest, {file name: bytes})."""
    path = Path(path)
    fix = "re-create it with 'latmodel fit TABLE.csv --out " + str(path) + "'"
    if not path.is_dir():
        raise ArtifactError(f"predictor folder {str(path)!r} does not exist or is not a folder; {fix}")
    mpath = path / MANIFEST_NAME
    if not mpath.is_file():
        raise ArtifactError(f"{str(path)!r} has no {MANIFEST_NAME}; it is not a netcut predictor folder; {fix}")
    size = mpath.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ArtifactError(f"{str(mpath)!r} is {size} bytes, over the {MAX_MANIFEST_BYTES} byte limit; {fix}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{str(mpath)!r} is not valid JSON ({type(exc).__name__}); {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != PREDICTOR_KIND:
        raise ArtifactError(f"{str(mpath)!r} is not a netcut predictor manifest (kind != {PREDICTOR_KIND!r}); {fix}")
    version = manifest.get("schema_version")
    if version != expected_schema:
        raise ArtifactError(
            f"predictor {str(path)!r} has schema version {version!r}; this netcut reads version {expected_schema}; "
            f"{fix} (or use the netcut version that wrote it)"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise ArtifactError(f"{str(mpath)!r} lists no model files; {fix}")
    files: dict[str, bytes] = {}
    for name, info in listed.items():
        if (not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".")
                or not name.endswith(_ALLOWED_SUFFIXES)):
            raise ArtifactError(
                f"predictor {str(path)!r} lists model file {name!r}; allowed: plain names ending in "
                f"{', '.join(_ALLOWED_SUFFIXES)} (XGBoost JSON); {fix}"
            )
        fpath = path / name
        if not fpath.is_file() or fpath.is_symlink():
            raise ArtifactError(f"predictor {str(path)!r} lacks model file {name!r} (or it is not a regular file); {fix}")
        fsize = fpath.stat().st_size
        want = info.get("bytes") if isinstance(info, dict) else None
        if fsize > MAX_MODEL_BYTES:
            raise ArtifactError(f"model file {str(fpath)!r} is {fsize} bytes, over the {MAX_MODEL_BYTES} byte limit; {fix}")
        if fsize != want:
            raise ArtifactError(
                f"model file {str(fpath)!r} is {fsize} bytes but the manifest says {want}; it is truncated or was "
                f"replaced; {fix}"
            )
        raw = fpath.read_bytes()
        check_xgboost_json(str(fpath), raw)
        if sha256_bytes(raw) != info.get("sha256"):
            raise ArtifactError(f"model file {str(fpath)!r} does not match the sha256 in the manifest; it was modified; {fix}")
        files[name] = raw
    return manifest, files
