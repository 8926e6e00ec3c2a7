"""Measuring windows cut by count and by memory (latmodel.measure.windows)."""
from __future__ import annotations

import importlib.util

import pytest

from latmodel.measure.windows import MEMORY_MODELS, Footprint, MemoryModel, footprint_of, memory_model, plan_windows

needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None
                               or importlib.util.find_spec("onnx") is None, reason="onnxruntime is not installed")


def test_footprint_holds_weights_once_in_torch_and_once_per_session_in_onnx():
    fp = Footprint("c", block_weight_bytes=(10, 20, 30), block_activation_bytes=(4, 8, 2))
    assert fp.held_weight_bytes(per_session=False) == 60
    # block j sits in its own session and in prefixes j..n-1: 10*4 + 20*3 + 30*2
    assert fp.held_weight_bytes(per_session=True) == 160
    assert fp.held_activation_bytes(per_session=False) == 8
    assert fp.held_activation_bytes(per_session=True) == (4 + 8 + 2) + (4 + 8 + 8)
    assert Footprint.from_dict(fp.to_dict()) == fp


def test_memory_model_adds_each_configuration_per_placement():
    m = MemoryModel(per_session=True, base_bytes=100.0, weight_factor=2.0, activation_factor=1.0, session_bytes=3.0)
    fp = Footprint("c", (10, 20, 30), (4, 8, 2))
    assert m.config_bytes(fp, placements=1) == 2.0 * 160 + 34 + 3.0 * 6
    assert m.window_bytes([fp, fp], placements=2) == 100.0 + 4 * (320 + 34 + 18)
    assert MEMORY_MODELS["openvino"] == MEMORY_MODELS["onnxruntime"]


def test_footprint_of_a_tiny_chain_counts_parameters_buffers_and_float32_activations():
    from latmodel.graph.blocks import split_model
    from tests.conftest import tiny_net

    fp = footprint_of("tiny", split_model(tiny_net(), 32, name="tiny"))
    # conv 3->4 3x3 (432 B) + BN affine (32 B) + running stats (32 B) + num_batches_tracked (int64, 8 B);
    # depthwise 4x3x3 (144 B); pointwise 4->8 (128 B); max-pool (none)
    assert fp.block_weight_bytes == (504, 144, 128, 0)
    # float32 input + output: 3x32x32 + 4x32x32, 4+4, 4+8 channels at 32x32, 8x32x32 + 8x16x16
    assert fp.block_activation_bytes == (28672, 32768, 49152, 40960)


def test_windows_are_the_fewest_that_fit_the_budget_with_heavy_configurations_apart():
    sizes = {"a": 4.0, "b": 4.0, "c": 1.0, "d": 1.0, "e": 1.0, "f": 1.0}
    plan = plan_windows(list("abcdef"), 6, size_of=sizes.get, base_bytes=1.0, budget_bytes=10.0)
    # 12 bytes of configurations in 9 of room: 2 windows; a and b dealt apart, the given order kept in each
    assert plan.windows == (("a", "c", "e"), ("b", "d", "f"))
    assert plan.peak_bytes == (7.0, 7.0) and plan.over_budget == ()
    # the count cap still holds: 3 a window
    assert plan_windows(list("abcdef"), 3, size_of=sizes.get, base_bytes=1.0, budget_bytes=10.0).windows == (
        ("a", "c", "e"), ("b", "d", "f"))
    big = plan_windows(["x", "y", "z"], 6, size_of={"x": 20.0, "y": 1.0, "z": 1.0}.get, base_bytes=1.0,
                       budget_bytes=10.0)
    assert big.windows == (("x",), ("y", "z")) and big.over_budget == (0,) and big.peak_bytes == (21.0, 3.0)
    counted = plan_windows(list("abcdef"), 4)  # no sizes: by count only, nothing estimated
    assert counted.windows == (("a", "b", "c"), ("d", "e", "f")) and counted.peak_bytes == (None, None)


@needs_ort
def test_onnx_profile_cuts_windows_by_memory_and_warns_about_a_configuration_too_big(tmp_path, monkeypatch, caplog):
    import latmodel.measure.profiling as profiling
    from latmodel.measure.profiling import profile

    jobs, estimates = [], []
    monkeypatch.setattr(profiling, "_run_child", lambda job, tmp, timeout_s, tick=None, reprice=None: (jobs.append(job), (None, "fake"))[1])
    model = memory_model("onnxruntime")
    # room for the child's libraries and a little more: each tiny configuration gets its own window
    monkeypatch.setattr(profiling, "available_memory_bytes", lambda: (model.base_bytes + 1.0) / profiling.MEMORY_SHARE)
    models = ["random:1", "random:2", "random:3"]
    with caplog.at_level("WARNING", logger="latmodel.measure.profiling"):
        profile(models, tmp_path / "t.csv", resolutions=[32], progress=False, runtime="onnxruntime",
                onnx_cache=tmp_path / "onnx", window_s=5, estimate=lambda s, n, w: estimates.append((n, w)))
    assert [len(j["configs"]) for j in jobs] == [1, 1, 1] and estimates == [(3, 3)]  # each alone, each warned
    assert sum("may be killed for memory" in r.getMessage() for r in caplog.records) == 3
    jobs.clear()
    monkeypatch.setattr(profiling, "available_memory_bytes", lambda: 64 * 2**30)
    profile(models, tmp_path / "u.csv", resolutions=[32], progress=False, runtime="onnxruntime",
            onnx_cache=tmp_path / "onnx", window_s=5)
    assert [len(j["configs"]) for j in jobs] == [3]
