"""The profile runner: child processes, resume, failures, validation, order, and its CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from latmodel.errors import NetcutError, UnknownModelError, UntraceableModelError
from latmodel.measure.profiling import CHILD_ENV, ConfigOutcome, ProfileSummary, profile
from latmodel.measure.table import TABLE_COLUMNS, TABLE_SCHEMA_VERSION, read_table

from .conftest import ROOT, tiny_net


def crashes_in_child():
    """A factory that works in the parent (validation) and crashes in the measuring child."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") == CHILD_ENV["MALLOC_MMAP_THRESHOLD_"]:
        raise RuntimeError("boom in the child")
    return tiny_net()


@pytest.mark.parametrize("method,kwargs", [("window", {"window_s": 0}),
                                           ("round-model", {"repeats": 3, "warmup": 1})])
def test_profile_writes_then_resumes(tmp_path, method, kwargs):
    out = tmp_path / "table.csv"
    first = profile(["random:1"], out, resolutions=[32], progress=False, method=method, **kwargs)
    assert (first.measured, first.skipped, first.failed) == (1, 0, 0)
    df = read_table(out)
    assert len(df) == first.rows_written == first.outcomes[0].n_blocks > 1
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert df["config_id"].nunique() == 1 and df["config_id"].iloc[0].startswith("random:1@32px@w1.0@b1@t1@")
    assert sorted(df["block_index"]) == list(range(len(df)))
    text = first.to_text()
    assert "1 configuration(s) measured, 0 skipped" in text and "in-context sum" in text
    assert set(df["method"]) == {"window-settled-min" if method == "window" else method}
    if method == "window":  # 6 rounds (the minimum) x 4 timed passes x 2 placements, 1 configuration in the window
        assert set(df["samples"]) == {48} and set(df["window_configs"]) == {1} and (df["yardstick_ms"] > 0).all()
        assert set(df["placements"]) == {2} and set(df["yardstick"]) == {"mobilenet_v2+resnet18@64px"}
        assert (df["prefix_ms"] <= df["prefix_median_ms"]).all()
    else:
        assert first.outcomes[0].timestamped_total_ms > 0
    assert ProfileSummary.from_dict(first.to_dict()) == first
    before = out.read_bytes()
    second = profile(["random:1"], out, resolutions=[32], progress=False, method=method, **kwargs)
    assert (second.measured, second.skipped, second.rows_written) == (0, 1, 0)
    assert out.read_bytes() == before


def test_min_rounds_reaches_the_measuring_child(tmp_path):
    out = tmp_path / "table.csv"
    profile(["random:1"], out, resolutions=[32], progress=False, window_s=0, min_rounds=2)
    df = read_table(out)  # 2 rounds x 4 timed passes x 2 placements
    assert set(df["rounds"]) == {2} and set(df["samples"]) == {16}


def test_profile_child_crash_and_timeout_are_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "t.csv"
    summary = profile(["tests.test_profiling:crashes_in_child"], out, resolutions=[16], window_s=0, progress=False)
    assert (summary.measured, summary.failed) == (0, 1)
    assert summary.outcomes[0].reason.endswith("RuntimeError: boom in the child")
    assert "FAILED tests.test_profiling:crashes_in_child@16px" in summary.to_text()
    assert not out.exists()
    slow = profile(["random:2"], out, resolutions=[32], window_s=0, progress=False, timeout_s=0.2)
    assert slow.failed == 1 and slow.outcomes[0].reason.startswith("timed out after")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(models=["nosuchnet"]), UnknownModelError, "unknown model 'nosuchnet'"),
        (dict(models=["resnet18"], resolutions=[0]), NetcutError, "resolution must be a positive integer"),
        (dict(models=["resnet18"], widths=[0.5]), NetcutError, "cannot be built at width 0.5"),
        (dict(models=["tests.tinymodels:not_a_module"]), NetcutError, "not a torch.nn.Module"),
        (dict(models=["tests.tinymodels:untraceable"], resolutions=[16]), UntraceableModelError, "cannot be traced"),
        (dict(models=["resnet18"], threads=2, pin_cpu=[0]), NetcutError, "share a core|cannot pin"),
        (dict(models=["resnet18"], corpus="small"), NetcutError, "either models or a corpus"),
        (dict(models=None, corpus="huge"), NetcutError, "unknown corpus 'huge'"),
        (dict(models=["resnet18"], method="median"), NetcutError, "method must be one of window, round-model"),
        (dict(models=["resnet18"], repeats=3), NetcutError, "--repeats / --warmup set the round-model method"),
        (dict(models=["resnet18"], per_window=0), NetcutError, "configurations per window must be a positive"),
        (dict(models=["resnet18"], window_s=-1.0), NetcutError, "window must be a number of seconds >= 0"),
        (dict(models=["resnet18"], min_rounds=0), NetcutError, "min_rounds"),
        (dict(models=["resnet18"], child_env={"GLIBC_TUNABLES": 1}), NetcutError, "child_env must map"),
        (dict(models=["resnet18"], statistic="p50"), NetcutError, "statistic must be one of min, p10, p25, got 'p50'"),
        (dict(models=["resnet18"], statistic="p25", method="round-model"), NetcutError, "drop --statistic"),
        (dict(models=["resnet18"], samples_out="/nonexistent-folder/s.json"), NetcutError,
         "--samples-out folder '/nonexistent-folder' does not exist"),
        (dict(models=["resnet18"], samples_out="s.json.gz"), NetcutError, "must be a plain JSON file path"),
    ],
)
def test_profile_validates_before_spawning(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        profile(out=tmp_path / "t.csv", progress=False, **kwargs)
    assert not (tmp_path / "t.csv").exists()


def test_samples_out_is_not_the_table_and_a_resumed_pass_keeps_its_earlier_windows(tmp_path):
    out, raw = tmp_path / "t.csv", tmp_path / "s.json"
    with pytest.raises(NetcutError, match="is the table itself"):
        profile(["random:1"], out, resolutions=[32], progress=False, samples_out=out)
    profile(["random:1"], out, resolutions=[32], progress=False, window_s=0, min_rounds=1, samples_out=raw)
    profile(["random:1", "random:2"], out, resolutions=[32], progress=False, window_s=0, min_rounds=1,
            samples_out=raw)  # resumes: random:1 is in the table, only random:2 is measured
    windows = json.loads(raw.read_text())
    assert list(windows) == ["window0", "window1"]
    assert [sorted(c.split("@")[0] for c in w if c != "yardstick") for w in windows.values()] == [["random:1"],
                                                                                                ["random:2"]]


def test_profile_missing_output_folder(tmp_path):
    with pytest.raises(NetcutError, match="output folder .* does not exist"):
        profile(["resnet18"], tmp_path / "nope" / "t.csv", progress=False)


def test_outcome_round_trip_and_ratio():
    o = ConfigOutcome("m@224px", "measured", rows=3, n_blocks=3, network_ms=10.0, incontext_sum_ms=10.5,
                      timestamped_total_ms=10.1)
    assert o.incontext_vs_network == pytest.approx(0.05)
    assert o.timestamp_overhead == pytest.approx(0.01)
    text = ProfileSummary("t.csv", (o,), 1.0).to_text()
    assert "m@224px: 3 blocks, network 10.000 ms, in-context sum +5.0% (+1.0%), 0 s" in text
    assert ConfigOutcome.from_dict(o.to_dict()) == o
    assert "memory:" not in text  # no peak reported, no line


def test_summary_says_when_the_windows_ran_at_different_speeds():
    fast = ConfigOutcome("a", "measured", rows=1, yardstick_ms=13.47)
    slow = ConfigOutcome("b", "measured", rows=1, yardstick_ms=23.9)
    text = ProfileSummary("t.csv", (fast, slow), 1.0).to_text()
    assert "yardstick: 13.47-23.90 ms over the windows (x1.77): this machine's speed moved" in text
    steady = ConfigOutcome("c", "measured", rows=1, yardstick_ms=14.0)
    assert "yardstick:" not in ProfileSummary("t.csv", (fast, steady), 1.0).to_text()
    assert ConfigOutcome.from_dict(slow.to_dict()) == slow


def test_summary_names_the_largest_window_peak_beside_its_estimate():
    small = ConfigOutcome("a", "measured", rows=1, window_peak_bytes=2 * 2**30, window_estimate_bytes=3 * 2**30)
    big = ConfigOutcome("b", "measured", rows=1, window_peak_bytes=12.5 * 2**30, window_estimate_bytes=13.7 * 2**30)
    text = ProfileSummary("t.csv", (small, big), 1.0).to_text()
    assert "memory: the largest window peaked at 12.5 GiB (estimated 13.7 GiB)" in text
    assert ConfigOutcome.from_dict(big.to_dict()) == big


def test_cli_unknown_model_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "latmodel.cli", "profile", "--models", "nosuchnet", "--out", str(tmp_path / "x.csv")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latmodel: error: unknown model 'nosuchnet'")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_profile_order_shuffled_is_fixed_and_given_keeps_the_list(tmp_path, monkeypatch):
    import latmodel.measure.profiling as profiling

    seen = []

    def fake_child(job, tmp, timeout_s, tick=None, reprice=None):  # no child process: record the order, report a failure
        seen.extend(f"{c['model']}@{c['resolution_px']}" for c in job["configs"])
        return None, "fake child"

    monkeypatch.setattr(profiling, "_run_child", fake_child)
    models = ["random:1", "random:2", "random:3", "random:4", "random:5", "random:6"]
    given = [f"{m}@32" for m in models]
    profile(models, tmp_path / "t.csv", resolutions=[32], progress=False, order="given")
    assert seen == given
    seen.clear()
    profile(models, tmp_path / "t.csv", resolutions=[32], progress=False)  # default: shuffled
    first = list(seen)
    seen.clear()
    profile(models, tmp_path / "t.csv", resolutions=[32], progress=False)
    assert seen == first and sorted(first) == sorted(given) and first != given
    with pytest.raises(NetcutError, match="order must be one of shuffled, given, got 'random'"):
        profile(models, tmp_path / "t.csv", resolutions=[32], progress=False, order="random")


def test_windows_split_evenly_and_the_estimate_counts_them():
    from latmodel.measure.profiling import estimate_seconds, group_windows

    assert [len(w) for w in group_windows(list(range(17)), 8)] == [6, 6, 5]
    assert group_windows(list(range(3)), 8) == [[0, 1, 2]]
    assert group_windows([], 8) == []
    # 179 configurations: 8 windows of 22-23 (300 s each), 5 s to start each child, 1.5 s a configuration to build
    assert estimate_seconds(179, method="window", runtime="torch") == 8 * 300.0 + 8 * 5.0 + 179 * 1.5
    assert estimate_seconds(2, method="window", runtime="torch") == 60.0 + 5.0 + 2 * 1.5
    assert estimate_seconds(10, method="window", runtime="torch", per_window=5, window_s=60) == 2 * 60 + 2 * 5 + 15
    assert estimate_seconds([3, 4], method="window", runtime="onnxruntime", window_s=60, prepare_s=7.0) == 120 + 10 + 7


def test_the_estimate_prices_a_window_by_its_rounds_when_six_outlast_it():
    from latmodel.measure.windows import estimate_seconds, round_seconds

    # a 100 ms chain of 13 blocks: 11.0 x 0.1 x (7 + 2) s of work and 2 x 27 bursts of 10 ms a round
    assert round_seconds([(0.1, 13)]) == pytest.approx(11.0 * 0.1 * 9 + 0.010 * 54)
    assert round_seconds([(0.1, 13), (0.01, 3)]) == pytest.approx(10.44 + 11.0 * 0.01 * 4 + 0.010 * 14)
    # a runtime whose blocks' costs come from its node profiler times the 13 prefixes only: 2 x 13 bursts
    assert round_seconds([(0.1, 13)], "onnxruntime") == pytest.approx(11.0 * 0.1 * 7 + 0.010 * 26)
    # rounds of 92 s: 6 of them (552 s) outlast the 300 s window; rounds of 10 s: the window's 300 s (30 rounds)
    assert estimate_seconds([24], method="window", runtime="torch", round_s=92.0) == 552.0 + 5.0 + 24 * 1.5
    assert estimate_seconds([24], method="window", runtime="torch", round_s=10.0) == 300.0 + 5.0 + 24 * 1.5
    assert estimate_seconds([24], method="window", runtime="torch", round_s=40.0, min_rounds=2) == 320.0 + 5.0 + 36.0


def test_profile_times_each_network_once_before_the_windows_for_the_estimate():
    import latmodel.measure.profiling as profiling
    from latmodel.graph.blocks import load_chain
    from latmodel.measure.corpus import ProfileConfig

    configs = [ProfileConfig("tests.tinymodels:tiny", 16), ProfileConfig("tests.tinymodels:tiny", 32)]
    works = profiling._validate_configs(configs, 1, time_chains=True)
    (s16, n16), (s32, n32) = works[configs[0]], works[configs[1]]  # each timed at its own resolution
    assert n16 == n32 == len(load_chain("tests.tinymodels:tiny", 16)) and s16 > 0 and s32 > 0
    assert profiling._validate_configs(configs) == {}  # not timed unless asked


def test_an_onnx_configuration_is_prepared_in_time_for_its_sessions_and_weights():
    from latmodel.measure.windows import Footprint, prepare_seconds

    fp = Footprint("c", block_weight_bytes=(10**9, 0), block_activation_bytes=(0, 0))
    # a runtime that compiles every block too (OpenVINO): block 0 sits in 3 sessions (itself, prefixes 0 and 1),
    # 3 GB held; 4 sessions; 2 placements
    assert prepare_seconds("openvino", fp) == 1.5 + 2 * (0.01 * 4 + 5.0 * 3)
    # ONNX Runtime takes its blocks' costs from its node profiler: the 2 prefixes only, block 0 in both (2 GB)
    assert prepare_seconds("onnxruntime", fp) == 1.5 + 2 * (0.01 * 2 + 5.0 * 2)
    assert prepare_seconds("onnxruntime") == 1.5 + 10.0  # footprint unknown: the flat figure
    assert prepare_seconds("torch", fp) == 1.5


def test_the_statistic_reaches_the_measuring_child_and_is_taken_over_its_samples(tmp_path):
    from latmodel.measure.bursts import warm_quantile_ms

    out, raw = tmp_path / "table.csv", tmp_path / "samples.json"
    profile(["random:1"], out, resolutions=[32], progress=False, window_s=0, min_rounds=2, statistic="p25",
            samples_out=raw)
    df = read_table(out).sort_values("block_index")
    assert set(df["method"]) == {"window-settled-p25"}
    (window,) = json.loads(raw.read_text()).values()
    (cid,) = [c for c in window if c != "yardstick"]
    prefixes = window[cid]["prefix"]  # one list of samples a prefix: 2 rounds x 4 timed passes x 2 placements
    assert [len(p) for p in prefixes] == [16] * len(df)
    assert df["prefix_ms"].tolist() == pytest.approx([warm_quantile_ms(p, 25.0) for p in prefixes], rel=1e-5)  # the table keeps 6 digits
    assert df["yardstick_ms"].iloc[0] == pytest.approx(warm_quantile_ms(window["yardstick"], 25.0), rel=1e-5)


def test_profile_sends_windows_of_configurations_to_one_child_each(tmp_path, monkeypatch):
    import latmodel.measure.profiling as profiling

    jobs, estimates = [], []

    def fake_child(job, tmp, timeout_s, tick=None, reprice=None):
        jobs.append(job)
        return None, "fake child"

    monkeypatch.setattr(profiling, "_run_child", fake_child)
    priced = []  # each window's networks as timed once by the parent: rounds of 2 s priced in (6 of them: 12 s)
    monkeypatch.setattr(profiling, "round_seconds", lambda works, runtime: (priced.append(list(works)), 2.0)[1])
    models = [f"random:{i}" for i in range(1, 6)]
    summary = profile(models, tmp_path / "t.csv", resolutions=[32], progress=False, per_window=2, window_s=5,
                      estimate=lambda s, n, w: estimates.append((s, n, w)))
    assert [len(j["configs"]) for j in jobs] == [2, 2, 1]
    assert all(j["method"] == "window" and j["window_s"] == 5 for j in jobs)
    assert [len(w) for w in priced] == [2, 2, 1] and all(lat_s > 0 and n > 1 for w in priced for lat_s, n in w)
    assert estimates == [(3 * 12.0 + 3 * 5.0 + 5 * 1.5, 5, 3)]
    assert summary.failed == 5
    jobs.clear()
    profile(models[:3], tmp_path / "t.csv", resolutions=[32], progress=False)  # default: one window of 3, 60 s
    assert [(len(j["configs"]), j["window_s"]) for j in jobs] == [(3, 60.0)]


def test_a_killed_child_is_named_as_likely_out_of_memory_with_the_fix():
    from latmodel.measure.profiling import exit_reason

    assert exit_reason(-9, "WARNING fvcore cannot count op aten::ne") == (
        "child killed (SIGKILL, most often the out-of-memory killer: a window holds all its configurations' networks "
        "at once); measure fewer configurations a window, e.g. --window-configs 6")
    assert exit_reason(1, "ValueError: boom") == "child exited with status 1: ValueError: boom"
    assert exit_reason(2, "") == "child exited with status 2: (no message)"


def test_measuring_child_imports_the_parents_latmodel_not_one_in_its_working_directory(tmp_path):
    from latmodel.measure.child import child_env
    import latmodel

    decoy = tmp_path / "latmodel"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy in the working directory')\n")
    out = subprocess.run([sys.executable, "-c", "import latmodel; print(latmodel.__file__)"], cwd=tmp_path,
                         env=child_env(1), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == latmodel.__file__


def test_window_spread_is_the_median_ratio_of_typical_to_fastest_sample():
    from latmodel.measure.spread import window_spread

    rows = [{"prefix_ms": 1.0, "prefix_median_ms": 1.1}, {"prefix_ms": 2.0, "prefix_median_ms": 2.6},
            {"prefix_ms": float("nan"), "prefix_median_ms": 3.0}, {"prefix_ms": 1.0}]
    assert window_spread(rows) == pytest.approx(1.2)  # median of 1.1 and 1.3; rows without both left out
    assert window_spread([{"prefix_ms": 1.0, "prefix_median_ms": 1.5}] + rows[:2]) == pytest.approx(1.3)
    assert math.isnan(window_spread([{"prefix_ms": 1.0}]))


def _spread_child(spreads, jobs):
    """A fake measuring child: call n measures each configuration of its job with the spread ``spreads[n][model]``
    (``prefix_median_ms`` that many times ``prefix_ms``); ``network_ms`` tells the calls apart (1, 2, ...)."""
    from latmodel.measure.device import make_config_id

    def child(job, tmp, timeout_s, tick=None, reprice=None):
        jobs.append([c["model"] for c in job["configs"]])
        spread = spreads[len(jobs) - 1]
        rows = [[{"config_id": make_config_id(c["model"], c["resolution_px"], c["width"], 1, 1,
                                              job["record"]["device_id"]),
                  "model": c["model"], "block_index": k, "prefix_ms": 1.0 + k,
                  "prefix_median_ms": spread[c["model"]] * (1.0 + k), "network_ms": float(len(jobs)),
                  "incontext_ms": 1.0, "flagged": 0, "schema_version": TABLE_SCHEMA_VERSION} for k in range(2)]
                for c in job["configs"]]
        raw = {r[0]["config_id"]: {"prefix": [[1.0]]} for r in rows}
        return {"rows": rows, "diagnostics": {}, "samples": {**raw, "yardstick": [float(len(jobs))]}}, ""
    return child


def test_a_configuration_measured_in_noise_is_measured_again_after_the_others(tmp_path, monkeypatch):
    import latmodel.measure.profiling as profiling

    jobs = []
    # one window: random:1 quiet, random:2 and random:3 noisy; measured again together: random:2 quieter,
    # random:3 noisier than its first run
    monkeypatch.setattr(profiling, "_run_child", _spread_child(
        [{"random:1": 1.05, "random:2": 1.30, "random:3": 1.25}, {"random:2": 1.10, "random:3": 1.40}], jobs))
    out, raw = tmp_path / "t.csv", tmp_path / "s.json"
    summary = profile(["random:1", "random:2", "random:3"], out, resolutions=[32], progress=False, order="given",
                      window_s=0, samples_out=raw)
    assert jobs == [["random:1", "random:2", "random:3"], ["random:2", "random:3"]]
    # the samples file: each configuration's kept run, grouped by the child that measured it, with its yardstick
    windows = json.loads(raw.read_text())
    assert [(sorted(c.split("@")[0] for c in w if c != "yardstick"), w["yardstick"]) for w in windows.values()] == [
        (["random:1"], [1.0]), (["random:3"], [1.0]), (["random:2"], [2.0])]
    df = read_table(out, required=("config_id", "model", "network_ms"))
    # which call each configuration's rows come from: random:2 the second, random:3 its first (less noisy)
    assert df.groupby("model")["network_ms"].first().to_dict() == {"random:1": 1.0, "random:2": 2.0, "random:3": 1.0}
    runs = {o.config_id.split("@")[0]: (o.window_runs, round(o.window_spread, 2)) for o in summary.outcomes}
    assert runs == {"random:1": (1, 1.05), "random:2": (2, 1.1), "random:3": (2, 1.25)}
    text = summary.to_text()
    assert ("noise: 2 configuration(s) were first measured while this machine was noisy (their warm samples' spread "
            "over x1.20) and were measured again after the others; 1 of them are written from a quieter run") in text
    assert "noise: 1 configuration(s) written from a run measured while this machine was noisy (spread up to " \
           "x1.25 > x1.20)" in text
    assert ProfileSummary.from_dict(summary.to_dict()) == summary


def test_no_reruns_writes_every_configuration_as_measured_and_the_rule_is_validated(tmp_path, monkeypatch):
    import latmodel.measure.profiling as profiling

    jobs = []
    monkeypatch.setattr(profiling, "_run_child", _spread_child([{"random:1": 1.30, "random:2": 1.05}], jobs))
    summary = profile(["random:1", "random:2"], tmp_path / "t.csv", resolutions=[32], progress=False,
                      order="given", window_s=0, reruns=0)
    assert jobs == [["random:1", "random:2"]] and summary.measured == 2
    assert "were first measured while" not in summary.to_text()
    assert "noise: 1 configuration(s) written from a run measured while" in summary.to_text()
    for kwargs, match in (({"max_spread": 0.9}, "--max-spread must be a number >= 1"),
                          ({"reruns": -1}, "--reruns must be an integer >= 0")):
        with pytest.raises(NetcutError, match=match):
            profile(["random:1"], tmp_path / "u.csv", resolutions=[32], progress=False, **kwargs)
    assert not (tmp_path / "u.csv").exists()
