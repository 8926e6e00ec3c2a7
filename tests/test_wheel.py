"""The package as users install it: a wheel in a fresh virtual environment, run from outside the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_prices_lists_and_searches(tmp_path):
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("latmodel", "trimmer", "data"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w",
          str(wheels)], cwd=tmp_path, env=os.environ.copy())
    wheel = next(wheels.glob("netcut-*.whl"))
    # The venv sees this interpreter's packages (the pinned torch, xgboost, ...: nothing to download) but
    # netcut only from the wheel: it is installed into the venv, whose site-packages come first.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path, env=os.environ.copy())
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["NETCUT_CACHE_DIR"] = str(tmp_path / "cache")
    _run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], cwd=tmp_path, env=env)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = _run([str(py), "-c", "import latmodel, trimmer, latmodel.resources as r; from latmodel.predict.shipped import "
                  "choose_predictor; c = choose_predictor(); print(latmodel.__file__); print(trimmer.__file__); "
                  "print(r.data_dir()); print(c.path if c.mismatch else '')"], cwd=outside, env=env)
    lat_file, trim_file, data, other = (where.stdout.splitlines() + [""])[:4]
    for path in (lat_file, trim_file, data):
        assert path.startswith(str(venv)), f"{path} is not the wheel's copy (in {venv})"
    assert (Path(data) / "predictors").is_dir() and (Path(data) / "fashion_mnist_subset.npz").is_file()
    features = sorted(p.name for p in (Path(data) / "features").glob("*.json.gz"))
    assert features == sorted(p.name for p in (ROOT / "data" / "features").glob("*.json.gz"))
    shipped = _run([str(py), "-c", "from latmodel.graph.feature_atlas import atlas_rows; "
                    "print(atlas_rows('mobilenet_v2', 128, 1.0, 1) is not None)"], cwd=outside, env=env)
    assert shipped.stdout.strip() == "True"  # the wheel's features match the installation that built it

    pred = _run([str(venv / "bin" / "latmodel"), "predict", "--model", "mobilenet_v2", "--resolution", "128"],
                cwd=outside, env=env)
    assert "mobilenet_v2 at 128px" in pred.stdout and "total:" in pred.stdout
    # On a machine no shipped predictor was measured on, `trimmer candidates` would calibrate one first
    # (minutes): the smoke test names the wheel's default predictor instead.
    extra = ["--predictor", other] if other else []
    cands = _run([str(venv / "bin" / "trimmer"), "candidates", "--deadline-ms", "9", *extra], cwd=outside, env=env)
    assert "candidates meet the 9 ms deadline" in cands.stdout
    # a smoke search from the wheel: the embedded data, the pretrained weights packages, one base at one
    # resolution, a few images, one epoch
    out = outside / "search"
    search = _run([str(venv / "bin" / "trimmer"), "search", "--models", "mobilenet_v2", "--resolutions", "96",
                   "--deadline-ms", "12", "--epochs", "1", "--limit-per-class", "12", "--quiet", "--out", str(out),
                   *extra], cwd=outside, env=env)
    assert "chosen TRN: mobilenet_v2@96px" in search.stdout
    assert (out / "report.json").is_file() and (out / "pareto.png").is_file() and (out / "trn").is_dir()
