"""Every torchvision classification network splits into blocks that cover it, or is refused in one line."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from latmodel.graph.blocks import UncoveredModelError, split_model
from latmodel.errors import NetcutError

#: torchvision's published GFLOPs above which a network is not built here (the issue's set:
#: the 56 classification networks of at most 12 GFLOPs); on 2 cores the 56 take about 2 minutes.
MAX_GFLOPS = 12.0


def _torchvision_cases():
    import torchvision
    from torchvision.models import get_model_weights, list_models

    cases = []
    for name in list_models(module=torchvision.models):
        gflops = next(iter(get_model_weights(name))).meta["_ops"]
        marks = [pytest.mark.skip(reason=f"{gflops:.1f} GFLOPs at its native resolution (torchvision's figure), over "
                                         f"this test's {MAX_GFLOPS:g}: building and tracing it would take most of the suite's time")] \
            if gflops > MAX_GFLOPS else []
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


def _small(name: str):
    """(kwargs, resolution): the smallest input each constructor accepts, 64 px where it can."""
    if name.startswith("vit_"):
        return {"image_size": 64}, 64  # a multiple of the patch size (14 is skipped: ViT-H)
    if name.startswith("maxvit"):
        return {}, 224  # partition size 7 is fixed: the stride-32 map must be a multiple of 7
    if name == "inception_v3":
        return {"init_weights": False}, 96  # needs at least 75 px
    if name == "googlenet":
        return {"init_weights": False}, 64
    return {}, 64


@pytest.mark.parametrize("name", _torchvision_cases())
def test_torchvision_model_splits_with_flops_covered(name):
    from torchvision.models import get_model

    kwargs, res = _small(name)
    torch.manual_seed(0)
    model = get_model(name, weights=None, **kwargs).eval()
    try:
        chain = split_model(model, res, name=name)
    except NetcutError as exc:  # a refusal is allowed only as one line
        assert "\n" not in str(exc)
        pytest.fail(f"refused: {exc}")
    assert len(chain) >= 4
    assert chain.head is not None  # split_model checked that blocks + head count the whole network's flops


def test_blocks_that_do_not_cover_the_network_are_refused_in_one_line(tiny):
    """The check itself: a chain that leaves out a layer of the network (here one added after splitting)."""
    from latmodel.graph.blocks import _check_coverage

    chain = split_model(tiny, 8, name="tiny")
    grown = nn.Sequential(*tiny[:6], nn.Conv2d(8, 8, 3, padding=1), *tiny[6:]).eval()
    with pytest.raises(UncoveredModelError) as info:
        _check_coverage("grown", grown, torch.zeros(1, 3, 8, 8), chain.blocks, chain.head)
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, NetcutError)
    assert msg.startswith("model 'grown' cannot be split into blocks that cover it: its 4 blocks and head count")
    assert "of its 49,808 fvcore flops" in msg and "not covered: 6 (+" in msg  # the added conv is module 6


class _ViTLike(nn.Module):
    """Patch embedding, a 3-layer nn.TransformerEncoder (one fused operator per layer at inference), mean pooling."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.encoder(self.patch(x).flatten(2).transpose(1, 2))
        return self.fc(self.norm(x).mean(1))


class _ConvNeXtLike(nn.Module):
    """Channels-last blocks: depthwise conv, permute, LayerNorm, Linear-GELU-Linear MLP, layer scale."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 4, 4)
        self.blocks = nn.Sequential(*[_CNBlock(c) for _ in range(3)])
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class _CNBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1, self.act, self.fc2 = nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x):
        y = self.fc2(self.act(self.fc1(self.norm(self.dw(x).permute(0, 2, 3, 1)))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


@pytest.mark.parametrize("net,n_blocks", [(_ViTLike, 5), (_ConvNeXtLike, 4)])
def test_own_transformer_and_convnext_style_networks_split_per_layer(net, n_blocks):
    torch.manual_seed(0)
    model = net().eval()
    chain = split_model(model, 32, name=net.__name__)
    assert len(chain) == n_blocks
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(chain.forward(x), model(x), atol=1e-5)
