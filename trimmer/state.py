"""``OUT/`` of a search on disk: the training key, finished results, trained weights, probe scores,
candidates measured on this machine.

Every file is written atomically as soon as it is known, so an interrupted search
resumes where it stopped (the same ``--out`` and training settings skip what is done).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latmodel.errors import NetcutError
from latmodel.fileio import atomic_path, atomic_write_json

if TYPE_CHECKING:
    from .probe import ProbeScore

__all__ = ["CandidateResult", "SearchState", "MEASURED_FILE", "has_saved_work"]

logger = logging.getLogger(__name__)

#: Latencies of candidates timed on this machine under ``--margin measured``.
MEASURED_FILE = "measured.json"
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclasses.dataclass(frozen=True)
class CandidateResult:
    """A trained candidate: its accuracies and cost."""

    candidate_id: str
    val_accuracy: float
    test_accuracy: float
    epochs_run: int
    train_seconds: float
    weights_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CandidateResult":
        return cls(candidate_id=str(d["candidate_id"]), val_accuracy=float(d["val_accuracy"]),
                   test_accuracy=float(d["test_accuracy"]), epochs_run=int(d["epochs_run"]),
                   train_seconds=float(d["train_seconds"]), weights_file=str(d.get("weights_file", "")))


def _safe_id(candidate_id: str) -> str:
    return _ID_SAFE.sub("_", candidate_id.replace("/", "__"))


#: The training key of a search folder (what its results depend on).
KEY_FILE = "search.json"


def has_saved_work(out) -> bool:
    """Whether the search folder ``out`` holds anything a rerun would resume from (results, probe scores,
    measured latencies)."""
    out = Path(out)
    return (out / MEASURED_FILE).is_file() or any(
        any(d.glob("*.json")) for d in (out / "results", out / "probe") if d.is_dir())


class SearchState:
    """``OUT/`` of a search: the training key, finished results and head weights."""

    @staticmethod
    def _check(out: Path, key: dict[str, Any], *, skip: tuple[str, ...] = ()) -> dict | None:
        """The folder's stored key (None if new); NetcutError when it differs from ``key`` (keys in ``skip``
        and ``data_spec`` missing from an older folder are not compared)."""
        key_path = Path(out) / KEY_FILE
        if not key_path.exists():
            return None
        try:
            old = json.loads(key_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise NetcutError(f"{str(key_path)!r} is damaged; delete it (and {Path(out) / 'results'}) to start "
                              "afresh") from None
        names = (set(old) | set(key)) - set(skip) - ({"data_spec"} if "data_spec" not in old else set())
        diff = sorted(k for k in names if old.get(k) != key.get(k))
        if diff:
            raise NetcutError(
                f"--out {str(out)!r} holds a search with other training settings ({', '.join(diff)} differ); "
                "use a new --out folder, or the same data, mode, epochs and seed to resume"
            )
        return old

    @classmethod
    def precheck(cls, out, key: dict[str, Any]) -> None:
        """Refuse an ``out`` holding a search of other settings before the data is loaded (its fingerprint,
        ``key["data"]``, is compared once it is)."""
        cls._check(Path(out), key, skip=("data",))

    def __init__(self, out: Path, key: dict[str, Any]):
        self.out = out
        self.results_dir = out / "results"
        self.weights_dir = out / "weights"
        self.probe_dir = out / "probe"
        key_path = out / KEY_FILE
        self._check(out, key)
        out.mkdir(exist_ok=True)
        self.results_dir.mkdir(exist_ok=True)
        self.weights_dir.mkdir(exist_ok=True)
        self.probe_dir.mkdir(exist_ok=True)
        if not key_path.exists():
            atomic_write_json(key_path, key)

    def load(self, candidate_id: str) -> CandidateResult | None:
        path = self.results_dir / f"{_safe_id(candidate_id)}.json"
        if not path.is_file():
            return None
        try:
            result = CandidateResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring damaged result file %s; the candidate is retrained", path)
            return None
        if result.weights_file and not (self.weights_dir / result.weights_file).is_file():
            return None
        return result

    def save(self, candidate_id: str, result: dict, state: dict | None) -> CandidateResult:
        import torch

        weights_file = ""
        if state is not None:
            weights_file = f"{_safe_id(candidate_id)}.pt"
            with atomic_path(self.weights_dir / weights_file) as tmp:
                torch.save({k: torch.as_tensor(v) for k, v in state.items()}, tmp)
        res = CandidateResult(candidate_id=candidate_id, val_accuracy=float(result["val_accuracy"]),
                              test_accuracy=float(result["test_accuracy"]), epochs_run=int(result["epochs_run"]),
                              train_seconds=float(result["train_seconds"]), weights_file=weights_file)
        atomic_write_json(self.results_dir / f"{_safe_id(candidate_id)}.json", res.to_dict())
        return res

    def weights(self, result: CandidateResult) -> dict:
        import torch

        return torch.load(self.weights_dir / result.weights_file, map_location="cpu", weights_only=True)



    def load_probe(self, base: str, key: dict[str, Any]) -> "list[ProbeScore] | None":
        """Probe scores of ``base`` saved by an earlier run with the same probe ``key``, else None."""
        from .probe import ProbeScore

        path = self.probe_dir / f"{_safe_id(base)}.json"
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") != key:
                return None
            return [ProbeScore.from_dict(d) for d in saved["scores"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring damaged probe file %s; the base network is probed again", path)
            return None

    def save_probe(self, base: str, key: dict[str, Any], scores: "list[ProbeScore]") -> None:
        atomic_write_json(self.probe_dir / f"{_safe_id(base)}.json",
                          {"key": key, "scores": [s.to_dict() for s in scores]})

    def load_measured(self, key: dict[str, Any]) -> dict[str, float]:
        """Candidate latencies measured here by an earlier run with the same ``key`` (device, resolution)."""
        path = self.out / MEASURED_FILE
        if not path.is_file():
            return {}
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") != key:
                return {}
            return {str(k): float(v) for k, v in saved["latency_ms"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring damaged measurement file %s; candidates are measured again", path)
            return {}

    def save_measured(self, key: dict[str, Any], latency_ms: dict[str, float]) -> None:
        atomic_write_json(self.out / MEASURED_FILE, {"key": key, "latency_ms": dict(sorted(latency_ms.items()))})
