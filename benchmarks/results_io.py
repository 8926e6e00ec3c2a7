"""What every benchmark's JSON starts with, and how it is written (one source for both).

    out = {**result_header("tie_break", argv), ...}
    write_result(args.out, out)
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["machine_line", "result_header", "write_result", "repo_relative"]

ROOT = Path(__file__).resolve().parents[1]


def machine_line() -> str:
    """This CPU as a result names it: model name, vendor family/model/stepping and widest ISA
    (:func:`latmodel.measure.device.cpu_identity`: "AMD EPYC" names AVX-512 and AVX2 machines alike), and cores."""
    from latmodel.measure.device import cpu_identity

    cpu = cpu_identity()
    return f"{cpu.name} ({cpu.vendor} {cpu.model_id}, {cpu.isa}), {os.cpu_count()} cores"


def result_header(benchmark: str, argv=None) -> dict:
    """``benchmark``, ``date`` (UTC, seconds), ``machine`` and the ``command`` that reproduces the run."""
    args = sys.argv[1:] if argv is None else argv
    return {"benchmark": benchmark, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_line(),
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
