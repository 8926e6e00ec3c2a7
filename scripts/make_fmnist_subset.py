#!/usr/bin/env python
"""Make ``data/fashion_mnist_subset.npz``: the embedded default dataset.

A stratified, seeded sample of Fashion-MNIST (Zalando Research, MIT licence):
200 images per class from the training set (2,000) and 100 per class from the
t10k test set (1,000), 28x28 uint8, read from the Debian package
``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist).

Keys: ``train_x`` (2000x28x28 uint8), ``train_y`` (2000 int64), ``test_x``
(1000x28x28 uint8), ``test_y`` (1000 int64), ``classes`` (10 unicode strings);
loadable with ``numpy.load(..., allow_pickle=False)``.

Usage::

    python scripts/make_fmnist_subset.py [--src DIR] [--out FILE] [--seed 0]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from trimmer.data import DEFAULT_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, read_idx  # noqa: E402

TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 100


def sample(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` images of each class, drawn without replacement."""
    picks = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False) for c in range(len(FASHION_MNIST_CLASSES))]
    return np.sort(np.concatenate(picks))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_FASHION_MNIST_DIR)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "fashion_mnist_subset.npz")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    train_x = read_idx(args.src / "train-images-idx3-ubyte.gz")
    train_y = read_idx(args.src / "train-labels-idx1-ubyte.gz")
    test_x = read_idx(args.src / "t10k-images-idx3-ubyte.gz")
    test_y = read_idx(args.src / "t10k-labels-idx1-ubyte.gz")
    tr = sample(train_y, TRAIN_PER_CLASS, rng)
    te = sample(test_y, TEST_PER_CLASS, rng)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        train_x=train_x[tr].astype(np.uint8),
        train_y=train_y[tr].astype(np.int64),
        test_x=test_x[te].astype(np.uint8),
        test_y=test_y[te].astype(np.int64),
        classes=np.array(FASHION_MNIST_CLASSES, dtype=np.str_),
    )
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {digest[:16]}): "
          f"{len(tr)} train + {len(te)} test images, seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
