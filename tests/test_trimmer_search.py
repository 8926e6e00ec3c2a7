from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from latmodel.graph.blocks import load_chain
from latmodel.errors import NetcutError
from trimmer import jobs as jobs_mod
from trimmer.candidates import Candidate, check_deadline, enumerate_candidates, prune
from trimmer.compute import resolve_feature_precision
from trimmer.plot import pareto_front
from trimmer.search import SearchConfig, run_search
from trimmer.trn import build_trn, export_trn, load_trn, TRNConfig

from .conftest import ROOT

TINY = "tests.tinymodels:tiny"


class FakePrediction:
    def __init__(self, block_ms):
        self.block_latency_ms = tuple(block_ms)
        self.prefix_latency_ms = tuple(np.cumsum(block_ms))
        self.prefix_upper_ms = tuple(1.1 * v for v in self.prefix_latency_ms)
        self.extrapolation = ()


class FakePredictor:
    """Latency = 1 ms per block at 8 px, (resolution / 8) ms per block at other resolutions; head 0.5 ms
    (exact numbers for pruning tests)."""

    device_ = {"threads": 1}
    resolutions_ = (8, 64)

    def predict_feature_rows(self, items):
        self.calls = getattr(self, "calls", 0) + 1
        return [FakePrediction([res / 8] * len(rows)) for _, res, _, _, rows in items]

    def head_latency_ms(self, c, h, w, n_classes, batch_size=1):
        return 0.5


@pytest.fixture
def fake_predictor(monkeypatch):
    import latmodel.predict.predictor_io

    monkeypatch.setattr(latmodel.predict.predictor_io, "load_predictor", lambda path: FakePredictor())
    return FakePredictor()


@pytest.fixture
def tiny_npz(tmp_path):
    """3 classes of 8x8 greyscale images, separable by brightness pattern."""
    rng = np.random.default_rng(0)

    def make(n):
        y = np.repeat(np.arange(3), n)
        x = rng.integers(0, 40, size=(len(y), 8, 8)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, :, label * 2:label * 2 + 3] += 200
        return x, y

    train_x, train_y = make(20)
    test_x, test_y = make(6)
    path = tmp_path / "tiny.npz"
    np.savez(path, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
             classes=np.array(["a", "b", "c"]))
    return path


def test_candidates_prefix_sums_and_pruning(fake_predictor):
    cands = enumerate_candidates(fake_predictor, [TINY], resolutions=(8,), n_classes=3)
    assert [c.cut for c in cands] == [0, 1, 2, 3]
    assert [c.predicted_latency_ms for c in cands] == [1.5, 2.5, 3.5, 4.5]
    assert [c.off_the_shelf for c in cands] == [False, False, False, True]
    kept, pruned = prune(cands, 2.5)
    assert [c.cut for c in kept] == [0, 1] and [c.cut for c in pruned] == [2, 3]
    kept_u, _ = prune(cands, 2.5, margin="upper")  # upper = 1.1 x backbone + head
    assert [c.cut for c in kept_u] == [0]
    assert Candidate.from_dict(cands[2].to_dict()) == cands[2]
    with pytest.raises(NetcutError, match=r"fastest is tests.tinymodels:tiny@8px/cut00 .* 1.50 ms"):
        check_deadline(cands, 1.0)


def test_pareto_front():
    pts = [(1, 0.5), (2, 0.4), (3, 0.8), (3, 0.7), (4, 0.8), (5, 0.9)]
    assert pareto_front(pts) == [(1, 0.5), (3, 0.8), (5, 0.9)]


def test_trn_full_depth_reproduces_base_features_and_export_round_trip(tmp_path):
    torch.manual_seed(0)
    from tests.tinymodels import tiny

    model = tiny()
    chain = load_chain(TINY, 8, model=model)
    trn = build_trn(chain, len(chain) - 1, 3)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(trn.forward_features(x), model[:7](x))
    cfg = TRNConfig(base=TINY, cut=len(chain) - 1, resolution_px=8, n_classes=3, classes=("a", "b", "c"))
    export_trn(trn, cfg, tmp_path / "trn")
    loaded, cfg2 = load_trn(tmp_path / "trn")
    import dataclasses
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is not None:  # exported and checked against PyTorch
        assert cfg2.onnx_file == "trn.onnx" and (tmp_path / "trn" / "trn.onnx").is_file()
        assert cfg2.onnx_check.startswith("onnxruntime: max|diff|/max|torch| = ") and cfg2.onnx_check.endswith("<= 0.0001")
    assert cfg2 == dataclasses.replace(cfg, onnx_file=cfg2.onnx_file, onnx_check=cfg2.onnx_check)
    with torch.no_grad():
        assert torch.equal(loaded(x), trn(x))
        # the TorchScript file is what LibTorch / mobile runtimes load (trimmer.trn.export_trn); torch deprecates
        # loading it from Python, which this check does on purpose
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit\.load.*")
            scripted = torch.jit.load(str(tmp_path / "trn" / "trn.torchscript.pt"))
        assert torch.allclose(scripted(x), trn(x))


def test_trn_config_path_traversal_refused(tmp_path):
    from latmodel.errors import ArtifactError

    d = TRNConfig(base=TINY, cut=0, resolution_px=8, n_classes=2, classes=("a", "b")).to_dict()
    d["state_dict_file"] = "../../etc/passwd"
    (tmp_path / "trn.json").write_text(json.dumps(d))
    with pytest.raises(ArtifactError, match="not a plain file name"):
        load_trn(tmp_path)


def _config(npz, **kw):
    base = dict(deadline_ms=3.0, models=(TINY,), predictor="unused", data=str(npz), epochs=3, resolutions_px=(8,),
                pretrained=False, batch_size=16, propose="feasible", margin="none")
    base.update(kw)
    return SearchConfig(**base)


def test_search_end_to_end_resume_and_report(fake_predictor, tiny_npz, tmp_path, monkeypatch):
    out = tmp_path / "run"
    report = run_search(_config(tiny_npz), out, progress=False)
    assert report["candidates_total"] == 4
    assert report["candidates_pruned"] == 2  # 3.5 and 4.5 ms > 3 ms
    assert report["candidates_kept"] == 2 == report["candidates_trained"]
    assert report["chosen"]["predicted_latency_ms"] <= 3.0
    assert report["best_off_the_shelf"] is None and report["relative_accuracy_gain"] is None
    assert report["fastest_off_the_shelf"] == {"candidate_id": "tests.tinymodels:tiny@8px/cut03",
                                               "predicted_latency_ms": 4.5, "predicted_upper_ms": 4.9,
                                               "meets_deadline": False}
    from trimmer.summary import summary_text

    assert ("best off-the-shelf: none meets the 3 ms deadline at any resolution searched (8 px); the fastest, "
            "tests.tinymodels:tiny@8px/cut03, is predicted 4.50 ms; add a lower resolution to --resolutions to "
            "compare with one") in summary_text(report, out)
    for name in ("candidates.csv", "report.json", "pareto.png", "trn/trn.json", "trn/state_dict.pt"):
        assert (out / name).is_file(), name
    rows = (out / "candidates.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("candidate_id,")
    assert json.loads((out / "report.json").read_text()) == report

    # The exported TRN carries its preprocessing: on raw uint8 images it reproduces the test accuracy.
    from trimmer.trn import load_trn_pipeline

    pipe = load_trn_pipeline(out / "trn")
    raw = np.load(tiny_npz)
    with torch.no_grad():
        acc = float((pipe(torch.from_numpy(raw["test_x"])).argmax(1).numpy() == raw["test_y"]).mean())
    assert acc == pytest.approx(report["chosen"]["test_accuracy"])
    cfg = json.loads((out / "trn" / "trn.json").read_text())
    assert cfg["mean"] == [0.485, 0.456, 0.406] and cfg["std"] == [0.229, 0.224, 0.225]
    assert "resized bilinearly with antialiasing to 8x8" in cfg["preprocessing"]
    # README's deployment example runs as written (on this TRN)
    readme = (ROOT / "README.md").read_text()
    example = readme.split("<!-- deploy-example -->\n```python\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) == 5
    monkeypatch.chdir(ROOT)
    exec(compile(example.replace('"runs/demo/trn"', repr(str(out / "trn"))), "README", "exec"), {})

    # Resume: nothing is retrained.
    def boom(*a, **k):
        raise AssertionError("a finished candidate was retrained")

    monkeypatch.setattr(jobs_mod, "run_job", boom)
    again = run_search(_config(tiny_npz), out, progress=False)
    assert again["candidates_trained_this_run"] == 0 and again["candidates_resumed"] == 2
    assert again["chosen"] == report["chosen"]


def test_exhaustive_trains_everything_and_gain_is_consistent(fake_predictor, tiny_npz, tmp_path):
    report = run_search(_config(tiny_npz, deadline_ms=5.0, exhaustive=True), tmp_path / "ex", progress=False)
    assert report["candidates_trained"] == 4 and report["candidates_pruned"] == 0
    ots = report["best_off_the_shelf"]
    chosen = report["chosen"]
    assert ots["off_the_shelf"] and ots["cut"] == 3
    assert chosen["val_accuracy"] >= ots["val_accuracy"]
    assert report["relative_accuracy_gain"] == pytest.approx(chosen["test_accuracy"] / ots["test_accuracy"] - 1)


def test_changed_training_settings_refuse_resume(fake_predictor, tiny_npz, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_search(_config(tiny_npz), out, progress=False)
    import trimmer.data

    loads = []
    monkeypatch.setattr(trimmer.data, "load_data", lambda *a, **k: loads.append(1))
    # refused before the data (or any network) is loaded
    with pytest.raises(NetcutError, match="other training settings \\(train differ\\)"):
        run_search(_config(tiny_npz, epochs=4), out, progress=False)
    with pytest.raises(NetcutError, match="other training settings \\(data_spec differ\\)"):
        run_search(_config(tiny_npz, limit_per_class=5), out, progress=False)
    with pytest.raises(NetcutError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        run_search(_config(tiny_npz, scheduler="tcp://127.0.0.1:9"), tmp_path / "new", progress=False)
    assert loads == [] and not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "kw,needle",
    [
        (dict(deadline_ms=0.5), "no candidate can meet the 0.5 ms deadline"),
        (dict(data="/no/such/dataset"), "neither a known dataset"),
        (dict(resolutions_px=(8, 224)), "calibrated at 8..64 px and cannot price 224 px"),
        (dict(models=("mobilenet_v2",), resolutions_px=(16,)), "mobilenet_v2 takes inputs of at least 32 px"),
    ],
)
def test_search_bad_input(fake_predictor, tiny_npz, tmp_path, kw, needle):
    out = tmp_path / "run"
    with pytest.raises(NetcutError, match=needle):
        run_search(_config(tiny_npz, **kw), out, progress=False)
    assert not (out / "report.json").exists()


def test_search_config_validation():
    with pytest.raises(NetcutError, match="--epochs must be an integer >= 1"):
        SearchConfig(epochs=0)
    with pytest.raises(NetcutError, match="--mode must be one of"):
        SearchConfig(mode="bogus")
    with pytest.raises(NetcutError, match="--probe-precision must be one of auto, float32, bfloat16, got 'fp16'"):
        SearchConfig(probe_precision="fp16")
    with pytest.raises(NetcutError, match="--data-seed must be an integer >= 0, got -1"):
        SearchConfig(data_seed=-1)


def test_data_seed_keeps_the_images_while_seed_changes_the_training(fake_predictor, tiny_npz, tmp_path, monkeypatch):
    import trimmer.data

    seen, real = [], trimmer.data.load_data
    monkeypatch.setattr(trimmer.data, "load_data", lambda *a, **k: seen.append(k["seed"]) or real(*a, **k))
    report = run_search(_config(tiny_npz, seed=1, data_seed=0), tmp_path / "a", progress=False)
    assert seen == [0] and (report["seed"], report["data_seed"]) == (1, 0)
    assert run_search(_config(tiny_npz, seed=2), tmp_path / "b", progress=False)["data_seed"] == 2
    assert seen == [0, 2]


def test_verify_measures_the_chosen_trn(fake_predictor, tiny_npz, tmp_path):
    report = run_search(_config(tiny_npz, verify=True), tmp_path / "v", progress=False)
    chosen = report["chosen"]
    assert chosen["verified_latency_ms"] > 0
    assert chosen["verified_meets_deadline"] == (chosen["verified_latency_ms"] <= 3.0)


def test_finetune_search_builds_each_base_once_and_keeps_only_winning_weights(fake_predictor, tiny_npz, tmp_path,
                                                                              monkeypatch):
    import trimmer.weights

    calls = []
    orig = trimmer.weights.load_pretrained
    monkeypatch.setattr(trimmer.weights, "load_pretrained", lambda *a, **k: calls.append(a) or orig(*a, **k))
    jobs_mod.clear_base_cache()
    out = tmp_path / "ft"
    report = run_search(_config(tiny_npz, mode="finetune", deadline_ms=5.0, exhaustive=True, epochs=1), out,
                        progress=False)
    assert len(calls) == 1  # parent, features and every job share one build per process
    results = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
    assert len(results) == 4
    chosen = next(r for r in results if r["candidate_id"] == report["chosen"]["candidate_id"])
    assert chosen["weights_file"] and (out / "weights" / chosen["weights_file"]).is_file()
    # a candidate whose result ranks below an earlier one was never a possible winner: no weights kept
    kept = sorted(p.name for p in (out / "weights").iterdir())
    assert kept == sorted(r["weights_file"] for r in results if r["weights_file"])


def test_data_file_round_trip(tiny_npz, tmp_path):
    from trimmer.data import load_data

    data = load_data(str(tiny_npz))
    (tmp_path / "d").mkdir()
    ref = jobs_mod._DataFile.write(data, tmp_path / "d")
    back = jobs_mod._job_data(ref)
    assert jobs_mod._job_data(ref) is back  # loaded once per process
    for name in jobs_mod.SPLIT_ARRAYS:
        assert torch.equal(getattr(back, name), getattr(data, name))
    assert back.classes == data.classes and back.source == data.source


def test_load_data_dispatches_through_the_registry(monkeypatch, tiny_npz):
    from trimmer import data as data_mod

    seen = []

    def fake(**kw):
        seen.append(kw)
        return data_mod.load_npz(tiny_npz, **kw)

    monkeypatch.setitem(data_mod.DATASETS, "my-set", data_mod.DatasetKind(fake, by_name=True))
    assert data_mod.load_data("my-set", seed=3).n_classes == 3
    assert seen and seen[0]["seed"] == 3


def test_ranked_probes_every_feasible_candidate_and_retrains_the_top_k(fake_predictor, tiny_npz, tmp_path):
    out = tmp_path / "ranked"
    report = run_search(_config(tiny_npz, propose="ranked", top_k=1, deadline_ms=4.0), out, progress=False)
    assert report["propose"] == "ranked" and report["candidates_kept"] == 3
    assert report["candidates_probed"] == 3 and report["candidates_fine_tuned"] == 1 == report["candidates_trained"]
    import csv

    rows = {r["candidate_id"]: r for r in csv.DictReader(open(out / "candidates.csv"))}
    tuned = [r for r in rows.values() if r["fine_tuned"] == "True"]
    assert len(tuned) == 1 and tuned[0]["probe_rank"] == "1" and tuned[0]["candidate_id"] == report["chosen"]["candidate_id"]
    assert sorted(r["probe_rank"] for r in rows.values() if r["status"] == "kept") == ["1", "2", "3"]
    assert all(r["probe_val_accuracy"] == "" for r in rows.values() if r["status"] == "pruned")
    lo, hi = report["chosen"]["val_accuracy_ci95"]
    assert lo <= report["chosen"]["val_accuracy"] <= hi
    # resumed: the probe and the fine-tuning are both read back, nothing recomputed
    again = run_search(_config(tiny_npz, propose="ranked", top_k=1, deadline_ms=4.0), out, progress=False)
    assert again["candidates_trained_this_run"] == 0 and again["chosen"] == report["chosen"]


def test_ranked_fine_tunes_the_best_off_the_shelf_network_as_the_baseline(fake_predictor, tiny_npz, tmp_path):
    report = run_search(_config(tiny_npz, propose="ranked", top_k=1, deadline_ms=100.0), tmp_path / "r",
                        progress=False)
    op = report["best_off_the_shelf_by_probe"]
    # on the tiny set the whole network ties on the probe with shallower cuts: the faster one is the TRN fine-tuned
    # (issue 24); the off-the-shelf network is fine-tuned too, as the baseline the gain is measured against
    assert op["candidate_id"] == "tests.tinymodels:tiny@8px/cut03" == report["best_off_the_shelf"]["candidate_id"]
    assert op["chosen_probe_val_accuracy"] == op["probe_val_accuracy"]
    assert report["candidates_fine_tuned"] == 2 == report["candidates_trained"]
    assert report["chosen"]["val_accuracy"] >= report["best_off_the_shelf"]["val_accuracy"]  # the baseline may win
    gain, (lo, hi) = report["relative_accuracy_gain"], report["relative_accuracy_gain_ci95"]
    assert gain == pytest.approx(report["chosen"]["test_accuracy"] / report["best_off_the_shelf"]["test_accuracy"] - 1)
    assert lo <= gain <= hi


def test_summary_names_the_probe_best_off_the_shelf_when_it_was_not_fine_tuned(tmp_path):
    from trimmer.summary import summary_text

    report = {"margin": "upper", "candidates_probed": 4, "candidates_total": 5, "candidates_pruned": 1,
              "deadline_ms": 9.0, "candidates_trained": 2, "propose": "ranked", "candidates_resumed": 0,
              "exploration_seconds": 3.0, "chosen": None, "best_off_the_shelf": None, "exported_trn": None,
              "best_off_the_shelf_by_probe": {"candidate_id": "net@96px/cut05", "predicted_latency_ms": 7.5,
                                              "predicted_upper_ms": 8.25, "probe_val_accuracy": 0.8,
                                              "chosen_probe_val_accuracy": 0.85}}
    line = summary_text(report, tmp_path).splitlines()[2]
    assert line == ("best off-the-shelf: net@96px/cut05: probe validation accuracy 80.00% (chosen TRN's probe: "
                    "85.00%), predicted 7.50 ms (upper bound 8.25 ms); not fine-tuned by the ranked policy "
                    "(--propose feasible fine-tunes it too)")


def test_deepest_retrains_one_cut_per_base_and_upper_margin_prunes_more(fake_predictor, tiny_npz, tmp_path):
    # prefix k costs k+1 ms, its upper bound 1.1 (k+1), the head 0.5 ms: at 3.7 ms cut 2 (3.5 ms) fits, but its
    # upper bound (3.8 ms) does not
    none = run_search(_config(tiny_npz, propose="deepest", deadline_ms=3.7), tmp_path / "n", progress=False)
    assert none["candidates_trained"] == 1 and none["chosen"]["cut"] == 2
    upper = run_search(_config(tiny_npz, propose="deepest", deadline_ms=3.7, margin="upper"), tmp_path / "u",
                       progress=False)
    assert upper["candidates_kept"] == 2 and upper["chosen"]["cut"] == 1


def test_probe_accuracies_separate_informative_from_noise_features():
    from trimmer.probe import probe_accuracies

    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    signal = torch.nn.functional.one_hot(y, 3).float() * 3 + 0.1 * torch.randn(60, 3, generator=g)
    noise = torch.randn(60, 3, generator=g)
    scores = probe_accuracies({0: noise[:45], 1: signal[:45]}, y[:45], {0: noise[45:], 1: signal[45:]}, y[45:])
    assert scores[1][0] == 1.0 and scores[0][0] < 0.7
    with pytest.raises(NetcutError, match="validation images"):
        probe_accuracies({0: signal}, y, {0: signal[:0]}, y[:0])


def test_probe_dual_solve_equals_the_primal_one_when_features_outnumber_images():
    from trimmer.probe import PROBE_ALPHAS, _ridge_dual, _ridge_primal

    g = torch.Generator().manual_seed(0)
    z = torch.randn(40, 90, generator=g, dtype=torch.float64)
    targets = -torch.ones(40, 4, dtype=torch.float64)
    targets[torch.arange(40), torch.arange(40) % 4] = 1.0
    for alphas in (PROBE_ALPHAS, (0.5,)):
        (loo_p, alpha_p, coef_p), (loo_d, alpha_d, coef_d) = (_ridge_primal(z, targets, alphas),
                                                              _ridge_dual(z, targets, alphas))
        assert alpha_p == alpha_d and loo_p == pytest.approx(loo_d, rel=1e-9)
        assert torch.allclose(coef_p, coef_d, atol=1e-10)


def _four_candidates() -> list[Candidate]:
    """a/cut00 1 ms, a/cut01 2 ms, b/cut00 1.5 ms, b/cut02 3 ms; FLOPs cut + 1; bounds equal to predictions."""
    def cand(base, cut, ms):
        return Candidate(base=base, cut=cut, n_blocks=4, block_name=f"b{cut}", resolution_px=8, out_channels=4,
                         flops=cut + 1, backbone_latency_ms=ms, head_latency_ms=0.0, predicted_latency_ms=ms,
                         predicted_upper_ms=ms)

    return [cand("a", 0, 1.0), cand("a", 1, 2.0), cand("b", 0, 1.5), cand("b", 2, 3.0)]


def test_proposal_policies_exact():
    from trimmer.proposal import propose

    cands = _four_candidates()
    scores = {"a@8px/cut00": 0.5, "a@8px/cut01": 0.9, "b@8px/cut00": 0.9, "b@8px/cut02": 0.7}
    assert [c.candidate_id for c in propose("deepest", cands)] == ["a@8px/cut01", "b@8px/cut02"]
    assert len(propose("feasible", cands)) == 4
    # a tie on the probe goes to the faster candidate: b/cut00 (1.5 ms) over a/cut01 (2 ms)
    assert [c.candidate_id for c in propose("ranked", cands, scores=scores, top_k=1)] == ["b@8px/cut00"]
    assert len(propose("ranked", cands, scores=scores, top_k=3)) == 3
    with pytest.raises(NetcutError, match="--propose must be one of ranked, deepest, feasible"):
        propose("best", cands)


def test_tie_break_names_the_fastest_indistinguishable_candidate_without_choosing_it():
    from trimmer.report import TIE_BREAK_RULE, tie_break
    from trimmer.state import CandidateResult

    a0, a1, b0, b2 = _four_candidates()
    res = {c.candidate_id: CandidateResult(c.candidate_id, val, 0.5, 1, 1.0)
           for c, val in ((a0, 0.80), (a1, 0.90), (b0, 0.85), (b2, 0.50))}
    # 100 validation images: 0.90 vs 0.85 differ by less than 1.96 * sqrt((.09 + .1275) / 100) = 0.0914;
    # 0.90 vs 0.80 by more (0.1 > 1.96 * sqrt((.09 + .16) / 100) = 0.098); 0.50 is far off
    tb = tie_break((a1, res[a1.candidate_id]), res, [a0, a1, b0, b2], 100)
    assert tb == {"rule": TIE_BREAK_RULE, "indistinguishable": 1,
                  "fastest_indistinguishable": {"candidate_id": "b@8px/cut00", "predicted_latency_ms": 1.5,
                                                "val_accuracy": 0.85, "test_accuracy": 0.5}}
    # the chosen one is already the fastest of its indistinguishable ones: nothing to name
    tb = tie_break((a0, res[a0.candidate_id]), res, [a0, a1, b0, b2], 100)
    assert tb["indistinguishable"] == 1 and tb["fastest_indistinguishable"] is None
    assert tie_break(None, res, [a0], 100)["indistinguishable"] == 0


def test_ranked_top_k_is_one_per_chain_before_a_second_from_the_same():
    from trimmer.proposal import propose

    cands = _four_candidates()
    scores = {"a@8px/cut01": 0.95, "a@8px/cut00": 0.9, "b@8px/cut00": 0.85, "b@8px/cut02": 0.6}
    ids = lambda cs: [c.candidate_id for c in cs]  # noqa: E731
    # a/cut00 is a near-copy of a/cut01 (same base and resolution): the other chain's best comes first
    assert ids(propose("ranked", cands, scores=scores, top_k=2)) == ["a@8px/cut01", "b@8px/cut00"]
    # more than there are chains: then the next best of any chain
    assert ids(propose("ranked", cands, scores=scores, top_k=3)) == ["a@8px/cut00", "a@8px/cut01", "b@8px/cut00"]
    asked = []

    def meets(c):  # b's only candidates miss the deadline: a's second one fills the place, each asked once
        asked.append(c.candidate_id)
        return c.base == "a"

    assert ids(propose("ranked", cands, scores=scores, top_k=2, meets=meets)) == ["a@8px/cut00", "a@8px/cut01"]
    assert asked == ["a@8px/cut01", "b@8px/cut00", "b@8px/cut02", "a@8px/cut00"]


class FakeDevice:
    """Times a candidate as ``latency_ms[cut]`` and counts the calls (the fake device for --margin measured)."""

    def __init__(self, latency_ms):
        self.latency_ms = latency_ms
        self.calls = []

    def __call__(self, cand):
        self.calls.append(cand.cut)
        return self.latency_ms[cand.cut]


@pytest.mark.parametrize("measured_ms,chosen_cut", [(3.6, 2), (3.9, 1)])
def test_measured_margin_times_only_the_borderline_candidate_and_resumes(fake_predictor, tiny_npz, tmp_path,
                                                                          measured_ms, chosen_cut):
    # at 3.7 ms: cuts 0 and 1 meet it by their upper bounds (1.6, 2.7 ms), cut 2 is borderline (predicted 3.5 ms,
    # upper bound 3.8 ms) and timed, cut 3 (predicted 4.5 ms) is pruned
    device = FakeDevice({2: measured_ms})
    out = tmp_path / "m"
    report = run_search(_config(tiny_npz, propose="deepest", deadline_ms=3.7, margin="measured"), out,
                        progress=False, measure=device)
    assert device.calls == [2]
    assert report["candidates_kept"] == 3 and report["candidates_measured"] == 1
    assert report["chosen"]["cut"] == chosen_cut and report["candidates_trained"] == 1
    import csv

    rows = {int(r["cut"]): r for r in csv.DictReader(open(out / "candidates.csv"))}
    assert [rows[k]["measured_latency_ms"] for k in range(4)] == ["", "", str(measured_ms), ""]
    assert ("measured_latency_ms" in report["chosen"]) == (chosen_cut == 2)
    again = run_search(_config(tiny_npz, propose="deepest", deadline_ms=3.7, margin="measured"), out,
                       progress=False, measure=device)
    assert device.calls == [2] and again["candidates_measured_this_run"] == 0
    assert again["chosen"] == report["chosen"]


def test_measured_margin_feasible_times_every_borderline_and_exhaustive_only_possible_winners(fake_predictor,
                                                                                            tiny_npz, tmp_path):
    device = FakeDevice({2: 3.9, 3: 4.0})
    feasible = run_search(_config(tiny_npz, propose="feasible", deadline_ms=3.7, margin="measured"), tmp_path / "f",
                          progress=False, measure=device)
    assert device.calls == [2] and feasible["candidates_trained"] == 2  # cut 2 timed over the deadline: not retrained
    # at 4.6 ms only cut 3 (predicted 4.5, upper bound 4.9 ms) is borderline; the exhaustive run trains all and
    # times it at most once, and only if it ranks first so far (a possible winner)
    device = FakeDevice({3: 4.5})
    ex = run_search(_config(tiny_npz, deadline_ms=4.6, exhaustive=True, margin="measured"), tmp_path / "e",
                    progress=False, measure=device)
    assert ex["candidates_trained"] == 4 and device.calls in ([], [3])
    device = FakeDevice({3: 4.7})
    over = run_search(_config(tiny_npz, deadline_ms=4.6, exhaustive=True, margin="measured"), tmp_path / "o",
                      progress=False, measure=device)
    assert over["chosen"]["cut"] != 3 and over["best_off_the_shelf"] is None


def test_measured_margin_refuses_another_device_before_any_work(fake_predictor, tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(FakePredictor, "device_", {"threads": 1, "device_id": "0123456789", "device_name": "Jetson"})
    out = tmp_path / "m"
    with pytest.raises(NetcutError, match=r"the predictor was measured on Jetson .*\[id 0123456789\]; this machine is "
                                          r".*--margin upper"):
        run_search(_config(tiny_npz, margin="measured"), out, progress=False)
    assert not out.exists()


def test_policies_confirm_only_what_they_would_retrain():
    from trimmer.proposal import propose

    cands = _four_candidates()
    scores = {"a@8px/cut00": 0.5, "a@8px/cut01": 0.9, "b@8px/cut00": 0.8, "b@8px/cut02": 0.7}
    asked = []

    def meets(c):
        asked.append(c.candidate_id)
        return c.candidate_id not in {"a@8px/cut01", "b@8px/cut02"}

    assert [c.candidate_id for c in propose("ranked", cands, scores=scores, top_k=1, meets=meets)] == ["b@8px/cut00"]
    assert asked == ["a@8px/cut01", "b@8px/cut00"]
    asked.clear()
    assert [c.candidate_id for c in propose("deepest", cands, meets=meets)] == ["a@8px/cut00", "b@8px/cut00"]
    assert sorted(asked) == sorted(["a@8px/cut01", "a@8px/cut00", "b@8px/cut02", "b@8px/cut00"])
    assert [c.candidate_id for c in propose("feasible", cands, meets=meets)] == ["a@8px/cut00", "b@8px/cut00"]


def test_candidates_cli_counts_borderline_candidates_under_measured(fake_predictor, capsys):
    from trimmer.cli import main

    assert main(["candidates", "--models", TINY, "--resolutions", "8", "--deadline-ms", "3.7", "--margin", "measured",
                 "--predictor", "unused"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("2 of 4 candidates meet the 3.7 ms deadline by their upper bound; 1 more are borderline")


def test_ranking_pass_never_runs_a_block_past_the_deepest_feasible_cut(fake_predictor, tiny_npz, tmp_path,
                                                                        monkeypatch):
    import trimmer.probe

    calls = {}
    orig = trimmer.probe.probe_base

    def counting(chain, ids, *a, **k):
        hooks = [b.register_forward_hook(lambda m, i, o, k=k_: calls.__setitem__(k, calls.get(k, 0) + 1))
                 for k_, b in enumerate(chain.blocks)]
        try:
            return orig(chain, ids, *a, **k)
        finally:
            for h in hooks:
                h.remove()

    monkeypatch.setattr(trimmer.probe, "probe_base", counting)
    import trimmer.pooled  # the hooks are on the caller's blocks: run those, not batch-norm-folded copies

    monkeypatch.setattr(trimmer.pooled, "fold_batch_norms", lambda block: block)
    # 3 ms with the point prediction keeps cuts 0 and 1 (1.5, 2.5 ms); blocks 2 and 3 must never run
    report = run_search(_config(tiny_npz, propose="ranked", top_k=1), tmp_path / "r", progress=False)
    assert report["candidates_probed"] == 2
    assert sorted(calls) == [0, 1] and calls[0] == calls[1] > 0


@pytest.mark.parametrize("policy", ["feasible", "deepest", "ranked"])
def test_every_policy_resumes_without_retraining(fake_predictor, tiny_npz, tmp_path, monkeypatch, policy):
    out = tmp_path / policy
    first = run_search(_config(tiny_npz, propose=policy, deadline_ms=4.0), out, progress=False)

    def boom(*a, **k):
        raise AssertionError("a finished candidate was retrained")

    monkeypatch.setattr(jobs_mod, "run_job", boom)
    again = run_search(_config(tiny_npz, propose=policy, deadline_ms=4.0), out, progress=False)
    assert again["candidates_trained_this_run"] == 0 and again["candidates_resumed"] == first["candidates_trained"]
    assert again["chosen"] == first["chosen"] and again["propose"] == policy


def test_ctrl_c_before_anything_was_saved_says_so(tmp_path, monkeypatch, capsys):
    import trimmer.search
    from trimmer.cli import main

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trimmer.search, "run_search", interrupted)
    out = tmp_path / "run"
    assert main(["search", "--out", str(out), "--predictor", str(ROOT / "data" / "predictors" / "cpu-1thread")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "trimmer: interrupted before anything was saved; nothing to resume"
    (out / "results").mkdir(parents=True)
    (out / "results" / "x.json").write_text("{}")
    assert main(["search", "--out", str(out), "--predictor", str(ROOT / "data" / "predictors" / "cpu-1thread")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "trimmer: interrupted; run the same command again to resume where it stopped"


def test_empty_models_is_refused_not_the_defaults(capsys):
    from trimmer.cli import main

    assert main(["candidates", "--deadline-ms", "9", "--models", ""]) == 2
    assert "expected a comma-separated list of model names, got ''" in capsys.readouterr().err


def test_a_new_deadline_keeps_the_earlier_chosen_trn(fake_predictor, tiny_npz, tmp_path):
    out = tmp_path / "run"
    first = run_search(_config(tiny_npz), out, progress=False)
    before = (out / "trn" / "state_dict.pt").read_bytes()
    second = run_search(_config(tiny_npz, deadline_ms=5.0), out, progress=False)
    assert second["deadline_ms"] == 5.0 and second["candidates_resumed"] == first["candidates_trained"]
    kept = out / "deadline-3ms"
    assert (kept / "trn" / "state_dict.pt").read_bytes() == before
    assert json.loads((kept / "report.json").read_text())["deadline_ms"] == 3.0
    assert json.loads((out / "report.json").read_text())["deadline_ms"] == 5.0


def test_a_chain_of_the_registry_structure_is_priced_from_cached_features_without_a_trace(fake_predictor, monkeypatch):
    import latmodel.graph.features as features_mod
    import torch.nn as nn

    traced = []
    orig = features_mod.chain_features
    monkeypatch.setattr(features_mod, "chain_features", lambda chain, **k: traced.append(chain) or orig(chain, **k))
    chain = load_chain(TINY, 8)
    plain = enumerate_candidates(fake_predictor, [TINY], resolutions=(8,), n_classes=3)
    same = enumerate_candidates(fake_predictor, [TINY], resolutions=(8,), n_classes=3, chains={(TINY, 8): chain})
    assert traced == [] and same == plain
    # another structure under the same name (a block with other parameters) is traced from the chain itself
    other = load_chain(TINY, 8)
    first = other.blocks[0]
    conv = next(m for m in first.modules() if isinstance(m, nn.Conv2d))
    conv.register_parameter("extra", nn.Parameter(torch.zeros(3)))
    enumerate_candidates(fake_predictor, [TINY], resolutions=(8,), n_classes=3, chains={(TINY, 8): other})
    assert traced == [other]


# --------------------------------------------------------------------------- depth x input resolution


def test_candidates_per_base_resolution_and_cut_in_one_predictor_call(fake_predictor):
    cands = enumerate_candidates(fake_predictor, [TINY], resolutions=(8, 16), n_classes=3)
    assert fake_predictor.calls == 1  # every (base, resolution) priced in one batched call
    assert [(c.resolution_px, c.cut) for c in cands] == [(8, k) for k in range(4)] + [(16, k) for k in range(4)]
    assert [c.predicted_latency_ms for c in cands] == [1.5, 2.5, 3.5, 4.5, 2.5, 4.5, 6.5, 8.5]
    assert [c.candidate_id for c in cands if c.off_the_shelf] == [f"{TINY}@8px/cut03", f"{TINY}@16px/cut03"]


@pytest.fixture
def probed(monkeypatch):
    """``(resolution, sorted cuts)`` of every probe pass run (trimmer.probe.probe_base, still run)."""
    import trimmer.probe

    calls = []
    orig = trimmer.probe.probe_base
    monkeypatch.setattr(trimmer.probe, "probe_base",
                        lambda chain, ids, data, res, **k: calls.append((res, sorted(ids))) or orig(chain, ids, data, res, **k))
    return calls


def test_resolutions_probe_once_per_base_and_resolution_and_fine_tune_the_off_the_shelf_baseline(
        fake_predictor, tiny_npz, tmp_path, monkeypatch, probed):
    out = tmp_path / "r"
    # 5 ms: at 8 px every cut fits (1.5..4.5 ms), at 16 px cuts 0 and 1 (2.5, 4.5 ms)
    config = _config(tiny_npz, propose="ranked", top_k=1, deadline_ms=5.0, resolutions_px=(8, 16))
    report = run_search(config, out, progress=False)
    assert sorted(probed) == [(8, [0, 1, 2, 3]), (16, [0, 1])]
    assert report["candidates_total"] == 8 and report["candidates_kept"] == 6 == report["candidates_probed"]
    assert report["resolutions_px"] == [8, 16]
    assert report["best_off_the_shelf"]["candidate_id"] == f"{TINY}@8px/cut03"  # the only one that fits
    assert report["best_off_the_shelf"]["resolution_px"] == 8
    assert report["relative_accuracy_gain"] is not None
    # resume with the same resolutions: nothing probed or retrained again; with one of them: its results reused
    monkeypatch.setattr(jobs_mod, "run_job", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = run_search(config, out, progress=False)
    assert len(probed) == 2 and again["candidates_trained_this_run"] == 0 and again["chosen"] == report["chosen"]
    only8 = run_search(_config(tiny_npz, propose="ranked", top_k=1, deadline_ms=5.0, resolutions_px=(8,)), out,
                       progress=False)
    assert only8["candidates_total"] == 4 and only8["candidates_trained_this_run"] == 0


def test_a_new_deadline_in_the_same_out_probes_only_the_cuts_not_scored_before(
        fake_predictor, tiny_npz, tmp_path, probed):
    out = tmp_path / "sweep"
    first = run_search(_config(tiny_npz, propose="ranked", deadline_ms=3.0), out, progress=False)  # cuts 0, 1 fit
    assert probed == [(8, [0, 1])]
    wider = run_search(_config(tiny_npz, propose="ranked", deadline_ms=5.0), out, progress=False)  # all 4 fit
    assert probed == [(8, [0, 1]), (8, [2, 3])]  # only the new cuts: the pass stops at cut 3
    assert wider["candidates_probed"] == 4
    saved = json.loads((out / "probe" / next(p.name for p in (out / "probe").iterdir())).read_text())
    assert [s["candidate_id"] for s in saved["scores"]] == [f"{TINY}@8px/cut0{k}" for k in range(4)]
    narrow = run_search(_config(tiny_npz, propose="ranked", deadline_ms=3.0), out, progress=False)
    assert len(probed) == 2 and narrow["chosen"] == first["chosen"]
    # another probe setting is not reused (auto is one of the two here)
    other = "float32" if resolve_feature_precision("auto") == "bfloat16" else "bfloat16"
    run_search(_config(tiny_npz, propose="ranked", deadline_ms=3.0, probe_precision=other), out, progress=False)
    assert probed[-1] == (8, [0, 1])


@pytest.mark.parametrize("value,needle", [
    ("0", "expected comma-separated positive pixel sizes (e.g. 96,128,160) or auto, got '0'"),
    ("abc", "got 'abc'"),
    ("96,96", "expected each pixel size once, got '96,96'"),
])
def test_bad_resolutions_exit_2_with_one_line_and_nothing_written(tmp_path, capsys, value, needle):
    from trimmer.cli import main

    out = tmp_path / "run"
    assert main(["search", "--resolutions", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and not out.exists()


def test_a_resolution_below_the_base_minimum_is_refused_before_any_work(tmp_path, capsys):
    from trimmer.cli import main

    out = tmp_path / "run"
    assert main(["search", "--models", "mobilenet_v2", "--resolutions", "16,96", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["trimmer: error: mobilenet_v2 takes inputs of at least 32 px, got --resolutions 16,96; drop 16"] \
        and not out.exists()


@pytest.mark.parametrize("deadline,expected", [
    (13.0, (16, 24, 32)),  # full networks fit up to 24 px (12.5 ms): one below, it, one above
    (5.0, (8, 16, 24)),    # only at 8 px (4.5 ms): the lowest three
    (3.0, (8, 16, 24)),    # nowhere: the lowest three (TRNs only)
    (40.0, (24, 32, 64)),  # everywhere: the top three
])
def test_auto_resolutions_centre_on_the_largest_resolution_a_full_network_meets(fake_predictor, monkeypatch,
                                                                                deadline, expected):
    from trimmer.candidates import auto_resolutions

    # full network at r px: 4 blocks of r/8 ms + 0.5 ms head = 4.5, 8.5, 12.5, 16.5, 32.5 ms at 8, 16, 24, 32, 64 px
    monkeypatch.setattr(fake_predictor, "resolutions_", (8, 16, 24, 32, 64))
    assert auto_resolutions(fake_predictor, [TINY], deadline, margin="none", n_classes=3) == expected


def test_search_with_auto_resolutions_records_the_ones_it_chose(fake_predictor, tiny_npz, tmp_path):
    report = run_search(_config(tiny_npz, resolutions_px="auto", deadline_ms=5.0), tmp_path / "a", progress=False)
    assert report["resolutions_px"] == [8, 64]  # FakePredictor was calibrated at 8 and 64 px
    assert report["candidates_total"] == 8


def test_summary_names_the_predictor_and_the_device_it_was_measured_on(tmp_path):
    from trimmer.summary import summary_text

    report = {"margin": "upper", "candidates_total": 1, "candidates_pruned": 0, "deadline_ms": 9.0,
              "candidates_trained": 0, "propose": "ranked", "candidates_resumed": 0, "exploration_seconds": 1.0,
              "chosen": None, "best_off_the_shelf": None, "exported_trn": None,
              "predictor": {"path": "/x/data/predictors/epyc-avx512-torch-1thread",
                            "device": {"device_name": "AMD EPYC", "cpu_vendor": "AuthenticAMD",
                                       "cpu_model_id": "25/17/1", "cpu_isa": "avx512", "threads": 1,
                                       "runtime": "torch", "runtime_version": "2.14.1", "device_id": "d5af0ca7b2"}}}
    assert ("latencies priced by: epyc-avx512-torch-1thread (measured on AMD EPYC (AuthenticAMD 25/17/1, avx512), "
            "1 thread, torch 2.14.1 [id d5af0ca7b2])") in summary_text(report, tmp_path).splitlines()
    report["predictor"] = {"path": "/x/p", "device": None}
    assert "latencies priced by: p" in summary_text(report, tmp_path).splitlines()
