"""Datasets read into :class:`~trimmer.splits.DataSplits` (uint8 tensors, train / val / test): the registry
(:data:`DATASETS`) and the readers.

:func:`load_data` takes a *spec*:

* ``None`` or ``"fashion-mnist-subset"`` -- the embedded 3,000-image stratified
  Fashion-MNIST subset in ``data/fashion_mnist_subset.npz`` (see
  :func:`embedded_data_path`); made by ``scripts/make_fmnist_subset.py``;
* ``"digits"`` -- scikit-learn's 1,797 8x8 handwritten digits (shipped with scikit-learn);
* ``"fashion-mnist"`` -- the full Fashion-MNIST IDX files from
  :data:`DEFAULT_FASHION_MNIST_DIR` (Debian package ``dataset-fashion-mnist``);
* a directory holding the four Fashion-MNIST IDX files (``.gz`` or not);
* a ``.npz`` file with the embedded subset's keys;
* any other directory -- an image folder in torchvision ``ImageFolder`` layout
  (``ROOT/CLASS/IMAGE``), optionally already split into ``train/``, ``val/`` and
  ``test/`` subfolders.

Splits are stratified and seeded.  Fashion-MNIST keeps its official test split;
its validation split is carved out of the training images.  Everything the user
can get wrong raises :class:`~latmodel.errors.NetcutError`.
"""
from __future__ import annotations

import dataclasses
import gzip
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from latmodel.errors import NetcutError

from .splits import (DataSplits, as_tensors, check_fraction, check_limit, limit_per_class_indices,
                     splits_from_train_test, stratified_split)

__all__ = [
    "DEFAULT_TEST_FRACTION",
    "FASHION_MNIST_CLASSES",
    "DEFAULT_FASHION_MNIST_DIR",
    "EMBEDDED_FILENAME",
    "IMAGE_EXTENSIONS",
    "DatasetKind",
    "DATASETS",
    "DEFAULT_DATASET",
    "embedded_data_path",
    "read_idx",
    "load_data",
    "load_embedded_subset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_npz",
]

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_FILENAME = "fashion_mnist_subset.npz"
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_NPZ_KEYS = ("train_x", "train_y", "test_x", "test_y", "classes")
_SPLIT_DIRS = ("train", "val", "test")
DEFAULT_TEST_FRACTION = 0.2


# --------------------------------------------------------------------------- helpers


def embedded_data_path() -> Path:
    """Path of the embedded Fashion-MNIST subset (``data/fashion_mnist_subset.npz``, installed as package data)."""
    from latmodel.resources import data_path

    return data_path(EMBEDDED_FILENAME)


def read_idx(path: str | Path):
    """Read an IDX file (``.gz`` or plain) into a numpy array (big-endian header, uint8 data)."""
    import numpy as np

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise NetcutError(f"cannot read IDX file {path}: {exc}; expected a (gzipped) IDX file as published with MNIST") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise NetcutError(
            f"{path} is not an unsigned-byte IDX file (header {raw[:4].hex() or 'empty'}); "
            "expected the Fashion-MNIST files train-images-idx3-ubyte.gz etc."
        )
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - offset != expected:
        raise NetcutError(f"IDX file {path} is truncated or corrupt: header says {dims} ({expected} bytes), found {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims).copy()


# --------------------------------------------------------------------------- loaders


def load_npz(path: str | Path, *, val_fraction: float = 0.1, test_fraction: float | None = None, seed: int = 0,
             limit_per_class: int | None = None, source: str | None = None, **_: Any) -> DataSplits:
    """Load an ``.npz`` with keys ``train_x, train_y, test_x, test_y, classes`` (no pickles)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise NetcutError(f"dataset file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _NPZ_KEYS if k not in z.files]
            if missing:
                raise NetcutError(
                    f"{path} lacks key(s) {', '.join(missing)}; a dataset .npz needs {', '.join(_NPZ_KEYS)}"
                )
            arrays = {k: z[k] for k in _NPZ_KEYS}
    except NetcutError:
        raise
    except Exception as exc:  # zipfile / ValueError (object arrays) / OSError
        raise NetcutError(
            f"cannot read dataset file {path}: {type(exc).__name__}: {exc}; expected a .npz of plain arrays "
            f"with keys {', '.join(_NPZ_KEYS)} (object arrays are refused)"
        ) from exc
    if test_fraction is not None:
        logger.info("%s has its own test split; ignoring test_fraction=%s", path, test_fraction)
    return splits_from_train_test(
        arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"],
        [str(c) for c in arrays["classes"]], source or str(path),
        val_fraction=val_fraction, seed=seed, limit_per_class=limit_per_class,
    )


def load_embedded_subset(path: str | Path | None = None, **kw: Any) -> DataSplits:
    """The embedded stratified Fashion-MNIST subset (2,000 train + 1,000 test images, 28x28)."""
    path = Path(path) if path is not None else embedded_data_path()
    if not path.is_file():
        raise NetcutError(
            f"the embedded Fashion-MNIST subset is missing (looked for {path}); run "
            "'python scripts/make_fmnist_subset.py' from a source checkout, or give a dataset path"
        )
    kw.setdefault("source", "fashion-mnist-subset")
    return load_npz(path, **kw)


def _find_idx(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in _IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[key] = candidate
                break
    return found or None


def load_fashion_mnist(path: str | Path | None = None, *, val_fraction: float = 0.1, test_fraction: float | None = None,
                       seed: int = 0, limit_per_class: int | None = None, **_: Any) -> DataSplits:
    """Full Fashion-MNIST from its four IDX files (official test split kept)."""
    folder = Path(path) if path is not None else DEFAULT_FASHION_MNIST_DIR
    if not folder.is_dir():
        raise NetcutError(
            f"Fashion-MNIST folder {folder} does not exist; install the Debian package 'dataset-fashion-mnist' "
            "or give the folder holding train-images-idx3-ubyte.gz etc."
        )
    found = _find_idx(folder) or {}
    missing = [f"{_IDX_FILES[k]}.gz" for k in _IDX_FILES if k not in found]
    if missing:
        raise NetcutError(f"{folder} lacks Fashion-MNIST file(s) {', '.join(missing)}; all four IDX files are needed")
    arrays = {k: read_idx(p) for k, p in found.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise NetcutError(f"{folder}: {split} images {x.shape} and labels {y.shape} do not match (expected N x H x W and N)")
    if test_fraction is not None:
        logger.info("Fashion-MNIST has an official test split; ignoring test_fraction=%s", test_fraction)
    return splits_from_train_test(
        arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], FASHION_MNIST_CLASSES, str(folder),
        val_fraction=val_fraction, seed=seed, limit_per_class=limit_per_class,
    )


def _list_classes(root: Path, min_classes: int = 2) -> list[tuple[str, list[Path]]]:
    """``[(class name, sorted image paths)]`` for an ImageFolder root; errors for too few or empty classes."""
    if not root.is_dir():
        raise NetcutError(f"image folder {root} does not exist or is not a directory")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < min_classes:
        names = ", ".join(repr(p.name) for p in class_dirs) or "none"
        raise NetcutError(
            f"found {len(class_dirs)} class{'es' if len(class_dirs) != 1 else ''} ({names}) in {root}; a classifier needs at "
            "least 2: put each class's images in its own subfolder (ROOT/CLASS/IMAGE.jpg)"
        )
    out = []
    for d in class_dirs:
        files = sorted(
            p for p in d.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not any(part.startswith(".") for part in p.relative_to(d).parts)
        )
        if not files:
            raise NetcutError(
                f"class folder {d} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder"
            )
        out.append((d.name, files))
    return out


def _read_image(path: Path, size: int):
    """Read one image as RGB uint8 ``3 x size x size`` (shorter side resized to ``size``, centre crop)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
            left, top = (nw - size) // 2, (nh - size) // 2
            img = img.crop((left, top, left + size, top + size))
            arr = np.asarray(img, dtype=np.uint8)
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError, DecompressionBombError, ...
        raise NetcutError(f"cannot read image {path}: {type(exc).__name__}: {exc}; remove or replace the file") from exc
    return arr.transpose(2, 0, 1)


def _read_folder(root: Path, size: int, limit: int | None, seed: int, classes: Sequence[str] | None = None):
    """Read an ImageFolder root into ``(x uint8 N x 3 x S x S, y int64, class names)``."""
    import numpy as np

    listing = _list_classes(root, min_classes=2 if classes is None else 1)
    names = [n for n, _ in listing]
    if classes is not None:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise NetcutError(
                f"{root} has class folder(s) {', '.join(map(repr, unknown))} that the training folder lacks; "
                f"known classes: {', '.join(classes)}"
            )
    else:
        classes = names
    files, labels = [], []
    for name, paths in listing:
        files += paths
        labels += [classes.index(name)] * len(paths)
    labels = np.asarray(labels, dtype=np.int64)
    keep = limit_per_class_indices(labels, limit, seed)
    logger.info("reading %d images from %s", len(keep), root)
    x = np.empty((len(keep), 3, size, size), dtype=np.uint8)
    for i, j in enumerate(keep):
        x[i] = _read_image(files[j], size)
    return x, labels[keep], list(classes)


def load_image_folder(path: str | Path, *, val_fraction: float = 0.1, test_fraction: float | None = None, seed: int = 0,
                      limit_per_class: int | None = None, image_size: int = 224, **_: Any) -> DataSplits:
    """An image folder (torchvision ``ImageFolder`` layout), split stratified by ``seed``.

    If ``path`` holds ``train/`` (and optionally ``val/``, ``test/``) subfolders,
    those splits are used; a missing ``val/`` or ``test/`` is carved out of
    ``train/``.  Otherwise all images are split into train / val / test with
    ``val_fraction`` and ``test_fraction`` (default 0.2).  Images are stored as
    RGB uint8 ``3 x image_size x image_size`` (shorter side resized, centre crop).
    ``limit_per_class`` caps the images read per class (and per split folder).
    """
    import numpy as np

    root = Path(path)
    if not root.is_dir():
        raise NetcutError(f"dataset path {root} does not exist or is not a directory")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise NetcutError(f"image_size must be an integer >= 8 pixels, got {image_size!r}")
    subdirs = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    tf = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    if "train" in subdirs and subdirs <= set(_SPLIT_DIRS):
        tr_x, tr_y, classes = _read_folder(root / "train", image_size, limit_per_class, seed)
        carve = [val_fraction if "val" not in subdirs else 0.0, tf if "test" not in subdirs else 0.0]
        tr, va, te = stratified_split(tr_y, carve, seed, classes=classes)
        splits = {"train": (tr_x[tr], tr_y[tr]), "val": (tr_x[va], tr_y[va]), "test": (tr_x[te], tr_y[te])}
        for name in ("val", "test"):
            if name in subdirs:
                splits[name] = _read_folder(root / name, image_size, limit_per_class, seed + 1, classes)[:2]
    else:
        x, y, classes = _read_folder(root, image_size, limit_per_class, seed)
        tr, va, te = stratified_split(y, [val_fraction, tf], seed, classes=classes)
        splits = {"train": (x[tr], y[tr]), "val": (x[va], y[va]), "test": (x[te], y[te])}
    txs = sum((as_tensors(*splits[s]) for s in _SPLIT_DIRS), ())
    present = np.unique(splits["train"][1])
    if len(present) < 2:  # pragma: no cover - _list_classes already guarantees two non-empty classes
        raise NetcutError(f"found {len(present)} class in {root}; a classifier needs at least 2")
    return DataSplits(*txs, classes=tuple(classes), source=str(root))


@dataclasses.dataclass(frozen=True)
class DatasetKind:
    """A registered dataset: its loader and how a spec selects it.

    ``by_name``: the spec is the registry name itself (no path); ``recognises``:
    a test on an existing path (kinds are tried in registry order).
    """

    load: Callable[..., DataSplits]
    by_name: bool = False
    recognises: Callable[[Path], bool] | None = None


def load_digits(*, val_fraction: float = 0.1, test_fraction: float | None = None, seed: int = 0,
                limit_per_class: int | None = None, **_: Any) -> DataSplits:
    """scikit-learn's handwritten digits (UCI; 1,797 8x8 greyscale images, 10 classes), shipped inside
    scikit-learn: a second real dataset that needs no download.  Pixel values 0..16 become 0..255; it has
    no test split of its own, so ``test_fraction`` (default :data:`DEFAULT_TEST_FRACTION`) of each class is one."""
    import numpy as np

    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise NetcutError("the 'digits' dataset comes with scikit-learn; pip install scikit-learn") from exc
    bunch = sk_digits()
    x = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    classes = [str(c) for c in bunch.target_names]
    train, test = stratified_split(y, [test_fraction or DEFAULT_TEST_FRACTION], seed, classes=classes)
    return splits_from_train_test(x[train], y[train], x[test], y[test], classes, "digits",
                            val_fraction=val_fraction, seed=seed, limit_per_class=limit_per_class)


def _is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def _is_idx_folder(path: Path) -> bool:
    return path.is_dir() and bool(_find_idx(path))


#: Every dataset :func:`load_data` knows, by name; path kinds in the order they are tried
#: (an image folder is any directory, so it comes last).
DATASETS: dict[str, DatasetKind] = {
    "fashion-mnist-subset": DatasetKind(load_embedded_subset, by_name=True),
    "fashion-mnist": DatasetKind(load_fashion_mnist, by_name=True, recognises=_is_idx_folder),
    "digits": DatasetKind(load_digits, by_name=True),
    "npz": DatasetKind(load_npz, recognises=_is_npz),
    "image-folder": DatasetKind(load_image_folder, recognises=Path.is_dir),
}
DEFAULT_DATASET = "fashion-mnist-subset"


def load_data(spec: str | Path | None = None, *, val_fraction: float = 0.1, test_fraction: float | None = None, seed: int = 0,
              limit_per_class: int | None = None, image_size: int = 224) -> DataSplits:
    """Load a dataset spec (see the module docstring) as :class:`DataSplits`, through :data:`DATASETS`.

    ``val_fraction`` / ``test_fraction`` are per-class fractions (stratified,
    seeded by ``seed``); ``test_fraction`` only applies to datasets without a
    test split of their own (default 0.2 there).  ``limit_per_class`` caps the
    images taken per class from each source split (seeded), for quick runs.
    ``image_size`` is the stored size of image-folder images.
    """
    val_fraction = check_fraction("val_fraction", val_fraction, allow_zero=False)
    if test_fraction is not None:
        test_fraction = check_fraction("test_fraction", test_fraction, allow_zero=False)
        if val_fraction + test_fraction >= 1.0:
            raise NetcutError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise NetcutError(f"seed must be an integer, got {seed!r}")
    check_limit(limit_per_class)
    kw = dict(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, limit_per_class=limit_per_class)
    name = DEFAULT_DATASET if spec is None else str(spec)
    kind = DATASETS.get(name)
    if kind is not None and kind.by_name:
        return kind.load(**kw)
    path = Path(spec).expanduser()
    if not path.exists():
        raise NetcutError(
            f"dataset {str(spec)!r} is neither a known dataset ({', '.join(k for k, v in DATASETS.items() if v.by_name)}) "
            "nor an existing path; give a folder of class subfolders (ROOT/CLASS/IMAGE.jpg), a Fashion-MNIST IDX folder or a .npz"
        )
    for kind in DATASETS.values():
        if kind.recognises is not None and kind.recognises(path):
            return kind.load(path, image_size=image_size, **kw)
    raise NetcutError(f"dataset path {path} is a file; expected a folder (image classes or Fashion-MNIST IDX files) or a .npz")
