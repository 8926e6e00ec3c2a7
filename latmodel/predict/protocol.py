"""What a caller may rely on from a fitted latency predictor: the interface :class:`latmodel.predict.model.LatencyModel`
implements and :mod:`trimmer` prices candidates through (tests pass fakes that implement only this).

Written down so that callers ask a predictor for its device and runtime one way, through :func:`device_of`
and :func:`runtime_of`, instead of each guarding attribute access on its own.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

__all__ = ["LatencyPredictor", "device_of", "runtime_of", "threads_of"]


@runtime_checkable
class LatencyPredictor(Protocol):
    """A fitted predictor as its callers use it."""

    #: the device record it was fitted on (:class:`latmodel.measure.device.DeviceRecord` as a dict; may be empty)
    device_: dict
    #: the input resolutions (px) of the table it was fitted on: the range it can price
    resolutions_: Sequence[int]

    def predict_feature_rows(self, items) -> list[Any]:
        """Per-network predictions for ``(name, resolution, width, batch, block feature rows)`` items, one call."""

    def head_latency_ms(self, in_channels: int, in_height_px: int, in_width_px: int, n_classes: int,
                        batch_size: int = 1) -> float:
        """Latency of a new classification head (pool + linear) on a feature map of that shape."""

    def extrapolation_in(self, block_feature_rows, *, resolution=None, width=None, batch_size=None) -> list[str]:
        """Why a chain of blocks lies outside what the predictor was fitted on ([] when it does not)."""


def device_of(predictor) -> dict:
    """A copy of the device record ``predictor`` was fitted on ({} when it records none)."""
    return dict(getattr(predictor, "device_", None) or {})


def runtime_of(predictor) -> str:
    """The runtime whose latencies ``predictor`` learned (``"torch"`` for records from before runtimes)."""
    return str(device_of(predictor).get("runtime") or "torch")


def threads_of(predictor) -> int:
    """The thread count ``predictor``'s latencies were measured with (1 when not recorded)."""
    return int(device_of(predictor).get("threads", 1) or 1)
