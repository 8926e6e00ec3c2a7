"""Features of named networks cached on disk (latmodel.graph.feature_cache): a second ask reads the file."""
from __future__ import annotations

import json

import pytest

import latmodel.graph.netfeatures as netfeatures
from latmodel.graph.feature_cache import OFF_ENV, cache_dir, cache_key, has_rows


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


def test_has_rows_only_for_a_readable_entry_of_a_named_structure(cache):
    assert not has_rows("random:1", 32, 1.0, 1)
    netfeatures.network_features("random:1", 32)
    assert has_rows("random:1", 32, 1.0, 1) and not has_rows("random:1", 64, 1.0, 1)
    (path,) = cache.glob("*.json")
    path.write_text("not json")
    assert not has_rows("random:1", 32, 1.0, 1)
    assert not has_rows("tests.tinymodels:tiny", 32, 1.0, 1)
    assert has_rows("mobilenet_v2", 128, 1.0, 1)  # shipped (data/features)


def test_a_base_network_checked_before_is_not_checked_again(cache, monkeypatch):
    import latmodel.graph.blocks as blocks
    from trimmer import jobs

    checks = []
    real = blocks._check_coverage
    monkeypatch.setattr(blocks, "_check_coverage", lambda *a: checks.append(a[0]) or real(*a))
    jobs.clear_base_cache()
    try:
        jobs.base_chain("random:1", 32, weights_path=None, pretrained=False, seed=0)
        assert checks == ["random:1"]  # never split here before: checked
        netfeatures.network_features("random:1", 32)  # computes (and checks) the features: a cache entry
        assert checks == ["random:1", "random:1"]
        jobs.clear_base_cache()
        chain, _ = jobs.base_chain("random:1", 32, weights_path=None, pretrained=False, seed=0)
        assert checks == ["random:1", "random:1"] and len(chain.blocks) > 0  # the cache entry proves the split
    finally:
        jobs.clear_base_cache()
