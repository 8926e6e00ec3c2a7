"""The settings of one retraining and its result, as records: the training modes and their defaults, the
optimizers, :class:`TrainConfig` (validated, with ``to_dict`` / ``from_dict``) and :class:`TrainResult`.
:mod:`trimmer.train` runs them; the search keys its resumable state on them."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from latmodel.errors import NetcutError
from latmodel.records import Record

from .compute import DEVICE_PATTERN

__all__ = ["MODES", "OPTIMIZERS", "MODE_DEFAULTS", "TrainConfig", "TrainResult", "is_int"]

MODES: tuple[str, ...] = ("head", "finetune", "full")
OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "head": {"optimizer": "adamw", "lr": 1e-2},
    "finetune": {"optimizer": "adamw", "lr": 1e-3},
    "full": {"optimizer": "sgd", "lr": 1e-2},
}


# --------------------------------------------------------------------------- records


def is_int(v: Any) -> bool:
    """An int that is not a bool (JSON and argparse values are checked with it)."""
    return isinstance(v, int) and not isinstance(v, bool)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to retrain a TRN (see the module docstring for the modes and defaults).

    ``lr`` / ``optimizer`` of None take the mode's default from
    :data:`MODE_DEFAULTS`.  ``patience`` of None disables early stopping.
    ``amp`` only has an effect on CUDA.  ``num_threads`` sets torch's CPU
    threads while training (None leaves them).  ``cache_frozen_bytes`` bounds
    the finetune mode's cache of frozen-prefix outputs (0 disables it).
    """

    mode: str = "head"
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None
    optimizer: str | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9
    finetune_blocks: int = 1
    dropout: float = 0.0
    patience: int | None = 3
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    num_threads: int | None = None
    cache_frozen_bytes: int = 512 * 2**20

    def __post_init__(self) -> None:
        def bad(field: str, allowed: str) -> NetcutError:
            return NetcutError(f"training option {field} must be {allowed}, got {getattr(self, field)!r}")

        if self.mode not in MODES:
            raise bad("mode", f"one of {', '.join(MODES)}")
        if not is_int(self.epochs) or self.epochs < 1:
            raise bad("epochs", "an integer >= 1")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise bad("batch_size", "an integer >= 1")
        if self.lr is not None and (not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool)
                                    or not math.isfinite(self.lr) or self.lr <= 0):
            raise bad("lr", "a positive number (or None for the mode's default)")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)} (or None for the mode's default)")
        if not isinstance(self.weight_decay, (int, float)) or not 0 <= self.weight_decay < math.inf:
            raise bad("weight_decay", "a number >= 0")
        if not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise bad("momentum", "a number with 0 <= momentum < 1")
        if not is_int(self.finetune_blocks) or self.finetune_blocks < 1:
            raise bad("finetune_blocks", "an integer >= 1")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise bad("dropout", "a number with 0 <= dropout < 1")
        if self.patience is not None and (not is_int(self.patience) or self.patience < 1):
            raise bad("patience", "an integer >= 1 (or None to disable early stopping)")
        if not is_int(self.seed):
            raise bad("seed", "an integer")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise bad("device", "'cpu', 'cuda' or 'cuda:N'")
        if not isinstance(self.amp, bool):
            raise bad("amp", "true or false")
        if self.num_threads is not None and (not is_int(self.num_threads) or self.num_threads < 1):
            raise bad("num_threads", "an integer >= 1 (or None)")
        if not is_int(self.cache_frozen_bytes) or self.cache_frozen_bytes < 0:
            raise bad("cache_frozen_bytes", "an integer >= 0")

    @property
    def effective_lr(self) -> float:
        return float(self.lr) if self.lr is not None else MODE_DEFAULTS[self.mode]["lr"]

    @property
    def effective_optimizer(self) -> str:
        return self.optimizer if self.optimizer is not None else MODE_DEFAULTS[self.mode]["optimizer"]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise NetcutError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class TrainResult(Record):
    """Outcome of one retraining: accuracies (fractions in [0, 1]; NaN for an empty split) at the best epoch."""

    val_accuracy: float
    test_accuracy: float
    epochs_run: int
    best_epoch: int
    train_seconds: float
    n_train: int
    n_val: int
    n_test: int


# --------------------------------------------------------------------------- helpers
