"""``trimmer`` command line: a thin layer over :mod:`trimmer.search` and :mod:`trimmer.candidates`.

    trimmer search     [--deadline-ms 12] [--models a,b] [--data PATH] [--mode head] [--epochs N] --out DIR
    trimmer candidates [--deadline-ms 12] [--models a,b] [--json]

User errors print one line and exit 2; Ctrl-C says how to resume.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from latmodel.cli import Parser, parse_csv_list, positive_float, positive_int, run_cli
from latmodel.errors import NetcutError

__all__ = ["main", "build_parser"]


def _int_at_least(minimum: int, hint: str = ""):
    """argparse type: an integer >= ``minimum`` (``hint`` explains why, in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}{hint}")
        return value

    return parse


_nonneg_int = _int_at_least(0)
_epochs = _int_at_least(1, ": a TRN must be retrained for at least one epoch")


def _resolutions(text: str) -> tuple[int, ...] | str:
    """argparse type for ``--resolutions`` (the rule lives in :func:`trimmer.candidates.parse_resolutions`)."""
    from .candidates import parse_resolutions

    try:
        return parse_resolutions(text)
    except NetcutError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _weights(items: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise NetcutError(f"--weights expects NAME=PATH (e.g. resnet18=./resnet18.pth), got {item!r}")
        if not Path(path).is_file():
            raise NetcutError(f"--weights file {path!r} for {name} does not exist")
        out.append((name, path))
    return tuple(out)


def _search_defaults() -> dict:
    """SearchConfig's field defaults: the one place the CLI's defaults come from."""
    from .search import SearchConfig

    return {f.name: f.default for f in dataclasses.fields(SearchConfig)}


def _predictor(args) -> str:
    """The predictor folder: the one given, else the shipped (or earlier calibrated) one measured on this
    machine, else where this machine's calibrated one goes (:func:`_calibrate_if_needed` makes it).  A
    predictor given by the user that was measured on another device is used as given: ``trimmer candidates``
    and ``run_search`` say so in one line once the input is known to be valid, and ``--margin measured``
    refuses."""
    if args.predictor:  # used as given; its device is compared once it is loaded
        return args.predictor
    from latmodel.predict.shipped import calibrated_path, choose_predictor

    choice = choose_predictor()
    return str(calibrated_path()) if choice.mismatch else choice.path


def _calibrate_if_needed(args, config) -> None:
    """When no predictor was measured on this machine and none was given: with ``--no-calibrate`` stop with
    the commands to run, else calibrate one first (announced with its time; kept for later searches).  Why
    calibrate by default: pricing the candidates with another CPU's predictor is a silently wrong answer
    (the AVX2 EPYC ran 2.06x slower than the AVX-512 one's predictor said), and five minutes once per
    machine is what a user who asked for a deadline on *this* machine expects to spend."""
    from latmodel.predict.artifact import is_predictor_folder
    from latmodel.predict.shipped import choose_predictor

    folder = Path(config.predictor)
    if args.predictor or is_predictor_folder(folder):
        return
    # not choose_predictor().mismatch: that line says which predictor `latmodel predict` falls back to, and the
    # search uses none of another device
    none_here = f"no shipped predictor was measured on this machine ({choose_predictor().here})"
    if args.no_calibrate:
        raise NetcutError(f"{none_here}. Measure this machine first: 'latmodel calibrate --out {folder}' (about 5 "
                          f"min, then found automatically), or drop --no-calibrate to do it now; --predictor FOLDER "
                          "prices with another device's predictor anyway")
    from latmodel.predict.calibrate import calibrate
    from latmodel.predict.render import calibration_done_text, calibration_estimate_text

    print(f"trimmer: {none_here}; calibrating one for this machine first (once: kept in {folder})",
          file=sys.stderr, flush=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    result = calibrate(folder, progress=not getattr(args, "quiet", False),
                       estimate=lambda seconds, n, _windows: print(calibration_estimate_text(seconds, n),
                                                                   file=sys.stderr, flush=True))
    print(f"trimmer: {calibration_done_text(result)}", file=sys.stderr, flush=True)


def _config(args):
    from .search import SearchConfig

    d = _search_defaults()
    models = tuple(parse_csv_list(args.models, what="model name")) if args.models is not None else d["models"]
    config = SearchConfig(
        deadline_ms=args.deadline_ms, models=models, predictor=args.predictor or d["predictor"],
        data=getattr(args, "data", d["data"]), mode=getattr(args, "mode", d["mode"]),
        epochs=getattr(args, "epochs", d["epochs"]), batch_size=getattr(args, "batch_size", d["batch_size"]),
        finetune_blocks=getattr(args, "finetune_blocks", d["finetune_blocks"]),
        resolutions_px=args.resolutions, margin=args.margin, exhaustive=getattr(args, "exhaustive", d["exhaustive"]),
        propose=getattr(args, "propose", d["propose"]), top_k=getattr(args, "top_k", d["top_k"]),
        probe_per_class=getattr(args, "probe_per_class", d["probe_per_class"]),
        probe_precision=getattr(args, "probe_precision", d["probe_precision"]),
        verify=getattr(args, "verify", d["verify"]), seed=getattr(args, "seed", d["seed"]),
        data_seed=getattr(args, "data_seed", d["data_seed"]),
        limit_per_class=getattr(args, "limit_per_class", d["limit_per_class"]),
        val_fraction=getattr(args, "val_fraction", d["val_fraction"]),
        weights=_weights(getattr(args, "weights", None)),
        pretrained=not getattr(args, "no_pretrained", not d["pretrained"]), workers=getattr(args, "workers", d["workers"]),
        scheduler=getattr(args, "scheduler", d["scheduler"]) or None,
    )
    # after every other setting is checked, so a user error stays the only line on stderr
    return dataclasses.replace(config, predictor=_predictor(args))


def _saved_work(args) -> bool:
    from .state import has_saved_work

    return has_saved_work(Path(args.out))


def cmd_search(args) -> int:
    import os

    from .summary import summary_text
    from .search import precheck, run_search

    if args.scheduler is None:
        args.scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    config = _config(args)
    out = Path(args.out)
    precheck(config, out)  # a user error is refused before any calibration
    _calibrate_if_needed(args, config)
    report = run_search(config, out, progress=not args.quiet)
    print(summary_text(report, out))
    return 0


def cmd_candidates(args) -> int:
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.predict.quick_import import import_xgboost_without_sklearn

    from .candidates import AUTO_RESOLUTIONS, check_resolutions, resolve_resolutions
    from .pricing import price_candidates

    config = _config(args)
    if config.resolutions_px != AUTO_RESOLUTIONS:  # a user error is refused before any calibration
        check_resolutions(None, config.models, config.resolutions_px)
    _calibrate_if_needed(args, config)
    import_xgboost_without_sklearn()  # this process only prices: 2 s less to the answer
    predictor = load_predictor(Path(config.predictor))
    resolutions = resolve_resolutions(predictor, config.models, config.resolutions_px, config.deadline_ms,
                                      margin=config.margin, n_classes=args.classes)
    pricing = price_candidates(predictor, config.models, resolutions=resolutions, deadline_ms=config.deadline_ms,
                               margin=config.margin, n_classes=args.classes)
    if pricing.other_device:
        print(f"warning: {pricing.other_device}: the candidates are priced for that device", file=sys.stderr)
    if args.json:
        print(json.dumps(pricing.to_dict(), indent=2))
        return 0
    from tabulate import tabulate

    cands, kept = pricing.candidates, pricing.kept
    rows = [{"candidate": c.candidate_id, "cut after": c.block_name, "pred ms": round(c.predicted_latency_ms, 2),
             "upper ms": round(c.predicted_upper_ms, 2), "status": pricing.status(c)} for c in cands]
    print(tabulate(rows, headers="keys", tablefmt="simple"))
    if config.margin == "measured":
        from .feasibility import Feasibility

        n_border = sum(Feasibility(config.deadline_ms, config.margin).borderline(c) for c in kept)
        print(f"{len(kept) - n_border} of {len(cands)} candidates meet the {config.deadline_ms:g} ms deadline by "
              f"their upper bound; {n_border} more are borderline (predicted within it), which `trimmer search "
              "--margin measured` times on this machine when it would retrain them")
    else:
        print(f"{len(kept)} of {len(cands)} candidates meet the {config.deadline_ms:g} ms deadline")
    return 0


def _common(p, d: dict):
    from .candidates import PRUNE_MARGINS

    p.add_argument("--deadline-ms", type=positive_float, default=d["deadline_ms"],
                   help=f"latency deadline per image, ms (default {d['deadline_ms']:g})")
    p.add_argument("--models", help=f"comma-separated base networks (default {', '.join(d['models'])})")
    p.add_argument("--predictor", help="predictor folder (default: the shipped predictor measured on this machine, or "
                                       "the one calibrated here before; when there is none, one is calibrated first: "
                                       "about 4 min, once; see --no-calibrate)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="when no predictor was measured on this machine, stop with the command that makes one "
                        "instead of calibrating it first")
    p.add_argument("--resolutions", type=_resolutions, default=d["resolutions_px"], metavar="PX[,PX...]|auto",
                   help="input resolutions to search, pixels, comma-separated; the full network at each is an "
                        "off-the-shelf baseline; auto: three of the predictor's calibrated resolutions around the "
                        "largest at which a full network meets the deadline "
                        f"(default {','.join(map(str, d['resolutions_px']))})")
    p.add_argument("--margin", choices=list(PRUNE_MARGINS), default=d["margin"],
                   help="compare the deadline with the predictor's upper bound (upper, a calibrated residual "
                        "quantile), with its point prediction (none), or measured: the prediction prunes and the "
                        "borderline candidates (prediction within the deadline, upper bound over it) that would be "
                        "retrained are timed on this machine in the predictor's runtime (search only; this machine "
                        f"must be the predictor's device); default {d['margin']}")


def build_parser() -> argparse.ArgumentParser:
    from .compute import FEATURE_PRECISIONS
    from .proposal import PROPOSAL_POLICIES
    from .train_config import MODES

    d = _search_defaults()
    parser = Parser(prog="trimmer", description="NetCut: the most accurate trimmed network within a deadline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("search", help="enumerate, predict, prune, retrain and choose a TRN")
    _common(p, d)
    from .data import DEFAULT_TEST_FRACTION

    p.add_argument("--data", help="dataset: an ImageFolder directory, 'fashion-mnist' or an IDX folder "
                                  "(default: the embedded Fashion-MNIST subset). Test images (reported, never used "
                                  "to choose): the dataset's own test split (Fashion-MNIST, .npz, a test/ folder), "
                                  f"else {DEFAULT_TEST_FRACTION * 100:.0f}%% of each class")
    p.add_argument("--mode", choices=list(MODES), default=d["mode"], help=f"what retrains (default {d['mode']})")
    p.add_argument("--epochs", type=_epochs, default=d["epochs"],
                   help=f"training epochs per candidate (default {d['epochs']})")
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                   help=f"training batch size (default {d['batch_size']})")
    p.add_argument("--finetune-blocks", type=positive_int, default=d["finetune_blocks"],
                   help="blocks that train in finetune mode")
    p.add_argument("--seed", type=_nonneg_int, default=d["seed"], help=f"random seed (default {d['seed']})")
    p.add_argument("--data-seed", type=_nonneg_int, default=d["data_seed"],
                   help="seed of the data's subset and split (default: --seed); keep it and change --seed to "
                        "retrain on the same images")
    p.add_argument("--limit-per-class", type=positive_int, default=d["limit_per_class"],
                   help="use at most N training images per class")
    p.add_argument("--val-fraction", type=positive_float, default=d["val_fraction"],
                   help="share of the training images held out to choose on (default "
                        f"{d['val_fraction']:g}); more makes the choice between close candidates firmer")
    p.add_argument("--weights", action="append", metavar="NAME=PATH", help="local pretrained weights for a base network")
    p.add_argument("--no-pretrained", action="store_true", help="allow random initialisation (for testing only)")
    p.add_argument("--propose", choices=list(PROPOSAL_POLICIES), default=d["propose"],
                   help="which feasible candidates are retrained: ranked (a closed-form probe scores them all, the "
                        "best --top-k are retrained), deepest (each base network's deepest cut that fits) or "
                        f"feasible (all that fit); default {d['propose']}")
    p.add_argument("--top-k", type=positive_int, default=d["top_k"],
                   help=f"candidates the ranked policy retrains (default {d['top_k']})")
    p.add_argument("--probe-per-class", type=_int_at_least(2), default=d["probe_per_class"],
                   help=f"training images per class the probe fits on (default {d['probe_per_class']})")
    p.add_argument("--probe-precision", choices=list(FEATURE_PRECISIONS), default=d["probe_precision"],
                   help="the probe's forward pass: auto is bfloat16 on a CPU with AMX or AVX-512 BF16 (about 1.45x "
                        "faster there, and it can change which candidate ranks first), float32 elsewhere "
                        f"(default {d['probe_precision']})")
    p.add_argument("--exhaustive", action="store_true",
                   help="retrain every candidate, deadline ignored (the baseline NetCut is compared with)")
    p.add_argument("--verify", action="store_true", help="measure the chosen TRN's latency on this device")
    p.add_argument("--workers", type=positive_int, default=d["workers"],
                   help=f"local worker processes for retraining (default {d['workers']})")
    p.add_argument("--scheduler", default=d["scheduler"], help="Dask scheduler address tcp://HOST:PORT (or DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--out", required=True, help="output folder (resumes if it holds an interrupted search)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_search, saved_work=_saved_work)

    p = sub.add_parser("candidates", help="list candidates with predicted latency; no training (fast)")
    _common(p, d)
    p.add_argument("--classes", type=positive_int, default=10, help="classes of the new head (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_candidates)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv, "trimmer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
