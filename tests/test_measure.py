"""One configuration measured: exact rows and flags from fake clocks (and the fakes other timing tests use)."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from latmodel.graph.blocks import split_model
from latmodel.measure.device import DeviceRecord
from latmodel.errors import NetcutError
from latmodel.measure.rows import measure_config
from latmodel.measure.noise import NoisePolicy
from latmodel.measure.table import TABLE_COLUMNS

from .conftest import ROOT

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


def test_table_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_table_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

