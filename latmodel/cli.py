"""``latmodel`` command line: a thin layer over the Python API.

    latmodel blocks   --model NAME [--resolution 224]
    latmodel profile  [--models a,b] [--resolutions 224,160] --out table.csv [--budget N [--dry-run]]
    latmodel fit      table.csv [more.csv ...] --out predictor/ [--base predictor/ [--adapt correct]]
                      [--scheduler tcp://HOST:PORT]
    latmodel calibrate --out predictor/ [--budget 20] [--runtime torch] [--threads 1] [--base predictor/]
    latmodel evaluate --predictor predictor/ table.csv [--plot pred_vs_meas.png]
    latmodel predict  [--predictor predictor/] --model NAME [--resolution 224] [--json]
    latmodel refeature table.csv --out new.csv

User errors (:class:`latmodel.errors.NetcutError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import NetcutError

__all__ = ["main", "build_parser", "Parser", "run_cli", "parse_csv_list", "positive_int", "positive_float"]

logger = logging.getLogger(__name__)


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit 2), like every other user error."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise NetcutError(f"{self.prog}: {message} (see '{self.prog} --help')")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def parse_csv_list(text: str, item: Callable = str, what: str = "value") -> list:
    """Parse ``a,b,c``; each item through ``item`` (which raises ArgumentTypeError)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise NetcutError(f"expected a comma-separated list of {what}s, got {text!r}")
    out = []
    for p in parts:
        try:
            out.append(item(p))
        except argparse.ArgumentTypeError as exc:
            raise NetcutError(f"bad {what} in {text!r}: {exc}") from None
    return out


def _out_path(text: str, *, is_dir: bool = False) -> Path:
    path = Path(text)
    parent = path.parent if not is_dir else path.parent
    if str(parent) and not parent.exists():
        raise NetcutError(f"output folder {str(parent)!r} does not exist; create it first (mkdir -p {parent})")
    return path


# --------------------------------------------------------------------------- commands


def cmd_blocks(args) -> int:
    from tabulate import tabulate

    from .graph.netfeatures import network_features
    from .graph.blocks import load_chain

    chain = load_chain(args.model, args.resolution, width=args.width)
    feats = network_features(args.model, args.resolution, width=args.width)
    rows = [
        {
            "index": info.index,
            "name": info.name,
            "output shape": "x".join(str(v) for v in info.out_shape),
            "MFLOPs": round(f["flops"] / 1e6, 2),
            "params": int(f["params"]),
        }
        for info, f in zip(chain.infos, feats)
    ]
    if args.json:
        print(json.dumps({"model": args.model, "resolution_px": args.resolution, "width": args.width,
                          "blocks": [{**info.to_dict(), "flops": f["flops"], "params": f["params"]}
                                     for info, f in zip(chain.infos, feats)]}, indent=2))
        return 0
    print(f"{args.model} at {args.resolution}px: {len(chain)} blocks (cut after any of them)")
    print(tabulate(rows, headers="keys", tablefmt="simple"))
    total = sum(f["flops"] for f in feats)
    print(f"total: {total / 1e6:.1f} MFLOPs (multiply-adds) in the feature blocks")
    return 0


def cmd_profile(args) -> int:
    out = _out_path(args.out)
    from .measure.profiling import profile
    from .measure.rows import WINDOW_METHOD

    models = parse_csv_list(args.models, what="model name") if args.models is not None else None
    resolutions = parse_csv_list(args.resolutions, positive_int, "resolution") if args.resolutions else None
    widths = parse_csv_list(args.widths, positive_float, "width") if args.widths else None
    corpus = args.corpus if models is None else None
    if args.budget is not None:
        from .predict.budget import budget_plan_text, plan_budget

        if models is not None or resolutions is not None or widths is not None:
            raise NetcutError("--budget chooses from the corpus (--corpus); drop --models / --resolutions / --widths")
        plan = plan_budget(args.budget, args.corpus, features_table=args.features_from)
        print(budget_plan_text(plan), flush=True)
        if args.dry_run:
            return 0
        corpus = list(plan.configs)
    elif args.dry_run or args.features_from:
        raise NetcutError("--dry-run and --features-from go with --budget N; add --budget or drop them")
    summary = profile(
        models, out, resolutions=resolutions, widths=widths, threads=args.threads, batch_size=args.batch_size,
        repeats=args.repeats, warmup=args.warmup, pin_cpu=args.pin_cpu, device=args.device,
        progress=not args.quiet, corpus=corpus, order=args.order, runtime=args.runtime, method=args.method,
        per_window=args.window_configs, window_s=args.window_s,
        estimate=None if args.quiet else functools.partial(
            _print_estimate, reruns=args.reruns if args.method == WINDOW_METHOD else 0),
        statistic=args.statistic, samples_out=args.samples_out, max_spread=args.max_spread, reruns=args.reruns,
    )
    print(summary.to_text())
    return 0


def _print_estimate(seconds: float, n_configs: int, n_windows: int, *, reruns: int = 0) -> None:
    again = (f" (plus up to {reruns} more run(s) of the configurations measured while this machine is noisy)"
             if reruns else "")
    print(f"profile: {n_configs} configuration(s) in {n_windows} measuring window(s), about "
          f"{max(1, round(seconds / 60))} min{again}; measure alone (other work on this machine slows the measured "
          f"core)", file=sys.stderr, flush=True)


def cmd_fit(args) -> int:
    from .predict.evaluation import fit_tables
    from .predict.render import fit_report_text

    out = _out_path(args.out, is_dir=True)
    params = {}
    if args.n_estimators is not None:
        params["n_estimators"] = args.n_estimators
    if args.no_stage2:
        params["stage2"] = False
    if args.upper_quantile is not None:
        if not 0.5 <= args.upper_quantile < 1.0:
            raise NetcutError(f"--upper-quantile must be in [0.5, 1), got {args.upper_quantile}")
        params["upper_quantile"] = args.upper_quantile
    if args.n_jobs is not None:
        params["n_jobs"] = args.n_jobs
    if args.adapt is not None:
        if not args.base:
            raise NetcutError("--adapt needs --base PREDICTOR (the predictor to adapt); drop --adapt for a fresh fit")
        params["adapt_strategy"] = args.adapt
    scheduler = args.scheduler if args.scheduler is not None else os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    report = fit_tables([Path(t) for t in args.tables], out, base=Path(args.base) if args.base else None,
                        cv=not args.no_cv, params=params, scheduler=scheduler)
    print(fit_report_text(report))
    return 0


def cmd_calibrate(args) -> int:
    from .predict.calibrate import calibrate
    from .predict.render import calibration_text

    out = _out_path(args.out, is_dir=True)
    result = calibrate(out, budget=args.budget, runtime=args.runtime, threads=args.threads, base=args.base,
                       method=args.adapt, pin_cpu=args.pin_cpu, progress=not args.quiet,
                       estimate=None if args.quiet else _print_calibration_estimate)
    print(calibration_text(result))
    return 0


def _print_calibration_estimate(seconds: float, n_configs: int, n_windows: int) -> None:
    from .predict.render import calibration_estimate_text

    print(calibration_estimate_text(seconds, n_configs), file=sys.stderr, flush=True)


def cmd_evaluate(args) -> int:
    from .predict.evaluation import evaluate_tables
    from .predict.render import evaluation_report_text

    plot = _out_path(args.plot) if args.plot else None
    report = evaluate_tables(Path(args.predictor), [Path(t) for t in args.tables], plot=plot)
    print(json.dumps(report.to_dict(), indent=2) if args.json else evaluation_report_text(report))
    return 0


def cmd_predict(args) -> int:
    from .predict.predictor_io import load_predictor
    from .predict.quick_import import import_xgboost_without_sklearn
    from .predict.render import network_prediction_text, predictions_summary_text
    from .predict.shipped import choose_predictor

    if args.model is not None and args.models is not None:
        raise NetcutError("give --model NAME or --models A,B,..., not both")
    if args.model is None and args.models is None:
        raise NetcutError("say which network: --model NAME (or --models A,B,... for several)")
    models = parse_csv_list(args.models, what="model name") if args.models is not None else [args.model]
    import_xgboost_without_sklearn()  # this process only predicts: 2 s less to the first answer
    resolutions = (parse_csv_list(args.resolutions, positive_int, "resolution") if args.resolutions is not None
                   else [args.resolution])

    if args.strict:  # the refusal below is the one line; the model's warning would repeat it
        logging.getLogger("latmodel.predict.model").setLevel(logging.ERROR)
    choice = choose_predictor(args.predictor, runtime=args.runtime)
    if choice.mismatch:
        print(f"warning: {choice.mismatch}", file=sys.stderr)
    predictor = load_predictor(Path(choice.path))
    if args.models is None and args.resolutions is None:
        pred = predictor.predict_network(args.model, args.resolution, width=args.width, batch_size=args.batch_size,
                                         flush_subnormals=args.flush_subnormals)
        if args.strict and pred.extrapolated:
            raise NetcutError(f"{args.model} at {args.resolution} px is outside what the predictor was fitted on "
                              f"({'; '.join(pred.extrapolation)}); drop --strict to get the extrapolated latency "
                              "anyway")
        print(json.dumps(pred.to_dict(), indent=2) if args.json else network_prediction_text(pred))
        return 0
    # many networks in one process: features once each (cached), one booster call per stage for all of them
    preds = predictor.predict_many([(m, r, args.width, args.batch_size) for m in models for r in resolutions],
                                   flush_subnormals=args.flush_subnormals)
    outside = [p for p in preds if p.extrapolated]
    if args.strict and outside:
        raise NetcutError(f"{len(outside)} of {len(preds)} networks are outside what the predictor was fitted on "
                          f"(first: {outside[0].model} at {outside[0].resolution_px} px: "
                          f"{'; '.join(outside[0].extrapolation)}); drop --strict to get the extrapolated latencies")
    print(json.dumps([p.to_dict() for p in preds], indent=2) if args.json else predictions_summary_text(preds))
    return 0


def cmd_refeature(args) -> int:
    from .measure.table import refresh_features

    out = _out_path(args.out)
    n = refresh_features(Path(args.table), out, progress=not args.quiet)
    print(f"refeature: features of {n} configuration(s) recomputed; written to {out}")
    return 0


def _network_args(p) -> None:
    """The arguments that name the networks a command looks at (``blocks``, ``predict``)."""
    p.add_argument("--model", help="registered name, package.module:factory or random:SEED / random2:SEED")
    p.add_argument("--models", help="several networks, comma-separated: priced together in one process (a summary "
                                    "row each; --json: every block)")
    p.add_argument("--resolution", type=positive_int, default=224, help="input resolution, pixels (default 224)")
    p.add_argument("--resolutions", help="several resolutions, comma-separated (with --model or --models: every "
                                         "network at every resolution)")
    p.add_argument("--width", type=positive_float, default=1.0, help="width multiplier (default 1.0)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="latmodel", description="Per-block latency features, device profiling and prediction.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("blocks", help="print a network's chain of blocks (cut points)")
    _network_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_blocks)

    p = sub.add_parser("profile", help="measure per-block, prefix and whole-network latency on this device")
    p.add_argument("--models", help="comma-separated models (default: the calibration corpus)")
    from .measure.corpus import CORPORA  # a light module: nothing is built at import

    p.add_argument("--corpus", choices=list(CORPORA), default="default",
                   help="which calibration corpus to measure when --models is not given: default (all), small "
                        "(13 configurations), repeat (2 of every family, for a second pass), wide (24 wide ViT-like "
                        "and grouped-convolution networks, a second table to fit with the default one), heavy (24 heavy "
                        "ViT-like encoders and CNN chains at 224-288 px, likewise), units (24 channel-shuffle, narrow "
                        "grouped and small squeeze-excitation networks at 128-224 px, likewise), zoo (the default "
                        "corpus's 71 registered-network configurations: a further pass to merge); default: default")
    p.add_argument("--resolutions", help="comma-separated resolutions, pixels (default: 224 with --models, the corpus's otherwise)")
    p.add_argument("--widths", help="comma-separated width multipliers (default 1.0)")
    p.add_argument("--out", required=True, help="CSV table to write or extend (resumes: measured configs are skipped)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads while measuring (default 1)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="images per forward pass (default 1)")
    from .measure.rows import MEASURE_METHODS
    from .measure.profiling import WINDOW_CONFIGS

    p.add_argument("--method", choices=list(MEASURE_METHODS), default=MEASURE_METHODS[0],
                   help="window (default): several configurations round-robin in warm bursts over one window, "
                        "the fastest warm sample of each quantity; round-model: each configuration in its own "
                        "rounds (the old method, kept to compare with)")
    p.add_argument("--window-s", type=float, default=None,
                   help="seconds each measuring window lasts (default 20 s a configuration, 60-300 s; longer "
                        "windows repeat better)")
    p.add_argument("--window-configs", type=positive_int, default=WINDOW_CONFIGS,
                   help=f"configurations per window (default {WINDOW_CONFIGS})")
    from .measure.bursts import DEFAULT_STATISTIC, STATISTICS

    p.add_argument("--statistic", choices=list(STATISTICS), default=None,
                   help=f"window method: which of each quantity's warm samples the table keeps: min (the fastest), "
                        f"p10 or p25 (a low percentile; steadier where rare fast samples come and go); default "
                        f"{DEFAULT_STATISTIC}")
    p.add_argument("--samples-out", default=None, metavar="JSON",
                   help="window method: also write every raw sample here (to compare statistics between passes: "
                        "scripts/calibration_stability.py --samples)")
    from .measure.spread import MAX_WINDOW_SPREAD, WINDOW_RERUNS

    p.add_argument("--max-spread", type=float, default=MAX_WINDOW_SPREAD, metavar="X",
                   help=f"window method: a configuration whose typical warm sample ran more than X times its fastest "
                        f"was measured while this machine was noisy and is measured again after the others "
                        f"(default {MAX_WINDOW_SPREAD})")
    p.add_argument("--reruns", type=int, default=WINDOW_RERUNS, metavar="N",
                   help=f"window method: how many more times a noisy configuration is measured; its least noisy "
                        f"run is written (0: never; default {WINDOW_RERUNS})")
    p.add_argument("--repeats", type=positive_int, default=None, help="round-model only: rounds per configuration (default: auto, 7-60)")
    p.add_argument("--warmup", type=positive_int, default=None, help="round-model only: untimed warm-up runs (default: auto)")
    p.add_argument("--pin-cpu", type=int, default=None, help="pin the measuring process to this CPU core")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run (default cpu)")
    from .measure.profiling import PROFILE_ORDERS  # a light module: no torch at import
    from .measure.runtimes import DEFAULT_RUNTIME, RUNTIMES

    # no argparse choices: an unknown runtime gets the registry's one-line error
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, metavar="|".join(RUNTIMES),
                   help="what runs the networks: eager torch (default), or onnxruntime / openvino on the "
                        "blocks exported to ONNX")

    p.add_argument("--order", choices=list(PROFILE_ORDERS), default=PROFILE_ORDERS[0],
                   help="measure configurations in a fixed shuffled order (default: a slow spell of a shared "
                        "machine then hits no architecture family as a whole) or in the order given")
    p.add_argument("--budget", type=positive_int, default=None, metavar="N",
                   help="measure only the N corpus configurations that best fit an adaptation (--base in "
                        "'latmodel fit'); prints how long they take")
    p.add_argument("--features-from", default=None, metavar="TABLE",
                   help="with --budget: a table holding the corpus's features (default: the shipped 1-thread table)")
    p.add_argument("--dry-run", action="store_true", help="with --budget: print the choice and stop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_profile, saved_work=lambda a: Path(a.out).is_file() and Path(a.out).stat().st_size > 0)

    p = sub.add_parser("refeature", help="recompute a table's feature columns with this netcut's feature set")
    p.add_argument("table", help="measurement CSV from 'latmodel profile'")
    p.add_argument("--out", required=True, help="CSV to write (may be the same file)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_refeature)

    p = sub.add_parser("fit", help="train a latency predictor from measurement tables")
    p.add_argument("tables", nargs="+", help="measurement CSV(s) from 'latmodel profile'; a configuration in several "
                   "(passes of one device at different times) counts once, each latency the minimum over its passes")
    p.add_argument("--out", required=True, help="predictor folder to write (must not exist, or be a predictor)")
    p.add_argument("--base", help="adapt this existing predictor to the new device's (few) measurements")
    from .predict.model import ADAPT_STRATEGIES

    p.add_argument("--adapt", choices=list(ADAPT_STRATEGIES), default=None,
                   help="how --base is adapted (default: the base's adapt_strategy); see README 'Adapting'")
    p.add_argument("--no-cv", action="store_true", help="skip leave-one-family-out cross-validation")
    p.add_argument("--no-stage2", action="store_true",
                   help="fit per-block latencies only (no prefix model; the upper bound is then a flat 10%%): for "
                        "tables without prefix_ms")
    p.add_argument("--n-estimators", type=positive_int, default=None, help="stage-1 boosting rounds (default: LatencyModel's)")
    p.add_argument("--upper-quantile", type=positive_float, default=None,
                   help="residual quantile for the prefix upper bound (default 0.95)")
    p.add_argument("--n-jobs", type=positive_int, default=None, help="XGBoost threads (default 1)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="train the boosters on this Dask scheduler's workers with xgboost.dask "
                        "(default: $DASK_SCHEDULER_ADDRESS if set, else locally)")
    p.set_defaults(func=cmd_fit)

    from .predict.calibrate import DEFAULT_BUDGET, calibration_table_path

    p = sub.add_parser("calibrate", help="a predictor for this machine: measure a few networks here and adapt the "
                                         "closest shipped predictor (about 4 min)")
    p.add_argument("--out", required=True, help="predictor folder to write (must not exist, or be a predictor); the "
                                                "measurements go to OUT-calibration.csv beside it (resumed)")
    p.add_argument("--budget", type=positive_int, default=DEFAULT_BUDGET,
                   help=f"configurations to measure (default {DEFAULT_BUDGET})")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, metavar="|".join(RUNTIMES),
                   help="what runs the networks (default torch)")
    p.add_argument("--threads", type=positive_int, default=1, help="threads while measuring (default 1)")
    p.add_argument("--base", help="predictor folder to adapt (default: the shipped one, legacy ones aside, whose "
                                  "predictions of the measurements fit best)")
    p.add_argument("--adapt", choices=list(ADAPT_STRATEGIES), default=None,
                   help="how the base is adapted (default: the base's adapt_strategy)")
    p.add_argument("--pin-cpu", type=int, default=None, help="pin the measuring process to this CPU core")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_calibrate, saved_work=lambda a: calibration_table_path(a.out).is_file())

    p = sub.add_parser("evaluate", help="score a predictor on measurements it never saw")
    p.add_argument("tables", nargs="+", help="measurement CSV(s); several passes of a configuration merge (minimum)")
    p.add_argument("--predictor", required=True, help="predictor folder")
    p.add_argument("--plot", help="write a predicted-vs-measured PNG here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict a network's per-block and prefix latency, offline")
    p.add_argument("--predictor", default=None,
                   help="predictor folder (default: the shipped predictor measured on this machine for --runtime; "
                        "when none was, the CPU 1-thread one, with a warning naming both devices)")
    p.add_argument("--runtime", default="torch", help="without --predictor: the runtime to pick a shipped "
                                                       "predictor for (default torch)")
    _network_args(p)
    p.add_argument("--batch-size", type=positive_int, default=1, help="images per forward pass (default 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output with latency_ms fields")
    p.add_argument("--strict", action="store_true",
                   help="exit 2 instead of answering when the network lies outside what the predictor was fitted "
                        "on (resolution, width, batch size or block features beyond its training ranges)")
    p.add_argument("--flush-subnormals", action="store_true",
                   help="price the network as deployed with subnormal floats flushed to zero "
                        "(torch.set_flush_denormal(True)): blocks that make them (Swin's shifted windows) cost "
                        "what they would without them; an estimate, the tables measure the runtimes' defaults")
    p.set_defaults(func=cmd_predict)
    return parser


def run_cli(build: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None, prog: str) -> int:
    """Parse ``argv`` and run the chosen command; user errors -> one line on stderr, exit 2.

    Ctrl-C says how to resume, or, when the command's ``saved_work(args)`` says nothing was saved yet,
    that there is nothing to resume."""
    args = None
    try:
        parser = build()
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except NetcutError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        saved = getattr(args, "saved_work", None)
        if saved is not None and not saved(args):
            print(f"{prog}: interrupted before anything was saved; nothing to resume", file=sys.stderr)
        else:
            print(f"{prog}: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv, "latmodel")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
