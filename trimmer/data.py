"""Datasets as in-memory uint8 tensors, split into train / val / test.

A dataset is small (NetCut retrains on the user's few thousand images), so it is
held in memory as uint8 tensors (``N x H x W`` greyscale or ``N x C x H x W``)
and converted to a network's float input one batch at a time
(:func:`to_model_input`, :func:`batches`), which keeps memory small whatever the
input resolution.

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
from typing import Any, Callable, Iterator, Sequence

from latmodel.errors import NetcutError

__all__ = [
    "DEFAULT_TEST_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FASHION_MNIST_CLASSES",
    "DEFAULT_FASHION_MNIST_DIR",
    "EMBEDDED_FILENAME",
    "IMAGE_EXTENSIONS",
    "DataSplits",
    "DatasetKind",
    "DATASETS",
    "DEFAULT_DATASET",
    "embedded_data_path",
    "read_idx",
    "stratified_split",
    "load_data",
    "load_embedded_subset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_npz",
    "to_model_input",
    "batches",
]

logger = logging.getLogger(__name__)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

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


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
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


def _limit_per_class(y, limit: int | None, seed: int):
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


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise NetcutError(f"limit_per_class must be a positive integer or None, got {limit!r}")
    return limit


def _tensors(x, y):
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)), torch.from_numpy(np.asarray(y, dtype=np.int64))


def _from_train_test(train_x, train_y, test_x, test_y, classes, source, *, val_fraction, seed, limit_per_class) -> DataSplits:
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
    keep = _limit_per_class(train_y, limit_per_class, seed)
    train_x, train_y = train_x[keep], np.asarray(train_y)[keep]
    keep = _limit_per_class(test_y, limit_per_class, seed + 1)
    test_x, test_y = test_x[keep], np.asarray(test_y)[keep]
    tr, va = stratified_split(train_y, [val_fraction], seed, classes=classes)
    txs = _tensors(train_x[tr], train_y[tr]) + _tensors(train_x[va], train_y[va]) + _tensors(test_x, test_y)
    return DataSplits(*txs, classes=tuple(str(c) for c in classes), source=str(source))


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
    return _from_train_test(
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
    return _from_train_test(
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
    keep = _limit_per_class(labels, limit, seed)
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
    txs = sum((_tensors(*splits[s]) for s in _SPLIT_DIRS), ())
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
    return _from_train_test(x[train], y[train], x[test], y[test], classes, "digits",
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
    val_fraction = _check_fraction("val_fraction", val_fraction, allow_zero=False)
    if test_fraction is not None:
        test_fraction = _check_fraction("test_fraction", test_fraction, allow_zero=False)
        if val_fraction + test_fraction >= 1.0:
            raise NetcutError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise NetcutError(f"seed must be an integer, got {seed!r}")
    _check_limit(limit_per_class)
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
