"""TRN heads for token and channels-last outputs (ViT-, Swin-style networks)."""
import pytest
import torch
import torch.nn.functional as F

from latmodel.graph.blocks import load_chain
from latmodel.graph.random_nets import random_transformer_config
from trimmer.trn import build_trn, feature_layout, global_pool, pooled_channels


@pytest.mark.parametrize("shape, layout, channels", [
    ((2, 10), "pooled", 10),
    ((1, 50, 64), "tokens", 64),
    ((1, 96, 8, 8), "nchw", 96),
    ((1, 8, 8, 96), "nhwc", 96),
    ((1, 8, 8, 8), "nchw", 8),  # ambiguous: read channels-first, as CNNs lay it out
])
def test_feature_layout_from_shape(shape, layout, channels):
    assert feature_layout(shape) == layout
    assert pooled_channels(shape) == channels


def test_feature_layout_refuses_other_ranks():
    with pytest.raises(ValueError, match="got shape \\(1, 2, 3, 4, 5\\)"):
        feature_layout((1, 2, 3, 4, 5))


def test_token_pool_is_mean_then_parameter_free_layer_norm():
    x = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])  # N=1, L=2 tokens, C=2: mean (2, 4)
    # layer norm of (2, 4): mean 3, variance 1 -> (-1, 1) up to eps
    assert torch.allclose(global_pool(x), torch.tensor([[-1.0, 1.0]]), atol=1e-5)
    cf = x.reshape(1, 1, 2, 2)  # 1 x 1 x 2 x 2: square last two dims, channels-first: one channel, mean 3
    assert torch.allclose(global_pool(cf), torch.tensor([[3.0]]))
    cl = torch.arange(12.0).reshape(1, 2, 2, 3)  # N x H x W x C: mean over positions (4.5, 5.5, 6.5)
    assert torch.allclose(global_pool(cl), F.layer_norm(torch.tensor([[4.5, 5.5, 6.5]]), (3,)))


def _vit_seed() -> int:
    return next(s for s in range(100) if random_transformer_config(s)["kind"] == "vit")


def test_trn_of_a_vit_style_network_at_every_cut():
    chain = load_chain(f"random3:{_vit_seed()}", 32)
    assert any(len(i.out_shape) == 3 for i in chain.infos)
    for k in range(len(chain)):
        trn = build_trn(chain, k, n_classes=5)
        assert trn(torch.randn(2, 3, 32, 32)).shape == (2, 5)
        assert trn.head.in_channels == pooled_channels(chain.infos[k].out_shape)


def test_trn_of_swin_cuts_channels_last_stages():
    chain = load_chain("swin_t", 64)
    layouts = {feature_layout(i.out_shape) for i in chain.infos}
    assert "nhwc" in layouts
    k = max(i for i, info in enumerate(chain.infos) if feature_layout(info.out_shape) == "nhwc")
    trn = build_trn(chain, k, n_classes=3)
    assert trn.head.in_channels == chain.infos[k].out_shape[-1] == 768  # the last stage's channels
    assert trn(torch.randn(1, 3, 64, 64)).shape == (1, 3)
