"""Timing harness: exact samples, call counts and syncs from fake clocks."""
from __future__ import annotations

import pytest

from latmodel.errors import NetcutError
from latmodel.measure.timing import time_blocks_alone, time_callable, time_chain, time_interleaved, time_prefixes

from .test_measure import FakeClock, Tick


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

