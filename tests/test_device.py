"""Device record: a pinned id, its round trip, and config ids."""
from __future__ import annotations

import dataclasses

from latmodel.measure.device import DeviceRecord, make_config_id


def test_device_record_id_and_round_trip():
    rec = DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 1)
    assert rec.device_id == "a2d97ae49e"  # sha256("cpu|Test CPU|2|1|2.14.1|onednn/AVX512")[:10]
    assert DeviceRecord.from_dict(rec.to_dict()) == rec
    assert DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 8).device_id == rec.device_id
    assert DeviceRecord("cpu", "Test CPU", 2, 2, "2.14.1", "onednn/AVX512", 1).device_id != rec.device_id
    assert make_config_id("resnet18", 224, 1, 1, 2, "abc") == "resnet18@224px@w1.0@b1@t2@abc"



_EPYC_AVX512 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse4_2 avx avx2 avx512f avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
"""
_EPYC_AVX2 = _EPYC_AVX512.replace("model\t\t: 17", "model\t\t: 1").replace(" avx512f avx512bw", "")
_GRAVITON = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm sve\nCPU implementer\t: 0x41\n" \
            "CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd40\n"


def test_cpu_flags_of_the_first_processor():
    from latmodel.measure.device import cpu_flags

    assert {"avx2", "avx512f", "avx512bw"} <= cpu_flags(_EPYC_AVX512)
    assert "avx512f" not in cpu_flags(_EPYC_AVX2)
    assert cpu_flags("") == frozenset()


def test_cpu_identity_reads_vendor_model_and_widest_isa():
    from latmodel.measure.device import cpu_identity

    assert cpu_identity(_EPYC_AVX512).to_dict() == {"name": "AMD EPYC", "vendor": "AuthenticAMD",
                                                    "model_id": "25/17/1", "isa": "avx512"}
    assert cpu_identity(_EPYC_AVX2).isa == "avx2"
    assert cpu_identity(_EPYC_AVX2).model_id == "25/1/1"
    arm = cpu_identity(_GRAVITON)
    assert (arm.isa, arm.vendor, arm.model_id) == ("sve", "0x41", "8/0xd40/0x1")
    assert cpu_identity("").isa == "unknown"


def _record(cpuinfo: str, runtime: str = "onnxruntime") -> DeviceRecord:
    from latmodel.measure.device import cpu_identity

    cpu = cpu_identity(cpuinfo)
    # ONNX Runtime's backend string names no ISA: the two EPYCs differ only in the CPU fields
    return DeviceRecord("cpu", cpu.name, 2, 1, "2.14.1", "CPUExecutionProvider", 1, runtime=runtime,
                        runtime_version="1.32.0", cpu_vendor=cpu.vendor, cpu_model_id=cpu.model_id, cpu_isa=cpu.isa)


def test_device_ids_differ_for_two_records_that_differ_only_in_isa():
    a, b = _record(_EPYC_AVX512), _record(_EPYC_AVX2)
    assert a.device_name == b.device_name == "AMD EPYC"
    assert a.device_id != b.device_id
    only_isa = dataclasses.replace(a, cpu_isa="avx2")
    assert only_isa.device_id != a.device_id
    assert a.slug == "epyc-avx512" and b.slug == "epyc-avx2"
    assert DeviceRecord.from_dict(a.to_dict()) == a


def test_legacy_record_keeps_its_id_and_is_marked():
    legacy = DeviceRecord.from_dict({"device_kind": "cpu", "device_name": "Test CPU", "cpu_count": 2, "threads": 1,
                                     "torch_version": "2.14.1", "backend": "onednn/AVX512", "batch_size": 1})
    assert legacy.legacy and legacy.device_id == "a2d97ae49e"  # the id it had before CPU fields existed
    assert legacy.slug == "cpu-legacy"
    from latmodel.measure.device import describe_device

    assert "legacy" in describe_device(legacy)


def test_is_legacy_reads_partial_manifest_records():
    from latmodel.measure.device import is_legacy

    assert is_legacy({"device_name": "AMD EPYC"}) and is_legacy({"device_kind": "cpu", "cpu_isa": float("nan")})
    assert not is_legacy({"device_kind": "cpu", "cpu_isa": "avx512"})
    assert not is_legacy({"device_kind": "cuda", "device_name": "NVIDIA H100"})  # no CPU ISA, and not legacy


def test_predictor_of_another_device_names_both_ids():
    from latmodel.predict.shipped import device_mismatch

    here, theirs = _record(_EPYC_AVX512), _record(_EPYC_AVX2)
    msg = device_mismatch({**theirs.to_dict()}, here=here)
    assert theirs.device_id in msg and here.device_id in msg and "avx2" in msg and "avx512" in msg
    assert "\n" not in msg
    assert device_mismatch(here.to_dict(), here=here) == ""
    legacy = {"device_kind": "cpu", "device_name": "AMD EPYC", "device_id": "7541564209", "runtime": "onnxruntime"}
    assert "legacy" in device_mismatch(legacy, here=here)


def _fake_predictor(root, name: str, device: dict) -> None:
    import json

    (root / name).mkdir()
    (root / name / "manifest.json").write_text(json.dumps({"device": device}))


def test_choose_predictor_picks_the_one_measured_here_else_warns(tmp_path):
    from latmodel.measure.device import device_record
    from latmodel.predict.shipped import DEFAULT_SHIPPED, choose_predictor

    here = device_record("cpu", threads=1)
    other = dataclasses.replace(here, cpu_isa="sve")
    _fake_predictor(tmp_path, DEFAULT_SHIPPED, other.to_dict())
    choice = choose_predictor(root=tmp_path)
    assert choice.path == str(tmp_path / DEFAULT_SHIPPED)
    assert other.device_id in choice.mismatch and here.device_id in choice.mismatch
    _fake_predictor(tmp_path, "zz-here", here.to_dict())
    choice = choose_predictor(root=tmp_path)
    assert choice.path == str(tmp_path / "zz-here") and choice.mismatch == ""
    # a named predictor is used as given, with the mismatch said
    named = choose_predictor(tmp_path / DEFAULT_SHIPPED)
    assert named.path == str(tmp_path / DEFAULT_SHIPPED) and other.device_id in named.mismatch
