"""``latmodel calibrate`` (latmodel.predict.calibrate) with a fake device, and trimmer's path when no predictor matches."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latmodel.predict.artifact import MANIFEST_NAME
from latmodel.predict.budget import DEFAULT_FEATURES_TABLE
from latmodel.predict.calibrate import (MAX_REFERENCE_NETWORK_MS, calibrate, calibration_table_path, plan_calibration,
                                score_bases)
from latmodel.cli import main
from latmodel.errors import NetcutError
from latmodel.predict.model import LatencyModel
from latmodel.predict.predictor_io import load_predictor, save_predictor
from latmodel.measure.table import read_table

from .test_model import FAST

REFERENCE = DEFAULT_FEATURES_TABLE  # the table calibration plans from: every configuration it may choose
TIMES = ("incontext_ms", "alone_ms", "prefix_ms", "network_ms")


@pytest.fixture(scope="module")
def reference():
    return read_table(REFERENCE)


def _scaled(frame, factor):
    out = frame.copy()
    for col in TIMES:
        out[col] = out[col] * factor
    return out


@pytest.fixture(scope="module")
def bases(reference, tmp_path_factory):
    """Two predictor folders: 'true' fitted on the reference table's shape, 'warped' on latencies bent by
    FLOPs (another shape); both on configurations the calibration budget below does not choose."""
    root = tmp_path_factory.mktemp("bases")
    ids = sorted(reference["config_id"].unique())[::4]
    train = reference[reference["config_id"].isin(ids)]
    warped = train.copy()
    bend = (warped["flops"].clip(lower=1.0) / 1e6) ** 0.5
    for col in TIMES:
        warped[col] = warped[col] * (1.0 + bend)
    save_predictor(LatencyModel(**FAST).fit(train), root / "true")
    save_predictor(LatencyModel(**FAST).fit(warped), root / "warped")
    return root / "true", root / "warped"


def _fake_device(reference, factor=1.5):
    """Measures a configuration as the reference table's rows times ``factor`` (appending, resuming)."""
    calls = []

    def measure(configs, path):
        calls.append([c.model for c in configs])
        keys = {(c.model, c.resolution_px, round(c.width, 6)) for c in configs}
        rows = reference[[(m, int(r), round(float(w), 6)) in keys for m, r, w in
                          reference[["model", "resolution_px", "width"]].itertuples(index=False)]]
        _scaled(rows, factor).to_csv(path, index=False)

    return measure, calls


def test_plan_chooses_only_fast_configurations_and_refuses_a_bad_budget(reference):
    plan = plan_calibration(5)
    assert len(plan.configs) == 5 and len({(c.model, c.resolution_px) for c in plan.configs}) == 5
    ms = {(m, int(r), round(float(w), 6)): float(v) for m, r, w, v in
          reference[["model", "resolution_px", "width", "network_ms"]].itertuples(index=False)}
    assert all(ms[c.model, c.resolution_px, round(c.width, 6)] <= MAX_REFERENCE_NETWORK_MS for c in plan.configs)
    with pytest.raises(NetcutError, match=r"--budget must be between 2 and \d+ .*got 1"):
        plan_calibration(1)


def test_the_base_whose_shape_fits_is_chosen_and_adapted(reference, bases, tmp_path):
    true, warped = bases
    measure, calls = _fake_device(reference)
    out = tmp_path / "here"
    result = calibrate(out, budget=3, measure=measure, bases=[warped, true], method="scale")
    assert len(calls) == 1 and len(calls[0]) == 3
    assert [s.path for s in result.scores] == [str(true), str(warped)] and result.base == str(true)
    # the fake device is the reference times 1.5: the base of the reference's shape sees about that factor
    assert abs(result.scores[0].median_ratio - 1.5) < 0.3
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["adapted_from"]["method"] == "scale"
    assert manifest["adapted_from"]["base_predictor"]["path"] == str(true)
    assert calibration_table_path(out) == tmp_path / "here-calibration.csv"
    saved = json.loads(calibration_table_path(out).with_suffix(".json").read_text())
    assert saved["base"] == str(true) and len(saved["configs"]) == 3
    # the adapted predictor prices the fake device: its measurements within a few percent
    table = read_table(calibration_table_path(out))
    _, prefix, _ = load_predictor(out).predict_table(table.sort_values(["config_id", "block_index"]))
    meas = table.sort_values(["config_id", "block_index"])["prefix_ms"].to_numpy()
    assert np.median(np.abs(prefix / meas - 1)) < 0.1


def test_legacy_predictors_are_not_default_bases(reference, bases, tmp_path, monkeypatch):
    """A shipped predictor without an ISA in its device record (legacy) fits best here, but is not adapted by
    default: only predictors of the current method are candidate bases."""
    import latmodel.predict.shipped as shipped

    true, warped = bases
    monkeypatch.setattr(shipped, "shipped_predictors", lambda root=None: [
        (true, {"device_id": "legacy", "device_name": "AMD EPYC"}),
        (warped, {"device_id": "new", "device_name": "AMD EPYC", "cpu_isa": "avx512"})])
    measure, _ = _fake_device(reference)
    result = calibrate(tmp_path / "here", budget=3, measure=measure, method="scale")
    assert [s.path for s in result.scores] == [str(warped)] and result.base == str(warped)


@pytest.mark.parametrize("argv,needle", [
    (["--budget", "0"], "expected a positive integer, got '0'"),
    (["--budget", "1"], "--budget must be between 2 and"),
    (["--adapt", "bogus"], "invalid choice: 'bogus'"),
])
def test_bad_calibrate_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "p"
    assert main(["calibrate", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists() and not calibration_table_path(out).exists()


def test_a_base_of_another_feature_set_is_refused_before_measuring(bases, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    manifest = json.loads((bases[0] / MANIFEST_NAME).read_text())
    manifest["feature_names"] = manifest["feature_names"][:-1]
    (other / MANIFEST_NAME).write_text(json.dumps(manifest))
    for f in bases[0].iterdir():
        if f.name != MANIFEST_NAME:
            (other / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "p"
    assert main(["calibrate", "--out", str(out), "--base", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on other features than this netcut computes" in err[0]
    assert not out.exists() and not calibration_table_path(out).exists()


def test_score_bases_skips_a_folder_that_does_not_load(reference, bases, tmp_path):
    measure, _ = _fake_device(reference)
    table = tmp_path / "t.csv"
    measure(plan_calibration(2).configs, table)
    scores = score_bases(pd.read_csv(table), [tmp_path / "nothing-here", bases[0]])
    assert [s.path for s in scores] == [str(bases[0])]


# ------------------------------------------------------------- trimmer on a machine no predictor was measured on


@pytest.fixture
def no_match(monkeypatch, tmp_path):
    """This machine matches no shipped predictor; netcut's cache (where calibrated predictors go) is empty."""
    import latmodel.predict.shipped
    from latmodel.predict.shipped import PredictorChoice

    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(latmodel.predict.shipped, "choose_predictor", lambda *a, **k: PredictorChoice(
        "data/predictors/cpu-1thread", "aaaa", "bbbb", "the predictor was measured on Other CPU; this machine is Here",
        "Here CPU (avx512)"))
    return tmp_path / "cache" / "predictors"


def test_search_stops_with_the_command_under_no_calibrate(no_match, tmp_path, capsys):
    from trimmer.cli import main as trimmer

    out = tmp_path / "run"
    assert trimmer(["search", "--no-calibrate", "--models", "mobilenet_v2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shipped predictor was measured on this machine (Here CPU (avx512))" in err[0]
    assert f"'latmodel calibrate --out {no_match}" in err[0] and not out.exists()


def test_search_calibrates_first_then_prices_with_that_predictor(no_match, tmp_path, capsys, monkeypatch):
    import latmodel.predict.calibrate
    import latmodel.predict.predictor_io

    from .test_trimmer_search import TINY, FakePredictor

    calibrated = []
    def fake_calibrate(folder, **kw):
        calibrated.append(str(folder))
        return latmodel.predict.calibrate.CalibrationResult(
            out=str(folder), table="t.csv", configs=("a", "b"), base="/x/base-predictor", method="boost", scores=(),
            measure_seconds=100.0, fit_seconds=2.0)

    monkeypatch.setattr(latmodel.predict.calibrate, "calibrate", fake_calibrate)
    loaded = []
    monkeypatch.setattr(latmodel.predict.predictor_io, "load_predictor", lambda path: loaded.append(str(path)) or FakePredictor())
    from trimmer.cli import main as trimmer

    npz = tmp_path / "tiny.npz"
    _tiny(npz)
    out = tmp_path / "run"
    assert trimmer(["search", "--models", TINY, "--resolutions", "8", "--no-pretrained", "--deadline-ms", "5",
                    "--mode", "head", "--epochs", "1", "--data", str(npz), "--out", str(out), "--quiet"]) == 0
    assert len(calibrated) == 1 and calibrated[0].startswith(str(no_match))
    assert set(loaded) == {calibrated[0]}
    err = capsys.readouterr().err
    assert "calibrating one for this machine first" in err
    assert "using " not in err  # it names no other device's predictor as if the search used it
    assert "calibrated: base-predictor adapted (boost) to 2 measurements of this machine in 102 s" in err


def _tiny(path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.integers(0, 40, size=(len(y), 8, 8)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, :, label * 2:label * 2 + 3] += 200
    np.savez(path, train_x=x, train_y=y, test_x=x[::3], test_y=y[::3], classes=np.array(["a", "b", "c"]))


def test_a_predictor_an_older_netcut_calibrated_here_is_passed_over(monkeypatch, tmp_path, caplog):
    import latmodel.predict.shipped as shipped
    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.measure.device_cache import cached_device_record

    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "none")  # no shipped predictor matches
    (tmp_path / "none").mkdir()
    here = cached_device_record("cpu", threads=1, runtime="torch")
    folder = shipped.calibrated_path("torch", 1)
    folder.mkdir(parents=True)
    manifest = {"device": here.to_dict(), "feature_names": list(FEATURE_COLUMNS)[:-1]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NetcutError, match="no shipped predictor"):  # nothing else to fall back to here
        shipped.choose_predictor(runtime="torch", threads=1)
    assert "an older netcut calibrated it" in caplog.text
    manifest["feature_names"] = list(FEATURE_COLUMNS)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert shipped.choose_predictor(runtime="torch", threads=1).path == str(folder)


def test_calibration_measurements_of_an_older_netcut_are_refeatured_before_resuming(reference, bases, tmp_path):
    true, _ = bases
    out = tmp_path / "here"
    stale = reference[reference["model"] == "mobilenet_v2"].drop(columns=["flops_avg_pool"])
    stale.to_csv(calibration_table_path(out), index=False)
    seen = []
    measure, _ = _fake_device(reference)

    def resume(configs, path):
        seen.append("flops_avg_pool" in pd.read_csv(path, nrows=0).columns)
        old = read_table(path)
        measure(configs, path)
        pd.concat([old, read_table(path)], ignore_index=True).to_csv(path, index=False)

    calibrate(out, budget=3, measure=resume, bases=[true], method="scale")
    assert seen == [True]  # the features were recomputed before the run resumed into the table
    table = read_table(calibration_table_path(out))
    assert set(stale["config_id"]) <= set(table["config_id"])  # its measurements kept
    kept = table[table["model"] == "mobilenet_v2"].sort_values(["config_id", "block_index"])
    assert kept["prefix_ms"].tolist() == stale.sort_values(["config_id", "block_index"])["prefix_ms"].tolist()
