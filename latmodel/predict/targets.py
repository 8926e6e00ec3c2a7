"""What stage 1 of the latency predictor learns per block: the choices and the target in ms."""
from __future__ import annotations

from ..errors import TableError

__all__ = ["STAGE1_PRIORS", "STAGE1_TARGETS", "base_stage2_applies", "resolve_stage1_prior", "resolve_stage1_target",
           "stage1_target_ms"]

#: ``LatencyModel.stage1_target`` choices: ``"incontext"`` (the block's latency inside a pass of the whole chain,
#: ``incontext_ms``), ``"prefix_increment"`` (what the block adds to the prefix run alone, ``prefix_ms[k] -
#: prefix_ms[k-1]``, floored at 10% of ``incontext_ms``) or ``"auto"`` (see :func:`resolve_stage1_target`).
STAGE1_TARGETS: tuple[str, ...] = ("auto", "incontext", "prefix_increment")

#: ``LatencyModel.stage1_prior`` choices and the stage-1 boosters each fits: trees on the features (``plain``), trees
#: learning the log ratio to the roofline fit (``roofline``), both averaged in log space; ``"auto"``: see
#: :func:`resolve_stage1_prior`.
STAGE1_PRIORS: dict[str, tuple[str, ...]] = {"auto": (), "roofline": ("roofline",), "none": ("plain",),
                                             "blend": ("plain", "roofline")}


def resolve_stage1_target(choice: str, df) -> str:
    """The target ``choice`` means for the validated table ``df``.

    ``"auto"``: prefix increments when every row comes from a runtime that runs exported graphs
    (:data:`latmodel.measure.runtimes.RUNTIMES` ``graph == "onnx"``) and has ``prefix_ms``, else in-context latencies.
    Why: such a runtime measures a block's in-context latency in a chain of one session per block, which overstates
    what the block costs inside the one deployed graph (ONNX Runtime, AMD EPYC AVX-512, 2026-12-06: the summed
    in-context latencies put 18.9% of prefixes within +-10% of the one-graph prefix), while eager torch's in-context
    latency is the network's own computation.  Leave-one-family-out on that table (booster seeds 0-2): prefix
    increments 68.0 / 66.7 / 70.9% of held-out prefixes within +-10%, in-context 59.6 / 55.4 / 57.3%; on eager torch
    tables in-context wins (stepping-1 Xeon: 70.3% against 44.7%).  Still so since ONNX Runtime's in-context
    latencies come from the deployed graph's node profile (summed: 87.9% of prefixes within +-10%): on the table
    re-measured that way, increments 73.9%, profiled in-context 69.4% (blend prior, seed 0).
    """
    if choice != "auto":
        return choice
    from ..measure.runtimes import one_graph_rows

    one_graph = len(df) > 0 and bool(one_graph_rows(df).all())
    has_prefix = "prefix_ms" in df.columns and bool(df["prefix_ms"].notna().all())
    return "prefix_increment" if one_graph and has_prefix else "incontext"


def stage1_target_ms(choice: str, df):
    """What stage 1 learns, in ms, per row of the sorted, validated table ``df`` under ``choice``."""
    import numpy as np

    target = resolve_stage1_target(choice, df)
    incontext = df["incontext_ms"].to_numpy(dtype=float)
    if target == "incontext":
        return incontext
    if "prefix_ms" not in df.columns or df["prefix_ms"].isna().any():
        raise TableError("stage1_target='prefix_increment' needs 'prefix_ms' on every row")
    prefix = df["prefix_ms"].to_numpy(dtype=float)
    previous = df.groupby("config_id", sort=False)["prefix_ms"].shift(1).fillna(0.0).to_numpy(float)
    return np.maximum(prefix - previous, 0.1 * incontext)


def base_stage2_applies(choice: str, df, base) -> bool:
    """Whether a base predictor's prefix correction (stage 2) carries over when a model with stage-1 target
    ``choice`` adapts it to the rows ``df``: only when both learn the same target.  The correction is a ratio to
    summed in-context latencies; blocks learning prefix increments already sum to the prefix, and it would count
    the start-up twice (ONNX Runtime adapted from the torch predictor, AMD EPYC AVX-512, 2026-12-06)."""
    return resolve_stage1_target(choice, df) == base.stage1_target_


def resolve_stage1_prior(choice: str, target_choice: str, df) -> str:
    """The stage-1 prior ``choice`` means for the table ``df`` (``target_choice``: the model's ``stage1_target``).

    ``"auto"``: ``"roofline"`` when stage 1 learns in-context latencies, ``"blend"`` when it learns prefix
    increments.  Measured by leave-one-family-out (booster seeds 0-2, AMD EPYC AVX-512, 2026-12-06): on the ONNX
    Runtime table (increments) blend 73.6 / 71.3 / 78.5% of held-out prefixes within +-10% against roofline 68.0 /
    66.7 / 70.9% and plain trees 73.7 / 67.8 / 76.5%; on the torch table (in-context) roofline 80.5%, blend 77.0%,
    plain 66.2% (seed 0).
    """
    if choice != "auto":
        return choice
    return "blend" if resolve_stage1_target(target_choice, df) == "prefix_increment" else "roofline"
