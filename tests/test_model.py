"""Tests of the latency predictor on a small synthetic table with a known latency formula."""
from __future__ import annotations

import copy
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latmodel.predict.artifact import MANIFEST_NAME, PREDICTOR_SCHEMA_VERSION, sha256_bytes
from latmodel.predict.baselines import FlopsLinearBaseline, FlopsLogLogBaseline, alone_lookup_prefix_ms, sort_blocks
from latmodel.cli import main
from latmodel.errors import ArtifactError, NetcutError, TableError
from latmodel.graph.features import FEATURE_COLUMNS
from latmodel.predict.metrics import error_metrics
from latmodel.predict.evaluation import evaluate_tables, fit_tables
from latmodel.predict.model import LatencyModel, NotFittedError
from latmodel.predict.ranges import WIDEN_EXPONENT
from latmodel.predict.predictor_io import load_predictor, save_predictor
from latmodel.predict.render import fit_report_text, network_prediction_text
from latmodel.predict.reports import NetworkPrediction
from latmodel.measure.table import TABLE_COLUMNS, TABLE_SCHEMA_VERSION

FAST = dict(n_estimators=40, max_depth=3, stage2_estimators=20, inner_folds=2, learning_rate=0.2)


def synthetic_table(n_configs_per_family: int = 4, n_blocks: int = 6, seed: int = 0) -> pd.DataFrame:
    """Blocks with random features; latency = 0.05 ms + 8 ms/GFLOP + 0.5 ms/MB moved.

    The prefix run alone costs the summed in-context latency, less 25% of the first
    block and 10% of the second (cold caches inflate them in context).
    """
    rng = np.random.RandomState(seed)
    rows = []
    for family in ("alpha", "beta", "gamma", "random"):
        for c in range(n_configs_per_family):
            cid = f"{family}{c}@224@1.0@1@1@dev"
            inctx, prefix = [], []
            for b in range(n_blocks):
                f = {col: 0.0 for col in FEATURE_COLUMNS}
                flops = float(rng.uniform(1e6, 2e8))
                moved = float(rng.uniform(1e4, 4e6))
                f.update(batch_size=1, in_channels=16 * (b + 1), in_height_px=112 // (b + 1), in_width_px=112 // (b + 1),
                         out_channels=16 * (b + 2), out_height_px=112 // (b + 2), out_width_px=112 // (b + 2),
                         in_bytes=moved / 4, out_bytes=moved / 4, intermediate_bytes=moved / 4, param_bytes=moved / 4,
                         params=moved / 16, flops=flops, flops_conv=0.9 * flops, flops_conv_dense=0.9 * flops,
                         flops_elementwise=0.1 * flops, n_conv_dense=2, n_act=2, n_norm=2, n_ops=8,
                         activations=flops / 100, max_kernel_size=3, stride=1.0,
                         arithmetic_intensity=flops / moved)
                ms = 0.05 + 8.0 * flops / 1e9 + 0.5 * moved / 1e6
                inctx.append(ms)
                prefix.append(sum(inctx) - 0.25 * inctx[0] - (0.10 * inctx[1] if b >= 1 else 0))
                rows.append({**f, "schema_version": TABLE_SCHEMA_VERSION, "config_id": cid, "model": f"{family}{c}", "family": family,
                             "resolution_px": 224, "width": 1.0, "threads": 1, "device_kind": "cpu",
                             "device_name": "fake cpu", "device_id": "dev", "cpu_count": 2,
                             "torch_version": "2.x", "measured_at": "2026-01-01T00:00:00Z",
                             "block_index": b, "n_blocks": n_blocks, "block_name": f"layer{b}",
                             "incontext_ms": ms, "incontext_median_ms": ms, "incontext_cv": 0.01,
                             "alone_ms": 0.9 * ms, "alone_median_ms": 0.9 * ms, "prefix_ms": prefix[-1],
                             "prefix_median_ms": prefix[-1], "prefix_p90_ms": prefix[-1], "prefix_cv": 0.01,
                             "network_ms": None, "network_median_ms": None, "network_cv": 0.01, "rounds": 9,
                             "flagged": 0, "flag_reason": ""})
            for r in rows[-n_blocks:]:
                r["network_ms"] = r["network_median_ms"] = prefix[-1]
    rows[3]["flagged"] = 1
    rows[3]["flag_reason"] = "high spread"
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table()


@pytest.fixture(scope="module")
def fitted(table) -> LatencyModel:
    return LatencyModel(**FAST).fit(table)


@pytest.fixture()
def saved(fitted, tmp_path) -> Path:
    return save_predictor(fitted, tmp_path / "pred")


# ----------------------------------------------------------------------------- metrics and baselines


def test_error_metrics_exact():
    m = error_metrics([1.05, 0.8, 2.0, 1.0], [1.0, 1.0, 2.0, 1.0])
    assert m.n == 4
    assert m.mape_pct == pytest.approx((5 + 20 + 0 + 0) / 4)
    assert m.rmspe_pct == pytest.approx(math.sqrt((0.05**2 + 0.2**2) / 4) * 100)
    assert m.within_5_pct == 75.0
    assert m.within_10_pct == 75.0


def test_flops_linear_baseline_recovers_line():
    df = pd.DataFrame({"config_id": ["a"] * 3 + ["b"] * 2, "block_index": [0, 1, 2, 0, 1],
                       "flops": [1e9, 1e9, 2e9, 3e9, 1e9]})
    df["prefix_ms"] = 1.0 + 2.0 * np.array([1, 2, 4, 3, 4])
    base = FlopsLinearBaseline.fit(df)
    assert base.intercept_ms == pytest.approx(1.0)
    assert base.ms_per_gflop == pytest.approx(2.0)
    np.testing.assert_allclose(base.predict_prefix_ms(df), df["prefix_ms"])
    assert FlopsLinearBaseline.from_dict(base.to_dict()) == base


def test_flops_loglog_baseline_recovers_power_law():
    df = pd.DataFrame({"config_id": ["a"] * 3 + ["b"] * 2, "block_index": [0, 1, 2, 0, 1],
                       "flops": [1e9, 1e9, 2e9, 3e9, 1e9]})
    df["prefix_ms"] = 2.0 * np.array([1, 2, 4, 3, 4], dtype=float) ** 0.5  # cumulative GFLOPs
    base = FlopsLogLogBaseline.fit(df)
    assert base.log_ms_at_1_gflop == pytest.approx(np.log(2.0))
    assert base.exponent == pytest.approx(0.5)
    np.testing.assert_allclose(base.predict_prefix_ms(df), df["prefix_ms"])
    assert FlopsLogLogBaseline.from_dict(base.to_dict()) == base


def test_alone_lookup_sums_along_each_chain():
    df = sort_blocks(pd.DataFrame({"config_id": ["b", "a", "a"], "block_index": [0, 1, 0],
                                   "alone_ms": [5.0, 2.0, 1.0]}))
    np.testing.assert_allclose(alone_lookup_prefix_ms(df), [1.0, 3.0, 5.0])


def test_sort_blocks_refuses_gaps():
    with pytest.raises(TableError, match="consecutive blocks"):
        sort_blocks(pd.DataFrame({"config_id": ["a", "a"], "block_index": [0, 2]}))


# ----------------------------------------------------------------------------- fit / predict


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        LatencyModel().predict_blocks([{c: 1.0 for c in FEATURE_COLUMNS}])


def test_hyperparameters_stored_unchanged():
    m = LatencyModel(n_estimators=7, upper_quantile=0.9)
    assert m.get_params()["n_estimators"] == 7 and m.upper_quantile == 0.9
    with pytest.raises(ValueError, match="upper_quantile"):
        LatencyModel(upper_quantile=1.5).fit(synthetic_table(2, 3))


def test_fit_predict_blocks_and_prefixes(fitted, table):
    df = sort_blocks(table)
    s1, prefix, upper = fitted.predict_table(df)
    rel_block = np.abs(s1 / df["incontext_ms"] - 1)
    rel_prefix = np.abs(prefix / df["prefix_ms"] - 1)
    assert np.median(rel_block) < 0.15
    assert np.median(rel_prefix) < 0.15
    assert (upper >= prefix).all()
    # stage 2 learned the cold-cache discount: the first block alone costs 75% of its in-context time
    first = (df["block_index"] == 0).to_numpy()
    assert np.median(prefix[first] / s1[first]) == pytest.approx(0.75, abs=0.1)
    assert fitted.n_rows_ == 96 and fitted.n_flagged_ == 1
    assert fitted.feature_names_ == list(FEATURE_COLUMNS)
    assert fitted.device_["device_id"] == "dev" and fitted.device_["threads"] == 1
    assert len(fitted.residual_quantiles_) == 5


def test_predict_chain_is_consistent(fitted, table):
    rows = sort_blocks(table).query("config_id == 'alpha0@224@1.0@1@1@dev'").to_dict("records")
    pred = fitted.predict_chain(rows, model_name="alpha0", resolution=224)
    assert len(pred) == 6 and pred.block_names[0] == "layer0"
    assert pred.total_latency_ms == pred.prefix_latency_ms[-1]
    assert all(u >= p for u, p in zip(pred.prefix_upper_ms, pred.prefix_latency_ms))
    assert NetworkPrediction.from_dict(json.loads(json.dumps(pred.to_dict()))) == pred
    text = network_prediction_text(pred)
    assert "prefix upper ms" in text and "total:" in text


def test_blocks_computing_with_subnormals_are_named_and_the_fix_is_said(fitted, table):
    from latmodel.predict.render import predictions_summary_text

    rows = sort_blocks(table).query("config_id == 'alpha0@224@1.0@1@1@dev'").to_dict("records")
    rows[3] = {**rows[3], "subnormal_values": 10.0}
    pred = fitted.predict_chain(rows, model_name="alpha0", resolution=224)
    assert pred.subnormal_blocks == ("layer3",)
    assert NetworkPrediction.from_dict(json.loads(json.dumps(pred.to_dict()))) == pred
    assert ("note: 1 block(s) compute with subnormal floats (layer3)" in network_prediction_text(pred)
            and "torch.set_flush_denormal(True)" in network_prediction_text(pred))
    assert "alpha0 at 224 px: 1 block(s) compute with subnormal floats" in predictions_summary_text([pred])
    plain = fitted.predict_chain(rows[:3], model_name="alpha0", resolution=224)
    assert plain.subnormal_blocks == () and "subnormal" not in network_prediction_text(plain)
    # priced as deployed with subnormals flushed: the same blocks without their subnormal columns
    flushed = fitted.predict_chain(rows, model_name="alpha0", resolution=224, flush_subnormals=True)
    zeroed = fitted.predict_chain([{**r, "subnormal_values": 0, "flops_subnormal": 0} for r in rows],
                                  model_name="alpha0", resolution=224)
    assert flushed.prefix_latency_ms == zeroed.prefix_latency_ms
    assert flushed.subnormal_blocks == ("layer3",) and flushed.subnormals_flushed and not pred.subnormals_flushed
    assert NetworkPrediction.from_dict(json.loads(json.dumps(flushed.to_dict()))) == flushed
    assert "note: priced with subnormal floats flushed to zero" in network_prediction_text(flushed)
    assert not plain.subnormals_flushed  # nothing to flush: said nowhere
    assert not fitted.predict_chain(rows[:3], model_name="alpha0", resolution=224,
                                    flush_subnormals=True).subnormals_flushed


def test_head_latency_positive_and_grows_with_classes(fitted):
    small = fitted.head_latency_ms(256, 7, 7, 10)
    big = fitted.head_latency_ms(256, 7, 7, 1000)
    assert 0 < small <= big
    with pytest.raises(NetcutError, match="positive"):
        fitted.head_latency_ms(0, 7, 7, 10)


# ----------------------------------------------------------------------------- artifact


def test_save_load_round_trip_exact(fitted, saved, table):
    df = sort_blocks(table)
    loaded = load_predictor(saved)
    for a, b in zip(fitted.predict_table(df), loaded.predict_table(df)):
        np.testing.assert_array_equal(a, b)
    assert loaded.head_latency_ms(64, 7, 7, 10) == fitted.head_latency_ms(64, 7, 7, 10)
    manifest = json.loads((saved / MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == PREDICTOR_SCHEMA_VERSION
    assert manifest["feature_names"] == list(FEATURE_COLUMNS)
    assert set(manifest["libraries"]) >= {"xgboost", "scikit-learn", "torch", "netcut"}
    assert manifest["training"]["families"] == ["alpha", "beta", "gamma", "random"]


def _rewrite_manifest(folder: Path, **changes) -> None:
    m = json.loads((folder / MANIFEST_NAME).read_text())
    m.update(changes)
    (folder / MANIFEST_NAME).write_text(json.dumps(m))


def test_schema_version_mismatch_refused(saved):
    _rewrite_manifest(saved, schema_version=PREDICTOR_SCHEMA_VERSION + 1)
    with pytest.raises(ArtifactError, match=r"schema version 2; this netcut reads version 1.*latmodel fit"):
        load_predictor(saved)


def test_feature_name_mismatch_refused(saved):
    names = list(FEATURE_COLUMNS)
    names[0] = "bogus_feature"
    _rewrite_manifest(saved, feature_names=names)
    with pytest.raises(ArtifactError, match=r"other features.*bogus_feature.*latmodel fit"):
        load_predictor(saved)


def _first_stage1_file(folder: Path) -> str:
    """The saved predictor's first stage-1 booster file (its name follows the stage-1 prior)."""
    return json.loads((folder / MANIFEST_NAME).read_text())["stage1_boosters"][0][1]


def test_truncated_model_file_refused(saved):
    booster_file = _first_stage1_file(saved)
    path = saved / booster_file
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        load_predictor(saved)
    # even with the manifest updated to the truncated size, the JSON check refuses it
    m = json.loads((saved / MANIFEST_NAME).read_text())
    m["files"][booster_file] = {"bytes": len(raw) // 2, "sha256": sha256_bytes(raw[: len(raw) // 2])}
    (saved / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="corrupt or truncated"):
        load_predictor(saved)


class _Exploit:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_pickle_disguised_as_model_refused_and_never_run(saved, tmp_path):
    marker = tmp_path / "marker.txt"
    payload = pickle.dumps(_Exploit(str(marker)))
    booster_file = _first_stage1_file(saved)
    (saved / booster_file).write_bytes(payload)
    m = json.loads((saved / MANIFEST_NAME).read_text())
    m["files"][booster_file] = {"bytes": len(payload), "sha256": sha256_bytes(payload)}
    (saved / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="not an XGBoost JSON model"):
        load_predictor(saved)
    assert not marker.exists()


def test_save_refuses_to_overwrite_non_predictor(fitted, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not a netcut predictor"):
        save_predictor(fitted, other)
    assert (other / "keep.txt").read_text() == "mine"


def test_save_replaces_an_existing_predictor(fitted, saved):
    save_predictor(fitted, saved)
    assert load_predictor(saved).n_rows_ == fitted.n_rows_
    assert sorted(p.name for p in saved.parent.iterdir() if p.name.startswith(".")) == []


# ----------------------------------------------------------------------------- fit_tables / evaluate / CLI


def test_fit_tables_and_evaluate(table, tmp_path):
    train = table[table["family"] != "gamma"]
    test = table[table["family"] == "gamma"]
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    report = fit_tables([tmp_path / "train.csv"], tmp_path / "pred", params=FAST)
    assert report.n_configs == 12 and report.n_flagged == 1
    cv = report.cross_validation
    assert cv.held_out_families == ("alpha", "beta")
    assert set(cv.levels) == {"ours", "linear in FLOPs", "log-log in FLOPs", "lookup of blocks alone",
                              "summed in-context (measured)"}
    assert "leave-one-family-out" in fit_report_text(report)
    manifest = json.loads((tmp_path / "pred" / MANIFEST_NAME).read_text())
    assert manifest["training"]["tables"][0]["sha256"]
    assert "leave_one_family_out" in manifest["metrics"]
    ev = evaluate_tables(tmp_path / "pred", [tmp_path / "test.csv"], plot=tmp_path / "p.png")
    assert ev.n_configs == 4
    assert ev.levels["ours"]["prefix"].n == 24
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(json.dumps(ev.to_dict()))["levels"]["ours"]["network"]["n"] == 4


def test_adaptation_from_base(fitted, table, tmp_path):
    fast = dict(FAST, adapt_rounds=10)
    new = table.copy()
    for col in ("incontext_ms", "prefix_ms", "network_ms", "alone_ms"):
        new[col] = new[col] * 1.8
    few = new[new["config_id"].isin(new["config_id"].unique()[:3])]
    adapted = LatencyModel(**fast).fit(few, init_model=fitted)
    df = sort_blocks(new)
    ratio = np.median(adapted.predict_table(df)[1] / df["prefix_ms"])
    assert 0.85 < ratio < 1.15
    assert adapted.adapted_from_["device_id"] == "dev"


def _cli_fit(tmp_path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "t.csv"
    path.write_text(text)
    rc = main(["fit", str(path), "--out", str(tmp_path / "out"), "--no-cv"])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("case", ["missing_column", "nan_latency", "nonpositive_latency", "empty"])
def test_cli_fit_bad_tables_exit_2(case, table, tmp_path, capsys):
    df = table.copy()
    if case == "missing_column":
        text = df.drop(columns=["flops"]).to_csv(index=False)
    elif case == "nan_latency":
        df.loc[5, "incontext_ms"] = float("nan")
        text = df.to_csv(index=False)
    elif case == "nonpositive_latency":
        df.loc[5, "incontext_ms"] = 0.0
        text = df.to_csv(index=False)
    else:
        text = ""
    rc, err = _cli_fit(tmp_path, text, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("latmodel: error:")
    assert not (tmp_path / "out").exists()


def test_cli_fit_and_predict(table, tmp_path, capsys):
    table.to_csv(tmp_path / "t.csv", index=False)
    rc = main(["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "out"), "--no-cv", "--n-estimators", "20"])
    assert rc == 0, capsys.readouterr().err
    assert "cross-validation skipped" in capsys.readouterr().out
    rc = main(["predict", "--predictor", str(tmp_path / "out"), "--model", "random:3", "--resolution", "64",
               "--json"])
    assert rc == 0
    out = capsys.readouterr()
    d = json.loads(out.out)
    assert d["blocks"][-1]["prefix_latency_ms"] == d["total_latency_ms"]
    # random:3 at 64 px is far outside the synthetic table (224 px): flagged, and the predictor's device
    # ("dev") is not this machine: said once, naming both ids
    assert d["extrapolated"] is True and "resolution 64 is outside the 224..224 it was fitted on" in d["extrapolation"]
    assert out.err.count("warning: the predictor was measured on fake cpu") == 1 and "[id dev]" in out.err
    rc = main(["predict", "--predictor", str(tmp_path / "out"), "--model", "random:3", "--resolution", "64",
               "--strict"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("latmodel: error: random:3 at 64 px is outside what the predictor was "
                                          "fitted on (its blocks have ")
    assert "resolution 64 is outside the 224..224" in err[-1]
    assert len(err) == 2 and err[0].startswith("warning: the predictor was measured on")  # + the device line
    rc = main(["predict", "--predictor", str(tmp_path / "nope"), "--model", "random:3"])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_network_random_model_prefix_sums(fitted):
    pred = fitted.predict_network("random:7", 64)
    assert len(pred) >= 5
    p = np.array(pred.prefix_latency_ms)
    assert pred.total_latency_ms == p[-1]
    assert (np.diff(p) >= 0).all()
    assert all(u >= q for u, q in zip(pred.prefix_upper_ms, p))
    assert fitted.predict_network("random:7", 64) is pred  # cached per (network, resolution)


def test_predict_many_equals_one_by_one(fitted):
    many = fitted.predict_many([("random:7", 64), ("random:8", 96, 1.0, 1), ("random:7", 96)])
    assert [(p.model, p.resolution_px) for p in many] == [("random:7", 64), ("random:8", 96), ("random:7", 96)]
    for p in many:
        one = fitted.predict_network(p.model, p.resolution_px)
        assert p.prefix_latency_ms == pytest.approx(one.prefix_latency_ms, rel=1e-6)
        assert p.prefix_upper_ms == pytest.approx(one.prefix_upper_ms, rel=1e-6)
        assert p.extrapolation == one.extrapolation
    assert fitted.predict_many([]) == []


def test_cli_predict_many(table, tmp_path, capsys):
    table.to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "out"), "--no-cv", "--n-estimators", "20"]) == 0
    capsys.readouterr()
    rc = main(["predict", "--predictor", str(tmp_path / "out"), "--models", "random:3,random:4", "--resolutions",
               "64,96", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and [(x["model"], x["resolution_px"]) for x in d] == [
        ("random:3", 64), ("random:3", 96), ("random:4", 64), ("random:4", 96)]
    rc = main(["predict", "--predictor", str(tmp_path / "out"), "--models", "random:3", "--model", "random:4"])
    assert rc == 2 and "not both" in capsys.readouterr().err
    rc = main(["predict", "--predictor", str(tmp_path / "out")])
    assert rc == 2 and "--model NAME" in capsys.readouterr().err


def test_chain_arrays_cumsum_cummax_exact():
    from latmodel.predict.chains import Chains

    ch = Chains(X=np.zeros((5, len(FEATURE_COLUMNS))), starts=np.array([0, 0, 0, 3, 3]),
                 block_index=np.array([0, 1, 2, 0, 1]))
    np.testing.assert_array_equal(ch.cumsum([1.0, 2.0, 3.0, 10.0, 20.0]), [1.0, 3.0, 6.0, 10.0, 30.0])
    np.testing.assert_array_equal(ch.cummax([1.0, 3.0, 2.0, 5.0, 4.0]), [1.0, 3.0, 3.0, 5.0, 5.0])


def test_head_latency_from_roofline_coefficients(saved):
    from latmodel.predict.roofline import ROOFLINE_TERMS

    model = load_predictor(saved)
    model.head_roofline_ = {name: 0.0 for name in ROOFLINE_TERMS}
    model.head_roofline_.update(const=0.5, gbytes_params=100.0, n_layers=0.01)
    # GAP + Linear(10 -> 4): params (10*4 + 4) * 4 bytes; two layers (pool, linear)
    assert model.head_latency_ms(10, 2, 2, 4) == pytest.approx(0.5 + 100.0 * 176 / 1e9 + 0.02)


def test_stage2_correction_is_a_start_up_cost(fitted, table):
    """Past stage2_last_block, a prefix grows by exactly its blocks' stage-1 latencies."""
    df = sort_blocks(table).query("config_id == 'beta1@224@1.0@1@1@dev'").reset_index(drop=True)
    s1, prefix, _ = fitted.predict_table(df)
    last = fitted.stage2_last_block
    np.testing.assert_allclose(np.diff(prefix)[last:], s1[last + 1:], rtol=1e-9)


def test_cli_fit_refuses_foreign_out_and_evaluate_json(table, tmp_path, capsys):
    table.to_csv(tmp_path / "t.csv", index=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["fit", str(tmp_path / "t.csv"), "--out", str(foreign), "--no-cv"]) == 2
    assert "not a netcut predictor" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert main(["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "p"), "--no-cv", "--n-estimators", "10"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--predictor", str(tmp_path / "p"), str(tmp_path / "t.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_configs"] == 16 and report["levels"]["ours"]["block"]["n"] == 95


def test_calibrated_resolutions_round_trip(fitted, saved, table):
    assert fitted.resolutions_ == sorted({int(r) for r in table["resolution_px"]})
    assert load_predictor(saved).resolutions_ == fitted.resolutions_


def test_unseen_features_are_recorded_saved_and_warned_about(fitted, table, tmp_path, caplog):
    # the synthetic table never has attention or layer norm: predicting a block that has them extrapolates
    assert "flops_attention" in fitted.unseen_features_ and "flops_conv" not in fitted.unseen_features_
    rows = [{col: float(table.iloc[0][col]) for col in FEATURE_COLUMNS}]
    assert fitted.unseen_in(rows) == []
    rows[0]["flops_attention"] = 1e6
    assert fitted.unseen_in(rows) == ["flops_attention"]
    with caplog.at_level("WARNING", logger="latmodel.predict.model"):
        fitted.predict_chain(rows, model_name="tok")
    assert "tok at 224 px: extrapolated (its blocks have flops_attention, which no training row had)" in caplog.text
    save_predictor(fitted, tmp_path / "p")
    assert load_predictor(tmp_path / "p").unseen_features_ == fitted.unseen_features_


# ---------------------------------------------------------------------- extrapolation (ranges of the training table)


def _alpha0(table) -> list[dict]:
    return sort_blocks(table).query("config_id == 'alpha0@224@1.0@1@1@dev'").to_dict("records")


def test_ranges_are_recorded_saved_and_loaded(fitted, table, saved):
    r = fitted.ranges_
    assert r["config"]["resolution_px"] == [224.0, 224.0] and r["config"]["batch_size"] == [1.0, 1.0]
    assert r["features"]["flops"] == [float(table["flops"].min()), float(table["flops"].max())]
    assert load_predictor(saved).ranges_ == r


def test_prediction_inside_the_ranges_is_not_flagged(fitted, table):
    pred = fitted.predict_chain(_alpha0(table), model_name="alpha0", resolution=224, width=1.0)
    assert pred.extrapolation == () and not pred.extrapolated
    assert pred.to_dict()["extrapolated"] is False


def test_prediction_outside_the_ranges_warns_and_is_flagged(fitted, table, caplog):
    lo, hi = fitted.ranges_["features"]["flops"]
    rows = _alpha0(table)
    rows[2] = {**rows[2], "flops": 4.0 * hi}
    with caplog.at_level("WARNING", logger="latmodel.predict.model"):
        pred = fitted.predict_chain(rows, model_name="alpha0", resolution=512, width=1.0)
    assert pred.extrapolation == ("resolution 512 is outside the 224..224 it was fitted on",
                                  f"flops up to 4x beyond the {lo:.3g}..{hi:.3g} of its training blocks")
    assert len(caplog.records) == 1 and "alpha0 at 512 px: extrapolated (resolution 512" in caplog.text
    d = pred.to_dict()
    assert d["extrapolated"] is True and d["extrapolation"] == list(pred.extrapolation)
    assert NetworkPrediction.from_dict(json.loads(json.dumps(d))) == pred
    assert "EXTRAPOLATED" in network_prediction_text(pred)
    # the upper bound widens by the distance outside (latmodel.predict.ranges.widen_upper, exponent WIDEN_EXPONENT):
    # 512/224 from the first block, 4x from the block with 4x the largest training FLOPs on
    inside = copy.copy(fitted)
    inside.ranges_ = None
    raw = inside.predict_chain(rows, model_name="alpha0", resolution=512, width=1.0)
    assert raw.prefix_latency_ms == pred.prefix_latency_ms
    ratio = [w / r for w, r in zip(pred.prefix_upper_ms, raw.prefix_upper_ms)]
    assert ratio == pytest.approx([(512 / 224) ** WIDEN_EXPONENT] * 2 + [4.0 ** WIDEN_EXPONENT] * (len(rows) - 2))
    assert f"upper bound widened {4.0 ** WIDEN_EXPONENT:.2f}x" in caplog.text
    # a prefix that stops before the out-of-range block is inside the feature ranges
    assert fitted.extrapolation_in(rows[:2], resolution=224) == []
    # 10% beyond the largest block is still inside (FEATURE_TOLERANCE)
    rows[2] = {**rows[2], "flops": 1.09 * hi}
    assert fitted.extrapolation_in(rows, resolution=224) == []


def test_extrapolation_distance_is_the_running_largest_ratio_outside():
    from latmodel.predict.ranges import extrapolation_distance, widen_upper

    ranges = {"config": {"resolution_px": [96, 160], "batch_size": [1, 1]},
              "features": {"flops": [10.0, 100.0], "out_bytes": [4.0, 40.0], "stride": [1.0, 2.0]}}
    rows = [{"flops": 50.0, "out_bytes": 8.0, "stride": 9.0},   # stride is no size: ignored
            {"flops": 105.0, "out_bytes": 8.0},                 # within FEATURE_TOLERANCE (1.1x)
            {"flops": 300.0, "out_bytes": 1.0},                 # 3x the largest FLOPs, 4x under the least bytes
            {"flops": 20.0, "out_bytes": 8.0}]
    assert extrapolation_distance(ranges, rows, {"resolution_px": 128, "batch_size": 1}) == [1.0, 1.0, 4.0, 4.0]
    assert extrapolation_distance(ranges, rows, {"resolution_px": 320}) == [2.0, 2.0, 4.0, 4.0]
    assert extrapolation_distance(ranges, rows, {"resolution_px": 48, "batch_size": 8}) == [8.0] * 4
    assert extrapolation_distance(None, rows, {"resolution_px": 48}) == [1.0] * 4
    assert list(widen_upper([1.0, 2.0], [1.0, 4.0], 0.5)) == [1.0, 4.0]


def test_merge_ranges_is_the_union():
    from latmodel.predict.ranges import merge_ranges

    a = {"config": {"resolution_px": [96, 160]}, "features": {"flops": [1.0, 5.0]}}
    b = {"config": {"resolution_px": [128, 224], "width": [0.5, 1.0]}, "features": {"flops": [2.0, 3.0]}}
    assert merge_ranges(a, b) == {"config": {"resolution_px": [96, 224], "width": [0.5, 1.0]},
                                  "features": {"flops": [1.0, 5.0]}}
    assert merge_ranges(None, b) == b and merge_ranges(a, None) == a and merge_ranges(None, None) is None


def test_fit_refuses_a_table_without_prefix_latencies(table):
    with pytest.raises(TableError, match="no prefix_ms .* \\(latmodel fit --no-stage2\\)"):
        LatencyModel(**FAST).fit(table.drop(columns=["prefix_ms"]))
    model = LatencyModel(**{**FAST, "stage2": False}).fit(table.drop(columns=["prefix_ms"]))
    assert model.stage2_ is None


def test_evaluate_warns_when_the_table_is_another_device(fitted, table, saved, tmp_path, caplog):
    other = table.assign(threads=2, device_id="other")
    path = tmp_path / "other.csv"
    other.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="latmodel.predict.evaluation"):
        evaluate_tables(saved, [path])
    assert "the table was measured with threads 2 (the predictor's: 1); device id other (the predictor's: dev)" \
        in caplog.text
    caplog.clear()
    same = tmp_path / "same.csv"
    table.to_csv(same, index=False)
    with caplog.at_level("WARNING", logger="latmodel.predict.evaluation"):
        evaluate_tables(saved, [same])
    assert "measured with" not in caplog.text


def test_a_table_of_another_statistic_is_named_and_its_training_statistic_recorded(table, tmp_path):
    from latmodel.predict.evaluation import _table_records, statistic_difference  # noqa: PLC2701 - the record is tested

    path = tmp_path / "t.csv"
    table.assign(method="window-settled-min").to_csv(path, index=False)
    (rec,) = _table_records([path])
    assert rec["methods"] == ["window-settled-min"]
    assert statistic_difference([rec], table.assign(method="window-settled-p25")) == \
        "the table holds the statistic p25 and the predictor learned min"
    assert statistic_difference([rec], table.assign(method="window-min")) == ""  # unsettled, still the minimum
    assert statistic_difference([{"path": "old.csv"}], table.assign(method="window-settled-p25")) == ""  # unrecorded


def test_whole_network_truth_is_the_last_prefix_for_exported_graph_runtimes(table):
    from latmodel.predict.evaluation import deployed_network_ms, levels_for

    df = sort_blocks(table).copy()
    df["flagged"] = 0
    last = (df["block_index"] == df["n_blocks"] - 1).to_numpy()
    df["network_ms"] = df["prefix_ms"] * 1.25  # one session per block: slower than the one graph
    predicted = df["prefix_ms"].to_numpy(float)
    assert levels_for(df.assign(runtime="torch"), predicted)["network"].within_10_pct == 0.0
    ort = df.assign(runtime="onnxruntime")
    assert deployed_network_ms(ort)[last].tolist() == df["prefix_ms"].to_numpy(float)[last].tolist()
    assert levels_for(ort, predicted)["network"].within_10_pct == 100.0
    assert levels_for(ort, predicted)["network"].n == last.sum()


# ----------------------------------------------------------------------------- what stage 1 learns


def test_stage1_target_auto_follows_the_runtime(table):
    from latmodel.predict.targets import resolve_stage1_target, stage1_target_ms

    df = LatencyModel.validate_table(table)
    ort = df.assign(runtime="onnxruntime")
    assert resolve_stage1_target("auto", df.assign(runtime="torch")) == "incontext"
    assert resolve_stage1_target("auto", ort) == "prefix_increment"
    assert resolve_stage1_target("auto", pd.concat([ort, df.assign(runtime="torch")])) == "incontext"  # mixed
    assert resolve_stage1_target("auto", ort.assign(prefix_ms=np.nan)) == "incontext"  # no one-graph prefixes
    assert resolve_stage1_target("incontext", ort) == "incontext"  # an explicit choice is kept
    np.testing.assert_array_equal(stage1_target_ms("auto", df.assign(runtime="torch")), df["incontext_ms"].to_numpy())
    # the synthetic prefix: block 0 alone costs 0.75 of its in-context time, block 1 adds 0.9 of its own, the rest all
    inc = stage1_target_ms("auto", ort)
    first = df[df["config_id"] == df["config_id"].iloc[0]]
    ms = first["incontext_ms"].to_numpy()
    np.testing.assert_allclose(inc[:3], [0.75 * ms[0], 0.9 * ms[1], ms[2]], rtol=1e-12)


def test_stage1_target_learned_saved_and_loaded(table, tmp_path):
    model = LatencyModel(**FAST).fit(table.assign(runtime="onnxruntime"))
    assert model.stage1_target == "auto" and model.stage1_target_ == "prefix_increment"
    loaded = load_predictor(save_predictor(model, tmp_path / "ort"))
    assert loaded.get_params()["stage1_target"] == "auto" and loaded.stage1_target_ == "prefix_increment"
    assert LatencyModel(**FAST).fit(table).stage1_target_ == "incontext"
    with pytest.raises(ValueError, match="stage1_target must be one of auto, incontext, prefix_increment"):
        LatencyModel(stage1_target="alone").fit(table)


def test_cross_validation_scores_blocks_against_what_stage1_learns(table):
    from latmodel.predict.evaluation import cross_validate_predictions
    from latmodel.predict.targets import stage1_target_ms

    oof = cross_validate_predictions(table.assign(runtime="onnxruntime"), FAST, log_progress=False)
    np.testing.assert_array_equal(oof.ours_block_target, stage1_target_ms("prefix_increment", oof.df))
    oof = cross_validate_predictions(table, FAST, log_progress=False)
    np.testing.assert_array_equal(oof.ours_block_target, oof.df["incontext_ms"].to_numpy(float))


def test_stage1_prior_auto_follows_the_target(table):
    assert LatencyModel(**FAST).fit(table.assign(runtime="onnxruntime")).stage1_kinds_ == ["plain", "roofline"]
    assert LatencyModel(**FAST).fit(table).stage1_kinds_ == ["roofline"]
    assert LatencyModel(**FAST, stage1_prior="none").fit(table.assign(runtime="onnxruntime")).stage1_kinds_ == ["plain"]
    with pytest.raises(ValueError, match="stage1_prior must be one of auto, roofline, none, blend"):
        LatencyModel(stage1_prior="linear").fit(table)


def test_adapting_an_in_context_onnx_base_learns_increments_on_one_graph_rows(table):
    from latmodel.predict.evaluation import _adapted_target

    ort = table.assign(runtime="onnxruntime")
    chained = LatencyModel(**FAST, stage1_target="incontext").fit(ort)  # as fitted before 2026-12-06
    assert _adapted_target(chained, ort, None) == {"stage1_target": "auto"}
    assert _adapted_target(chained, ort, {"stage1_target": "incontext"}) == {}  # an explicit choice is kept
    assert _adapted_target(chained, table, None) == {}  # torch rows: in-context means the same
    assert _adapted_target(LatencyModel(**FAST).fit(ort), ort, None) == {}  # the base learned increments already
    assert _adapted_target(None, ort, None) == {}


def test_roofline_prices_windowed_pools_apart_from_the_memory_bound_term():
    from latmodel.predict.roofline import ROOFLINE_TERMS, fit_roofline, roofline_design, roofline_ms

    zero = {c: 0.0 for c in FEATURE_COLUMNS}
    rows = [{**zero, "config_id": "c", "block_index": 0, "flops_pool": 2e6, "flops_max_pool": 2e6},
            {**zero, "config_id": "c", "block_index": 1, "flops_pool": 3e6, "flops_avg_pool": 2e6},
            {**zero, "config_id": "c", "block_index": 2, "flops_elementwise": 4e6},
            {**zero, "config_id": "c", "block_index": 3, "flops_pool": 1e6, "flops_elementwise": 1e6}]
    df = pd.DataFrame(rows)
    design = dict(zip(ROOFLINE_TERMS, roofline_design(df).T))
    # the memory-bound term keeps the global pools and means (flops_pool minus the windowed pools), not the windows
    assert design["gflops_memory_bound"].tolist() == pytest.approx([0.0, 1e-3, 4e-3, 2e-3])
    assert design["gflops_max_pool"].tolist() == pytest.approx([2e-3, 0.0, 0.0, 0.0])
    assert design["gflops_avg_pool"].tolist() == pytest.approx([0.0, 2e-3, 0.0, 0.0])
    # 3.2 ms a GFLOP of max pooling, 1.0 of average pooling, 0.1 of the rest: recovered exactly
    ms = 3.2 * design["gflops_max_pool"] + 1.0 * design["gflops_avg_pool"] + 0.1 * design["gflops_memory_bound"]
    coef = fit_roofline(df, ms * 1e3, np.ones(len(df)))
    assert coef["gflops_max_pool"] == pytest.approx(3200.0, rel=1e-6)
    assert coef["gflops_avg_pool"] == pytest.approx(1000.0, rel=1e-6)
    assert coef["gflops_memory_bound"] == pytest.approx(100.0, rel=1e-6)
    assert roofline_ms(df, coef) == pytest.approx(ms * 1e3, rel=1e-6)


def test_roofline_prices_explicit_padding_apart_and_older_predictors_keep_their_prices(saved):
    from latmodel.predict.roofline import ROOFLINE_TERMS, roofline_design, roofline_ms, upgrade_coefficients

    zero = {c: 0.0 for c in FEATURE_COLUMNS}
    # a padded block: 2e6 elementwise flops, 5e5 of them a ZeroPad2d's output
    df = pd.DataFrame([{**zero, "config_id": "c", "block_index": 0, "flops_elementwise": 2e6, "flops_pad": 5e5}])
    design = dict(zip(ROOFLINE_TERMS, roofline_design(df).T))
    assert design["gflops_memory_bound"].tolist() == pytest.approx([1.5e-3])
    assert design["gflops_pad"].tolist() == pytest.approx([0.5e-3])
    # saved before the split: the pad was in the memory-bound term, at its price (130 ms a GFLOP, over all 2e6 flops)
    old = {name: 0.0 for name in ROOFLINE_TERMS if name != "gflops_pad"}
    old["gflops_memory_bound"] = 130.0
    assert upgrade_coefficients(old)["gflops_pad"] == 130.0
    assert roofline_ms(df, upgrade_coefficients(old)).tolist() == pytest.approx([130.0 * 2e-3])
    # an older predictor folder loads, its roofline upgraded; one lacking any other term is still refused
    manifest = json.loads((saved / MANIFEST_NAME).read_text())
    for key in ("roofline", "head_roofline"):
        manifest[key] = {k: v for k, v in manifest[key].items() if k != "gflops_pad"}
    (saved / MANIFEST_NAME).write_text(json.dumps(manifest))
    loaded = load_predictor(saved)
    for coef in (loaded.roofline_, loaded.head_roofline_):
        assert coef["gflops_pad"] == coef["gflops_memory_bound"]
    _rewrite_manifest(saved, roofline={k: v for k, v in manifest["roofline"].items() if k != "gflops_max_pool"})
    with pytest.raises(ArtifactError, match="roofline coefficients do not match"):
        load_predictor(saved)
