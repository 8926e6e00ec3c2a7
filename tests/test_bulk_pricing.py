"""The bulk pricing path (LatencyModel.price_chains) and its vectorised pieces: the same numbers as the
per-network path, on a tiny synthetic table."""
from __future__ import annotations

import numpy as np
import pytest

from latmodel.errors import NetcutError
from latmodel.predict.baselines import sort_blocks
from latmodel.predict.chains import Chains, segment_cummax
from latmodel.predict.distinct_rows import distinct_rows
from latmodel.predict.model import LatencyModel
from latmodel.predict.ranges import (WIDEN_EXPONENT, extrapolation_distance, extrapolation_distance_many,
                                     extrapolation_distance_of)
from latmodel.predict.reports import ChainPrices

from .test_model import FAST, synthetic_table


@pytest.fixture(scope="module")
def fitted() -> LatencyModel:
    return LatencyModel(**FAST).fit(synthetic_table())


@pytest.fixture(scope="module")
def chains_rows() -> list[list[dict]]:
    df = sort_blocks(synthetic_table())  # the training rows: inside every range
    return [g.to_dict("records") for _, g in df.groupby("config_id", sort=False)][:5]


def test_segment_cummax_restarts_at_each_chain_exactly():
    values = [1.0, 3.0, 2.0, 5.0, 4.0, 0.5, 7.0, 1.0, 1.0, 9.0, 2.0, 3.0]
    starts = [0, 0, 0, 3, 3, 5, 5, 5, 5, 5, 10, 10]  # chains of 3, 2, 5 and 2 rows
    assert segment_cummax(values, starts).tolist() == [1.0, 3.0, 3.0, 5.0, 5.0, 0.5, 7.0, 7.0, 7.0, 9.0, 2.0, 3.0]
    assert segment_cummax([], []).tolist() == []
    rng = np.random.RandomState(0)  # against the loop it replaced, over chains of 1..40 rows
    lengths = rng.randint(1, 41, size=50)
    v = rng.uniform(0, 10, size=lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    loop = np.concatenate([np.maximum.accumulate(v[a:a + n]) for a, n in zip(offsets, lengths)])
    np.testing.assert_array_equal(segment_cummax(v, np.repeat(offsets, lengths)), loop)
    assert Chains.from_row_lists([]).chain_starts.tolist() == []


def test_extrapolation_distance_of_many_chains_is_each_chains_own():
    ranges = {"config": {"resolution_px": [96, 160], "batch_size": [1, 1]},
              "features": {"flops": [10.0, 100.0], "out_bytes": [4.0, 40.0]}}
    a = [{"flops": 50.0, "out_bytes": 8.0}, {"flops": 300.0, "out_bytes": 1.0}, {"flops": 20.0, "out_bytes": 8.0}]
    b = [{"flops": 20.0, "out_bytes": 8.0}, {"flops": 30.0, "out_bytes": 9.0}]
    configs = [{"resolution_px": 128, "batch_size": 1}, {"resolution_px": 320, "batch_size": 1}]
    X = np.array([[r["flops"], r["out_bytes"]] for r in a + b])
    many = extrapolation_distance_many(ranges, X, ["flops", "out_bytes"], [0, 0, 0, 3, 3], configs)
    assert many.tolist() == [1.0, 4.0, 4.0, 2.0, 2.0]
    assert many.tolist() == extrapolation_distance(ranges, a, configs[0]) + extrapolation_distance(ranges, b, configs[1])
    assert extrapolation_distance_of(ranges, X[:3], ["flops", "out_bytes"], configs[0]).tolist() == [1.0, 4.0, 4.0]
    assert extrapolation_distance_many(None, X, ["flops"], [0] * 5, configs).tolist() == [1.0] * 5


def test_price_chains_equals_the_per_network_records(fitted, chains_rows):
    rows = [list(r) for r in chains_rows]
    hi = fitted.ranges_["features"]["flops"][1]
    rows[1][2] = {**rows[1][2], "flops": 4.0 * hi}  # the second chain extrapolates from its third block
    items = [(f"n{i}", 512 if i == 3 else 224, 1.0, None, r) for i, r in enumerate(rows)]
    records = fitted.predict_feature_rows(items)
    prices = fitted.price_chains(Chains.from_row_lists(rows),
                                 [{"resolution_px": res, "width": w, "batch_size": b} for _, res, w, b, _ in items])
    assert len(prices) == 5 and prices.chain_starts.tolist() == np.cumsum([0] + [len(r) for r in rows[:-1]]).tolist()
    for i, rec in enumerate(records):
        k = prices.rows_of(i)
        assert tuple(prices.prefix_latency_ms[k].tolist()) == rec.prefix_latency_ms
        assert tuple(prices.prefix_upper_ms[k].tolist()) == rec.prefix_upper_ms
        assert tuple(prices.block_latency_ms[k].tolist()) == rec.block_latency_ms
        assert prices.extrapolation[i] == rec.extrapolation
    assert [bool(w) for w in prices.extrapolation] == [False, True, False, True, False]
    assert prices.widened_by == pytest.approx([1.0, 4.0 ** WIDEN_EXPONENT, 1.0, (512 / 224) ** WIDEN_EXPONENT, 1.0])
    raw = fitted.predict_table(Chains.from_row_lists(rows))[2]
    k = prices.rows_of(1)
    assert (prices.prefix_upper_ms[k] / raw[k]).tolist() == pytest.approx([1.0, 1.0] + [4.0 ** WIDEN_EXPONENT] * 4)
    back = ChainPrices.from_dict(prices.to_dict())
    assert back.extrapolation == prices.extrapolation and back.prefix_upper_ms.tolist() == prices.prefix_upper_ms.tolist()


def test_price_chains_needs_one_configuration_per_chain(fitted, chains_rows):
    with pytest.raises(NetcutError, match="got 2 chain\\(s\\) but 1 configuration"):
        fitted.price_chains(Chains.from_row_lists(chains_rows[:2]), [{"resolution_px": 224}])


def test_flushed_subnormals_price_like_blocks_that_make_none(fitted, chains_rows):
    rows = [dict(r) for r in chains_rows[0]]
    rows[1]["subnormal_values"], rows[1]["flops_subnormal"] = 5e4, 2e6
    zeroed = [dict(r) for r in chains_rows[0]]
    zeroed[1]["subnormal_values"] = zeroed[1]["flops_subnormal"] = 0.0
    flushed = fitted.predict_feature_rows([("n", 224, 1.0, None, rows)], flush_subnormals=True)[0]
    plain = fitted.predict_feature_rows([("n", 224, 1.0, None, zeroed)])[0]
    assert flushed.prefix_latency_ms == plain.prefix_latency_ms
    assert flushed.subnormal_blocks == (rows[1]["block_name"],) and flushed.subnormals_flushed
    assert plain.subnormal_blocks == () and not plain.subnormals_flushed


def test_distinct_rows_groups_identical_rows_exactly_and_refuses_what_it_cannot_prove():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0], [3.0, 4.0], [1.0, 2.0]], dtype=np.float32)
    first, inverse = distinct_rows(X)
    assert sorted(first.tolist()) == [0, 1, 3]  # each distinct row's first occurrence
    np.testing.assert_array_equal(X[first][inverse], X)
    assert inverse[0] == inverse[2] == inverse[5] and inverse[1] == inverse[4] != inverse[0]
    assert distinct_rows(X[[0, 1, 3]]) is None  # nothing to save
    assert distinct_rows(X[:1]) is None
    # every key the same (a forced collision): the check fails, so no grouping rather than a wrong one
    assert distinct_rows(X, weights=[0.0, 0.0]) is None
    assert distinct_rows(np.array([[np.nan, 1.0], [np.nan, 1.0]])) is None  # NaN equals nothing: no grouping


def test_repeated_blocks_price_bitwise_as_when_each_is_priced_alone(fitted, chains_rows):
    # a chain of the same blocks twice over, beside the originals: the trees see each distinct row once, and
    # every row gets exactly what pricing it alone gives
    rows = [list(r) for r in chains_rows]
    rows.append(rows[0] + rows[0][1:])
    ch = Chains.from_row_lists(rows)
    assert distinct_rows(ch.X.astype(np.float32)) is not None
    grouped = fitted.predict_blocks(ch)
    alone = np.concatenate([fitted.predict_blocks(Chains.from_rows([r])) for r in sum(rows, [])])
    np.testing.assert_array_equal(grouped, alone)
