"""Retraining a trimmed network (TRN): a compact plain-PyTorch engine.

A backbone is an ordered list of blocks (``list[nn.Module]``), each taking the
previous block's output; running them in order gives a 4-D feature map.  The TRN
for cut ``k`` (:class:`~trimmer.trn.TRN`) keeps ``blocks[0..k]`` (inclusive, as
:meth:`latmodel.graph.blocks.BlockChain.prefix`) and adds a new :class:`~trimmer.trn.Head`
(global average pooling, optional dropout, ``Linear``).

Three training modes (:class:`~trimmer.train_config.TrainConfig` ``mode``), with these defaults
(:data:`~trimmer.train_config.MODE_DEFAULTS`; ``lr`` / ``optimizer`` override them):

``head``
    Blocks frozen, only the head trains: AdamW, lr 1e-2.  Uses the *feature
    cache*: :func:`~trimmer.pooled.extract_pooled_features` runs the data once through the
    backbone and keeps the pooled features after each requested cut, so every
    cut point of a base network is served by one pass, and the head trains on
    ``N x C`` features (:func:`train_head_on_features`), which takes seconds.
``finetune``
    The head and the last ``finetune_blocks`` kept blocks train, the rest are
    frozen (and their batch norms stay in eval mode): AdamW, lr 1e-3.  The
    frozen prefix's outputs are computed once and cached when they fit in
    ``cache_frozen_bytes``.
``full``
    Every block trains: SGD with Nesterov momentum 0.9, lr 1e-2.

In ``finetune`` and ``full`` the new head does not start at random: it is first trained as ``head`` mode
would train it on the pretrained blocks' pooled features (linear probe, then fine-tune; see
:func:`_linear_probe_head`).

All modes use weight decay 1e-4, a cosine learning-rate schedule over
``epochs``, cross-entropy, seeded initialisation and shuffling, and early
stopping on validation accuracy, ties broken by validation loss (``patience``
epochs without improvement); the weights of the best validation epoch are kept
and tested.  On CUDA, ``amp``
runs the forward passes under autocast (bfloat16 where supported, else float16
with a ``GradScaler``).  There is no data augmentation.  ``finetune`` and
``full`` train copies of the blocks, never the caller's modules.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from typing import Any, Sequence

from latmodel.errors import NetcutError
from latmodel.graph.features import BYTES_PER_ELEMENT

from .compute import amp_setup, progress as _progress, resolve_device, torch_threads
from .pooled import channels_last, extract_pooled_features, fold_batch_norms
from .splits import DataSplits, batches, to_model_input
from .train_config import TrainConfig, TrainResult, is_int

__all__ = [
    "train_head_on_features",
    "train_trn",
    "evaluate_accuracy",
]

logger = logging.getLogger(__name__)

def _make_optimizer(params, config: TrainConfig):
    import torch

    if config.effective_optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.effective_lr, momentum=config.momentum,
                               nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.effective_lr, weight_decay=config.weight_decay)


def _accuracy(logits, y) -> tuple[int, int]:
    return int((logits.argmax(dim=1) == y).sum()), int(len(y))


def _frac(correct: int, total: int) -> float:
    return correct / total if total else float("nan")


class _EarlyStopping:
    """Tracks the best epoch and the state to restore.

    An epoch is better when its validation accuracy is higher, or equal with a
    lower validation loss (small validation sets tie often).  Without a
    validation split the last epoch is kept.
    """

    def __init__(self, patience: int | None, has_val: bool):
        self.patience = patience
        self.has_val = has_val
        self.best_acc = -math.inf
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, val_acc: float, val_loss: float, module) -> bool:
        """Record one epoch; returns True when training should stop."""
        better = val_acc > self.best_acc or (val_acc == self.best_acc and val_loss < self.best_loss)
        if not self.has_val or better:
            self.best_acc, self.best_loss = val_acc, val_loss
            self.best_epoch = epoch
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience


def train_head_on_features(feats_train, y_train, feats_val, y_val, feats_test, y_test, n_classes: int,
                           config: TrainConfig | None = None, *, progress: bool = False):
    """Train dropout + ``Linear`` on cached pooled features; early stopping on val accuracy.

    The features are standardised with the training set's per-channel mean and
    standard deviation while training (which makes one learning rate suit every
    cut point); the scaling is folded into the returned weights, so they apply
    to the raw pooled features.  Minibatches of ``config.batch_size``, shuffled
    with a generator seeded by ``config.seed``; the Linear is initialised after
    ``torch.manual_seed(seed)``.  Accuracies are those of the returned layer.
    Returns ``(state, result)`` where ``state`` is the best-on-val
    ``{"weight", "bias"}`` of the Linear (load it with
    ``Head.fc.load_state_dict(state)``) and ``result`` a :class:`TrainResult`.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    config = config or TrainConfig()
    t0 = time.perf_counter()
    if feats_train.dim() != 2 or len(feats_train) == 0:
        raise NetcutError(f"training features must be a non-empty N x C matrix, got shape {tuple(feats_train.shape)}")
    n_classes = int(n_classes)
    for name, y in (("train", y_train), ("val", y_val), ("test", y_test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            raise NetcutError(f"{name} labels must lie in 0..{n_classes - 1}, found {int(y.min())}..{int(y.max())}")
    device = resolve_device(config.device)
    ftr, ytr = feats_train.float().to(device), y_train.long().to(device)
    fva, yva = feats_val.float().to(device), y_val.long().to(device)
    fte, yte = feats_test.float().to(device), y_test.long().to(device)
    # Train on standardised features (train statistics), then fold the scaling
    # into the Linear so the returned layer takes the raw pooled features.
    mean = ftr.mean(dim=0)
    scale = ftr.std(dim=0, unbiased=False).clamp_min(1e-6) if len(ftr) > 1 else torch.ones_like(mean)
    torch.manual_seed(config.seed)
    fc = nn.Linear(feats_train.shape[1], n_classes)
    model = nn.Sequential(nn.Dropout(p=config.dropout), fc).to(device)
    gen = torch.Generator().manual_seed(config.seed)
    ztr, zva = (ftr - mean) / scale, (fva - mean) / scale
    opt = _make_optimizer(model.parameters(), config)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    stopper = _EarlyStopping(config.patience, has_val=len(yva) > 0)

    def evaluate(layer, f, y) -> tuple[float, float]:
        """(accuracy, mean cross-entropy); NaNs for an empty split."""
        if not len(y):
            return float("nan"), float("nan")
        layer.eval()
        with torch.no_grad():
            logits = layer(f)
            return _frac(*_accuracy(logits, y)), float(F.cross_entropy(logits, y))

    epochs_run = 0
    for epoch in _progress(range(1, config.epochs + 1), total=config.epochs, desc="head", enabled=progress):
        model.train()
        order = torch.randperm(len(ytr), generator=gen).to(device)
        for i in range(0, len(ytr), config.batch_size):
            idx = order[i:i + config.batch_size]
            loss = F.cross_entropy(model(ztr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        epochs_run = epoch
        if stopper.update(epoch, *evaluate(model, zva, yva), fc):
            break
    best = stopper.best_state
    weight = best["weight"] / scale
    state = {"weight": weight.detach().cpu().clone(), "bias": (best["bias"] - weight @ mean).detach().cpu().clone()}
    folded = nn.Linear(feats_train.shape[1], n_classes).to(device)
    folded.load_state_dict(state)
    result = TrainResult(
        val_accuracy=evaluate(folded, fva, yva)[0], test_accuracy=evaluate(folded, fte, yte)[0], epochs_run=epochs_run,
        best_epoch=stopper.best_epoch, train_seconds=time.perf_counter() - t0, n_train=len(ytr), n_val=len(yva),
        n_test=len(yte),
    )
    logger.debug("head on features: %s", result)
    return state, result


# --------------------------------------------------------------------------- TRN training


def _check_inputs(blocks, n_classes, data: DataSplits, resolution) -> None:
    if len(blocks) == 0:
        raise NetcutError("a TRN needs at least one block; got an empty block list")
    if not is_int(n_classes) or n_classes < 2:
        raise NetcutError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if not is_int(resolution) or resolution < 1:
        raise NetcutError(f"resolution must be a positive integer number of pixels, got {resolution!r}")
    if len(data.train_y) == 0:
        raise NetcutError(f"dataset {data.source} has no training images")
    for name in ("train", "val", "test"):
        y = getattr(data, f"{name}_y")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            raise NetcutError(f"{name} labels of {data.source} lie in {int(y.min())}..{int(y.max())}, outside 0..{n_classes - 1}")


def _train_head_mode(blocks, n_classes, data, resolution, config, progress):
    from .trn import TRN, Head

    k = len(blocks) - 1
    feats = {
        split: extract_pooled_features(blocks, getattr(data, f"{split}_x"), resolution, [k], config.batch_size,
                                       config.device, progress, amp=config.amp)[k]
        for split in ("train", "val", "test")
    }
    state, result = train_head_on_features(feats["train"], data.train_y, feats["val"], data.val_y, feats["test"],
                                           data.test_y, n_classes, config, progress=progress)
    head = Head(feats["train"].shape[1], n_classes, config.dropout)
    head.fc.load_state_dict(state)
    return TRN(blocks, head), result


def _train_blocks_mode(blocks, n_classes, data, resolution, config, progress):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from .trn import TRN, Head, global_pool

    device = resolve_device(config.device)
    autocast, scaler = amp_setup(device, config.amp)
    blocks = [copy.deepcopy(b) for b in blocks]
    n_trainable = len(blocks) if config.mode == "full" else min(config.finetune_blocks, len(blocks))
    frozen, trainable = blocks[: len(blocks) - n_trainable], blocks[len(blocks) - n_trainable:]
    for b in blocks:
        b.to(device)
    for b in frozen:
        b.requires_grad_(False).eval()
    for b in trainable:
        b.requires_grad_(True)

    # The frozen blocks only compute: their batch norms folded, channels-last input (as the probe's pass,
    # trimmer.pooled); the TRN keeps the blocks themselves.
    run_frozen = [fold_batch_norms(b) for b in frozen]

    def prefix(xb):
        h = to_model_input(xb.to(device), resolution)
        if frozen:
            h = channels_last(h)
            with torch.no_grad(), autocast():
                for b in run_frozen:
                    h = b(h)
            h = h.float().contiguous()
        return h

    with torch.no_grad():
        probe = prefix(data.train_x[:1])
        for b in trainable:
            b.eval()
        with autocast():
            channels = global_pool(nn.Sequential(*trainable)(probe)).shape[1]
    torch.manual_seed(config.seed)
    head = Head(channels, n_classes, config.dropout)
    tail = nn.Sequential(*trainable, head).to(device)

    # Frozen-prefix cache: the frozen blocks are deterministic (eval mode, no augmentation).
    n_total = len(data.train_y) + len(data.val_y) + len(data.test_y)
    cache_bytes = probe[0].numel() * BYTES_PER_ELEMENT * n_total
    cached = bool(frozen) and cache_bytes <= config.cache_frozen_bytes
    sources: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        x = getattr(data, f"{split}_x")
        if cached:
            parts = [prefix(xb).cpu() for xb, _ in batches(x, None, config.batch_size)]
            sources[split] = torch.cat(parts) if parts else torch.empty((0, *probe.shape[1:]))
        else:
            sources[split] = x
    logger.debug("%s: %d frozen + %d trainable blocks, frozen cache %s (%d bytes)", config.mode, len(frozen),
                 len(trainable), "on" if cached else "off", cache_bytes)

    def inputs(xb):
        return xb.to(device) if cached else prefix(xb)

    def evaluate(split: str) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) on a split; NaNs when it is empty."""
        y = getattr(data, f"{split}_y")
        if not len(y):
            return float("nan"), float("nan")
        tail.eval()
        correct, loss_sum = 0, 0.0
        with torch.no_grad(), autocast():
            for xb, yb in batches(sources[split], y, config.batch_size):
                logits, yb = tail(inputs(xb)).float(), yb.to(device)
                correct += _accuracy(logits, yb)[0]
                loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        return _frac(correct, len(y)), loss_sum / len(y)

    _linear_probe_head(head, trainable, sources, inputs, data, n_classes, config, autocast)
    params = [p for p in tail.parameters() if p.requires_grad]
    opt = _make_optimizer(params, config)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    gen = torch.Generator().manual_seed(config.seed)
    stopper = _EarlyStopping(config.patience, has_val=len(data.val_y) > 0)
    epochs_run = 0
    bar = _progress(range(1, config.epochs + 1), total=config.epochs, desc=config.mode, enabled=progress)
    for epoch in bar:
        tail.train()
        for xb, yb in batches(sources["train"], data.train_y, config.batch_size, shuffle=True, generator=gen):
            with autocast():
                loss = F.cross_entropy(tail(inputs(xb)).float(), yb.to(device))
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
        sched.step()
        epochs_run = epoch
        val_acc, val_loss = evaluate("val")
        bar.set_postfix(loss=float(loss.detach()), val_acc=val_acc)
        if stopper.update(epoch, val_acc, val_loss, tail):
            break
    tail.load_state_dict(stopper.best_state)
    val_acc, test_acc = evaluate("val")[0], evaluate("test")[0]
    trn = TRN(blocks, head).eval()
    return trn, (val_acc, test_acc, epochs_run, stopper.best_epoch)


def _linear_probe_head(head, trainable, sources, inputs, data, n_classes: int, config: TrainConfig, autocast) -> None:
    """Start the new head where head mode would end: trained on the pooled features of the still-pretrained
    trainable blocks (linear probe, then fine-tune: LP-FT, Kumar et al., ICLR 2022).

    Why: from a random head, ``finetune``'s AdamW at lr 1e-3 on raw (unstandardised) features did not converge in
    a few epochs on a few hundred images: on Fashion-MNIST (480 images, 5 epochs) mobilenet_v2@96px cut after
    block 11 fine-tuned to 60% test accuracy while a linear probe of the same features scored 84%, and shallow
    cuts stayed near chance, so fine-tuning ranked candidates by how fast their heads converge
    (benchmarks/bench_exploration.py, 2026-12-03).  It costs one forward pass of the trainable blocks over the
    training and validation images, and the head's training on cached features (seconds)."""
    import torch
    import torch.nn as nn

    from .trn import global_pool

    body = nn.Sequential(*trainable)
    body.eval()
    pooled = {}
    with torch.no_grad(), autocast():
        for split in ("train", "val"):
            parts = [global_pool(body(inputs(xb))).float().cpu()
                     for xb, _ in batches(sources[split], getattr(data, f"{split}_y"), config.batch_size)]
            pooled[split] = torch.cat(parts) if parts else torch.empty((0, head.in_channels))
    empty = pooled["train"][:0]
    state, _ = train_head_on_features(pooled["train"], data.train_y, pooled["val"], data.val_y, empty,
                                      data.train_y[:0], n_classes,
                                      dataclasses.replace(config, mode="head", lr=None, optimizer=None))
    head.fc.load_state_dict(state)


def train_trn(blocks: Sequence[Any], n_classes: int, data: DataSplits, resolution: int, config: TrainConfig | None = None,
              progress: bool = True):
    """Retrain the TRN made of ``blocks`` (the kept blocks, already cut) plus a new head.

    Returns ``(TRN in eval mode on config.device, TrainResult)``.  ``head`` mode
    reuses the caller's (frozen) blocks; ``finetune`` / ``full`` train copies.
    """
    import torch

    config = config or TrainConfig()
    _check_inputs(blocks, n_classes, data, resolution)
    resolve_device(config.device)
    t0 = time.perf_counter()
    with torch_threads(config.num_threads):
        if config.mode == "head":
            trn, result = _train_head_mode(list(blocks), n_classes, data, resolution, config, progress)
            trn = trn.to(torch.device(config.device)).eval()
            result = dataclasses.replace(result, train_seconds=time.perf_counter() - t0)
        else:
            trn, (val_acc, test_acc, epochs_run, best_epoch) = _train_blocks_mode(
                list(blocks), n_classes, data, resolution, config, progress)
            result = TrainResult(
                val_accuracy=val_acc, test_accuracy=test_acc, epochs_run=epochs_run, best_epoch=best_epoch,
                train_seconds=time.perf_counter() - t0, n_train=len(data.train_y), n_val=len(data.val_y),
                n_test=len(data.test_y),
            )
    logger.info("trained %s TRN (%d blocks): val %.4f, test %.4f, %d epochs (best %d), %.1f s", config.mode, len(blocks),
                result.val_accuracy, result.test_accuracy, result.epochs_run, result.best_epoch, result.train_seconds)
    return trn, result


def evaluate_accuracy(model, x_uint8, y, resolution: int, batch_size: int = 64, device: str = "cpu") -> float:
    """Top-1 accuracy of ``model`` on uint8 images (converted per batch); NaN for no images."""
    import torch

    if not len(y):
        return float("nan")
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    model = model.to(dev).eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in batches(x_uint8, y, batch_size):
            correct += _accuracy(model(to_model_input(xb.to(dev), resolution)), yb.to(dev))[0]
    return _frac(correct, len(y))
