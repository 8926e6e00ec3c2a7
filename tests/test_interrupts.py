"""Interrupted work: a search killed with SIGKILL mid-run resumes and ends where an uninterrupted one does."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.test_trimmer_search import tiny_npz  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent

# Both boot scripts: after the hooked call, write EVENT and hold (bounded: a test that never interrupts still ends).
_HOLD = """
    def _then_hold(orig, event):
        def hooked(*a, **k):
            res = orig(*a, **k)
            Path(event).write_text("reached")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)
            raise SystemExit("test hook: no interrupt came")
        return hooked
"""

# The child holds after its first saved candidate: it writes EVENT (the file the test waits for), then
# blocks until the test interrupts it, so the interrupt lands between candidates without any timing.
_BOOT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
""" + _HOLD + """
    import latmodel.predict.predictor_io
    from tests.test_trimmer_search import FakePredictor
    latmodel.predict.predictor_io.load_predictor = lambda path: FakePredictor()
    from trimmer import state
    event = {event!r}
    if event:
        state.SearchState.save = _then_hold(state.SearchState.save, event)
    from trimmer.cli import main
    sys.exit(main(sys.argv[1:]))
""")
_EVENT_TIMEOUT_S = 240


def _default_sigint():
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the child the disposition a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _search(args, event: Path | None = None, **popen):
    cmd = [sys.executable, "-c", _BOOT.format(event=str(event) if event else ""), *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **popen)


def _wait_for(event: Path, proc) -> None:
    """Wait (bounded) until the child writes ``event``; fail early if it exits first."""
    end = time.monotonic() + _EVENT_TIMEOUT_S
    while not event.exists():
        if proc.poll() is not None:
            pytest.fail(f"the search ended before reaching the event: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"no event file {event} within {_EVENT_TIMEOUT_S} s")
        time.sleep(0.02)


def _rows(out: Path):
    with open(out / "candidates.csv", newline="") as fh:
        return sorted(tuple(v for k, v in r.items() if k != "train_seconds") for r in csv.DictReader(fh))


_COMMON = ["search", "--models", "tests.tinymodels:tiny", "--resolutions", "8", "--no-pretrained", "--exhaustive",
           "--predictor", "unused",
           "--deadline-ms", "5", "--mode", "full", "--epochs", "2", "--batch-size", "16", "--quiet"]


def _run_ok(start, args) -> None:
    proc = start(args)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()


def _sigkill_at(start, args, event) -> None:
    """Start a run whose hook writes ``event`` at the point to interrupt, then SIGKILL it there."""
    proc = start(args, event=event)
    _wait_for(event, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_matches_uninterrupted(tiny_npz, tmp_path):
    common = [*_COMMON, "--data", str(tiny_npz)]
    ref = tmp_path / "ref"
    _run_ok(_search, [*common, "--out", str(ref)])
    out = tmp_path / "killed"
    _sigkill_at(_search, [*common, "--out", str(out)], tmp_path / "saved-one")
    results = out / "results"
    assert len(list(results.glob("*.json"))) == 1, "the kill lands after the first candidate"
    assert not (out / "report.json").exists()

    proc = _search([*common, "--out", str(out)])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "; 1 resumed)" in stdout
    assert _rows(out) == _rows(ref)


def test_ctrl_c_prints_how_to_resume(tiny_npz, tmp_path):
    out = tmp_path / "int"
    event = tmp_path / "saved-one"
    proc = _search([*_COMMON, "--data", str(tiny_npz), "--out", str(out)], event=event)
    _wait_for(event, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("trimmer: interrupted; run the same command again to resume")
    assert "Traceback" not in stderr


_PROFILE_BOOT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
""" + _HOLD + """
""" + _HOLD + """
    import latmodel.measure.table
    event = {event!r}
    if event:
        latmodel.measure.table.append_rows = _then_hold(latmodel.measure.table.append_rows, event)
    from latmodel.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _profile(args, event: Path | None = None):
    cmd = [sys.executable, "-c", _PROFILE_BOOT.format(event=str(event) if event else ""), "profile", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _table_without_timings(path: Path):
    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.measure.table import read_table

    df = read_table(path)
    cols = ["config_id", "block_index", "block_name", *FEATURE_COLUMNS]
    return sorted(map(tuple, df[cols].astype(str).to_numpy().tolist()))


@pytest.mark.slow
def test_sigkill_mid_profile_then_resume_matches_uninterrupted(tmp_path):
    common = ["--models", "random:3,random:5,random:7", "--resolutions", "32", "--window-s", "0", "--quiet"]
    ref = tmp_path / "ref.csv"
    _run_ok(_profile, [*common, "--out", str(ref)])
    out = tmp_path / "killed.csv"
    _sigkill_at(_profile, [*common, "--out", str(out)], tmp_path / "appended-one")
    from latmodel.measure.table import config_ids

    done_before = config_ids(out)  # the table on disk is always whole: old or new, never half-written
    assert len(done_before) == 1, "the kill lands after the first configuration"

    proc = _profile([*common, "--out", str(out)])
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert _table_without_timings(out) == _table_without_timings(ref)
