"""Shared fixtures: tiny networks with hand-computable shapes and FLOPs."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
# the feature disk cache (latmodel.graph.feature_cache) of this test session: fresh, never the user's, and
# removed when the session ends (one left behind per run piled up in /tmp)
_CACHE_DIR = None
if "NETCUT_CACHE_DIR" not in os.environ:
    _CACHE_DIR = tempfile.mkdtemp(prefix="netcut-test-cache-")
    os.environ["NETCUT_CACHE_DIR"] = _CACHE_DIR


def pytest_sessionfinish(session, exitstatus):
    if _CACHE_DIR is not None:
        shutil.rmtree(_CACHE_DIR, ignore_errors=True)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def tiny_net():
    """conv3x3(3->4)+BN+ReLU | depthwise3x3+ReLU6 | pointwise(4->8) | maxpool2 | GAP, flatten, linear(8->2)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), nn.ReLU6(),
        nn.Conv2d(4, 8, 1, bias=False),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    ).eval()


@pytest.fixture
def tiny():
    import torch

    torch.manual_seed(0)
    return tiny_net()
