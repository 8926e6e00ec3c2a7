"""A shipped network priced from the shell imports neither torch, scikit-learn nor pandas (the slow imports),
once this machine's device record is cached (detecting the device the first time imports torch)."""
from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
from latmodel.cli import main
code = main(['predict', '--model', 'resnet18', '--resolution', sys.argv[1], '--json'])
print(json.dumps({'code': code, 'heavy': sorted(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules)}))
"""


def test_predict_of_a_shipped_network_imports_nothing_heavy(tmp_path):
    env = {"NETCUT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", _PROBE, px], capture_output=True, text=True, env=env, timeout=120)
            for px in ("96", "128")]  # the first detects (and caches) the device; the second is a first call
    for done in runs:
        assert done.returncode == 0, done.stderr[-2000:]
    last = json.loads(runs[1].stdout.strip().splitlines()[-1])
    assert last == {"code": 0, "heavy": []}


def test_sklearn_still_imports_after_the_quick_xgboost_import():
    probe = ("import sys; from latmodel.predict.quick_import import import_xgboost_without_sklearn as q; q(); "
             "assert 'xgboost' in sys.modules and 'sklearn' not in sys.modules; "
             "from sklearn.model_selection import GroupKFold; print('ok')")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
