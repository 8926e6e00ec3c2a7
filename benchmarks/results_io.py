"""What every benchmark's JSON starts with, and how it is written (one source for both).

    out = {**result_header("tie_break", argv), ...}
    write_result(args.out, out)
"""
from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["result_header", "write_result", "repo_relative"]

ROOT = Path(__file__).resolve().parents[1]


def result_header(benchmark: str, argv=None) -> dict:
    """``benchmark``, ``date`` (UTC, seconds), ``machine`` and the ``command`` that reproduces the run."""
    args = sys.argv[1:] if argv is None else argv
    return {"benchmark": benchmark, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "command": f"python benchmarks/bench_{benchmark}.py " + " ".join(args)}


def write_result(path, data: dict) -> Path:
    """``data`` as indented JSON at ``path`` (folders made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def repo_relative(path) -> str:
    """``path`` relative to the repository when it lies inside it (results stay valid in any checkout), else as given."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(path)
