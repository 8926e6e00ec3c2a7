"""A profile's progress bar in estimated seconds, moving while a measuring window runs.

A window measures all its configurations round-robin in one child and returns them together, so a bar counted
in configurations stands still for the whole window: ``latmodel calibrate`` (one window of 20) showed 0/20 for
three minutes and then 20/20.  This bar counts each window's estimated seconds (the shares of the estimate
printed before the start), advances once a second while the window's child runs, never past that window's
share, and jumps to the end of the share when the child returns.  Its postfix counts configurations.  The ETA is
then the estimate of what is left, corrected by how the windows so far kept to theirs (tqdm's rate).

A window lasts its ``window_s`` unless ``min_rounds`` rounds of its networks take longer; the estimate before the
start prices rounds from each network timed once (:func:`latmodel.measure.windows.round_seconds`), a rough
price (before it did not, and the heavy corpus's window on the Xeon 6/207/2, estimated at 341 s, ran 6 rounds of
92 s while the bar sat at 99%); the child reports each round, and :meth:`WindowProgress.reprice` lengthens the window's
share from the rounds measured so far (:func:`latmodel.measure.windows.window_seconds_from_rounds`), so the bar
keeps moving and its ETA counts the rounds still to come.

tqdm draws it; what is ours is only the mapping of windows to seconds (tqdm cannot know a child's progress).
"""
from __future__ import annotations

import itertools
import sys
from typing import Sequence

__all__ = ["WindowProgress"]

#: The share of a window's estimate the bar reaches while the window still runs (the rest when it returns).
_RUNNING_CAP = 0.99


class WindowProgress:
    """Progress over windows of configurations; ``window_seconds``: each window's estimate, in order."""

    def __init__(self, window_seconds: Sequence[float], n_configs: int, *, enabled: bool = True, file=None):
        from tqdm import tqdm

        self._shares = [max(0.0, float(s)) for s in window_seconds]
        # where each window starts and ends on the bar
        self._bounds = list(itertools.accumulate(self._shares, initial=0.0))
        self._n_configs = int(n_configs)
        self._done_configs = 0
        self._window = -1
        self._label = ""
        self._late_s = 0.0
        # a float total, and no position past it: tqdm drops a total the bar passed by half a unit and then fails
        # to draw "{total:.0f}" (a rounded total of 668 for shares summing to 668.5 ended a profile in a traceback)
        self._total_s = float(sum(self._shares))
        self._bar = tqdm(total=self._total_s, unit="s", disable=not enabled, file=file or sys.stderr,
                         dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s "
                                                        "[{elapsed}<{remaining}{postfix}]")

    @property
    def position_s(self) -> float:
        """Where the bar stands, estimated seconds."""
        return float(self._bar.n)

    def start_window(self, label: str) -> None:
        """The next window starts; ``label`` names it in the postfix."""
        self._window += 1
        self._label = label
        self._move_to(self._bounds[self._window])

    def tick(self, elapsed_s: float) -> None:
        """The current window's child has run ``elapsed_s`` seconds."""
        share = self._shares[self._window] if 0 <= self._window < len(self._shares) else 0.0
        elapsed_s = max(0.0, float(elapsed_s))
        # past its estimate the bar waits and says so (else its ETA would count down to 0 s and sit there)
        self._late_s = elapsed_s - share if elapsed_s > share else 0.0
        self._move_to(self._bounds[self._window] + min(elapsed_s, _RUNNING_CAP * share))

    def reprice(self, window_total_s: float) -> None:
        """The current window will take ``window_total_s`` in all (measured rounds): a longer share than
        estimated lengthens the bar (the windows after it keep theirs); a shorter one changes nothing."""
        w = self._window
        if not 0 <= w < len(self._shares) or float(window_total_s) <= self._shares[w]:
            return
        self._shares[w] = float(window_total_s)
        self._reshare()

    def add_window(self, window_s: float) -> None:
        """One more window, estimated at ``window_s``, after those planned (configurations measured again): the bar
        lengthens by its share."""
        self._shares.append(max(0.0, float(window_s)))
        self._reshare()

    def _reshare(self) -> None:
        """Windows' bounds and the bar's length after a share changed or was added."""
        self._bounds = list(itertools.accumulate(self._shares, initial=0.0))
        self._total_s = float(sum(self._shares))
        self._bar.total = self._total_s

    def end_window(self, n_configs: int) -> None:
        """The current window returned ``n_configs`` configurations (measured or failed)."""
        self._done_configs += int(n_configs)
        self._late_s = 0.0
        self._move_to(self._bounds[self._window + 1])

    def close(self) -> None:
        self._bar.close()

    def _move_to(self, position_s: float) -> None:
        late = f", {self._late_s:.0f} s past this window's estimate" if self._late_s >= 1.0 else ""
        self._bar.set_postfix_str(f"{self._done_configs}/{self._n_configs} configs, {self._label}{late}", refresh=False)
        step = min(position_s, self._total_s) - self._bar.n
        if step:
            self._bar.update(step)
        else:  # tqdm draws nothing on update(0): a bar waiting at its cap would freeze with a stale postfix
            self._bar.refresh()
