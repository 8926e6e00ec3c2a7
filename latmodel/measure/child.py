"""Running one measuring child (``python -m latmodel.measure.worker``) for :func:`latmodel.measure.profiling.profile`:
its environment, the wait with a moving progress bar, the timeout, why it failed, and the rounds it reports."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .bursts import BurstPolicy
from .rows import WINDOW_METHOD
from .windows import window_seconds_from_rounds

__all__ = ["CHILD_ENV", "child_env", "exit_reason", "run_child"]

#: Environment of every measuring child (besides the thread counts).  The malloc
#: thresholds keep freed activations mapped, so repeats do not page-fault anew.
CHILD_ENV: dict[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "4294967296",
    "PYTHONHASHSEED": "0",
}
#: The module the measuring child runs (``python -m``): :mod:`latmodel.measure.worker`.
_CHILD_MODULE = "latmodel.measure.worker"


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def child_env(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHILD_ENV)
    env.update(extra or {})
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    # the child imports the latmodel this process runs (the folder holding the package, and no current directory
    # prepended: else `python -m` takes a checkout in the working directory over an editable install of another)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONSAFEPATH"] = "1"
    return env


def exit_reason(returncode: int, last_line: str) -> str:
    """Why a measuring child failed (exit status, last stderr line).  SIGKILL is most often the out-of-memory
    killer: a window holds all its networks at once (docs/CLI.md, ``profile``)."""
    if returncode == -9:
        return ("child killed (SIGKILL, most often the out-of-memory killer: a window holds all its configurations' "
                "networks at once); measure fewer configurations a window, e.g. --window-configs 6")
    return f"child exited with status {returncode}: {last_line or '(no message)'}"


def run_child(job: dict, workdir: Path, timeout_s: float, tick=None, reprice=None) -> tuple[dict | None, str]:
    """Run one measuring child on ``job``; its result (``{"rows": [rows of each configuration]}``) or None and why.
    ``tick(seconds)`` is called about once a second while the child runs (the progress bar); ``reprice(seconds)``,
    for a window, with how long the window will run in all once its child has reported rounds."""
    job_path = workdir / "job.json"
    result_path = workdir / "rows.json"
    err_path = workdir / "stderr.txt"
    progress_path = workdir / "rounds.json"
    for stale in (result_path, progress_path):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    if reprice is not None and job.get("method", WINDOW_METHOD) == WINDOW_METHOD:
        job = {**job, "progress_path": str(progress_path)}
    job_path.write_text(json.dumps(job), encoding="utf-8")
    cmd = [sys.executable, "-m", _CHILD_MODULE, "--worker", str(job_path), "--result", str(result_path)]
    with open(err_path, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, env=child_env(job["threads"], job.get("child_env")), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        t0 = time.monotonic()
        while proc.poll() is None:  # not proc.wait(timeout_s): the bar moves while the child measures
            if time.monotonic() - t0 > timeout_s:
                proc.kill()
                proc.wait()
                return None, f"timed out after {timeout_s:.0f} s (raise timeout_s or lower --repeats)"
            if reprice is not None:
                _reprice_from_rounds(progress_path, job, t0, reprice)
            if tick is not None:
                tick(time.monotonic() - t0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
    if proc.returncode != 0:
        return None, exit_reason(proc.returncode, _last_line(err_path))
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
        result["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"child wrote no readable result: {exc}"
    return result, ""


def _reprice_from_rounds(path: Path, job: dict, t0: float, reprice) -> None:
    """Read the child's rounds report (if any) and pass how long its window will run in all to ``reprice``."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        written_s = path.stat().st_mtime - time.time() + time.monotonic() - t0  # when, on the child's clock
        rounds, seconds = int(report["rounds"]), float(report["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # no round yet (or a report being replaced): the estimate stands
    reprice(window_seconds_from_rounds(rounds, seconds, window_s=float(job["window_s"]),
                                       min_rounds=int(job.get("min_rounds", BurstPolicy.min_rounds)),
                                       before_s=max(0.0, written_s - seconds)))
