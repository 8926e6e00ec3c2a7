"""Render docs/TABLE.md from latmodel.measure.table.TABLE_DOCS (the single source of the column docs).

    python scripts/render_table_doc.py            # writes docs/TABLE.md
    python scripts/render_table_doc.py --check    # exit 1 if docs/TABLE.md is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latmodel.measure.table import (  # noqa: E402
    BLOCK_COLUMNS,
    CONFIG_COLUMNS,
    FLAG_COLUMNS,
    REQUIRED_FOR_FIT,
    TABLE_DOCS,
    TABLE_SCHEMA_VERSION,
    TIMING_COLUMNS,
)
from latmodel.graph.features import FEATURE_COLUMNS  # noqa: E402

INTRO = f"""# Measurement table (schema version {TABLE_SCHEMA_VERSION})

Written by `latmodel profile`, read by `latmodel fit` / `evaluate`.  One CSV row per
block of a measured configuration (one network at one resolution, width, batch
size, thread count and device); all rows of a configuration share its
`config_id`, device record and whole-network timing.  Times are milliseconds.
Rows whose measurement looked unreliable have `flagged = 1` and say why in
`flag_reason`; they are kept, not dropped.

*Generated from `latmodel.measure.table.TABLE_DOCS` by `scripts/render_table_doc.py`; do
not edit by hand.*  Columns marked **fit** are required by `latmodel fit`.

## Which statistic

`latmodel profile` measures several configurations together in one child process: a
*window* (`latmodel.measure.bursts.time_window`; by default up to 24 configurations, 20 s a
configuration, 60-300 s).  Round
after round it visits every configuration (the order rotates and alternates), and times
each of its quantities -- the whole chain (plain and timestamped passes: the in-context
block latencies), every prefix, every block alone on its cached input -- as a *warm
burst*: one untimed pass that brings the quantity's weights back into the caches (the
previous quantity evicted them), more untimed passes while the quantity still gets faster
(*settling*, `latmodel.measure.bursts.BurstPolicy`: until 2 passes in a row were no more than 2%
faster than the burst's fastest, 40 ms of them, or 16 passes), then 4 timed passes.  Rounds go
on until the window has lasted its length.  Why settling (tables from 2026-12-05 09:00 UTC,
`method` `window-settled-min`; earlier ones `window-min`): on the stepping-1 Xeon guest of
2026-12-05 ONNX Runtime's small networks were still getting faster at a burst's 4th timed pass
(whole networks: a visit's first timed pass took a median 1.2-1.8x its last, and the last was
the fastest in 46-100% of visits; MobileNetV2 at 128 px alone ran 6.3, 4.3, 3.9, 3.4, 3.2, 3.0,
2.9 ms pass after pass after other work), so the minimum read how far warming
had got, which did not repeat.  In one run alternating the two (`benchmarks/results/repeatability_settle.json`)
settled bursts put 64% / 84% of ONNX Runtime's prefixes within ±5% / ±10% by the minimum
against 45% / 72% unsettled, and 93% / 100% by the median against 75% / 99%.  The reference columns `incontext_ms`, `alone_ms`, `prefix_ms` and
`network_ms` are the **minimum** of all of a quantity's timed samples (`samples` of
them; `method` `window-min`): the warm latency in the machine's fast state, which is what a
dedicated device delivers.  The minimum, not a percentile: on the Xeon guest of 2026-12-02
slow phases covered most of each window, and of the statistics compared on the same samples
the minimum repeated best between two passes (`benchmarks/bench_repeatability.py`).  On a calmer host (the
stepping-1 Xeon guest of 2026-12-04) every statistic did well for torch (minimum 95.7% of prefixes within ±5%,
100% within ±10%) while for ONNX Runtime the minimum (65% / 96%) fell behind its 5th-50th percentiles (93-94% /
96-100%): which statistic repeats best depends on the host's state, and the minimum is kept as the one that fell
least in slow states.  `latmodel profile --statistic p10|p25` keeps a low percentile instead (`method`
`window-settled-p25`); `--samples-out` keeps every sample, and `scripts/table_statistic.py` rebuilds a table under
another statistic from them.  On the Xeon 6/207/2 guest (2026-12-06) one pass rebuilt under each statistic gave
leave-one-family-out predictors of 72.0% (minimum), 76.0% (10th) and 77.0% (25th percentile) of held-out prefixes
within ±10%, so that host's table keeps the 25th percentile; `latmodel evaluate` says when a table holds another
statistic than its predictor learned.  Window time per configuration helps: the same 14 configurations in windows of 7 (~43 s
each) agreed on 95.7% / 100%, in one window of 14 (~23 s each, 18:48-18:59 UTC) on 91.9% / 98.6%.  A full
default-corpus pass (~15 s each) and its repeat an hour later, in windows of other companions, agreed on only
46% / 86% by the minimum (data/calibration/README.md): time between passes matters too.  Why: on a shared host (a cloud VM, a desk machine running other work) every
workload on a core slows down together in phases of seconds to minutes; a statistic taken
inside one configuration's few seconds inherits whatever phase it fell into, while a low
quantile over a window shared by many configurations sees the same fast state for all of
them.  Interference only adds time.  The medians (`*_median_ms`) and the prefix's 90th
percentile stay in the table for safety margins.  A fixed yardstick workload is timed in
every round too (`yardstick_ms`): dividing by it puts windows measured at different
times on one scale (the fast state itself drifts by a few % over an hour).  A host can also run slow for a
whole day: on 2026-12-05 (stepping-1 Xeon) every window from 10:39 to 12:23 UTC read its yardstick at 17.5-20.3 ms
against 13.4-15.3 ms the night before, and an ONNX Runtime pass then measured prefixes ~1.2x the night's; two
passes inside that day still agreed on 94.1% / 99.7% of prefixes within ±5% / ±10% (data/calibration/README.md,
"-settled.csv").  A window's minimum is the fast state of the day it ran: compare `yardstick_ms` before
trusting a table's absolute level.  The yardstick does not track every host: on the Intel Xeon 6/207/2 guest
(2026-12-06) it read 8.7-13.9 ms over the 9 windows of one pass while the measured networks moved about 10%, and
dividing it out took that table and its repeat an hour later from 82.0% to 51.3% of prefixes within ±10% of each
other (two passes back to back on the same machine it brought from 81.2% to 90.8%: it is a property of a pair of
passes, not of a host).
`scripts/calibration_stability.py A.csv B.csv --mark-yardstick` fits how much of the yardstick's change the
networks followed between two passes (the slope of each configuration's log ratio on its log yardstick ratio) and,
when scaling by that share brings them closer than scaling fully, writes it into both tables as `yardstick_tracks`
(rows are scaled by (reference / yardstick) to that power; 0: used as measured).  On the Xeon 6/207/2 the share was
0.28 and 0.35 in two independent pairs; at 0.28 the pair of 07:08 agreed on 93.8% of prefixes within ±10% (as
measured 79.7%, fully scaled 51.3%), and its leave-one-family-out predictor put 78.9% of held-out prefixes within
±10% (as measured 62.9%).
**A configuration measured in noise is measured again.**  Its rows tell how noisy the host was while its window
measured it: its *spread*, the median over its prefix rows of `prefix_median_ms / prefix_ms`
(`latmodel.measure.spread.window_spread`; no column of its own: both columns are in every row).  While the host is
quiet the samples bunch near their minimum (0-3% of the AMD EPYC's shipped configurations over 1.20); in a slow
phase that covers most of a window they run late and the minimum comes from the few fast moments left, so it can
read high (over five pairs of passes on that EPYC, the configurations at most 1.20 in both passes agreed on 91.7% /
99.3% of prefixes within ±5% / ±10%, those over 1.20 in either on 62.4% / 83.1%, the noisy pass the slow one;
data/calibration/README.md, "Noisy configurations measured again").  `latmodel profile` measures the
configurations over `--max-spread` (1.20) again, together, after the other windows, up to `--reruns` (1) more
times, and writes each one's run with the least spread; the summary names those still from a noisy run.
**Several passes of one configuration** (tables given together to `latmodel fit` / `evaluate`, e.g. a second pass
of the default corpus an hour later) are merged after every window is on one yardstick scale: one row per block,
each latency column the minimum over the passes (`latmodel.measure.passes`), the same statistic over more of the
host's time.  Passes merge only under one `method`; a flagged pass counts only where every pass of that row is.  On
the Xeon 6/207/2 two whole passes agreed on only 67.0% of prefixes within ±10% at the share 0.28, while the merged
pair (two passes of the default corpus against two of the `repeat` corpus) agreed on 94.8% (the better single pair
93.8%; `scripts/calibration_stability.py A B --merge-a A2 --merge-b B2`), and leave-one-family-out on the merged
table put 83.2% of held-out prefixes and 77.5% of whole networks within ±10% (one pass: 80.4% / 70.4%).
`benchmarks/bench_repeatability.py` measures how well two passes agree, old method beside
new (README).

Schema 3 tables were measured per configuration in its own rounds (`method`
'round-model', `latmodel.measure.timing.time_interleaved` and a median-polish round model,
latency at the third-fastest round; `latmodel profile --method round-model` still
measures that way, to compare with).  They are read with `method` 'round-model' and
empty CPU columns: their device ids are kept as written (legacy: no ISA), so a predictor
fitted on one never matches a machine automatically.  Schema 1 tables (medians of
prefix-after-prefix loops as the reference, columns `*_median_ms` only) are still read:
their medians become the reference columns.  Schema 2 tables (before runtimes) are read
as `runtime` 'torch' with `runtime_version` their torch version.  New rows cannot be
appended to any older schema.

## Runtimes

`runtime` names what ran the network (`latmodel.measure.runtimes.RUNTIMES`): `torch` (eager
PyTorch) or an ONNX runtime (`onnxruntime`: CPUExecutionProvider, intra-op threads =
`threads`, one inter-op thread, all graph optimisations; `openvino`: CPU, latency hint,
one stream).  For an ONNX runtime the chain is exported once (opset 17, cached) and every
prefix is cut out of that graph and compiled on its own: `prefix_ms` is blocks 0..k compiled
as one graph (fused as deployed), and the whole network is the last prefix.

What a block costs inside the deployed graph comes from the runtime's own node profiler where it
has one (`Runtime.block_profiler`; ONNX Runtime's `SessionOptions.enable_profiling`,
`latmodel.measure.graph_profile`): after the window, the whole graph runs under the profiler,
every node is attributed to the block its name carries (`/blocks.K/...`, or the block's output
tensor `blockK`; nodes the optimiser created take the block run before them), and `incontext_ms`
is block k's share of the profiled node time times the whole graph's `prefix_ms`; `network_ms`
is the whole graph, and the blocks are not timed alone (`alone_ms` empty).  On the AVX-512
EPYC the summed in-context latencies of such a table put 87.9% of prefixes within ±10% of their
measured latency, against 18.9% for the chained block sessions of tables measured before
2026-12-06 (data/calibration/README.md).  Those older tables, and OpenVINO's, cut every block out
too: their `incontext_ms` is block k's compiled graph in a pass of the chained block graphs
(timestamps between them, so it includes one runtime call per block), `network_ms` that pass
without timestamps, `alone_ms` block k's graph on its cached input.  A predictor is fitted for one
runtime and refuses another's candidates.
"""

SECTIONS = [
    ("Configuration and device record", CONFIG_COLUMNS),
    ("Block identity", BLOCK_COLUMNS),
    ("Features (fvcore counts and structure)", FEATURE_COLUMNS),
    ("Timings", TIMING_COLUMNS),
    ("Reliability", FLAG_COLUMNS),
]


def render() -> str:
    parts = [INTRO]
    for title, columns in SECTIONS:
        parts.append(f"\n## {title}\n\n| column | meaning |\n|---|---|")
        for col in columns:
            fit = " **fit**" if col in REQUIRED_FOR_FIT else ""
            doc = TABLE_DOCS[col].replace("|", "\\|")
            parts.append(f"| `{col}`{fit} | {doc} |")
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/TABLE.md differs from the rendering")
    args = parser.parse_args(argv)
    target = ROOT / "docs" / "TABLE.md"
    text = render()
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date; run python scripts/render_table_doc.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
