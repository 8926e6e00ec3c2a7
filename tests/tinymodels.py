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
