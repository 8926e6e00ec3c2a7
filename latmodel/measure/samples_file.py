"""The raw samples of a profile pass (``latmodel profile --samples-out``): one JSON file, window by window.

``{"window0": {config_id: {quantity: samples...}, "yardstick": [...]}, "window1": ...}``, as
:func:`latmodel.measure.rows.measure_window` collects them.  The file is rewritten whole after each window (atomically:
an interrupted pass leaves the windows measured so far), and a resumed pass adds its windows to it, as the table
keeps its rows.  Read plain or gzipped (``.gz``: how the shipped ones are kept, data/calibration/samples/).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from ..errors import NetcutError

__all__ = ["YARDSTICK_KEY", "SamplesFile", "read_samples"]

#: The key of a window's yardstick samples, beside its configurations' ids.
YARDSTICK_KEY = "yardstick"


def read_samples(path) -> dict:
    """A samples file, plain or gzipped."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


class SamplesFile:
    """Where a pass writes its raw samples; checked before the first window, resumed with its table."""

    def __init__(self, path, *, table, resuming: bool):
        self.path = Path(path)
        if self.path.resolve() == Path(table).resolve():
            raise NetcutError(f"--samples-out {str(self.path)!r} is the table itself; give another file, e.g. "
                              f"{self.path.with_suffix('.samples.json')}")
        if not self.path.parent.is_dir():
            raise NetcutError(f"--samples-out folder {str(self.path.parent)!r} does not exist; create it first")
        if self.path.is_dir() or self.path.suffix == ".gz":
            raise NetcutError(f"--samples-out {str(self.path)!r} must be a plain JSON file path (gzip it afterwards)")
        # a resumed pass keeps the windows it measured before; a new pass (no rows in its table yet) starts anew
        self.windows: dict = read_samples(self.path) if resuming and self.path.is_file() else {}

    def add(self, window_samples: dict) -> None:
        """One more window's samples, written at once."""
        from ..fileio import atomic_write_text

        self.windows[f"window{len(self.windows)}"] = window_samples
        atomic_write_text(self.path, json.dumps(self.windows))
