"""TRN candidates: enumerate (base network, input resolution, cut), predict their latency, prune by deadline.

A candidate is the base network's blocks ``0..cut`` at one input resolution plus
a new head (global average pooling + linear).  The uncut network with a new head
(``cut`` = last block) at a resolution is that resolution's *off-the-shelf*
reference point: the user's real alternative to a TRN at a tight deadline is the
same pretrained network at a lower input resolution.

Latency queries cost microseconds: the predictor runs once for every block of
every (base, resolution) (one batched call) and every cut is answered from the
prefix sums; the head's cost is added per candidate.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Iterable, Sequence

from latmodel.errors import NetcutError

__all__ = ["Candidate", "enumerate_candidates", "prune", "check_deadline", "check_resolutions", "parse_resolutions",
           "auto_resolutions", "resolve_resolutions", "AUTO_RESOLUTIONS",
           "PRUNE_MARGINS", "DEFAULT_MARGIN"]

logger = logging.getLogger(__name__)

#: How a candidate's latency is compared with the deadline: its upper bound (the predictor's residual
#: quantile, a safety margin), the prediction itself, or ``measured``: the prediction prunes and the
#: borderline candidates a policy would retrain are timed on this machine (:mod:`trimmer.feasibility`).
PRUNE_MARGINS = ("upper", "none", "measured")
#: A hard deadline is compared with the upper bound unless the user asks otherwise.
DEFAULT_MARGIN = "upper"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One TRN: ``base`` cut after block ``cut`` (``cut == n_blocks - 1`` is off-the-shelf)."""

    base: str
    cut: int
    n_blocks: int
    block_name: str
    resolution_px: int
    out_channels: int
    flops: int
    backbone_latency_ms: float
    head_latency_ms: float
    predicted_latency_ms: float
    predicted_upper_ms: float
    #: why its latency is extrapolated (outside what the predictor was fitted on; '' when it is not)
    extrapolation: str = ""

    @property
    def extrapolated(self) -> bool:
        return bool(self.extrapolation)

    @property
    def candidate_id(self) -> str:
        return f"{self.base}@{self.resolution_px}px/cut{self.cut:02d}"

    @property
    def off_the_shelf(self) -> bool:
        return self.cut == self.n_blocks - 1

    def latency_for(self, margin: str) -> float:
        """The latency pruning compares with the deadline (``measured`` prunes by the prediction)."""
        return self.predicted_upper_ms if margin == "upper" else self.predicted_latency_ms

    def fits(self, deadline_ms: float, margin: str) -> bool:
        """The deadline rule, the one place it is written: kept when its latency under ``margin`` is within it
        (pruning, ``--resolutions auto`` and :class:`trimmer.feasibility.Feasibility` all ask this)."""
        return self.latency_for(margin) <= deadline_ms

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["candidate_id"] = self.candidate_id
        d["off_the_shelf"] = self.off_the_shelf
        d["extrapolated"] = self.extrapolated
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Candidate":
        """From :meth:`to_dict` or a candidates.csv row (values converted to each field's type)."""
        from latmodel.records import record_from_dict

        return record_from_dict(cls, d)


#: ``--resolutions auto``: the search picks a few resolutions from the deadline and the predictor
#: (:func:`auto_resolutions`).
AUTO_RESOLUTIONS = "auto"


def parse_resolutions(text: str) -> tuple[int, ...] | str:
    """``--resolutions``: comma-separated pixel sizes, e.g. ``96,128,160`` (sorted, duplicates refused), or
    :data:`AUTO_RESOLUTIONS`."""
    if str(text).strip() == AUTO_RESOLUTIONS:
        return AUTO_RESOLUTIONS
    items = [t.strip() for t in str(text).split(",")]
    values = []
    for t in items:
        try:
            v = int(t)
        except ValueError:
            v = None
        if v is None or v <= 0:
            raise NetcutError(f"expected comma-separated positive pixel sizes (e.g. 96,128,160) or auto, got {text!r}")
        values.append(v)
    if len(set(values)) != len(values):
        raise NetcutError(f"expected each pixel size once, got {text!r}")
    return tuple(sorted(values))


def check_resolutions(predictor, models: Sequence[str], resolutions: Sequence[int]) -> None:
    """Refuse, before any work, a resolution a base network cannot take or the predictor was not calibrated
    for (its measured resolutions bound what it can price)."""
    from latmodel.graph.zoo import resolve_spec

    if not resolutions:
        raise NetcutError("no input resolution given; use --resolutions, e.g. 96,128,160")
    for base in models:
        spec = resolve_spec(base)
        low = [r for r in resolutions if r < spec.min_resolution_px]
        if low:
            raise NetcutError(f"{base} takes inputs of at least {spec.min_resolution_px} px, got --resolutions "
                              f"{','.join(map(str, resolutions))}; drop {','.join(map(str, low))}")
    seen = None if predictor is None else predictor.resolutions_
    if seen:
        lo, hi = min(seen), max(seen)
        out = [r for r in resolutions if not lo <= r <= hi]
        if out:
            raise NetcutError(
                f"the predictor was calibrated at {lo}..{hi} px and cannot price {','.join(map(str, out))} px; "
                f"use --resolutions between {lo} and {hi}, or profile and fit a predictor at that resolution")


def auto_resolutions(predictor, models: Sequence[str], deadline_ms: float, *, margin: str, n_classes: int,
                     count: int = 3) -> tuple[int, ...]:
    """``count`` input resolutions for a search, chosen from the deadline and the predictor.

    The full networks of ``models`` are priced at every resolution the predictor was calibrated at (and every
    base can take); the anchor is the largest resolution at which some full network meets the deadline (under
    ``margin``): the strongest off-the-shelf baseline.  Around it: one resolution below (a cheaper baseline, deeper
    cuts) and one above (only cut networks fit there: where a TRN can beat the baseline), the nearest calibrated
    ones.  When no full network fits anywhere, the lowest resolutions (TRNs only; the report says no baseline fits).
    """
    from latmodel.graph.zoo import resolve_spec

    floor = max(resolve_spec(b).min_resolution_px for b in models)
    usable = sorted(r for r in set(predictor.resolutions_ or ()) if r >= floor)
    if not usable:
        raise NetcutError("--resolutions auto needs a predictor that records the resolutions it was calibrated at "
                          f"(at least {floor} px for {', '.join(models)}); give --resolutions explicitly")
    cands = enumerate_candidates(predictor, models, resolutions=usable, n_classes=n_classes)
    fits = [c.resolution_px for c in cands if c.off_the_shelf and c.fits(deadline_ms, margin)]
    i = usable.index(max(fits)) if fits else 0
    lo = max(0, min(i - (count - 1) // 2, len(usable) - count))
    picked = tuple(usable[lo: lo + count])
    logger.info("--resolutions auto: %s px (%s)", ",".join(map(str, picked)),
                f"full networks meet {deadline_ms:g} ms up to {usable[i]} px" if fits
                else f"no full network meets {deadline_ms:g} ms at {usable[0]}..{usable[-1]} px")
    return picked


def resolve_resolutions(predictor, models: Sequence[str], resolutions, deadline_ms: float, *, margin: str,
                        n_classes: int) -> tuple[int, ...]:
    """The resolutions a search or a listing covers: :func:`auto_resolutions` for :data:`AUTO_RESOLUTIONS`
    (valid by construction), else ``resolutions`` once :func:`check_resolutions` accepts them."""
    if resolutions == AUTO_RESOLUTIONS:
        return auto_resolutions(predictor, models, deadline_ms, margin=margin, n_classes=n_classes)
    check_resolutions(predictor, models, resolutions)
    return tuple(resolutions)


def _same_structure(rows: Sequence[dict], chain) -> bool:
    """Whether ``chain`` has the blocks the feature ``rows`` describe: the same names and parameter counts.  A
    pretrained base is the registry's network with weights loaded, so its features are the cached ones and need
    no trace (8 chains traced cost a search 2.2 s of its 15-30 s; 2026-12-04)."""
    if len(rows) != len(chain.blocks):
        return False
    return all(str(r["block_name"]) == info.name and int(r["params"]) == sum(p.numel() for p in block.parameters())
               for r, info, block in zip(rows, chain.infos, chain.blocks))


def enumerate_candidates(predictor, models: Sequence[str], *, resolutions: Sequence[int], n_classes: int,
                         width: float = 1.0, chains: dict | None = None) -> list[Candidate]:
    """Every (base, resolution, cut) candidate of ``models`` with its predicted latency.

    ``predictor`` is a fitted :class:`latmodel.predict.model.LatencyModel`.  ``chains``
    optionally maps ``(base, resolution)`` to its already split (e.g. pretrained)
    :class:`latmodel.graph.blocks.BlockChain`: features then come from the exact
    network that will be trained, without building and tracing it again.  Every
    block of every (base, resolution) is priced in one batched predictor call.
    The full network at each resolution is that resolution's off-the-shelf candidate.
    """
    from latmodel.graph.features import chain_features
    from latmodel.graph.netfeatures import network_features

    if n_classes < 2:
        raise NetcutError(f"a classifier needs at least 2 classes, got {n_classes}")
    configs = [(base, int(res)) for base in models for res in resolutions]
    feats = {}
    for base, res in configs:
        chain = (chains or {}).get((base, res))
        rows = network_features(base, res, width=width)  # cached on disk (shipped for the registry's resolutions)
        if chain is not None and not _same_structure(rows, chain):
            rows = chain_features(chain)
        feats[base, res] = rows
    preds = predictor.predict_feature_rows([(b, r, width, None, feats[b, r]) for b, r in configs])
    candidates: list[Candidate] = []
    head_cache: dict[tuple[int, int, int], float] = {}
    for (base, resolution), pred in zip(configs, preds):
        rows = feats[base, resolution]
        outside = bool(pred.extrapolation)  # a prefix is outside only if its network is
        flops = 0
        for k, row in enumerate(rows):
            flops += int(row["flops"])
            key = (int(row["out_channels"]), int(row["out_height_px"]), int(row["out_width_px"]))
            if key not in head_cache:  # heads of equal shape cost the same: one query per shape
                head_cache[key] = float(predictor.head_latency_ms(*key, n_classes))
            head_ms = head_cache[key]
            backbone = float(pred.prefix_latency_ms[k])
            upper = float(pred.prefix_upper_ms[k])
            candidates.append(Candidate(
                base=base, cut=k, n_blocks=len(rows), block_name=str(row["block_name"]),
                resolution_px=int(resolution), out_channels=int(row["out_channels"]), flops=flops,
                backbone_latency_ms=backbone, head_latency_ms=head_ms,
                predicted_latency_ms=backbone + head_ms, predicted_upper_ms=upper + head_ms,
                extrapolation="; ".join(predictor.extrapolation_in(rows[: k + 1], resolution=resolution, width=width))
                if outside else "",
            ))
    return candidates


def prune(candidates: Iterable[Candidate], deadline_ms: float, *, margin: str = "none"
          ) -> tuple[list[Candidate], list[Candidate]]:
    """Split candidates into (kept, pruned): kept ones are predicted to meet ``deadline_ms``."""
    if margin not in PRUNE_MARGINS:
        raise NetcutError(f"margin must be one of {', '.join(PRUNE_MARGINS)}, got {margin!r}")
    kept, pruned = [], []
    for c in candidates:
        (kept if c.fits(deadline_ms, margin) else pruned).append(c)
    return kept, pruned


def check_deadline(candidates: Sequence[Candidate], deadline_ms: float, *, margin: str = "none") -> None:
    """Raise a clear error when no candidate can meet the deadline."""
    if not candidates:
        raise NetcutError("no candidates to search: give at least one base network with --models")
    if not deadline_ms > 0 or deadline_ms == float("inf"):
        raise NetcutError(f"deadline must be a positive number of milliseconds, got {deadline_ms!r}")
    fastest = min(candidates, key=lambda c: c.latency_for(margin))
    if not fastest.fits(deadline_ms, margin):
        what = "upper-bound latency" if margin == "upper" else "predicted latency"
        raise NetcutError(
            f"no candidate can meet the {deadline_ms:g} ms deadline: the fastest is {fastest.candidate_id} "
            f"({fastest.block_name}) with {what} {fastest.latency_for(margin):.2f} ms; raise --deadline-ms, "
            "add a lower resolution to --resolutions, or add a smaller base network"
        )
