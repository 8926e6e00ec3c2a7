"""Cheap scores for TRN candidates: a closed-form ridge probe on pooled features.

The ``ranked`` proposal policy fine-tunes only the few candidates that score best
here.  For one base network, the pooled features after every feasible cut come
from ONE forward pass over (a subset of) the data that stops at the deepest
feasible cut (:func:`trimmer.pooled.extract_pooled_features`): blocks that no
feasible candidate keeps never run.  Each cut's features are standardised with
the training statistics and a ridge classifier (one-vs-rest least squares, closed
form, on +-1 targets) is fitted; its ridge penalty is the one with the least
leave-one-out error (closed form too), so there is no iterative training at all.
The score is its accuracy on the validation split.  :func:`probe_candidates` is the search's call: it saves the
scores in the output folder, and a later deadline there runs the pass only for the cuts not scored yet.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Mapping, Sequence

from latmodel.errors import NetcutError

__all__ = ["PROBE_ALPHAS", "ProbeScore", "probe_accuracies", "probe_base", "probe_candidates"]

logger = logging.getLogger(__name__)

#: Ridge penalties tried (on standardised features), chosen per cut by leave-one-out.
PROBE_ALPHAS: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0)


@dataclasses.dataclass(frozen=True)
class ProbeScore:
    """The probe's verdict on one candidate: validation accuracy of a ridge classifier on its pooled features."""

    candidate_id: str
    probe_val_accuracy: float
    alpha: float
    n_train: int
    n_val: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ProbeScore":
        return cls(candidate_id=str(d["candidate_id"]), probe_val_accuracy=float(d["probe_val_accuracy"]),
                   alpha=float(d["alpha"]), n_train=int(d["n_train"]), n_val=int(d["n_val"]),
                   seconds=float(d["seconds"]))


def _ridge_probe(xtr, ytr, xva, yva, n_classes: int, alphas: tuple[float, ...]) -> tuple[float, float]:
    """(validation accuracy, alpha) of a ridge classifier whose alpha minimises the leave-one-out error.

    Written here rather than with scikit-learn's ``RidgeClassifierCV`` because that
    takes a float64 SVD per fit (over 10 s for 2,700 x 1,280 features on this 2-core
    machine); one float32 eigendecomposition of the Gram matrix serves every alpha.
    """
    import torch

    mean = xtr.mean(dim=0)
    scale = xtr.std(dim=0, unbiased=False)
    scale = torch.where(scale < 1e-6, torch.ones_like(scale), scale)
    ztr, zva = (xtr - mean) / scale, (xva - mean) / scale
    ones = torch.ones(len(ztr), 1, dtype=ztr.dtype)
    ztr, zva = torch.cat([ztr, ones], 1), torch.cat([zva, torch.ones(len(zva), 1, dtype=zva.dtype)], 1)
    targets = -torch.ones(len(ytr), n_classes, dtype=ztr.dtype)
    targets[torch.arange(len(ytr)), ytr] = 1.0
    solve = _ridge_dual if ztr.shape[1] > ztr.shape[0] else _ridge_primal
    _, alpha, coef = solve(ztr, targets, alphas)
    acc = float((zva @ coef).argmax(dim=1).eq(yva).double().mean())
    return acc, float(alpha)


def _ridge_primal(ztr, targets, alphas: tuple[float, ...]):
    """(leave-one-out error, alpha, C x K coefficients) of the ridge fit whose alpha has the least leave-one-out
    error, from one eigendecomposition of the C x C Gram matrix."""
    import torch

    lam, vec = torch.linalg.eigh(ztr.T @ ztr)
    lam = lam.clamp_min(0)
    proj = ztr @ vec  # N x C: the training features in the Gram's eigenbasis
    coef_basis = vec.T @ (ztr.T @ targets)  # C x K
    return _least_loo(proj, coef_basis, targets, alphas, weights=lambda a: 1.0 / (lam + a),
                      coef=lambda a: vec @ ((1.0 / (lam + a))[:, None] * coef_basis))


def _ridge_dual(ztr, targets, alphas: tuple[float, ...]):
    """:func:`_ridge_primal` for more features than training images: the same fit and leave-one-out errors from
    the N x N Gram matrix, ``(Z'Z + aI)^-1 Z' = Z' (ZZ' + aI)^-1``, so the eigendecomposition costs N^3 instead
    of C^3 (a search's probe: 480 images against up to 1,281 features, 9x faster)."""
    import torch

    lam, u = torch.linalg.eigh(ztr @ ztr.T)
    lam = lam.clamp_min(0)
    ut_targets = u.T @ targets  # N x K
    return _least_loo(u, ut_targets, targets, alphas, weights=lambda a: lam / (lam + a),
                      coef=lambda a: ztr.T @ (u @ (ut_targets / (lam + a)[:, None])))


def _least_loo(basis, rotated, targets, alphas, *, weights, coef):
    """The alpha of least leave-one-out error, shared by both solves: the fitted values are
    ``basis @ (weights(alpha) * rotated)`` and the leverages ``sum(basis**2 * weights(alpha))``.  Returns
    (error, alpha, ``coef(alpha)``)."""
    best = None
    for alpha in alphas:
        w = weights(alpha)
        hat = (basis * basis * w).sum(dim=1).clamp(max=1 - 1e-6)  # leave-one-out leverage
        fitted = basis @ (w[:, None] * rotated)
        loo = (((targets - fitted) / (1 - hat)[:, None]) ** 2).mean()
        if best is None or float(loo) < best[0]:
            best = (float(loo), alpha, coef(alpha))
    return best


def probe_accuracies(feats_train: Mapping[int, Any], y_train, feats_val: Mapping[int, Any], y_val,
                     alphas: tuple[float, ...] = PROBE_ALPHAS) -> dict[int, tuple[float, float, float]]:
    """``{cut: (validation accuracy, chosen alpha, seconds)}`` of a ridge probe per cut.

    ``feats_*`` map a cut index to an ``N x C`` float tensor (pooled features
    after that block); ``y_*`` are integer labels.
    """
    import torch

    ytr = torch.as_tensor(y_train).long()
    yva = torch.as_tensor(y_val).long()
    if len(torch.unique(ytr)) < 2:
        raise NetcutError(f"the probe needs training images of at least 2 classes, got {len(torch.unique(ytr))}")
    if not len(yva):
        raise NetcutError("the probe needs validation images to score candidates; use a dataset with a validation split")
    missing = sorted(set(feats_train) ^ set(feats_val))
    if missing:
        raise NetcutError(f"probe features for cut(s) {missing} are missing from one split")
    n_classes = int(max(int(ytr.max()), int(yva.max())) + 1)
    out: dict[int, tuple[float, float, float]] = {}
    for cut in sorted(feats_train):
        t0 = time.perf_counter()
        acc, alpha = _ridge_probe(torch.as_tensor(feats_train[cut]).float(), ytr,
                                  torch.as_tensor(feats_val[cut]).float(), yva, n_classes, alphas)
        out[cut] = (acc, alpha, time.perf_counter() - t0)
    return out


def probe_base(chain, ids: Mapping[int, str], data, resolution: int, *, per_class: int | None, seed: int,
               batch_size: int = 64, device: str = "cpu", progress: bool = False,
               precision: str = "float32") -> list[ProbeScore]:
    """Probe scores of the cuts of one base network; ``ids`` maps each cut to be scored to its candidate id.

    One forward pass over ``per_class`` seeded training images per class (all when
    None) plus the validation split, stopping at the deepest of ``cuts``, in ``precision`` (``float32`` or
    ``bfloat16``: :data:`trimmer.compute.FEATURE_PRECISIONS`); the ridge fits are float32 either way.
    """
    import torch

    from .splits import limit_per_class_indices
    from .pooled import extract_pooled_features

    idx = torch.from_numpy(limit_per_class_indices(data.train_y.numpy(), per_class, seed))
    x = torch.cat([data.train_x[idx], data.val_x])
    t0 = time.perf_counter()
    feats = extract_pooled_features(chain.blocks, x, resolution, sorted(ids), batch_size=batch_size, device=device,
                                    progress=progress, precision=precision)
    n_tr = len(idx)
    scores = probe_accuracies({k: v[:n_tr] for k, v in feats.items()}, data.train_y[idx],
                              {k: v[n_tr:] for k, v in feats.items()}, data.val_y)
    # the shared forward pass is charged to the cuts in proportion to the blocks each runs
    pass_s = time.perf_counter() - t0 - sum(s for _, _, s in scores.values())
    depth = sum(k + 1 for k in scores)
    return [ProbeScore(candidate_id=ids[k], probe_val_accuracy=acc, alpha=alpha, n_train=n_tr, n_val=len(data.val_y),
                       seconds=s + pass_s * (k + 1) / depth) for k, (acc, alpha, s) in scores.items()]


def probe_candidates(feasible: Sequence[Any], bases: Mapping, data, config, state, progress: bool
                     ) -> dict[str, ProbeScore]:
    """Probe scores of the search's ``feasible`` candidates (:class:`trimmer.candidates.Candidate`): one forward
    pass per (base network, resolution) (``bases`` maps it to its ``(chain, weights info)``), saved in ``state``
    (:class:`trimmer.state.SearchState`) so that a resumed search and a new deadline in the same ``--out`` reuse
    them; ``config``: the search's :class:`trimmer.search.SearchConfig`."""
    from .compute import WORK_BAR_FORMAT, progress_bar

    by_base: dict[tuple[str, int], list] = {}
    for c in feasible:
        by_base.setdefault((c.base, c.resolution_px), []).append(c)
    n_probe = len(data.val_y) + (len(data.train_y) if config.probe_per_class is None
                                 else min(len(data.train_y), config.probe_per_class * data.n_classes))
    # Scores of cuts probed by an earlier deadline in this --out are reused (a cut's score does not depend on which
    # other cuts were probed); the pass runs for the missing cuts only, to the deepest of them.
    keys = {(base, res): (f"{base}@{res}px", {"per_class": config.probe_per_class, "seed": config.seed,
                                              "alphas": list(PROBE_ALPHAS), "resolution_px": res,
                                              "precision": config.probe_precision})
            for base, res in by_base}
    saved = {b: {p.candidate_id: p for p in state.load_probe(*keys[b]) or []} for b in by_base}
    missing = {b: [c for c in cs if c.candidate_id not in saved[b]] for b, cs in by_base.items()}
    # work of a base's probe: its deepest missing prefix run over the probe images
    work = {b: max((c.backbone_latency_ms for c in cs), default=0.0) * n_probe for b, cs in missing.items()}
    scores: dict[str, ProbeScore] = {}
    with progress_bar(sum(work.values()), progress, desc="probing", unit="work", bar_format=WORK_BAR_FORMAT) as bar:
        for (base, res), cands in by_base.items():
            done = saved[base, res]
            if missing[base, res]:
                chain, _ = bases[base, res]
                done.update((p.candidate_id, p) for p in probe_base(
                    chain, {c.cut: c.candidate_id for c in missing[base, res]}, data, res,
                    per_class=config.probe_per_class, seed=config.seed, batch_size=config.batch_size,
                    device=config.device, precision=config.probe_precision))
                state.save_probe(*keys[base, res],
                                 sorted(done.values(), key=lambda p: p.candidate_id))
            mine = [done[c.candidate_id] for c in cands]
            scores.update({p.candidate_id: p for p in mine})
            bar.update(work[base, res])
            bar.set_postfix_str(f"{base}@{res}px: best probe {max(p.probe_val_accuracy for p in mine):.3f}")
    return scores
