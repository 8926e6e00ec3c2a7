"""The shipped per-block features (latmodel.graph.feature_atlas): read without torch, current with the code."""
from __future__ import annotations

import gzip
import json

import pytest

import latmodel.graph.feature_atlas as atlas
import latmodel.graph.netfeatures as netfeatures
import latmodel.graph.atlas_build as atlas_build
from latmodel.graph.feature_cache import OFF_ENV
from latmodel.graph.fingerprint import code_fingerprint
from latmodel.graph.zoo import MODELS

REBUILD = "run 'make atlas' (python -m latmodel.graph.atlas_build) and commit data/features/"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(OFF_ENV, raising=False)
    netfeatures.clear_cache()
    atlas.clear_atlas_cache()
    yield tmp_path / "features"
    netfeatures.clear_cache()
    atlas.clear_atlas_cache()


def _shipped(name):
    with gzip.open(atlas.atlas_path(name), "rt", encoding="utf-8") as fh:
        return json.load(fh)


def test_every_registry_network_ships_at_every_atlas_resolution():
    for name in MODELS:
        assert atlas.atlas_path(name).is_file(), f"{name} has no shipped features; {REBUILD}"
        doc = _shipped(name)
        assert set(doc["entries"]) | set(doc["unbuildable"]) == {f"{r}px/w1/b1" for r in atlas.atlas_resolutions(name)}, (
            REBUILD)
    assert set(_shipped("maxvit_t")["unbuildable"]) == {f"{r}px/w1/b1" for r in (64, 96, 112, 128, 160, 192, 256)}


def test_shipped_features_were_built_by_this_code_and_these_libraries():
    doc = _shipped("resnet18")
    assert doc["fingerprint"] == code_fingerprint(), (
        f"data/features/ was built with {doc['libraries']} or other feature code; {REBUILD}")


def test_a_shipped_answer_builds_nothing_and_equals_tracing(cache, monkeypatch):
    traced = netfeatures.compute_features("squeezenet1_1", 64, 1.0, 1)
    monkeypatch.setattr(netfeatures, "compute_features", lambda *a, **k: pytest.fail("traced a shipped network"))
    assert netfeatures.network_features("squeezenet1_1", 64) == traced
    assert not cache.exists()  # the shipped file answered; nothing was written


def test_a_resolution_not_shipped_or_another_fingerprint_falls_back_to_tracing(cache, monkeypatch):
    assert atlas.atlas_rows("squeezenet1_1", 72, 1.0, 1) is None
    assert atlas.atlas_rows("squeezenet1_1", 64, 0.5, 1) is None
    assert atlas.atlas_rows("random:1", 64, 1.0, 1) is None
    import latmodel.graph.fingerprint as fp

    monkeypatch.setattr(fp, "code_fingerprint", lambda: "other")
    atlas.clear_atlas_cache()
    assert atlas.atlas_rows("squeezenet1_1", 64, 1.0, 1) is None


def test_build_writes_identical_bytes_for_identical_features(tmp_path, monkeypatch):
    monkeypatch.setattr(atlas_build, "atlas_resolutions", lambda name: (32,))
    (first,) = atlas_build.build_atlas(tmp_path / "a", ["squeezenet1_1"], progress=False)
    (second,) = atlas_build.build_atlas(tmp_path / "b", ["squeezenet1_1"], progress=False)
    assert first.read_bytes() == second.read_bytes()
    with pytest.raises(ValueError, match="not registry networks: nope"):
        atlas_build.build_atlas(tmp_path, ["nope"], progress=False)
