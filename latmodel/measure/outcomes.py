"""What :func:`latmodel.measure.profiling.profile` reports: one record a configuration and the summary of a pass
(rendered by :mod:`latmodel.measure.summary_text`)."""
from __future__ import annotations

import dataclasses
import math

from ..records import Record
from .rows import WINDOW_METHOD
from .spread import MAX_WINDOW_SPREAD

__all__ = ["ConfigOutcome", "ProfileSummary", "config_outcome"]


@dataclasses.dataclass(frozen=True)
class ConfigOutcome(Record):
    """What happened to one configuration in :func:`latmodel.measure.profiling.profile`."""

    config_id: str
    status: str  # "measured" | "skipped" | "failed"
    rows: int = 0
    seconds: float = 0.0
    n_blocks: int = 0
    network_ms: float = math.nan
    incontext_sum_ms: float = math.nan
    flagged_rows: int = 0
    reason: str = ""
    timestamped_total_ms: float = math.nan
    window_peak_bytes: float = math.nan  # the measuring child's peak resident memory (its whole window)
    window_estimate_bytes: float = math.nan  # what the window plan estimated it (latmodel.measure.windows)
    incontext_from_profile: bool = False  # in-context latencies split from the deployed graph's node profile
    yardstick_ms: float = math.nan  # the machine's speed in the configuration's window (bursts.yardstick)
    window_spread: float = math.nan  # how noisy the host was as it was measured (latmodel.measure.spread)
    window_runs: int = 1  # how many times it was measured (a noisy configuration runs again: profile's max_spread)

    @property
    def incontext_vs_network(self) -> float:
        """Sum of in-context block latencies / whole-chain latency - 1 (round model)."""
        return self.incontext_sum_ms / self.network_ms - 1.0 if self.network_ms > 0 else math.nan

    @property
    def timestamp_overhead(self) -> float:
        """Fastest timestamped pass / fastest plain pass - 1: what the timestamps cost."""
        return self.timestamped_total_ms / self.network_ms - 1.0 if self.network_ms > 0 else math.nan


@dataclasses.dataclass(frozen=True)
class ProfileSummary:
    """Result of :func:`latmodel.measure.profiling.profile`."""

    out_path: str
    outcomes: tuple[ConfigOutcome, ...]
    seconds: float
    max_spread: float = MAX_WINDOW_SPREAD  # the spread over which a configuration counted as measured in noise

    def _count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def measured(self) -> int:
        return self._count("measured")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def flagged(self) -> int:
        """Measured configurations with at least one flagged row."""
        return sum(o.status == "measured" and o.flagged_rows > 0 for o in self.outcomes)

    @property
    def rows_written(self) -> int:
        return sum(o.rows for o in self.outcomes if o.status == "measured")

    def to_dict(self) -> dict:
        return {"out_path": self.out_path, "seconds": self.seconds, "max_spread": self.max_spread,
                "outcomes": [o.to_dict() for o in self.outcomes]}

    @classmethod
    def from_dict(cls, d: dict) -> "ProfileSummary":
        return cls(out_path=str(d["out_path"]), seconds=float(d["seconds"]),
                   outcomes=tuple(ConfigOutcome.from_dict(o) for o in d["outcomes"]),
                   max_spread=float(d.get("max_spread", MAX_WINDOW_SPREAD)))

    def to_text(self) -> str:
        from .summary_text import profile_summary_text

        return profile_summary_text(self)


def config_outcome(cid: str, rows: list[dict], seconds: float, diagnostics: dict,
                   estimate_bytes: float | None, *, spread: float = math.nan, runs: int = 1) -> ConfigOutcome:
    """The outcome of configuration ``cid`` measured as ``rows``, from its share of its window's wall time and
    the window's diagnostics."""
    from .runtimes import RUNTIMES

    rt = RUNTIMES.get(str(rows[0].get("runtime", "torch")))
    return ConfigOutcome(
        cid, "measured", rows=len(rows), seconds=seconds, n_blocks=len(rows),
        network_ms=float(rows[0]["network_ms"]), incontext_sum_ms=float(sum(r["incontext_ms"] for r in rows)),
        flagged_rows=sum(int(r["flagged"]) for r in rows),
        timestamped_total_ms=float(diagnostics.get("timestamped_total_min_ms", math.nan)),
        window_peak_bytes=float(diagnostics.get("peak_rss_bytes", math.nan)),
        window_estimate_bytes=math.nan if estimate_bytes is None else float(estimate_bytes),
        incontext_from_profile=bool(str(rows[0].get("method", "")).startswith(WINDOW_METHOD)
                                    and rt is not None and rt.block_profiler is not None),
        yardstick_ms=float(rows[0].get("yardstick_ms", math.nan)), window_spread=float(spread),
        window_runs=int(runs))
