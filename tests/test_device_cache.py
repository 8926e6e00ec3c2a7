"""This machine's device record cached on disk (latmodel.measure.device_cache)."""
from __future__ import annotations

import pytest

import latmodel.measure.device_cache as device_cache
from latmodel.measure.device import device_record


def test_second_ask_reads_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path))
    first = device_cache.cached_device_record(threads=1)
    assert first == device_record(threads=1) and len(list((tmp_path / "device").glob("*.json"))) == 1
    monkeypatch.setattr(device_cache, "device_record", lambda *a, **k: pytest.fail("computed again"))
    assert device_cache.cached_device_record(threads=1) == first


def test_other_settings_other_entries_and_a_bad_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path))
    one, two = device_cache.cached_device_record(threads=1), device_cache.cached_device_record(threads=2)
    assert one.threads == 1 and two.threads == 2 and len(list((tmp_path / "device").glob("*.json"))) == 2
    for f in (tmp_path / "device").glob("*.json"):
        f.write_text("{not json")
    assert device_cache.cached_device_record(threads=2) == two
