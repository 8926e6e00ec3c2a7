"""Features of named networks cached on disk (latmodel.graph.feature_cache): a second ask reads the file."""
from __future__ import annotations

import json

import pytest

import latmodel.graph.netfeatures as netfeatures
from latmodel.graph.feature_cache import OFF_ENV, cache_dir, cache_key


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(OFF_ENV, raising=False)
    netfeatures.clear_cache()
    yield tmp_path / "features"
    netfeatures.clear_cache()


def test_second_ask_reads_the_disk_and_builds_nothing(cache, monkeypatch):
    first = netfeatures.network_features("random:1", 32)
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == first
    netfeatures.clear_cache()
    monkeypatch.setattr(netfeatures, "compute_features", lambda *a, **k: pytest.fail("built the network again"))
    assert netfeatures.network_features("random:1", 32) == first


def test_key_follows_every_part_and_factories_are_not_cached(cache):
    keys = {cache_key("random:1", 32, 1.0, 1), cache_key("random:1", 64, 1.0, 1), cache_key("random:1", 32, 0.5, 1),
            cache_key("random:1", 32, 1.0, 2), cache_key("random:2", 32, 1.0, 1), cache_key("mobilenet_v2", 32, 1.0, 1)}
    assert len(keys) == 6 and None not in keys
    assert cache_key("tests.tinymodels:tiny", 32, 1.0, 1) is None


def test_a_malformed_entry_is_recomputed(cache):
    rows = netfeatures.network_features("random:1", 32)
    (path,) = cache.glob("*.json")
    path.write_text("[{\"flops\": 1}]")
    netfeatures.clear_cache()
    assert netfeatures.network_features("random:1", 32) == rows
    assert json.loads(path.read_text()) == rows


def test_off_means_no_files(tmp_path, monkeypatch):
    monkeypatch.setenv(OFF_ENV, "off")
    netfeatures.clear_cache()
    assert cache_dir() is None and netfeatures.network_features("random:1", 32)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(OFF_ENV)
    monkeypatch.delenv("NETCUT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / ".cache" / "netcut" / "features"
    netfeatures.clear_cache()
