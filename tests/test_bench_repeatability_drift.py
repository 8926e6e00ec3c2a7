"""benchmarks/bench_repeatability.py's window_drift: the yardstick's ratio between two passes beside the networks'."""
from benchmarks.bench_repeatability import window_drift  # the repository root is on sys.path (conftest.py)


def _window(network_ms: dict, yardstick: list) -> dict:
    return {**{cid: {"network": list(v), "prefix": [list(v)]} for cid, v in network_ms.items()}, "yardstick": yardstick}


def test_window_drift_reports_the_yardstick_ratio_beside_the_networks_median_ratio():
    a = {"window0": _window({"x": [2.0, 2.2], "y": [4.0, 4.1], "z": [1.0, 1.3]}, [10.0, 10.5]),
         "window1": _window({"w": [3.0, 3.3]}, [])}
    # pass B: x 5% slower, y 10% slower, z as before; its yardstick 20% slower; w and its window timed no yardstick
    b = {"window0": _window({"x": [2.1, 2.5], "y": [4.4, 4.6], "z": [1.0, 1.1]}, [12.0, 12.2]),
         "window1": _window({"w": [3.0]}, [])}
    got = window_drift(a, b, "min", per_visit=1)
    assert got[0] == {"window": "window0", "configs": 3, "yardstick_ratio": round(10.0 / 12.0, 4),
                      "network_ratio_median": round(2.0 / 2.1, 4)}
    assert got[1] == {"window": "window1", "configs": 1, "yardstick_ratio": None, "network_ratio_median": 1.0}
