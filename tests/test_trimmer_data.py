"""trimmer.data: embedded subset, IDX parsing, image folders, splits and model input."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from latmodel.errors import NetcutError
from trimmer.data import DATASETS, FASHION_MNIST_CLASSES, embedded_data_path, load_data, read_idx
from trimmer.splits import IMAGENET_MEAN, IMAGENET_STD, DataSplits, batches, stratified_split, to_model_input


def _counts(y, n):
    return np.bincount(y.numpy(), minlength=n).tolist()


# --------------------------------------------------------------------------- embedded subset


def test_embedded_file_is_plain_npz_and_small():
    path = embedded_data_path()
    assert path == Path(__file__).resolve().parent.parent / "data" / "fashion_mnist_subset.npz"
    assert path.stat().st_size < 3 * 2**20
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["classes", "test_x", "test_y", "train_x", "train_y"]
        assert z["train_x"].shape == (2000, 28, 28) and z["train_x"].dtype == np.uint8
        assert z["test_x"].shape == (1000, 28, 28) and z["test_x"].dtype == np.uint8
        assert np.bincount(z["train_y"]).tolist() == [200] * 10
        assert np.bincount(z["test_y"]).tolist() == [100] * 10
        assert tuple(z["classes"].tolist()) == FASHION_MNIST_CLASSES


def test_embedded_subset_splits():
    d = load_data(None)
    assert d.to_dict() == {
        "source": "fashion-mnist-subset",
        "classes": list(FASHION_MNIST_CLASSES),
        "n_classes": 10,
        "n_train": 1800,
        "n_val": 200,
        "n_test": 1000,
        "image_shape": [28, 28],
    }
    assert d.train_x.dtype == torch.uint8 and d.train_y.dtype == torch.int64
    assert _counts(d.train_y, 10) == [180] * 10
    assert _counts(d.val_y, 10) == [20] * 10
    assert _counts(d.test_y, 10) == [100] * 10
    # val is carved out of train: together they are the 2,000 embedded training images
    with np.load(embedded_data_path(), allow_pickle=False) as z:
        both = torch.cat([d.train_x, d.val_x]).reshape(2000, -1).numpy()
        ref = z["train_x"].reshape(2000, -1)
        assert sorted(map(bytes, both)) == sorted(map(bytes, ref))
        assert np.array_equal(d.test_x.numpy(), z["test_x"])


def test_split_is_seeded():
    a, b, c = load_data(None, seed=0), load_data(None, seed=0), load_data(None, seed=1)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.val_x, c.val_x)
    assert load_data("fashion-mnist-subset", val_fraction=0.25).to_dict()["n_val"] == 500


def test_limit_per_class():
    d = load_data(None, limit_per_class=10)
    assert _counts(d.train_y, 10) == [9] * 10
    assert _counts(d.val_y, 10) == [1] * 10
    assert _counts(d.test_y, 10) == [10] * 10


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"val_fraction": 0.0}, "val_fraction must be a number with 0 < x < 1, got 0.0"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"test_fraction": 0.95}, r"val_fraction \+ test_fraction must be < 1"),
        ({"limit_per_class": 0}, "limit_per_class must be a positive integer"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(NetcutError, match=match):
        load_data(None, **kw)


def test_unknown_spec():
    with pytest.raises(NetcutError, match="'no-such-set' is neither a known dataset .*fashion-mnist-subset"):
        load_data("no-such-set")
    assert set(DATASETS) >= {"fashion-mnist-subset", "fashion-mnist", "image-folder"}


# --------------------------------------------------------------------------- IDX files


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def _idx_folder(root: Path) -> tuple[np.ndarray, np.ndarray]:
    root.mkdir()
    train_y = np.repeat(np.arange(3), 10)
    train_x = (np.arange(30 * 4 * 4) % 251).reshape(30, 4, 4).astype(np.uint8)
    _write_idx(root / "train-images-idx3-ubyte.gz", train_x)
    _write_idx(root / "train-labels-idx1-ubyte.gz", train_y)
    _write_idx(root / "t10k-images-idx3-ubyte.gz", train_x[::5])
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", train_y[::5])
    return train_x, train_y


def test_read_idx_round_trip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)


def test_idx_folder(tmp_path):
    train_x, train_y = _idx_folder(tmp_path / "fm")
    d = load_data(tmp_path / "fm", val_fraction=0.2)
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (24, 6, 6)
    assert _counts(d.val_y, 3) == [2, 2, 2]
    assert d.classes == FASHION_MNIST_CLASSES
    assert torch.equal(d.test_x, torch.from_numpy(train_x[::5]))
    assert d.test_y.tolist() == [0, 0, 1, 1, 2, 2]
    # every training image keeps its label
    lookup = {bytes(x): y for x, y in zip(train_x.reshape(30, -1), train_y)}
    for x, y in zip(torch.cat([d.train_x, d.val_x]), torch.cat([d.train_y, d.val_y])):
        assert lookup[bytes(x.numpy().reshape(-1))] == int(y)


def test_idx_truncated(tmp_path):
    _idx_folder(tmp_path / "fm")
    raw = gzip.decompress((tmp_path / "fm" / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "fm" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-5]))
    with pytest.raises(NetcutError, match=r"truncated or corrupt: header says \(30, 4, 4\) \(480 bytes\), found 475"):
        load_data(tmp_path / "fm")


def test_idx_missing_file(tmp_path):
    _idx_folder(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(NetcutError, match="lacks Fashion-MNIST file.*t10k-labels-idx1-ubyte.gz"):
        load_data(tmp_path / "fm")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="Debian dataset-fashion-mnist not installed")
def test_full_fashion_mnist_limited():
    d = load_data("fashion-mnist", limit_per_class=5)
    assert (len(d.train_y), len(d.val_y), len(d.test_y)) == (40, 10, 50)
    assert d.train_x.shape[1:] == (28, 28)
    assert d.source == "/usr/share/datasets/fashion-mnist"


# --------------------------------------------------------------------------- image folders


COLOURS = {"cat": (200, 10, 10), "dog": (10, 200, 10), "eel": (10, 10, 200)}


def _image_folder(root: Path, per_class: int = 5, classes=("cat", "dog", "eel"), size=(12, 10)) -> Path:
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, COLOURS[name]).save(root / name / f"{i}.png")
    return root


def test_image_folder_split(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    (root / "cat" / "notes.txt").write_text("ignored")
    d = load_data(root, image_size=8)
    assert d.classes == ("cat", "dog", "eel")
    assert d.train_x.shape == (9, 3, 8, 8) and d.train_x.dtype == torch.uint8
    assert (len(d.val_y), len(d.test_y)) == (3, 3)
    assert _counts(d.train_y, 3) == [3, 3, 3] and _counts(d.test_y, 3) == [1, 1, 1]
    for x, y in zip(d.train_x, d.train_y):
        assert x[:, 4, 4].tolist() == list(COLOURS[d.classes[int(y)]])
    assert d.source == str(root)


def test_image_folder_with_split_subfolders(tmp_path):
    _image_folder(tmp_path / "ds" / "train", per_class=4, classes=("cat", "dog"))
    _image_folder(tmp_path / "ds" / "test", per_class=2, classes=("dog",))
    d = load_data(tmp_path / "ds", image_size=8, val_fraction=0.25)
    assert d.classes == ("cat", "dog")
    assert (_counts(d.train_y, 2), _counts(d.val_y, 2), _counts(d.test_y, 2)) == ([3, 3], [1, 1], [0, 2])


def test_image_folder_unknown_class_in_test(tmp_path):
    _image_folder(tmp_path / "ds" / "train", classes=("cat", "dog"))
    _image_folder(tmp_path / "ds" / "test", classes=("eel",))
    with pytest.raises(NetcutError, match="class folder\\(s\\) 'eel' that the training folder lacks"):
        load_data(tmp_path / "ds", image_size=8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(NetcutError, match="neither a known dataset .* nor an existing path"):
        load_data(str(tmp_path / "missing"))
    one = _image_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(NetcutError, match=f"found 1 class \\('cat'\\) in {one}; a classifier needs at least 2"):
        load_data(one)
    empty = _image_folder(tmp_path / "empty", classes=("cat", "dog"))
    (empty / "fox").mkdir()
    with pytest.raises(NetcutError, match=f"class folder {empty / 'fox'} holds no images"):
        load_data(empty)
    bad = _image_folder(tmp_path / "bad", classes=("cat", "dog"))
    (bad / "dog" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(NetcutError, match=f"cannot read image {bad / 'dog' / 'broken.jpg'}"):
        load_data(bad, image_size=8)
    few = _image_folder(tmp_path / "few", per_class=2, classes=("cat", "dog"))
    with pytest.raises(NetcutError, match="class 'cat' has only 2 image\\(s\\); .* needs at least 3"):
        load_data(few, image_size=8)


# --------------------------------------------------------------------------- helpers


def test_stratified_split_counts():
    y = np.array([0] * 10 + [1] * 4)
    tr, va, te = stratified_split(y, [0.2, 0.1], seed=3)
    assert np.bincount(y[tr]).tolist() == [7, 2] and np.bincount(y[va]).tolist() == [2, 1]
    assert np.bincount(y[te]).tolist() == [1, 1]
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(14))
    again = stratified_split(y, [0.2, 0.1], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))


def test_to_model_input_grey_and_rgb():
    grey = torch.full((2, 4, 4), 255, dtype=torch.uint8)
    out = to_model_input(grey, 4)
    assert out.shape == (2, 3, 4, 4) and out.dtype == torch.float32
    for c in range(3):
        assert torch.allclose(out[:, c], torch.full((2, 4, 4), (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]))
    rgb = torch.zeros((1, 3, 28, 28), dtype=torch.uint8)
    rgb[:, 1] = 51
    out = to_model_input(rgb, 8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    assert out.shape == (1, 3, 8, 8)
    assert torch.allclose(out[0, 1], torch.full((8, 8), 0.2)) and torch.equal(out[0, 0], torch.zeros(8, 8))


def test_to_model_input_resizes_with_antialias():
    x = torch.zeros((1, 4, 4), dtype=torch.uint8)
    x[0, :, :2] = 255  # left half white
    out = to_model_input(x, 2, mean=(0.0,) * 3, std=(1.0,) * 3)
    # antialiased bilinear 4 -> 2 averages over a triangle 4 pixels wide (weights 1/4, 3/4, 3/4, 1/4);
    # without antialiasing the result would be exactly [1, 0]
    assert torch.allclose(out[0, 0], torch.tensor([[6 / 7, 1 / 7], [6 / 7, 1 / 7]]))


def test_batches():
    x, y = torch.arange(10), torch.arange(10) * 2
    got = list(batches(x, y, 4))
    assert [len(b[0]) for b in got] == [4, 4, 2] and torch.equal(got[2][1], torch.tensor([16, 18]))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    s1 = [b[0].tolist() for b in batches(x, y, 4, shuffle=True, generator=g1)]
    s2 = [b[0].tolist() for b in batches(x, y, 4, shuffle=True, generator=g2)]
    assert s1 == s2 and sorted(sum(s1, [])) == list(range(10))


def test_datasplits_checks_lengths():
    z = torch.zeros((2, 4, 4), dtype=torch.uint8)
    with pytest.raises(ValueError, match="val: 2 images but 1 labels"):
        DataSplits(z, torch.zeros(2), z, torch.zeros(1), z, torch.zeros(2), classes=("a", "b"), source="t")


def test_digits_is_a_named_dataset_shipped_with_scikit_learn():
    from trimmer.data import load_data

    d = load_data("digits", seed=0)
    assert (d.n_classes, len(d.train_y), len(d.val_y), len(d.test_y)) == (10, 1295, 143, 359)
    assert d.image_shape == (8, 8) and d.train_x.dtype == torch.uint8 and int(d.train_x.max()) == 255
    assert d.source == "digits"
