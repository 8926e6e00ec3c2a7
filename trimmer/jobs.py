"""Units of retraining work and where they run (in-process, local worker processes, Dask).

Each process builds (weights loaded) and traces a base network once
(:func:`base_chain`); the dataset travels to each worker once; a finetune/full
job sends its trained weights back only when the candidate can still be chosen.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator

from latmodel.fileio import atomic_write_json

__all__ = ["TrainJob", "run_job", "run_jobs", "base_chain", "clear_base_cache", "SPLIT_ARRAYS"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One unit of retraining work, self-contained so it can run in another process or on a cluster."""

    base: str
    cuts: tuple[int, ...]
    n_blocks: int
    resolution_px: int
    mode: str
    train: dict
    weights_path: str | None
    pretrained: bool
    state_min_val: float | None = None  # ship a cut's trained weights back only at this val accuracy or above


#: Split base networks (and their weights' provenance) built in this process, by
#: (name, resolution, weights file identity, pretrained, seed): each is built and
#: traced once per process, whatever the number of jobs.  Jobs never change them
#: (head mode restores train flags; finetune/full train copies).
_BASES: dict[tuple, tuple[Any, Any]] = {}
_MAX_BASES = 16  # 4 bases x 3 resolutions (a search's default) stay built
#: The dataset a local worker process loaded from a :class:`_DataFile` (one at a time).
_WORKER_DATA: dict[str, Any] = {}
SPLIT_ARRAYS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


def _file_identity(path: str | None) -> tuple | None:
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return (str(path),)  # load_pretrained reports the missing file
    return (str(path), st.st_mtime_ns, st.st_size)


def base_chain(base: str, resolution: int, *, weights_path: str | None, pretrained: bool, seed: int):
    """``(BlockChain, WeightsInfo)`` of a base network with its weights loaded; built once per process."""
    import torch
    from latmodel.graph.blocks import load_chain
    from latmodel.graph.feature_cache import has_rows

    from .weights import load_pretrained

    key = (base, int(resolution), _file_identity(weights_path), bool(pretrained), int(seed))
    hit = _BASES.get(key)
    if hit is None:
        torch.manual_seed(seed)  # same weights in every process when --no-pretrained initialises randomly
        model, info = load_pretrained(base, resolution=resolution, weights_path=weights_path, pretrained=pretrained)
        # Weights do not change a registry network's structure: a split checked before is not checked again
        # (its FLOP coverage check traced the network twice more: 3.0 of a search's 8.8 s of building bases).
        checked = has_rows(base, resolution, 1.0, 1)
        hit = (load_chain(base, resolution, model=model, check_coverage=not checked), info)
        while len(_BASES) >= _MAX_BASES:
            _BASES.pop(next(iter(_BASES)))
        _BASES[key] = hit
    return hit


def clear_base_cache() -> None:
    """Forget this process's built base networks (e.g. to time a cold search)."""
    _BASES.clear()


@dataclasses.dataclass(frozen=True)
class _DataFile:
    """A dataset written once as ``.npy`` files for local worker processes, which map it once each."""

    folder: str

    @classmethod
    def write(cls, data, folder: Path) -> "_DataFile":
        import numpy as np

        for name in SPLIT_ARRAYS:
            np.save(folder / f"{name}.npy", getattr(data, name).contiguous().numpy())
        atomic_write_json(folder / "meta.json", {"classes": list(data.classes), "source": data.source})
        return cls(str(folder))

    def load(self):
        import numpy as np
        import torch

        from .splits import DataSplits

        folder = Path(self.folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        # Copy-on-write maps: workers share the pages, and the tensors stay writable for torch.
        arrays = {name: torch.from_numpy(np.load(folder / f"{name}.npy", mmap_mode="c")) for name in SPLIT_ARRAYS}
        return DataSplits(**arrays, classes=tuple(meta["classes"]), source=str(meta["source"]))


def _job_data(data):
    """The job's dataset: ``data`` itself, or a :class:`_DataFile` loaded once in this process."""
    if not isinstance(data, _DataFile):
        return data
    if data.folder not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[data.folder] = data.load()
    return _WORKER_DATA[data.folder]


def run_job(job: TrainJob, data, progress: bool = False) -> list[dict]:
    """Train every cut of ``job``; returns ``[{candidate_id, result, state}]``.

    ``state`` is the head's Linear weights in ``head`` mode and the whole TRN's
    state dict otherwise; it is None for a cut whose validation accuracy is
    below ``job.state_min_val`` (it cannot be chosen, so its weights stay here).
    """
    from .compute import keep_freed_memory, torch_threads
    from .pooled import extract_pooled_features
    from .train import train_head_on_features, train_trn
    from .train_config import TrainConfig

    keep_freed_memory()  # a worker process too (idempotent)
    config = TrainConfig.from_dict(job.train)
    data = _job_data(data)
    chain, _ = base_chain(job.base, job.resolution_px, weights_path=job.weights_path, pretrained=job.pretrained,
                          seed=config.seed)

    def wanted(result) -> bool:
        return job.state_min_val is None or result.val_accuracy >= job.state_min_val

    out = []
    if job.mode == "head":
        with torch_threads(config.num_threads):
            splits = {}
            for split in ("train", "val", "test"):
                x = getattr(data, f"{split}_x")
                splits[split] = extract_pooled_features(chain.blocks, x, job.resolution_px, job.cuts,
                                                        batch_size=config.batch_size, device=config.device,
                                                        progress=progress)
        for cut in job.cuts:
            state, result = train_head_on_features(
                splits["train"][cut], data.train_y, splits["val"][cut], data.val_y, splits["test"][cut], data.test_y,
                data.n_classes, config,
            )
            out.append({"candidate_id": f"{job.base}@{job.resolution_px}px/cut{cut:02d}", "result": result.to_dict(),
                        "state": {k: v.numpy() for k, v in state.items()} if wanted(result) else None})
        return out
    for cut in job.cuts:
        # train_trn trains a deep copy in finetune/full mode: the cached base chain stays pretrained.
        trn, result = train_trn(chain.blocks[: cut + 1], data.n_classes, data, job.resolution_px, config,
                                progress=progress)
        state = {k: v.detach().cpu().numpy() for k, v in trn.state_dict().items()} if wanted(result) else None
        out.append({"candidate_id": f"{job.base}@{job.resolution_px}px/cut{cut:02d}", "result": result.to_dict(),
                    "state": state})
        del trn
    return out


def run_jobs(jobs: Iterable[TrainJob], data, config, progress: bool) -> Iterator[dict]:
    """Yield job outputs as they finish (locally in-process, in local workers, or on Dask).

    ``jobs`` is consumed lazily, so a job made when it is dispatched sees the best result so far.
    The dataset travels once: as is in-process, as one scattered copy per Dask worker, and as
    ``.npy`` files that each local worker process maps once.
    """
    if config.workers == 1 and not config.scheduler:
        for job in jobs:
            yield from run_job(job, data, progress=progress)
        return
    import tempfile

    from joblib import Parallel, delayed, parallel_config

    with contextlib.ExitStack() as stack:
        if config.scheduler:
            from latmodel.cluster import connect_scheduler

            client = connect_scheduler(config.scheduler)
            stack.callback(client.close)
            stack.enter_context(parallel_config(backend="dask", n_jobs=-1, scatter=[data]))
            payload = data
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trimmer-data-")))
            payload = _DataFile.write(data, folder)
            stack.enter_context(parallel_config(backend="loky", n_jobs=config.workers, inner_max_num_threads=1))
        runner = Parallel(return_as="generator_unordered")
        for outputs in runner(delayed(run_job)(job, payload) for job in jobs):
            yield from outputs


