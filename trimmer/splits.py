"""A dataset in memory, split: the :class:`DataSplits` record, seeded stratified splitting and per-class
sampling, and a batch of images as a network's input.  :mod:`trimmer.data` reads datasets into it.

A dataset is small (NetCut retrains on the user's few thousand images), so it is held in memory as uint8
tensors (``N x H x W`` greyscale or ``N x C x H x W``) and converted to a network's float input one batch at a
time (:func:`to_model_input`, :func:`batches`), which keeps memory small whatever the input resolution.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Sequence

from latmodel.errors import NetcutError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DataSplits", "check_fraction", "check_limit", "stratified_split",
           "limit_per_class_indices", "as_tensors", "splits_from_train_test", "to_model_input", "batches"]

#: The normalisation ImageNet-pretrained networks were trained with.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# --------------------------------------------------------------------------- record


@dataclasses.dataclass(frozen=True, eq=False)
class DataSplits:
    """Train / val / test images (uint8 tensors) and integer labels (int64 tensors).

    Images are ``N x H x W`` (greyscale) or ``N x C x H x W``; labels index
    :attr:`classes`.  ``source`` says where the data came from (a path or a
    registry name).  Only metadata is serialised (:meth:`to_dict`); the tensors
    are reloaded from the source with :func:`load_data`.
    """

    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    test_x: Any
    test_y: Any
    classes: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if len(x) != len(y):
                raise ValueError(f"{split}: {len(x)} images but {len(y)} labels")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.train_x.shape[1:])

    def to_dict(self) -> dict:
        """Metadata only: sizes, image shape, classes and source."""
        return {
            "source": self.source,
            "classes": list(self.classes),
            "n_classes": self.n_classes,
            "n_train": int(len(self.train_y)),
            "n_val": int(len(self.val_y)),
            "n_test": int(len(self.test_y)),
            "image_shape": list(self.image_shape),
        }


# --------------------------------------------------------------------------- splitting


def check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
    ok = isinstance(value, (int, float)) and (0.0 <= value < 1.0 if allow_zero else 0.0 < value < 1.0)
    if not ok:
        rng = "0 <= x < 1" if allow_zero else "0 < x < 1"
        raise NetcutError(f"{name} must be a number with {rng}, got {value!r}")
    return float(value)


def stratified_split(y, fractions: Sequence[float], seed: int, *, classes: Sequence[str] | None = None) -> list:
    """Split indices of labels ``y`` per class into ``1 + len(fractions)`` parts.

    Part 0 (train) gets what the others leave.  Part ``j >= 1`` gets
    ``max(1, round(n_c * fractions[j-1]))`` images of each class ``c`` with
    ``n_c`` images (0 when the fraction is 0).  Classes are visited in label
    order and shuffled with one ``numpy.random.default_rng(seed)``, so a seed
    gives the same split every time.  Returns sorted ``int64`` index arrays.
    """
    import numpy as np

    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    parts: list[list] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = len(idx)
        start = 0
        taken = []
        for f in fractions:
            k = 0 if f == 0 else max(1, int(round(n * f)))
            taken.append(idx[start:start + k])
            start += k
        if start >= n:
            name = classes[int(c)] if classes is not None and int(c) < len(classes) else str(int(c))
            need = 1 + sum(1 for f in fractions if f > 0)
            raise NetcutError(
                f"class {name!r} has only {n} image(s); splitting it into train/val/test needs at least {need}; "
                "add images or lower val_fraction/test_fraction"
            )
        parts[0].append(idx[start:])
        for j, t in enumerate(taken):
            parts[j + 1].append(t)
    return [np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]


def limit_per_class_indices(y, limit: int | None, seed: int):
    """Seeded choice of at most ``limit`` indices per class (sorted); all indices when ``limit`` is None."""
    import numpy as np

    y = np.asarray(y)
    if limit is None:
        return np.arange(len(y), dtype=np.int64)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) > limit:
            idx = rng.choice(idx, size=limit, replace=False)
        keep.append(idx)
    return np.sort(np.concatenate(keep)).astype(np.int64) if keep else np.zeros(0, np.int64)


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise NetcutError(f"limit_per_class must be a positive integer or None, got {limit!r}")
    return limit


def as_tensors(x, y):
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)), torch.from_numpy(np.asarray(y, dtype=np.int64))


def splits_from_train_test(train_x, train_y, test_x, test_y, classes, source, *, val_fraction, seed, limit_per_class) -> DataSplits:
    """Carve a stratified validation split out of ``train``; keep ``test`` as given."""
    import numpy as np

    n_classes = len(classes)
    for split, y in (("train", train_y), ("test", test_y)):
        y = np.asarray(y)
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise NetcutError(f"{source}: {split} labels must lie in 0..{n_classes - 1} (one per class name), found {y.min()}..{y.max()}")
    present = np.unique(np.asarray(train_y))
    if len(present) < 2:
        raise NetcutError(f"found {len(present)} class(es) with training images in {source}; a classifier needs at least 2")
    keep = limit_per_class_indices(train_y, limit_per_class, seed)
    train_x, train_y = train_x[keep], np.asarray(train_y)[keep]
    keep = limit_per_class_indices(test_y, limit_per_class, seed + 1)
    test_x, test_y = test_x[keep], np.asarray(test_y)[keep]
    tr, va = stratified_split(train_y, [val_fraction], seed, classes=classes)
    txs = as_tensors(train_x[tr], train_y[tr]) + as_tensors(train_x[va], train_y[va]) + as_tensors(test_x, test_y)
    return DataSplits(*txs, classes=tuple(str(c) for c in classes), source=str(source))


# --------------------------------------------------------------------------- model input


def to_model_input(x, resolution: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """uint8 images (``N x H x W`` or ``N x C x H x W``, C in 1/3) -> normalised float ``N x 3 x R x R``.

    Greyscale is repeated to three channels; images are resized bilinearly with
    antialiasing (skipped when already ``R x R``).  Floating-point input is taken
    to be scaled to [0, 1] already.  Call it per batch (see :func:`batches`).
    """
    import torch
    import torch.nn.functional as F

    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images N x H x W or N x C x H x W with C in (1, 3), got shape {tuple(x.shape)}")
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def batches(x, y, batch_size: int, *, shuffle: bool = False, generator=None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(x[i:i+b], y[i:i+b])`` minibatches (a seeded permutation when ``shuffle``)."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(x)
    if shuffle:
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], (y[idx] if y is not None else None)
    else:
        for i in range(0, n, batch_size):
            yield x[i:i + batch_size], (y[i:i + batch_size] if y is not None else None)
