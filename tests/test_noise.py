"""Noise: flag reasons, and the load monitor driven by a fake clock and a fake /proc/stat."""
from __future__ import annotations

import os

import latmodel.measure.noise as noise
from latmodel.measure.noise import LoadMonitor, NoisePolicy, consistency_reason, noise_reasons, wait_for_quiet
from latmodel.measure.round_model import fit_round_model


class FakeHost:
    """Wall and CPU clocks that move only when told, and busy CPU seconds by core set.

    ``sleep`` advances the wall clock and lets other processes keep ``rates`` cores busy
    (one rate per sleep, the last repeating).
    """

    def __init__(self, busy_s=None, rates=(0.0,)):
        self.now, self.own_s, self.sleeps = 100.0, 0.0, 0
        self.busy_s = dict(busy_s or {})  # frozenset of cores (None: all) -> busy seconds
        self.rates = list(rates)

    def clock(self) -> float:
        return self.now

    def cpu_clock(self) -> float:
        return self.own_s

    def read_busy_s(self, cpus):
        return self.busy_s.get(None if cpus is None else frozenset(cpus))

    def sleep(self, seconds: float) -> None:
        rate = self.rates[min(self.sleeps, len(self.rates) - 1)]
        self.busy_s[None] = self.busy_s.get(None, 0.0) + rate * seconds
        self.now += seconds
        self.sleeps += 1

    def monitor(self, *args, **kwargs) -> LoadMonitor:
        return LoadMonitor(*args, clock=self.clock, cpu_clock=self.cpu_clock, read_busy_s=self.read_busy_s, **kwargs)


def _cores(monkeypatch, mine, total):
    monkeypatch.setattr(noise.os, "sched_getaffinity", lambda pid: set(mine))
    monkeypatch.setattr(noise.os, "cpu_count", lambda: total)


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


def test_load_monitor_exact_with_a_fake_clock_and_reader(monkeypatch):
    _cores(monkeypatch, {1}, 2)  # pinned to core 1; core 0 is its neighbour
    host = FakeHost({frozenset({1}): 5.0, frozenset({0}): 7.0})
    host.own_s = 2.0
    monitor = host.monitor(1, 0.25, neighbour_tolerance_cores=0.5).start()
    assert (monitor.cpus, monitor.n_cores, monitor.neighbours) == ({1}, 1, {0})
    host.now += 0.125  # shorter than /proc/stat can resolve
    assert monitor.others_cores() is None and monitor.neighbour_cores() is None and monitor.reason() == ""
    host.now = 102.0
    host.busy_s = {frozenset({1}): 7.5, frozenset({0}): 9.0}
    host.own_s = 3.0
    assert monitor.others_cores() == 0.75  # (2.5 busy - 1.0 our own) CPU seconds over 2 s
    assert monitor.neighbour_cores() == 1.0  # 2.0 busy seconds over 2 s
    assert monitor.reason() == (
        "competing load: other processes used 0.75 cores of the 1 pinned core(s) (0 free beside 1 measuring "
        "thread(s)); neighbouring load: other processes kept 1.00 of the 1 unpinned core(s) busy (they share "
        "caches and memory bandwidth with the measured one)")
    tolerant = host.monitor(1, 0.25).start()  # default neighbour tolerance: neighbours are not judged
    host.now += 2.0
    host.busy_s[frozenset({0})] += 3.0
    assert tolerant.neighbour_cores() == 1.5 and tolerant.others_cores() == 0.0 and tolerant.reason() == ""


def test_load_monitor_unpinned_and_without_proc_stat(monkeypatch):
    _cores(monkeypatch, {0, 1}, 2)
    host = FakeHost({None: 10.0})
    monitor = host.monitor(1).start()
    assert (monitor.cpus, monitor.neighbours) == (None, set())
    host.now += 4.0
    host.busy_s[None] = 15.0  # 5 busy seconds over 4 s, none of them ours
    assert monitor.others_cores() == 1.25 and monitor.neighbour_cores() is None
    assert monitor.reason() == ""  # 1 core free beside 1 thread, plus 0.25 tolerance
    host.busy_s[None] = 15.5
    assert monitor.reason() == ("competing load: other processes used 1.38 cores of the 2 core(s) (1 free beside "
                                "1 measuring thread(s))")
    monkeypatch.setattr(noise.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    blind = FakeHost({}).monitor(1).start()  # the reader cannot tell: the load average stands in
    assert blind.others_cores() == 1.5


def test_proc_stat_busy_seconds(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 400 50 6 7 8 0 0\n"
                    "cpu0 60 10 10 200 25 3 4 5 0 0\n"
                    "cpu1 40 10 20 200 25 3 3 3 0 0\n"
                    "intr 1 2 3\n", encoding="ascii")
    tick = os.sysconf("SC_CLK_TCK")
    # user + nice + system + irq + softirq + steal ticks; idle and iowait are not busy
    assert noise._proc_stat_busy_s(None, str(stat)) == 171 / tick
    assert noise._proc_stat_busy_s({1}, str(stat)) == 79 / tick
    assert noise._proc_stat_busy_s({0, 1}, str(stat)) == 171 / tick
    assert noise._proc_stat_busy_s(None, str(tmp_path / "missing")) is None


def test_wait_for_quiet_with_a_fake_clock(monkeypatch):
    _cores(monkeypatch, {0, 1}, 2)
    busy_then_quiet = FakeHost({None: 0.0}, rates=[3.0, 0.5])
    assert wait_for_quiet(1, max_wait_s=10.0, window_s=0.5, clock=busy_then_quiet.clock,
                          sleep=busy_then_quiet.sleep, cpu_clock=busy_then_quiet.cpu_clock,
                          read_busy_s=busy_then_quiet.read_busy_s) is True
    assert busy_then_quiet.sleeps == 2 and busy_then_quiet.now == 101.0
    busy = FakeHost({None: 0.0}, rates=[3.0])
    assert wait_for_quiet(1, max_wait_s=1.0, window_s=0.5, clock=busy.clock, sleep=busy.sleep,
                          cpu_clock=busy.cpu_clock, read_busy_s=busy.read_busy_s) is False
    assert busy.sleeps == 2  # gave up at the deadline


def test_noise_policy_round_trip():
    p = NoisePolicy(spread_threshold=0.2, check_load=False)
    assert NoisePolicy.from_dict(p.to_dict()) == p
