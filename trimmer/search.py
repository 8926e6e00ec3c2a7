"""NetCut: enumerate TRN candidates -> predict -> prune -> propose -> retrain the proposed -> choose.

Candidates are (base network, input resolution, cut); the full network at each
resolution is an off-the-shelf candidate, and the off-the-shelf networks the
policy would pick among themselves are always retrained too, so every report
compares the chosen TRN with a baseline fine-tuned on the same budget.

The proposal policy (:mod:`trimmer.proposal`) decides which feasible candidates
are retrained; the default, ``ranked``, scores every feasible candidate with a
closed-form probe (:mod:`trimmer.probe`, one forward pass per base network) and
fine-tunes only the best ``top_k``.

:func:`run_search` is the main job.  It is resumable: every finished candidate
is written atomically to ``OUT/results/`` as soon as it is done, and a search
started again with the same ``--out`` (and the same training settings) skips
them.  Retraining jobs run through joblib: local processes with ``workers > 1``,
or a Dask cluster through joblib's Dask backend when a scheduler address is
given.  The unit of work is one base network in ``head`` mode (its feature
cache serves every cut in one pass over the data) and one candidate otherwise.

Each process builds (weights loaded) and traces a base network once
(:func:`base_chain`); the dataset travels to each worker once; a finetune/full
job sends its trained weights back only when the candidate can still be chosen.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from latmodel.errors import NetcutError
from latmodel.predict.protocol import device_of, runtime_of
from latmodel.predict.shipped import DEFAULT_SHIPPED, SHIPPED_DIR

from .candidates import AUTO_RESOLUTIONS, DEFAULT_MARGIN, PRUNE_MARGINS, Candidate, check_resolutions, resolve_resolutions
from .compute import (FEATURE_PRECISIONS, WORK_BAR_FORMAT, check_feature_precision, keep_freed_memory, progress_bar,
                      resolve_feature_precision)
from .feasibility import Feasibility, MeasureFn
from .jobs import SPLIT_ARRAYS, TrainJob, base_chain, run_jobs
from .outcome import SearchOutcome, SearchTimings
from .pricing import price_candidates
from .probe import ProbeScore, probe_candidates
from .proposal import DEFAULT_PROPOSAL, DEFAULT_TOP_K, NEEDS_PROBE, propose
from .verify import trn_timer, verify_latency
from .state import CandidateResult, SearchState

__all__ = [
    "DEFAULT_BASES",
    "DEFAULT_PREDICTOR",
    "DEFAULT_DEADLINE_MS",
    "DEFAULT_RESOLUTIONS",
    "SearchConfig",
    "precheck",
    "run_search",
]

logger = logging.getLogger(__name__)

DEFAULT_PREDICTOR = SHIPPED_DIR / DEFAULT_SHIPPED
DEFAULT_BASES: tuple[str, ...] = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: 12 ms a frame: on every shipped predictor's device at least one off-the-shelf network (mobilenet_v2 at 96 px)
#: meets it by its upper bound, and cut networks of the larger bases and resolutions do too, so the demo shows
#: the TRN against a real baseline (at 9 ms none fitted on the Xeon predictor).
DEFAULT_DEADLINE_MS = 12.0
#: Input resolutions searched by default: the bases' off-the-shelf networks at 96 px are the fast baselines a
#: tight deadline leaves, 160 px the accurate ones a loose deadline allows (both inside every shipped predictor's
#: calibrated range).
DEFAULT_RESOLUTIONS: tuple[int, ...] = (96, 128, 160)
#: 2: candidates are (base, resolution, cut); the training key no longer holds one resolution.
SEARCH_SCHEMA_VERSION = 2


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """What to search.  Fields that change trained results form :meth:`training_key`."""

    deadline_ms: float = DEFAULT_DEADLINE_MS
    models: tuple[str, ...] = DEFAULT_BASES
    predictor: str = str(DEFAULT_PREDICTOR)
    data: str | None = None
    mode: str = "head"
    epochs: int = 15
    batch_size: int = 64
    finetune_blocks: int = 1
    #: pixel sizes, or ``"auto"`` (chosen from the deadline and the predictor when the search starts)
    resolutions_px: tuple[int, ...] | str = DEFAULT_RESOLUTIONS
    margin: str = DEFAULT_MARGIN
    propose: str = DEFAULT_PROPOSAL
    top_k: int = DEFAULT_TOP_K
    #: 100: 50 halves the probe's time but its first choice gave up 0.4-1.2 more test points on digits (head mode,
    #: benchmarks/results/probe_m207_head.json); 24 gave up more on five of six searches in float32 (probe*.json)
    probe_per_class: int | None = 100
    #: the probe's forward pass (trimmer.compute.FEATURE_PRECISIONS, the first the default)
    probe_precision: str = FEATURE_PRECISIONS[0]
    exhaustive: bool = False
    verify: bool = False
    seed: int = 0
    #: the seed of the data's split and subset (None: ``seed``); another ``seed`` with the same ``data_seed``
    #: retrains on the very same images, which is how to see how much a choice owes to training noise
    data_seed: int | None = None
    limit_per_class: int | None = None
    val_fraction: float = 0.1
    weights: tuple[tuple[str, str], ...] = ()
    pretrained: bool = True
    workers: int = 1
    scheduler: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.deadline_ms, (int, float)) or not 0 < self.deadline_ms < float("inf"):
            raise NetcutError(f"--deadline-ms must be a positive number of milliseconds, got {self.deadline_ms!r}")
        if not self.models:
            raise NetcutError("--models is empty; give at least one base network")
        if len(set(self.models)) != len(self.models):
            raise NetcutError(f"--models lists a network twice: {', '.join(self.models)}")
        if self.margin not in PRUNE_MARGINS:
            raise NetcutError(f"--margin must be one of {', '.join(PRUNE_MARGINS)}, got {self.margin!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise NetcutError(f"--epochs must be an integer >= 1, got {self.epochs!r}")
        if self.resolutions_px == AUTO_RESOLUTIONS:
            pass
        elif isinstance(self.resolutions_px, str) or not self.resolutions_px or any(
                isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in self.resolutions_px):
            raise NetcutError(f"--resolutions must be positive integers (pixels) or {AUTO_RESOLUTIONS!r}, "
                              f"got {self.resolutions_px!r}")
        elif len(set(self.resolutions_px)) != len(self.resolutions_px):
            raise NetcutError(f"--resolutions lists a size twice: {self.resolutions_px!r}")
        for flag, value in (("--seed", self.seed), ("--data-seed", self.split_seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise NetcutError(f"{flag} must be an integer >= 0, got {value!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise NetcutError(f"--workers must be an integer >= 1, got {self.workers!r}")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 < self.val_fraction < 1:
            raise NetcutError(f"--val-fraction must be a number between 0 and 1, got {self.val_fraction!r}")
        from .proposal import PROPOSAL_POLICIES

        if self.propose not in PROPOSAL_POLICIES:
            raise NetcutError(f"--propose must be one of {', '.join(PROPOSAL_POLICIES)}, got {self.propose!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise NetcutError(f"--top-k must be an integer >= 1, got {self.top_k!r}")
        if self.probe_per_class is not None and (isinstance(self.probe_per_class, bool)
                                                 or not isinstance(self.probe_per_class, int) or self.probe_per_class < 2):
            raise NetcutError(f"--probe-per-class must be an integer >= 2 (or None for all), got {self.probe_per_class!r}")
        check_feature_precision(self.probe_precision)
        from .train_config import MODES

        if self.mode not in MODES:
            raise NetcutError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def split_seed(self) -> int:
        """The seed the data is subset and split with."""
        return self.seed if self.data_seed is None else self.data_seed

    def train_config(self):
        from .train_config import TrainConfig

        return TrainConfig(mode=self.mode, epochs=self.epochs, batch_size=self.batch_size,
                           finetune_blocks=self.finetune_blocks, seed=self.seed, device=self.device)

    def training_key(self, data_fingerprint: str | None) -> dict[str, Any]:
        """The settings a finished candidate's result depends on (resume must match them); ``data_fingerprint``
        None: before the data is loaded (:meth:`trimmer.state.SearchState.precheck` compares the rest)."""
        return {
            "schema_version": SEARCH_SCHEMA_VERSION,
            "data": data_fingerprint,  # the validation split is part of the data
            "data_spec": {"data": self.data, "seed": self.split_seed, "limit_per_class": self.limit_per_class,
                          "val_fraction": self.val_fraction},
            "train": self.train_config().to_dict(),
            "pretrained": self.pretrained,
            "weights": [list(w) for w in self.weights],
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["models"] = list(self.models)
        d["resolutions_px"] = (self.resolutions_px if self.resolutions_px == AUTO_RESOLUTIONS
                               else list(self.resolutions_px))
        d["weights"] = [list(w) for w in self.weights]
        return d


# --------------------------------------------------------------------------- the search


def _data_fingerprint(data) -> str:
    h = hashlib.sha256()
    for name in SPLIT_ARRAYS:
        t = getattr(data, name)
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class _Best:
    """The best trained candidate so far among those meeting the deadline, ranked as :func:`_choose` ranks."""

    def __init__(self, feasibility: Feasibility):
        self.feasibility = feasibility
        self.key: tuple[float, float] | None = None

    def offer(self, cand: Candidate, val_accuracy: float) -> bool:
        """Record a result; True when it ranks at least as high as every eligible one so far (it can win)."""
        key = (val_accuracy, -cand.predicted_latency_ms)
        if self.key is not None and not key >= self.key:
            return False
        if not self.feasibility.meets(cand):  # after the rank test: a measurement only for a possible winner
            return False
        self.key = key
        return True

    def state_min_val(self, cand: Candidate) -> float | None:
        """The val accuracy a result of ``cand`` needs to possibly win (inf: it cannot; None: any)."""
        if not self.feasibility.possible(cand):
            return float("inf")
        return None if self.key is None else self.key[0]


def _choose(candidates: Sequence[Candidate], results: dict[str, CandidateResult], feasibility: Feasibility, *,
            off_the_shelf: bool = False) -> tuple[Candidate, CandidateResult] | None:
    """Most accurate trained candidate meeting the deadline: highest val accuracy, then lower latency.

    Selection uses the validation split; the test accuracy is reported, never used to choose.  Candidates
    are tried best first, so ``--margin measured`` times only those that could be chosen.
    """
    pool = [c for c in candidates if c.candidate_id in results and feasibility.possible(c)
            and (c.off_the_shelf or not off_the_shelf)]
    pool.sort(key=lambda c: (results[c.candidate_id].val_accuracy, -c.predicted_latency_ms), reverse=True)
    best = next((c for c in pool if feasibility.meets(c)), None)
    return None if best is None else (best, results[best.candidate_id])


def precheck(config: SearchConfig, out) -> None:
    """Everything about a search that can be refused before a predictor, data or network is loaded: the output
    folder, ``--weights`` names, an ``--out`` of other settings, a scheduler nobody listens at, a resolution
    below a base network's minimum.  :func:`run_search` calls it first; the CLI also before calibrating."""
    out = Path(out)
    if not out.parent.exists():
        raise NetcutError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p {out.parent})")
    if out.exists() and not out.is_dir():
        raise NetcutError(f"--out {str(out)!r} is a file; give a folder")
    unknown = sorted(set(dict(config.weights)) - set(config.models))
    if unknown:
        raise NetcutError(f"--weights names {', '.join(unknown)}, which is not in --models ({', '.join(config.models)})")
    SearchState.precheck(out, config.training_key(None))
    if config.scheduler:
        from latmodel.cluster import check_scheduler_reachable

        check_scheduler_reachable(config.scheduler)
    if config.resolutions_px != AUTO_RESOLUTIONS:
        check_resolutions(None, config.models, config.resolutions_px)


def run_search(config: SearchConfig, out, *, progress: bool = True, measure: MeasureFn | None = None) -> dict[str, Any]:
    """Run NetCut and write ``OUT/`` (candidates.csv, report.json, pareto.png, trn/). Returns the report.

    ``measure`` times a candidate's TRN for ``--margin measured`` (default: on this machine, in the
    predictor's runtime; tests pass a fake device).
    """
    from latmodel.predict.predictor_io import load_predictor

    from .data import load_data
    from .report import write_report
    from .trn import ONNX_FILE, TRNConfig, build_trn, export_trn

    t_start = time.perf_counter()
    out = Path(out)
    precheck(config, out)
    keep_freed_memory()  # the feature passes reuse their batch buffers (compute.keep_freed_memory)
    weights = dict(config.weights)
    predictor = load_predictor(Path(config.predictor))
    if config.resolutions_px != AUTO_RESOLUTIONS:  # refused before any data or network is loaded
        check_resolutions(predictor, config.models, config.resolutions_px)
    times_here = config.margin == "measured" and measure is None
    if config.verify or times_here:
        from latmodel.measure.runtimes import require_runtime  # a runtime that is not installed fails now, not after the training

        require_runtime(runtime_of(predictor))
        other = _other_device(predictor)
        if other and times_here:
            raise NetcutError(f"--margin measured times candidates on this machine, but {other}; run the search on "
                              "that device, or use --margin upper")
        if other and config.verify:
            logger.warning("%s: --verify measures here, so its latency does not check a deadline priced for that "
                           "device", other)
    data = load_data(config.data, seed=config.split_seed, limit_per_class=config.limit_per_class,
                     val_fraction=config.val_fraction)
    n_classes = data.n_classes
    config = dataclasses.replace(config, resolutions_px=resolve_resolutions(
        predictor, config.models, config.resolutions_px, config.deadline_ms, margin=config.margin, n_classes=n_classes),
        probe_precision=resolve_feature_precision(config.probe_precision, config.device))  # what runs: probe key, report

    # Pretrained bases: loaded here first, so a missing weights file fails before any work; in-process
    # jobs and the feature code reuse these very chains.
    bases = {(base, res): base_chain(base, res, weights_path=weights.get(base), pretrained=config.pretrained,
                                     seed=config.seed)
             for base in config.models for res in config.resolutions_px}

    pricing = price_candidates(predictor, config.models, resolutions=config.resolutions_px,
                               deadline_ms=config.deadline_ms, margin=config.margin, n_classes=n_classes,
                               chains={k: chain for k, (chain, _) in bases.items()},
                               check_device=not (times_here or config.verify))  # both said so above
    if pricing.other_device:  # said once the input is known valid (a user error stays the only line)
        logger.warning("%s: the candidates are priced for that device", pricing.other_device)
    candidates, kept = pricing.candidates, pricing.kept
    logger.info("%d candidates, %d kept, %d pruned", len(candidates), len(kept), len(candidates) - len(kept))

    state = SearchState(out, config.training_key(_data_fingerprint(data)))
    # measured latencies are kept per candidate id, which names its resolution
    measured_key = {"device": device_of(predictor) or None, "n_classes": n_classes}
    feasibility = Feasibility(
        config.deadline_ms, config.margin,
        measure=measure or trn_timer(bases, n_classes, predictor),
        measured_ms=state.load_measured(measured_key),
        on_measured=lambda cid, ms: state.save_measured(measured_key, feasibility.measured_ms))
    t_probe = time.perf_counter()
    probes: dict[str, ProbeScore] = {}
    if config.exhaustive:
        to_train = list(candidates)
    else:
        if config.propose in NEEDS_PROBE:
            probes = probe_candidates(kept, bases, data, config, state, progress)
        scores = {k: v.probe_val_accuracy for k, v in probes.items()}
        to_train = propose(config.propose, kept, scores=scores, top_k=config.top_k, meets=feasibility.meets)
        # The baseline NetCut is judged against: the off-the-shelf networks (any resolution) that the same
        # policy would retrain among themselves, fine-tuned with the same budget as the TRNs.
        baseline = propose(config.propose, [c for c in kept if c.off_the_shelf], scores=scores, top_k=config.top_k,
                           meets=feasibility.meets)
        chosen_ids = {c.candidate_id for c in to_train}
        to_train += [c for c in baseline if c.candidate_id not in chosen_ids]
    probe_seconds = time.perf_counter() - t_probe
    logger.info("%s proposes %d of %d feasible candidates", "exhaustive" if config.exhaustive else config.propose,
                len(to_train), len(kept))

    results: dict[str, CandidateResult] = {}
    pending: dict[str, list[Candidate]] = {}
    for c in to_train:
        done = state.load(c.candidate_id)
        if done is not None:
            results[c.candidate_id] = done
        else:
            pending.setdefault((c.base, c.resolution_px), []).append(c)
    resumed = len(results)
    by_id = {c.candidate_id: c for c in candidates}
    by_base_cut = {(c.base, c.resolution_px, c.cut): c for c in candidates}
    # Finetune/full weights are kept only for a candidate that can still be chosen: it meets the deadline and
    # ranks (val accuracy, then lower latency; as _choose) at least as high as every such one so far.
    head_mode = config.mode == "head"
    best = _Best(feasibility)
    for cid, res in results.items():
        best.offer(by_id[cid], res.val_accuracy)
    train_cfg = config.train_config().to_dict()
    jobs = []
    for (base, res), cands in pending.items():
        cuts = tuple(sorted(c.cut for c in cands))
        groups = [cuts] if head_mode else [(k,) for k in cuts]
        for g in groups:
            jobs.append(TrainJob(base=base, cuts=g, n_blocks=cands[0].n_blocks, resolution_px=res,
                                 mode=config.mode, train=train_cfg, weights_path=weights.get(base),
                                 pretrained=config.pretrained))

    def dispatched() -> Iterator[TrainJob]:
        for job in jobs:  # read when joblib dispatches the job: the bar is the best result at that moment
            yield job if head_mode else dataclasses.replace(
                job, state_min_val=best.state_min_val(by_base_cut[job.base, job.resolution_px, job.cuts[0]]))

    n_pending = sum(len(v) for v in pending.values())
    work = {cid: w for job in jobs for cid, w in _job_work(job, by_base_cut, config, data).items()}
    t_train = time.perf_counter()
    with progress_bar(sum(work.values()), progress, desc="retraining", unit="work",
                      bar_format=WORK_BAR_FORMAT) as bar:
        for done_now, item in enumerate(run_jobs(dispatched(), data, config, progress=progress), 1):
            cid = item["candidate_id"]
            keep_state = head_mode or best.offer(by_id[cid], item["result"]["val_accuracy"])
            results[cid] = state.save(cid, item["result"], item["state"] if keep_state else None)
            bar.update(work[cid])
            bar.set_postfix_str(f"{done_now}/{n_pending} candidates, {cid} val={item['result']['val_accuracy']:.3f}")
    training_seconds = time.perf_counter() - t_train

    chosen = _choose(candidates, results, feasibility)
    ots = _choose(candidates, results, feasibility, off_the_shelf=True)
    _keep_previous_deadline(out, config.deadline_ms)
    exported = None
    verified_ms = None
    if chosen is not None:
        cand, res = chosen
        chain, info = bases[cand.base, cand.resolution_px]
        # A copy on the CPU: loading the trained weights must not change the cached base network.
        trn = copy.deepcopy(build_trn(chain, cand.cut, n_classes)).cpu()
        if res.weights_file:
            sd = state.weights(res)
            if config.mode == "head":
                trn.head.fc.load_state_dict(sd)
            else:
                trn.load_state_dict(sd)
        trn_cfg = TRNConfig(base=cand.base, cut=cand.cut, resolution_px=cand.resolution_px, n_classes=n_classes,
                            classes=tuple(data.classes), in_channels=3, weights_source=info.source)
        exported = export_trn(trn, trn_cfg, out / "trn", runtime=runtime_of(predictor))
        if config.verify:
            onnx = exported / ONNX_FILE
            verified_ms = verify_latency(trn, cand.resolution_px, predictor, onnx if onnx.is_file() else None)
    timings = SearchTimings(prediction_seconds=pricing.prediction_seconds, probe_seconds=probe_seconds,
                            measure_seconds=feasibility.measure_seconds, training_seconds=training_seconds,
                            exploration_seconds=time.perf_counter() - t_start)
    outcome = SearchOutcome(
        config=config, pricing=pricing, results=results, probes=probes,
        proposed_ids=frozenset(c.candidate_id for c in to_train), measured_ms=dict(feasibility.measured_ms),
        measured_now=feasibility.measured_now, chosen=chosen, best_off_the_shelf=ots,
        exported_trn=str(exported) if exported else None, verified_latency_ms=verified_ms, resumed=resumed,
        trained_now=n_pending, data=data.to_dict(), predictor_device=device_of(predictor),
        runtime=runtime_of(predictor), timings=timings)
    return write_report(out, outcome)


#: What a search writes for its deadline (the retrained candidates in results/ serve every deadline).
_DEADLINE_OUTPUTS = ("trn", "report.json", "candidates.csv", "pareto.png")


def _keep_previous_deadline(out: Path, deadline_ms: float) -> None:
    """A search for a new deadline in a folder that holds another deadline's outputs moves them to
    ``deadline-<ms>ms/`` first: the earlier chosen TRN is kept, never overwritten (its results are reused)."""
    report = out / "report.json"
    try:
        old = float(json.loads(report.read_text(encoding="utf-8"))["deadline_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if old == float(deadline_ms):
        return
    keep = out / f"deadline-{old:g}ms"
    if keep.exists():
        shutil.rmtree(keep)  # an older copy of that same deadline's outputs
    keep.mkdir()
    for name in _DEADLINE_OUTPUTS:
        if (out / name).exists():
            (out / name).rename(keep / name)
    logger.info("the %g ms deadline's outputs moved to %s", old, keep)


def _job_work(job: TrainJob, by_base_cut: dict, config: SearchConfig, data) -> dict[str, float]:
    """Estimated work of each candidate of ``job`` (predicted ms per image x images), for a truthful ETA.

    head: one pass over every split up to the job's deepest cut, shared by its cuts; finetune: one pass
    to cache the frozen prefix, then forward + backward (about 3x a forward) of the trained blocks per
    epoch; full: forward + backward of the whole prefix per epoch.
    """
    n_all = len(data.train_y) + len(data.val_y) + len(data.test_y)
    n_train = len(data.train_y)
    cands = [by_base_cut[job.base, job.resolution_px, k] for k in job.cuts]
    if job.mode == "head":
        total = max(c.backbone_latency_ms for c in cands) * n_all
        return {c.candidate_id: total / len(cands) for c in cands}
    out = {}
    for c in cands:
        ms = c.backbone_latency_ms
        if job.mode == "full":
            out[c.candidate_id] = 3 * ms * n_train * config.epochs + ms * n_all
            continue
        below = by_base_cut.get((c.base, c.resolution_px, c.cut - config.finetune_blocks))
        trained_ms = ms - (below.backbone_latency_ms if below is not None else 0.0)
        out[c.candidate_id] = ms * n_all + 3 * trained_ms * n_train * config.epochs
    return out


def _other_device(predictor) -> str | None:
    """A sentence when this machine is not the device the predictor was calibrated on (else None)."""
    from latmodel.predict.shipped import device_mismatch

    return device_mismatch(device_of(predictor)) or None
