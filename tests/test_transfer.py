"""The 'correct' adaptation (latmodel.predict.transfer) and the measuring budget (latmodel.predict.budget)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from latmodel.predict.artifact import MANIFEST_NAME
from latmodel.predict.baselines import sort_blocks
from latmodel.predict.budget import SECONDS_PER_CONFIG, budget_plan_text, choose_configs, plan_budget
from latmodel.predict.chains import Chains
from latmodel.cli import main
from latmodel.measure.corpus import ProfileConfig
from latmodel.errors import NetcutError, TableError
from latmodel.predict.evaluation import fit_tables
from latmodel.predict.model import LatencyModel
from latmodel.predict.predictor_io import load_predictor, save_predictor
from latmodel.predict.transfer import MIN_ROWS, DeviceCorrection, corrected_prefix_ms, transfer_design

from .test_model import FAST, synthetic_table

CORRECT = dict(FAST, adapt_strategy="correct")


@pytest.fixture(scope="module")
def base():
    return LatencyModel(**FAST).fit(synthetic_table())


def _new_device(base, log_factor):
    """A table whose latencies are the base's predictions times exp(log_factor(chains)), exactly."""
    new = sort_blocks(synthetic_table(seed=1))
    new["flagged"] = 0
    ch = Chains.from_frame(new)
    raw = base.predict_blocks(ch)
    s1 = raw * np.exp(log_factor(ch))
    new["incontext_ms"] = s1
    new["prefix_ms"] = corrected_prefix_ms(ch, base.predict_table(ch)[1], raw, s1)
    return new


def test_constant_scaling_recovered_exactly(base):
    new = _new_device(base, lambda ch: np.full(len(ch), math.log(1.8)))
    few = new[new["config_id"].isin(new["config_id"].unique()[:3])]
    adapted = LatencyModel(**CORRECT).fit(few, init_model=base)
    assert adapted.correction_.intercept == pytest.approx(math.log(1.8), abs=1e-9)
    assert np.allclose(adapted.correction_.coef, 0.0, atol=1e-9)
    s1, prefix, _ = adapted.predict_table(new)
    np.testing.assert_allclose(prefix, new["prefix_ms"], rtol=1e-9)
    np.testing.assert_allclose(s1, new["incontext_ms"], rtol=1e-9)
    assert adapted.head_latency_ms(64, 7, 7, 10) == pytest.approx(1.8 * base.head_latency_ms(64, 7, 7, 10))


def test_known_per_block_scaling_recovered(base):
    # a factor that grows with the work per op (a term of the correction), no penalty
    new = _new_device(base, lambda ch: 0.2 - 0.3 * transfer_design(ch, ("log10_mflops_per_op",))[:, 0])
    few = new[new["config_id"].isin(new["config_id"].unique()[:4])]
    adapted = LatencyModel(**{**CORRECT, "adapt_alpha": 0.0}).fit(few, init_model=base)
    np.testing.assert_allclose(adapted.predict_table(new)[1], new["prefix_ms"], rtol=1e-6)


def test_correction_record_round_trip():
    c = DeviceCorrection(terms=("log10_mflops_per_op",), intercept=0.1, coef=(0.2,), alpha=3.0, n_rows=20, n_configs=2)
    assert DeviceCorrection.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError):
        DeviceCorrection.from_dict({**c.to_dict(), "terms": ["no_such_term"]})


def test_adapted_artifact_records_base_and_correction(base, tmp_path):
    save_predictor(base, tmp_path / "base")
    new = _new_device(base, lambda ch: np.full(len(ch), math.log(0.6)))
    new.to_csv(tmp_path / "new.csv", index=False)
    fit_tables([tmp_path / "new.csv"], tmp_path / "adapted", base=tmp_path / "base", cv=False,
               params={"adapt_strategy": "correct"})
    manifest = json.loads((tmp_path / "adapted" / MANIFEST_NAME).read_text())
    base_manifest = json.loads((tmp_path / "base" / MANIFEST_NAME).read_text())
    rec = manifest["adapted_from"]["base_predictor"]
    assert rec["path"] == str(tmp_path / "base") and rec["created_at"] == base_manifest["created_at"]
    assert len(rec["manifest_sha256"]) == 64
    assert manifest["adapted_from"]["method"] == "correct"
    assert manifest["correction"]["intercept"] == pytest.approx(math.log(0.6), abs=1e-9)
    loaded = load_predictor(tmp_path / "adapted")
    np.testing.assert_allclose(loaded.predict_table(new)[1], new["prefix_ms"], rtol=1e-9)


def test_too_few_rows_refused(base):
    new = sort_blocks(synthetic_table(n_blocks=3))
    with pytest.raises(TableError, match=f"needs at least {MIN_ROWS}"):
        LatencyModel(**CORRECT).fit(new[new["config_id"] == new["config_id"].iloc[0]], init_model=base)


def _cli_err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("latmodel: error:")
    return err


def test_cli_adapt_bad_inputs_exit_2_nothing_written(base, tmp_path, capsys):
    save_predictor(base, tmp_path / "base")
    few = sort_blocks(synthetic_table(n_blocks=3))
    few[few["config_id"] == few["config_id"].iloc[0]].to_csv(tmp_path / "few.csv", index=False)
    rc = main(["fit", str(tmp_path / "few.csv"), "--base", str(tmp_path / "base"), "--adapt", "correct",
               "--out", str(tmp_path / "out")])
    assert rc == 2 and "usable row" in _cli_err(capsys)
    assert not (tmp_path / "out").exists()
    # a base with another feature set
    manifest = json.loads((tmp_path / "base" / MANIFEST_NAME).read_text())
    manifest["feature_names"] = manifest["feature_names"][:-1] + ["flops_unknown"]
    (tmp_path / "base" / MANIFEST_NAME).write_text(json.dumps(manifest))
    synthetic_table().to_csv(tmp_path / "new.csv", index=False)
    rc = main(["fit", str(tmp_path / "new.csv"), "--base", str(tmp_path / "base"), "--adapt", "correct",
               "--out", str(tmp_path / "out")])
    assert rc == 2 and "other features" in _cli_err(capsys)
    assert not (tmp_path / "out").exists()
    rc = main(["fit", str(tmp_path / "new.csv"), "--adapt", "correct", "--out", str(tmp_path / "out")])
    assert rc == 2 and "--base" in _cli_err(capsys)


def test_choose_configs_takes_typical_configurations_deterministically():
    table = synthetic_table()
    size = table.groupby("config_id", sort=False)["flops"].sum()
    fam = table.groupby("config_id", sort=False)["family"].first()
    median_of = {}
    for f in ("alpha", "beta", "gamma"):
        log = np.log(size[fam == f])
        median_of[f] = (log - log.median()).abs().idxmin()
    sampled = list(size[fam == "random"].sort_values(kind="stable").index)
    first = choose_configs(table, 5)
    assert first == choose_configs(table, 5) and len(set(first)) == 5
    # one central configuration per family, and sampled networks at the inner ranks of size (1 and 2 of 0..3)
    assert set(first) == {*median_of.values(), sampled[1], sampled[2]}
    small = choose_configs(table, 2)  # fewer than the pool: chosen from it
    assert len(set(small)) == 2 and set(small) <= {*median_of.values(), sampled[1], sampled[2]} | set(sampled)
    large = choose_configs(table, 10)  # more than the pool: the pool and then the rest
    assert len(set(large)) == 10 and set(median_of.values()) | set(sampled) <= set(large)
    with pytest.raises(NetcutError, match="between 1 and the 16"):
        choose_configs(table, 17)


def test_plan_budget_reads_features_and_prices_time(tmp_path):
    table = synthetic_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    corpus = [ProfileConfig(m, 224) for m in dict.fromkeys(table["model"])]
    plan = plan_budget(4, corpus, features_table=tmp_path / "t.csv")
    assert len(plan.configs) == 4 and plan.corpus_size == 16
    assert plan.estimated_seconds == 4 * SECONDS_PER_CONFIG
    assert "about 0.9 min" in budget_plan_text(plan)
    assert type(plan).from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_cli_profile_budget_dry_run(tmp_path, capsys):
    rc = main(["profile", "--budget", "3", "--corpus", "small", "--dry-run", "--out", str(tmp_path / "x.csv")])
    out = capsys.readouterr().out
    assert rc == 0 and "budget: 3 of 13 configurations" in out and "min" in out
    assert not (tmp_path / "x.csv").exists()
    rc = main(["profile", "--budget", "3", "--models", "resnet18", "--out", str(tmp_path / "x.csv")])
    assert rc == 2 and "--budget" in _cli_err(capsys)


def test_boost_adaptation_is_the_same_however_often_it_runs_in_a_process(base):
    """Continued boosting used to draw its samples from XGBoost's process-wide generator: the same adaptation
    fitted again in one process gave other trees."""
    new = sort_blocks(synthetic_table(seed=1))
    raws = [bytes(LatencyModel(**{**FAST, "adapt_strategy": "boost"}).fit(new, init_model=base).stage1_[0]
                  .save_raw(raw_format="json")) for _ in range(3)]
    assert raws[0] == raws[1] == raws[2]
