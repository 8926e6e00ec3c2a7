"""Render docs/TABLE.md from latmodel.table.TABLE_DOCS (the single source of the column docs).

    python scripts/render_table_doc.py            # writes docs/TABLE.md
    python scripts/render_table_doc.py --check    # exit 1 if docs/TABLE.md is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latmodel.table import (  # noqa: E402
    BLOCK_COLUMNS,
    CONFIG_COLUMNS,
    FLAG_COLUMNS,
    REQUIRED_FOR_FIT,
    TABLE_DOCS,
    TABLE_SCHEMA_VERSION,
    TIMING_COLUMNS,
)
from latmodel.features import FEATURE_COLUMNS  # noqa: E402

INTRO = f"""# Measurement table (schema version {TABLE_SCHEMA_VERSION})

Written by `latmodel profile`, read by `latmodel fit` / `evaluate`.  One CSV row per
block of a measured configuration (one network at one resolution, width, batch
size, thread count and device); all rows of a configuration share its
`config_id`, device record and whole-network timing.  Times are milliseconds.
Rows whose measurement looked unreliable have `flagged = 1` and say why in
`flag_reason`; they are kept, not dropped.

*Generated from `latmodel.table.TABLE_DOCS` by `scripts/render_table_doc.py`; do
not edit by hand.*  Columns marked **fit** are required by `latmodel fit`.

## Which statistic

Every quantity of a configuration (each block in context, each block alone, each
prefix, the whole chain) is timed once per *round*, round after round
(`latmodel.timing.time_interleaved`).  The reference columns `incontext_ms`,
`alone_ms`, `prefix_ms` and `network_ms` come from a model of those rounds
(`latmodel.round_model.fit_round_model`): each round's samples share one machine
speed, each quantity has one latency, `log t = speed[round] + latency[quantity]`,
fitted by median polish; the latency is reported at the speed of the third-fastest
round.  On a shared host (a cloud VM, a desk machine running other work) other
tenants slow everything down in phases of seconds, and how much of a run they
cover varies from run to run: on the 2-core development VM the median of one
network varied by up to 40% between runs, the round-model latency by about 4%.
Interference only adds time, so the fast state is the device's own; a dedicated
embedded device shows it.  The medians (`*_median_ms`) and the prefix's 90th
percentile stay in the table for safety margins.

Schema 1 tables (medians of prefix-after-prefix loops as the reference, columns
`*_median_ms` only) are still read: their medians become the reference columns.
Schema 2 tables (before runtimes) are read as `runtime` 'torch' with `runtime_version`
their torch version.  New rows cannot be appended to either.

## Runtimes

`runtime` names what ran the network (`latmodel.runtimes.RUNTIMES`): `torch` (eager
PyTorch) or an ONNX runtime (`onnxruntime`: CPUExecutionProvider, intra-op threads =
`threads`, one inter-op thread, all graph optimisations; `openvino`: CPU, latency hint,
one stream).  For an ONNX runtime the chain is exported once (opset 17, cached) and every
block and every prefix is cut out of that graph and compiled on its own: `incontext_ms`
is block k's compiled graph in a pass of the chained block graphs (timestamps between
them, so it includes one runtime call per block), `network_ms` that pass without
timestamps, `prefix_ms` blocks 0..k compiled as one graph (fused as deployed), `alone_ms`
block k's graph on its cached input.  A predictor is fitted for one runtime and refuses
another's candidates.
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
