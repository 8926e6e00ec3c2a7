"""Timing harness: exact statistics from fake clocks, rows, flags, the profile runner and its CLI."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest
import torch

from latmodel.blocks import split_model
from latmodel.errors import NetcutError, UnknownModelError, UntraceableModelError
from latmodel.measure import (
    CHILD_ENV,
    ConfigOutcome,
    DeviceRecord,
    NoisePolicy,
    ProfileSummary,
    TimingStats,
    consistency_reason,
    fit_round_model,
    make_config_id,
    measure_config,
    noise_reasons,
    profile,
    stats_from_samples,
    time_blocks_alone,
    time_callable,
    time_chain,
    time_interleaved,
    time_prefixes,
)
from latmodel.table import TABLE_COLUMNS, read_table

from .conftest import ROOT, tiny_net

MS = 1_000_000  # ns


class FakeClock:
    """A nanosecond clock that moves only when told (``advance``) or by ``step`` per call."""

    def __init__(self, steps_ms=(0.0,)):
        self.now = 0
        self.calls = 0
        self.steps = [round(s * MS) for s in steps_ms]

    def advance(self, ms: float) -> None:
        self.now += round(ms * MS)

    def __call__(self) -> int:
        self.now += self.steps[self.calls % len(self.steps)]
        self.calls += 1
        return self.now


class Tick(torch.nn.Module):
    """A 'block' that costs ``ms`` on the fake clock (cycling through a list of costs)."""

    def __init__(self, clock: FakeClock, *ms: float):
        super().__init__()
        self.clock, self.ms, self.calls = clock, ms, 0

    def forward(self, x):
        self.clock.advance(self.ms[self.calls % len(self.ms)])
        self.calls += 1
        return x


NO_LOAD = NoisePolicy(check_load=False)


# --------------------------------------------------------------------------- statistics


def test_stats_from_samples_exact():
    s = stats_from_samples([float(v) for v in range(1, 11)])
    assert s.median_ms == 5.5
    assert s.p10_ms == pytest.approx(1.9)
    assert s.p90_ms == pytest.approx(9.1)
    assert s.cv == pytest.approx(math.sqrt(8.25) / 5.5)
    assert s.n == 10
    assert s.drift == pytest.approx(9 / 2 - 1)  # median(8,9,10) / median(1,2,3) - 1
    assert TimingStats.from_dict(s.to_dict()) == s


def test_stats_single_sample_and_empty():
    s = stats_from_samples([2.0])
    assert (s.median_ms, s.p10_ms, s.p90_ms, s.cv, s.n, s.drift) == (2.0, 2.0, 2.0, 0.0, 1, 0.0)
    with pytest.raises(ValueError):
        stats_from_samples([])


def test_time_callable_fake_clock_exact():
    clock = FakeClock()
    durations = iter([1.0, 2.0, 3.0, 4.0, 100.0])
    calls = []

    def fn():
        calls.append(1)
        if len(calls) > 2:  # the two warm-up calls are not timed
            clock.advance(next(durations))

    s = time_callable(fn, warmup=2, repeats=5, clock=clock)
    assert len(calls) == 7
    assert s.median_ms == 3.0
    assert s.p10_ms == pytest.approx(1.4)
    assert s.p90_ms == pytest.approx(61.6)
    assert s.n == 5


def test_time_callable_syncs_before_each_timestamp():
    clock, syncs = FakeClock(), []
    time_callable(lambda: clock.advance(1.0), warmup=1, repeats=4, clock=clock, sync=lambda: syncs.append(1))
    assert len(syncs) == 1 + 4  # once after warm-up, once before each closing timestamp


def test_time_callable_rejects_bad_counts():
    with pytest.raises(NetcutError, match="repeats must be a positive integer"):
        time_callable(lambda: None, warmup=1, repeats=0)


def test_time_chain_exact_per_block_and_whole():
    clock = FakeClock()
    blocks = [Tick(clock, 1.0), Tick(clock, 2.5), Tick(clock, 0.5, 1.5)]
    syncs = []
    per_block, whole = time_chain(blocks, None, warmup=3, repeats=6, clock=clock, sync=lambda: syncs.append(1))
    assert [b.median_ms for b in per_block] == [1.0, 2.5, 1.0]  # block 2: 0.5 / 1.5 alternate
    assert [b.n for b in per_block] == [6, 6, 6]
    assert per_block[0].cv == 0.0
    assert whole.median_ms == 4.5  # 1 + 2.5 + (0.5 or 1.5), three of each
    assert whole.n == 6
    # 3 warm-up passes + 6 timestamped + 6 plain passes
    assert blocks[0].calls == 15
    # each timestamped pass: 1 + n syncs; each plain pass: 2
    assert len(syncs) == 6 * (1 + 3) + 6 * 2


def test_time_prefixes_and_alone_exact():
    clock = FakeClock()
    blocks = [Tick(clock, 1.0), Tick(clock, 2.0), Tick(clock, 4.0)]
    prefixes = time_prefixes(blocks, None, warmup=1, repeats=3, clock=clock)
    assert {k: s.median_ms for k, s in prefixes.items()} == {0: 1.0, 1: 3.0, 2: 7.0}
    assert list(time_prefixes(blocks, None, warmup=0, repeats=1, clock=clock, only=[2])) == [2]
    alone = time_blocks_alone(blocks, None, warmup=1, repeats=[3, 4, 5], clock=clock)
    assert [s.median_ms for s in alone] == [1.0, 2.0, 4.0]
    assert [s.n for s in alone] == [3, 4, 5]


# --------------------------------------------------------------------------- noise


def test_time_interleaved_exact_rounds_and_calls():
    clock = FakeClock()
    blocks = [Tick(clock, 1.0), Tick(clock, 2.0), Tick(clock, 4.0)]
    t = time_interleaved(blocks, None, rounds=4, warmup=2, clock=clock)
    ref = t.reference.latency_ms
    assert t.rounds == 4 and t.network.n == 4
    assert [s.median_ms for s in t.incontext] == [1.0, 2.0, 4.0]
    assert [s.median_ms for s in t.alone] == [1.0, 2.0, 4.0]
    assert [s.median_ms for s in t.prefix] == [1.0, 3.0, 7.0]
    assert t.network.median_ms == 7.0 and t.stamped.median_ms == 7.0
    assert ref["prefix"] == pytest.approx((1.0, 3.0, 7.0)) and ref["network"] == pytest.approx((7.0,))
    assert ref["incontext"] == pytest.approx((1.0, 2.0, 4.0)) and ref["alone"] == pytest.approx((1.0, 2.0, 4.0))
    assert t.reference.round_slowdown == pytest.approx((1.0,) * 4) and t.reference.fast_rounds == 4
    # block 0 per round: timestamped + plain pass, 3 prefixes and itself alone, each once untimed and
    # once timed; plus the input cache (1) and 2 warm-up passes
    assert blocks[0].calls == 1 + 2 + 4 * (2 + 2 * 3 + 2)
    more = time_interleaved(blocks, None, rounds=2, warmup=0, clock=clock, previous=t)
    assert more.rounds == 6 and more.prefix[2].n == 6


def test_fit_round_model_separates_machine_speed_from_latency():
    # 6 rounds; the machine runs 1.0x-1.6x slow by round, identically for every quantity;
    # one quantity also suffers a preempted sample (x3) in one round.
    slow = [1.3, 1.0, 1.6, 1.0, 1.2, 1.0]
    level = {"incontext": [1.0, 2.0], "alone": [0.8, 1.5], "prefix": [0.9, 3.2]}
    samples = {k: [[v * s for s in slow] for v in vals] for k, vals in level.items()}
    samples["network"] = [3.1 * s for s in slow]
    samples["prefix"][1][1] *= 3.0
    model = fit_round_model(samples)
    assert model.latency_ms["incontext"] == pytest.approx((1.0, 2.0))
    assert model.latency_ms["alone"] == pytest.approx((0.8, 1.5))
    assert model.latency_ms["prefix"] == pytest.approx((0.9, 3.2))
    assert model.latency_ms["network"] == pytest.approx((3.1,))
    assert model.round_slowdown == pytest.approx(tuple(slow))
    assert model.fast_rounds == 3
    assert model.spread["incontext"] == pytest.approx((0.0, 0.0), abs=1e-12)
    assert model.spread["prefix"][1] > 0.0
    # the per-quantity median would be 1.1-1.25x too slow here, and it depends on how
    # much of the run was slow; the round model does not
    assert stats_from_samples(samples["network"]).median_ms == pytest.approx(3.1 * 1.1)


def test_fit_round_model_anchor_is_not_one_lucky_round():
    slow = [1.0, 1.0, 1.0, 1.0, 0.5]  # one round in a burst of speed
    samples = {"incontext": [[2.0 * s for s in slow]], "alone": [[2.0 * s for s in slow]],
               "prefix": [[2.0 * s for s in slow]], "network": [2.0 * s for s in slow]}
    assert fit_round_model(samples).latency_ms["network"] == pytest.approx((2.0,))
    assert fit_round_model(samples, anchor_rank=1).latency_ms["network"] == pytest.approx((1.0,))
    with pytest.raises(ValueError, match="same number of rounds"):
        fit_round_model({**samples, "network": [1.0]})


def test_noise_reasons_spread():
    assert noise_reasons(0.05, "prefix") == []
    assert noise_reasons(0.2, "prefix") == [
        "prefix spread: 0.20 > 0.15 beyond the machine's round-to-round speed"]
    assert noise_reasons(0.2, "prefix", NoisePolicy(spread_threshold=0.3)) == []


def test_consistency_reason():
    samples = {"incontext": [[2.0], [3.0]], "alone": [[2.0], [3.0]], "prefix": [[2.0], [5.0]]}
    assert consistency_reason(fit_round_model({**samples, "network": [5.4]})) == ""  # -7%
    assert consistency_reason(fit_round_model({**samples, "network": [10.0]})) == (
        "in-context sum -50% vs whole chain (> 10%): cores time-shared")


def test_load_monitor_flags_busy_neighbouring_cores(monkeypatch):
    import latmodel.measure as measure

    monkeypatch.setattr(measure.os, "sched_getaffinity", lambda pid: {1})
    monkeypatch.setattr(measure.os, "cpu_count", lambda: 2)
    busy_s = {frozenset({1}): [5.0, 5.0], frozenset({0}): [7.0, 7.9]}  # /proc/stat busy seconds: start, end
    reads: dict = {}

    def fake_busy(cpus):
        key = frozenset(cpus)
        reads[key] = reads.get(key, 0) + 1
        return busy_s[key][min(reads[key] - 1, 1)]

    monkeypatch.setattr(measure, "_proc_stat_busy_s", fake_busy)
    monitor = measure.LoadMonitor(1, 0.25, neighbour_tolerance_cores=0.5).start()
    wall0, busy0, own0 = monitor._start
    monitor._start = (wall0 - 1.0, busy0, own0)  # as if 1 s had passed
    # 0.9 busy seconds over the 1 s window (plus the real time this test takes)
    assert monitor.neighbour_cores() == pytest.approx(0.9, rel=0.05)
    assert re.fullmatch(r"neighbouring load: other processes kept 0\.(8[5-9]|90) of the 1 unpinned core\(s\) busy "
                        r"\(they share caches and memory bandwidth with the measured one\)", monitor.reason())
    unpinned_tolerant = measure.LoadMonitor(1, 0.25).start()  # default: neighbours not judged
    assert unpinned_tolerant.reason() == ""


def test_noise_policy_round_trip():
    p = NoisePolicy(spread_threshold=0.2, check_load=False)
    assert NoisePolicy.from_dict(p.to_dict()) == p


# --------------------------------------------------------------------------- device record


def test_device_record_id_and_round_trip():
    rec = DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 1)
    assert len(rec.device_id) == 10 and int(rec.device_id, 16) >= 0
    assert DeviceRecord.from_dict(rec.to_dict()) == rec
    assert DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 8).device_id == rec.device_id
    assert DeviceRecord("cpu", "Test CPU", 2, 2, "2.14.1", "onednn/AVX512", 1).device_id != rec.device_id
    assert make_config_id("resnet18", 224, 1, 1, 2, "abc") == "resnet18@224px@w1.0@b1@t2@abc"


# --------------------------------------------------------------------------- measure_config


RECORD = DeviceRecord("cpu", "Test CPU", 2, 1, "2.14.1", "onednn/AVX512", 1)


def test_measure_config_rows_with_a_steady_fake_clock(tiny):
    chain = split_model(tiny, 16, name="tiny")
    diagnostics = {}
    # every interval spans one clock call, so 4 blocks sum to 4 ms against a 1 ms chain:
    # switch the consistency check off here (it is tested below)
    rows = measure_config(chain, 16, threads=1, repeats=3, warmup=1, clock=FakeClock([1.0]),
                          noise=NoisePolicy(check_load=False, consistency_threshold=math.inf),
                          record=RECORD, diagnostics=diagnostics)
    n = len(chain)
    # 4 blocks x 1 ms per timestamped pass
    assert diagnostics == {"timestamped_total_median_ms": 4.0, "timestamped_total_min_ms": 4.0}
    assert n == 4
    assert len(rows) == n
    for k, row in enumerate(rows):
        assert list(row) == list(TABLE_COLUMNS)
        assert row["block_index"] == k and row["n_blocks"] == n
        assert row["config_id"] == f"tiny@16px@w1.0@b1@t1@{RECORD.device_id}"
        assert row["family"] == "custom" and row["device_name"] == "Test CPU"
        # every interval spans exactly one clock call: 1 ms
        assert row["incontext_ms"] == 1.0 and row["prefix_ms"] == 1.0
        assert row["alone_ms"] == 1.0 and row["network_ms"] == 1.0
        assert row["flagged"] == 0 and row["flag_reason"] == ""
        assert row["rounds"] == 3 and row["prefix_median_ms"] == 1.0
    assert [r["out_channels"] for r in rows] == [4, 4, 8, 8]
    assert rows[3]["out_height_px"] == 8


def test_measure_config_flags_inconsistent_in_context_sum(tiny):
    rows = measure_config(tiny, 16, name="tiny", repeats=3, warmup=1, clock=FakeClock([1.0]), noise=NO_LOAD,
                          record=RECORD)
    assert {r["flag_reason"] for r in rows} == {"in-context sum +300% vs whole chain (> 10%): cores time-shared"}
    assert all(r["flagged"] == 1 for r in rows)


def test_measure_config_flags_a_noisy_clock_after_remeasuring(tiny):
    clock = FakeClock([1.0, 3.0, 2.0])  # intervals cycle through 1, 3, 2 ms
    rows = measure_config(tiny, 16, name="tiny", repeats=4, warmup=1, clock=clock, noise=NO_LOAD, record=RECORD)
    assert all(r["flagged"] == 1 for r in rows)
    assert all(r["rounds"] == 6 for r in rows)  # 4 rounds, then 2 more pooled in (remeasure_factor 1.5)
    assert all(r["flag_reason"].startswith("whole chain spread: 0.43 > 0.15") for r in rows)
    assert "prefix spread" in rows[0]["flag_reason"]


def test_measure_config_threads_restored_and_bad_input(tiny):
    before = torch.get_num_threads()
    measure_config(tiny, 8, name="tiny", repeats=1, warmup=0, threads=1, clock=FakeClock([1.0]), noise=NO_LOAD,
                   record=RECORD)
    assert torch.get_num_threads() == before
    with pytest.raises(NetcutError, match="threads must be a positive integer"):
        measure_config(tiny, 8, threads=0)
    with pytest.raises(NetcutError, match="model must be a name"):
        measure_config(42, 8)


@pytest.mark.gpu
def test_measure_config_cuda_path(tiny):  # pragma: no cover - needs a GPU
    rows = measure_config(tiny, 16, name="tiny", device="cuda", repeats=3, warmup=1, noise=NO_LOAD)
    assert rows[0]["device_kind"] == "cuda" and all(r["incontext_ms"] > 0 for r in rows)


# --------------------------------------------------------------------------- profile (child processes)


def crashes_in_child():
    """A factory that works in the parent (validation) and crashes in the measuring child."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") == CHILD_ENV["MALLOC_MMAP_THRESHOLD_"]:
        raise RuntimeError("boom in the child")
    return tiny_net()


def test_profile_writes_then_resumes(tmp_path):
    out = tmp_path / "table.csv"
    first = profile(["random:1"], out, resolutions=[32], repeats=3, warmup=1, progress=False)
    assert (first.measured, first.skipped, first.failed) == (1, 0, 0)
    df = read_table(out)
    assert len(df) == first.rows_written == first.outcomes[0].n_blocks > 1
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert df["config_id"].nunique() == 1 and df["config_id"].iloc[0].startswith("random:1@32px@w1.0@b1@t1@")
    assert sorted(df["block_index"]) == list(range(len(df)))
    text = first.to_text()
    assert "1 configuration(s) measured, 0 skipped" in text and "in-context sum" in text
    assert first.outcomes[0].timestamped_total_ms > 0
    assert ProfileSummary.from_dict(first.to_dict()) == first
    before = out.read_bytes()
    second = profile(["random:1"], out, resolutions=[32], repeats=3, warmup=1, progress=False)
    assert (second.measured, second.skipped, second.rows_written) == (0, 1, 0)
    assert out.read_bytes() == before


def test_profile_child_crash_and_timeout_are_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "t.csv"
    summary = profile(["tests.test_measure:crashes_in_child"], out, resolutions=[16], repeats=1, warmup=1,
                      progress=False)
    assert (summary.measured, summary.failed) == (0, 1)
    assert summary.outcomes[0].reason.endswith("RuntimeError: boom in the child")
    assert "FAILED tests.test_measure:crashes_in_child@16px" in summary.to_text()
    assert not out.exists()
    slow = profile(["random:2"], out, resolutions=[32], repeats=1, progress=False, timeout_s=0.2)
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
    ],
)
def test_profile_validates_before_spawning(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        profile(out=tmp_path / "t.csv", progress=False, **kwargs)
    assert not (tmp_path / "t.csv").exists()


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


def test_cli_unknown_model_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "latmodel.cli", "profile", "--models", "nosuchnet", "--out", str(tmp_path / "x.csv")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latmodel: error: unknown model 'nosuchnet'")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_table_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_table_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_profile_order_shuffled_is_fixed_and_given_keeps_the_list(tmp_path, monkeypatch):
    import latmodel.measure as measure

    seen = []

    def fake_child(job, tmp, timeout_s):  # no child process: record the order, report a failure
        seen.append(f"{job['model']}@{job['resolution_px']}")
        return None, "fake child"

    monkeypatch.setattr(measure, "_run_child", fake_child)
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
