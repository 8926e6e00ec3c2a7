"""Device record: a pinned id, its round trip, and config ids."""
from __future__ import annotations

from latmodel.device import DeviceRecord, make_config_id


def test_device_record_id_and_round_trip():
    rec = DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 1)
    assert rec.device_id == "a2d97ae49e"  # sha256("cpu|Test CPU|2|1|2.14.1|onednn/AVX512")[:10]
    assert DeviceRecord.from_dict(rec.to_dict()) == rec
    assert DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 8).device_id == rec.device_id
    assert DeviceRecord("cpu", "Test CPU", 2, 2, "2.14.1", "onednn/AVX512", 1).device_id != rec.device_id
    assert make_config_id("resnet18", 224, 1, 1, 2, "abc") == "resnet18@224px@w1.0@b1@t2@abc"

