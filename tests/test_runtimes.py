"""Runtimes: the registry, ONNX export round trips, the chain cache, the profiler driven by a fake runtime."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from latmodel.measure import runtimes
from latmodel.measure.device import DeviceRecord, device_record
from latmodel.errors import ArtifactError, NetcutError, TableError
from latmodel.measure.runtimes import (CHECK_RTOL, RUNTIMES, OnnxExportError, Runtime, RuntimeMissingError, check_outputs,
                               export_onnx, get_runtime, prepare_chain, require_runtime, time_module)

from .conftest import tiny_net

HAS_ONNX = importlib.util.find_spec("onnx") is not None
HAS_ORT = HAS_ONNX and importlib.util.find_spec("onnxruntime") is not None
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx is not installed (pip install 'netcut[runtimes]')")
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed (pip install 'netcut[runtimes]')")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCUT_CACHE_DIR", str(tmp_path / "cache"))


def _reference_load(model: bytes, threads: int):
    """A fake runtime: ONNX's own reference evaluator (pure numpy), counting what it compiles."""
    from onnx.reference import ReferenceEvaluator

    _reference_load.calls += 1
    ev = ReferenceEvaluator(model)
    name = ev.input_names[0]
    return lambda x: ev.run(None, {name: x})[0]


_reference_load.calls = 0
FAKE = Runtime(name="fake", description="ONNX reference evaluator", packages=("onnx",), pip="pip install onnx",
               graph="onnx", devices=("cpu",), version=lambda: "0.0-fake", backend=lambda t: f"reference/t{t}",
               load=_reference_load)


# --------------------------------------------------------------------------- registry


def test_registry_names_and_unknown_runtime():
    assert list(RUNTIMES)[:2] == ["torch", "onnxruntime"] and "openvino" in RUNTIMES
    assert get_runtime("torch").graph == "torch" and get_runtime("onnxruntime").devices == ("cpu",)
    with pytest.raises(NetcutError, match="unknown runtime 'tflite'; choose one of: torch, onnxruntime, openvino, "
                                          "torch-bf16"):
        get_runtime("tflite")


def test_missing_runtime_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(RUNTIMES, "ghost", dataclasses.replace(FAKE, name="ghost", packages=("no_such_pkg_4711",),
                                                               pip="pip install no-such-pkg-4711"))
    with pytest.raises(RuntimeMissingError, match="needs no_such_pkg_4711, which is not installed here; "
                                                  "install it with: pip install no-such-pkg-4711"):
        require_runtime("ghost")
    with pytest.raises(NetcutError, match="runs on cpu, not 'cuda'"):
        require_runtime("onnxruntime", "cuda")


def test_device_record_names_runtime_and_keeps_torch_ids():
    old = {"device_kind": "cpu", "device_name": "Test CPU", "cpu_count": 2, "threads": 1, "torch_version": "2.14.1",
           "backend": "onednn/AVX512", "batch_size": 1}
    rec = DeviceRecord.from_dict(old)  # a record from before runtimes
    assert (rec.runtime, rec.device_id) == ("torch", "a2d97ae49e")
    other = dataclasses.replace(rec, runtime="onnxruntime", runtime_version="1.32.0")
    assert other.device_id != rec.device_id and DeviceRecord.from_dict(other.to_dict()) == other
    assert device_record().runtime == "torch"


# --------------------------------------------------------------------------- export


@needs_ort
def test_export_round_trip_tiny_net(tmp, tiny):
    import torch

    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    tiny[1].train()  # one BatchNorm in training mode: the export must not change anyone's mode
    modes = [m.training for m in tiny.modules()]
    path = export_onnx(tiny, x, tmp / "tiny.onnx")
    assert [m.training for m in tiny.modules()] == modes
    tiny.eval()
    err = check_outputs(tiny, path, x, runtime="onnxruntime")
    assert 0 <= err <= CHECK_RTOL
    assert time_module(tiny, x, runtime="onnxruntime", bursts=2, onnx_path=path) > 0
    assert time_module(tiny, x, runtime="torch", bursts=2) > 0


@needs_ort
def test_eval_transformer_layers_export_without_their_fused_fast_path(tmp):
    """Eval-mode nn.TransformerEncoderLayer runs one fused operator with no ONNX conversion; the export
    turns the fast path off for itself only, and the graph computes the same outputs."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2,
                                enable_nested_tensor=False).eval()
    x = torch.randn(1, 5, 16)
    before = torch.backends.mha.get_fastpath_enabled()
    path = export_onnx(enc, x, tmp / "enc.onnx")
    assert torch.backends.mha.get_fastpath_enabled() == before
    assert 0 <= check_outputs(enc, path, x, runtime="onnxruntime") <= CHECK_RTOL


@needs_ort
def test_blocks_whose_cut_the_exporter_fused_across_are_exported_alone(tmp):
    """A block ending in a transpose before a batch-first attention layer: the exporter cancels the
    transpose pair across the cut, so the attention block's cut would read block 0's tensors."""
    import numpy as np
    import torch
    import torch.nn as nn

    from latmodel.measure.runtimes import prepare_chain

    class Patches(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 4, stride=4)

        def forward(self, x):
            return self.conv(x).flatten(2).transpose(1, 2)

    torch.manual_seed(0)
    blocks = [Patches().eval(), nn.Sequential(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)).eval()]
    x = torch.randn(1, 3, 16, 16)
    chain = prepare_chain("onnxruntime", blocks, x, cache_dir=tmp)
    with torch.no_grad():
        h0 = blocks[0](x)
        h1 = blocks[1](h0)
    assert np.allclose(chain.blocks[1](h0.numpy()), h1.numpy(), atol=1e-5)
    assert np.allclose(chain.prefixes[1](chain.x), h1.numpy(), atol=1e-5)


@needs_ort
def test_check_outputs_refuses_a_wrong_graph(tmp, tiny):
    import torch

    x = torch.randn(1, 3, 8, 8)
    path = export_onnx(tiny, x, tmp / "tiny.onnx")
    with torch.no_grad():
        tiny[-1].bias.add_(1.0)  # the PyTorch network changed after the export
    with pytest.raises(ArtifactError, match="differs from PyTorch by .* of the output's scale"):
        check_outputs(tiny, path, x, runtime="onnxruntime")


@needs_onnx
def test_export_failure_names_the_operator_and_writes_nothing(tmp):
    import torch

    from tests.tinymodels import fft_net

    with pytest.raises(OnnxExportError, match="operator 'aten::fft_fft2' has no ONNX opset 17 conversion"):
        export_onnx(fft_net(), torch.randn(1, 3, 8, 8), tmp / "fft.onnx")
    assert list(tmp.iterdir()) == []


@pytest.fixture
def tmp(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


# --------------------------------------------------------------------------- chains


@needs_onnx
def test_prepare_chain_cuts_blocks_and_prefixes_once(monkeypatch):
    import numpy as np
    import torch

    from latmodel.graph.blocks import split_model

    chain = split_model(tiny_net(), 8, name="tiny")
    x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(1))
    monkeypatch.setitem(RUNTIMES, "fake", FAKE)
    _reference_load.calls = 0
    ready = prepare_chain("fake", list(chain.blocks), x)
    n = len(chain)
    assert _reference_load.calls == 2 * n and len(ready.prefixes) == n
    with torch.no_grad():
        h, refs = x, []
        for b in chain.blocks:
            h = b(h)
            refs.append(h.numpy())
    y = ready.x
    for k in range(n):
        y = ready.blocks[k](y)
        assert np.allclose(y, refs[k], rtol=1e-4, atol=1e-6)
        assert np.allclose(ready.prefixes[k](ready.x), refs[k], rtol=1e-4, atol=1e-6)

    def no_export(*a, **k):
        raise AssertionError("exported again despite the cache")

    monkeypatch.setattr(runtimes, "_export_bytes", no_export)
    prepare_chain("fake", list(chain.blocks), x)  # same blocks, same shape: read from the cache


def test_torch_bf16_runs_bfloat16_copies_and_leaves_the_callers_blocks_as_they_were():
    import torch

    from latmodel.graph.blocks import split_model
    from latmodel.measure.runtimes import compile_module

    chain = split_model(tiny_net(), 8, name="tiny")
    x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(1))
    blocks = list(chain.blocks)
    with torch.inference_mode():
        ready = prepare_chain("torch-bf16", blocks, x)
        ref = torch.nn.Sequential(*blocks)(x)
        out = ready.prefixes[-1](ready.x)
        run, x16 = compile_module("torch-bf16", torch.nn.Sequential(*blocks), x)
        again = run(x16)
    assert ready.x.dtype == out.dtype == again.dtype == torch.bfloat16 and len(ready.blocks) == len(blocks)
    assert all(p.dtype == torch.float32 for b in blocks for p in b.parameters())  # the caller's blocks untouched
    assert float((out.float() - ref).abs().max() / ref.abs().max()) < 0.05  # bfloat16's 8 mantissa bits
    bf16, fp32 = device_record(runtime="torch-bf16"), device_record()
    assert bf16.backend == fp32.backend + "/bfloat16" and bf16.runtime_version == fp32.torch_version
    assert bf16.device_id != fp32.device_id


def test_a_torch_bf16_profile_records_its_runtime_and_the_float32_features(tmp_path, monkeypatch):
    from latmodel.graph.netfeatures import network_features

    df = _profile_tiny(tmp_path, monkeypatch, "torch-bf16").sort_values("block_index")
    assert set(df["runtime"]) == {"torch-bf16"}
    assert df["config_id"].iloc[0].endswith(device_record(runtime="torch-bf16").device_id)
    fp32 = network_features("tests.tinymodels:tiny", 8)
    assert df["param_bytes"].tolist() == [r["param_bytes"] for r in fp32]  # features describe the network
    assert (df["prefix_ms"] > 0).all()


# --------------------------------------------------------------------------- profiler


def _profile_tiny(tmp_path, monkeypatch, runtime: str, before=None):
    """The table of ``latmodel profile`` of the tiny network at 8 px in ``runtime``, its child run in this process
    (a runtime registered by a test exists in this process only); ``before(job)`` checks each job first."""
    import latmodel.measure.profiling as profiling
    from latmodel.measure.table import read_table
    from latmodel.measure.worker import run_job

    def in_process_child(job, workdir, timeout_s, tick=None, reprice=None):
        job = json.loads(json.dumps(job))  # the job stays JSON
        if before is not None:
            before(job)
        (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        run_job(str(workdir / "job.json"), str(workdir / "rows.json"))
        return json.loads((workdir / "rows.json").read_text(encoding="utf-8")), ""

    monkeypatch.setattr(profiling, "_run_child", in_process_child)
    out = tmp_path / "t.csv"
    summary = profiling.profile(["tests.tinymodels:tiny"], out, resolutions=[8], window_s=0, progress=False,
                                runtime=runtime)
    assert (summary.measured, summary.failed) == (1, 0)
    return read_table(out)


@needs_onnx
def test_profile_driven_by_a_fake_runtime(tmp_path, monkeypatch):
    monkeypatch.setitem(RUNTIMES, "fake", FAKE)
    exports = []
    real_export = runtimes._export_bytes
    monkeypatch.setattr(runtimes, "_export_bytes", lambda *a, **k: exports.append(a[-1]) or real_export(*a, **k))

    def exported_first(job):
        assert exports, "the parent exports before any child runs"

    df = _profile_tiny(tmp_path, monkeypatch, "fake", before=exported_first)
    assert set(df["runtime"]) == {"fake"} and set(df["runtime_version"]) == {"0.0-fake"}
    torch_id = device_record().device_id
    assert not df["config_id"].iloc[0].endswith(torch_id)
    assert len(exports) == 1  # once, in the parent; the child read the cache
    assert (df["prefix_ms"] > 0).all() and (df["incontext_ms"] > 0).all()


def test_profile_unknown_or_missing_runtime_writes_nothing(tmp_path, monkeypatch):
    from latmodel.measure.profiling import profile

    with pytest.raises(NetcutError, match="unknown runtime 'tvm'"):
        profile(["random:1"], tmp_path / "t.csv", resolutions=[32], progress=False, runtime="tvm")
    monkeypatch.setitem(RUNTIMES, "ghost", dataclasses.replace(FAKE, name="ghost", packages=("no_such_pkg_4711",)))
    with pytest.raises(RuntimeMissingError, match="install it with"):
        profile(["random:1"], tmp_path / "t.csv", resolutions=[32], progress=False, runtime="ghost")
    assert not (tmp_path / "t.csv").exists()


@needs_onnx
def test_cli_export_failure_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from latmodel.cli import main

    monkeypatch.setitem(RUNTIMES, "fake", FAKE)
    rc = main(["profile", "--models", "tests.tinymodels:fft_net", "--resolutions", "16", "--runtime", "fake",
               "--out", str(tmp_path / "t.csv"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "operator 'aten::fft_fft2'" in err[0]
    assert not (tmp_path / "t.csv").exists()


# --------------------------------------------------------------------------- tables and predictors


def test_schema_2_tables_read_as_torch():
    from latmodel.measure.table import read_table

    root = Path(__file__).resolve().parent.parent
    df = read_table(root / "data" / "calibration" / "cpu-1thread.csv")
    assert set(df["runtime"]) == {"torch"} and set(df["schema_version"]) == {2}
    assert (df["runtime_version"] == df["torch_version"]).all()


def test_predictor_runtime_check_and_mixed_tables():
    from latmodel.measure.device import table_device_record as _table_device
    from latmodel.predict.predictor_io import load_predictor

    import pandas as pd

    root = Path(__file__).resolve().parent.parent
    shipped = load_predictor(root / "data" / "predictors" / "cpu-1thread")  # manifest from before runtimes
    assert shipped.runtime == "torch"
    shipped.check_runtime("torch")
    with pytest.raises(NetcutError, match="prices latencies for runtime 'torch' .* priced for 'onnxruntime'"):
        shipped.check_runtime("onnxruntime")
    with pytest.raises(TableError, match="mix latencies of runtimes onnxruntime, torch"):
        _table_device(pd.DataFrame({"runtime": ["torch", "onnxruntime"]}))
    assert _table_device(pd.DataFrame({"runtime": ["onnxruntime"] * 2, "runtime_version": ["1.32.0"] * 2})) == {
        "runtime": "onnxruntime", "runtime_version": "1.32.0"}


def test_predict_needs_no_runtime_installed():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys; sys.modules['onnx'] = sys.modules['onnxruntime'] = sys.modules['openvino'] = None; "
            "from latmodel.cli import main; sys.exit(main(['predict', '--predictor', 'data/predictors/cpu-1thread', "
            "'--model', 'random:1', '--resolution', '32', '--json']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_latency_ms"] > 0


@needs_onnx
def test_a_runtime_with_a_node_profiler_times_prefixes_and_splits_the_graph_by_its_profile(monkeypatch):
    from latmodel.measure.bursts import BurstPolicy
    from latmodel.measure.graph_profile import GraphBlockProfile
    from latmodel.measure.rows import measure_window

    calls = []

    def profiler(model, x, n_blocks, *, threads):
        calls.append((type(model), n_blocks, threads))
        return GraphBlockProfile(block_us=tuple(float(k + 1) for k in range(n_blocks)), unnamed_us=0.0, runs=1,
                                 nodes=n_blocks)

    monkeypatch.setitem(RUNTIMES, "fake", dataclasses.replace(FAKE, block_profiler=profiler))
    _reference_load.calls = 0
    [rows] = measure_window([("tests.tinymodels:tiny", 8, 1.0)], runtime="fake", use_yardstick=False,
                            policy=BurstPolicy(window_s=0.0, min_rounds=2, max_rounds=2, placements=1))
    n = len(rows)
    assert calls == [(bytes, n, 1)] and n >= 2
    assert _reference_load.calls == n  # the prefixes; no block compiled on its own
    whole, total = rows[-1]["prefix_ms"], n * (n + 1) / 2
    assert [r["incontext_ms"] for r in rows] == pytest.approx([(k + 1) / total * whole for k in range(n)], rel=1e-5)  # rows keep 6 digits
    assert all(r["network_ms"] == whole and r["alone_ms"] != r["alone_ms"] for r in rows)  # alone: NaN
