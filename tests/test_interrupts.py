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

_BOOT = textwrap.dedent("""
    import sys, time
    import latmodel.model
    from tests.test_trimmer_search import FakePredictor
    latmodel.model.load_predictor = lambda path: FakePredictor()
    from trimmer import search
    if {slow}:
        _orig = search.run_job
        def _slow(job, data, progress=False):
            out = _orig(job, data, progress)
            time.sleep(0.8)  # make the kill land between candidates
            return out
        search.run_job = _slow
    from trimmer.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _default_sigint():
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the child the disposition a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _search(args, slow=False, **popen):
    cmd = [sys.executable, "-c", _BOOT.format(slow=slow), *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **popen)


def _rows(out: Path):
    with open(out / "candidates.csv", newline="") as fh:
        return sorted(tuple(v for k, v in r.items() if k != "train_seconds") for r in csv.DictReader(fh))


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_matches_uninterrupted(tiny_npz, tmp_path):
    common = ["search", "--data", str(tiny_npz), "--models", "tests.tinymodels:tiny", "--resolution", "8",
              "--no-pretrained", "--exhaustive", "--deadline-ms", "5", "--mode", "full", "--epochs", "2",
              "--batch-size", "16", "--quiet"]
    ref = tmp_path / "ref"
    proc = _search([*common, "--out", str(ref)])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()

    out = tmp_path / "killed"
    proc = _search([*common, "--out", str(out)], slow=True)
    results = out / "results"
    deadline = time.time() + 240
    while time.time() < deadline:
        if results.is_dir() and len(list(results.glob("*.json"))) >= 1:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = len(list(results.glob("*.json")))
    assert 1 <= done_before < 4, "the kill should land mid-run"
    assert not (out / "report.json").exists()

    proc = _search([*common, "--out", str(out)])
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"({done_before} resumed)" in stdout
    assert _rows(out) == _rows(ref)


def test_ctrl_c_prints_how_to_resume(tiny_npz, tmp_path):
    out = tmp_path / "int"
    proc = _search(["search", "--data", str(tiny_npz), "--models", "tests.tinymodels:tiny", "--resolution", "8",
                    "--no-pretrained", "--exhaustive", "--deadline-ms", "5", "--mode", "full", "--epochs", "2",
                    "--quiet", "--out", str(out)], slow=True)
    deadline = time.time() + 240
    # right after the first finished candidate: the next one is still 0.8 s away (slow=True)
    while time.time() < deadline and not list((out / "results").glob("*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("trimmer: interrupted; run the same command again to resume")
    assert "Traceback" not in stderr


def _profile(args):
    cmd = [sys.executable, "-m", "latmodel.cli", "profile", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _table_without_timings(path: Path):
    from latmodel.features import FEATURE_COLUMNS
    from latmodel.table import read_table

    df = read_table(path)
    cols = ["config_id", "block_index", "block_name", *FEATURE_COLUMNS]
    return sorted(map(tuple, df[cols].astype(str).to_numpy().tolist()))


@pytest.mark.slow
def test_sigkill_mid_profile_then_resume_matches_uninterrupted(tmp_path):
    common = ["--models", "random:3,random:5,random:7", "--resolutions", "32", "--repeats", "3", "--warmup", "1",
              "--quiet"]
    ref = tmp_path / "ref.csv"
    proc = _profile([*common, "--out", str(ref)])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()

    out = tmp_path / "killed.csv"
    proc = _profile([*common, "--out", str(out)])
    deadline = time.time() + 240
    while time.time() < deadline and not out.exists():
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    from latmodel.table import config_ids

    done_before = config_ids(out)  # the table on disk is always whole: old or new, never half-written
    assert 1 <= len(done_before) < 3, "the kill should land mid-run"

    proc = _profile([*common, "--out", str(out)])
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert _table_without_timings(out) == _table_without_timings(ref)
