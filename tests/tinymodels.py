"""Factories for `package.module:factory` tests (importable as tests.tinymodels)."""
from __future__ import annotations


def tiny():
    from tests.conftest import tiny_net

    return tiny_net()


def not_a_module():
    return "I am a string"


def untraceable():
    import torch
    import torch.nn as nn

    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace this
                return self.conv(x)
            return self.conv(-x)

    return DataDependent()


def fft_net():
    """Splits into blocks, but the ONNX exporter has no conversion for its FFT."""
    import torch
    import torch.nn as nn

    class SpectralConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.fft.fft2(x).real)

    return nn.Sequential(SpectralConv(), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2)).eval()
