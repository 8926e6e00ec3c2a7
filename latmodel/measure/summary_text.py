"""The text ``latmodel profile`` prints when it is done (:class:`latmodel.measure.outcomes.ProfileSummary`)."""
from __future__ import annotations

import math

__all__ = ["profile_summary_text", "YARDSTICK_SPREAD_WARN"]

#: Windows whose yardsticks differ by more than this factor get a line: the machine's speed moved between them
#: (the AVX-512 EPYC's read within 1.03x over a pass; two passes of the Xeon 6/207/2 1.60x and 1.77x, their
#: repeats agreeing on 79.7% and 43.6% of prefixes within 10%; data/calibration/README.md).
YARDSTICK_SPREAD_WARN = 1.25


def profile_summary_text(summary) -> str:
    """What was measured, each configuration's whole network and in-context check, memory, failures."""
    lines = [
        f"profile: {summary.measured} configuration(s) measured, {summary.skipped} skipped (already in the table), "
        f"{summary.failed} failed, {summary.flagged} flagged; {summary.rows_written} rows written in "
        f"{summary.seconds:.1f} s to {summary.out_path}"
    ]
    measured = [o for o in summary.outcomes if o.status == "measured"]
    if measured:
        lines.append("per configuration (in-context latencies split from the deployed graph's node profile):"
                     if all(o.incontext_from_profile for o in measured) else
                     "sum of in-context block latencies vs whole chain (same rounds); in brackets the "
                     "fastest timestamped pass vs the fastest plain pass (timestamp cost):")
        for o in measured:
            flag = f"  [flagged rows: {o.flagged_rows}]" if o.flagged_rows else ""
            stamp = f" ({o.timestamp_overhead * 100:+.1f}%)" if not math.isnan(o.timestamped_total_ms) else ""
            context = ("in-context from the graph's node profile" if o.incontext_from_profile
                       else f"in-context sum {o.incontext_vs_network * 100:+.1f}%{stamp}")
            lines.append(f"  {o.config_id}: {o.n_blocks} blocks, network {o.network_ms:.3f} ms, "
                         f"{context}, {o.seconds:.0f} s{flag}")
    peaks = [o for o in measured if not math.isnan(o.window_peak_bytes)]
    if peaks:
        top = max(peaks, key=lambda o: o.window_peak_bytes)
        est = (f" (estimated {top.window_estimate_bytes / 2**30:.1f} GiB)"
               if not math.isnan(top.window_estimate_bytes) else "")
        lines.append(f"memory: the largest window peaked at {top.window_peak_bytes / 2**30:.1f} GiB{est}")
    yard = sorted(o.yardstick_ms for o in measured if o.yardstick_ms > 0)
    if yard and yard[-1] > YARDSTICK_SPREAD_WARN * yard[0]:
        lines.append(f"yardstick: {yard[0]:.2f}-{yard[-1]:.2f} ms over the windows (x{yard[-1] / yard[0]:.2f}): this "
                     "machine's speed moved between windows, so its configurations were measured at different "
                     "speeds; profile a repeat pass (--corpus repeat) and compare (scripts/calibration_stability.py) "
                     "before trusting the table; a second whole pass later, given to 'latmodel fit' beside this one, "
                     "counts each configuration once at the faster pass (latmodel.measure.passes)")
    lines += _noise_lines(measured, summary.max_spread)
    for o in summary.outcomes:
        if o.status == "failed":
            lines.append(f"  FAILED {o.config_id}: {o.reason}")
    return "\n".join(lines)


def _noise_lines(measured, max_spread: float) -> list[str]:
    """What the noisy-configuration rule did (:mod:`latmodel.measure.spread`): configurations measured again, and any
    still from a noisy run."""
    again = [o for o in measured if o.window_runs > 1]
    still = [o for o in measured if o.window_spread > max_spread]
    lines = []
    if again:
        quieter = [o for o in again if not o.window_spread > max_spread]
        lines.append(f"noise: {len(again)} configuration(s) were first measured while this machine was noisy (their "
                     f"warm samples' spread over x{max_spread:.2f}) and were measured again after the others; "
                     f"{len(quieter)} of them are written from a quieter run")
    if still:
        worst = max(o.window_spread for o in still)
        lines.append(f"noise: {len(still)} configuration(s) written from a run measured while this machine was "
                     f"noisy (spread up to x{worst:.2f} > x{max_spread:.2f}): their latencies may read high; profile "
                     "a second pass later (--corpus repeat, or the same command into another --out) and give both "
                     "tables to 'latmodel fit', which counts each configuration at its faster pass")
    return lines
